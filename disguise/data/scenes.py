"""Photo-like scenes with a face at a known place.

The alignment benchmark and the photo view's evaluation put a face (an aligned CelebA-style image,
or any photo whose eyes are known) into a bigger picture under a random similarity transform: the
face 150-400 px wide, rolled up to 20 degrees either way, anywhere it fits, over a background of
smooth noise, a gradient or a given photo, with grain, then JPEG-compressed. The transform is kept,
so where every point of the face went is known exactly.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class SceneSpec:
    """How scenes are drawn: ``size`` (width, height), the face's width in the scene, the largest
    roll in degrees and the JPEG quality range."""

    size: tuple[int, int] = (1000, 800)
    face_px: tuple[float, float] = (150.0, 400.0)
    max_roll: float = 20.0
    quality: tuple[int, int] = (60, 95)


@dataclass(frozen=True)
class Scene:
    """A scene as JPEG bytes and the 2 x 3 transform from the placed image's pixels to it."""

    jpeg: bytes
    matrix: np.ndarray

    def pixels(self) -> np.ndarray:
        """The scene as ``(H, W, 3)`` uint8, decoded."""
        with Image.open(io.BytesIO(self.jpeg)) as im:
            return np.asarray(im.convert("RGB"))

    def points(self, xy: np.ndarray) -> np.ndarray:
        """Points of the placed image, ``(N, 2)``, where they are in the scene."""
        return np.asarray(xy, np.float64) @ self.matrix[:, :2].T + self.matrix[:, 2]


def backdrop(rng: np.random.Generator, size: tuple[int, int], photos: Sequence[np.ndarray] = ()) -> np.ndarray:
    """A ``(H, W, 3)`` uint8 background: one of ``photos`` (mirrored at random), smooth noise or
    a gradient, with grain."""
    import cv2

    w, h = size
    kind = int(rng.integers(0 if photos else 1, 3))
    if kind == 0:
        src = np.asarray(photos[int(rng.integers(len(photos)))])
        src = np.repeat(src[..., None], 3, 2) if src.ndim == 2 else src[..., :3]
        if rng.random() < 0.5:
            src = src[:, ::-1]
        base = cv2.resize(np.ascontiguousarray(src), (w, h), interpolation=cv2.INTER_LINEAR)
    elif kind == 1:
        coarse = rng.uniform(20, 235, (int(rng.integers(3, 12)), int(rng.integers(3, 12)), 3))
        base = cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    else:
        a = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w]
        t = ((xx * math.cos(a) + yy * math.sin(a)) / math.hypot(w, h))[..., None]
        t = (t - t.min()) / (t.max() - t.min())
        base = rng.uniform(20, 235, 3) * (1 - t) + rng.uniform(20, 235, 3) * t
    grain = rng.normal(0, rng.uniform(2, 10), (h, w, 1))
    return np.clip(base.astype(np.float32) + grain, 0, 255).astype(np.uint8)


def place(image: np.ndarray, eyes: np.ndarray, face_w: float, rng: np.random.Generator,
          spec: SceneSpec = SceneSpec(), photos: Sequence[np.ndarray] = ()) -> Scene:
    """A scene with ``image`` in it: scaled so its face (``face_w`` px wide in ``image``) is
    ``spec.face_px`` wide, rolled, its eyes' midpoint where the head stays inside the scene."""
    import cv2

    w, h = spec.size
    s = rng.uniform(*spec.face_px) / face_w
    a = math.radians(rng.uniform(-spec.max_roll, spec.max_roll))
    r = s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    # The head is about 1.6 face widths across and 2 high around the eyes' midpoint.
    mx, my = min(0.8 * face_w * s, w / 2), min(face_w * s, h / 2)
    centre = np.array([rng.uniform(mx, w - mx), rng.uniform(my, h - my)])
    m = np.hstack([r, (centre - r @ np.asarray(eyes, np.float64).mean(0))[:, None]])
    face = cv2.warpAffine(image, m, spec.size, flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.ones(image.shape[:2], np.float32), m, spec.size, flags=cv2.INTER_LINEAR)
    scene = backdrop(rng, spec.size, photos).astype(np.float32)
    scene = scene * (1 - mask[..., None]) + face.astype(np.float32) * mask[..., None]
    buf = io.BytesIO()
    Image.fromarray(np.clip(scene + 0.5, 0, 255).astype(np.uint8)).save(
        buf, format="JPEG", quality=int(rng.integers(spec.quality[0], spec.quality[1] + 1)))
    return Scene(buf.getvalue(), m)


def paint_glasses(photo: Image.Image, eyes: np.ndarray, rng: np.random.Generator, dark: bool = False) -> Image.Image:
    """Tinted glasses painted on ``photo`` over ``eyes`` (left, right): lenses the eyes show
    through (from lightly to darkly tinted; ``dark``: sunglasses), a rim heavier at the top, a
    bridge and the arms' start. A disguise with a known truth, for benchmarks and tests."""
    out = photo.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    (lx, ly), (rx, ry) = eyes
    dist = math.hypot(rx - lx, ry - ly)
    hw, hh = 0.36 * dist, 0.25 * dist
    rim = (15, 15, 20, 255) if rng.random() < 0.7 else (90, 60, 35, 255)
    tint = (25, 25, 35, int(rng.integers(215, 246)) if dark else int(rng.integers(50, 171)))
    width = max(2, round(0.05 * dist))
    for x, y in eyes:
        y = y + 0.1 * hh  # lenses sit a little below the eyes' centres
        d.rounded_rectangle([x - hw, y - hh, x + hw, y + hh], radius=0.7 * hh, fill=tint,
                            outline=rim, width=width)
        d.line([(x - hw + 0.5 * hh, y - hh + width / 2), (x + hw - 0.5 * hh, y - hh + width / 2)],
               fill=rim, width=2 * width)
    d.line([(lx + hw, ly - 0.3 * hh), (rx - hw, ry - 0.3 * hh)], fill=rim, width=width)
    d.line([(lx - hw, ly - 0.4 * hh), (lx - 1.5 * hw, ly - 0.2 * hh)], fill=rim, width=width)
    d.line([(rx + hw, ry - 0.4 * hh), (rx + 1.5 * hw, ry - 0.2 * hh)], fill=rim, width=width)
    return Image.alpha_composite(out, layer).convert("RGB")
