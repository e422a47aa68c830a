"""Breeding the next screen of faces from the witness's picks.

A screen is ``size`` faces in the description's whitened coordinates ``u`` (``Description``:
every direction one standard deviation of real faces, components by decreasing variance, the first
``dims`` searched). The witness picks one to four faces most like the culprit, optionally naming
the best. Two ways to breed, chosen by ``method``:

``"estimate"`` (the default) treats every pick so far as evidence about where the remembered face
``t`` lies. A witness picks a face more often the closer it is to ``t``: a choice model,

    P(pick j from a screen) ~ exp(-|u_j - t|^2 / (2 tau)),

under which each pick is preferred to the faces left unpicked (and the best to the other picks),
except for a share ``lapse`` of picks that are slips, any face at all (so one wrong pick cannot
drag the estimate far: the lapse rate of psychophysics' choice models).
With the description's prior ``t ~ N(0, I)`` the most likely ``t`` is a convex problem (the
squared norm of ``t`` cancels between faces of one screen: a multinomial logistic regression),
solved in a few L-BFGS steps. That estimate is the *recombination* of the picks: a weighted
average of what was picked against what was not, over all screens, so an early pick still
counts and one wrong pick is outvoted. The next screen carries over the best face so far and the
estimate, and *mutates* the estimate for the rest: draws from the posterior's spread (the Laplace
approximation, the choice model's curvature), so the step shrinks by itself where the picks
agree and stays wide where they have said nothing yet.

``"genetic"`` is the textbook search EvoFIT started from, kept to measure against: children of
two picks by uniform crossover, plus Gaussian mutation whose step shrinks each generation and
with the picks' spread; the best carried over.
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
LAPSE = 0.0  # the share of picks the choice model expects to be slips (psychophysics' lapse rate);
# 0.1 (with tau 8) put fewer targets in the top 5 on the validation split: 63% against 77% (100 targets)
SHRINK = 0.8  # the genetic search: the mutation step per generation ...
MIN_STEP = 0.15  # ... down to this


@dataclass
class Screen:
    """One generation: its faces' coordinates and what the witness did with them."""

    u: torch.Tensor  # (n, dims)
    picks: list[int] = field(default_factory=list)
    best: int | None = None  # one of ``picks``, or None (then the first pick counts as best)

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
                 tau: float = TAU, spread: float = SPREAD, lapse: float = LAPSE) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if size < 4:
            raise ValueError(f"a screen needs at least 4 faces, got {size}")
        self.size, self.dims, self.seed, self.method = size, dims, seed, method
        if not 0 <= lapse < 1:
            raise ValueError(f"lapse must lie in 0 .. 1, got {lapse}")
        self.tau, self.spread, self.lapse = tau, spread, lapse

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

    def _log_likelihood(self, t: torch.Tensor, history: Sequence[Screen]) -> torch.Tensor:
        total = t.new_zeros(())
        for screen in history:
            if not screen.picks:
                continue
            s = -((screen.u.double() - t) ** 2).sum(1) / (2 * self.tau)
            picked = torch.zeros(screen.size, dtype=torch.bool)
            picked[screen.picks] = True
            rest = torch.logsumexp(s[~picked], 0) if (~picked).any() else s.new_tensor(-math.inf)
            chance = math.log(self.lapse / (1 + int((~picked).sum()))) if self.lapse else -math.inf
            for p in screen.picks:  # each pick preferred to every face left unpicked, or a lapse
                total = total + torch.logaddexp(math.log1p(-self.lapse) + s[p] - torch.logaddexp(s[p], rest),
                                                s.new_tensor(chance))
            if screen.best is not None and len(screen.picks) > 1:  # ... and the best to the other picks
                total = total + s[screen.best] - torch.logsumexp(s[screen.picks], 0)
        return total

    def _objective(self, t: torch.Tensor, history: Sequence[Screen]) -> torch.Tensor:
        return 0.5 * (t ** 2).sum() - self._log_likelihood(t, history)

    def estimate(self, history: Sequence[Screen]) -> torch.Tensor:
        """The most likely remembered face, in ``u`` (the prior's centre before any pick)."""
        t = torch.zeros(self.dims, dtype=torch.float64, requires_grad=True)
        if not any(s.picks for s in history):
            return t.detach().float()
        opt = torch.optim.LBFGS([t], lr=1.0, max_iter=60, tolerance_grad=1e-7, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = self._objective(t, history)
            loss.backward()
            return loss
        opt.step(closure)
        return t.detach().float()

    def posterior(self, history: Sequence[Screen]) -> tuple[torch.Tensor, torch.Tensor]:
        """The estimate and a square root of the posterior covariance there (Laplace), ``(d, d)``."""
        t = self.estimate(history).double()
        hessian = torch.autograd.functional.hessian(lambda x: self._objective(x, history), t)
        values, vectors = torch.linalg.eigh((hessian + hessian.T) / 2)
        # H^(-1/2) along H's eigenvectors; never wider than the prior (the lapses make the
        # objective slightly non-convex, where the curvature alone would say "infinitely wide")
        scale = vectors / values.clamp_min(1.0).sqrt()
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
