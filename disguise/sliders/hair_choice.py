"""Which hair sliders get a row of their own per hair state, chosen on validation faces in it.

For each hair slider A (``disguise.sliders.hair_rows.sources``) and each hair state s it replaces,
the validation faces in state s measure, through ``disguise.sliders.calibration``, up to three
candidates for ``v_{A|s}``: the bank's shared row; A's effect with the link made for this state,
``e_A - e_s`` (the shared row takes off only the *average* hair colour of faces lacking A;
``disguise.sliders.effects``); and, given a guide, an edit learned through the decoder on training
faces in state s (``disguise.sliders.learned``). The best one within reach that leaves the
background be becomes the hair row if its ``min(success, kept)`` beats the shared row's at the
slider's end by at least ``GAIN``; otherwise faces in s keep the shared row. The gate that reads
the states (``disguise.sliders.hair_rows.fit_gate``) learns them from the training faces' codes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
import torch

from .. import backdrop
from ..attributes import INDEX
from ..classifier.model import AttributeClassifier
from .bank import AttributeBank
from .calibration import END, GAIN, REACH, Choice, calibrate, typical_distance
from .editor import Editor
from .effects import EffectFit, effect_bank
from .hair_rows import STATES, HairRows, fit_gate, sources, states_of
from .measure import edit_success

MIN_FACES = 20  # validation faces a state needs for its hair rows to be measured

Learn = Callable[[torch.Tensor, np.ndarray, AttributeBank, list[str]], dict[str, AttributeBank]]
"""``learn(codes, labels, start, attributes)``: banks of edits learned through the decoder on those
faces from ``start``, by candidate name."""


@dataclass
class HairRowChoice:
    """One slider on one hair state: the best candidate there, the shared row's success and kept
    at the slider's end, and whether the candidate became the hair row."""

    attribute: str
    state: str
    faces: int
    choice: Choice
    shared: tuple[float, float]
    adopted: bool

    def describe(self) -> str:
        verdict = "adopted" if self.adopted else "not adopted"
        return (f"{self.attribute} on {self.state}: {self.choice.describe()}; the shared row "
                f"{self.shared[0]:.0%} seen, {self.shared[1]:.0%} kept ({self.faces} faces): {verdict}")


def hair_row_link(fit: EffectFit, name: str, state: str) -> torch.Tensor:
    """``name``'s effect with every link it has, but the hair states' average replaced by ``state``
    alone: what turning a face in ``state`` into one with ``name`` changes (module docstring)."""
    k = INDEX[name]
    row = fit.directions()[k].clone()
    for s in sources(name):
        row += fit.share_with(s, name) * fit.effects[INDEX[s]]
    return row - fit.effects[INDEX[state]]


def choose_hair_rows(editor: Editor, chooser: AttributeClassifier, bank: AttributeBank, fit: EffectFit,
                     images: np.ndarray, labels: np.ndarray, train_codes: torch.Tensor, train_labels: np.ndarray,
                     attributes: Sequence[str] = STATES, learn: Learn | None = None, max_faces: int = 200,
                     reach: float = REACH, gain: float = GAIN, progress: bool = True
                     ) -> tuple[HairRows, list[HairRowChoice], float]:
    """The hair rows for ``attributes`` that beat ``bank``'s shared rows on validation faces
    (``images``, ``labels``) in each hair state, with the gate fitted on ``train_codes`` and
    ``train_labels``; also every state's measurements and the gate's accuracy on the validation
    faces. ``fit``: the effects the links come from; ``learn``: the learned candidates, if any."""
    unknown = [a for a in attributes if not sources(a)]
    if unknown:
        raise ValueError(f"only the hair sliders can have hair rows ({', '.join(STATES)}), not {', '.join(unknown)}")
    labels, train_labels = np.asarray(labels), np.asarray(train_labels)
    gate = fit_gate(train_codes, states_of(train_labels))
    shared = replace(bank, hair_rows=None)
    plain = Editor(editor.model, shared, editor.device)
    valid_states = states_of(labels)
    accuracy = gate.accuracy(plain.encode(images), valid_states)
    distance = typical_distance(plain, images)
    effects = effect_bank(fit)
    train_states = states_of(train_labels)
    hair_rows, notes, measured = {}, {}, []
    for i, state in enumerate(STATES):
        names = [a for a in attributes if state in sources(a)]
        rows = np.flatnonzero(valid_states == i)
        if not names or len(rows) < MIN_FACES:
            continue
        link = effects.vectors.clone()
        for a in names:
            link[INDEX[a]] = hair_row_link(fit, a, state)
        candidates = {"shared": shared, "link": replace(effects, vectors=link)}
        if learn is not None:
            mine = np.flatnonzero(train_states == i)
            candidates.update(learn(train_codes[mine], train_labels[mine], candidates["link"], names))
        chosen, choices = calibrate(plain, chooser, candidates, images[rows], labels[rows], names, max_faces=max_faces,
                                    reach=reach, progress=progress, distance=distance)
        today = {e.attribute: (e.success[0], e.preserved[0])
                 for e in edit_success(plain, chooser, images[rows], labels[rows], names, (END,), max_faces=max_faces,
                                       progress=False, directions=("add",))}
        for c in choices:
            before = today[c.attribute]
            adopted = c.allowed(reach * distance, backdrop.LIMIT) and min(c.success, c.kept) >= min(before) + gain
            measured.append(HairRowChoice(c.attribute, state, len(rows), c, before, adopted))
            if adopted:
                hair_rows[(c.attribute, state)] = chosen.vectors[INDEX[c.attribute]].clone()
                notes[(c.attribute, state)] = chosen.records[INDEX[c.attribute]].note
    return HairRows(gate, hair_rows, notes), measured, accuracy
