"""A photo to what a gallery keeps of it: the face found and aligned as the app does
(``disguise.photo.alignment.prepare_face``: dlib's detector and five landmarks), its descriptor
by the recogniser for its kind, and a small thumbnail.

A photo for the gallery must show one person: one with no face, or with several, is refused
(``FaceProblem``, saying which); a sighting may show several, and the largest is searched.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..identity.recognisers import REAL, FaceShot
from ..photo.alignment import PreparedFace, prepare_face
from ..photo.loading import ImageError
from ..preprocess import Preprocess

THUMB_SIZE = (72, 88)  # the aligned 178 x 218 face at about 0.4 of its size
THUMB_QUALITY = 85
POLICY = Preprocess()  # only frames the prepared face's crop, which no recogniser here reads


class FaceProblem(ValueError):
    """A photo that gives no face to keep: unreadable, no face, several faces."""


class RecogniserMissing(ValueError):
    """The recogniser for a kind of face cannot be loaded; the message says what to give."""


def prepare(source, one_face: bool = True) -> PreparedFace:
    """The face in ``source`` (a path, bytes, a PIL image or an array), prepared as the app
    prepares an upload; ``FaceProblem`` where there is none (or, with ``one_face``, several)."""
    try:
        prep = prepare_face(source, POLICY)
    except ImageError as e:
        raise FaceProblem(f"unreadable: {e}") from None
    if prep.method == "centred crop":
        why = prep.notice if "not available" in prep.notice else "no face found"
        raise FaceProblem(why if why == "no face found" else f"no face found ({why})")
    if one_face and prep.faces > 1:
        raise FaceProblem(f"{prep.faces} faces found; a gallery photo must show one person (crop it to them)")
    return prep


def shot(prep: PreparedFace) -> FaceShot:
    return FaceShot.of(prep.photo, landmarks=prep.landmarks)


def describe(recogniser, prep: PreparedFace) -> np.ndarray:
    """The recogniser's descriptor of a prepared face: ``(128,)`` float32."""
    return np.asarray(recogniser.embed([shot(prep)])[0], dtype=np.float32)


def thumbnail(prep: PreparedFace) -> bytes:
    """The aligned face, small, as JPEG bytes."""
    buf = io.BytesIO()
    prep.aligned.convert("RGB").resize(THUMB_SIZE, Image.Resampling.LANCZOS).save(
        buf, format="JPEG", quality=THUMB_QUALITY, optimize=True)
    return buf.getvalue()


def load_recogniser(kind: str, weights=None):
    """The recogniser a gallery describes ``kind`` faces with: dlib's for photos, the weights'
    identity model for drawn faces (``weights``: a folder; default the bundled weights)."""
    from ..files import BUNDLED_WEIGHTS
    from ..identity.model import CONFIG_NAME
    from ..identity.recognisers import DlibRecogniser, LearnedRecogniser
    from ..photo.detection import ModelsMissing
    from .descriptors import check_kind

    check_kind(kind)
    if kind == REAL:
        try:
            return DlibRecogniser()
        except (ModelsMissing, RuntimeError) as e:
            raise RecogniserMissing(f"photos are described by dlib's face recogniser, which cannot be loaded: {e}") from None
    from pathlib import Path

    folder = Path(weights) if weights is not None else BUNDLED_WEIGHTS
    if not (folder / CONFIG_NAME).is_file():
        raise RecogniserMissing(f"drawn faces are described by the identity model, and {folder} has none "
                          f"({CONFIG_NAME}); give the weights folder that has it")
    return LearnedRecogniser.from_folder(folder)
