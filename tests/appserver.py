"""Launching the real app on a free local port for tests (shared by the server and browser tests)."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(weights: Path) -> Iterator[tuple[str, object]]:
    """Yield (url, studio) for the app built on ``weights``, served until the block exits."""
    import app
    from disguise.session import Studio

    studio = Studio.load(weights, device="cpu")
    demo = app.build_demo(studio)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                max_file_size="25mb")
    try:
        yield f"http://127.0.0.1:{port}/", studio
    finally:
        demo.close()
