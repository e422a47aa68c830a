"""The gallery's store: every known face in one SQLite database, the source of truth.

``gallery.sqlite`` holds each face (kind, name, source, the sha256 of its file, its float32
descriptor), its JPEG thumbnail, and a log of changes (``seq``, kind, add or remove, face id)
that every index replays (``disguise.gallery.index``). Every change is one transaction (WAL), so
a process killed at any moment leaves the store as after its last commit; ``(kind, sha256)`` is
unique, so a photo is never stored twice. Readers never block the writer; each thread has its
own connection. Removal is real: ``secure_delete`` overwrites the bytes, and the WAL is
checkpointed after. A folder without a gallery, a database that is not one, or one from a newer
version: ``GalleryError`` saying what to do.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .descriptors import DIM, KINDS, check_kind, from_blob, to_blob

DB_NAME = "gallery.sqlite"
FORMAT = "disguise-gallery"
VERSION = 1
BUSY_TIMEOUT_S = 60.0  # a writer waits this long for another to finish
_CHUNK = 500  # ids per IN (...) query

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faces(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    descriptor BLOB NOT NULL,
    added REAL NOT NULL,
    UNIQUE(kind, sha256));
CREATE INDEX IF NOT EXISTS faces_name ON faces(name);
CREATE TABLE IF NOT EXISTS thumbnails(face INTEGER PRIMARY KEY, jpeg BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS changes(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('add', 'remove')),
    face INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS changes_kind ON changes(kind, seq);
"""


class GalleryError(ValueError):
    """A gallery that cannot be used as asked; the message says why and what to do."""


@dataclass
class NewFace:
    """A face to store: its descriptor ``(128,)``, name, source, the sha256 of its file's bytes
    and a JPEG thumbnail (may be empty)."""

    name: str
    source: str
    sha256: str
    descriptor: np.ndarray
    thumbnail: bytes = b""


@dataclass(frozen=True)
class FaceRecord:
    """A stored face (without its descriptor and thumbnail)."""

    id: int
    kind: str
    name: str
    source: str
    sha256: str
    added: float

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "name": self.name, "source": self.source,
                "sha256": self.sha256, "added": self.added}


@dataclass(frozen=True)
class Change:
    seq: int
    kind: str
    op: str
    face: int


def is_gallery(folder: str | os.PathLike) -> bool:
    return (Path(folder) / DB_NAME).is_file()


