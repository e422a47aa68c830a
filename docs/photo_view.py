"""Make docs/photo_view.png: what the photo view draws, against the model's decode and a naive sum.

    python docs/photo_view.py [--weights weights] [--image examples/astronaut.jpg] [--out docs/photo_view.png]

Each row is one edit of the same photo; the columns show the face region (the model's crop, at
256 px) of: the photo; the model's decode of the edit (upscaled); the change added as it is
(bilinear, a hard-edged crop, clipped); and the photo view (bicubic, a soft mask, negligible
changes left alone, colours moved by their own headroom).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from disguise.photo.alignment import prepare_face  # noqa: E402
from disguise.photo.exports import font  # noqa: E402
from disguise.photo.view import face_region, photo_edit  # noqa: E402
from disguise.sliders.editor import Editor

EDITS = (("Eyeglasses +3", {"Eyeglasses": 3.0}), ("Wearing hat +3", {"Wearing_Hat": 3.0}),
         ("Beard (No beard -3), Male locked", {"No_Beard": -3.0}), ("Blond hair +3", {"Blond_Hair": 3.0}))
COLUMNS = ("photo", "model's decode", "naive sum", "photo view")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(ROOT / "weights"))
    p.add_argument("--image", default=str(ROOT / "examples" / "astronaut.jpg"))
    p.add_argument("--out", default=str(ROOT / "docs" / "photo_view.png"))
    args = p.parse_args()
    editor = Editor.from_pretrained(args.weights)
    prep = prepare_face(args.image, editor.policy)
    z = editor.encode(prep.crop)[0]
    recon = editor.render(z, {})
    size, gap, head, label = 256, 8, 30, 22
    sheet = Image.new("RGB", (gap + 4 * (size + gap), head + len(EDITS) * (size + label + gap)), "white")
    d = ImageDraw.Draw(sheet)
    for c, name in enumerate(COLUMNS):
        d.text((gap + c * (size + gap) + 4, 8), name, fill=(20, 20, 20), font=font(16))
    region = lambda img: face_region(prep.photo, editor.policy, img, size)  # noqa: E731
    for r, (name, alphas) in enumerate(EDITS):
        locked = ["Male"] if "locked" in name else []
        edited = editor.render(z, alphas, locked)
        tiles = [region(prep.photo.photo),
                 np.asarray(Image.fromarray(edited).resize((size, size), Image.Resampling.LANCZOS)),
                 region(photo_edit(prep.photo, editor.policy, recon, edited, method="naive")),
                 region(photo_edit(prep.photo, editor.policy, recon, edited))]
        y = head + r * (size + label + gap)
        for c, t in enumerate(tiles):
            sheet.paste(Image.fromarray(t), (gap + c * (size + gap), y))
        d.text((gap + 4, y + size + 3), name, fill=(90, 90, 90), font=font(14))
    sheet.save(args.out)
    print(f"wrote {args.out} ({sheet.width} x {sheet.height})")


if __name__ == "__main__":
    main()
