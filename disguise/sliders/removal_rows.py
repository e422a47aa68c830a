"""Rows for taking an attribute away: a slider's left half may move along a row of its own.

Calibration chooses each slider's row for its *add*. Taking an attribute away is not always the add
run backwards: from scratch on seed 23 the recipe's sliders removed Bald, Mustache,
Receding_Hairline and Wearing_Necklace worse than the plain effect rows did, and the effect rows
missed Gray_Hair's and High_Cheekbones' removals that the sliders passed (docs/sliders.md). So a
slider may carry a second row for its left half:

    z + sum_i alpha_i * (v_i if alpha_i >= 0 else r_i)

Each half stays linear; with no removal rows it is the plain ``z + sum_i alpha_i * v_i``. A
removal row serves every face (below 0 it replaces a hair state's row or a picture row).
``Editor`` and the page move along them; ``disguise.sliders.removal_choice`` chooses them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch

from ..attributes import ATTRIBUTES, INDEX


@dataclass
class RemovalRows:
    """A bank's removal rows: ``rows[name]`` ``(z,)`` is ``name``'s row below 0; ``notes`` say how
    each was chosen."""

    rows: dict[str, torch.Tensor]
    notes: dict[str, str] = field(default_factory=dict)

    TENSOR = "removal_rows"  # in the bank's file: the rows in CelebA's order, ...
    META = "removal_rows"  # ... and their names and notes in its metadata

    def __post_init__(self) -> None:
        unknown = [n for n in self.rows if n not in INDEX]
        if unknown:
            raise ValueError(f"removal rows for unknown sliders: {', '.join(map(repr, unknown))}")
        self.rows = {n: self.rows[n] for n in ATTRIBUTES if n in self.rows}  # CelebA's order
        for name, row in self.rows.items():
            if row.ndim != 1 or not torch.isfinite(row).all():
                raise ValueError(f"{name}'s removal row must be one finite code vector, got shape {tuple(row.shape)}")

    @property
    def names(self) -> set[str]:
        return set(self.rows)

    def applied(self, rows: torch.Tensor) -> torch.Tensor:
        """The forty rows ``(40, z)`` a face's sliders move along below 0: ``rows`` (the face's
        rows above 0) with the removal rows in their places."""
        if not self.rows:
            return rows
        out = rows.clone()
        for name, row in self.rows.items():
            out[INDEX[name]] = row.to(out)
        return out

    def to(self, device: torch.device | str) -> "RemovalRows":
        return RemovalRows({n: r.to(device) for n, r in self.rows.items()}, dict(self.notes))

    def describe(self) -> list[str]:
        """A line per removal row, for logs, the evaluation and the model card."""
        return [f"{name} below 0: {self.notes.get(name, 'its own row')}" for name in self.rows]

    def tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """What ``AttributeBank.save`` writes: the rows stacked, and their names and notes."""
        stacked = torch.stack([r.float().cpu() for r in self.rows.values()]) if self.rows else torch.zeros(0)
        return {self.TENSOR: stacked}, {self.META: json.dumps({"names": list(self.rows), "notes": self.notes})}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict[str, str], z_dim: int) -> "RemovalRows":
        """Strictly: a name per row, known sliders, rows of the model's size, notes as text."""
        try:
            d = json.loads(meta[cls.META])
            if not isinstance(d, dict) or set(d) != {"names", "notes"}:
                raise ValueError("expects names and notes")
            names = [str(n) for n in d["names"]]
            notes = {str(k): str(v) for k, v in dict(d["notes"]).items()}
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"unreadable removal rows ({e})") from None
        stacked = tensors[cls.TENSOR]
        if not names:
            return cls({}, notes)
        if stacked.shape != (len(names), z_dim):
            raise ValueError(f"removal rows of shape {tuple(stacked.shape)} for {len(names)} names; expected "
                             f"({len(names)}, {z_dim})")
        if len(set(names)) != len(names):
            raise ValueError("a slider has two removal rows")
        return cls({n: stacked[i].float() for i, n in enumerate(names)}, notes)
