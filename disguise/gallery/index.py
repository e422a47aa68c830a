"""The embedded index: one FAISS HNSW graph per kind of face, in a file beside the store.

HNSW, because on descriptors like dlib's it finds the exact ten nearest 99% of the time or more
in a millisecond or two, grows a face at a time without training, in about 0.8 KB a face
(docs/gallery.md has the measurements against IVF and exact search). The index is derived: its
file is a snapshot at a change ``seq`` (written atomically), and every open and every search
replays the store's log after it, so readers follow writers; a missing, damaged or foreign
snapshot is rebuilt from the store. An HNSW node cannot be unlinked, so a removed face's vector
is overwritten by its nearest live neighbour's and the node excluded from searches; a writer's
next snapshot is rebuilt without it (small galleries, or a tenth of the nodes removed).
Galleries up to ``EXACT_BELOW`` faces are searched exactly.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
from pathlib import Path

import numpy as np

from .descriptors import DIM
from .store import Change, GalleryError, Store

MAGIC = b"DSGIDX01"
INDEX_FORMAT = "disguise-gallery-index"
INDEX_VERSION = 1
M = 32  # HNSW links per node (64 at the bottom layer)
EF_CONSTRUCTION = 40  # FAISS's default: the build's breadth
EF_SEARCH = 256  # the search's breadth (bench/gallery.py: recall@10 0.997 at 200,000 faces) ...
EF_LARGE, LARGE = 512, 250_000  # ... and past this many faces (the misses grow ~5x per 5x faces)
EXACT_BELOW = 10_000  # live faces up to this are searched exactly
SMALL = 20_000  # a writer rebuilds a graph this small on any removal (seconds)
REBUILD_FRACTION = 0.10  # ... and a larger one when this share of its nodes is removed
RELOAD_AFTER = 20_000  # a reader this many changes behind loads a newer snapshot rather than replay
PAGE = 20_000  # changes replayed per query of the log


def _faiss():
    import faiss

    return faiss


class RWLock:
    """Many readers at once, or one writer."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    def read(self) -> "_Held":
        return _Held(self, False)

    def write(self) -> "_Held":
        return _Held(self, True)


class _Held:
    def __init__(self, lock: RWLock, exclusive: bool) -> None:
        self.lock, self.exclusive = lock, exclusive

    def __enter__(self) -> None:
        c = self.lock._cond
        with c:
            if self.exclusive:
                while self.lock._writer or self.lock._readers:
                    c.wait()
                self.lock._writer = True
            else:
                while self.lock._writer:
                    c.wait()
                self.lock._readers += 1

    def __exit__(self, *exc) -> None:
        c = self.lock._cond
        with c:
            if self.exclusive:
                self.lock._writer = False
            else:
                self.lock._readers -= 1
            c.notify_all()


def _grow(arr: np.ndarray, need: int) -> np.ndarray:
    if need <= len(arr):
        return arr
    out = np.zeros(max(need, 2 * len(arr), 1024), dtype=arr.dtype)
    out[:len(arr)] = arr
    return out


