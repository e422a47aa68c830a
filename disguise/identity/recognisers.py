"""Is it still this person? Recognisers: a face embedding with the threshold that calls two faces
the same person, behind one interface, chosen by what the face is.

``DlibRecogniser`` judges real photos: dlib's ResNet face descriptor, trained on about three
million faces of real people; two faces are one person when their descriptors lie less than
``DLIB_DISTANCE`` (0.6, dlib's threshold from LFW) apart. ``LearnedRecogniser`` judges drawn faces
with the project's identity model (``disguise.identity.model``) at the cosine threshold of 1%
false accepts on unseen people; weights whose identity model learned real faces judge photos with
it too (``Recognisers.load``). Both look at a ``FaceShot`` (a picture and where the face is in it)
and give ``similarity`` (higher: more alike) against ``threshold``, so a result reads the same
whichever judged. Why each, and the checks: docs/identity.md.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch
from PIL import Image

from ..files import read_json
from ..photo.alignment import align
from ..photo.detection import RECOGNITION_MODEL, ModelsMissing, available, load_dlib, models_dir
from ..photo.view import PhotoFrame
from ..preprocess import Preprocess
from .model import CONFIG_NAME, IdentityNet, embed
from .training import VERIFICATION_NAME

DLIB_DISTANCE = 0.6  # dlib's threshold on the descriptors' Euclidean distance (LFW)
CHIP_SIZE, CHIP_PADDING = 150, 0.25  # the face chip dlib's ResNet was trained on
REAL, DRAWN = "real", "drawn"  # what a face is, and what a recogniser reads
# Where dlib's five points sit in CelebA's frame (the outer and inner corner of the image-right
# eye, of the image-left eye, the base of the nose): the mean over six real portraits aligned by
# prepare_face (the eyes within 0.5 px of each other, the nose within 3 px), for faces given
# already aligned, whose landmarks were never found.
USUAL_LANDMARKS = np.array([[115.6, 112.1], [100.8, 111.9], [63.6, 112.1], [77.9, 111.9], [90.0, 138.9]])


@dataclass(frozen=True)
class FaceShot:
    """What a recogniser looks at: ``image`` ``(H, W, 3)`` uint8 (a photo, or an edit of it),
    ``to_frame`` the 2 x 3 transform from its pixels to CelebA's frame, and dlib's five
    ``landmarks`` in the frame's pixels (None: where they usually sit)."""

    image: np.ndarray
    to_frame: np.ndarray
    landmarks: np.ndarray | None = None

    @classmethod
    def of(cls, view: PhotoFrame, image: np.ndarray | None = None,
           landmarks: np.ndarray | None = None) -> "FaceShot":
        """The face in ``view`` (or in ``image``, an edit drawn on ``view``'s photo)."""
        return cls(view.photo if image is None else image, view.to_frame, landmarks)

    def photo_points(self) -> np.ndarray:
        """The five landmarks in the picture's own pixels."""
        pts = USUAL_LANDMARKS if self.landmarks is None else np.asarray(self.landmarks, np.float64)
        inv = np.linalg.inv(np.vstack([self.to_frame, [0.0, 0.0, 1.0]]))
        return pts @ inv[:2, :2].T + inv[:2, 2]


class Recogniser(Protocol):
    """What the app, ``train.match`` and ``train.evaluate`` ask of a recogniser."""

    name: str  # shown with every verdict: which recogniser judged
    reads: str  # REAL or DRAWN: the faces it was trained on
    threshold: float  # similarity at or above it: the same person

    def embed(self, shots: Sequence[FaceShot]) -> np.ndarray: ...

    def compare(self, a: np.ndarray, b: np.ndarray) -> dict: ...


