"""The app in its own process, plus a no-op event returning a ready image (the latency baseline).

    python bench/_serve.py WEIGHTS PORT [THREADS]
"""

from __future__ import annotations

import itertools
import sys

import _common  # noqa: F401  (import path)
import gradio as gr
import numpy as np
import torch

import app
from disguise.serving.server import settle
from disguise.serving.studio import Studio


def main() -> None:
    weights, port = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads())
    studio = Studio.load(weights, device="cpu")
    demo = app.build_demo(studio)
    ready = studio.reconstruction(studio.random_face(seed=0))
    count = itertools.count()

    def noop():
        """A ready image, made distinct by a counter in one corner pixel: Gradio caches its
        outputs by content, and a repeated picture would skip the PNG encoding and file write
        that every real edit pays."""
        img = ready.copy()
        img[0, 0] = np.frombuffer(next(count).to_bytes(3, "little"), np.uint8)
        return img

    with demo:  # the baseline: same server, same output component, no model work
        out = gr.Image(format="png", visible=False)
        gr.Button(visible=False).click(noop, None, out, api_name="noop", show_progress="hidden")
    settle()
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True)


if __name__ == "__main__":
    main()