class FaissIndex:
    """The HNSW index of one kind of face of a gallery (see the module docstring).

    ``writer``: this process changes the gallery (it rebuilds and saves snapshots); a reader only
    follows. ``recogniser``: the model fingerprint the store records for this kind (a snapshot
    made with another is not used).
    """

    engine = "faiss"

    def __init__(self, store: Store, kind: str, dim: int = DIM, writer: bool = False, m: int = M,
                 ef_construction: int = EF_CONSTRUCTION, ef_search: int = EF_SEARCH,
                 recogniser: dict | None = None) -> None:
        self.store, self.kind, self.dim, self.writer = store, kind, int(dim), writer
        self.m, self.ef_construction, self.ef_search = int(m), int(ef_construction), int(ef_search)
        self.recogniser = recogniser
        self.path = store.folder / f"index-{kind}.faiss"
        self.lock = RWLock()
        self._sync = threading.Lock()
        self.notice = ""
        self.saved_seq = -1
        self._stamp: tuple | None = None
        self._empty()
        if writer:
            self._sweep()
        with self.lock.write():
            self._load()

    def _sweep(self) -> None:
        """Remove the half-written snapshots of writers that were killed (``NAME.PID.tmp``)."""
        for tmp in self.path.parent.glob(self.path.name + ".*.tmp"):
            try:
                pid = int(tmp.name.split(".")[-2])
                os.kill(pid, 0)  # still writing
            except ProcessLookupError:
                tmp.unlink(missing_ok=True)
            except (ValueError, PermissionError, OSError):
                pass

    # ------------------------------------------------------------------------------------------
    # State

    def _empty(self) -> None:
        faiss = _faiss()
        self.index = faiss.IndexHNSWFlat(self.dim, self.m)
        self.index.hnsw.efConstruction = self.ef_construction
        self.labels = np.zeros(0, np.int64)  # node -> face id (ascending)
        self.live = np.zeros(0, bool)
        self.n = 0  # nodes
        self.deleted = 0  # nodes removed
        self.seq = 0  # the last change applied
        self._selector = None

    @property
    def count(self) -> int:
        """Faces indexed (live nodes)."""
        return self.n - self.deleted

    def _vectors(self) -> np.ndarray:
        """The graph's vectors ``(n, dim)``, a writable view of FAISS's storage."""
        faiss = _faiss()
        if self.n == 0:
            return np.zeros((0, self.dim), np.float32)
        storage = faiss.downcast_index(self.index.storage)
        return faiss.rev_swig_ptr(storage.get_xb(), self.n * self.dim).reshape(self.n, self.dim)

    def _append(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if not len(ids):
            return
        self.index.add(np.ascontiguousarray(vecs, dtype=np.float32))
        self.labels = _grow(self.labels, self.n + len(ids))
        self.live = _grow(self.live, self.n + len(ids))
        self.labels[self.n:self.n + len(ids)] = ids
        self.live[self.n:self.n + len(ids)] = True
        self.n += len(ids)
        self._selector = None

    def _position(self, face: int) -> int:
        k = int(np.searchsorted(self.labels[:self.n], face))
        return k if k < self.n and self.labels[k] == face else -1

    def _kill(self, face: int) -> bool:
        """Take ``face`` out: excluded from searches, its vector overwritten by its nearest live
        neighbour's."""
        k = self._position(face)
        if k < 0 or not self.live[k]:
            return False
        self.live[k] = False
        self.deleted += 1
        self._selector = None
        vecs = self._vectors()
        if self.count:
            ids, _ = self._search_locked(vecs[k:k + 1].copy(), 1)
            j = self._position(int(ids[0, 0])) if ids[0, 0] >= 0 else -1
            vecs[k] = vecs[j] if j >= 0 else 0.0
        else:
            vecs[k] = 0.0
        return True

    # ------------------------------------------------------------------------------------------
    # Snapshots

    def _header(self) -> dict:
        return {"format": INDEX_FORMAT, "version": INDEX_VERSION, "kind": self.kind, "dim": self.dim,
                "seq": self.seq, "nodes": self.n, "deleted": self.deleted, "m": self.m,
                "ef_construction": self.ef_construction, "recogniser": (self.recogniser or {}).get("model"),
                "saved": time.time()}

    def _write(self, path: Path) -> None:
        faiss = _faiss()
        head = json.dumps(self._header()).encode()
        with open(path, "wb") as f:
            f.write(MAGIC + struct.pack("<I", len(head)) + head)
            f.write(self.labels[:self.n].astype("<i8").tobytes())
            f.write(np.packbits(self.live[:self.n], bitorder="little").tobytes())
            faiss.write_index(self.index, faiss.PyCallbackIOWriter(f.write))
            f.flush()
            os.fsync(f.fileno())

    def _read(self) -> dict:
        """Load the snapshot file into this object; raises ``ValueError`` saying what is wrong."""
        faiss = _faiss()
        with open(self.path, "rb") as f:
            st = os.fstat(f.fileno())
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if f.read(len(MAGIC)) != MAGIC:
                raise ValueError("not an index file")
            (size,) = struct.unpack("<I", f.read(4))
            head = json.loads(f.read(size))
            if head.get("format") != INDEX_FORMAT or int(head.get("version", 0)) != INDEX_VERSION:
                raise ValueError("an index file of another format")
            if head.get("kind") != self.kind or int(head.get("dim", 0)) != self.dim:
                raise ValueError(f"an index of {head.get('kind')} faces, {head.get('dim')} numbers")
            if self.recogniser and head.get("recogniser") not in (None, self.recogniser.get("model")):
                raise ValueError("made with another recogniser's descriptors")
            n = int(head["nodes"])
            labels = np.frombuffer(f.read(8 * n), dtype="<i8").astype(np.int64)
            live = np.unpackbits(np.frombuffer(f.read((n + 7) // 8), np.uint8), count=n, bitorder="little")
            if len(labels) != n or len(live) != n:
                raise ValueError("truncated")
            index = faiss.read_index(faiss.PyCallbackIOReader(f.read))
        if index.ntotal != n or index.d != self.dim:
            raise ValueError("its graph does not match its header")
        if n and np.any(np.diff(labels) <= 0):
            raise ValueError("its face ids are out of order")
        index.hnsw.efConstruction = self.ef_construction
        self.index, self.labels, self.live, self.n = index, labels, live.astype(bool), n
        self.deleted = int(n - self.live.sum())
        self.seq = int(head["seq"])
        self._selector = None
        self._stamp = stamp
        return head

    def _file_stamp(self) -> tuple | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _load(self) -> None:
        """The snapshot (if any, and sound) brought up to date, or the index rebuilt."""
        last = self.store.last_seq(self.kind)
        if self.path.is_file():
            try:
                head = self._read()
                if int(head["seq"]) > last:
                    raise ValueError(f"it is ahead of the store (change {head['seq']} > {last})")
                self.saved_seq = self.seq
            except Exception as e:  # noqa: BLE001 - any damage: rebuild from the store
                self.notice = (f"{self.path.name}: unusable ({e}); rebuilt from the store, nothing lost")
                self._rebuild_locked()
                if self.writer:
                    self._save_locked()
                return
        elif last:
            self.notice = f"{self.path.name}: missing; rebuilt from the store, nothing lost"
            self._rebuild_locked()
            if self.writer:
                self._save_locked()
            return
        self._catch_up_locked()

    def _rebuild_locked(self) -> None:
        self._empty()
        with self.store.reading():  # one snapshot of the store: the seq and the faces agree
            seq = self.store.last_seq(self.kind)
            for ids, vecs in self.store.iter_descriptors(self.kind, self.dim):
                self._append(ids, vecs)
        self.seq = seq

    def rebuild(self) -> None:
        """The graph made anew from the store (removed faces leave no trace)."""
        with self.lock.write():
            self._rebuild_locked()

    def _should_rebuild(self) -> bool:
        return self.deleted > 0 and (self.count <= SMALL or self.deleted >= REBUILD_FRACTION * self.n)

    def _save_locked(self) -> None:
        from ..files import atomic_write  # (a reader never saves, nor imports what this brings: torch)

        if self.writer and self._should_rebuild():
            self._rebuild_locked()
        atomic_write(self.path, self._write)
        self.saved_seq = self.seq

    def save(self) -> None:
        """Bring up to date, rebuild where removals call for it, and write the snapshot
        atomically (a writer's job; a reader's call is refused)."""
        if not self.writer:
            raise GalleryError("this gallery was opened for searching only; open it as a writer to save its index")
        with self.lock.write():
            self._catch_up_locked()
            self._save_locked()

    # ------------------------------------------------------------------------------------------
    # Following the store

    def catch_up(self) -> int:
        """Apply the changes committed since this index's ``seq``; how many."""
        last = self.store.last_seq(self.kind)
        if last == self.seq:
            return 0
        with self._sync, self.lock.write():
            return self._catch_up_locked()

    def _catch_up_locked(self) -> int:
        applied = 0
        behind = self.store.pending(self.seq, self.kind) if not self.writer else 0
        if behind > RELOAD_AFTER and self._file_stamp() not in (None, self._stamp):
            keep = (self.index, self.labels, self.live, self.n, self.deleted, self.seq)
            try:
                head = self._read()
                if int(head["seq"]) < keep[5]:
                    raise ValueError("older than this copy")
            except Exception:  # noqa: BLE001 - keep what we had and replay
                self.index, self.labels, self.live, self.n, self.deleted, self.seq = keep
                self._selector = None
        while True:
            changes = self.store.changes_after(self.seq, self.kind, PAGE)
            if not changes:
                return applied
            self._apply(changes)
            applied += len(changes)

    def _apply(self, changes: list[Change]) -> None:
        run: list[int] = []

        def flush() -> None:
            if run:
                ids, vecs = self.store.descriptors(run, self.dim)  # removed since: not found, skipped
                last = self.labels[self.n - 1] if self.n else -1
                fresh = ids > last
                self._append(ids[fresh], vecs[fresh])
                run.clear()

        for c in changes:
            if c.op == "add":
                run.append(c.face)
            else:
                flush()
                self._kill(c.face)
            self.seq = c.seq
        flush()

    # ------------------------------------------------------------------------------------------
    # Searching

    def _selector_for(self):
        if self.deleted == 0:
            return None
        if self._selector is None:
            faiss = _faiss()
            bits = np.packbits(self.live[:self.n], bitorder="little")
            self._selector = (faiss.IDSelectorBitmap(self.n, faiss.swig_ptr(bits)), bits)
        return self._selector[0]

    def _search_locked(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        nq = len(queries)
        live = self.count
        if live == 0 or k <= 0:
            return np.full((nq, max(k, 0)), -1, np.int64), np.full((nq, max(k, 0)), np.inf, np.float32)
        kk = min(k, live)
        if live <= EXACT_BELOW:
            vecs = self._vectors()
            mask = self.live[:self.n]
            d = ((queries[:, None, :] - vecs[None, mask, :]) ** 2).sum(-1) if nq * live <= 2_000_000 else \
                np.stack([((vecs[mask] - q) ** 2).sum(-1) for q in queries])
            nodes = np.flatnonzero(mask)
            order = np.argsort(d, axis=1, kind="stable")[:, :kk]
            dist = np.take_along_axis(d, order, axis=1).astype(np.float32)
            ids = self.labels[nodes[order]]
        else:
            faiss = _faiss()
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_for(live), kk)
            sel = self._selector_for()
            if sel is not None:
                params.sel = sel
            dist, nodes = self.index.search(np.ascontiguousarray(queries, np.float32), kk, params=params)
            ids = np.where(nodes >= 0, self.labels[np.maximum(nodes, 0)], -1)
        if kk < k:
            ids = np.hstack([ids, np.full((nq, k - kk), -1, np.int64)])
            dist = np.hstack([dist, np.full((nq, k - kk), np.inf, np.float32)])
        return ids.astype(np.int64), dist.astype(np.float32)

    def ef_for(self, count: int) -> int:
        """The search's breadth for a graph of ``count`` live faces."""
        return self.ef_search if count <= LARGE else max(self.ef_search, EF_LARGE)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(face ids, squared distances)``, each ``(nq, k)``, nearest first (-1 / inf where
        the gallery has fewer than ``k`` faces); committed changes are applied first."""
        self.catch_up()
        with self.lock.read():
            return self._search_locked(np.atleast_2d(np.asarray(queries, np.float32)), int(k))

    def info(self) -> dict:
        return {"engine": self.engine, "kind": self.kind, "count": self.count, "nodes": self.n,
                "removed_nodes": self.deleted, "seq": self.seq, "saved_seq": self.saved_seq,
                "method": "exact" if self.count <= EXACT_BELOW else f"HNSW (M={self.m}, efSearch={self.ef_for(self.count)})",
                "file": str(self.path), "file_mb": round(self.path.stat().st_size / 2**20, 2)
                if self.path.is_file() else 0.0}

    def close(self) -> None:
        pass
