"""Sliders of the picture, not the face: a face's row made from what the slider does to its image.

CelebA's Blurry describes the photograph, not the person. No one code direction blurs every face
(blurring takes away each face's own detail, which lives in different places in the code), yet
the decoder draws a blurred face well. So a picture slider's row for the face with code ``z`` is
the way to its own picture so changed, as the encoder reads it:

    v(z) = (E(blur_sigma(D(z))) - z) / end

At alpha = ``end`` the code is the blurred picture's code; half-way, half of the way. Like the hair
rows (``disguise.sliders.hair_rows``), the row depends on the unedited code alone, so an edit stays
linear in the sliders. ``sigma`` is in pixels of the aligned frame, so it means the same at any
model size; ``disguise.sliders.calibration.calibrate_pictures`` chooses it. docs/sliders.md
("Blurry: a row from the picture"; the figures that led here are in docs/history.md).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import torch

from ..attributes import INDEX
from ..data.blur import gaussian_blur
from ..preprocess import Preprocess
from ..vae.model import VAE

PICTURE_SLIDERS = ("Blurry",)
"""The sliders that may be made this way (the picture blurred); CelebA's other 39 describe the person."""
MAX_BLUR = 20.0  # px of the aligned frame: a blur past this leaves no face to see


@dataclass
class PictureRows:
    """A bank's picture rows: ``blur`` maps a picture slider to its blur (px of the aligned frame) at
    alpha = ``end``; ``notes`` say how each was chosen."""

    blur: dict[str, float]
    end: float
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, sigma in self.blur.items():
            if name not in PICTURE_SLIDERS:
                raise ValueError(f"{name!r} is not a slider of the picture (only {', '.join(PICTURE_SLIDERS)})")
            if not (_number(sigma) and 0 < sigma <= MAX_BLUR):
                raise ValueError(f"{name}'s blur must be a number of pixels in (0, {MAX_BLUR:g}], got {sigma!r}")
        if not (_number(self.end) and math.isfinite(self.end) and self.end > 0):
            raise ValueError(f"a picture slider's end must be a positive number, got {self.end!r}")

    @property
    def names(self) -> set[str]:
        return set(self.blur)

    @staticmethod
    def pixels(sigma: float, policy: Preprocess) -> float:
        """``sigma`` px of the aligned frame in pixels of the model's input under ``policy``."""
        left, _, right, _ = policy.crop
        return sigma * policy.size / (right - left)

    @property
    def index(self) -> list[int]:
        """The picture sliders' places among the forty, in ``blur``'s order."""
        return [INDEX[name] for name in self.blur]

    @torch.inference_mode()
    def rows(self, z: torch.Tensor, model: VAE) -> torch.Tensor:
        """The picture sliders' rows (module docstring) of the faces with codes ``z`` ``(B, z)``:
        ``(B, len(blur), z)``, in ``blur``'s order (``index`` says where they go)."""
        z = torch.as_tensor(z, dtype=torch.float32).reshape(-1, model.config.z_dim)
        if not self.blur:
            return z.new_zeros(len(z), 0, z.shape[1])
        picture = model.decode(z)
        changed = [model.encode(gaussian_blur(picture, self.pixels(sigma, model.config.policy)))[0]
                   for sigma in self.blur.values()]
        return torch.stack([(c - z) / self.end for c in changed], dim=1)

    def describe(self) -> list[str]:
        """A line per picture slider, for logs and the model card."""
        return [f"{name}: the face's own picture blurred by {sigma:g} px of the aligned frame at alpha "
                f"{self.end:g}" + (f" ({self.notes[name]})" if self.notes.get(name) else "")
                for name, sigma in self.blur.items()]

    # Saved in the bank file's metadata (``AttributeBank.save``): a few numbers, no tensors, under
    # the file format's name "pictured", which predates the name "picture rows" and stays so that
    # every bank already saved (the bundled weights/, users' runs) loads.
    META = "pictured"

    def to_meta(self) -> str:
        return json.dumps({"end": self.end, "blur": self.blur, "notes": self.notes})

    @classmethod
    def from_meta(cls, text: str) -> "PictureRows":
        """Strictly: an ``end``, a blur per picture slider and their notes, nothing else."""
        try:
            d = json.loads(text)
            if not isinstance(d, dict) or set(d) != {"end", "blur", "notes"}:
                raise ValueError("expects end, blur and notes")
            blur = {str(k): v for k, v in dict(d["blur"]).items()}
            notes = {str(k): str(v) for k, v in dict(d["notes"]).items()}
        except (TypeError, ValueError) as e:
            raise ValueError(f"unreadable picture sliders ({e})") from None
        return cls(blur, d["end"], notes)


def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
