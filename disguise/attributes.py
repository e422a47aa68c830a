"""The 40 CelebA attributes: names in file order, their rates in CelebA, and how the app groups them.

Everything here is plain data so that the library, the training scripts and the app agree on one
order. Source of names and rates: the CelebA release (``list_attr_celeba.txt``) as summarised in
``shared/CELEBA.md``.
"""

from __future__ import annotations

import difflib
from typing import Iterable

ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
    "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young",
)
NUM_ATTRIBUTES = len(ATTRIBUTES)
INDEX: dict[str, int] = {name: i for i, name in enumerate(ATTRIBUTES)}

# Share of CelebA images labelled 1 for each attribute (approximate, from the public release).
CELEBA_RATES: dict[str, float] = {
    "5_o_Clock_Shadow": 0.11, "Arched_Eyebrows": 0.27, "Attractive": 0.51, "Bags_Under_Eyes": 0.20,
    "Bald": 0.02, "Bangs": 0.15, "Big_Lips": 0.24, "Big_Nose": 0.23, "Black_Hair": 0.24,
    "Blond_Hair": 0.15, "Blurry": 0.05, "Brown_Hair": 0.21, "Bushy_Eyebrows": 0.14, "Chubby": 0.06,
    "Double_Chin": 0.05, "Eyeglasses": 0.07, "Goatee": 0.06, "Gray_Hair": 0.04, "Heavy_Makeup": 0.39,
    "High_Cheekbones": 0.46, "Male": 0.42, "Mouth_Slightly_Open": 0.48, "Mustache": 0.04,
    "Narrow_Eyes": 0.12, "No_Beard": 0.83, "Oval_Face": 0.28, "Pale_Skin": 0.04, "Pointy_Nose": 0.28,
    "Receding_Hairline": 0.08, "Rosy_Cheeks": 0.07, "Sideburns": 0.06, "Smiling": 0.48,
    "Straight_Hair": 0.21, "Wavy_Hair": 0.32, "Wearing_Earrings": 0.19, "Wearing_Hat": 0.05,
    "Wearing_Lipstick": 0.47, "Wearing_Necklace": 0.12, "Wearing_Necktie": 0.07, "Young": 0.77,
}

# Attributes the synthetic renderer (disguise.data.synthetic) cannot show in pixels. Their columns are
# still written, sampled at CelebA's rate, and evaluation skips them.
NOT_DRAWN: frozenset[str] = frozenset({"Attractive"})
DRAWN: tuple[str, ...] = tuple(a for a in ATTRIBUTES if a not in NOT_DRAWN)

# How the app lays out its forty sliders. Every attribute appears exactly once.
GROUPS: dict[str, tuple[str, ...]] = {
    "Hair": ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Bald", "Bangs",
             "Receding_Hairline", "Straight_Hair", "Wavy_Hair"),
    "Facial hair": ("No_Beard", "Goatee", "Mustache", "Sideburns", "5_o_Clock_Shadow"),
    "Accessories": ("Eyeglasses", "Wearing_Hat", "Wearing_Earrings", "Wearing_Necklace",
                    "Wearing_Necktie"),
    "Make-up": ("Heavy_Makeup", "Wearing_Lipstick", "Rosy_Cheeks", "Pale_Skin"),
    "Face": ("Arched_Eyebrows", "Bushy_Eyebrows", "Bags_Under_Eyes", "Big_Lips", "Big_Nose",
             "Pointy_Nose", "Narrow_Eyes", "Chubby", "Double_Chin", "Oval_Face", "High_Cheekbones"),
    "Expression": ("Smiling", "Mouth_Slightly_Open"),
    "Age and gender": ("Male", "Young", "Attractive"),
    "Image": ("Blurry",),
}


def pretty(name: str) -> str:
    """Human label for an attribute name: ``Wearing_Hat`` -> ``Wearing hat``."""
    return name.replace("_", " ").capitalize()


def check_names(names: Iterable[str]) -> None:
    """Raise ``ValueError`` naming the first unknown attribute, with the closest valid names."""
    for name in names:
        if name not in INDEX:
            near = difflib.get_close_matches(name, ATTRIBUTES, n=3)
            hint = f" Did you mean {', '.join(near)}?" if near else ""
            raise ValueError(f"unknown attribute {name!r}.{hint} Valid names are CelebA's 40: "
                           f"{', '.join(ATTRIBUTES)}")

