"""Each slider's scale, chosen on validation faces so that its range does what the bar asks both ways.

Calibration sets where a slider's best *add* sits; one row serves both halves of the slider, and
taking an attribute away usually needs a shorter move than adding it: a moustache row whose alpha
4 draws one well may already have removed it, and flipped the sex with it, by alpha 2. The bar
reads a slider at alphas 1 to 4 each way, so the row's length decides which strengths are tried.
Here each slider's row is measured at a few multiples of its length (``SCALES``), at alphas 1 to 4
adding (faces without the attribute) and removing (faces with it), by the chooser on validation
faces, and the multiple kept is the one that passes most: the add's bar first, then its reaching
``floor`` at the end, then the removal's bar, then the larger sum of the best ``min(success,
kept)`` each way; on a tie the multiple nearest 1. A slider's hair rows and its picture rows
scale with it. The multiple is bounded by the calibration's limits at alpha 4.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .. import backdrop
from ..attributes import INDEX
from ..classifier.model import AttributeClassifier
from .bank import AttributeBank
from .editor import Editor
from .hair_rows import HairRows
from .measure import EditResult, QualityBar, edit_success

SCALES = (0.67, 0.8, 1.0, 1.25, 1.5)  # multiples of a slider's row tried
ALPHAS = (1.0, 2.0, 3.0, 4.0)  # the bar's alphas, each way


@dataclass
class Scaled:
    """One slider's chosen multiple and how it reads on validation faces, add and removal:
    whether each passes, the add's success at the end, and ``score``: the best ``min(success, kept)``
    adding plus the best removing."""

    attribute: str
    scale: float
    adds: bool
    removes: bool
    end: float
    score: float

    def describe(self) -> str:
        return (f"x{self.scale:g} (validation: add {'passes' if self.adds else 'misses'}, {self.end:.0%} at the end; "
                f"removal {'passes' if self.removes else 'misses'})")


def scaled(bank: AttributeBank, name: str, factor: float) -> AttributeBank:
    """``bank`` with ``name``'s row, its hair rows and its picture row ``factor`` times as long."""
    k = INDEX[name]
    vectors = bank.vectors.clone()
    vectors[k] = vectors[k] * factor
    records = list(bank.records)
    records[k] = replace(records[k], scale=float(vectors[k].norm()))
    hair_rows = bank.hair_rows
    if hair_rows is not None and any(a == name for a, _ in hair_rows.by_state):
        hair_rows = HairRows(hair_rows.gate, {key: v * factor if key[0] == name else v
                                              for key, v in hair_rows.by_state.items()}, dict(hair_rows.notes))
    picture_rows = bank.picture_rows
    if picture_rows is not None and name in picture_rows.blur:
        picture_rows = replace(picture_rows, end=picture_rows.end / factor)
    return replace(bank, vectors=vectors, records=records, hair_rows=hair_rows, picture_rows=picture_rows)


def choose_scales(editor: Editor, chooser: AttributeClassifier, images: np.ndarray, labels: np.ndarray,
                  attributes: Sequence[str], limit: float, wall: float = backdrop.LIMIT,
                  scales: Sequence[float] = SCALES, max_faces: int = 200, bar: QualityBar | None = None,
                  progress: bool = True) -> tuple[AttributeBank, list[Scaled]]:
    """``editor``'s bank with each of ``attributes`` at its chosen multiple (module docstring); a
    multiple above 1 is tried only where alpha 4 stays within ``limit`` code units and changes the
    backdrop by at most ``wall`` on the validation faces."""
    bar = bar or QualityBar()
    strengths = sorted({round(s * a, 4) for s in scales for a in ALPHAS})
    bank, chosen = editor.bank, []
    results = edit_success(editor, chooser, images, labels, attributes, strengths, max_faces=max_faces, bar=bar,
                           progress=progress)
    by = {(e.attribute, e.direction): e for e in results}
    for name in attributes:
        best = None
        add = by.get((name, "add"))
        for s in scales:
            if s > 1.0 and not _within(bank, name, s, add, limit, wall):
                continue
            here = _reading(name, s, add, by.get((name, "remove")), bar)
            if best is None or _key(here, bar) > _key(best, bar):
                best = here
        if best is None:
            continue
        chosen.append(best)
        if best.scale != 1.0:
            bank = scaled(bank, name, best.scale)
            k = INDEX[name]
            bank.records[k] = replace(bank.records[k], note=f"{bank.records[k].note}; range {best.describe()}")
    return bank, chosen


def _reading(name: str, s: float, add: EditResult | None, remove: EditResult | None, bar: QualityBar) -> Scaled:
    def at(e: EditResult | None) -> list[tuple[float, float]]:
        if e is None:
            return []
        values = {round(abs(a), 4): (sc, k) for a, sc, k in zip(e.alphas, e.success, e.preserved)}
        return [values[round(s * a, 4)] for a in ALPHAS]

    adds, removes = at(add), at(remove)
    passes = lambda grid, e: e is not None and e.informative and any(bar.reached(sc, k) for sc, k in grid)  # noqa: E731
    score = sum(max((min(sc, k) for sc, k in grid), default=0.0) for grid in (adds, removes))
    return Scaled(name, s, passes(adds, add), passes(removes, remove), adds[-1][0] if adds else 0.0, score)


def _within(bank: AttributeBank, name: str, s: float, add: EditResult | None, limit: float, wall: float) -> bool:
    """Whether ``name``'s row ``s`` times as long keeps alpha 4 within the limits."""
    if float(bank.vectors[INDEX[name]].norm()) * 4 * s > limit:
        return False
    if add is None or not add.backdrop:
        return True
    walls = {round(abs(a), 4): b for a, b in zip(add.alphas, add.backdrop)}
    return walls.get(round(4 * s, 4), 0.0) <= wall


def _key(r: Scaled, bar: QualityBar) -> tuple:
    return r.adds, r.end >= bar.floor, r.removes, round(r.score, 6), -abs(r.scale - 1.0)
