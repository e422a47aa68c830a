"""Make docs/blurry_slider.png: the Blurry slider with one row for everyone, and with each face's own.

    python docs/blurry_slider.py [--weights weights] [--data data/synthetic] [--out docs/blurry_slider.png]

Each row is a sharp test face of the synthetic set (the first three of the test split); the
columns show its reconstruction, the shared row at alpha 4, then the face's own row
(``disguise.sliders.picture_rows``) at alpha 1 to 4, and under each edit the judge's verdict on it.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _figures import captioned_sheet, figure_inputs  # noqa: E402  (beside this script)

from disguise.attributes import INDEX  # noqa: E402
from disguise.classifier.model import predict
from disguise.sliders.editor import Editor

FACES = 3
OWN = (1.0, 2.0, 3.0, 4.0)
COLUMNS = ["reconstruction", "one row, +4"] + [f"its own, +{a:g}" for a in OWN]


def main() -> None:
    args, editor, judge, images, labels = figure_inputs(__doc__, "blurry_slider.png")
    if editor.picture_rows is None:
        sys.exit(f"{args.weights}: its bank makes no slider from the picture (train.vectors --picture-rows)")
    shared = Editor(editor.model, replace(editor.bank, picture_rows=None))
    sharp = np.flatnonzero(labels[:, INDEX["Blurry"]] != 1)[:FACES]
    rows = []
    for z in editor.encode(images[sharp]):
        row = []
        for which, alpha in [(shared, 0.0), (shared, 4.0)] + [(editor, a) for a in OWN]:
            code = which.edit(z, {"Blurry": alpha})
            seen = bool(predict(judge, which.decode_float(code[None]))[0, INDEX["Blurry"]])
            row.append((which.decode(code)[0], f"the judge: {'blurry' if seen else 'sharp'}" if alpha else "test face"))
        rows.append(row)
    sheet = captioned_sheet(COLUMNS, rows, size=150)
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
