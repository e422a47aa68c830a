"""Bringing any photo to CelebA's framing: safe loading, face detection, similarity alignment.

CelebA's aligned images were made by a non-reflective similarity transform that puts the left eye,
right eye and mouth centre at fixed points of a 178 x 218 image (``disguise.frame``). ``prepare_face`` does the same to an upload: it finds the largest face
with OpenCV's bundled Haar cascades (offline, nothing downloaded), looks for the eyes (and the mouth)
inside it, fits the transform by least squares, and warps. Without eyes it uses where eyes sit in a
Haar face box; without a face, a centred crop, and it says so.

Eyes behind glasses, which the plain eye cascade mostly misses, are looked for with OpenCV's
eyeglasses cascade as well; a head tilted past what the upright cascades see is searched again
turned 15 degrees either way (``bench/alignment.py`` measures both). Landmark models were
considered and rejected: mediapipe's current wheel (1.2.x) ships no face model (its Tasks API
downloads a .task file at run time), and dlib, face-alignment and insightface download their weights;
none installs from a registry and runs offline.
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
from .photo import PhotoFrame, box_transform
from .policy import Preprocess

MAX_PIXELS = 50_000_000  # 50 MP: larger uploads are refused before decoding
MIN_SIDE = 16
WORK_SIDE = 1024  # photos are decoded (JPEG: at reduced DCT scale) to about this long side
DETECT_SIDE = 480  # and searched for faces at this size
FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"  # open eyes
GLASSES_CASCADE = "haarcascade_eye_tree_eyeglasses.xml"  # eyes behind glasses, which EYE_CASCADE misses
EYEGLASSES = True  # try GLASSES_CASCADE where EYE_CASCADE finds no pair (bench/alignment.py compares)
# A head tilted past what the upright cascades see (about 12 degrees): the eyes are searched in the
# face box turned by these angles, and without any upright face the photo is searched turned, at
# TURNED_SIDE. Empty: upright only.
ROLLS = (15.0, -15.0)
TURNED_SIDE = 360


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
    """A detected face in image coordinates, with the landmarks used for alignment.

    ``box`` is upright: for a face found only in a turned copy of the photo (``ROLLS``), the box
    found there, of its size about its centre. ``roll``: how far the view the eyes were found in
    was turned (degrees, as ``cv2.getRotationMatrix2D`` takes them; 0: upright).
    """

    box: tuple[float, float, float, float]  # x, y, w, h
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    mouth: tuple[float, float] | None
    eyes_found: bool
    roll: float = 0.0


def detect_faces(img: Image.Image, eyeglasses: bool | None = None,
                 rolls: tuple[float, ...] | None = None) -> list[Face]:
    """Faces in ``img``, best first, each with eye (and, if found, mouth) positions.

    ``eyeglasses``: look for eyes behind glasses where the plain eye cascade finds no pair;
    ``rolls``: the turns (degrees) tried for a tilted head where the upright search finds no face
    or no eyes. None takes the module's ``EYEGLASSES`` and ``ROLLS``.
    """
    import cv2

    eyeglasses = EYEGLASSES if eyeglasses is None else eyeglasses
    rolls = ROLLS if rolls is None else tuple(rolls)
    gray_full = np.asarray(img.convert("L"))
    scale = min(1.0, DETECT_SIDE / max(img.size))
    gray = cv2.resize(gray_full, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) \
        if scale < 1 else gray_full
    found = _face_boxes(cv2.equalizeHist(gray))
    faces = [_landmarks(gray_full, (x / scale, y / scale, w / scale, h / scale), eyeglasses,
                        (0.0,) + rolls) for (x, y, w, h) in found]
    if not faces and rolls:
        faces = _turned_faces(gray_full, rolls, eyeglasses)
    # Faces whose eyes were found first (a box without eyes is often a false detection), then
    # the largest.
    return sorted(faces, key=lambda f: (not f.eyes_found, -f.box[2] * f.box[3]))


def _face_boxes(gray: np.ndarray) -> list[tuple[float, float, float, float]]:
    found = _cascade(FACE_CASCADE).detectMultiScale(gray, scaleFactor=1.1, minNeighbors=6,
                                                    minSize=(24, 24))
    return [tuple(map(float, f)) for f in found]


def _turned_faces(gray: np.ndarray, rolls, eyeglasses: bool) -> list[Face]:
    """Faces found in copies of the photo turned by each of ``rolls`` in turn (the first turn that
    finds any), searched at ``TURNED_SIDE``: a head tilted past what the upright cascade sees."""
    import cv2

    scale = min(1.0, TURNED_SIDE / max(gray.shape))
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) \
        if scale < 1 else gray
    centre = ((small.shape[1] - 1) / 2, (small.shape[0] - 1) / 2)
    for roll in rolls:
        m = cv2.getRotationMatrix2D(centre, roll, 1.0)
        turned = cv2.warpAffine(small, m, (small.shape[1], small.shape[0]),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        found = _face_boxes(cv2.equalizeHist(turned))
        if found:
            back = cv2.invertAffineTransform(m)
            faces = []
            for x, y, w, h in found:
                cx, cy = back[:, :2] @ (x + w / 2, y + h / 2) + back[:, 2]
                w, h = w / scale, h / scale
                box = (cx / scale - w / 2, cy / scale - h / 2, w, h)
                faces.append(_landmarks(gray, box, eyeglasses, (roll,)))
            return [f for f in faces if f.eyes_found] or faces  # turned boxes: more false ones
    return []


def _landmarks(gray: np.ndarray, box, eyeglasses: bool = True, rolls=(0.0,)) -> Face:
    """Eyes (and mouth) of the face in ``box``, searched in the box's region turned about its
    centre by each of ``rolls`` in turn until a plausible pair is found."""
    x, y, w, h = box
    for roll in rolls:
        view, vbox, back = _turned_view(gray, box, roll)
        pair = _eyes(view, vbox, eyeglasses)
        if pair is None:
            continue
        mouth = _mouth(view, vbox, *pair)
        left, right = (_moved(back, p) for p in pair)
        return Face(box, left, right, None if mouth is None else _moved(back, mouth), True, roll)
    # Where eyes sit inside a Haar face box (the fallback when the eyes are not found).
    return Face(box, (x + 0.31 * w, y + 0.39 * h), (x + 0.69 * w, y + 0.39 * h), None, False)


def _turned_view(gray: np.ndarray, box, roll: float):
    """``gray`` around ``box`` turned by ``roll`` degrees about the box's centre: the view, the box
    in it, and the 2 x 3 transform from view pixels back to ``gray`` (the photo itself if 0)."""
    import cv2

    if roll == 0:
        return gray, box, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    x, y, w, h = box
    pad = 0.1 * w
    m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), roll, 1.0)
    m[:, 2] -= (x - pad, y - pad)  # the view starts just above and left of the box
    size = (int(w + 2 * pad), int(1.1 * h + 2 * pad))  # the eyes' and the mouth's search regions
    view = cv2.warpAffine(gray, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return view, (pad, pad, w, h), cv2.invertAffineTransform(m)


def _moved(m: np.ndarray, p) -> tuple[float, float]:
    """Point ``p`` through the 2 x 3 transform ``m``."""
    return (float(m[0, 0] * p[0] + m[0, 1] * p[1] + m[0, 2]),
            float(m[1, 0] * p[0] + m[1, 1] * p[1] + m[1, 2]))


def _eyes(gray: np.ndarray, box, eyeglasses: bool):
    """The plausible eye pair of an upright face ``box``: from the plain eye cascade, else (with
    ``eyeglasses``) from its candidates and the eyeglasses cascade's together; or None."""
    import cv2

    x, y, w, h = box
    x0, y0 = int(max(0, x)), int(max(0, y))
    roi = gray[y0:int(y + 0.58 * h), x0:int(x + w)]
    if roi.size == 0:
        return None

    def centres(name: str, width: float, equalize: bool, scale_factor: float, neighbours: int):
        f = width / max(1, roi.shape[1])  # search at a fixed scale: faces ``width`` px wide
        small = cv2.resize(roi, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        eyes = _cascade(name).detectMultiScale(cv2.equalizeHist(small) if equalize else small,
                                               scale_factor, neighbours, minSize=(14, 14))
        return [((ex + ew / 2) / f + x0, (ey + eh / 2) / f + y0) for ex, ey, ew, eh in eyes]

    found = centres(EYE_CASCADE, 160, True, 1.1, 4)
    pair = _eye_pair(sorted(found), w)
    if pair is None and eyeglasses:
        # Not equalized (equalized, it found no eyes behind real glasses in bench/alignment.py's
        # scenes), a finer scale step, and both cascades' candidates compete for the pair.
        found += centres(GLASSES_CASCADE, 200, False, 1.05, 4)
        pair = _eye_pair(sorted(found), w)
    return pair


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


def alignment(left_eye, right_eye, mouth=None) -> np.ndarray:
    """The 2 x 3 similarity taking the eyes (and mouth) of a photo to CelebA's targets."""
    src = [left_eye, right_eye] + ([mouth] if mouth is not None else [])
    dst = [frame.LEFT_EYE, frame.RIGHT_EYE] + ([frame.MOUTH] if mouth is not None else [])
    return similarity(np.array(src), np.array(dst))


def align(img: Image.Image, m: np.ndarray) -> Image.Image:
    """Warp ``img`` into CelebA's 178 x 218 frame by the 2 x 3 transform ``m`` (photo -> frame)."""
    import cv2

    out = cv2.warpAffine(np.asarray(img), m, frame.SIZE, flags=cv2.INTER_AREA
                         if m[0, 0] ** 2 + m[0, 1] ** 2 < 0.25 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return Image.fromarray(out)


def centre_box(size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The largest centred region of CelebA's aspect (178:218) in an image of ``size``."""
    w, h = size
    target = frame.WIDTH / frame.HEIGHT
    cw, ch = (h * target, h) if w / h > target else (w, w / target)
    return (w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2


def centre_crop(img: Image.Image) -> Image.Image:
    """The largest centred 178:218 region, resized to 178 x 218 (CelebA's aspect)."""
    return img.resize(frame.SIZE, Image.Resampling.BILINEAR, box=centre_box(img.size), reducing_gap=2.0)


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
        photo: the photo at working resolution with its transform to the aligned frame: what
            the photo view draws on (for an image taken as aligned, that image).
    """

    aligned: Image.Image
    crop: np.ndarray
    method: str
    faces: int
    notice: str
    photo: PhotoFrame


def prepare_face(source, policy: Preprocess, already_aligned: bool | None = None) -> PreparedFace:
    """Load, detect, align and crop one face for the model (see the module docstring).

    ``already_aligned``: True skips detection; None (the default) does so only for images of
    CelebA's exact 178 x 218 size, which are aligned faces; False always detects.
    """
    img = load_image(source)
    photo = np.asarray(img)

    def prepared(aligned: Image.Image, to_frame: np.ndarray, method: str, faces: int, notice: str):
        return PreparedFace(aligned, policy.apply(aligned), method, faces, notice, PhotoFrame(photo, to_frame))

    if already_aligned is None and img.size == frame.SIZE:
        return prepared(img, box_transform((0, 0, *frame.SIZE), frame.SIZE), "as given", 0,
                        "178 x 218 image: taken as an aligned CelebA face.")
    if already_aligned or not (faces := detect_faces(img)):
        box = (0, 0, *frame.SIZE) if img.size == frame.SIZE else centre_box(img.size)
        aligned = img if img.size == frame.SIZE else centre_crop(img)
        return prepared(aligned, box_transform(box, frame.SIZE), "as given" if already_aligned else "centred crop",
                        0, "" if already_aligned else
                        "No face found, so a centred crop is used. For better results upload a "
                        "frontal photo with the face clearly visible.")
    face = faces[0]
    m = alignment(face.left_eye, face.right_eye, face.mouth if face.eyes_found else None)
    method = ("eyes and mouth" if face.mouth is not None else "eyes") if face.eyes_found else "face box"
    notice = f"{len(faces)} faces found; using the largest." if len(faces) > 1 else ""
    return prepared(align(img, m), m, method, len(faces), notice)
