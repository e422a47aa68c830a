"""What a gallery keeps of a face: a descriptor of one kind, checked, and its distance to another.

Two kinds, each in its own index, each read by its own recogniser: ``real`` (photos) by dlib's
descriptor (128 numbers, not a unit vector; the same person under a Euclidean distance of 0.6)
and ``drawn`` by the identity model's embedding (a unit vector; cosine). Both indexes search by
squared Euclidean distance, which orders unit vectors as cosine does; a result's ``distance`` is
dlib's Euclidean distance, or ``1 - cosine``, and ``similarity = 1 - distance`` as
``Recogniser.compare`` gives it. A recogniser's ``fingerprint`` (a hash of its model's weights)
is stored with the gallery, so faces described by one model are never searched with another's
descriptors. Imports neither torch nor dlib (a searching process need not load them).
"""

from __future__ import annotations

import hashlib
import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

# The kinds of face: the same strings as disguise.identity.recognisers.REAL / DRAWN (kept here so
# that the store and the index import no torch; tests/test_gallery.py checks they agree).
REAL, DRAWN = "real", "drawn"
KINDS = (REAL, DRAWN)
DIM = 128  # both recognisers give 128 numbers (dlib's descriptor; the identity model's embedding)
UNIT_TOLERANCE = 1e-3  # a drawn face's embedding is a unit vector to within this


class DescriptorError(ValueError):
    """A descriptor that does not fit: the wrong kind, size or values; the message says which."""


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise DescriptorError(f"a face is {REAL!r} (a photo) or {DRAWN!r} (a drawn face), got {kind!r}")
    return kind


def check_descriptor(vector, kind: str, dim: int = DIM) -> np.ndarray:
    """``vector`` as a ``(dim,)`` float32 array for an index of ``kind``, or a ``DescriptorError``
    saying what is wrong: its size, non-finite numbers, or a descriptor of the other kind (a
    drawn face's is a unit vector, dlib's never is)."""
    check_kind(kind)
    arr = np.asarray(vector, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or arr.shape[0] != dim:
        raise DescriptorError(f"a {kind} face's descriptor has {dim} numbers, got shape {tuple(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise DescriptorError(f"the {kind} descriptor has numbers that are not finite (NaN or infinity)")
    norm = float(np.linalg.norm(arr))
    unit = abs(norm - 1.0) <= UNIT_TOLERANCE
    if kind == DRAWN and not unit:
        raise DescriptorError(f"a drawn face's descriptor (the identity model's) is a unit vector; this one's "
                              f"length is {norm:.3f}: is it a photo's (dlib's)? Search the real faces with it")
    if kind == REAL and unit:
        raise DescriptorError("this descriptor is a unit vector, as the identity model gives for drawn faces; "
                              "a photo's descriptor (dlib's) is not: search the drawn faces with it")
    return arr.astype(np.float32)


def check_descriptors(vectors, kind: str, dim: int = DIM) -> np.ndarray:
    """``(N, dim)`` float32, each row checked as ``check_descriptor``."""
    arr = np.asarray(vectors, dtype=np.float64)
    if arr.ndim != 2:
        raise DescriptorError(f"expected a (N, {dim}) array of {kind} descriptors, got shape {tuple(arr.shape)}")
    return np.stack([check_descriptor(v, kind, dim) for v in arr]) if len(arr) else np.zeros((0, dim), np.float32)


def distance(squared: np.ndarray | float, kind: str) -> np.ndarray | float:
    """The distance a result is given with, from the index's squared Euclidean distance: dlib's
    Euclidean distance for real faces, ``1 - cosine`` for drawn ones (unit vectors)."""
    sq = np.maximum(np.asarray(squared, dtype=np.float64), 0.0)
    out = np.sqrt(sq) if kind == REAL else sq / 2.0
    return float(out) if np.ndim(out) == 0 else out


def distance_threshold(threshold: float) -> float:
    """The distance under which two faces are the same person, from a recogniser's similarity
    threshold (``similarity = 1 - distance``)."""
    return 1.0 - float(threshold)


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes, dim: int = DIM) -> np.ndarray:
    arr = np.frombuffer(blob, dtype="<f4")
    if arr.shape != (dim,):
        raise DescriptorError(f"a stored descriptor has {arr.size} numbers, expected {dim}")
    return arr


# ----------------------------------------------------------------------------------------------
# Which model described the faces


@lru_cache(maxsize=8)
def _file_sha(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha(path: str | os.PathLike) -> str:
    """sha256 of a file (cached while its size and time stay the same)."""
    st = Path(path).stat()
    return _file_sha(str(path), st.st_size, st.st_mtime)


def fingerprint(recogniser) -> dict:
    """``{"recogniser", "model", "threshold", "dim"}`` of a recogniser: what a gallery records
    for each kind, so that a search with another model's descriptors is refused. ``model`` is a
    hash of its weights: dlib's model file, or the identity model's tensors."""
    cached = getattr(recogniser, "_gallery_fingerprint", None)
    if cached is not None:
        return dict(cached)
    net = getattr(recogniser, "net", None)
    if net is not None:  # the learned identity model: its tensors
        h = hashlib.sha256()
        for key, tensor in sorted(net.state_dict().items()):
            h.update(key.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        model = "identity:" + h.hexdigest()[:32]
        dim = int(net.config.embedding_dim)
    else:  # dlib's ResNet: its model file
        from ..photo.detection import RECOGNITION_MODEL, models_dir

        model = "dlib:" + file_sha(models_dir() / RECOGNITION_MODEL)[:32]
        dim = DIM
    out = {"recogniser": str(recogniser.name), "model": model, "threshold": float(recogniser.threshold),
           "dim": dim}
    try:
        recogniser._gallery_fingerprint = dict(out)
    except AttributeError:
        pass
    return out


def same_model(recorded: dict | None, current: dict) -> bool:
    """Whether faces recorded with ``recorded``'s model can be searched with ``current``'s."""
    return recorded is None or (recorded.get("model") == current.get("model")
                                and int(recorded.get("dim", DIM)) == int(current.get("dim", DIM))
                                and math.isclose(float(recorded.get("threshold", 0)), float(current.get("threshold", 0)),
                                                 abs_tol=1e-6))
