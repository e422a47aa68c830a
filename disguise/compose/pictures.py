"""The Compose tab's pictures: a screen's faces (the hair and background blurred in early screens,
EvoFIT's finding that external features distract from the internal face), the composite as PNG
and the contact sheet of its generations with the picks marked; both PNGs carry the description
and the picks in their text."""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter

from .. import frame
from ..photo.exports import BG, GAP, INK, MUTED, _canvas, _label, font, tile
from ..preprocess import Preprocess
from .face_space import describe
from .session import Composite

BLUR_SCREENS = 4  # with the toggle on, the first screens show the internal face only
SHOWN = 256  # a screen's faces are shown this large (upscaled from the model's size)
SHEET_TILE = 96
PICKED, BEST = (40, 110, 220), (230, 140, 20)
DRAWN_NOTE = ("Drawn by a model that learned drawn faces (the synthetic set): a likeness to look at, "
              "not evidence of what a real person looks like.")


def internal_mask(size: int, policy: Preprocess) -> np.ndarray:
    """``(size, size)`` weights in 0 .. 1: 1 over the eyes, nose and mouth, fading to 0 at the hair
    line, the ears and the background (an ellipse from CelebA's aligned landmarks). Made once
    per size and crop (read-only)."""
    return _mask(size, tuple(policy.crop))


@lru_cache(maxsize=8)
def _mask(size: int, crop: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = crop
    sx, sy = size / (right - left), size / (bottom - top)
    cx, cy = (frame.EYE_MID[0] - left) * sx, ((frame.EYE_MID[1] + frame.MOUTH[1]) / 2 - top) * sy
    eyes = (frame.RIGHT_EYE[0] - frame.LEFT_EYE[0]) * sx
    rx, ry = 1.05 * eyes, 1.25 * (frame.MOUTH[1] - frame.EYE_MID[1]) * sy + 0.35 * eyes
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    mask = np.clip((1.25 - r) / 0.35, 0.0, 1.0)
    mask.flags.writeable = False
    return mask


def blur_external(face: np.ndarray, policy: Preprocess, radius: float | None = None) -> np.ndarray:
    """The face with everything outside its internal features strongly blurred."""
    size = face.shape[0]
    soft = np.asarray(Image.fromarray(face).filter(ImageFilter.GaussianBlur(radius or size / 10)), np.float32)
    w = internal_mask(size, policy)[..., None]
    return (w * face + (1 - w) * soft).round().astype(np.uint8)


def screen_pictures(composite: Composite, policy: Preprocess, blur: bool) -> list[np.ndarray]:
    """The current screen's faces as shown: ``SHOWN`` px, blurred outside the face when ``blur``
    and the screen is one of the first ``BLUR_SCREENS``."""
    faces = composite.screen
    if blur and composite.generation <= BLUR_SCREENS:
        faces = [blur_external(f, policy) for f in faces]
    return [np.asarray(tile(f, SHOWN)) for f in faces]


def aligned_composite(face: np.ndarray, policy: Preprocess) -> np.ndarray:
    """The composite in CelebA's aligned frame (178 x 218, the face where an aligned upload's is),
    the frame beyond the model's crop filled from its edges: what the Match tab takes as a drawn,
    already aligned sighting."""
    left, top, right, bottom = policy.crop
    inner = np.asarray(Image.fromarray(face).resize((right - left, bottom - top), Image.Resampling.BICUBIC))
    out = np.pad(inner, ((top, frame.HEIGHT - bottom), (left, frame.WIDTH - right), (0, 0)), mode="edge")
    soft = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(6)))
    keep = np.zeros(out.shape[:2], bool)
    keep[top:bottom, left:right] = True
    return np.where(keep[..., None], out, soft)


def describe_png(img: Image.Image, composite: Composite, title: str) -> Image.Image:
    record = composite.record()
    img.info.update({"Title": title, "Software": "disguise", "Description": record["described"],
                     "composite": json.dumps(record), "note": DRAWN_NOTE})
    return img


def composite_picture(face: np.ndarray, composite: Composite, size: int = 512) -> Image.Image:
    """The composite (refined as the witness left it) at ``size`` px, as PNG-ready."""
    return describe_png(tile(face, size), composite, "disguise: the witness's composite")


def contact_sheet(composite: Composite, tile_size: int = SHEET_TILE) -> Image.Image:
    """Every screen shown, a row per generation: the picks framed in blue, the best in orange."""
    rows = composite.screens
    cols = max(s.size for s in rows)
    subtitle = f"{describe(composite.description)}. Blue: picked; orange: the best. Drawn faces."
    img, d, head = _canvas(cols + 1, len(rows), "Composite: the screens and the witness's picks", subtitle,
                           tile_size, label_h=4)
    step = tile_size + 4 + GAP
    for g, (screen, faces) in enumerate(zip(rows, composite.faces)):
        y = head + g * step
        _label(d, GAP, y + tile_size // 2 - 10, f"screen {g + 1}", tile_size, bold=True)
        for i, face in enumerate(faces):
            x = GAP + (i + 1) * (tile_size + GAP)
            img.paste(tile(face, tile_size), (x, y))
            colour = BEST if i == screen.favourite and screen.picks else PICKED if i in screen.picks else None
            if colour:
                d.rectangle([x - 3, y - 3, x + tile_size + 2, y + tile_size + 2], outline=colour, width=4)
            d.rectangle([x + 2, y + 2, x + 22, y + 18], fill=BG)
            d.text((x + 5, y + 3), str(i + 1), fill=INK if colour else MUTED, font=font(12))
    return describe_png(img, composite, "disguise: composite contact sheet")
