"""One witness's composite, as the Compose tab keeps it for a session: the description, every
screen shown and what was picked on it, undo, and the composite itself.

Nothing here is shared between sessions: each ``Composite`` has its own breeder, with a seed of
its own (drawn at random unless given), and its screens are decoded once and kept with it (at most ``MAX_GENERATIONS``, so a
session's memory is bounded). A pick names the screen it was made on (``generation``): a page that
shows an older screen than the session holds (a second tab, a double click) is told so rather
than breeding from the wrong faces.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from .breeding import DIMS, SCREEN, Breeder, Screen, check_picks
from .face_space import Description, FaceSpace, check_description, describe

MAX_GENERATIONS = 30  # screens per composite: EvoFIT's witnesses finish in about 8
Decode = Callable[[torch.Tensor], np.ndarray]


@dataclass
class Composite:
    """A composite in progress. ``screens[g]`` is generation g's screen, ``faces[g]`` its pictures."""

    description: dict[str, bool]
    space: Description
    breeder: Breeder
    screens: list[Screen]
    faces: list[np.ndarray]
    decode: Decode = field(repr=False)
    composite_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    exports: list = field(default_factory=list)  # files exported from it, deleted with the session

    @classmethod
    def start(cls, space: FaceSpace, description: Mapping[str, object], decode: Decode, size: int = SCREEN,
              dims: int = DIMS, seed: int | None = None, method: str = "estimate") -> "Composite":
        """The first screen: ``size`` faces of the description's face space."""
        known = check_description(description)
        desc = space.description(known)
        seed = seed if seed is not None else int(uuid.uuid4().int % 2**31)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
            raise ValueError(f"seed must be a whole number 0 .. 2^31 - 1, got {seed!r}")
        breeder = Breeder(size, min(dims, desc.dims), seed=seed, method=method)
        first = breeder.first()
        return cls(known, desc, breeder, [first], [decode(desc.codes(first.u))], decode)

    @property
    def generation(self) -> int:
        """The screen showing now, counted from 1."""
        return len(self.screens)

    @property
    def screen(self) -> np.ndarray:
        return self.faces[-1]

    def check_generation(self, generation: object) -> None:
        """Picks made on screen ``generation`` (None: trust they are for the current one)."""
        if generation is None:
            return
        try:
            g = float(generation)
        except (TypeError, ValueError):
            raise ValueError(f"generation must be a screen number, got {generation!r}") from None
        if not math.isfinite(g) or g != int(g):
            raise ValueError(f"generation must be a screen number, got {generation!r}")
        if int(g) != self.generation:
            raise ValueError(f"those picks are for screen {int(g)}, but screen {self.generation} is showing "
                             f"(another tab, or a click that arrived twice?): pick on the screen shown")

    def pick(self, picks: Sequence[object], best: object = None, generation: object = None, first: int = 0) -> None:
        """The witness's picks on the current screen (numbered from ``first``: the page's from 1);
        the next screen is bred from them."""
        self.check_generation(generation)
        if self.generation >= MAX_GENERATIONS:
            raise ValueError(f"this composite has reached {MAX_GENERATIONS} screens, the limit: refine it "
                             f"with the sliders, undo, or start again")
        chosen, best = check_picks(picks, best, self.screens[-1].size, first)
        current = self.screens[-1]
        current.picks, current.best = chosen, best
        following = self.breeder.next(self.screens)
        self.screens.append(following)
        self.faces.append(self.decode(self.space.codes(following.u)))

    def undo(self) -> bool:
        """Back one screen: the previous one shows again, its picks cleared. False on the first."""
        if len(self.screens) == 1:
            return False
        self.screens.pop()
        self.faces.pop()
        self.screens[-1].picks, self.screens[-1].best = [], None
        return True

    @property
    def picked(self) -> list[Screen]:
        return [s for s in self.screens if s.picks]

    def code(self) -> torch.Tensor | None:
        """The composite's code: the breeder's estimate of the remembered face from every pick so
        far (``Breeder.estimate``). None before the first pick.

        Every screen but the showing one is picked, so the estimate is the one the showing screen
        was bred from (its face 2), kept with it: no solve per refining slider or redraw."""
        if not self.picked:
            return None
        u = self.screens[-1].bred_from
        return self.space.codes((u if u is not None else self.breeder.estimate(self.screens))[None])[0]

    def record(self) -> dict:
        """What the composite's files carry: the description and every screen's picks."""
        return {"description": self.description, "described": describe(self.description),
                "picks": [{"screen": g + 1, "picked": s.picks, "best": s.favourite}
                          for g, s in enumerate(self.screens) if s.picks],
                "seed": self.breeder.seed, "method": self.breeder.method}
