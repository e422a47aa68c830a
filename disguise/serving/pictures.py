"""Every picture the app returns arrives whole: written to a file of its own, then handed over.

Gradio names an output picture by the hash of its bytes and writes it in place (truncate, then
write), so two identical pictures made at the same moment (two visitors on the same example face
with the same slider) share one path, and one can read the file while the other's writer has just
emptied it: an empty picture in the page. A picture returned as the path of a file written here
is instead copied by Gradio into its cache under a temporary name and renamed into place
(``processing_utils.save_file_to_cache``), so a reader only ever sees a whole file. Each file here
is written under a unique name (atomically too); the newest ``KEPT`` are kept, older ones deleted
(Gradio has long copied them by then), so no client can pile them up.
"""

from __future__ import annotations

import collections
import io
import os
import tempfile
import threading
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from ..files import atomic_write

KEPT = 512  # picture files kept on disk, across all sessions
QUALITY = 88  # JPEG quality of the live pictures (Gradio's own default is 75)


class PictureFiles:
    """A folder of picture files, each written once under its own name."""

    def __init__(self, folder: str | os.PathLike | None = None, kept: int = KEPT) -> None:
        self.folder = Path(folder or tempfile.mkdtemp(prefix="disguise-pictures-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.kept = kept
        self._files: collections.deque[Path] = collections.deque()
        self._lock = threading.Lock()

    def save(self, image: np.ndarray | Image.Image, format: str = "jpeg", quality: int = QUALITY) -> str:
        """Write ``image`` (uint8 RGB, or a PIL image) to a new file; its path, for Gradio."""
        img = Image.fromarray(image) if isinstance(image, np.ndarray) else image
        if format == "jpeg" and img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        buf = io.BytesIO()
        img.save(buf, format=format.upper(), **({"quality": quality} if format == "jpeg" else {}))
        path = self.folder / f"{uuid.uuid4().hex}.{'jpg' if format == 'jpeg' else format}"
        atomic_write(path, lambda p: p.write_bytes(buf.getvalue()))
        with self._lock:
            self._files.append(path)
            while len(self._files) > self.kept:
                self._files.popleft().unlink(missing_ok=True)
        return str(path)

    def hand_over(self, out):
        """An event's output with every picture in it (an RGB array, a PIL image, the pictures of
        a gallery's ``[(picture, caption), ...]``) replaced by the path of a file of its own:
        arrays as JPEG (the live pictures), PIL images as PNG (exports, plots); the rest as is."""
        if isinstance(out, Image.Image) or isinstance(out, np.ndarray) and out.ndim == 3:
            return self.save(out, "png" if isinstance(out, Image.Image) else "jpeg")
        if isinstance(out, list) and out and isinstance(out[0], tuple):
            return [(self.hand_over(picture), caption) for picture, caption in out]
        return out
