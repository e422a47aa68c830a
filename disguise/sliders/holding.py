"""Each slider holds the other attributes: its end edit compensated by the other sliders.

After calibration (``disguise.sliders.calibration``) many sliders still flip a few other
attributes at their end (a moustache also makes the face look male). A user would nudge those
sliders back by hand; here each slider learns the nudges once, on *validation* faces that lack
its attribute: its end edit ``u_A`` becomes ``u_A + sum_B c_B u_B`` (``u_B``: slider B's end
edit), found greedily in at most ``rounds`` rounds. A trial changes the edit's strength or moves
one of the ``CANDIDATES`` most-flipped attributes' sliders by ``HOLD_MULTIPLES`` *against* its flip, never
adding more of what the edit drags along and never touching what A excludes by definition
(``disguise.sliders.links.LINKS``); it is kept when it raises ``min(success, kept)`` by more than
``HOLD_MIN_GAIN``, within the calibration's limits (``allowed``). This is InterFaceGAN's conditional
manipulation with the condition measured rather than assumed, in the units of the sliders the
user already has. docs/sliders.md ("Holding").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attributes import ATTRIBUTES, DRAWN, INDEX
from ..classifier.model import AttributeClassifier, predict
from .bank import AttributeBank
from .calibration import END
from .editor import Editor
from .links import excluded_by

HOLD_MULTIPLES = (0.25, 0.5)  # multiples of another slider's end edit, signed against its flip
STRENGTHS = (0.85, 1.2)  # multiples of the edit itself
CANDIDATES = 4  # the most flipped attributes tried per round
HOLD_MIN_GAIN = 0.01  # a trial must raise min(success, kept) by more than this
GOOD = 0.93  # a slider keeping both at this or more is left alone

Seen = Callable[[torch.Tensor], torch.Tensor]  # codes (F, z) -> the attributes the judge sees, bool (F, 40)
Allowed = Callable[[torch.Tensor, torch.Tensor], bool]  # (codes (F, z), end edit (z,)) -> admissible?


def seen_by(editor: Editor, classifier: AttributeClassifier) -> Seen:
    """What ``classifier`` sees on the faces ``editor``'s model decodes from codes."""
    return lambda z: predict(classifier, editor.decode_float(z)).cpu()


@dataclass
class Compensation:
    """What one slider learned: ``steps`` (attribute, multiple of its end edit; ``"x"`` for the
    edit's own strength), and validation (success, kept) at the slider's end before and after."""

    attribute: str
    before: tuple[float, float]
    after: tuple[float, float]
    steps: list[tuple[str, float]] = field(default_factory=list)

    def describe(self) -> str:
        moves = ", ".join(f"x{c:g}" if a == "x" else f"{a} {c:+g}" for a, c in self.steps) or "none"
        return (f"held by the other sliders: {moves} (validation {self.before[0]:.0%} seen, "
                f"{self.before[1]:.0%} kept -> {self.after[0]:.0%}, {self.after[1]:.0%})")


class _Trial:
    """The judge's verdict on one end edit ``u`` for codes ``z`` of faces lacking attribute ``k``."""

    def __init__(self, seen: Seen, z: torch.Tensor, plain: torch.Tensor, k: int, others: list[int],
                 u: torch.Tensor) -> None:
        verdict = seen(z + u)
        self.u = u
        self.success = float(verdict[:, k].float().mean())
        self.kept = float((verdict[:, others] == plain[:, others]).float().mean())
        on = (verdict & ~plain).float().mean(0)
        off = (plain & ~verdict).float().mean(0)
        self.flips = on + off
        self.hold = torch.where(on >= off, -1.0, 1.0)  # the sign of a move that takes each flip back

    @property
    def score(self) -> tuple[float, float]:
        return min(self.success, self.kept), self.success


@torch.no_grad()
def compensate(bank: AttributeBank, seen: Seen, codes: Callable[[np.ndarray], torch.Tensor],
               labels: np.ndarray, attributes: Sequence[str] = DRAWN, rounds: int = 3, faces: int = 150,
               seed: int = 0, progress: bool = True, allowed: Allowed | None = None
               ) -> tuple[AttributeBank, list[Compensation]]:
    """``bank`` (calibrated) with each of ``attributes`` held by the other sliders (see the module
    docstring): ``seen`` judges codes, ``codes(rows)`` encodes the validation faces at ``rows``,
    whose +1/-1 attributes are ``labels``; ``allowed(z, u)``, if given, says which end edits a
    slider may take (one that was not allowed to begin with is not held). Returns the new bank and a ``Compensation`` per
    attribute judged; rows not judged are left as they are."""
    ends = bank.vectors * END
    drawn = [INDEX[a] for a in DRAWN]
    labels = np.asarray(labels)
    vectors, records, learned = bank.vectors.clone(), list(bank.records), []
    for name in tqdm(attributes, desc="holding the others", leave=False, disable=not progress):
        k = INDEX[name]
        rows = np.flatnonzero(labels[:, k] == -1)
        if len(rows) == 0:
            continue
        rng = np.random.default_rng([seed, k])
        rows = np.sort(rng.choice(rows, min(faces, len(rows)), replace=False))
        z = codes(rows)
        ends = ends.to(z.device)
        plain = seen(z)
        others = [j for j in drawn if j != k]
        excluded = set(excluded_by(name))
        free = [j for j in others if ATTRIBUTES[j] not in excluded]

        def trial(u: torch.Tensor) -> _Trial:
            return _Trial(seen, z, plain, k, others, u)

        def admissible(u: torch.Tensor) -> bool:
            return allowed is None or allowed(z, u)

        best = start = trial(ends[k])
        steps: list[tuple[str, float]] = []
        for _ in range(rounds if min(start.success, start.kept) < GOOD and admissible(start.u) else 0):
            ranked = sorted(free, key=lambda j: -float(best.flips[j]))[:CANDIDATES]
            flipped = [j for j in ranked if best.flips[j] > 0]  # nothing to take back elsewhere
            moves = [("x", f) for f in STRENGTHS] + [(ATTRIBUTES[j], float(best.hold[j]) * c)
                                                     for j in flipped for c in HOLD_MULTIPLES]
            edits = [(best.u * c if a == "x" else best.u + c * ends[INDEX[a]], (a, c)) for a, c in moves]
            # The best admissible trial: judged first, the limits (a decode each) checked in order of
            # score until one passes, so a round pays for one check where the best is allowed.
            ranked = sorted(((trial(u), move) for u, move in edits), key=lambda t: t[0].score, reverse=True)
            top, move = next(((t, m) for t, m in ranked if admissible(t.u)), (None, None))
            if top is None or top.score[0] <= best.score[0] + HOLD_MIN_GAIN:
                break
            best = top
            steps.append(move)
        c = Compensation(name, (start.success, start.kept), (best.success, best.kept), steps)
        learned.append(c)
        if steps:
            vectors[k] = (best.u / END).to(vectors)
            records[k] = replace(records[k], scale=float(vectors[k].norm()),
                                 note=f"{records[k].note}; {c.describe()}")
    return replace(bank, vectors=vectors, records=records), learned
