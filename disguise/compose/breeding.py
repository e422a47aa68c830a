"""Breeding the next screen of faces from the witness's picks.

A screen is ``size`` faces in the description's whitened coordinates ``u``
(``disguise.compose.face_space``); the witness picks one to four faces most like the culprit,
optionally naming the best. ``method="estimate"`` (the default) treats every pick so far as
evidence about where the remembered face ``t`` lies, under a choice model in which a face is
picked the more often the closer it is to ``t``; the most likely ``t`` (a convex problem, a few
Newton steps) is the composite, and the next screen carries over the best face and the estimate
and mutates the estimate within the posterior's spread, so steps shrink where the picks agree.
An early pick still counts and one wrong pick is outvoted. ``method="genetic"`` is the textbook
search EvoFIT started from (uniform crossover, shrinking mutation), kept to measure against.
The choice model, written out: docs/compose.md ("The search, in formulas").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch

METHODS = ("estimate", "genetic")
SCREEN = 12  # faces per screen (EvoFIT shows 18 at a time; 12 stay large enough on a laptop)
MAX_PICKS = 4
DIMS = 40  # components searched: the bundled model's codes have about 35 that vary (99.9% of the variance)
TAU = 4.0  # the choice model's temperature, in squared standard deviations
SPREAD = 1.0  # the mutation's width, in posterior standard deviations
SHRINK = 0.8  # the genetic search: the mutation step per generation ...
MIN_STEP = 0.15  # ... down to this


@dataclass
class Screen:
    """One generation: its faces' coordinates and what the witness did with them."""

    u: torch.Tensor  # (n, dims)
    picks: list[int] = field(default_factory=list)
    best: int | None = None  # one of ``picks``, or None (then the first pick counts as best)
    bred_from: torch.Tensor | None = None  # the estimate of the screens before it ("estimate" breeding)

    @property
    def size(self) -> int:
        return self.u.shape[0]

    @property
    def favourite(self) -> int | None:
        return self.best if self.best is not None else (self.picks[0] if self.picks else None)


def check_picks(picks: Sequence[object], best: object, size: int, first: int = 0) -> tuple[list[int], int | None]:
    """A witness's picks, numbered from ``first`` as the screen shows them (the page: 1 .. 12),
    as distinct indices 0 .. ``size - 1`` (1 .. ``MAX_PICKS`` of them), and the best among them
    (None: not said). A ``ValueError`` says what is wrong, in the screen's numbers."""
    last = first + size - 1
    if picks is None or isinstance(picks, (str, bytes)) or not isinstance(picks, Sequence):
        raise ValueError("picks must be a list of face numbers on the screen")

    def number(p: object) -> int:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or p != int(p):
            raise ValueError(f"{p!r} is not a face number (whole numbers {first} .. {last})")
        if not first <= int(p) <= last:
            raise ValueError(f"face {int(p)} is not on the screen (it shows faces {first} .. {last})")
        return int(p) - first

    out = []
    for p in map(number, picks):
        if p not in out:
            out.append(p)
    if not out:
        raise ValueError("pick at least one face that looks like the person")
    if len(out) > MAX_PICKS:
        raise ValueError(f"pick at most {MAX_PICKS} faces (got {len(out)}): the few most like the person")
    if best is None or best == "" or (isinstance(best, float) and math.isnan(best)):
        return out, None
    shown = ", ".join(str(p + first) for p in out)
    try:
        b = number(best)
    except ValueError:
        b = None
    if b not in out:
        raise ValueError(f"the best face must be one of the picks ({shown}), got {best!r}")
    return out, b


