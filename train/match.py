"""Match a sighting against a gallery of suspects.

    python -m train.match --sighting IMG --gallery DIR_OR_FILES... [--weights weights]
                          [--disguise glasses,hat] [--drawn] [--out report.png] [--json report.json]
                          [--top 5]

Photos of real people are judged by dlib's face recogniser; ``--drawn`` says the faces are drawn
(the synthetic set's), judged by the weights' identity model. ``--disguise`` names what the
sighting shows (glasses, hat, beard, a hair colour, ...): each suspect is drawn in it. Without it,
where the weights' attribute judge can read the faces it names the differences; the bundled judge
learned drawn faces, so for photos nothing is claimed. Prints the ranking (name, similarity,
verdict, differences), writes a picture (per suspect of the best ``--top``: the sighting, the
suspect, the suspect in the disguise) and, with ``--json``, the whole result. Bad input exits 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from disguise.identity.match import LABELS, MAX_SUSPECTS, Matcher, match_sheet, seen_attributes
from disguise.identity.recognisers import DRAWN, REAL
from train._cli import name_list, run

disguise_list = name_list(seen_attributes)  # ``--disguise glasses,hat``: known disguise names


def gallery_files(items: list[str]) -> list[Path]:
    """Files given, and the files (sorted, not hidden) of each folder given."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.match", description=__doc__.splitlines()[0])
    p.add_argument("--sighting", required=True, help="the photo of the person to identify")
    p.add_argument("--gallery", required=True, nargs="+", help="suspects' photos: files or folders")
    p.add_argument("--weights", default="weights", help="weights folder (VAE, bank, identity model, judge)")
    p.add_argument("--out", default="match.png", help="the picture to write (default match.png)")
    p.add_argument("--json", help="also write the result as JSON here")
    p.add_argument("--top", type=int, default=5, help="suspects in the picture (default 5)")
    p.add_argument("--disguise", type=disguise_list, default=[],
                   help="what the sighting shows, comma-separated: " + ", ".join(LABELS.values()))
    p.add_argument("--drawn", action="store_true", help="the faces are drawn (judged by the identity model)")
    args = p.parse_args(argv)
    if args.top < 1:
        raise ValueError(f"--top must be at least 1, got {args.top}")
    files = gallery_files(args.gallery)
    if not files:
        raise ValueError("the gallery is empty: no files in " + ", ".join(args.gallery))
    if len(files) > MAX_SUSPECTS:
        raise ValueError(f"the gallery has {len(files)} images; the limit is {MAX_SUSPECTS} suspects")
    names = [f.name for f in files] if len({f.stem for f in files}) < len(files) else None
    matcher = Matcher.from_folder(args.weights)
    result = matcher.match(args.sighting, files, names=names, kind=DRAWN if args.drawn else REAL,
                           seen=args.disguise)
    width = max(len(s.name) for s in result.suspects)
    for k, s in enumerate(result.suspects, 1):
        verdict = "recognised" if s.recognised else "not recognised"
        diffs = ", ".join(s.difference_labels) or "-"
        print(f"{k:>2}. {s.name:<{width}}  {s.similarity:6.3f}  {verdict:<14}  differs: {diffs}")
    for line in result.skipped:
        print(f"skipped {line}")
    print(result.summary)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    match_sheet(result, top=args.top).save(out)
    print(f"picture: {out}")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        print(f"json: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
