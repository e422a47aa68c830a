"""Finding the face in a photo, and its landmarks, with models trained on real people (dlib).

Faces: dlib's HOG frontal face detector, at ``DETECT_SIDE`` pixels and, where nothing is found,
upsampled once; the largest face scoring at least ``MIN_SCORE`` is used, and every face's
landmarks must have a face's geometry (``plausible``). Drawn faces, which HOG scores low, are
taken from the strongest plausible detection above ``WEAK_SCORE``; a head rolled past what HOG
sees is searched again turned by each of ``ROLLS``. Landmarks: dlib's 5-point model (the corners
of each eye and the base of the nose, public domain); an eye is the middle of its two corners.
They come from PyPI, offline: ``dlib-bin`` and ``face-recognition-models`` (its files found with
``importlib`` rather than imported: its ``__init__`` needs ``pkg_resources``). The
68-point model is not used (its training set's licence excludes commercial use). Each model is
loaded once and used under a lock: dlib's objects are not documented as thread-safe.
Measured by ``bench/alignment.py``; docs/photo-view.md ("Alignment of real photos").
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

MODELS_PACKAGE = "face_recognition_models"
SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
DETECT_SIDE = 640  # the long side faces are searched at (HOG's window is 80 px)
MIN_SCORE = 0.3  # a detection scoring at least this is a face
WEAK_SCORE = -0.6  # the best detection down to this, with a face's geometry, where none is a face
ROLLS = (30.0, -30.0)  # where no face is found upright, the photo turned by these angles (degrees)
INSTALL = "pip install dlib-bin face-recognition-models (both are in requirements.txt)"
_LOCK = threading.Lock()


class ModelsMissing(RuntimeError):
    """dlib or its model files are not installed; the message says how to install them."""


def models_dir() -> Path:
    """The folder of dlib's model files inside ``face-recognition-models``."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelsMissing(f"dlib's model files are not installed ({MODELS_PACKAGE}); {INSTALL}")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    for name in (SHAPE_MODEL, RECOGNITION_MODEL):
        if not (folder / name).is_file():
            raise ModelsMissing(f"{folder / name}: dlib's model file is missing; reinstall "
                                f"{MODELS_PACKAGE} ({INSTALL})")
    return folder


def load_dlib():
    """The ``dlib`` module, or ``ModelsMissing`` saying how to install it."""
    try:
        import dlib
    except ImportError:
        raise ModelsMissing(f"dlib is not installed; {INSTALL}") from None
    return dlib


@lru_cache(maxsize=None)
def detector():
    """dlib's HOG frontal face detector (built into dlib)."""
    return load_dlib().get_frontal_face_detector()


@lru_cache(maxsize=None)
def shape_predictor():
    """dlib's 5-point shape predictor."""
    return load_dlib().shape_predictor(str(models_dir() / SHAPE_MODEL))


def available() -> str:
    """"" when dlib and its models are installed, else why not (what to install)."""
    try:
        models_dir()
        load_dlib()
    except ModelsMissing as e:
        return str(e)
    return ""


@dataclass
class DetectedFace:
    """A face in photo coordinates: its box (upright; for a face found turned, the box found there,
    of its size about its centre), the detector's score, dlib's five landmarks ``(5, 2)`` (the
    outer and inner corner of the image-right eye, of the image-left eye, the base of the nose)
    and ``roll``: how far the photo was turned where it was found (degrees, as
    ``cv2.getRotationMatrix2D`` takes them; 0 upright)."""

    box: tuple[float, float, float, float]  # x, y, w, h
    score: float
    landmarks: np.ndarray
    roll: float = 0.0

    @property
    def left_eye(self) -> tuple[float, float]:
        """The eye on the image's left (CelebA's ``lefteye``): the middle of its corners."""
        x, y = self.landmarks[2:4].mean(axis=0)
        return float(x), float(y)

    @property
    def right_eye(self) -> tuple[float, float]:
        x, y = self.landmarks[0:2].mean(axis=0)
        return float(x), float(y)

    @property
    def nose(self) -> tuple[float, float]:
        return float(self.landmarks[4, 0]), float(self.landmarks[4, 1])


