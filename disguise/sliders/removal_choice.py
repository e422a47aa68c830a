"""Which rows take each attribute away: a removal row per slider where it beats the slider's own
(``disguise.sliders.removal_rows`` says what they are and why).

The candidates per slider are its own rows (the face's, as the editor draws them) and its effect row
(``disguise.sliders.effects``), each at a few multiples of its length. On validation faces that
*have* the attribute the chooser reads each at alphas -1 to -4; the one kept passes the bar
removing first, then has the best ``min(success, kept)``; on a tie the slider's own rows, then the
multiple nearest 1. A removal row is kept only where the winner is not the slider's own rows at
their length, and (like the calibration) only within ``limit`` code units at -4 and a backdrop
changed by at most ``wall``.
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
from .measure import EditResult, QualityBar, edit_success
from .removal_rows import RemovalRows
from .scale import ALPHAS, SCALES

OWN, EFFECT = "own", "effect"  # the candidates' kinds


@dataclass
class RemovalChoice:
    """One slider's removal: which rows at which multiple, whether they pass the bar removing,
    their best ``min(success, kept)`` and their success at -4, by the chooser on validation faces."""

    attribute: str
    kind: str
    scale: float
    passes: bool
    score: float
    end: float

    @property
    def own(self) -> bool:
        """Whether the slider keeps its own rows below 0 (no removal row)."""
        return self.kind == OWN and self.scale == 1.0

    def describe(self) -> str:
        rows = "its own row" if self.kind == OWN else "the effect row"
        return (f"{rows} x{self.scale:g} (validation: removal {'passes' if self.passes else 'misses'}, "
                f"{self.end:.0%} removed at -4)")


def choose_removal_rows(editor: Editor, chooser: AttributeClassifier, effect: AttributeBank, images: np.ndarray,
                        labels: np.ndarray, attributes: Sequence[str], limit: float, wall: float = backdrop.LIMIT,
                        scales: Sequence[float] = SCALES, max_faces: int = 200, bar: QualityBar | None = None,
                        progress: bool = True) -> tuple[AttributeBank, list[RemovalChoice]]:
    """``editor``'s bank with a removal row for each of ``attributes`` whose best removal on
    validation faces is not its own rows at their length (module docstring); ``effect``: the
    effect rows, at their natural length. Removal rows the bank had already are replaced for
    ``attributes`` (measured without them) and kept for the others."""
    bar = bar or QualityBar()
    bank = editor.bank
    earlier = bank.removal_rows.rows if bank.removal_rows is not None else {}
    plain = Editor(editor.model, replace(bank, removal_rows=None), editor.device)
    effects = Editor(editor.model, AttributeBank(effect.names, effect.vectors, effect.records), editor.device)
    strengths = sorted({round(s * a, 4) for s in scales for a in ALPHAS})
    readings = {}
    for kind, ed in ((OWN, plain), (EFFECT, effects)):
        for e in edit_success(ed, chooser, images, labels, attributes, strengths, max_faces=max_faces, bar=bar,
                              progress=progress, directions=("remove",)):
            readings[kind, e.attribute] = e
    rows = {n: r for n, r in earlier.items() if n not in attributes}
    notes = {n: bank.removal_rows.notes.get(n, "") for n in rows} if bank.removal_rows is not None else {}
    chosen = []
    for name in attributes:
        best = None
        for kind, ed in ((OWN, plain), (EFFECT, effects)):
            e = readings.get((kind, name))
            if e is None or not e.informative:
                continue
            for s in scales:
                if not _allowed(ed, name, kind, s, e, limit, wall):
                    continue
                here = _reading(name, kind, s, e, bar)
                if best is None or _key(here) > _key(best):
                    best = here
        if best is None:
            continue
        chosen.append(best)
        if not best.own:
            source = plain if best.kind == OWN else effects
            rows[name] = source.vectors[INDEX[name]].detach().cpu() * best.scale
            notes[name] = best.describe()
    removal = RemovalRows(rows, notes) if rows else None
    return replace(bank, removal_rows=removal), chosen


def _allowed(editor: Editor, name: str, kind: str, s: float, e: EditResult, limit: float, wall: float) -> bool:
    """Whether ``name``'s ``kind`` rows ``s`` times as long may serve its left half: its own rows
    at their length always; else a row that is the same for every face, within the limits at -4."""
    if kind == OWN and s == 1.0:
        return True
    if kind == OWN and name in editor.face_rows:  # a hair state's or a picture's rows are no one row
        return False
    if float(editor.vectors[INDEX[name]].norm()) * 4 * s > limit:
        return False
    walls = {round(abs(a), 4): b for a, b in zip(e.alphas, e.backdrop)}
    return walls.get(round(4 * s, 4), 0.0) <= wall


def _reading(name: str, kind: str, s: float, e: EditResult, bar: QualityBar) -> RemovalChoice:
    values = {round(abs(a), 4): (sc, k) for a, sc, k in zip(e.alphas, e.success, e.preserved)}
    grid = [values[round(s * a, 4)] for a in ALPHAS]
    passes = any(bar.reached(sc, k) for sc, k in grid)
    return RemovalChoice(name, kind, s, passes, max(min(sc, k) for sc, k in grid), grid[-1][0])


def _key(r: RemovalChoice) -> tuple:
    return r.passes, round(r.score, 6), r.kind == OWN, -abs(r.scale - 1.0)
