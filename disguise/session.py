"""What the web app does, as plain functions: no Gradio here, so every handler is testable alone.

A ``Studio`` holds the loaded ``Editor``. A ``Face`` is one session's state: the code of the face
being edited (encoded once per upload), the model-sized original, and the aligned preview. Slider
moves only decode: ``Studio.render(face, alphas, locked)``.
"""

from __future__ import annotations

import collections
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from . import frame
from .attributes import ATTRIBUTES, check_names, pretty
from .editing import Editor, parse_alphas
from .exports import alpha_strip, disguise_sheet, save_png
from .faces import prepare_face

SLIDER_LIMIT = 4.0  # the sliders' range: -4 .. 4, as the seed's strips
DISPLAY = 256  # edited faces are shown at this size (upscaled from the model's)
# Export folders kept on disk, across all sessions. Gradio copies a returned file into its own
# cache, so an older export is no longer needed here; the cap bounds what any client can pile up.
KEPT_EXPORTS = 64


@dataclass
class Face:
    """One session's face: its code, the model-sized original and the aligned 178 x 218 preview."""

    z: torch.Tensor  # (z_dim,) on the CPU
    original: np.ndarray  # (S, S, 3) uint8
    aligned: np.ndarray  # (218, 178, 3) uint8
    source: str  # "upload", "random" or "example"
    notice: str = ""
    face_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    exports: list[Path] = field(default_factory=list)  # deleted with the session


def sanitize_sliders(values: Sequence[object], limit: float = SLIDER_LIMIT) -> tuple[dict[str, float], list[str]]:
    """The forty slider values as ``{attribute: alpha}``; bad values fall back with a note.

    Non-numbers and NaN become 0, values beyond the range are clamped: a live slider event never
    fails, it says what it changed.
    """
    if len(values) != len(ATTRIBUTES):
        raise ValueError(f"expected {len(ATTRIBUTES)} slider values, got {len(values)}")
    out, notes = {}, []
    for name, v in zip(ATTRIBUTES, values):
        try:
            a = float(v) if v is not None else 0.0
        except (TypeError, ValueError):
            notes.append(f"{pretty(name)}: {v!r} is not a number, used 0")
            a = 0.0
        if math.isnan(a):
            notes.append(f"{pretty(name)}: NaN is not a position, used 0")
            a = 0.0
        elif abs(a) > limit:
            clamped = math.copysign(limit, a)
            notes.append(f"{pretty(name)}: {a:g} is outside -{limit:g}..{limit:g}, used {clamped:g}")
            a = clamped
        if a:
            out[name] = a
    return out, notes


class Studio:
    """The loaded model, bank and defaults behind the app."""

    def __init__(self, editor: Editor, display: int = DISPLAY, export_dir: str | os.PathLike | None = None
                 ) -> None:
        self.editor = editor
        self.display = display
        self.export_dir = Path(export_dir or tempfile.mkdtemp(prefix="disguise-exports-"))
        self.export_dir.mkdir(parents=True, exist_ok=True)
        self._exports: collections.deque[Path] = collections.deque()
        self._exports_lock = threading.Lock()

    @classmethod
    def load(cls, source: str | os.PathLike, device: str | None = None) -> "Studio":
        """Load once at start, on the GPU when there is one, and warm up (first call is slow)."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        studio = cls(Editor.from_pretrained(source, device=device))
        studio.warm_up()
        return studio

    def warm_up(self) -> None:
        s = self.editor.size
        z = self.editor.encode(np.zeros((1, s, s, 3), np.uint8))
        for _ in range(3):
            self.editor.render(z[0], {"Eyeglasses": 1.0})

    # ------------------------------------------------------------------------------------------

    def upscale(self, img: np.ndarray) -> np.ndarray:
        if img.shape[0] == self.display:
            return img
        return np.asarray(Image.fromarray(img).resize((self.display, self.display),
                                                      Image.Resampling.BICUBIC))

    def prepare(self, image, already_aligned: bool | None = None, source: str = "upload") -> Face:
        """Align, crop and encode an uploaded photo (path, bytes, PIL or array). Raises ImageError."""
        prep = prepare_face(image, self.editor.policy, already_aligned=already_aligned)
        z = self.editor.encode(prep.crop)[0].detach().cpu()
        return Face(z=z, original=prep.crop, aligned=np.asarray(prep.aligned), source=source,
                    notice=prep.notice or (f"Face framed by {prep.method}." if prep.method not in
                                           ("as given",) else ""))

    def random_face(self, seed: int | None = None) -> Face:
        """A face from the prior, z ~ N(0, I); its 'original' is its own decoding."""
        z = self.editor.random_codes(1, seed)[0].cpu()
        img = self.editor.decode(z)[0]
        aligned = np.asarray(Image.fromarray(img).resize(frame.SIZE, Image.Resampling.BICUBIC))
        return Face(z=z, original=img, aligned=aligned, source="random",
                    notice="A random face from the model's prior.")

    def render(self, face: Face, alphas: Mapping[str, float], locked: Sequence[str] = ()) -> np.ndarray:
        """The edited face at display size; ``alphas`` are validated (unknown names, non-finite)."""
        return self.upscale(self.editor.render(face.z.to(self.editor.device), alphas, locked))

    def reconstruction(self, face: Face) -> np.ndarray:
        return self.render(face, {})

    def export_strip(self, face: Face, attribute: str, alphas_text: str,
                     base: Mapping[str, float] | None = None, locked: Sequence[str] = ()) -> tuple[Path, Image.Image]:
        check_names([attribute])
        alphas = parse_alphas(alphas_text)
        img = alpha_strip(self.editor, face.z.to(self.editor.device), attribute, alphas,
                          original=face.original, base=base, locked=locked)
        return self._save(img, f"strip-{attribute}"), img

    def export_sheet(self, face: Face, locked: Sequence[str] = ()) -> tuple[Path, Image.Image]:
        img = disguise_sheet(self.editor, face.z.to(self.editor.device), original=face.original,
                             locked=locked)
        return self._save(img, "disguise-sheet"), img

    def _save(self, img: Image.Image, stem: str) -> Path:
        """Write an export into a folder of its own; beyond ``KEPT_EXPORTS`` the oldest go."""
        folder = self.export_dir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.png"
        save_png(img, path)
        with self._exports_lock:
            self._exports.append(folder)
            while len(self._exports) > KEPT_EXPORTS:
                shutil.rmtree(self._exports.popleft(), ignore_errors=True)
        return path
