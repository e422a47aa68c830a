"""What the web app does, without Gradio: the loaded models and one session's face (``studio``),
each page event as a plain function (``events``), the page's words (``text``), the document the
page decodes from (``live``), its files (``web_assets``) and the server's routes (``server``)."""
