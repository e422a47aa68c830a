"""A simulated witness: picks the faces most like the person it remembers, as a person would, with
mistakes.

The witness remembers a target face (a photo from the test split) and on each screen picks the
``picks`` faces most similar to it, its sense of similarity blurred by noise (``noise`` times the
spread of its similarities to faces of the description, so the noise is in the witness's own
units); each pick is, with probability ``wrong``, a face chosen at random instead. The first pick
is the witness's best.

It must not perceive faces as the judge that ranks the composite does, or a search could simply
optimise the judge: ``identity_perceiver`` is a second identity model (trained on other people,
another seed: ``python -m train.compose witness``), ``pixel_perceiver`` the aligned pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

Perceiver = Callable[[np.ndarray], np.ndarray]  # (n, S, S, 3) uint8 -> (n, e) unit vectors


def identity_perceiver(folder: str | os.PathLike, device: str = "cpu") -> Perceiver:
    """A face as an identity model in ``folder`` embeds it (``identity.json``, ``identity.safetensors``)."""
    from ..identity.model import IdentityNet, embed

    net = IdentityNet.from_pretrained(folder, device)
    return lambda faces: embed(net, np.ascontiguousarray(faces))


def pixel_perceiver(blur: float = 1.5) -> Perceiver:
    """A face as its pixels, a little blurred (detail a memory does not keep), centred and scaled."""
    def perceive(faces: np.ndarray) -> np.ndarray:
        out = []
        for f in faces:
            img = Image.fromarray(np.ascontiguousarray(f)).filter(ImageFilter.GaussianBlur(blur))
            x = np.asarray(img, np.float32).ravel()
            x = x - x.mean()
            out.append(x / (np.linalg.norm(x) + 1e-6))
        return np.stack(out)
    return perceive


@dataclass
class Witness:
    """One witness remembering one face."""

    perceive: Perceiver
    target: np.ndarray  # (S, S, 3) the remembered face
    picks: int = 3
    noise: float = 0.5
    wrong: float = 0.2
    seed: int = 0
    scale: float = 1.0  # the spread of its similarities (``calibrate``)
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.memory = self.perceive(self.target[None])[0]

    def similarity(self, faces: np.ndarray) -> np.ndarray:
        return self.perceive(faces) @ self.memory

    def calibrate(self, faces: np.ndarray) -> "Witness":
        """Set the noise's unit from faces of the description (their similarities' spread)."""
        self.scale = float(self.similarity(faces).std()) or 1.0
        return self

    def choose(self, faces: np.ndarray, picks: int | None = None) -> list[int]:
        """The indices picked, best first."""
        return self.choose_by(self.similarity(faces), picks)

    def choose_by(self, similarity: np.ndarray, picks: int | None = None) -> list[int]:
        """``choose`` for faces whose similarities to the memory are already known."""
        n = len(similarity)
        picks = min(picks or self.picks, n)
        seen = similarity + self.rng.normal(0.0, self.noise * self.scale, n)
        order = [int(i) for i in np.argsort(-seen)]
        chosen: list[int] = []
        for i in order:
            if len(chosen) == picks:
                break
            if self.rng.random() < self.wrong:  # a mistake: any face not yet picked
                left = [j for j in range(n) if j not in chosen]
                i = int(self.rng.choice(left))
            if i not in chosen:
                chosen.append(i)
        return chosen

    def lineup(self, faces: np.ndarray, trials: int = 200) -> float:
        """How often the witness names ``faces[0]`` (the culprit's photo) from a line-up of
        ``faces``: the share of ``trials`` viewings, each with fresh noise and lapses, whose first
        pick is it. Laboratory witnesses name the culprit from about half of culprit-present
        line-ups (the meta-analyses of Steblay and colleagues, 2001 and 2011), so this says how
        human the witness's noise is."""
        similarity = self.similarity(faces)
        return float(np.mean([self.choose_by(similarity, 1)[0] == 0 for _ in range(trials)]))
