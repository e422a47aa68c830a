"""Adding photos to a gallery: over all the cores, resumable, every failure reported.

Each photo is hashed (sha256); one the gallery already holds for that kind is skipped ("already
in"), as is a second copy in the same run. The rest are described in parallel, one process per
core, each with its own recogniser (``disguise.gallery.faces``); a worker that dies takes only
its photo with it. Results are committed in batches (``BATCH`` faces or ``BATCH_S`` seconds),
each one transaction. Killed at any moment, the gallery keeps every batch committed, and the
same command again skips those and describes the rest: nothing lost, nothing twice. Unreadable
files, no face, several faces, missing files: each is reported at the end (``AddReport``), never
fatal.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .collection import Gallery
from .descriptors import fingerprint
from .faces import FaceProblem, describe, load_recogniser, prepare, thumbnail
from .sources import Photo, sha256_bytes
from .store import NewFace

BATCH = 16  # faces per commit ...
BATCH_S = 2.0  # ... or whatever is ready after this many seconds
IN_FLIGHT = 4  # photos queued per worker


@dataclass
class Failure:
    """A photo that was not added, and why."""

    source: str
    name: str
    reason: str

    def to_dict(self) -> dict:
        return {"source": self.source, "name": self.name, "reason": self.reason}


@dataclass
class AddReport:
    """What an ``add`` did: faces added (``(id, name, source)``), photos already in, duplicates
    within the run (``(source, first copy)``), failures; the kind, workers and seconds."""

    kind: str
    added: list[tuple[int, str, str]] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    workers: int = 1
    seconds: float = 0.0
    described_per_s: float = 0.0  # from the first photo described to the last (the workers up)

    @property
    def summary(self) -> str:
        parts = [f"added {len(self.added)} {self.kind} face{'s' if len(self.added) != 1 else ''}"]
        if self.already:
            parts.append(f"{len(self.already)} already in")
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} duplicate{'s' if len(self.duplicates) != 1 else ''} within this run")
        if self.failures:
            parts.append(f"{len(self.failures)} not added (listed above)")
        return ", ".join(parts) + f"; {self.seconds:.1f} s with {self.workers} worker{'s' if self.workers != 1 else ''}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "added": [{"id": i, "name": n, "source": s} for i, n, s in self.added],
                "already": list(self.already),
                "duplicates": [{"source": s, "of": o} for s, o in self.duplicates],
                "failures": [f.to_dict() for f in self.failures], "workers": self.workers,
                "seconds": round(self.seconds, 3), "described_per_s": round(self.described_per_s, 3),
                "summary": self.summary}


# ----------------------------------------------------------------------------------------------
# The work of one photo (in a worker process, or in this one)

_WORKER: dict = {}


def _watch_parent(parent: int) -> None:
    """A worker whose parent is gone (killed) exits rather than wait for work forever."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(kind: str, weights, parent: int) -> None:
    import torch

    torch.set_num_threads(1)
    _WORKER["recogniser"] = load_recogniser(kind, weights)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def describe_file(path: str, recogniser=None) -> tuple[str, object, bytes]:
    """``(sha256, descriptor, thumbnail)`` of the one face in the photo at ``path``; a
    ``FaceProblem`` (unreadable, no face, several faces) says why not."""
    recogniser = recogniser if recogniser is not None else _WORKER["recogniser"]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise FaceProblem(f"unreadable: {e.strerror or e}") from None
    prep = prepare(data)
    return sha256_bytes(data), describe(recogniser, prep), thumbnail(prep)


def _work(path: str) -> tuple:
    try:
        sha, vec, thumb = describe_file(path)
        return ("ok", sha, vec, thumb)
    except FaceProblem as e:
        return ("fail", str(e))
    except Exception as e:  # noqa: BLE001 - one odd photo never stops the rest
        return ("fail", f"could not be described ({type(e).__name__}: {e})")


# ----------------------------------------------------------------------------------------------


def _hash(photo: Photo) -> tuple[str | None, str]:
    if photo.problem:
        return None, photo.problem
    try:
        with open(photo.path, "rb") as f:
            return sha256_bytes(f.read()), ""
    except OSError as e:
        return None, f"unreadable: {e.strerror or e}"


