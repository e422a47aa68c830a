"""Bringing any photo to CelebA's framing: safe loading, face detection, similarity alignment.

CelebA's aligned images were made by a non-reflective similarity transform that puts the left eye,
right eye and mouth centre at fixed points of a 178 x 218 image (``disguise.frame``). ``prepare_face`` does the same to an upload: it finds the largest face
with OpenCV's bundled Haar cascades (offline, nothing downloaded), looks for the eyes (and the mouth)
inside it, fits the transform by least squares, and warps. Without eyes it uses where eyes sit in a
Haar face box; without a face, a centred crop, and it says so.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from . import frame
from .policy import Preprocess

MAX_PIXELS = 50_000_000  # 50 MP: larger uploads are refused before decoding
MIN_SIDE = 16
WORK_SIDE = 1024  # photos are decoded (JPEG: at reduced DCT scale) to about this long side
DETECT_SIDE = 480  # and searched for faces at this size


class ImageError(ValueError):
    """An upload that cannot be used as a face photo; the message says why and what to do."""


# ----------------------------------------------------------------------------------------------
# Loading


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


# ----------------------------------------------------------------------------------------------
# Detection (OpenCV's bundled Haar cascades)


@lru_cache(maxsize=None)
def _cascade(name: str):
    import cv2

    path = os.path.join(cv2.data.haarcascades, name)
    c = cv2.CascadeClassifier(path)
    if c.empty():
        raise RuntimeError(f"OpenCV's cascade {path} is missing; install opencv-python-headless<5")
    return c


@dataclass
class Face:
    """A detected face in image coordinates, with the landmarks used for alignment."""

    box: tuple[float, float, float, float]  # x, y, w, h
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    mouth: tuple[float, float] | None
    eyes_found: bool


def detect_faces(img: Image.Image) -> list[Face]:
    """Faces in ``img``, best first, each with eye (and, if found, mouth) positions."""
    import cv2

    gray_full = np.asarray(img.convert("L"))
    scale = min(1.0, DETECT_SIDE / max(img.size))
    gray = cv2.resize(gray_full, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) \
        if scale < 1 else gray_full
    gray = cv2.equalizeHist(gray)
    found = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=6, minSize=(24, 24))
    faces = [_landmarks(gray_full, (x / scale, y / scale, w / scale, h / scale))
             for (x, y, w, h) in (tuple(map(float, f)) for f in found)]
    # Faces whose eyes were found first (a box without eyes is often a false detection), then
    # the largest.
    return sorted(faces, key=lambda f: (not f.eyes_found, -f.box[2] * f.box[3]))


def _landmarks(gray: np.ndarray, box) -> Face:
    import cv2

    x, y, w, h = box
    # Where eyes and mouth sit inside a Haar face box (the fallback when the eyes are not found).
    guess_l, guess_r = (x + 0.31 * w, y + 0.39 * h), (x + 0.69 * w, y + 0.39 * h)
    x0, y0 = int(max(0, x)), int(max(0, y))
    roi = gray[y0:int(y + 0.58 * h), x0:int(x + w)]
    if roi.size == 0:
        return Face(box, guess_l, guess_r, None, False)
    f = 160.0 / max(1, roi.shape[1])  # search at a fixed scale: ~160 px wide faces
    small = cv2.equalizeHist(cv2.resize(roi, None, fx=f, fy=f, interpolation=cv2.INTER_AREA))
    eyes = _cascade("haarcascade_eye.xml").detectMultiScale(small, 1.1, 4, minSize=(14, 14))
    centres = sorted(((ex + ew / 2) / f + x0, (ey + eh / 2) / f + y0) for ex, ey, ew, eh in eyes)
    pair = _eye_pair(centres, w)
    if pair is None:
        return Face(box, guess_l, guess_r, None, False)
    left, right = pair
    mouth = _mouth(gray, box, left, right)
    return Face(box, left, right, mouth, True)


def _eye_pair(centres, w: float):
    """The left-right pair of candidates that look most like two eyes of a face ``w`` wide."""
    best, score = None, float("inf")
    for i in range(len(centres)):
        for j in range(i + 1, len(centres)):
            (ax, ay), (bx, by) = centres[i], centres[j]
            dist = bx - ax
            if not (0.25 * w < dist < 0.65 * w) or abs(by - ay) > 0.25 * dist:
                continue
            s = abs(dist - 0.38 * w) + abs(by - ay)
            if s < score:
                best, score = ((ax, ay), (bx, by)), s
    return best


def _mouth(gray: np.ndarray, box, left, right):
    import cv2

    x, y, w, h = box
    eye_y = (left[1] + right[1]) / 2
    y0, y1 = int(eye_y + 0.25 * w), int(min(gray.shape[0], y + 1.1 * h))
    x0, x1 = int(max(0, x + 0.15 * w)), int(min(gray.shape[1], x + 0.85 * w))
    roi = gray[y0:y1, x0:x1]
    if roi.size == 0:
        return None
    f = 120.0 / max(1, roi.shape[1])
    small = cv2.resize(roi, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    found = _cascade("haarcascade_smile.xml").detectMultiScale(small, 1.1, 20, minSize=(25, 12))
    if len(found) == 0:
        return None
    mx, my, mw, mh = max(found, key=lambda b: b[2] * b[3])
    mouth = ((mx + mw / 2) / f + x0, (my + mh / 2) / f + y0)
    # Accept only a mouth below the eyes' midpoint at a plausible distance.
    mid = ((left[0] + right[0]) / 2, eye_y)
    d_eyes = right[0] - left[0]
    if abs(mouth[0] - mid[0]) > 0.35 * d_eyes or not 0.7 * d_eyes < mouth[1] - mid[1] < 1.6 * d_eyes:
        return None
    return mouth


# ----------------------------------------------------------------------------------------------
# Alignment


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 non-reflective similarity taking points ``src`` to ``dst`` in least squares.

    Umeyama (1991), "Least-squares estimation of transformation parameters between two point
    patterns", with the reflection excluded.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    cov = b.T @ a / len(src)
    u, sing, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    r = u @ d @ vt
    var = (a ** 2).sum() / len(src)
    s = (sing * np.diag(d)).sum() / var if var > 0 else 1.0
    return np.hstack([s * r, (md - s * r @ ms)[:, None]])


def align(img: Image.Image, left_eye, right_eye, mouth=None) -> Image.Image:
    """Warp ``img`` so the eyes (and mouth) land on CelebA's targets; returns 178 x 218 RGB."""
    import cv2

    src = [left_eye, right_eye] + ([mouth] if mouth is not None else [])
    dst = [frame.LEFT_EYE, frame.RIGHT_EYE] + ([frame.MOUTH] if mouth is not None else [])
    m = similarity(np.array(src), np.array(dst))
    out = cv2.warpAffine(np.asarray(img), m, frame.SIZE, flags=cv2.INTER_AREA
                         if m[0, 0] ** 2 + m[0, 1] ** 2 < 0.25 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return Image.fromarray(out)


def centre_crop(img: Image.Image) -> Image.Image:
    """The largest centred 178:218 region, resized to 178 x 218 (CelebA's aspect)."""
    w, h = img.size
    target = frame.WIDTH / frame.HEIGHT
    if w / h > target:
        cw, ch = h * target, h
    else:
        cw, ch = w, w / target
    box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    return img.resize(frame.SIZE, Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)


@dataclass
class PreparedFace:
    """An upload brought to CelebA's framing.

    Attributes:
        aligned: 178 x 218 RGB image, as CelebA's aligned faces.
        crop: ``(S, S, 3)`` uint8 model input (the policy's crop and size).
        method: how it was framed (``eyes and mouth``, ``eyes``, ``face box``, ``centred crop``,
            ``as given``).
        faces: how many faces were found.
        notice: what the user should know (no face found, several faces, ...), or ``""``.
    """

    aligned: Image.Image
    crop: np.ndarray
    method: str
    faces: int
    notice: str


def prepare_face(source, policy: Preprocess, already_aligned: bool | None = None) -> PreparedFace:
    """Load, detect, align and crop one face for the model (see the module docstring).

    ``already_aligned``: True skips detection; None (the default) does so only for images of
    CelebA's exact 178 x 218 size, which are aligned faces; False always detects.
    """
    img = load_image(source)
    if already_aligned is None and img.size == frame.SIZE:
        aligned = img
        return PreparedFace(aligned, policy.apply(aligned), "as given", 0,
                            "178 x 218 image: taken as an aligned CelebA face.")
    if already_aligned:
        aligned = img if img.size == frame.SIZE else centre_crop(img)
        return PreparedFace(aligned, policy.apply(aligned), "as given", 0, "")
    faces = detect_faces(img)
    if not faces:
        aligned = centre_crop(img)
        return PreparedFace(aligned, policy.apply(aligned), "centred crop", 0,
                            "No face found, so a centred crop is used. For better results upload a "
                            "frontal photo with the face clearly visible.")
    face = faces[0]
    aligned = align(img, face.left_eye, face.right_eye, face.mouth if face.eyes_found else None)
    method = ("eyes and mouth" if face.mouth is not None else "eyes") if face.eyes_found else "face box"
    notice = f"{len(faces)} faces found; using the largest." if len(faces) > 1 else ""
    return PreparedFace(aligned, policy.apply(aligned), method, len(faces), notice)
