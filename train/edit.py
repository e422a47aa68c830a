"""Edit a face photo from the command line: the edited photo, alpha strips, grids, disguise sheets
(PNG) and sweeps (animated GIF).

    python -m train.edit photo --image face.jpg --set Eyeglasses=3 --set Wearing_Hat=2 --out edited.png
    python -m train.edit strip --image face.jpg --attribute Eyeglasses --alphas=-4,-3,-2,-1,0 --out strip.png
    python -m train.edit grid  --image a.jpg b.jpg --attribute Male --out grid.png
    python -m train.edit sheet --image face.jpg --out sheet.png [--lock Male]
    python -m train.edit gif   --image face.jpg --attribute Wearing_Hat --out sweep.gif [--peak 4 --frames 17]

photo writes the whole photo at its full resolution with the edits drawn on the face, and the edits
(--set NAME=ALPHA, repeatable) in its PNG text chunks. strip, grid, sheet and gif show the face
region with each edit drawn on the photo (--view photo, the default) or the model's own decodes,
upscaled (--view model); gif sweeps one attribute 0 -> peak -> 0. Photos are aligned to CelebA's
framing first (pass --aligned for CelebA images; a 178 x 218 image is taken as aligned).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from disguise.attributes import check_names
from disguise.files import write_gif, write_png
from disguise.photo.alignment import prepare_face
from disguise.photo.exports import (
    FRAME_MS,
    SWEEP_FRAMES,
    SWEEP_PEAK,
    VIEWS,
    alpha_grid,
    alpha_strip,
    animation_comment,
    disguise_sheet,
    edited_photo,
    sweep_alphas,
    sweep_animation,
    view_tiles,
)
from disguise.photo.loading import ImageError, load_image
from disguise.sliders.bank import SEED_BANK_NAME, AttributeBank
from disguise.sliders.editor import Editor, check_alpha
from train._cli import alpha_list, attribute_list, fail, run

COMMANDS = ("photo", "strip", "grid", "sheet", "gif")


def edit_setting(text: str) -> tuple[str, float]:
    """A ``type=`` for ``--set NAME=ALPHA``: a known attribute and a valid alpha."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=ALPHA, e.g. Eyeglasses=3, got {text!r}")
    try:
        check_names([name])
        return name, check_alpha(value, f"alpha for {name}")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


edit_setting.__name__ = "NAME=ALPHA"  # what argparse names in its error


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m train.edit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=COMMANDS)
    p.add_argument("--image", nargs="+", required=True, help="face photo(s); several for grid")
    p.add_argument("--out", required=True, help="PNG to write (GIF for gif)")
    p.add_argument("--model", default="weights", help="weights folder or Hub repo id")
    p.add_argument("--set", dest="edits", metavar="NAME=ALPHA", type=edit_setting, action="append",
                   default=[], help="for photo: an edit, e.g. Eyeglasses=3 (repeat for more)")
    p.add_argument("--bank", default=None,
                   help="an attribute bank to edit with instead of MODEL's (e.g. weights/"
                        f"{SEED_BANK_NAME}: the seed's difference of means, in the seed's units)")
    p.add_argument("--attribute", default="Eyeglasses", help="for strip, grid and gif")
    p.add_argument("--alphas", type=alpha_list, default="0,1,2,3,4",
                   help="for strip and grid: comma-separated, e.g. -4,-3,-2,-1,0")
    p.add_argument("--peak", type=float, default=SWEEP_PEAK,
                   help=f"for gif: the sweep's largest alpha (default {SWEEP_PEAK:g})")
    p.add_argument("--frames", type=int, default=SWEEP_FRAMES,
                   help=f"for gif: frames in the sweep (default {SWEEP_FRAMES})")
    p.add_argument("--view", choices=VIEWS, default=None,
                   help="for strip, grid, sheet and gif: the edit drawn on the photo (default) or "
                        "the model's decode")
    p.add_argument("--lock", type=attribute_list, default="",
                   help="comma-separated attributes to keep fixed")
    p.add_argument("--aligned", action="store_true", help="images are already CelebA-aligned")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    return p.parse_args(argv)


def check_options(args) -> None:
    """The checks that need no model, so a mistake costs nothing: exit 2 with a message."""
    out = Path(args.out)
    if out.exists() and not args.force:
        fail(f"{out} exists; pass --force to replace it")
    check_names([args.attribute])
    if args.what != "grid" and len(args.image) > 1:
        fail(f"{args.what} takes one --image; use grid for several")
    names = [n for n, _ in args.edits]
    if twice := next((n for i, n in enumerate(names) if n in names[:i]), None):
        fail(f"--set {twice} is given more than once")
    if args.what == "photo":
        if not names:
            fail("photo needs at least one edit: --set NAME=ALPHA, e.g. --set Eyeglasses=3")
        if args.view == "model":
            fail("photo always draws on the photo; --view model is for strip, grid, sheet and gif")
    elif names:
        fail("--set is only for photo; strip and grid take --attribute and --alphas, "
             "gif --attribute and --peak")
    if args.what == "gif":
        if out.suffix.lower() != ".gif":
            fail(f"gif writes an animated GIF; give --out a .gif name, got {out.name}")
        sweep_alphas(args.peak, args.frames)  # raises ValueError naming a bad --peak or --frames


def main(argv=None) -> int:
    args = parse(argv)
    check_options(args)
    out, locked, view = Path(args.out), args.lock, args.view or "photo"
    editor = Editor.from_pretrained(args.model)
    if args.bank:
        editor = Editor(editor.model, AttributeBank.load(args.bank, z_dim=editor.model.config.z_dim))
    faces = [prepare_face(p, editor.policy, already_aligned=True if args.aligned else None)
             for p in args.image]
    for path, f in zip(args.image, faces):
        if f.notice:
            print(f"{path}: {f.notice}", file=sys.stderr)
    zs = editor.encode(np.stack([f.crop for f in faces]))
    recons = [editor.render(z, {}) for z in zs]
    drawers = [view_tiles(view, f.photo, editor.policy, r, f.crop) for f, r in zip(faces, recons)]
    tiles = [t for t, _ in drawers] if view == "photo" else None
    originals = [o for _, o in drawers]
    first = tiles[0] if tiles else None
    out.parent.mkdir(parents=True, exist_ok=True)

    if args.what == "gif":
        frames = sweep_animation(editor, zs[0], args.attribute, args.peak, args.frames, locked=locked,
                                 tiles=first)
        write_gif(out, frames, FRAME_MS, animation_comment(args.attribute, args.peak, len(frames), view, locked))
        print(f"wrote {out} ({len(frames)} frames, {frames[0].width} x {frames[0].height})")
        return 0
    if args.what == "photo":
        edits = dict(args.edits)
        full = faces[0].photo.at_resolution(np.asarray(load_image(args.image[0], work_side=None)))
        edited = editor.render(zs[0], edits, locked)
        img = edited_photo(full, editor.policy, recons[0], edited, edits, locked)
        write_png(out, img, compress_level=1)  # a 12-megapixel photo is written several times faster
    else:
        if args.what == "strip":
            img = alpha_strip(editor, zs[0], args.attribute, args.alphas, original=originals[0],
                              locked=locked, tiles=first)
        elif args.what == "grid":
            img = alpha_grid(editor, zs, args.attribute, args.alphas, originals=originals,
                             locked=locked, tiles=tiles)
        else:
            img = disguise_sheet(editor, zs[0], original=originals[0], locked=locked, tiles=first)
        write_png(out, img)
    print(f"wrote {out} ({img.width} x {img.height})")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, expected=(ImageError, ValueError, FileNotFoundError)))
