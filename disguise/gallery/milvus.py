"""The scale-out engine: a gallery's vectors in a Milvus collection, the rest in its store.

When the vectors outgrow one machine, the same gallery code keeps them in Milvus, a distributed
vector database (``engine="milvus"`` and the server's URI, ``http://host:19530``); the store
stays local and remains the truth. Each kind's vectors go to a collection of their own by face
id, pushed by replaying the store's change log (upserts and deletes, the last change pushed kept
in the store), so a push cut short is redone by the next process: nothing lost, nothing twice.
Searches ask for Strong consistency. A URI ending in ``.db`` is Milvus Lite, Milvus embedded over
a local file with the same client and calls (how the tests run this engine); it serves one
process at a time and searches by brute force, so the embedded default is FAISS.
"""

from __future__ import annotations

import threading

import numpy as np

from .descriptors import DIM
from .store import GalleryError, Store

PUSH_BATCH = 5_000  # vectors per upsert


class MilvusIndex:
    """One kind's vectors in a Milvus collection, kept in step with the store."""

    engine = "milvus"

    def __init__(self, store: Store, kind: str, uri: str, collection: str, token: str | None = None,
                 dim: int = DIM, writer: bool = False, recogniser: dict | None = None) -> None:
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise GalleryError("this gallery keeps its vectors in Milvus, and pymilvus is not installed "
                               "(pip install \"pymilvus>=2.5,<4\")") from None
        self.store, self.kind, self.dim, self.writer = store, kind, int(dim), writer
        self.uri, self.collection = str(uri), str(collection)
        self.notice = ""
        self._lock = threading.Lock()
        self._key = f"milvus:{self.collection}:seq"
        try:
            self.client = MilvusClient(uri=self.uri, token=token or "")
            if not self.client.has_collection(self.collection):
                self.client.create_collection(self.collection, dimension=self.dim, primary_field_name="id",
                                              id_type="int", vector_field_name="vector", metric_type="L2",
                                              auto_id=False, consistency_level="Strong")
                self.store.set_meta(self._key, "0")
            self.client.load_collection(self.collection)  # a collection another process made starts released
        except GalleryError:
            raise
        except Exception as e:  # noqa: BLE001 - the client's errors are many; say where
            raise GalleryError(f"cannot reach the gallery's Milvus at {self.uri} ({type(e).__name__}: {e})") from None
        self.saved_seq = self.seq
        self.catch_up()

    @property
    def seq(self) -> int:
        return int(self.store.meta(self._key, "0") or 0)

    @property
    def count(self) -> int:
        return self.store.count(self.kind)

    def catch_up(self) -> int:
        """Push the changes committed since the last push; how many."""
        if self.store.last_seq(self.kind) == self.seq:
            return 0
        with self._lock:
            applied = 0
            while True:
                start = self.seq
                changes = self.store.changes_after(start, self.kind, PUSH_BATCH)
                if not changes:
                    return applied
                adds = [c.face for c in changes if c.op == "add"]
                removes = [c.face for c in changes if c.op == "remove"]
                ids, vecs = self.store.descriptors(adds, self.dim)  # removed since: not found
                try:
                    if len(ids):
                        self.client.upsert(self.collection, [{"id": int(i), "vector": v.tolist()}
                                                             for i, v in zip(ids, vecs)])
                    if removes:
                        self.client.delete(self.collection, ids=[int(i) for i in removes])
                except Exception as e:  # noqa: BLE001
                    raise GalleryError(f"Milvus at {self.uri} refused the gallery's changes ({e})") from None
                with self.store.transaction() as con:  # only forward: another process may have pushed more
                    row = con.execute("SELECT value FROM meta WHERE key=?", (self._key,)).fetchone()
                    if int(row[0] if row else 0) < changes[-1].seq:
                        self.store.set_meta(self._key, str(changes[-1].seq), con)
                applied += len(changes)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(face ids, squared distances)``, each ``(nq, k)``, nearest first (-1 / inf past the
        gallery's end)."""
        self.catch_up()
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        ids = np.full((len(queries), k), -1, np.int64)
        dist = np.full((len(queries), k), np.inf, np.float32)
        try:
            found = self.client.search(self.collection, data=[q.tolist() for q in queries], limit=int(k),
                                       output_fields=[], search_params={"metric_type": "L2"},
                                       consistency_level="Strong")
        except Exception as e:  # noqa: BLE001
            raise GalleryError(f"Milvus at {self.uri} could not search ({e})") from None
        for row, hits in enumerate(found):
            for col, hit in enumerate(list(hits)[:k]):
                ids[row, col] = int(hit["id"])
                dist[row, col] = float(hit["distance"])
        return ids, dist

    def save(self) -> None:
        self.catch_up()
        self.saved_seq = self.seq

    def rebuild(self) -> None:
        """The collection made anew from the store."""
        with self._lock:
            self.client.drop_collection(self.collection)
            self.client.create_collection(self.collection, dimension=self.dim, primary_field_name="id",
                                          id_type="int", vector_field_name="vector", metric_type="L2",
                                          auto_id=False, consistency_level="Strong")
            self.store.set_meta(self._key, "0")
        self.catch_up()

    def info(self) -> dict:
        try:
            rows = int(self.client.get_collection_stats(self.collection).get("row_count", -1))
        except Exception:  # noqa: BLE001
            rows = -1
        return {"engine": self.engine, "kind": self.kind, "count": self.count, "milvus_rows": rows,
                "seq": self.seq, "method": f"Milvus collection {self.collection} at {self.uri}",
                "uri": self.uri, "collection": self.collection}

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass
