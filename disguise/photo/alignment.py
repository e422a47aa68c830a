"""Bringing any photo to CelebA's framing: detection, a similarity alignment, the model's crop.

CelebA's aligned images were made by a non-reflective similarity transform that puts the left eye,
right eye and mouth centre at fixed points of a 178 x 218 image (``disguise.frame``).
``prepare_face`` does the same to an upload: it loads it (``disguise.photo.loading``), finds the
largest face and its landmarks with dlib (``disguise.photo.detection``), and warps it by the
similarity that takes its two eyes (each the middle of its corners) to CelebA's. dlib's five
points have no mouth; two points fix a similarity exactly, so the eyes land on their targets and
the face's scale follows its eye distance, as CelebA's does. Without a face (or without dlib),
a centred crop, and it says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .. import frame
from ..preprocess import Preprocess
from .detection import ModelsMissing, detect_faces
from .loading import load_image
from .view import PhotoFrame, box_transform


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
    """Warp ``img`` into CelebA's 178 x 218 frame by the 2 x 3 transform ``m`` (photo -> frame);
    an image already in the frame (``m`` the identity) comes back as it is."""
    import cv2

    if img.size == frame.SIZE and np.allclose(m, [[1, 0, 0], [0, 1, 0]], atol=1e-9):
        return img
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
        method: how it was framed (``eyes``, ``centred crop``, ``as given``).
        faces: how many faces were found.
        notice: what the user should know (no face found, several faces, ...), or ``""``.
        photo: the photo at working resolution with its transform to the aligned frame: what
            the photo view draws on (for an image taken as aligned, that image).
        landmarks: dlib's five points ``(5, 2)`` in the aligned frame's pixels, or None when the
            face was not detected (a recogniser then takes where they usually sit).
    """

    aligned: Image.Image
    crop: np.ndarray
    method: str
    faces: int
    notice: str
    photo: PhotoFrame
    landmarks: np.ndarray | None = None


NO_FACE = ("No face found, so a centred crop is used. For better results upload a frontal photo "
           "with the face clearly visible.")


def prepare_face(source, policy: Preprocess, already_aligned: bool | None = None) -> PreparedFace:
    """Load, detect, align and crop one face for the model (see the module docstring).

    ``already_aligned``: True skips detection; None (the default) does so only for images of
    CelebA's exact 178 x 218 size, which are aligned faces; False always detects. Raises
    ``ImageError`` for an upload that is not a usable image.
    """
    img = load_image(source)
    photo = np.asarray(img)

    def prepared(aligned: Image.Image, to_frame: np.ndarray, method: str, faces: int, notice: str,
                 landmarks: np.ndarray | None = None) -> PreparedFace:
        return PreparedFace(aligned, policy.apply(aligned), method, faces, notice, PhotoFrame(photo, to_frame),
                            landmarks)

    if already_aligned is None and img.size == frame.SIZE:
        return prepared(img, box_transform((0, 0, *frame.SIZE), frame.SIZE), "as given", 0,
                        "178 x 218 image: taken as an aligned CelebA face.")
    faces, why = [], ""
    if not already_aligned:
        try:
            faces = detect_faces(img)
        except ModelsMissing as e:  # the app still edits, framed by the centre
            why = f"Face detection is not available ({e})."
    if not faces:
        box = (0, 0, *frame.SIZE) if img.size == frame.SIZE else centre_box(img.size)
        aligned = img if img.size == frame.SIZE else centre_crop(img)
        notice = "" if already_aligned else (f"{why} A centred crop is used." if why else NO_FACE)
        return prepared(aligned, box_transform(box, frame.SIZE), "as given" if already_aligned else "centred crop",
                        0, notice)
    face = faces[0]
    m = alignment(face.left_eye, face.right_eye)
    notice = f"{len(faces)} faces found; using the largest." if len(faces) > 1 else ""
    return prepared(align(img, m), m, "eyes", len(faces), notice, face.landmarks @ m[:, :2].T + m[:, 2])
