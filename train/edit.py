"""Edit a face photo from the command line: alpha strips, grids and disguise sheets as PNG.

    python -m train.edit strip --image face.jpg --attribute Eyeglasses --alphas=-4,-3,-2,-1,0 --out strip.png
    python -m train.edit grid  --image a.jpg b.jpg --attribute Male --out grid.png
    python -m train.edit sheet --image face.jpg --out sheet.png [--lock Male]

Photos are aligned to CelebA's framing first (pass --aligned for CelebA images).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from disguise.attributes import check_names
from disguise.editing import Editor
from disguise.exports import alpha_grid, alpha_strip, disguise_sheet, save_png
from disguise.faces import ImageError, prepare_face
from train._cli import alpha_list, attribute_list, fail, run


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m train.edit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["strip", "grid", "sheet"])
    p.add_argument("--image", nargs="+", required=True, help="face photo(s)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--model", default="weights", help="weights folder or Hub repo id")
    p.add_argument("--attribute", default="Eyeglasses", help="for strip and grid")
    p.add_argument("--alphas", type=alpha_list, default="0,1,2,3,4",
                   help="comma-separated, e.g. -4,-3,-2,-1,0")
    p.add_argument("--lock", type=attribute_list, default="",
                   help="comma-separated attributes to keep fixed")
    p.add_argument("--aligned", action="store_true", help="images are already CelebA-aligned")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    out = Path(args.out)
    if out.exists() and not args.force:
        fail(f"{out} exists; pass --force to replace it")
    alphas, locked = args.alphas, args.lock
    check_names([args.attribute])
    if args.what != "grid" and len(args.image) > 1:
        fail(f"{args.what} takes one --image; use grid for several")
    editor = Editor.from_pretrained(args.model)
    faces = [prepare_face(p, editor.policy, already_aligned=True if args.aligned else None)
             for p in args.image]
    for path, f in zip(args.image, faces):
        if f.notice:
            print(f"{path}: {f.notice}", file=sys.stderr)
    zs = editor.encode(np.stack([f.crop for f in faces]))
    if args.what == "strip":
        img = alpha_strip(editor, zs[0], args.attribute, alphas, original=faces[0].crop, locked=locked)
    elif args.what == "grid":
        img = alpha_grid(editor, zs, args.attribute, alphas, originals=[f.crop for f in faces],
                         locked=locked)
    else:
        img = disguise_sheet(editor, zs[0], original=faces[0].crop, locked=locked)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_png(img, out)
    print(f"wrote {out} ({img.width} x {img.height})")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, expected=(ImageError, ValueError, FileNotFoundError)))
