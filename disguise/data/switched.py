"""One synthetic face drawn twice, with one attribute on and off, and how far apart the two are.

The synthetic CelebA draws each image from its person and its labels with the rest of the scene
held fixed, so switching one label changes only that attribute's pixels (a hair colour other than
the person's own also moves the shirt's colour, drawn from the same random stream after it). A
pair shows how strongly an attribute is drawn: an attribute whose switch barely moves a pixel at
the model's size cannot be learned, added by a slider or graded by any judge. Attributes the
person carries (a nose, a build) are switched on the person; Chubby, Oval_Face and Pale_Skin
reshape or recolour the person when sampled, so they are switched with those measures, and
Attractive is not drawn at all.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from ..attributes import NOT_DRAWN
from .synthetic import SKIN_LIGHT, SKIN_PALE, Person, item_labels, render, sample_person

# Attributes drawn from the person rather than the image's labels: the Person field that draws them.
PERSON_FIELDS = {"Male": "male", "Young": "young", "Big_Nose": "big_nose", "Pointy_Nose": "pointy_nose",
                 "Big_Lips": "big_lips", "Narrow_Eyes": "narrow_eyes", "Arched_Eyebrows": "arched",
                 "Bushy_Eyebrows": "bushy", "Double_Chin": "double_chin", "Chubby": "chubby",
                 "Oval_Face": "oval", "Pale_Skin": "pale"}
CHANGED = 8  # a pixel channel change (of 255) that counts as drawn


def _person_as(person: Person, attribute: str, on: bool) -> Person:
    """``person`` with ``attribute`` on or off, the measures it brings with it changed too."""
    field = PERSON_FIELDS.get(attribute)
    if field is None or getattr(person, field) == on:
        return person
    sign = 1 if on else -1
    extra = {}
    if attribute == "Chubby":
        extra["face_w"] = person.face_w + 5 * sign
    elif attribute == "Oval_Face":
        extra = {"face_w": person.face_w - 3 * sign, "face_h": person.face_h + 4 * sign}
    elif attribute == "Pale_Skin":
        extra["skin"] = SKIN_PALE if on else SKIN_LIGHT  # the lightest skin not called pale
    return dataclasses.replace(person, **{field: on}, **extra)


def switched_pair(seed: int, index: int, attribute: str) -> tuple[Image.Image, Image.Image]:
    """Synthetic person ``index`` of the set ``seed``, drawn in the scene of its image ``index``,
    with ``attribute`` on, then off; the other labels as that image has them."""
    if attribute in NOT_DRAWN:
        raise ValueError(f"{attribute} is not drawn: no pair shows it")
    person = sample_person(index, seed)
    pair = []
    for on in (True, False):
        who = _person_as(person, attribute, on)
        labels, rng = item_labels(seed, who, index)
        labels[attribute] = on
        pair.append(render(who, labels, rng)[0])
    return pair[0], pair[1]


@dataclasses.dataclass(frozen=True)
class Contrast:
    """How far apart a pair is: the largest change of any pixel channel (of 255) and how many pixels
    change by more than ``CHANGED``."""

    largest: float
    pixels: int

    @staticmethod
    def between(a: np.ndarray, b: np.ndarray) -> "Contrast":
        """``a`` and ``b``: uint8 or 0..255 float images ``(H, W, 3)``."""
        change = np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).max(-1)
        return Contrast(float(change.max()), int((change > CHANGED).sum()))
