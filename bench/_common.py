"""Helpers the benchmarks share: import path, timing, a synthetic data set on demand."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def timed(fn: Callable[[], object], repeats: int, warmup: int = 2) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def pct_ms(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] * 1000


def synthetic_data(count: int, folder: str | None = None) -> Path:
    """A synthetic CelebA of ``count`` faces (made once, reused from the temp folder)."""
    from disguise.data.synthetic import write_dataset

    path = Path(folder or os.path.join(os.environ.get("TMPDIR", "/tmp"), f"disguise-bench-{count}"))
    if not (path / "list_attr_celeba.txt").is_file():
        write_dataset(str(path), count, seed=0, workers=os.cpu_count() or 1)
    return path


def start_server(argv: list[str], port: int, env: dict | None = None) -> tuple[subprocess.Popen, float]:
    """Start a server process (``python ARGV``); return it and the seconds until it answered HTTP."""
    import urllib.request

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return proc, time.perf_counter() - t
        except OSError:
            if proc.poll() is not None or time.perf_counter() - t > 120:
                proc.kill()
                raise RuntimeError(f"the server did not start: {argv}") from None
            time.sleep(0.05)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def twelve_megapixel_photo(folder: str) -> str:
    """scikit-image's astronaut enlarged to a 4000 x 3000 JPEG: a phone camera's photo."""
    from PIL import Image

    photo = Image.open(ROOT / "examples" / "astronaut.jpg").convert("RGB")
    canvas = photo.resize((4000, 4000), Image.Resampling.BICUBIC).crop((0, 500, 4000, 3500))
    path = os.path.join(folder, "photo-12mp.jpg")
    canvas.save(path, quality=92)
    return path
