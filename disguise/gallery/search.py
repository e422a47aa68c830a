"""Searching a gallery for a sighting: what ``train.gallery search`` and the app's Match tab call.

``GallerySearch(gallery)`` holds a gallery open (``Gallery``, to search only) and the recognisers;
``search(sighting, kind)`` prepares the sighting as any upload (the largest face, found and
aligned by dlib), describes it by the recogniser for its kind and returns the ``top`` nearest
known faces (``Hits``, best first, each with its name, distance and verdict); ``thumbnail(hit)``
gives each one's picture. A face the app has already prepared (``PreparedFace``) or described
(a descriptor) goes through ``search_prepared`` / ``search_descriptor`` without doing that work
twice.

The app finds its gallery in ``--gallery PATH`` or the ``DISGUISE_GALLERY`` environment variable
(``gallery_path``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ..photo.alignment import PreparedFace
from .collection import Gallery, Hits
from .descriptors import KINDS, REAL, check_kind, fingerprint, same_model
from .faces import FaceProblem, describe, load_recogniser, prepare

GALLERY_ENV = "DISGUISE_GALLERY"
NO_FACE = "no face found in the sighting"


def gallery_path(given: str | os.PathLike | None = None) -> Path | None:
    """The gallery the app searches: ``given`` (``--gallery``), else ``DISGUISE_GALLERY``, else
    None (no gallery: the tab's gallery search is not offered)."""
    found = given or os.environ.get(GALLERY_ENV)
    return Path(found).expanduser() if found else None


class GallerySearch:
    """A gallery opened for searching, with a recogniser per kind (see the module docstring).

    Args:
        gallery: a ``Gallery`` or its folder (opened to search only).
        recognisers: ``disguise.identity.recognisers.Recognisers`` (the app's), used where it
            has the kind's recogniser; the others are loaded when first needed (dlib's for
            photos; the identity model of ``weights`` for drawn faces).
        weights: the weights folder whose identity model describes drawn faces (default: the
            bundled weights).
    """

    def __init__(self, gallery: Gallery | str | os.PathLike, recognisers=None, weights=None) -> None:
        self.gallery = gallery if isinstance(gallery, Gallery) else Gallery(gallery)
        self.recognisers = recognisers
        self.weights = weights
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.gallery.close()

    def __enter__(self) -> "GallerySearch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def recogniser(self, kind: str):
        """The recogniser for ``kind`` (the app's, or loaded once here)."""
        check_kind(kind)
        found = self.recognisers.for_kind(kind) if self.recognisers is not None else None
        recorded = self.gallery.recogniser(kind)
        if found is not None and (recorded is None or same_model(recorded, fingerprint(found))):
            return found  # (weights whose identity model reads photos: the gallery's dlib is loaded instead)
        with self._lock:
            if kind not in self._loaded:
                self._loaded[kind] = load_recogniser(kind, self.weights)
            return self._loaded[kind]

    def search_descriptor(self, descriptor, kind: str = REAL, top: int = 5, recogniser=None) -> Hits:
        """The ``top`` known faces nearest a descriptor (``(128,)``) of ``kind``, made by
        ``recogniser`` (default: this search's; its model must be the gallery's)."""
        rec = recogniser if recogniser is not None else self.recogniser(kind)
        return self.gallery.search(np.asarray(descriptor), kind, top, recogniser=fingerprint(rec))[0]

    def search_prepared(self, prep: PreparedFace, kind: str = REAL, top: int = 5) -> Hits:
        """The ``top`` known faces nearest a face prepared as the app prepares uploads."""
        if prep.method == "centred crop":
            raise FaceProblem(f"{NO_FACE}; upload a photo with the face clearly visible")
        rec = self.recogniser(kind)
        hits = self.search_descriptor(describe(rec, prep), kind, top, rec)
        if prep.notice:
            hits.notice = prep.notice
        return hits

    def search(self, sighting, kind: str = REAL, top: int = 5) -> Hits:
        """The ``top`` known faces nearest the person in ``sighting`` (a path, bytes, a PIL image
        or an array); the largest face is searched. A sighting that is not an image, or shows
        no face, is a ``FaceProblem`` (a ``ValueError``); an empty gallery an ``EmptyGallery``."""
        check_kind(kind)
        try:
            prep = prepare(sighting, one_face=False)
        except FaceProblem as e:
            text = str(e)
            raise FaceProblem(f"the sighting: {text}" if text.startswith("unreadable")
                              else f"{NO_FACE}; upload a photo with the face clearly visible") from None
        return self.search_prepared(prep, kind, top)

    def thumbnail(self, hit) -> np.ndarray | None:
        """A hit's (or a face id's) thumbnail, ``(88, 72, 3)`` uint8, or None."""
        return self.gallery.thumbnail_image(getattr(hit, "id", hit))

    def kinds(self) -> dict[str, int]:
        """How many faces of each kind the gallery holds (what the tab can offer)."""
        counts = self.gallery.store.counts()
        return {k: counts[k] for k in KINDS}
