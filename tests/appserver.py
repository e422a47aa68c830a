"""Launching the real app on a free local port for tests (shared by the server and browser tests)."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Callable, Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(weights: Path, runtime: str | None = None, runtime_dir: Path | None = None
          ) -> Iterator[tuple[str, object]]:
    """Yield (url, studio) for the app built on ``weights``, served until the block exits.

    ``runtime``/``runtime_dir``: where the page's onnxruntime-web comes from (``WebAssets``)."""
    import app
    from disguise.serving.studio import Studio
    from disguise.serving.web_assets import LOCAL_RUNTIME, WebAssets

    studio = Studio.load(weights, device="cpu")
    assets = WebAssets.choose(studio.decoder_file, runtime, runtime_dir or LOCAL_RUNTIME)
    demo = app.build_demo(studio, assets)
    port = free_port()
    app.launch(demo, assets, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", studio
    finally:
        demo.close()


def client(url: str):
    """A ``gradio_client`` session on ``url`` (each call a new session)."""
    from gradio_client import Client

    return Client(url, verbose=False)


def at_once(n: int, session: Callable[[int], None], timeout: float = 600) -> list[str]:
    """``session(k)`` for k = 0 .. n - 1, each in a thread of its own, all at once; what they
    raised, as lines of text (an empty or truncated picture fails to decode: reported here)."""
    errors: list[str] = []

    def run(k: int) -> None:
        try:
            session(k)
        except Exception as e:  # noqa: BLE001 - collected for the test to report
            errors.append(f"session {k}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return errors
