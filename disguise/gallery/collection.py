"""A gallery: its store and its indexes kept in step, behind one object.

``Gallery(folder)`` opens a gallery to search; ``Gallery(folder, writer=True, create=True)`` to
add and remove faces. Every change goes to the store first (one transaction), then into the
index of its kind; a writer saves the index's snapshot now and then (``SAVE_SHARE``) and when it
closes. The engine is chosen when the gallery is made and kept in its store: ``faiss`` (the
default: embedded, no server, ``disguise.gallery.index``) or ``milvus`` (the vectors in a Milvus
server by URI, or Milvus Lite over a ``.db`` file: ``disguise.gallery.milvus``). Each kind's
recogniser is recorded with its first face; descriptors of another model are a
``GalleryMismatch``.
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .descriptors import DIM, DRAWN, KINDS, REAL, check_descriptors, check_kind, distance, same_model
from .store import FaceRecord, GalleryError, NewFace, Store, is_gallery

ENGINES = ("faiss", "milvus")
SAVE_SHARE = 0.25  # a writer saves a snapshot once the changes since the last reach this share of the faces
SAVE_AT_LEAST = 2_000  # ... and at least this many
MAX_TOP = 1_000  # the most results one search gives
HOW_TO_ADD = "python -m train.gallery add"


class GalleryMismatch(GalleryError):
    """Descriptors from another recogniser than the one the gallery's faces were indexed with."""


class EmptyGallery(GalleryError):
    """A search of a gallery (or of one kind of its faces) that holds no face."""


@dataclass
class Hit:
    """One face found: its id, name, source file, kind, ``distance`` (lower: more alike; dlib's
    Euclidean distance for real faces, ``1 - cosine`` for drawn ones), ``similarity`` (``1 -
    distance``) and ``recognised`` (within the recogniser's threshold)."""

    id: int
    name: str
    source: str
    kind: str
    distance: float
    similarity: float
    recognised: bool

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "distance": round(self.distance, 6),
                "similarity": round(self.similarity, 6), "recognised": self.recognised,
                "source": self.source, "kind": self.kind}


@dataclass
class Hits:
    """The faces found for one descriptor, best first, and the threshold they were judged by."""

    hits: list[Hit]
    kind: str
    threshold: float  # similarity
    searched: int  # faces of the kind in the gallery
    recogniser: str = ""
    notice: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def matched(self) -> bool:
        return bool(self.hits) and self.hits[0].recognised

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None

    @property
    def summary(self) -> str:
        if not self.hits:
            return f"no {self.kind} face in the gallery"
        b = self.hits[0]
        if b.recognised:
            more = sum(h.recognised for h in self.hits)
            return (f"best match: {b.name}, distance {b.distance:.3f} (the same person under "
                    f"{1 - self.threshold:.3f}); {more} of the top {len(self.hits)} within it, among "
                    f"{self.searched:,} {self.kind} faces")
        return (f"no match among {self.searched:,} {self.kind} faces: the nearest, {b.name}, is at distance "
                f"{b.distance:.3f} (the same person under {1 - self.threshold:.3f})")

    def to_dict(self) -> dict:
        return {"matched": self.matched, "summary": self.summary, "kind": self.kind,
                "threshold": self.threshold, "distance_threshold": round(1 - self.threshold, 6),
                "searched": self.searched, "recogniser": self.recogniser, "notice": self.notice,
                "results": [h.to_dict() for h in self.hits], **self.extra}


