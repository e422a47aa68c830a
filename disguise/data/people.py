"""Dividing a split's faces among groups of different people.

The recipe trains three attribute classifiers (guide, chooser, judge) that must not share a person:
a network that has seen someone can read that person's quirks rather than the attribute. CelebA's
``identity_CelebA.txt`` says who each image shows, and the synthetic set writes the same file;
the people are shuffled and dealt to the groups so that each gets about its share of the faces.
A folder without identities is split by image instead, which ``PeopleSplit.by_image`` records so
that the caller can say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class PeopleSplit:
    """``groups``: positions (into the faces given) of each group's faces, sorted; ``people``: how
    many people each group holds (faces, when ``by_image``)."""

    groups: list[np.ndarray]
    people: list[int]
    by_image: bool

    def describe(self, names: Sequence[str]) -> str:
        if self.by_image:
            return (", ".join(f"{name} {len(g):,} faces" for name, g in zip(names, self.groups))
                    + " (no identities: split by image, so a person may be in two groups)")
        return ", ".join(f"{name} {len(g):,} faces of {n:,} people"
                         for name, g, n in zip(names, self.groups, self.people))


def split_people(identity: np.ndarray | None, count: int, shares: Sequence[float], seed: int = 0) -> PeopleSplit:
    """Deal ``count`` faces into ``len(shares)`` groups of different people, each about its share
    of the faces; ``identity``: each face's person (``None``: split by image)."""
    shares = np.asarray(shares, dtype=float)
    if len(shares) < 1 or not (shares > 0).all():
        raise ValueError(f"shares must be positive, got {list(shares)}")
    rng = np.random.default_rng(seed)
    if identity is None:
        order = rng.permutation(count)
        bounds = np.round(np.cumsum(shares) / shares.sum() * count).astype(int)
        groups = [np.sort(g) for g in np.split(order, bounds[:-1])]
        return PeopleSplit(groups, [len(g) for g in groups], by_image=True)
    identity = np.asarray(identity)
    if len(identity) != count:
        raise ValueError(f"{count} faces but {len(identity)} identities")
    people, owner = np.unique(identity, return_inverse=True)
    if len(people) < len(shares):
        raise ValueError(f"{len(people)} people cannot be divided into {len(shares)} groups of different "
                         f"people; give faces of at least {len(shares)} people")
    faces_of = np.bincount(owner, minlength=len(people))
    targets = shares / shares.sum() * count
    filled = np.zeros(len(shares))
    group_of = np.empty(len(people), dtype=int)
    for person in rng.permutation(len(people)):  # each to the group furthest below its share
        g = int(np.argmin(filled / targets))
        group_of[person] = g
        filled[g] += faces_of[person]
    face_group = group_of[owner]
    groups = [np.flatnonzero(face_group == g) for g in range(len(shares))]
    return PeopleSplit(groups, [int((group_of == g).sum()) for g in range(len(shares))], by_image=False)
