"""Attributes that exclude each other by definition: one hair colour at most, no hair on a bald
head, straight or wavy, bangs or a receding hairline, and a goatee or a moustache is a beard.

Adding one of a linked pair removes the other: the effects (``disguise.sliders.effects``) take it
off, the rows per hair state (``disguise.sliders.hair_rows``) replace it, holding
(``disguise.sliders.holding``) never puts it back.
"""

from __future__ import annotations

HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
HAIR = HAIR_COLOURS + ("Straight_Hair", "Wavy_Hair", "Bangs", "Receding_Hairline")


def _pairs() -> tuple[tuple[str, str], ...]:
    colours = [(a, b) for i, a in enumerate(HAIR_COLOURS) for b in HAIR_COLOURS[i + 1:]]
    return tuple(colours + [("Bald", h) for h in HAIR]
                 + [("Straight_Hair", "Wavy_Hair"), ("Bangs", "Receding_Hairline"),
                    ("Goatee", "No_Beard"), ("Mustache", "No_Beard")])


LINKS: tuple[tuple[str, str], ...] = _pairs()
"""Pairs of attributes that exclude each other by definition (CelebA's labels and the synthetic
set's drawing rules agree on every one): one hair colour at most, no hair on a bald head, straight
or wavy, bangs or a receding hairline, and a goatee or moustache is a beard (``No_Beard`` -1)."""


def excluded_by(name: str) -> list[str]:
    """The attributes ``name`` rules out (``LINKS`` read both ways)."""
    return [b if a == name else a for a, b in LINKS if name in (a, b)]
