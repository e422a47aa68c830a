"""A gallery of known faces: index photos once, find a sighting among them in milliseconds.

    python -m train.gallery add GALLERY PHOTOS... [--drawn] [--weights weights] [--workers N]
                                [--json report.json] [--engine faiss|milvus --milvus-uri URI]
    python -m train.gallery search GALLERY --sighting PHOTO [--top 5] [--drawn] [--json FILE]
    python -m train.gallery info GALLERY [--json FILE]
    python -m train.gallery remove GALLERY [--name NAME]... [--id ID]... [--json FILE]

``add`` takes files, folders (a subfolder per person names its photos) and CSVs of
``path,name``; photos already in are skipped, failures listed at the end; killed, the same
command finishes the job. ``search --json`` writes ``matched`` and ``results`` (``name``,
``distance``, best first). Bad input exits 2 with one line. docs/gallery.md has the details.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from disguise.gallery.collection import ENGINES, Gallery
from disguise.gallery.descriptors import DRAWN, REAL
from disguise.gallery.sources import list_photos
from train._cli import run

# (add and search load the recognisers, and so torch and dlib, only when they run)


def _write_json(path: str | None, data: dict) -> None:
    if path:
        from disguise.files import write_json

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, data)
        print(f"json: {out}")


def _add(args) -> int:
    photos = list_photos(args.photos)
    if not photos:
        raise ValueError("nothing to add: no files in " + ", ".join(args.photos))
    from disguise.gallery.ingest import add_photos

    kind = DRAWN if args.drawn else REAL
    with Gallery(args.gallery, writer=True, create=True, engine=args.engine, milvus_uri=args.milvus_uri) as g:
        for notice in g.notices:
            print(notice)
        report = add_photos(g, photos, kind, weights=args.weights, workers=args.workers,
                            progress=not args.no_progress)
        count = g.count()
    for f in report.failures:
        print(f"not added: {f.source}: {f.reason}")
    print(report.summary + f"; the gallery holds {count:,} faces")
    _write_json(args.json, {**report.to_dict(), "count": count})
    return 0


def _search(args) -> int:
    if args.top < 1:
        raise ValueError(f"--top must be at least 1, got {args.top}")
    from disguise.gallery.search import GallerySearch

    kind = DRAWN if args.drawn else REAL
    with GallerySearch(args.gallery, weights=args.weights) as searcher:
        hits = searcher.search(args.sighting, kind, args.top)
    width = max([len(h.name) for h in hits.hits] + [4])
    for k, h in enumerate(hits.hits, 1):
        verdict = "recognised" if h.recognised else "not recognised"
        print(f"{k:>3}. {h.name:<{width}}  distance {h.distance:.3f}  {verdict:<14}  id {h.id}  {h.source}")
    if hits.notice:
        print(f"note: {hits.notice}")
    print(hits.summary)
    _write_json(args.json, {"sighting": str(args.sighting), **hits.to_dict()})
    return 0


def _info(args) -> int:
    with Gallery(args.gallery) as g:
        info = g.info(names=args.names)
    for notice in info["notices"]:
        print(notice)
    counts = ", ".join(f"{n:,} {k}" for k, n in info["counts"].items())
    print(f"{info['folder']}: {info['count']:,} faces ({counts}) of {info['people']:,} names; "
          f"engine {info['engine']['name']}" + (f" at {info['engine'].get('uri')}" if info['engine'].get('uri') else ""))
    for kind, ix in info["indexes"].items():
        print(f"  {kind}: {ix['count']:,} indexed, {ix['method']}" + (f", {ix['file_mb']} MB" if ix.get("file_mb") else ""))
    for kind, rec in info["recognisers"].items():
        print(f"  {kind} faces described by {rec['recogniser']} ({rec['model']})")
    print(f"  {info['disk_mb']:.1f} MB on disk")
    _write_json(args.json, info)
    return 0


def _remove(args) -> int:
    if not args.name and not args.id:
        raise ValueError("say which faces to remove: --name NAME (every face of that name) or --id ID")
    with Gallery(args.gallery, writer=True) as g:
        removed, missing = g.remove(args.name, args.id)
        count = g.count()
    for r in removed:
        print(f"removed {r.id}: {r.name} ({r.kind}, {r.source})")
    for m in missing:
        print(f"not found: {m}")
    _write_json(args.json, {"removed": [r.to_dict() for r in removed], "not_found": missing, "count": count})
    if not removed:
        raise ValueError("nothing removed: " + "; ".join(missing))
    print(f"removed {len(removed)} face{'s' if len(removed) != 1 else ''}; the gallery holds {count:,}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.gallery", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("add", help="add photos (files, folders, CSVs of path,name)")
    a.add_argument("gallery", help="the gallery folder (made if new)")
    a.add_argument("photos", nargs="+", help="photos: files, folders, or CSVs of path,name")
    a.add_argument("--drawn", action="store_true", help="the faces are drawn (described by the identity model)")
    a.add_argument("--weights", help="the weights folder whose identity model describes drawn faces "
                                     "(default: the bundled weights)")
    a.add_argument("--workers", type=int, help="processes (default: one per core)")
    a.add_argument("--json", help="also write the report as JSON here")
    a.add_argument("--engine", choices=ENGINES, help="a new gallery's engine (default faiss: embedded)")
    a.add_argument("--milvus-uri", help="with --engine milvus: the server (http://host:19530) or a Milvus Lite .db file")
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    a.set_defaults(run=_add)

    s = sub.add_parser("search", help="the known faces nearest a sighting")
    s.add_argument("gallery")
    s.add_argument("--sighting", required=True, help="the photo of the person to find")
    s.add_argument("--top", type=int, default=5, help="how many faces to list (default 5)")
    s.add_argument("--drawn", action="store_true", help="search the drawn faces (the identity model)")
    s.add_argument("--weights", help="the weights folder whose identity model describes drawn faces")
    s.add_argument("--json", help="also write the results as JSON here")
    s.set_defaults(run=_search)

    i = sub.add_parser("info", help="what the gallery holds")
    i.add_argument("gallery")
    i.add_argument("--names", type=int, default=50, help="names listed in --json (default 50)")
    i.add_argument("--json", help="also write it as JSON here")
    i.set_defaults(run=_info)

    r = sub.add_parser("remove", help="remove faces by name or id, from the store and the index")
    r.add_argument("gallery")
    r.add_argument("--name", action="append", default=[], help="remove every face of this name (repeatable)")
    r.add_argument("--id", action="append", type=int, default=[], help="remove the face with this id (repeatable)")
    r.add_argument("--json", help="also write what was removed as JSON here")
    r.set_defaults(run=_remove)

    args = p.parse_args(argv)
    if getattr(args, "workers", None) is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(run(main))