def add_photos(gallery: Gallery, photos: Sequence[Photo], kind: str, weights=None, workers: int | None = None,
               progress: bool = True, recogniser=None, on_commit: Callable[[int], None] | None = None) -> AddReport:
    """Add ``photos`` as faces of ``kind`` (see the module docstring). ``workers``: processes
    (default: every core; 1: in this process); ``recogniser``: one already loaded for this
    process (default: loaded here); ``on_commit``: called with the gallery's count after each
    commit."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    report = AddReport(kind)
    recogniser = recogniser if recogniser is not None else load_recogniser(kind, weights)
    fp = fingerprint(recogniser)
    gallery.check_recogniser(kind, fp)  # another model's gallery: refused before any work
    todo = _new_photos(gallery, kind, photos, report)
    workers = max(1, min(int(workers or os.cpu_count() or 1), len(todo) or 1))
    report.workers = workers
    batch = _Batches(gallery, kind, fp, report, on_commit)
    bar = tqdm(total=len(todo), desc=f"adding {kind} faces", unit="photo", disable=not progress or not todo,
               dynamic_ncols=True)
    try:
        if workers == 1:
            for photo in todo:
                try:
                    batch.take(photo, ("ok", *describe_file(photo.path, recogniser)))
                except FaceProblem as e:
                    batch.take(photo, ("fail", str(e)))
                bar.update(1)
        else:
            _run_pool(todo, kind, weights, workers, batch.take, batch.tick, bar)
    finally:
        batch.commit()  # what is done is kept, even when interrupted
        bar.close()
        gallery.save()
    report.seconds = time.perf_counter() - start
    stamps = batch.stamps
    if len(stamps) > 1:  # steady state: from the first photo described to the last (workers up)
        report.described_per_s = (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9)
    return report


def _new_photos(gallery: Gallery, kind: str, photos: Sequence[Photo], report: AddReport) -> list[Photo]:
    """The photos to describe: each file hashed once; the unreadable, those already in the
    gallery and repeats within ``photos`` go to ``report`` instead."""
    todo: list[Photo] = []
    first: dict[str, str] = {}
    hashed = [(p, *_hash(p)) for p in photos]
    known = gallery.known(kind, [h for _, h, _ in hashed if h])
    for photo, sha, problem in hashed:
        if sha is None:
            report.failures.append(Failure(photo.path, photo.name, problem))
        elif sha in known:
            report.already.append(photo.path)
        elif sha in first:
            report.duplicates.append((photo.path, first[sha]))
        else:
            first[sha] = photo.path
            todo.append(photo)
    return todo


class _Batches:
    """Described faces gathered and committed in batches (``BATCH`` faces or ``BATCH_S`` seconds,
    whichever comes first), each batch one transaction; what each photo became goes to the report."""

    def __init__(self, gallery: Gallery, kind: str, fp: dict, report: AddReport,
                 on_commit: Callable[[int], None] | None) -> None:
        self.gallery, self.kind, self.fp, self.report, self.on_commit = gallery, kind, fp, report, on_commit
        self.pending: list[NewFace] = []
        self.last_commit = time.monotonic()
        self.stamps: list[float] = []  # when each photo's result arrived

    def commit(self) -> None:
        if self.pending:
            ids = self.gallery.add_faces(self.kind, self.pending, self.fp)
            for face_id, f in zip(ids, self.pending):
                if face_id is None:  # another process added the same photo meanwhile
                    self.report.already.append(f.source)
                else:
                    self.report.added.append((face_id, f.name, f.source))
            self.pending.clear()
            if self.on_commit:
                self.on_commit(self.gallery.count(self.kind))
        self.last_commit = time.monotonic()

    def tick(self) -> None:
        if self.pending and time.monotonic() - self.last_commit >= BATCH_S:
            self.commit()

    def take(self, photo: Photo, result: tuple) -> None:
        self.stamps.append(time.perf_counter())
        if result[0] == "ok":
            _, sha, vec, thumb = result
            # the bytes described are the ones stored under their hash (a file changed since it
            # was hashed goes by its new hash)
            self.pending.append(NewFace(photo.name, photo.path, sha, vec, thumb))
        else:
            self.report.failures.append(Failure(photo.path, photo.name, result[1]))
        if len(self.pending) >= BATCH:
            self.commit()
        self.tick()


CRASHED = "the worker describing it crashed (try this photo alone)"


def _run_pool(todo: list[Photo], kind, weights, workers, take, tick, bar) -> None:
    import multiprocessing as mp

    queue = list(reversed(todo))
    while queue:
        ctx = mp.get_context("spawn")  # a clean process: no threads or OpenMP state inherited
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(kind, None if weights is None else str(weights), os.getpid())) as pool:
            running: dict[Future, Photo] = {}
            broken = False
            while (queue or running) and not broken:
                while queue and len(running) < workers * IN_FLIGHT:
                    photo = queue.pop()
                    running[pool.submit(_work, photo.path)] = photo
                done, _ = wait(list(running), timeout=BATCH_S, return_when=FIRST_COMPLETED)
                for fut in done:
                    photo = running.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        result, broken = ("fail", CRASHED), True
                    take(photo, result)
                    bar.update(1)
                tick()  # nothing finished for a while: commit what is ready
            if broken:  # what was in flight died with the pool; a new pool takes the rest
                for photo in running.values():
                    take(photo, ("fail", CRASHED))
                    bar.update(1)
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
