"""The preprocessing policy: how an aligned 178 x 218 face becomes a model input.

A ``Preprocess`` (crop box, output size, interpolation) travels with the weights in
``config.json``, so training, the vector bank, evaluation and the app all frame faces the same way.
``to_tensor`` is the one conversion of stored uint8 faces to the float tensors models take.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields

import numpy as np
import torch
from PIL import Image

from . import frame

INTERPOLATIONS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
                  "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
                  "box": Image.Resampling.BOX}


@dataclass(frozen=True)
class Preprocess:
    """How a 178x218 aligned face becomes a model input.

    Attributes:
        crop: (left, top, right, bottom) box in the 178x218 image. Default: CelebA's centre 148x148
            crop, used by the popular PyTorch VAE collection.
        size: output side in pixels (square).
        interpolation: one of ``nearest``, ``bilinear``, ``bicubic``, ``lanczos``, ``box``.
    """

    crop: tuple[int, int, int, int] = (15, 35, 163, 183)
    size: int = 64
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop", tuple(int(v) for v in self.crop))
        if len(self.crop) != 4:
            raise ValueError(f"crop must be four numbers (left, top, right, bottom) with "
                             f"left < right and top < bottom, got {self.crop}")
        left, top, right, bottom = self.crop
        if not (0 <= left < right and 0 <= top < bottom):
            raise ValueError(f"crop must be (left, top, right, bottom) with left < right and "
                             f"top < bottom, got {self.crop}")
        if int(self.size) < 8:
            raise ValueError(f"size must be at least 8 pixels, got {self.size}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}, "
                             f"got {self.interpolation!r}")

    def to_dict(self) -> dict:
        return {"crop": list(self.crop), "size": int(self.size), "interpolation": self.interpolation}

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown preprocessing keys {sorted(unknown)}")
        return cls(**{k: tuple(v) if k == "crop" else v for k, v in d.items()})

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def apply(self, image: Image.Image) -> np.ndarray:
        """Crop and resize one aligned RGB face; returns ``(size, size, 3)`` uint8."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        if image.size != frame.SIZE:  # other sizes: scale the box with the image
            sx, sy = image.size[0] / frame.WIDTH, image.size[1] / frame.HEIGHT
            box = (self.crop[0] * sx, self.crop[1] * sy, self.crop[2] * sx, self.crop[3] * sy)
        else:
            box = self.crop
        out = image.resize((self.size, self.size), INTERPOLATIONS[self.interpolation], box=box)
        return np.asarray(out, dtype=np.uint8)


def to_tensor(faces: np.ndarray | torch.Tensor, device: str | torch.device | None = None) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 faces (numpy, e.g. a slice of a memory map, or torch) ->
    ``(B, 3, H, W)`` float32 in [0, 1], on ``device`` (default: where they are)."""
    if isinstance(faces, np.ndarray):
        if not (faces.flags.writeable and faces.flags.c_contiguous):
            faces = np.array(faces)  # torch wants a writeable, contiguous buffer
        faces = torch.from_numpy(faces)
    if device is not None:
        faces = faces.to(device, non_blocking=True)
    return faces.permute(0, 3, 1, 2).float().div_(255)
