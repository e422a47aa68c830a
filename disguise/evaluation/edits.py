"""How well the attribute edits work, by the protocol of face-attribute-editing papers.

An attribute classifier trained independently of the VAE, on the training split's real images
(the judge, ``disguise.identity.judge``), judges edited faces (e.g. AttGAN, STGAN). For test faces
without attribute A we add ``alpha * v_A`` and report the share the classifier now calls A, and
the share of the other drawn attributes whose prediction did not change from the plain
reconstruction's; removal is the same for faces with A and ``-alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attributes import ATTRIBUTES, DRAWN
from ..identity.judge import AttributeClassifier, predict
from ..vae.editing import Editor


@dataclass
class EditResult:
    attribute: str
    direction: str  # "add" or "remove"
    faces: int
    alphas: list[float]
    success: list[float]  # share of faces the classifier sees with (add) / without (remove) A
    preserved: list[float]  # share of the other drawn attributes left as in the reconstruction
    baseline: float  # the same share at alpha 0 (reconstruction alone)
    best_alpha: float | None = None  # smallest alpha within the bar's alpha meeting it, if any
    passes: bool = False
    informative: bool = True  # False when the classifier already sees the result at alpha 0


@dataclass(frozen=True)
class QualityBar:
    """The bar the demo weights are held to: for at least ``target`` attributes, adding the
    vector at some alpha <= ``alpha`` makes the classifier see it for ``success`` of the faces
    while ``preserve`` of the other drawn attributes stay as they were."""

    success: float = 0.8
    preserve: float = 0.85
    alpha: float = 3.0
    target: int = 15

    def summary(self, edits: Sequence[EditResult]) -> dict:
        """The bar and how ``edits`` (from ``edit_success`` with this bar) fare against it."""
        added = [e for e in edits if e.direction == "add"]
        passing = sum(e.passes for e in added)
        return {"success": self.success, "preserve": self.preserve, "alpha": self.alpha,
                "passing": passing, "attributes": len(added), "target": self.target,
                "met": passing >= self.target}


@torch.no_grad()
def edit_success(editor: Editor, clf: AttributeClassifier, images: np.ndarray, labels: np.ndarray,
                 attributes: Sequence[str] = DRAWN, alphas: Sequence[float] = (1, 2, 3, 4),
                 max_faces: int = 200, bar: QualityBar = QualityBar(), progress: bool = True,
                 seed: int = 0) -> list[EditResult]:
    """Add and remove each attribute on test faces that lack / have it; see the module docstring.

    ``images`` are the model's uint8 test faces, ``labels`` their +1/-1 attributes; at most
    ``max_faces`` faces (drawn with ``seed``) per attribute and direction.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    drawn_idx = [ATTRIBUTES.index(a) for a in DRAWN]
    results = []
    pbar = tqdm(total=2 * len(attributes), desc="edit success", leave=False, disable=not progress)
    for name in attributes:
        k = ATTRIBUTES.index(name)
        others = [j for j in drawn_idx if j != k]
        for direction, sign, want in (("add", 1.0, -1), ("remove", -1.0, 1)):
            rows = np.flatnonzero(labels[:, k] == want)
            if len(rows) > max_faces:
                rows = np.sort(rng.choice(rows, max_faces, replace=False))
            pbar.update(1)
            if len(rows) == 0:
                continue
            z = editor.encode(images[rows])                                     # (F, z)
            steps = [0.0] + [float(a) for a in alphas]
            codes = editor.grid_codes(z, name, [sign * a for a in steps])     # (F, A, z)
            # Alphas-major, so that the reshape below gives each alpha's faces in one row.
            codes = codes.transpose(0, 1).reshape(-1, codes.shape[-1])         # (A*F, z)
            preds = predict(clf, editor.decode_float(codes)).reshape(len(steps), len(rows), -1).cpu()
            has = preds[:, :, k] if sign > 0 else ~preds[:, :, k]
            succ = has.float().mean(1).tolist()
            kept = (preds[:, :, others] == preds[0:1, :, others]).float().mean((1, 2)).tolist()
            res = EditResult(name, direction, len(rows), [sign * a for a in steps[1:]], succ[1:],
                             kept[1:], succ[0], informative=succ[0] < 0.5)
            for a, s, p in zip(steps[1:], succ[1:], kept[1:]):
                if res.informative and a <= bar.alpha and s >= bar.success and p >= bar.preserve:
                    res.best_alpha, res.passes = sign * a, True
                    break
            results.append(res)
    pbar.close()
    return results