class Store:
    """The SQLite store of one gallery folder (see the module docstring).

    ``Store(folder, create=True)`` makes the folder and its database if missing; ``create=False``
    (searching, ``info``) refuses a folder that holds no gallery.
    """

    def __init__(self, folder: str | os.PathLike, create: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        if not self.path.is_file():
            if not create:
                if not self.folder.exists():
                    raise GalleryError(f"{self.folder}: no such gallery (make one with "
                                       f"python -m train.gallery add {self.folder} PHOTOS...)")
                if not self.folder.is_dir():
                    raise GalleryError(f"{self.folder}: not a folder; a gallery is a folder")
                raise GalleryError(f"{self.folder}: not a gallery (it has no {DB_NAME}); add photos to make one: "
                                   f"python -m train.gallery add {self.folder} PHOTOS...")
            if self.folder.exists() and not self.folder.is_dir():
                raise GalleryError(f"{self.folder}: not a folder; a gallery is a folder")
            self.folder.mkdir(parents=True, exist_ok=True)
        self._check()

    # ------------------------------------------------------------------------------------------
    # Connections

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                  check_same_thread=False)
            con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.DatabaseError(f"cannot use a write-ahead log (journal mode {mode})")
            con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a killed process
            con.execute("PRAGMA secure_delete=ON")
        except sqlite3.DatabaseError as e:
            raise self._corrupt(e) from None
        with self._all_lock:
            self._all.append(con)
        return con

    @property
    def con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._connect()
        return con

    def _corrupt(self, e: Exception) -> GalleryError:
        return GalleryError(f"{self.path}: not a readable gallery database ({e}); restore it from a backup, "
                            f"or move the folder away and add the photos again")

    def close(self) -> None:
        with self._all_lock:
            for con in self._all:
                try:
                    con.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check(self) -> None:
        """Create the schema (a new gallery) or check that the database is a gallery of ours."""
        try:
            con = self.con
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                # one script, one transaction: no reader sees the tables without their format
                con.executescript("BEGIN IMMEDIATE;" + _SCHEMA
                                  + f"INSERT OR IGNORE INTO meta VALUES ('format', '{FORMAT}'), "
                                  f"('version', '{VERSION}'), ('created', '{time.time()!r}');COMMIT;")
                return
            if "meta" not in tables:
                raise GalleryError(f"{self.path}: an SQLite database, but not a gallery (no meta table)")
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as e:
            raise self._corrupt(e) from None
        if meta.get("format") != FORMAT:
            raise GalleryError(f"{self.path}: an SQLite database, but not a disguise gallery")
        if int(meta.get("version", 0)) > VERSION:
            raise GalleryError(f"{self.path}: made by a newer version of disguise (gallery version "
                               f"{meta.get('version')}; this one reads {VERSION}); update disguise")
        missing = {"faces", "thumbnails", "changes"} - tables
        if missing:
            raise GalleryError(f"{self.path}: a damaged gallery (missing tables: {', '.join(sorted(missing))})")

    class _Transaction:
        def __init__(self, con: sqlite3.Connection, store: "Store") -> None:
            self.con, self.store = con, store

        def __enter__(self) -> sqlite3.Connection:
            try:
                self.con.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as e:
                raise self.store._corrupt(e) from None
            return self.con

        def __exit__(self, kind, exc, tb) -> None:
            if kind is None:
                self.con.execute("COMMIT")
            else:
                self.con.execute("ROLLBACK")

    def transaction(self) -> "_Transaction":
        """``with store.transaction() as con:`` one write transaction (committed, or rolled back
        on an exception)."""
        return self._Transaction(self.con, self)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """``with store.reading():`` every read in the block sees one state of the store."""
        con = self.con
        if con.in_transaction:
            yield
            return
        try:
            con.execute("BEGIN")
        except sqlite3.DatabaseError as e:
            raise self._corrupt(e) from None
        try:
            yield
        finally:
            con.execute("COMMIT")

    def _read(self, sql: str, args: Sequence = ()) -> list[tuple]:
        try:
            return self.con.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise self._corrupt(e) from None

    # ------------------------------------------------------------------------------------------
    # Meta

    def meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else default

    def meta_json(self, key: str) -> dict | None:
        raw = self.meta(key)
        return None if raw is None else json.loads(raw)

    def set_meta(self, key: str, value, con: sqlite3.Connection | None = None) -> None:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        if con is not None:
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, text))
            return
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, text))

    def all_meta(self) -> dict[str, str]:
        return dict(self._read("SELECT key, value FROM meta"))

    # ------------------------------------------------------------------------------------------
    # Faces

    def known(self, kind: str, hashes: Iterable[str]) -> set[str]:
        """Which of ``hashes`` are already stored as faces of ``kind``."""
        hashes = list(dict.fromkeys(hashes))
        out: set[str] = set()
        for start in range(0, len(hashes), _CHUNK):
            part = hashes[start:start + _CHUNK]
            out.update(r[0] for r in self._read(
                f"SELECT sha256 FROM faces WHERE kind=? AND sha256 IN ({','.join('?' * len(part))})", (kind, *part)))
        return out

    def add(self, kind: str, faces: Sequence[NewFace]) -> list[int | None]:
        """Store ``faces`` of ``kind`` in one transaction; a face whose ``(kind, sha256)`` is
        already stored is left out. Returns each face's new id, or None where it was left out."""
        check_kind(kind)
        ids: list[int | None] = []
        now = time.time()
        with self.transaction() as con:
            for f in faces:
                cur = con.execute("INSERT OR IGNORE INTO faces(kind, name, source, sha256, descriptor, added) "
                                  "VALUES (?, ?, ?, ?, ?, ?)",
                                  (kind, str(f.name), str(f.source), str(f.sha256), to_blob(f.descriptor), now))
                if cur.rowcount != 1:
                    ids.append(None)
                    continue
                face = int(cur.lastrowid)
                if f.thumbnail:
                    con.execute("INSERT INTO thumbnails VALUES (?, ?)", (face, sqlite3.Binary(f.thumbnail)))
                con.execute("INSERT INTO changes(kind, op, face) VALUES (?, 'add', ?)", (kind, face))
                ids.append(face)
        return ids

    def remove(self, ids: Iterable[int]) -> list[FaceRecord]:
        """Delete the faces ``ids`` (descriptor and thumbnail overwritten in the file); the ones
        that were there."""
        ids = [int(i) for i in dict.fromkeys(ids)]
        gone = self.records(ids)
        if not gone:
            return []
        with self.transaction() as con:
            for r in gone:
                con.execute("DELETE FROM faces WHERE id=?", (r.id,))
                con.execute("DELETE FROM thumbnails WHERE face=?", (r.id,))
                con.execute("INSERT INTO changes(kind, op, face) VALUES (?, 'remove', ?)", (r.kind, r.id))
        self.checkpoint()
        return gone

    def checkpoint(self) -> None:
        """Move the WAL's pages into the database and truncate it (after a removal: the removed
        bytes then live nowhere; when readers hold old pages, at least what they allow)."""
        try:
            self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError:
            pass

    _RECORD = "SELECT id, kind, name, source, sha256, added FROM faces"

    def records(self, ids: Iterable[int]) -> list[FaceRecord]:
        """The stored faces among ``ids``, in the order given."""
        ids = [int(i) for i in ids]
        found: dict[int, FaceRecord] = {}
        for start in range(0, len(ids), _CHUNK):
            part = ids[start:start + _CHUNK]
            for row in self._read(f"{self._RECORD} WHERE id IN ({','.join('?' * len(part))})", part):
                found[row[0]] = FaceRecord(*row)
        return [found[i] for i in ids if i in found]

    def by_name(self, name: str) -> list[FaceRecord]:
        return [FaceRecord(*r) for r in self._read(f"{self._RECORD} WHERE name=? ORDER BY id", (name,))]

    def listing(self, kind: str | None = None, limit: int | None = None) -> list[FaceRecord]:
        sql, args = self._RECORD, []
        if kind:
            sql, args = sql + " WHERE kind=?", [kind]
        sql += " ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [FaceRecord(*r) for r in self._read(sql, args)]

    def descriptors(self, ids: Sequence[int], dim: int = DIM) -> tuple[np.ndarray, np.ndarray]:
        """``(ids found, (N, dim) float32)`` for the stored faces among ``ids``."""
        ids = [int(i) for i in ids]
        got: dict[int, np.ndarray] = {}
        for start in range(0, len(ids), _CHUNK):
            part = ids[start:start + _CHUNK]
            for face, blob in self._read(f"SELECT id, descriptor FROM faces WHERE id IN ({','.join('?' * len(part))})",
                                         part):
                got[face] = from_blob(blob, dim)
        keep = [i for i in ids if i in got]
        vecs = np.stack([got[i] for i in keep]).astype(np.float32) if keep else np.zeros((0, dim), np.float32)
        return np.array(keep, dtype=np.int64), vecs

    def iter_descriptors(self, kind: str, dim: int = DIM, batch: int = 50_000
                         ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every stored face of ``kind`` as ``(ids, (n, dim) float32)`` batches, by id."""
        last = 0
        while True:
            rows = self._read("SELECT id, descriptor FROM faces WHERE kind=? AND id>? ORDER BY id LIMIT ?",
                              (kind, last, batch))
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4")
            if vecs.size != len(rows) * dim:
                raise GalleryError(f"{self.path}: a stored {kind} descriptor is not {dim} numbers long")
            yield ids, vecs.reshape(len(rows), dim).astype(np.float32, copy=False)
            last = int(ids[-1])

    def thumbnail(self, face: int) -> bytes | None:
        rows = self._read("SELECT jpeg FROM thumbnails WHERE face=?", (int(face),))
        return bytes(rows[0][0]) if rows else None

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return int(self._read("SELECT count(*) FROM faces")[0][0])
        return int(self._read("SELECT count(*) FROM faces WHERE kind=?", (kind,))[0][0])

    def counts(self) -> dict[str, int]:
        got = dict(self._read("SELECT kind, count(*) FROM faces GROUP BY kind"))
        return {k: int(got.get(k, 0)) for k in KINDS}

    def names(self, kind: str | None = None) -> dict[str, int]:
        """Each name and how many faces it has."""
        sql, args = "SELECT name, count(*) FROM faces", ()
        if kind:
            sql, args = sql + " WHERE kind=?", (kind,)
        return dict(self._read(sql + " GROUP BY name ORDER BY name", args))

    # ------------------------------------------------------------------------------------------
    # The change log

    def last_seq(self, kind: str | None = None) -> int:
        if kind is None:
            row = self._read("SELECT max(seq) FROM changes")
        else:
            row = self._read("SELECT max(seq) FROM changes WHERE kind=?", (kind,))
        return int(row[0][0] or 0)

    def changes_after(self, seq: int, kind: str, limit: int = 100_000) -> list[Change]:
        rows = self._read("SELECT seq, kind, op, face FROM changes WHERE kind=? AND seq>? ORDER BY seq LIMIT ?",
                          (kind, int(seq), int(limit)))
        return [Change(*r) for r in rows]

    def pending(self, seq: int, kind: str) -> int:
        return int(self._read("SELECT count(*) FROM changes WHERE kind=? AND seq>?", (kind, int(seq)))[0][0])

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.glob(DB_NAME + "*") if p.is_file())
