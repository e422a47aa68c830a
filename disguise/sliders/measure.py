"""How well the attribute edits work, by the protocol of face-attribute-editing papers.

An attribute classifier trained independently of the VAE, on the training split's real images
(the judge, ``disguise.classifier.model``), judges edited faces (e.g. AttGAN, STGAN). For test faces
without attribute A we add ``alpha * v_A`` and report the share the classifier now calls A, and
the share of the other drawn attributes whose prediction did not change from the plain
reconstruction's; removal is the same for faces with A and ``-alpha``. The judge reads attributes,
not the background, so beside them goes how much the edit repainted the backdrop
(``disguise.backdrop``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import backdrop
from ..attributes import ATTRIBUTES, DRAWN
from ..classifier.model import AttributeClassifier, predict
from .editor import Editor

# Shares are counts over at most some thousands of verdicts, so a step of one verdict is far above
# this; reports written before the shares were float64 hold 180 of 200 as float32's 0.89999998.
SLACK = 1e-6


def share(verdicts: torch.Tensor, dim) -> torch.Tensor:
    """The share of True ``verdicts`` along ``dim``, in float64: 180 of 200 faces is 0.9 exactly
    (float32 makes it 0.89999998, which a bar of "at least 90%" would refuse)."""
    return verdicts.double().mean(dim)


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
    backdrop: list[float] = field(default_factory=list)  # mean change of the backdrop at each alpha


@dataclass(frozen=True)
class QualityBar:
    """The bar the demo weights are held to: for at least ``target`` attributes, adding the
    vector at some alpha <= ``alpha`` makes the classifier see it for ``success`` of the faces
    while ``preserve`` of the other drawn attributes stay as they were; and every attribute's add
    reaches ``floor`` at the end of its slider (``alpha`` 4)."""

    success: float = 0.9
    preserve: float = 0.9
    alpha: float = 4.0
    target: int = 25
    floor: float = 0.5

    def summary(self, edits: Sequence[EditResult]) -> dict:
        """The bar and how ``edits`` (from ``edit_success`` with this bar) fare against it."""
        added = [e for e in edits if e.direction == "add"]
        passing = sum(e.passes for e in added)
        informative = [e for e in added if e.informative]
        weak = [e.attribute for e in informative if self.at_end(e) < self.floor]
        clean = [e for e in added if e.passes and e.backdrop]
        return {"success": self.success, "preserve": self.preserve, "alpha": self.alpha,
                "passing": passing, "attributes": len(added), "target": self.target,
                "met": passing >= self.target, "floor": self.floor,
                "below_floor": weak, "informative": len(informative),
                "backdrop_limit": backdrop.LIMIT, "backdrop_measured": len(clean),
                "passing_backdrop_kept": sum(self.backdrop_at(e, e.best_alpha) <= backdrop.LIMIT for e in clean)}

    def backdrop_at(self, e: EditResult, alpha: float) -> float:
        """``e``'s mean change of the backdrop at ``alpha`` (NaN where it was not measured)."""
        return next((b for a, b in zip(e.alphas, e.backdrop) if a == alpha), float("nan"))

    def within(self, e: EditResult) -> list[tuple[float, float, float]]:
        """``e``'s (alpha, success, kept) at the alphas within the bar's range, in order."""
        return [(a, s, p) for a, s, p in zip(e.alphas, e.success, e.preserved) if abs(a) <= self.alpha]

    @staticmethod
    def meets(share: float, goal: float) -> bool:
        """Whether ``share`` is at least ``goal`` (up to ``SLACK``, for float32 shares)."""
        return share >= goal - SLACK

    def reached(self, success: float, kept: float) -> bool:
        """Whether an edit seen on ``success`` of the faces with ``kept`` of the other attributes
        unchanged is at this bar."""
        return self.meets(success, self.success) and self.meets(kept, self.preserve)

    def judge(self, e: EditResult) -> EditResult:
        """``e`` with ``passes`` and ``best_alpha`` set by this bar (the smallest passing alpha)."""
        e.best_alpha, e.passes = None, False
        for a, s, p in self.within(e):
            if e.informative and self.reached(s, p):
                e.best_alpha, e.passes = a, True
                break
        return e

    def at_end(self, e: EditResult) -> float:
        """Success at the largest tested alpha within the bar's range (the slider's end)."""
        within = self.within(e)
        return within[-1][1] if within else 0.0


@torch.no_grad()
def edit_success(editor: Editor, classifier: AttributeClassifier, images: np.ndarray, labels: np.ndarray,
                 attributes: Sequence[str] = DRAWN, alphas: Sequence[float] = (1, 2, 3, 4),
                 max_faces: int = 200, bar: QualityBar = QualityBar(), progress: bool = True,
                 seed: int = 0, directions: Sequence[str] = ("add", "remove")) -> list[EditResult]:
    """Add and remove each attribute on test faces that lack / have it; see the module docstring.

    ``images`` are the model's uint8 test faces, ``labels`` their +1/-1 attributes; at most
    ``max_faces`` faces (drawn with ``seed``) per attribute and direction; ``directions``: which
    of "add" and "remove" to measure.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    drawn_idx = [ATTRIBUTES.index(a) for a in DRAWN]
    results = []
    pbar = tqdm(total=len(directions) * len(attributes), desc="edit success", leave=False, disable=not progress)
    for name in attributes:
        k = ATTRIBUTES.index(name)
        others = [j for j in drawn_idx if j != k]
        for direction, sign, want in (("add", 1.0, -1), ("remove", -1.0, 1)):
            if direction not in directions:
                continue
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
            pictures = editor.decode_float(codes)
            preds = predict(classifier, pictures).reshape(len(steps), len(rows), -1).cpu()
            pictures = pictures.reshape(len(steps), len(rows), *pictures.shape[1:])
            walls = [float(backdrop.change(pictures[0], p).mean()) for p in pictures[1:]]
            has = preds[:, :, k] if sign > 0 else ~preds[:, :, k]
            succ = share(has, 1).tolist()
            kept = share(preds[:, :, others] == preds[0:1, :, others], (1, 2)).tolist()
            res = EditResult(name, direction, len(rows), [sign * a for a in steps[1:]], succ[1:],
                             kept[1:], succ[0], informative=succ[0] < 0.5, backdrop=walls)
            results.append(bar.judge(res))
    pbar.close()
    return results