def similarities(recogniser: Recogniser, probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """The similarity of ``probe`` to each row of ``gallery``, as ``compare`` gives it."""
    return np.array([recogniser.compare(probe, g)["similarity"] for g in gallery])


@dataclass
class LearnedRecogniser:
    """The project's identity model with its verification threshold (cosine similarity)."""

    net: IdentityNet
    threshold: float
    far: float = 0.01
    reads: str = DRAWN

    @property
    def name(self) -> str:
        return "the learned identity model" + (" (drawn faces)" if self.reads == DRAWN else "")

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, device: str | torch.device = "cpu") -> "LearnedRecogniser":
        """``identity.json``, ``identity.safetensors`` and ``identity_verification.json`` (written
        by ``python -m train.identity``) from ``folder``."""
        path = Path(folder) / VERIFICATION_NAME
        figures = read_json(path)
        try:
            threshold, far = float(figures["threshold"]), float(figures["far"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: no verification threshold (expected 'threshold' and 'far')") from None
        net = IdentityNet.from_pretrained(folder, device)
        return cls(net, threshold, far, REAL if net.config.trained_on == "celeba" else DRAWN)

    @property
    def policy(self) -> Preprocess:
        return self.net.policy

    def crops(self, shots: Sequence[FaceShot]) -> np.ndarray:
        """Each face as the model learned faces: warped into CelebA's frame as an upload is
        aligned, then the policy's crop and size: ``(N, S, S, 3)``."""
        return np.stack([self.policy.apply(align(Image.fromarray(np.ascontiguousarray(f.image)), f.to_frame))
                         for f in shots])

    def embed(self, shots: Sequence[FaceShot]) -> np.ndarray:
        return embed(self.net, self.crops(shots)) if len(shots) else np.zeros((0, self.net.config.embedding_dim))

    def embed_crops(self, faces: np.ndarray) -> np.ndarray:
        """Faces already cut out at the model's crop and size (the synthetic set's)."""
        return embed(self.net, faces)

    def compare(self, a: np.ndarray, b: np.ndarray) -> dict:
        """Two embeddings: their cosine similarity and whether it clears the threshold."""
        similarity = float(np.dot(a, b))
        return {"similarity": similarity, "threshold": self.threshold, "far": self.far,
                "recognised": similarity >= self.threshold, "recogniser": self.name}


class DlibRecogniser:
    """dlib's ResNet face descriptor, for real photos (see the module docstring)."""

    reads = REAL
    name = "dlib's face recogniser (real faces)"

    def __init__(self, distance: float = DLIB_DISTANCE) -> None:
        dlib = load_dlib()
        self.model = dlib.face_recognition_model_v1(str(models_dir() / RECOGNITION_MODEL))
        self.distance = float(distance)
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        return 1.0 - self.distance

    def chips(self, shots: Sequence[FaceShot]) -> list[np.ndarray]:
        """Each face as the 150 x 150 chip dlib's ResNet reads, cut by its five landmarks."""
        dlib = load_dlib()
        out = []
        for f in shots:
            pts = f.photo_points()
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            rect = dlib.rectangle(int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1)))
            shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
            out.append(dlib.get_face_chip(np.ascontiguousarray(f.image), shape, CHIP_SIZE, CHIP_PADDING))
        return out

    def embed(self, shots: Sequence[FaceShot]) -> np.ndarray:
        """``(N, 128)`` descriptors (not unit vectors: they compare by Euclidean distance)."""
        if not len(shots):
            return np.zeros((0, 128))
        chips = self.chips(shots)
        with self._lock:
            return np.array(self.model.compute_face_descriptor(chips), dtype=np.float64).reshape(len(chips), 128)

    def compare(self, a: np.ndarray, b: np.ndarray) -> dict:
        distance = float(np.linalg.norm(np.asarray(a) - np.asarray(b)))
        return {"similarity": 1.0 - distance, "threshold": self.threshold, "distance": distance,
                "distance_threshold": self.distance, "far": None, "recognised": distance < self.distance,
                "recogniser": self.name}


@dataclass
class Recognisers:
    """The recogniser for each kind of face: ``for_kind(REAL)`` for photos people upload,
    ``for_kind(DRAWN)`` for drawn faces; either may be None (with ``missing`` saying why)."""

    real: Recogniser | None
    drawn: Recogniser | None
    missing: dict[str, str]

    @classmethod
    def load(cls, folder: str | os.PathLike | None, device: str | torch.device = "cpu") -> "Recognisers":
        """dlib's for real photos (unless the weights' identity model was trained on real faces)
        and the weights' identity model for drawn faces; what cannot be had is None, and why."""
        learned = None
        missing: dict[str, str] = {}
        if folder is not None and (Path(folder) / CONFIG_NAME).is_file():
            learned = LearnedRecogniser.from_folder(folder, device)
        else:
            missing[DRAWN] = "the weights hold no identity model"
        real = learned if learned is not None and learned.reads == REAL else None
        if real is None:
            why = available()
            if why:
                missing[REAL] = why
            else:
                try:
                    real = DlibRecogniser()
                except (ModelsMissing, RuntimeError) as e:
                    missing[REAL] = str(e)
        return cls(real, learned, missing)

    def for_kind(self, kind: str) -> Recogniser | None:
        if kind not in (REAL, DRAWN):
            raise ValueError(f"a face is {REAL!r} or {DRAWN!r}, got {kind!r}")
        return self.real if kind == REAL else self.drawn
