"""Make docs/hair_rows.png: the hair sliders at their end with one row for everyone, and with the face's own.

    python docs/hair_rows.py [--weights weights] [--data data/synthetic] [--out docs/hair_rows.png]

Each row is a test face of the synthetic set in one hair state (the first of the test split in
it); the columns show its reconstruction, then brown hair and bald at alpha 4, each drawn with the
bank's shared row and with the face's own row (``disguise.sliders.hair_rows``), and under each edit the
judge's verdict on it.
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
from disguise.sliders.hair_rows import states_of

ROWS = (("black hair", 0), ("blond hair", 1), ("grey hair", 3))  # index in disguise.sliders.hair_rows.STATES
EDITS = ("Brown_Hair", "Bald")
COLUMNS = ["reconstruction"] + [f"{name.replace('_', ' ').lower()} +4: {how}" for name in EDITS
                                for how in ("one row", "its own")]


def main() -> None:
    args, editor, judge, images, labels = figure_inputs(__doc__, "hair_rows.png")
    if editor.hair_rows is None:
        sys.exit(f"{args.weights}: its bank has no rows per hair state (train.vectors --hair-rows)")
    shared = Editor(editor.model, replace(editor.bank, hair_rows=None))
    states = states_of(labels)
    rows = []
    for state_name, state in ROWS:
        z = editor.encode(images[np.flatnonzero(states == state)[:1]])[0]
        row = [(editor.render(z, {}), state_name)]
        for name in EDITS:
            for which in (shared, editor):
                seen = bool(predict(judge, which.decode_float(which.edit(z, {name: 4.0})[None]))[0, INDEX[name]])
                row.append((which.render(z, {name: 4.0}), f"the judge: {'yes' if seen else 'no'}"))
        rows.append(row)
    sheet = captioned_sheet(COLUMNS, rows)
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
