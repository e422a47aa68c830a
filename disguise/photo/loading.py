"""Any image a user may send, safely loaded: an upright 8-bit RGB photo at working size, or a
clear ``ImageError`` saying what is wrong with it and what to do."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

MAX_PIXELS = 50_000_000  # 50 MP: larger uploads are refused before decoding
MIN_SIDE = 16
WORK_SIDE = 1024  # photos are decoded (JPEG: at reduced DCT scale) to about this long side


class ImageError(ValueError):
    """An upload that cannot be used as a face photo; the message says why and what to do."""


def load_image(source: str | os.PathLike | bytes | Image.Image | np.ndarray,
               work_side: int | None = WORK_SIDE) -> Image.Image:
    """Any image a user may send -> an upright 8-bit RGB ``PIL.Image``.

    Handles EXIF rotation, grayscale, RGBA and LA (on white), palette, CMYK, 16-bit and float
    images, and animations (first frame). Refuses files that are not images, truncated or corrupt
    data, more than ``MAX_PIXELS`` pixels (decompression bombs) and images under ``MIN_SIDE`` pixels.
    Large photos are reduced to about ``work_side`` on the long side (JPEGs while decoding).
    """
    if isinstance(source, np.ndarray):
        return _to_rgb(_from_array(source), work_side)
    if isinstance(source, Image.Image):
        return _to_rgb(source, work_side)
    try:
        if isinstance(source, (bytes, bytearray)):
            im = Image.open(io.BytesIO(source))
        else:
            path = Path(source)
            if not path.is_file():
                raise ImageError(f"{path}: no such file")
            im = Image.open(path)
    except Image.DecompressionBombError as e:
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f" ({int(found.group(1)) / 1e6:.0f} megapixels)" if found else ""
        raise ImageError(f"the image is too large to open safely{size}; the limit is "
                         f"{MAX_PIXELS // 1_000_000} megapixels. Please send a smaller photo.") from None
    except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageError("this file is not an image we can read (try a JPEG or PNG photo)") from None
    with im:
        return _to_rgb(im, work_side)


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4)):
        if arr.dtype != np.uint8:
            arr = arr.astype(np.float64)
            hi = 1.0 if arr.max(initial=0) <= 1.0 else (255.0 if arr.max() <= 255 else 65535.0)
            arr = np.clip(arr / hi * 255, 0, 255).astype(np.uint8)
        return Image.fromarray(arr.squeeze(-1) if arr.ndim == 3 and arr.shape[2] == 1 else arr)
    raise ImageError(f"expected an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")


def _to_rgb(im: Image.Image, work_side: int | None) -> Image.Image:
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageError(f"the image is {w} x {h} ({w * h / 1e6:.0f} megapixels); the limit is "
                         f"{MAX_PIXELS // 1_000_000} megapixels. Please send a smaller photo.")
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"the image is only {w} x {h} pixels; a face needs at least "
                         f"{MIN_SIDE} x {MIN_SIDE} (100 x 100 or more works best)")
    try:
        if getattr(im, "is_animated", False):
            im.seek(0)
        if work_side and im.format == "JPEG" and max(w, h) > 2 * work_side:
            im.draft("RGB", (w * work_side // max(w, h), h * work_side // max(w, h)))
        im.load()
        im = ImageOps.exif_transpose(im) or im
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"the image data is truncated or corrupt ({e}); please send the file again "
                         f"or another photo") from None
    im = _eight_bit_rgb(im)
    if work_side and max(im.size) > work_side:
        scale = work_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.BILINEAR, reducing_gap=2.0)
    return im


def _eight_bit_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        im = Image.fromarray(np.clip(arr / hi * 255, 0, 255).astype(np.uint8))
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB") if im.mode != "RGB" else im
