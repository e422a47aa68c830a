"""Make docs/hair_variants.png: the hair sliders at their end with one row for everyone, and with the face's own.

    python docs/hair_variants.py [--weights weights] [--data data/synthetic] [--out docs/hair_variants.png]

Each row is a test face of the synthetic set in one hair state (the first of the test split in
it); the columns show its reconstruction, then brown hair and bald at alpha 4, each drawn with the
bank's shared row and with the face's own row (``disguise.vae.personal``), and under each edit the
judge's verdict on it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from disguise.attributes import INDEX  # noqa: E402
from disguise.data.cache import load_split  # noqa: E402
from disguise.data.celeba import open_celeba  # noqa: E402
from disguise.identity.judge import judge_policy, load_classifier, predict  # noqa: E402
from disguise.photo.exports import font  # noqa: E402
from disguise.vae.editing import Editor  # noqa: E402
from disguise.vae.personal import states_of  # noqa: E402

ROWS = (("black hair", 0), ("blond hair", 1), ("grey hair", 3))  # index in disguise.vae.personal.STATES
EDITS = ("Brown_Hair", "Bald")
COLUMNS = ["reconstruction"] + [f"{name.replace('_', ' ').lower()} +4: {how}" for name in EDITS
                                for how in ("one row", "its own")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(ROOT / "weights"))
    p.add_argument("--data", default=str(ROOT / "data" / "synthetic"))
    p.add_argument("--out", default=str(ROOT / "docs" / "hair_variants.png"))
    args = p.parse_args()
    editor = Editor.from_pretrained(args.weights)
    if editor.personal is None:
        sys.exit(f"{args.weights}: its bank has no rows per hair state (train.vectors --personal)")
    shared = Editor(editor.model, replace(editor.bank, personal=None))
    judge = load_classifier(args.weights, "cpu", judge_policy(editor.policy))
    images, labels, _ = load_split(open_celeba(args.data), "test", editor.policy, progress=False)
    states = states_of(labels)
    size, gap, head, label = 160, 8, 30, 20
    sheet = Image.new("RGB", (gap + len(COLUMNS) * (size + gap), head + len(ROWS) * (size + label + gap)), "white")
    d = ImageDraw.Draw(sheet)
    for c, name in enumerate(COLUMNS):
        d.text((gap + c * (size + gap) + 2, 8), name, fill=(20, 20, 20), font=font(13))
    for r, (state_name, state) in enumerate(ROWS):
        z = editor.encode(images[np.flatnonzero(states == state)[:1]])[0]
        faces, verdicts = [editor.render(z, {})], [""]
        for name in EDITS:
            for which in (shared, editor):
                face = which.render(z, {name: 4.0})
                seen = bool(predict(judge, which.decode_float(which.edit(z, {name: 4.0})[None]))[0, INDEX[name]])
                faces.append(face)
                verdicts.append(f"the judge: {'yes' if seen else 'no'}")
        y = head + r * (size + label + gap)
        for c, (face, verdict) in enumerate(zip(faces, verdicts)):
            sheet.paste(Image.fromarray(face).resize((size, size), Image.Resampling.LANCZOS),
                        (gap + c * (size + gap), y))
            d.text((gap + c * (size + gap) + 2, y + size + 3), verdict or state_name, fill=(90, 90, 90), font=font(13))
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
