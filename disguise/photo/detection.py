"""Finding faces in a photo, with the eyes (and mouth) that alignment needs.

OpenCV's bundled Haar cascades (offline, nothing downloaded): the largest face, the eyes inside it
(and behind glasses, with the eyeglasses cascade), the mouth where found; a head tilted past what
the upright cascades see is searched again turned 15 degrees either way (``bench/alignment.py``
measures both).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

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


@lru_cache(maxsize=None)
def _cascade(name: str):
    import cv2

    path = os.path.join(cv2.data.haarcascades, name)
    c = cv2.CascadeClassifier(path)
    if c.empty():
        raise RuntimeError(f"OpenCV's cascade {path} is missing; install opencv-python-headless<5")
    return c


@dataclass
class DetectedFace:
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
                 rolls: tuple[float, ...] | None = None) -> list[DetectedFace]:
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


def _turned_faces(gray: np.ndarray, rolls, eyeglasses: bool) -> list[DetectedFace]:
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


def _landmarks(gray: np.ndarray, box, eyeglasses: bool = True, rolls=(0.0,)) -> DetectedFace:
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
        return DetectedFace(box, left, right, None if mouth is None else _moved(back, mouth), True, roll)
    # Where eyes sit inside a Haar face box (the fallback when the eyes are not found).
    return DetectedFace(box, (x + 0.31 * w, y + 0.39 * h), (x + 0.69 * w, y + 0.39 * h), None, False)


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
