"""The app's "Latent space" tab, as a library: a classic 2-D VAE, its test codes, and pictures.

``load_latent_space(folder)`` loads a classic model folder (``config.json``, ``model.safetensors``,
``codes.safetensors``; the bundled one is ``weights/classic/``, the ch. 8 conv VAE on
Fashion-MNIST) and returns a ``LatentSpace``: ``decode_point(x, y)`` draws the decoder's image at
a point, ``scatter(x, y)`` the stored test codes with a marker at the point, ``manifold()`` the
15 x 15 decodes over the plane. Points beyond ``MAX_ABS`` (6) are a ``ValueError``, not clamped:
the decoder never saw such codes, and a clamped point would show another point's image. The
scatter is drawn once and each call adds only the marker, so it can follow a slider. No data set
is needed at run time: the codes travel with the weights (``disguise.classic.codes``).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..files import BUNDLED_WEIGHTS
from .codes import CODES_NAME, read_codes
from .figures import figure_image, manifold_image, scatter_figure, symmetric_limit
from .model import ClassicVAE

BUNDLED_CLASSIC = BUNDLED_WEIGHTS / "classic"
MAX_ABS = 6.0  # the largest |z[0]|, |z[1]| decode_point accepts
DISPLAY_SCALE = 16  # 28 x 28 -> 448 x 448: the decode, the picture the tab is about, large


@dataclass
class LatentSpace:
    """A loaded classic model with its stored test codes (see the module docstring)."""

    model: ClassicVAE
    codes: np.ndarray  # (N, 2) float32
    labels: np.ndarray  # (N,) int64
    class_names: tuple[str, ...]
    data_name: str
    limit: float  # the scatter's axes span [-limit, limit]
    _background: Image.Image | None = field(default=None, repr=False)
    _to_pixel: tuple[float, float, float, float] = field(default=(1.0, 0.0, 1.0, 0.0), repr=False)

    def decode_point(self, x: float, y: float, scale: int = DISPLAY_SCALE) -> Image.Image:
        """The decoder's grey image at z = (x, y), ``scale`` times its size (nearest neighbour)."""
        z = check_point(x, y)
        with torch.inference_mode():
            image = self.model.decode(torch.tensor([z], dtype=torch.float32))[0, 0]
        pixels = (image.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
        out = Image.fromarray(pixels, mode="L")
        return out.resize((out.width * scale, out.height * scale), Image.Resampling.NEAREST)

    def scatter(self, x: float | None = None, y: float | None = None) -> Image.Image:
        """The test codes coloured by label, with a red marker at (x, y) when given (RGB)."""
        if self._background is None:
            self._draw_background()
        image = self._background.copy()
        if x is None or y is None:
            return image
        zx, zy = check_point(x, y)
        inside = abs(zx) <= self.limit and abs(zy) <= self.limit
        zx, zy = (max(-self.limit, min(self.limit, v)) for v in (zx, zy))
        ax, bx, ay, by = self._to_pixel
        px, py = ax * zx + bx, ay * zy + by
        draw = ImageDraw.Draw(image)
        r = 7
        draw.ellipse((px - r, py - r, px + r, py + r), fill=(220, 20, 20) if inside else None,
                     outline=(255, 255, 255) if inside else (220, 20, 20), width=2)
        draw.line((px - 2 * r, py, px - r, py), fill=(220, 20, 20), width=2)
        draw.line((px + r, py, px + 2 * r, py), fill=(220, 20, 20), width=2)
        return image

    @property
    def pixel_transform(self) -> tuple[float, float, float, float]:
        """``(ax, bx, ay, by)``: the latent point ``(x, y)`` lies at pixel ``(ax x + bx, ay y + by)``
        of the scatter."""
        if self._background is None:
            self._draw_background()
        return tuple(float(v) for v in self._to_pixel)  # type: ignore[return-value]

    def point_at(self, px: float, py: float) -> tuple[float, float]:
        """The latent point under pixel ``(px, py)`` of the scatter (a click on it), kept within
        the plotted square."""
        ax, bx, ay, by = self.pixel_transform
        zx, zy = (float(px) - bx) / ax, (float(py) - by) / ay
        return max(-self.limit, min(self.limit, zx)), max(-self.limit, min(self.limit, zy))

    def manifold(self, n: int = 15, scale: int = 2) -> Image.Image:
        """ch. 8's ``n`` x ``n`` mosaic of decodes over the plane, each tile ``scale`` times H x W."""
        return manifold_image(self.model, n, scale=scale)

    def _draw_background(self, size: int = 420) -> None:
        """Draw the scatter once and keep how data coordinates map to its pixels."""
        title = f"{self.data_name}: test codes (mu) of {len(self.codes)} images"
        fig = scatter_figure(self.codes, self.labels, self.limit, self.class_names, title, size)
        self._background = figure_image(fig)
        ax = fig.axes[0]
        (x0, y0), (x1, y1) = ax.transData.transform([(0.0, 0.0), (1.0, 1.0)])
        height = self._background.height  # display y grows upwards, image rows downwards
        self._to_pixel = (x1 - x0, x0, -(y1 - y0), height - y0)


def check_point(x: float, y: float) -> tuple[float, float]:
    """``(x, y)`` as floats, or a ``ValueError`` for a non-number, non-finite or absurd point."""
    try:
        z = (float(x), float(y))
    except (TypeError, ValueError):
        raise ValueError(f"the latent point must be two numbers, got x={x!r}, y={y!r}") from None
    if not all(math.isfinite(v) for v in z):
        raise ValueError(f"the latent point must be finite, got x={z[0]}, y={z[1]}")
    if max(abs(v) for v in z) > MAX_ABS:
        raise ValueError(f"the latent point ({z[0]:g}, {z[1]:g}) is beyond +-{MAX_ABS:g} on an axis: "
                         f"the prior N(0, I) puts almost no mass there and the decoder was never "
                         f"trained there; choose x and y in [-{MAX_ABS:g}, {MAX_ABS:g}]")
    return z


def load_latent_space(folder: str | os.PathLike = BUNDLED_CLASSIC) -> LatentSpace:
    """Load a classic model folder with its ``codes.safetensors`` (strictly; clear errors), warm
    it up with one decode, and give the ``LatentSpace`` the app draws from."""
    folder = Path(folder)
    model = ClassicVAE.from_pretrained(folder)
    if model.config.z_dim != 2:
        raise ValueError(f"{folder}: the latent space tab needs a 2-D latent, this model has "
                         f"z_dim {model.config.z_dim}")
    codes, labels, names = read_codes(folder / CODES_NAME)
    space = LatentSpace(model, codes, labels, names or model.config.class_names,
                        model.config.data or folder.name, symmetric_limit(codes))
    space.decode_point(0.0, 0.0)  # warm-up: the first call does not pay for lazy initialisation
    space.scatter()  # drawn once, here rather than on the first visitor's move
    return space


def load_latent_space_or_none(folder: str | os.PathLike | None = None) -> LatentSpace | None:
    """``load_latent_space`` for the app (``folder``, else ``DISGUISE_CLASSIC``, else the bundled
    model); None, saying why on stderr, when it cannot be loaded: the app runs without the tab."""
    try:
        return load_latent_space(folder or os.environ.get("DISGUISE_CLASSIC") or BUNDLED_CLASSIC)
    except (FileNotFoundError, ValueError) as e:
        print(f"disguise: no Latent space tab: {e}", file=sys.stderr)
        return None
