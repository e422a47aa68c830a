"""Sliders that start from the face: a row per hair state where one row for everyone misses.

A slider's row is one code direction for every face, but what a hair attribute replaces comes in
several forms: brown hair is reached from black hair by lightening it and from blond by darkening
it, and one shared row is a compromise the judge sees through. So a bank may carry *hair rows*:
for an attribute A and a hair state s it rules out (``STATES``), a row ``v_{A|s}``. A *gate* (a
multinomial logistic regression on the code) reads the face's state, and the face's row is
``v_A(z) = v_A + sum_s pi_s(z) (v_{A|s} - v_A)``, a face in no state keeping the shared row. The
gate reads the face's own code, never the edited one, so an edit stays linear in the sliders,
``z + sum_i alpha_i v_i(z)``: the page receives the face's rows with its code
(``disguise.serving.live``) and locks condition them as before. ``disguise.sliders.hair_choice``
chooses the hair rows. docs/sliders.md ("Rows per hair state").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..attributes import ATTRIBUTES, INDEX
from .links import excluded_by

STATES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Bald")
"""The hair states a face is in at most one of (the gate's classes, with ``OTHER`` for none)."""
OTHER = "other"
L2 = 1e-3  # the gate's weight decay: codes are about unit-scaled, a little keeps rare states sane
GATE_ITERATIONS = 100  # L-BFGS iterations of the gate's fit


def sources(name: str) -> list[str]:
    """The hair states attribute ``name`` replaces, which may each have a hair row of its own
    (empty for an attribute that rules out none: its one row suits everybody)."""
    ruled_out = set(excluded_by(name))
    return [s for s in STATES if s in ruled_out]


def states_of(labels: np.ndarray) -> np.ndarray:
    """Each face's state from its +1/-1 labels ``(N, 40)``: the index in ``STATES`` of the first
    it has, or ``len(STATES)`` (``OTHER``) for none."""
    labels = np.asarray(labels)
    has = labels[:, [INDEX[s] for s in STATES]] == 1
    return np.where(has.any(1), has.argmax(1), len(STATES))


@dataclass
class Gate:
    """Softmax regression from a code to its hair state: ``weight`` ``(len(STATES) + 1, z)`` and
    ``bias``; the last class is ``OTHER``."""

    weight: torch.Tensor
    bias: torch.Tensor

    def probabilities(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, z)`` codes -> ``(B, len(STATES) + 1)`` probabilities."""
        z = torch.as_tensor(z).to(self.weight)
        return torch.softmax(z.reshape(-1, self.weight.shape[1]) @ self.weight.T + self.bias, dim=1)

    def accuracy(self, z: torch.Tensor, states: np.ndarray) -> float:
        """The share of codes ``z`` whose most likely state is ``states``."""
        guess = self.probabilities(z).argmax(1).cpu().numpy()
        return float((guess == np.asarray(states)).mean())

    def to(self, device) -> "Gate":
        return Gate(self.weight.to(device), self.bias.to(device))


def fit_gate(codes: torch.Tensor, states: np.ndarray, l2: float = L2, iterations: int = GATE_ITERATIONS) -> Gate:
    """The gate fitted to ``codes`` ``(N, z)`` and their states (``states_of``) by L-BFGS, with the
    classes weighted equally however rare (a bald head is as much a state as black hair)."""
    codes = torch.as_tensor(codes).detach().double().cpu()
    target = torch.as_tensor(np.asarray(states), dtype=torch.long)
    classes = len(STATES) + 1
    if len(codes) != len(target) or len(codes) < classes:
        raise ValueError(f"the gate needs one state per code and at least {classes} codes, got "
                         f"{len(codes)} codes and {len(target)} states")
    counts = torch.bincount(target, minlength=classes).double()
    weights = torch.where(counts > 0, len(target) / (classes * counts.clamp(min=1)), torch.zeros_like(counts))
    w = torch.zeros(classes, codes.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=iterations, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        value = F.cross_entropy(codes @ w.T + b, target, weight=weights) + l2 * w.pow(2).sum()
        value.backward()
        return value

    opt.step(loss)
    return Gate(w.detach().float(), b.detach().float())


@dataclass
class HairRows:
    """A bank's hair rows and the gate that blends them in (module docstring): ``by_state`` maps
    ``(attribute, state)`` to its row, ``notes`` the same keys to how each was chosen."""

    gate: Gate
    by_state: dict[tuple[str, str], torch.Tensor]
    notes: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for (name, state), v in self.by_state.items():
            if name not in ATTRIBUTES or state not in sources(name):
                raise ValueError(f"a hair row of {name!r} for {state!r}: only the hair sliders have "
                                 f"hair rows, for the states they replace")
            if v.shape != self.gate.weight.shape[1:]:
                raise ValueError(f"the hair row of {name} for {state} has shape {tuple(v.shape)}, the gate "
                                 f"reads codes of {self.gate.weight.shape[1]}")
        # The hair rows as one block, so that a face's rows take a few tensor operations however
        # many there are (the server reads them on every edit of a hair slider).
        keys = list(self.by_state)
        device = self.gate.weight.device
        self._slider = torch.tensor([INDEX[a] for a, _ in keys], dtype=torch.long, device=device)
        self._state = torch.tensor([STATES.index(s) for _, s in keys], dtype=torch.long, device=device)
        z_dim = self.gate.weight.shape[1]
        self._rows = (torch.stack([self.by_state[k] for k in keys]) if keys
                      else torch.zeros(0, z_dim)).to(self.gate.weight)

    def rows(self, vectors: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The shared rows ``vectors`` ``(40, z)`` as they apply to each of the faces ``z``
        ``(B, z)``: ``(B, 40, z)``."""
        z = torch.as_tensor(z).to(vectors).reshape(-1, vectors.shape[1])
        pi = self.gate.probabilities(z).to(vectors)[:, self._state.to(vectors.device)]      # (B, hair rows)
        slider = self._slider.to(vectors.device)
        change = self._rows.to(vectors) - vectors[slider]                                    # (hair rows, z)
        out = vectors.expand(len(z), *vectors.shape).clone()
        return out.index_add_(1, slider, pi[:, :, None] * change[None])

    def updated(self, newer: "HairRows", attributes: Sequence[str]) -> "HairRows":
        """``newer``'s gate and hair rows, with this one's hair rows of the sliders outside
        ``attributes`` (those ``newer`` was not chosen for) kept."""
        kept = [key for key in self.by_state if key[0] not in attributes]
        return HairRows(newer.gate, {**{key: self.by_state[key] for key in kept}, **newer.by_state},
                        {**{key: self.notes.get(key, "") for key in kept}, **newer.notes})

    def to(self, device) -> "HairRows":
        return HairRows(self.gate.to(device), {k: v.to(device) for k, v in self.by_state.items()}, dict(self.notes))

    # Saved beside the bank's vectors (``AttributeBank.save``): tensors and one metadata entry. The
    # file format's names predate the name "hair rows" and stay as they are, so that every bank
    # already saved (the bundled weights/, users' runs) loads: the rows are the tensor "variants",
    # their (attribute, state, note) the metadata entry "variants", the gate "gate_weight" and "gate_bias".
    FILE_KEY = "variants"
    TENSORS = (FILE_KEY, "gate_weight", "gate_bias")

    def tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        keys = list(self.by_state)
        z = self.gate.weight.shape[1]
        stacked = torch.stack([self.by_state[k].float().cpu() for k in keys]) if keys else torch.zeros(0, z)
        meta = {self.FILE_KEY: json.dumps([[a, s, self.notes.get((a, s), "")] for a, s in keys])}
        return {self.FILE_KEY: stacked, "gate_weight": self.gate.weight.float().cpu(),
                "gate_bias": self.gate.bias.float().cpu()}, meta

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict[str, str], z_dim: int) -> "HairRows":
        """Strictly: a gate of ``(len(STATES) + 1, z_dim)``, named rows (one per attribute and state), all finite."""
        weight, bias, rows = tensors["gate_weight"], tensors["gate_bias"], tensors[cls.FILE_KEY]
        classes = len(STATES) + 1
        if weight.shape != (classes, z_dim) or bias.shape != (classes,):
            raise ValueError(f"the gate must be ({classes}, {z_dim}) with {classes} biases, got "
                             f"{tuple(weight.shape)} and {tuple(bias.shape)}")
        try:
            named = [(str(a), str(s), str(note)) for a, s, note in json.loads(meta.get(cls.FILE_KEY, ""))]
        except (TypeError, ValueError) as e:
            raise ValueError(f"unreadable hair row names ({e})") from None
        if rows.ndim != 2 or rows.shape != (len(named), z_dim):
            raise ValueError(f"hair rows have shape {tuple(rows.shape)}, expected ({len(named)}, {z_dim})")
        if not all(torch.isfinite(t).all() for t in (weight, bias, rows)):
            raise ValueError("the hair rows or the gate contain NaN or infinity")
        return cls(Gate(weight.float(), bias.float()),
                   {(a, s): rows[i].float() for i, (a, s, _) in enumerate(named)},
                   {(a, s): note for a, s, note in named})

    def describe(self) -> list[str]:
        """A line per hair row, for logs and the model card."""
        return [f"{a} on {s.replace('_', ' ').lower()}: {self.notes.get((a, s), '')}".rstrip(": ")
                for a, s in self.by_state]
