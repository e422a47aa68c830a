"""The gallery at scale: recall, query latency, insert rate, memory and disk, and photo ingest.

    python bench/gallery.py --size 200000 --json gallery-200k.json [--queries 1000]
                            [--engine faiss|milvus] [--photos 48] [--folder DIR] [--seed 0]

Descriptors: dlib's for every real photo to be had offline (the six portraits, mirrored too)
and the 100 real faces of scikit-image's ``lfw_subset``; the rest drawn to look like them
(``generator``: people around the portraits' mean with the LFW faces' covariance shape, scaled
to the portraits' genuine and impostor distances; docs/gallery.md says more). The build goes
through ``Gallery.add_faces``; the searches run in a fresh process that opens the gallery as the
app would; recall@10 is against brute force on the same vectors. ``--photos N`` also times
adding N photo files with one process and with every core. Goals at 1,000,000 faces on 2 cores:
recall@10 >= 0.99, p50 <= 10 ms, p99 <= 50 ms, RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
import numpy as np

FIXTURES = _common.ROOT / "tests" / "fixtures" / "real_faces"
FLOOR = 0.05  # the share of the variance spread evenly over all 128 directions
BATCH = 10_000


def portraits() -> dict[str, list[Path]]:
    import skimage
    from matplotlib import cbook

    return {"obama": [FIXTURES / f"obama{k}.jpg" for k in ("", "2", "3")], "biden": [FIXTURES / "biden.jpg"],
            "collins": [Path(skimage.__file__).parent / "data" / "astronaut.png"],
            "hopper": [Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))]}


def real_descriptors() -> tuple[np.ndarray, list[str], np.ndarray]:
    """``(portraits' descriptors, their people, LFW subset's descriptors)``, by dlib."""
    import skimage.data
    from PIL import Image, ImageOps

    from disguise.gallery.faces import describe, prepare
    from disguise.identity.recognisers import DlibRecogniser

    rec = DlibRecogniser()
    vecs, who = [], []
    for person, paths in portraits().items():
        for p in paths:
            im = Image.open(p).convert("RGB")
            for pic in (im, ImageOps.mirror(im)):
                vecs.append(describe(rec, prepare(pic)))
                who.append(person)
    chips = []
    for face in skimage.data.lfw_subset()[:100]:  # the first 100 are faces, the rest not
        a = (np.clip(face, 0, 1) * 255).astype(np.uint8)
        chips.append(np.ascontiguousarray(np.asarray(
            Image.fromarray(a).resize((150, 150), Image.Resampling.BICUBIC).convert("RGB"))))
    lfw = np.array(rec.model.compute_face_descriptor(chips), dtype=np.float32)
    return np.array(vecs, np.float32), who, lfw


def generator(real: np.ndarray, who: list[str], lfw: np.ndarray) -> dict:
    """The model the drawn descriptors come from (see the module docstring)."""
    centred = lfw - lfw.mean(0)
    cov = centred.T @ centred / (len(lfw) - 1)
    cov = (1 - FLOOR) * cov / np.trace(cov) + FLOOR * np.eye(128) / 128  # unit trace
    shape = np.linalg.cholesky(cov + 1e-12 * np.eye(128)).astype(np.float32)
    genuine, impostor = [], []
    for i in range(len(real)):
        for j in range(i + 1, len(real)):
            d = float(np.linalg.norm(real[i] - real[j]))
            if who[i] != who[j]:
                impostor.append(d)
            elif i // 2 != j // 2:  # two photos, not a photo and its mirror image
                genuine.append(d)
    g, m = float(np.median(genuine)), float(np.median(impostor))
    # E|x - y|^2 = 2 s^2 for unit-trace noise of scale s: photos of one person differ by the
    # within noise twice, two people by their centres' and the within noise
    within = g / np.sqrt(2)
    between = np.sqrt(max(m ** 2 - g ** 2, 1e-6) / 2)
    return {"mean": real.mean(0), "shape": shape, "within": within, "between": between,
            "genuine_median": g, "impostor_median": m}


def draw(gen: dict, people: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(centres, faces, whose)``: ``n`` photos of ``people`` drawn people."""
    centres = gen["mean"] + (rng.standard_normal((people, 128), dtype=np.float32) @ gen["shape"].T) * gen["between"]
    whose = rng.integers(0, people, n)
    faces = np.empty((n, 128), np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        faces[s:e] = centres[whose[s:e]] + (rng.standard_normal((e - s, 128), dtype=np.float32)
                                            @ gen["shape"].T) * gen["within"]
    return centres.astype(np.float32), faces, whose


def rss_peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited through fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


# ----------------------------------------------------------------------------------------------


def builder(folder: str, vectors_path: str, engine: str, uri: str, recogniser: str, out_path: str) -> None:
    """In its own process (its memory measured alone; Milvus Lite's lock let go when it ends):
    store and index the vectors through ``Gallery.add_faces``, in batches, then save."""
    from disguise.gallery.collection import Gallery
    from disguise.gallery.store import NewFace

    vectors = np.load(vectors_path, mmap_mode="r")
    fp = json.loads(recogniser)
    t0 = time.perf_counter()
    g = Gallery(folder, writer=True, create=True, engine=engine, milvus_uri=uri or None)
    for s in range(0, len(vectors), BATCH):
        part = np.asarray(vectors[s:s + BATCH])
        g.add_faces("real", [NewFace(f"person {s + i}", "", f"bench-{s + i}", v) for i, v in enumerate(part)], fp)
        print(f"\r  stored and indexed {s + len(part):,} / {len(vectors):,}", end="", file=sys.stderr, flush=True)
    inserted = time.perf_counter() - t0
    g.close()  # the final snapshot
    print(file=sys.stderr)
    with open(out_path, "w") as f:
        json.dump({"insert_per_s": len(vectors) / inserted, "build_s": time.perf_counter() - t0,
                   "build_rss_mb": rss_peak_mb()}, f)


def in_process(function: str, *args: str) -> None:
    """Run ``function(*args)`` of this script in a fresh Python."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]); "
            f"import gallery; gallery.{function}(*sys.argv[3:])")
    subprocess.run([sys.executable, "-c", code, str(_common.ROOT), str(Path(__file__).parent), *map(str, args)],
                   check=True)


def searcher(folder: str, queries_path: str, out_path: str) -> None:
    """In its own process: open the gallery as the app would, time the queries one by one."""
    import faiss  # noqa: F401 - imported before the clock starts

    from disguise.gallery.collection import Gallery

    queries = np.load(queries_path)
    t = time.perf_counter()
    g = Gallery(folder)
    g.index("real")
    open_s = time.perf_counter() - t
    g.search(queries[0], "real", top=10)  # warm
    times, ids = [], []
    for q in queries:
        t = time.perf_counter()
        hits = g.search(q, "real", top=10)[0]
        times.append(time.perf_counter() - t)
        ids.append([h.id for h in hits.hits] + [-1] * (10 - len(hits.hits)))
    with open(out_path, "w") as f:
        json.dump({"open_s": open_s, "times": times, "ids": ids, "rss_mb": rss_peak_mb(),
                   "method": g.index("real").info()["method"], "torch": "torch" in sys.modules}, f)


def ingest_rate(photos: int, workdir: Path) -> dict:
    """Photos per second through ``add_photos``, with 1 process and with every core."""
    from PIL import Image

    from disguise.gallery.collection import Gallery
    from disguise.gallery.ingest import add_photos
    from disguise.gallery.sources import list_photos

    folder = workdir / "photos"
    folder.mkdir()
    files = [p for paths in portraits().values() for p in paths]
    for k in range(photos):
        src = files[k % len(files)]
        Image.open(src).convert("RGB").save(folder / f"{src.stem}_{k}.jpg", quality=95 - (k // len(files)) % 40)
    out = {}
    for workers in sorted({1, os.cpu_count() or 1}):
        g = Gallery(workdir / f"ingest-{workers}", writer=True, create=True)
        t = time.perf_counter()
        report = add_photos(g, list_photos([folder]), "real", workers=workers, progress=False)
        seconds = time.perf_counter() - t
        g.close()
        out[str(workers)] = {"photos": photos, "added": len(report.added), "seconds": round(seconds, 2),
                             "photos_per_s": round(photos / seconds, 3),
                             "described_per_s": round(report.described_per_s, 3)}
        print(f"  ingest with {workers} process{'es' if workers > 1 else ''}: {photos / seconds:.2f} photos/s "
              f"({report.described_per_s:.2f}/s once the workers are up)", file=sys.stderr)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=100_000, help="faces in the gallery")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--engine", choices=("faiss", "milvus"), default="faiss",
                   help="milvus: Milvus Lite, a local file (the server path's client and calls)")
    p.add_argument("--photos", type=int, default=0, help="also time adding this many real photo files")
    p.add_argument("--folder", help="build the gallery here (default: a temporary folder, removed)")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import faiss

    from disguise.gallery.descriptors import fingerprint
    from disguise.identity.recognisers import DlibRecogniser

    rng = np.random.default_rng(args.seed)
    work = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="disguise-gallery-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    folder = work / "gallery"
    if folder.exists():
        shutil.rmtree(folder)
    try:
        t = time.perf_counter()
        real, who, lfw = real_descriptors()
        gen = generator(real, who, lfw)
        n_draw = max(0, args.size - len(real))
        centres, drawn, _ = draw(gen, max(1, args.size // 3), n_draw, rng)
        vectors = np.vstack([real, drawn]).astype(np.float32)
        asked = rng.integers(0, len(centres), args.queries)
        queries = (centres[asked] + (rng.standard_normal((args.queries, 128), dtype=np.float32)
                                     @ gen["shape"].T) * gen["within"]).astype(np.float32)
        print(f"descriptors: {len(real)} real portraits + {len(lfw)} LFW faces; drawn {n_draw:,} "
              f"(genuine median {gen['genuine_median']:.3f}, impostor {gen['impostor_median']:.3f}) "
              f"in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        recogniser = fingerprint(DlibRecogniser())
        uri = str(work / "milvus.db") if args.engine == "milvus" else ""
        vpath, bpath = work / "vectors.npy", work / "built.json"
        np.save(vpath, vectors)
        del drawn
        in_process("builder", folder, vpath, args.engine, uri, json.dumps(recogniser), bpath)
        built = json.loads(bpath.read_text())

        qpath, opath = work / "queries.npy", work / "searched.json"
        np.save(qpath, queries)
        in_process("searcher", folder, qpath, opath)
        found = json.loads(opath.read_text())

        # the exact ten nearest, by brute force over the same vectors (face id = row + 1)
        flat = faiss.IndexFlatL2(128)
        flat.add(vectors)
        _, exact = flat.search(queries, 10)
        got = np.array(found["ids"])
        recall = float(np.mean([len(set((e + 1).tolist()) & set(g.tolist())) / 10 for e, g in zip(exact, got)]))
        times = np.array(found["times"]) * 1000
        figures = {
            "size": int(len(vectors)), "engine": args.engine, "method": found["method"],
            "queries": int(args.queries), "recall_at_10": round(recall, 4),
            "query_ms_p50": round(float(np.percentile(times, 50)), 3),
            "query_ms_p99": round(float(np.percentile(times, 99)), 3),
            "insert_per_s": round(built["insert_per_s"], 1), "build_s": round(built["build_s"], 1),
            "build_rss_mb": round(built["build_rss_mb"], 1), "open_s": round(found["open_s"], 2),
            "rss_mb": round(found["rss_mb"], 1), "search_imports_torch": found["torch"], "disk_mb": round(folder_mb(folder), 1),
            "cores": os.cpu_count(), "real_descriptors": int(len(real) + len(lfw)),
            "genuine_median": round(gen["genuine_median"], 3), "impostor_median": round(gen["impostor_median"], 3),
        }
        if args.photos:
            figures["ingest"] = ingest_rate(args.photos, work)
        for k, v in figures.items():
            print(f"{k:>18}: {v}")
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        if not args.folder:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