class Gallery:
    """One gallery folder: its store and an index per kind (see the module docstring).

    Args:
        folder: the gallery's folder.
        writer: this process adds or removes faces (it saves the indexes' snapshots).
        create: make the gallery if the folder holds none (else a missing gallery is an error).
        engine: for a new gallery, ``"faiss"`` (default) or ``"milvus"``; for an existing one,
            None or the engine it was made with.
        milvus_uri: the Milvus server's URI (``http://host:19530``) or a Milvus Lite file
            (``.db``) for ``engine="milvus"``; ``milvus_token``: its credentials, if any (not
            stored: give them each time, or set ``MILVUS_TOKEN``).
    """

    def __init__(self, folder: str | os.PathLike, writer: bool = False, create: bool = False,
                 engine: str | None = None, milvus_uri: str | None = None, milvus_token: str | None = None) -> None:
        self.folder = Path(folder)
        self.writer = writer
        self.store = Store(self.folder, create=create)
        self._engines: dict[str, object] = {}
        self._lock = threading.Lock()
        self._milvus_token = milvus_token or os.environ.get("MILVUS_TOKEN")
        stored = self.store.meta_json("engine")
        if stored is None:
            if engine is not None and engine not in ENGINES:
                raise GalleryError(f"the engine is one of {', '.join(ENGINES)}, got {engine!r}")
            stored = {"name": engine or "faiss"}
            if stored["name"] == "milvus":
                if not milvus_uri:
                    raise GalleryError("a gallery on Milvus needs its URI (a server's http://host:19530, "
                                       "or a Milvus Lite file ending in .db)")
                stored.update(uri=str(milvus_uri), prefix="disguise_" + os.urandom(4).hex())
            if writer or create:
                self.store.set_meta("engine", stored)
        elif engine is not None and engine != stored["name"]:
            raise GalleryError(f"{self.folder} is a gallery on {stored['name']}, not {engine}; "
                               f"its engine is chosen when it is made")
        elif milvus_uri and stored["name"] == "milvus" and milvus_uri != stored.get("uri"):
            stored = {**stored, "uri": str(milvus_uri)}  # the same collections, reached at another address
        self.engine_config = stored

    @classmethod
    def exists(cls, folder: str | os.PathLike) -> bool:
        return is_gallery(folder)

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Save the indexes (a writer) and let go of the files."""
        try:
            if self.writer:
                self.save()
        finally:
            for e in self._engines.values():
                e.close()
            self._engines.clear()
            self.store.close()

    # ------------------------------------------------------------------------------------------
    # Recognisers

    def recogniser(self, kind: str) -> dict | None:
        """The fingerprint of the recogniser this gallery's ``kind`` faces were described by."""
        return self.store.meta_json(f"recogniser:{check_kind(kind)}")

    def check_recogniser(self, kind: str, current: dict, record: bool = False) -> None:
        """Refuse descriptors from another model than the gallery's; ``record``: note
        ``current`` as the gallery's for ``kind`` when it has none yet."""
        recorded = self.recogniser(kind)
        if recorded is None:
            if record:
                self.store.set_meta(f"recogniser:{kind}", current)
            return
        if not same_model(recorded, current):
            raise GalleryMismatch(
                f"{self.folder}: its {kind} faces were indexed by {recorded.get('recogniser')} "
                f"({recorded.get('model')}), not by this {current.get('recogniser')} ({current.get('model')}); "
                f"descriptors of two models cannot be compared: use the model the gallery was made with, "
                f"or make a new gallery")

    # ------------------------------------------------------------------------------------------
    # Engines

    def index(self, kind: str):
        """The index of ``kind`` faces (opened, and brought up to date, on first use)."""
        check_kind(kind)
        with self._lock:
            found = self._engines.get(kind)
            if found is None:
                found = self._engines[kind] = self._open_engine(kind)
            return found

    def _open_engine(self, kind: str):
        cfg = self.engine_config
        recorded = self.recogniser(kind)
        if cfg["name"] == "milvus":
            from .milvus import MilvusIndex

            return MilvusIndex(self.store, kind, uri=cfg["uri"], collection=f"{cfg['prefix']}_{kind}",
                               token=self._milvus_token, writer=self.writer, recogniser=recorded)
        from .index import FaissIndex

        return FaissIndex(self.store, kind, writer=self.writer, recogniser=recorded)

    @property
    def notices(self) -> list[str]:
        """What opening the indexes found (a snapshot rebuilt, ...)."""
        return [e.notice for e in self._engines.values() if getattr(e, "notice", "")]

    def save(self) -> None:
        """A writer's snapshot of each open index (atomic)."""
        if not self.writer:
            return
        for e in list(self._engines.values()):
            e.save()

    def _maybe_save(self, kind: str) -> None:
        e = self._engines.get(kind)
        if e is not None and e.seq - max(e.saved_seq, 0) >= max(SAVE_AT_LEAST, SAVE_SHARE * e.count):
            e.save()

    # ------------------------------------------------------------------------------------------
    # Changes

    def _need_writer(self) -> None:
        if not self.writer:
            raise GalleryError("this gallery was opened for searching; open it with writer=True to change it")

    def add_faces(self, kind: str, faces: Sequence[NewFace], recogniser: dict) -> list[int | None]:
        """Store ``faces`` of ``kind`` (their descriptors from ``recogniser``: its fingerprint)
        in one transaction and index them; faces already in (the same ``sha256``) are left out.
        Returns each face's new id (None: it was already in)."""
        self._need_writer()
        check_kind(kind)
        self.check_recogniser(kind, recogniser, record=True)
        if not faces:
            return []
        check_descriptors(np.stack([f.descriptor for f in faces]), kind, int(recogniser.get("dim", DIM)))
        ids = self.store.add(kind, faces)
        e = self.index(kind)
        e.catch_up()
        self._maybe_save(kind)
        return ids

    def known(self, kind: str, hashes: Iterable[str]) -> set[str]:
        return self.store.known(kind, hashes)

    def remove(self, names: Iterable[str] = (), ids: Iterable[int] = ()) -> tuple[list[FaceRecord], list[str]]:
        """Remove every face of each name in ``names`` and each face in ``ids``, from the store
        and the indexes. Returns ``(removed, not found)`` (names and ids that matched nothing)."""
        self._need_writer()
        targets: list[int] = []
        missing: list[str] = []
        for name in names:
            found = self.store.by_name(str(name))
            if not found:
                missing.append(f"no face named {name!r}")
            targets.extend(r.id for r in found)
        for i in ids:
            if not self.store.records([int(i)]):
                missing.append(f"no face with id {int(i)}")
            targets.append(int(i))
        removed = self.store.remove(targets)
        for kind in {r.kind for r in removed}:
            e = self.index(kind)
            e.catch_up()
            e.save()  # the snapshot, too, forgets them
        return removed, missing

    # ------------------------------------------------------------------------------------------
    # Searching

    def search(self, descriptors, kind: str, top: int = 10, recogniser: dict | None = None) -> list[Hits]:
        """The ``top`` nearest faces of ``kind`` to each descriptor (``(128,)`` or ``(N, 128)``),
        best first. ``recogniser``: the fingerprint of the model the descriptors came from
        (checked against the gallery's; None: trusted). An empty gallery, or one with no face of
        ``kind``, is an ``EmptyGallery``; a descriptor of the wrong size or kind a
        ``DescriptorError``."""
        check_kind(kind)
        top = int(top)
        if not 1 <= top <= MAX_TOP:
            raise GalleryError(f"top must be between 1 and {MAX_TOP}, got {top}")
        recorded = self.recogniser(kind)
        if recogniser is not None:
            self.check_recogniser(kind, recogniser)
        dim = int((recorded or recogniser or {}).get("dim", DIM))
        arr = np.asarray(descriptors)
        queries = check_descriptors(arr[None] if arr.ndim == 1 else arr, kind, dim)
        e = self.index(kind)
        e.catch_up()
        if e.count == 0:
            counts = self.store.counts()
            other = DRAWN if kind == REAL else REAL
            if not sum(counts.values()):
                raise EmptyGallery(f"{self.folder}: the gallery is empty; add photos with {HOW_TO_ADD} {self.folder} PHOTOS...")
            raise EmptyGallery(f"{self.folder}: the gallery has no {kind} faces (it has {counts[other]:,} {other} "
                               f"ones); add {kind} faces with {HOW_TO_ADD}" + (" --drawn" if kind == DRAWN else ""))
        ids, sq = e.search(queries, top)
        threshold = float((recorded or recogniser or {}).get("threshold", 0.4))
        name = (recorded or recogniser or {}).get("recogniser", "")
        records = {r.id: r for r in self.store.records(sorted({int(i) for i in ids.ravel() if i >= 0}))}
        out = []
        for row_ids, row_sq in zip(ids, sq):
            hits = []
            for face, s in zip(row_ids, row_sq):
                r = records.get(int(face))
                if r is None:  # removed between the index's answer and now
                    continue
                d = float(distance(s, kind))
                hits.append(Hit(r.id, r.name, r.source, kind, d, 1.0 - d, 1.0 - d >= threshold))
            out.append(Hits(hits, kind, threshold, e.count, name))
        return out

    # ------------------------------------------------------------------------------------------
    # Looking

    def thumbnail(self, face: int) -> bytes | None:
        """The face's thumbnail (JPEG bytes), or None."""
        return self.store.thumbnail(face)

    def thumbnail_image(self, face: int) -> np.ndarray | None:
        """The face's thumbnail as ``(H, W, 3)`` uint8, or None."""
        from PIL import Image

        data = self.thumbnail(face)
        if not data:
            return None
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))

    def records(self, ids: Iterable[int]) -> list[FaceRecord]:
        return self.store.records(ids)

    def count(self, kind: str | None = None) -> int:
        return self.store.count(kind)

    def info(self, names: int = 50) -> dict:
        """What the gallery holds: ``count`` (faces), per kind, names, engine, indexes, disk."""
        counts = self.store.counts()
        all_names = self.store.names()
        indexes = {}
        for kind in KINDS:
            if counts[kind] or (self.folder / f"index-{kind}.faiss").is_file():
                indexes[kind] = self.index(kind).info()
        disk = sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
        return {"folder": str(self.folder), "count": sum(counts.values()), "counts": counts,
                "people": len(all_names), "names": dict(list(all_names.items())[:names]),
                "engine": {k: v for k, v in self.engine_config.items()},
                "recognisers": {k: self.recogniser(k) for k in KINDS if self.recogniser(k)},
                "indexes": indexes, "last_change": self.store.last_seq(),
                "disk_mb": round(disk / 2**20, 3), "notices": self.notices}
