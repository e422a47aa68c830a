"""Attribute directions as effects: the code change when one label flips and the others stay.

The seed's vector (the difference of the mean codes of faces with and without an attribute)
carries every attribute that co-occurs with the one asked for: "Male" also grows a beard. Here each
code is modelled as a linear function of all 40 labels at once (least squares, a little ridge),
``mu ~ b + sum_k beta_k y_k`` with ``y_k = +1 or -1``, and the edit for attribute k is its effect
``e_k = 2 beta_k``: the expected change of the code when ``y_k`` flips with every other label held
(InterFaceGAN's conditional manipulation in regression form). At alpha = 1 the code moves by the
typical difference between two faces that differ in that attribute alone. Attributes that
exclude each other by meaning (bald and blond, a goatee and no beard; ``LINKS``) are linked:
adding A also removes each excluded B, weighted by how often faces without A have it,
``v_A = e_A - sum_B P(B | not A) e_B``. Everything else (age, sex, make-up) stays fixed unless the
user unlocks it. docs/sliders.md ("Effects").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attributes import ATTRIBUTES, INDEX
from ..preprocess import to_tensor
from ..pretrained import evaluating
from ..vae.model import VAE
from .bank import AttributeBank, AttributeRecord
from .links import excluded_by

RIDGE = 1e-3  # relative to the mean diagonal of the label Gram matrix: keeps rare labels stable


@dataclass
class EffectFit:
    """The least-squares fit: ``effects`` ``(40, z)`` (``2 * beta``), and the label statistics the
    links need: ``positives`` per attribute and ``co[a, b]`` = faces with both a and b."""

    effects: torch.Tensor
    positives: np.ndarray
    negatives: np.ndarray
    co: np.ndarray
    faces: int

    def share_with(self, b: str, without: str) -> float:
        """P(b | not ``without``): the share of faces lacking ``without`` that have ``b``."""
        i, j = INDEX[without], INDEX[b]
        lacking = self.negatives[i]
        return float((self.positives[j] - self.co[i, j]) / lacking) if lacking else 0.0

    def directions(self, links: bool = True) -> torch.Tensor:
        """``(40, z)`` edit vectors: each effect, minus the effects it rules out (``links``)."""
        out = self.effects.clone()
        if links:
            for name in ATTRIBUTES:
                for b in excluded_by(name):
                    out[INDEX[name]] -= self.share_with(b, name) * self.effects[INDEX[b]]
        return out


@dataclass
class CodeMoments:
    """The sums one pass over labelled faces gives: ``xtx = X^T X`` and ``xtz = X^T mu`` (``X`` = a
    column of ones and the 40 labels, ``mu`` the codes) and, when asked for, ``ztz = mu^T mu``.
    The effects need the first two; the description's face space (``disguise.compose``) all three."""

    xtx: torch.Tensor  # (41, 41) float64
    xtz: torch.Tensor  # (41, z)
    ztz: torch.Tensor | None  # (z, z) or None

    @property
    def faces(self) -> int:
        return int(self.xtx[0, 0])

    def solve(self, ridge: float = RIDGE) -> torch.Tensor:
        """``(41, z)``: the intercept and the 40 label coefficients of the least squares."""
        n_attr = len(ATTRIBUTES)
        if self.faces <= n_attr + 1:
            raise ValueError(f"{self.faces} labelled faces are too few to separate 40 attributes; give at "
                             f"least {n_attr + 2} (thousands for stable directions)")
        reg = ridge * float(self.xtx.diagonal()[1:].mean()) * torch.eye(n_attr + 1, dtype=torch.float64)
        reg[0, 0] = 0.0  # the intercept is not shrunk
        return torch.linalg.solve(self.xtx + reg, self.xtz)


@torch.no_grad()
def code_moments(model: VAE, batches: Iterable[tuple[np.ndarray, np.ndarray]], device: str | torch.device = "cpu",
                 progress: bool = True, total: int | None = None, second: bool = False,
                 desc: str = "attribute effects") -> CodeMoments:
    """Encode every batch (``mu``, eval mode) and sum the moments in one pass (``second``: ``ztz`` too)."""
    device = torch.device(device)
    n_attr, z_dim = len(ATTRIBUTES), model.config.z_dim
    xtx = torch.zeros(n_attr + 1, n_attr + 1, dtype=torch.float64)
    xtz = torch.zeros(n_attr + 1, z_dim, dtype=torch.float64)
    ztz = torch.zeros(z_dim, z_dim, dtype=torch.float64) if second else None
    bar = tqdm(batches, total=total, desc=desc, unit="batch", disable=not progress, leave=False)
    with evaluating(model):
        for images, labels in bar:
            mu = model.encode(to_tensor(images, device))[0].double().cpu()
            y = torch.as_tensor(np.asarray(labels), dtype=torch.float64)
            x = torch.cat([torch.ones(len(y), 1, dtype=torch.float64), y], dim=1)
            xtx += x.T @ x
            xtz += x.T @ mu
            if ztz is not None:
                ztz += mu.T @ mu
    return CodeMoments(xtx, xtz, ztz)


def fit_effects(model: VAE, batches: Iterable[tuple[np.ndarray, np.ndarray]], ridge: float = RIDGE,
                device: str | torch.device = "cpu", progress: bool = True, total: int | None = None
                ) -> EffectFit:
    """Encode every batch and solve the least squares in one pass, from the running sums
    ``X^T X`` and ``X^T mu`` (``code_moments``)."""
    moments = code_moments(model, batches, device, progress, total)
    return effects_of(moments, ridge)


def effects_of(moments: CodeMoments, ridge: float = RIDGE) -> EffectFit:
    """The effects and label statistics of summed moments."""
    beta = moments.solve(ridge)
    faces, xtx = moments.faces, moments.xtx
    # Label statistics from the same sums: with y in {-1, 1}, sum y = pos - neg, sum y_a y_b
    # = N - 2 (#a xor b) gives the co-occurrences.
    s = xtx[0, 1:].numpy()
    positives = (faces + s) / 2
    yy = xtx[1:, 1:].numpy()
    co = (yy + faces + s[:, None] + s[None, :]) / 4
    return EffectFit(effects=(2 * beta[1:]).float(), positives=positives, negatives=faces - positives,
                     co=co, faces=faces)


def effect_bank(fit: EffectFit, links: bool = True, batches: int = 0) -> AttributeBank:
    """The bank of ``fit.directions(links)``, each row at its own length (its slider's unit)."""
    vectors = fit.directions(links)
    records = [AttributeRecord(name=a, positives=int(fit.positives[i]), negatives=int(fit.negatives[i]),
                               converged=True, raw_norm=float(fit.effects[i].norm()), batches=batches,
                               method="effect", scale=float(vectors[i].norm()))
               for i, a in enumerate(ATTRIBUTES)]
    return AttributeBank(names=ATTRIBUTES, vectors=vectors, records=records)