def detect_faces(img: Image.Image | np.ndarray, rolls: tuple[float, ...] | None = None) -> list[DetectedFace]:
    """The faces in ``img`` scoring at least ``MIN_SCORE``, largest first, each with its landmarks.

    ``rolls``: the turns (degrees) tried where no face is found upright (None: the module's
    ``ROLLS``; empty: upright only)."""
    photo = np.ascontiguousarray(np.asarray(img.convert("RGB") if isinstance(img, Image.Image) else img))
    rolls = ROLLS if rolls is None else tuple(rolls)
    faces = _upright(photo)
    if rolls and not any(f.score >= MIN_SCORE for f in faces):
        # no face upright, or only a weak one: each turn searched, the best-scoring search wins
        searches = [faces] + [_turned(photo, roll) for roll in rolls]
        faces = max(searches, key=lambda fs: max((f.score for f in fs), default=-np.inf))
    return sorted(faces, key=lambda f: -f.box[2] * f.box[3])


def _boxes(photo: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
    """``(box, score)`` of the detections in ``photo`` (full-resolution coordinates), searched at
    ``DETECT_SIDE`` down to ``WEAK_SCORE``; where none is found at that size, upsampled once, and
    then only faces (``MIN_SCORE``): upsampled, HOG also fires weakly on fur and textures."""
    import cv2

    scale = min(1.0, DETECT_SIDE / max(photo.shape[:2]))
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else photo
    for upsample, floor in ((0, WEAK_SCORE), (1, MIN_SCORE)):
        with _LOCK:
            rects, scores, _ = detector().run(small, upsample, floor)
        found = [((r.left() / scale, r.top() / scale, r.width() / scale, r.height() / scale), float(s))
                 for r, s in zip(rects, scores)]
        if found:
            return found
    return []


def plausible(points: np.ndarray, box, size: tuple[int, int]) -> bool:
    """Whether five landmarks look like a face in ``box`` of a picture of ``size`` (w, h): most of
    the box inside the picture, two eyes side by side (rolled at most 45 degrees) a plausible
    distance apart for the box, and the nose below the middle of them."""
    x, y, w, h = box
    inside = max(0.0, min(x + w, size[0]) - max(x, 0.0)) * max(0.0, min(y + h, size[1]) - max(y, 0.0))
    if inside < 0.7 * w * h:
        return False
    right, left, nose = points[0:2].mean(axis=0), points[2:4].mean(axis=0), points[4]
    dx, dy = right - left
    dist = float(np.hypot(dx, dy))
    if not 0.25 * w < dist < 0.65 * w or abs(dy) > abs(dx) or dx <= 0:
        return False
    mid = (left + right) / 2
    # the nose's distance below the eyes' line, in eye distances
    below = ((nose - mid) @ np.array([-dy, dx])) / dist ** 2
    return 0.2 < below < 1.0


def _faces(photo: np.ndarray, detections, weak: bool = True) -> list[tuple]:
    """``(box, score, landmarks)`` of the faces among ``detections`` whose landmarks look like a
    face (``plausible``): those scoring ``MIN_SCORE``, else (with ``weak``) the strongest weaker one."""
    size = (photo.shape[1], photo.shape[0])
    marked = [(box, s, _landmarks(photo, box)) for box, s in sorted(detections, key=lambda d: -d[1])]
    faces = [(box, s, pts) for box, s, pts in marked if plausible(pts, box, size)]
    strong = [f for f in faces if f[1] >= MIN_SCORE]
    return strong if strong or not weak else faces[:1]


def _landmarks(photo: np.ndarray, box) -> np.ndarray:
    """dlib's five points of the face in ``box`` of ``photo``: ``(5, 2)`` float."""
    dlib = load_dlib()
    x, y, w, h = box
    rect = dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
    with _LOCK:
        shape = shape_predictor()(photo, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _upright(photo: np.ndarray) -> list[DetectedFace]:
    return [DetectedFace(box, score, points) for box, score, points in _faces(photo, _boxes(photo))]


def _turned(photo: np.ndarray, roll: float) -> list[DetectedFace]:
    """Faces found in ``photo`` turned by ``roll`` degrees about its centre, carried back."""
    import cv2

    h, w = photo.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), roll, 1.0)
    turned = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    back = cv2.invertAffineTransform(m)
    faces = []
    for (x, y, bw, bh), score, points in _faces(turned, _boxes(turned), weak=False):
        cx, cy = back[:, :2] @ (x + bw / 2, y + bh / 2) + back[:, 2]
        faces.append(DetectedFace((cx - bw / 2, cy - bh / 2, bw, bh), score,
                                  points @ back[:, :2].T + back[:, 2], roll))
    return faces