class Breeder:
    """Screens for one composite: ``first()``, then ``next(history)`` after each pick.

    Deterministic given ``seed`` and the picks: generation g draws from its own generator, so an
    undone generation picked the same way gives the same screen again."""

    def __init__(self, size: int = SCREEN, dims: int = DIMS, seed: int = 0, method: str = "estimate",
                 tau: float = TAU, spread: float = SPREAD) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if size < 4:
            raise ValueError(f"a screen needs at least 4 faces, got {size}")
        self.size, self.dims, self.seed, self.method = size, dims, seed, method
        if not (tau > 0 and spread > 0):
            raise ValueError(f"tau and spread must be positive, got {tau} and {spread}")
        self.tau, self.spread = tau, spread

    def _generator(self, generation: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 100_003 + generation)

    def first(self) -> Screen:
        """The first screen: faces from the description's prior."""
        return Screen(torch.randn(self.size, self.dims, generator=self._generator(0)))

    def next(self, history: Sequence[Screen]) -> Screen:
        """The screen bred from every pick in ``history`` (its last screen picked)."""
        if not history or not history[-1].picks:
            raise ValueError("the last screen has no picks to breed from")
        gen = self._generator(len(history))
        best = self.best(history)
        if self.method == "genetic":
            children = self._genetic(history, gen)
        else:
            estimate, scale = self.posterior(history)
            noise = torch.randn(self.size - 2, self.dims, generator=gen) @ scale.T * self.spread
            children = torch.cat([estimate[None], estimate + noise])
            return Screen(torch.cat([best[None], children])[:self.size], bred_from=estimate)
        return Screen(torch.cat([best[None], children])[:self.size])

    @staticmethod
    def best(history: Sequence[Screen]) -> torch.Tensor:
        """The witness's favourite on the latest screen with picks."""
        for screen in reversed(history):
            if screen.picks:
                return screen.u[screen.favourite]
        raise ValueError("no screen has been picked yet")

    # ------------------------------------------------------------------------------------------
    # The choice model
    #
    # Within one screen |t|^2 is the same for every face, so a face's score is linear in t:
    # s_j = a_j . t + c_j with a_j = u_j / tau and c_j = -|u_j|^2 / (2 tau). Each choice (a pick
    # against the faces left unpicked; the best against the other picks) adds s_chosen minus the
    # log-sum-exp of its set's scores to the log-likelihood: its gradient is a_chosen minus the
    # set's softmax-weighted mean of a, its curvature the negated weighted covariance of a.
    # Newton's method on the convex objective then takes a handful of steps.

    def choices(self, history: Sequence[Screen]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every choice so far: ``(a (N, d), c (N,), sets (T, N) bool, chosen (T,))`` over the N
        faces of all picked screens."""
        a, c, sets, chosen, offset = [], [], [], [], 0
        picked_screens = [sc for sc in history if sc.picks]
        total = sum(sc.size for sc in picked_screens)
        for sc in picked_screens:
            u = sc.u.double()
            a.append(u / self.tau)
            c.append(-(u ** 2).sum(1) / (2 * self.tau))
            unpicked = torch.ones(total, dtype=torch.bool)
            unpicked[:offset] = False
            unpicked[offset + sc.size:] = False
            unpicked[[offset + p for p in sc.picks]] = False
            for p in sc.picks:  # each pick preferred to every face left unpicked
                row = unpicked.clone()
                row[offset + p] = True
                sets.append(row)
                chosen.append(offset + p)
            if sc.best is not None and len(sc.picks) > 1:  # ... and the best to the other picks
                row = torch.zeros(total, dtype=torch.bool)
                row[[offset + p for p in sc.picks]] = True
                sets.append(row)
                chosen.append(offset + sc.best)
            offset += sc.size
        return torch.cat(a), torch.cat(c), torch.stack(sets), torch.tensor(chosen)

    @staticmethod
    def _terms(t: torch.Tensor, a, c, sets, chosen) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The objective (``|t|^2 / 2`` minus the log-likelihood), its gradient and its Hessian."""
        scores = a @ t + c
        logits = torch.where(sets, scores[None, :], torch.tensor(-math.inf, dtype=scores.dtype))
        lse = torch.logsumexp(logits, 1)
        weights = torch.softmax(logits, 1)  # (T, N), zero outside each set
        objective = 0.5 * t @ t - (scores[chosen] - lse).sum()
        mean_a = weights @ a  # (T, d)
        gradient = t - (a[chosen] - mean_a).sum(0)
        hessian = torch.eye(len(t), dtype=t.dtype) + a.T @ (weights.sum(0)[:, None] * a) - mean_a.T @ mean_a
        return objective, gradient, hessian

    def estimate(self, history: Sequence[Screen]) -> torch.Tensor:
        """The most likely remembered face, in ``u`` (the prior's centre before any pick)."""
        return self.posterior(history)[0]

    def posterior(self, history: Sequence[Screen]) -> tuple[torch.Tensor, torch.Tensor]:
        """The estimate and a square root of the posterior covariance there (Laplace), ``(d, d)``."""
        t = torch.zeros(self.dims, dtype=torch.float64)
        if not any(sc.picks for sc in history):
            return t.float(), torch.eye(self.dims)
        terms = self.choices(history)
        objective, gradient, hessian = self._terms(t, *terms)
        for _ in range(50):  # Newton's method, each step halved until the objective falls
            step = torch.linalg.solve(hessian, gradient)
            for _ in range(30):
                candidate = self._terms(t - step, *terms)
                if candidate[0] <= objective:
                    break
                step = step / 2
            t = t - step
            objective, gradient, hessian = candidate
            if gradient.norm() < 1e-8 * (1 + t.norm()):
                break
        values, vectors = torch.linalg.eigh((hessian + hessian.T) / 2)
        scale = vectors / values.clamp_min(1.0).sqrt()  # H^(-1/2) along H's eigenvectors (H >= I)
        return t.float(), scale.float()

    # ------------------------------------------------------------------------------------------
    # The textbook genetic search

    def step(self, history: Sequence[Screen]) -> float:
        """The genetic search's mutation step: shrinking per generation, and to the picks' spread."""
        last = history[-1]
        picks = last.u[last.picks]
        agree = float(picks.std(0).mean()) if len(picks) > 1 else 1.0
        return max(MIN_STEP, min(SHRINK ** len(history), agree))

    def _genetic(self, history: Sequence[Screen], gen: torch.Generator) -> torch.Tensor:
        last = history[-1]
        parents = last.u[last.picks]
        n = self.size - 1
        weights = torch.ones(len(parents))
        if last.best is not None:
            weights[last.picks.index(last.best)] = 2.0  # the best breeds twice as often
        mums = parents[torch.multinomial(weights, n, replacement=True, generator=gen)]
        dads = parents[torch.multinomial(weights, n, replacement=True, generator=gen)]
        mask = torch.rand(n, self.dims, generator=gen) < 0.5
        children = torch.where(mask, mums, dads)
        return children + self.step(history) * torch.randn(n, self.dims, generator=gen)
