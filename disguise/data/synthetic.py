"""A synthetic CelebA: procedurally drawn faces in CelebA's exact file layout, with known attributes.

Why: the real CelebA cannot be fetched everywhere (CI, offline machines), and a data set whose true
attributes are known lets us measure edit quality against ground truth.

``sample_person`` draws an identity and ``sample_labels`` one image's 40 labels given that person,
through a small causal model tuned so that the marginals match CelebA's and the attributes come
out entangled as in the real data. ``render`` draws the face in CelebA's aligned frame with a small
random pose, lighting and blur; its landmarks go through the same transform, so they are exact.
Every image's randomness comes from ``numpy.random.default_rng((seed, index))``, so the same
arguments give byte-identical files however many processes render them. More: docs/training.md
("The synthetic CelebA").
"""

from __future__ import annotations

import io
import json
import math
import os
import textwrap
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..attributes import ATTRIBUTES, NOT_DRAWN, pretty
from ..files import atomic_write
from ..frame import EYE_MID, HEIGHT, LEFT_EYE, MOUTH, RIGHT_EYE, WIDTH
from .celeba import LANDMARK_COLUMNS, SYNTHETIC_MARK, read_attributes

PAD = 26  # drawing margin, so the pose warp never samples outside the canvas
JPEG_QUALITY = 92

HAIR_COLOURS = {  # (low, high) RGB per natural hair category
    "black": ((18, 16, 14), (42, 36, 32)),
    "brown": ((88, 54, 30), (122, 78, 46)),
    "blond": ((212, 182, 108), (242, 214, 150)),
    "gray": ((168, 168, 168), (206, 204, 200)),
    "red": ((148, 58, 26), (178, 84, 44)),
}
# The hair-colour labels and the natural category each names; red hair has no label in CelebA.
HAIR_LABELS = (("Black_Hair", "black"), ("Brown_Hair", "brown"), ("Blond_Hair", "blond"),
               ("Gray_Hair", "gray"))
SKIN_LIGHT, SKIN_DARK, SKIN_PALE = (236, 200, 172), (112, 76, 56), (252, 232, 222)


@dataclass(frozen=True)
class Person:
    """What stays fixed across one synthetic person's images."""

    pid: int
    male: bool
    young: bool
    skin: tuple[int, int, int]
    pale: bool
    hair: str  # natural hair category, a key of HAIR_COLOURS
    hair_rgb: tuple[int, int, int]
    chubby: bool
    double_chin: bool
    oval: bool
    big_nose: bool
    pointy_nose: bool
    big_lips: bool
    narrow_eyes: bool
    arched: bool
    bushy: bool
    long_hair: bool
    face_w: float
    face_h: float
    iris: tuple[int, int, int]
    n_images: int


def _b(rng: np.random.Generator, p: float) -> bool:
    return bool(rng.random() < p)


def _lerp(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def sample_person(pid: int, seed: int) -> Person:
    """Draw the identity of synthetic person ``pid`` (deterministic in ``(seed, pid)``)."""
    rng = np.random.default_rng((seed, 1, pid))
    male = _b(rng, 0.42)
    young = _b(rng, 0.85 if not male else 0.66)
    pale = _b(rng, 0.015 if male else 0.06)
    skin = SKIN_PALE if pale else _lerp(SKIN_LIGHT, SKIN_DARK, float(rng.random() ** 1.6))
    skin = tuple(int(np.clip(c + rng.integers(-6, 7), 0, 255)) for c in skin)
    # Natural hair: grey mostly with age; blond mostly women; the rest black, brown or red.
    if not young and _b(rng, 0.22):
        hair = "gray"
    else:
        u = rng.random()
        blond = 0.245 if not male else 0.045
        hair = ("blond" if u < blond else "black" if u < blond + 0.26 else
                "brown" if u < blond + 0.49 else "red")
    lo, hi = HAIR_COLOURS[hair]
    hair_rgb = _lerp(lo, hi, float(rng.random()))
    chubby = _b(rng, 0.11 if male else 0.025)
    double_chin = _b(rng, 0.5 if chubby else 0.023)
    oval = _b(rng, 0.28)
    return Person(
        pid=pid, male=male, young=young, skin=skin, pale=pale, hair=hair, hair_rgb=hair_rgb,
        chubby=chubby, double_chin=double_chin, oval=oval,
        big_nose=_b(rng, 0.40 if male else 0.10), pointy_nose=_b(rng, 0.14 if male else 0.38),
        big_lips=_b(rng, 0.24), narrow_eyes=_b(rng, 0.12),
        arched=_b(rng, 0.05 if male else 0.43), bushy=_b(rng, 0.26 if male else 0.05),
        long_hair=_b(rng, 0.12 if male else 0.85),
        face_w=float(rng.uniform(33, 38) + (5 if chubby else 0) - (3 if oval else 0)),
        face_h=float(rng.uniform(47, 51) + (4 if oval else 0)),
        iris=_lerp((60, 40, 25), (70, 110, 150), float(rng.random())),
        n_images=int(rng.integers(2, 9)),
    )


def sample_labels(person: Person, rng: np.random.Generator) -> dict[str, bool]:
    """Draw one image's 40 labels for ``person`` (the causal model described in the module doc)."""
    m, y = person.male, person.young
    lab: dict[str, bool] = {}
    lab["Male"], lab["Young"], lab["Pale_Skin"] = m, y, person.pale
    for key in ("Chubby", "Double_Chin", "Big_Nose", "Pointy_Nose", "Big_Lips", "Narrow_Eyes"):
        lab[key] = getattr(person, key.lower())
    lab["Oval_Face"] = person.oval
    lab["Arched_Eyebrows"], lab["Bushy_Eyebrows"] = person.arched, person.bushy
    # Facial hair (men only): "has a beard" is CelebA's No_Beard = -1; goatee and moustache sit in it.
    bearded = m and _b(rng, 0.40)
    lab["No_Beard"] = not bearded
    lab["Goatee"] = bearded and _b(rng, 0.35)
    lab["Mustache"] = bearded and _b(rng, 0.24)
    lab["Sideburns"] = m and _b(rng, 0.14)
    lab["5_o_Clock_Shadow"] = m and not bearded and _b(rng, 0.43)
    # Make-up and jewellery (mostly women).
    lab["Heavy_Makeup"] = _b(rng, 0.01 if m else 0.66)
    lab["Wearing_Lipstick"] = _b(rng, 0.97 if lab["Heavy_Makeup"] else (0.005 if m else 0.47))
    lab["Rosy_Cheeks"] = _b(rng, 0.005 if m else (0.16 if lab["Heavy_Makeup"] else 0.05))
    lab["Wearing_Earrings"] = _b(rng, 0.01 if m else 0.32)
    lab["Wearing_Necklace"] = _b(rng, 0.01 if m else 0.20)
    lab["Wearing_Necktie"] = _b(rng, 0.16 if m else 0.005)
    lab["Eyeglasses"] = _b(rng, (0.10 if y else 0.19) if m else (0.025 if y else 0.07))
    lab["Wearing_Hat"] = _b(rng, 0.05)
    # Hair: baldness and a receding hairline with male age; colour usually the natural one.
    lab["Bald"] = m and _b(rng, 0.012 if y else 0.17)
    lab["Receding_Hairline"] = not lab["Bald"] and _b(rng, (0.08 if y else 0.42) if m else 0.03)
    hair = person.hair
    if _b(rng, 0.08):  # dyed for this picture
        hair = ["black", "brown", "blond", "red"][int(rng.integers(0, 4))]
    for name, key in HAIR_LABELS:
        lab[name] = not lab["Bald"] and hair == key
    u = rng.random()
    wavy = 0.45 if not m else 0.14
    lab["Wavy_Hair"] = not lab["Bald"] and u < wavy
    lab["Straight_Hair"] = not lab["Bald"] and wavy <= u < wavy + 0.215
    lab["Bangs"] = not lab["Bald"] and not lab["Receding_Hairline"] and _b(rng, 0.055 if m else 0.235)
    # Expression.
    lab["Smiling"] = _b(rng, 0.48)
    lab["Mouth_Slightly_Open"] = _b(rng, 0.65 if lab["Smiling"] else 0.32)
    lab["High_Cheekbones"] = _b(rng, 0.75 if lab["Smiling"] else 0.19)
    # Age shows under the eyes; the photo itself can be blurred.
    lab["Bags_Under_Eyes"] = _b(rng, 0.12 if y else 0.47)
    lab["Blurry"] = _b(rng, 0.05)
    # Not drawn: sampled from what tends to go with it in CelebA.
    lab["Attractive"] = _b(rng, (0.72 if not m else 0.42) if y else 0.18)
    return {name: bool(lab[name]) for name in ATTRIBUTES}


# ----------------------------------------------------------------------------------------------
# Drawing. Coordinates are CelebA's aligned frame; `PAD` shifts them onto the padded canvas.


def _ell(cx: float, cy: float, rx: float, ry: float) -> list[float]:
    return [cx - rx + PAD, cy - ry + PAD, cx + rx + PAD, cy + ry + PAD]


def _pts(points) -> list[tuple[float, float]]:
    return [(x + PAD, yy + PAD) for x, yy in points]


def _shade(rgb, f: float) -> tuple[int, int, int]:
    return tuple(min(255, max(0, int(c * f))) for c in rgb)


def _arc_points(cx, cy, rx, ry, a0, a1, n=24):
    t = np.linspace(math.radians(a0), math.radians(a1), n)
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


# The drawing is split into one function per feature, each taking the canvas and a `_Face`. They
# run back to front (`_LAYERS`), and the order is also the order in which they draw from the face's
# random stream: keep it, or every image changes.

RGB = tuple[int, int, int]


def _shade_of(key: str, rng: np.random.Generator) -> RGB:
    """A random shade of natural hair category ``key`` (one draw)."""
    lo, hi = HAIR_COLOURS[key]
    return _lerp(lo, hi, float(rng.random()))


def hair_colour(person: Person, lab: dict[str, bool], rng: np.random.Generator) -> RGB:
    """The colour this image's hair is drawn in: the one place that turns labels into hair colour.

    * A colour label set: that colour, the person's own shade when it is their natural colour, else
      a shade drawn from ``rng`` (dyed for this picture).
    * No colour label and not bald: red, which CelebA has no label for; the person's own shade when
      their hair is naturally red, else a drawn one.
    * Bald (so no colour label): what is left at the sides is the person's natural hair.

    Several colour labels (only when forced) are taken in order and the last dyed one wins; each
    dyed shade costs one draw, as it always has, so the stream after it stays where it was.
    """
    hair, labelled = person.hair_rgb, False
    for name, key in HAIR_LABELS:
        if lab[name]:
            labelled = True
            if person.hair != key:
                hair = _shade_of(key, rng)
    if labelled or lab["Bald"] or person.hair == "red":
        return hair
    return _shade_of("red", rng)


@dataclass(frozen=True)
class Geometry:
    """Where the head sits in the upright frame; every feature is placed relative to it."""

    cx: float  # the face's vertical axis, midway between the eyes
    fcy: float  # centre of the face ellipse
    fw: float  # half width of the face
    fh: float  # half height of the face
    temple_y: float  # the hairline at the temples (higher when receding)
    mid_y: float  # the hairline at the middle of the forehead

    @property
    def top(self) -> float:
        """The top of the face ellipse (the crown, under the hair)."""
        return self.fcy - self.fh

    @staticmethod
    def of(p: Person, lab: dict[str, bool]) -> "Geometry":
        """The geometry of ``p``'s face, with the hairline ``lab`` asks for."""
        fcy = 124.0
        top = fcy - p.face_h
        receding = lab["Receding_Hairline"]
        return Geometry(cx=EYE_MID[0], fcy=fcy, fw=p.face_w, fh=p.face_h,
                        temple_y=top + (30 if receding else 19),
                        mid_y=top + (21 if receding else 17))


@dataclass(frozen=True)
class Palette:
    """The colours several features share."""

    skin: RGB
    hair: RGB

    @property
    def hair_dark(self) -> RGB:
        """Hair in shadow: strands, sideburns, brows and beards."""
        return _shade(self.hair, 0.72)


@dataclass(frozen=True)
class _Face:
    """What every feature is drawn from: who, which labels, where, which colours, the stream."""

    p: Person
    lab: dict[str, bool]
    g: Geometry
    c: Palette
    rng: np.random.Generator


Draw = ImageDraw.ImageDraw


def _draw_shirt(d: Draw, f: _Face) -> None:
    """A shirt of a random colour across the bottom of the picture."""
    cx = f.g.cx
    shirt = tuple(int(c) for c in f.rng.integers(30, 220, 3))
    d.polygon(_pts([(cx - 90, 250), (cx - 70, 200), (cx - 20, 190), (cx + 20, 190), (cx + 70, 200),
                    (cx + 90, 250)]), fill=shirt)


def _draw_long_hair(d: Draw, f: _Face) -> None:
    """Long hair, falling behind the shoulders (wavy hair a little longer, with wavy edges)."""
    if not f.p.long_hair or f.lab["Bald"]:
        return
    cx, fw = f.g.cx, f.g.fw
    ybot = 196 if not f.lab["Wavy_Hair"] else 200
    ys = np.linspace(f.g.top + 10, ybot, 14)
    amp = 4.0 if f.lab["Wavy_Hair"] else 0.0
    left = [(cx - fw - 9 - amp * math.sin(i * 1.3), yy) for i, yy in enumerate(ys)]
    right = [(cx + fw + 9 + amp * math.sin(i * 1.3), yy) for i, yy in enumerate(ys)]
    d.polygon(_pts(left + right[::-1]), fill=f.c.hair)


def _draw_neck(d: Draw, f: _Face) -> None:
    """The neck, a little darker than the face (in front of long hair)."""
    d.rectangle(_ell(f.g.cx, 180, 15, 17), fill=_shade(f.c.skin, 0.86))


def _draw_necktie(d: Draw, f: _Face) -> None:
    """A white collar and a tie of a random colour."""
    if not f.lab["Wearing_Necktie"]:
        return
    cx = f.g.cx
    d.polygon(_pts([(cx - 20, 190), (cx, 203), (cx - 7, 186)]), fill=(245, 245, 245))
    d.polygon(_pts([(cx + 20, 190), (cx, 203), (cx + 7, 186)]), fill=(245, 245, 245))
    tie = tuple(int(c) for c in f.rng.integers(20, 200, 3))
    d.polygon(_pts([(cx - 5, 188), (cx + 5, 188), (cx + 3, 196), (cx - 3, 196)]), fill=tie)
    d.polygon(_pts([(cx - 3, 196), (cx + 3, 196), (cx + 7, 230), (cx, 238), (cx - 7, 230)]),
              fill=tie)


def _draw_necklace(d: Draw, f: _Face) -> None:
    """A chain of gold or silver beads round the neck, with a pendant."""
    if not f.lab["Wearing_Necklace"]:
        return
    metal = (236, 196, 70) if f.rng.random() < 0.6 else (210, 214, 222)
    for x, yy in _arc_points(f.g.cx, 176, 17, 12, 10, 170, 12):
        d.ellipse(_ell(x, yy, 1.6, 1.6), fill=metal)
    d.ellipse(_ell(f.g.cx, 190, 3.0, 3.5), fill=metal)


def _draw_ears(d: Draw, f: _Face) -> None:
    """Both ears, each with a gold or silver earring when the label asks."""
    for s in (-1, 1):
        ex = f.g.cx + s * (f.g.fw + 1)
        d.ellipse(_ell(ex, 120, 6, 11), fill=_shade(f.c.skin, 0.93))
        if f.lab["Wearing_Earrings"]:
            metal = (238, 200, 60) if f.rng.random() < 0.6 else (225, 228, 236)
            d.ellipse(_ell(ex, 134, 3, 3), fill=metal)
            d.ellipse(_ell(ex, 140, 2.2, 3.2), fill=metal)


def _draw_face_shape(d: Draw, f: _Face) -> None:
    """The face: an ellipse, a squarer jaw for men, folds under the chin for a double chin."""
    g, skin = f.g, f.c.skin
    d.ellipse(_ell(g.cx, g.fcy, g.fw, g.fh), fill=skin)
    if f.p.male:
        d.rounded_rectangle(_ell(g.cx, g.fcy + g.fh * 0.45, g.fw * 0.86, g.fh * 0.48), radius=12,
                            fill=skin)
    if f.lab["Double_Chin"]:
        d.arc(_ell(g.cx, g.fcy + g.fh + 2, 14, 6), 20, 160, fill=_shade(skin, 0.78), width=2)
        d.arc(_ell(g.cx, g.fcy + g.fh - 3, 16, 6), 20, 160, fill=_shade(skin, 0.84), width=2)


def _draw_cheekbones(d: Draw, f: _Face) -> None:
    """High cheekbones: a shadow line under each and a highlight on top."""
    if not f.lab["High_Cheekbones"]:
        return
    cx, fw = f.g.cx, f.g.fw
    for s in (-1, 1):
        d.line(_pts([(cx + s * (fw - 4), 126), (cx + s * (fw - 14), 140)]),
               fill=_shade(f.c.skin, 0.82), width=2)
        d.ellipse(_ell(cx + s * (fw - 12), 124, 7, 3.5), fill=_shade(f.c.skin, 1.08))


def _draw_hair_cap(d: Draw, f: _Face) -> None:
    """Hair on top of the head: a cap from the crown down to the hairline (not when bald)."""
    if f.lab["Bald"]:
        return
    g = f.g
    cx, fw, fh, temple_y, mid_y = g.cx, g.fw, g.fh, g.temple_y, g.mid_y
    arc = _arc_points(cx, g.fcy, fw + 3, fh + 4, 180 + 8, 360 - 8, 20)
    hairline = [(cx + fw - 1, temple_y), (cx + fw * 0.45, mid_y + 3), (cx, mid_y),
                (cx - fw * 0.45, mid_y + 3), (cx - fw + 1, temple_y)]
    d.polygon(_pts([(cx - fw - 3, temple_y + 14)] + arc
                   + [(cx + fw + 3, temple_y + 14), (cx + fw - 3, temple_y + 14)] + hairline),
              fill=f.c.hair)


def _draw_hair_texture(d: Draw, f: _Face) -> None:
    """Darker strands on the cap: rippled rows for wavy hair, combed lines for straight hair."""
    if f.lab["Bald"]:
        return
    cx, fw, top = f.g.cx, f.g.fw, f.g.top
    if f.lab["Wavy_Hair"]:
        for k in range(5):
            pts = [(cx - fw + 6 + 3 * i, top + 2 + k * 4 + 2 * math.sin(i * 1.1 + k))
                   for i in range(int(2 * fw / 3) - 3)]
            d.line(_pts(pts), fill=f.c.hair_dark, width=1)
    elif f.lab["Straight_Hair"]:
        for k in range(-4, 5):
            d.line(_pts([(cx + k * 7, top - 2 + abs(k)), (cx + k * 8.2, f.g.mid_y + 2)]),
                   fill=f.c.hair_dark, width=1)


def _draw_bangs(d: Draw, f: _Face) -> None:
    """A jagged fringe over the forehead (drawn only with hair on the head)."""
    if f.lab["Bald"] or not f.lab["Bangs"]:
        return
    cx, fw = f.g.cx, f.g.fw
    xs = np.linspace(cx - fw + 3, cx + fw - 3, 9)
    fringe = [(xs[0], f.g.temple_y - 6)] + [(x, 100 + 3 * (i % 2)) for i, x in enumerate(xs)]
    fringe += [(xs[-1], f.g.temple_y - 6), (cx, f.g.top + 2)]
    d.polygon(_pts(fringe), fill=f.c.hair)


def _draw_bald_head(d: Draw, f: _Face) -> None:
    """A bald head: a shine on the scalp, and what hair is left at the sides, above the ears."""
    if not f.lab["Bald"]:
        return
    cx, fw = f.g.cx, f.g.fw
    d.ellipse(_ell(cx - 10, f.g.top + 10, 9, 5), fill=_shade(f.c.skin, 1.12))
    for s in (-1, 1):
        d.polygon(_pts([(cx + s * (fw + 2), 100), (cx + s * (fw - 4), 100),
                        (cx + s * (fw - 4), 122), (cx + s * (fw + 3), 126)]), fill=f.c.hair)


def _draw_sideburns(d: Draw, f: _Face) -> None:
    """Sideburns: dark strips down the sides of the face, in front of the ears."""
    if not f.lab["Sideburns"]:
        return
    for s in (-1, 1):
        d.rectangle(_ell(f.g.cx + s * (f.g.fw - 4), 126, 3.5, 13), fill=f.c.hair_dark)


def _draw_age_lines(d: Draw, f: _Face) -> None:
    """For older people: forehead lines (hidden by bangs) and folds from nose to mouth."""
    if f.p.young:
        return
    cx, line = f.g.cx, _shade(f.c.skin, 0.74)
    for k in range(2):
        if not f.lab["Bangs"]:
            d.arc(_ell(cx, f.g.mid_y + 20 + 5 * k, 15, 4), 200, 340, fill=line, width=1)
    for s in (-1, 1):
        d.line(_pts([(cx + s * 10, 136), (cx + s * 16, 150)]), fill=line, width=2)


def _draw_eyes(d: Draw, f: _Face) -> None:
    """Each eye with its brow: eye shadow and liner for heavy make-up, bags under it with age."""
    p, lab = f.p, f.lab
    eye_h = 2.2 if p.narrow_eyes else 4.4
    brow_w = 4 if p.bushy else 2
    brow_c = f.c.hair_dark if not lab["Blond_Hair"] else _shade(f.c.hair, 0.55)  # else too faint
    for (ex, ey), s in ((LEFT_EYE, -1), (RIGHT_EYE, 1)):
        if lab["Heavy_Makeup"]:
            shadow = (120, 60, 130, 150) if f.rng.random() < 0.5 else (70, 90, 160, 150)
            d.ellipse(_ell(ex, ey - 4, 10, 5), fill=shadow)
        d.ellipse(_ell(ex, ey, 8, eye_h), fill=(245, 245, 240))
        d.ellipse(_ell(ex, ey, 3.2, min(3.2, eye_h)), fill=p.iris)
        d.ellipse(_ell(ex, ey, 1.4, min(1.4, eye_h)), fill=(10, 10, 10))
        if lab["Heavy_Makeup"]:
            d.arc(_ell(ex, ey, 8.5, eye_h + 0.8), 180, 360, fill=(15, 10, 10), width=2)
        if lab["Bags_Under_Eyes"]:
            d.arc(_ell(ex, ey + 4, 7, 3), 20, 160, fill=_shade(f.c.skin, 0.7), width=2)
        by = 102.0
        if p.arched:
            d.line(_pts([(ex - 10, by + 2), (ex - 1 * s, by - 3), (ex + 10, by + 2)]),
                   fill=brow_c, width=brow_w, joint="curve")
        else:
            d.line(_pts([(ex - 10, by), (ex + 10, by)]), fill=brow_c, width=brow_w)


def _draw_glasses(d: Draw, f: _Face) -> None:
    """Tinted lenses in a black or brown frame, with a bridge and arms to the ears."""
    if not f.lab["Eyeglasses"]:
        return
    cx, fw = f.g.cx, f.g.fw
    rim = (15, 15, 20) if f.rng.random() < 0.7 else (120, 80, 40)
    for ex, ey in (LEFT_EYE, RIGHT_EYE):
        d.rounded_rectangle(_ell(ex, ey, 13, 9), radius=4, fill=(40, 40, 50, 70), outline=rim,
                            width=3)
    d.line(_pts([(LEFT_EYE[0] + 13, 110), (RIGHT_EYE[0] - 13, 110)]), fill=rim, width=2)
    d.line(_pts([(LEFT_EYE[0] - 13, 110), (cx - fw - 1, 116)]), fill=rim, width=2)
    d.line(_pts([(RIGHT_EYE[0] + 13, 110), (cx + fw + 1, 116)]), fill=rim, width=2)


def _draw_nose(d: Draw, f: _Face) -> None:
    """The nose: a bridge line, a tip (wider and lower when big, pointed when pointy), nostrils."""
    cx, skin, p = f.g.cx, f.c.skin, f.p
    nw = 8.0 if p.big_nose else 5.0
    nl = 138.0 if p.big_nose else 134.0
    d.line(_pts([(cx - 2, 116), (cx - 3, nl - 4)]), fill=_shade(skin, 0.85), width=1)
    if p.pointy_nose:
        d.polygon(_pts([(cx - nw, nl - 3), (cx + nw, nl - 3), (cx, nl + 4)]),
                  fill=_shade(skin, 0.9))
    d.arc(_ell(cx, nl - 2, nw, 3.5), 10, 170, fill=_shade(skin, 0.72), width=2)
    for s in (-1, 1):
        d.ellipse(_ell(cx + s * nw * 0.55, nl - 1, 1.6, 1.1), fill=_shade(skin, 0.55))


def _draw_cheeks(d: Draw, f: _Face) -> None:
    """Rosy cheeks: a translucent red patch on each."""
    if not f.lab["Rosy_Cheeks"]:
        return
    for s in (-1, 1):
        d.ellipse(_ell(f.g.cx + s * 22, 138, 8, 5), fill=(235, 90, 100, 110))


def _draw_facial_hair(d: Draw, f: _Face) -> None:
    """Stubble (5 o'clock shadow), then a full beard, or a goatee and/or a moustache."""
    cx, fw, fh, lab = f.g.cx, f.g.fw, f.g.fh, f.lab
    beard_c = f.c.hair_dark if not lab["Gray_Hair"] else _shade(f.c.hair, 0.8)  # grey shows
    if lab["5_o_Clock_Shadow"]:
        d.chord(_ell(cx, 138, fw - 1, fh * 0.72), 10, 170, fill=(70, 70, 80, 70))
    # CelebA's goatee and moustache are kinds of beard: either replaces the full one.
    if not lab["No_Beard"] and not lab["Goatee"] and not lab["Mustache"]:
        d.chord(_ell(cx, 136, fw, fh * 0.75), 0, 180, fill=beard_c)
    if lab["Goatee"]:
        d.ellipse(_ell(cx, 166, 10, 9), fill=beard_c)
    if lab["Mustache"]:
        d.polygon(_pts([(cx - 15, 150), (cx - 9, 143), (cx + 9, 143), (cx + 15, 150), (cx, 147)]),
                  fill=beard_c)


def _draw_mouth(d: Draw, f: _Face) -> None:
    """Lips (fuller when big, red with lipstick), wider and lifted when smiling, teeth when open.

    Its corners are the landmarks ``canonical_landmarks`` reports: change both together.
    """
    lab = f.lab
    mx, my = MOUTH
    half = 15.0 if lab["Smiling"] else 13.0
    lip = 4.5 if f.p.big_lips else 2.6
    lip_c = ((175, 20, 45) if lab["Wearing_Lipstick"] else _lerp(f.c.skin, (160, 70, 70), 0.45))
    lift = 4.0 if lab["Smiling"] else 0.0
    opening = 4.5 if lab["Mouth_Slightly_Open"] else 0.0
    upper = [(mx - half, my - lift), (mx - half / 2, my - lip - 1), (mx, my - lip),
             (mx + half / 2, my - lip - 1), (mx + half, my - lift)]
    lower = [(mx + half, my - lift), (mx + half / 2, my + opening + lip),
             (mx, my + opening + lip + 1), (mx - half / 2, my + opening + lip)]
    d.polygon(_pts(upper + lower), fill=lip_c)
    if opening:
        inner = [(mx - half + 3, my - lift + 1), (mx, my + 1), (mx + half - 3, my - lift + 1),
                 (mx, my + opening + 1)]
        d.polygon(_pts(inner), fill=(60, 20, 25))
        if lab["Smiling"]:
            d.line(_pts([(mx - half + 5, my - lift + 2), (mx + half - 5, my - lift + 2)]),
                   fill=(240, 240, 235), width=2)
    else:
        mid = [(mx - half, my - lift), (mx - half / 2, my + 0.5 - lift / 3), (mx, my + 1),
               (mx + half / 2, my + 0.5 - lift / 3), (mx + half, my - lift)]
        d.line(_pts(mid), fill=_shade(lip_c, 0.55), width=1)


def _draw_hat(d: Draw, f: _Face) -> None:
    """A hat of a random colour, over everything on top of the head."""
    if not f.lab["Wearing_Hat"]:
        return
    hat = tuple(int(c) for c in f.rng.integers(20, 220, 3))
    d.rounded_rectangle(_ell(f.g.cx, f.g.top - 4, f.g.fw - 2, 22), radius=10, fill=hat)
    d.ellipse(_ell(f.g.cx, f.g.top + 14, f.g.fw + 16, 6), fill=_shade(hat, 0.7))


_LAYERS: tuple[Callable[[Draw, _Face], None], ...] = (
    _draw_shirt, _draw_long_hair, _draw_neck, _draw_necktie, _draw_necklace, _draw_ears,
    _draw_face_shape, _draw_cheekbones, _draw_hair_cap, _draw_hair_texture, _draw_bangs,
    _draw_bald_head, _draw_sideburns, _draw_age_lines, _draw_eyes, _draw_glasses, _draw_nose,
    _draw_cheeks, _draw_facial_hair, _draw_mouth, _draw_hat,
)


def _draw_face(d: Draw, p: Person, lab: dict[str, bool], rng: np.random.Generator) -> None:
    """Draw ``p`` as ``lab`` describes, upright in the aligned frame, onto the padded canvas ``d``.

    The hair colour is decided first, then the features are painted back to front (``_LAYERS``),
    each taking what it needs from ``rng`` in turn.
    """
    hair = hair_colour(p, lab, rng)
    face = _Face(p=p, lab=lab, g=Geometry.of(p, lab), c=Palette(skin=p.skin, hair=hair), rng=rng)
    for layer in _LAYERS:
        layer(d, face)


@dataclass(frozen=True)
class Pose:
    """A small head pose about the eyes' midpoint: shift (pixels), scale and roll (degrees)."""

    dx: float
    dy: float
    scale: float
    roll_deg: float

    @staticmethod
    def sample(rng: np.random.Generator) -> "Pose":
        """A random pose within CelebA's residual misalignment (4 draws from ``rng``)."""
        return Pose(float(rng.uniform(-4, 4)), float(rng.uniform(-4, 4)),
                    float(rng.uniform(0.93, 1.07)), float(rng.uniform(-6, 6)))

    def matrix(self) -> np.ndarray:
        """2x3 affine taking the upright aligned frame to the posed image."""
        t = math.radians(self.roll_deg)
        r = self.scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        c = np.array(EYE_MID)
        return np.hstack([r, (c + np.array([self.dx, self.dy]) - r @ c)[:, None]])


def canonical_landmarks(lab: dict[str, bool]) -> np.ndarray:
    """Eye centres, nose tip and mouth corners of the upright face, as CelebA orders them (5, 2)."""
    half = 15.0 if lab["Smiling"] else 13.0
    lift = 4.0 if lab["Smiling"] else 0.0
    return np.array([LEFT_EYE, RIGHT_EYE, (EYE_MID[0], 136.0),
                     (MOUTH[0] - half, MOUTH[1] - lift), (MOUTH[0] + half, MOUTH[1] - lift)])


def render(person: Person, lab: dict[str, bool], rng: np.random.Generator
           ) -> tuple[Image.Image, np.ndarray]:
    """Draw one face; return the 178x218 RGB image and its 5 landmarks (x, y), shape (5, 2)."""
    # Scene first (background, pose, light, blur), then the face from its own stream: switching one
    # attribute on or off then changes only that attribute's pixels.
    c0, c1 = rng.integers(40, 235, 3), rng.integers(40, 235, 3)
    pose = Pose.sample(rng)
    ramp_slope, exposure = float(rng.uniform(-0.15, 0.15)), float(rng.uniform(0.88, 1.1))
    blur = float(rng.uniform(1.8, 2.6))
    face_rng = np.random.default_rng(rng.integers(0, 2**63))

    t = np.linspace(0, 1, HEIGHT + 2 * PAD, dtype=np.float32)[:, None, None]
    column = Image.fromarray((c0 * (1 - t) + c1 * t).astype(np.uint8))  # (H, 1) gradient
    canvas = column.resize((WIDTH + 2 * PAD, HEIGHT + 2 * PAD), Image.Resampling.NEAREST)
    _draw_face(ImageDraw.Draw(canvas, "RGBA"), person, lab, face_rng)

    m = pose.matrix()
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    # PIL maps each output pixel to an input pixel; the canvas is the upright frame shifted by PAD.
    coeffs = (inv[0, 0], inv[0, 1], inv[0, 2] + PAD, inv[1, 0], inv[1, 1], inv[1, 2] + PAD)
    img = canvas.transform((WIDTH, HEIGHT), Image.Transform.AFFINE, coeffs,
                           resample=Image.Resampling.BILINEAR)
    # Lighting: a left-right ramp and an overall exposure, in 8.8 fixed point.
    gain = (256 * exposure * (1 + ramp_slope * np.linspace(-1, 1, WIDTH))).astype(np.uint32)
    lit = (np.asarray(img).astype(np.uint32) * gain[None, :, None]) >> 8
    img = Image.fromarray(np.minimum(lit, 255).astype(np.uint8))
    if lab["Blurry"]:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    lm = canonical_landmarks(lab) @ m[:, :2].T + m[:, 2]
    return img, lm


# ----------------------------------------------------------------------------------------------
# The data set: a plan (who is in which image, with which labels), then rendering in any order.


@dataclass(frozen=True)
class Plan:
    """Which person each image shows and the partition (0 train, 1 validation, 2 test)."""

    seed: int
    persons: list[Person]
    person_of: np.ndarray  # (N,) person index per image
    partition: np.ndarray  # (N,)

    @property
    def count(self) -> int:
        return len(self.person_of)


def make_plan(count: int, seed: int) -> Plan:
    """Assign ``count`` images to synthetic people and split them about 80/10/10 by person."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    persons, owner = [], []
    while len(owner) < count:
        p = sample_person(len(persons), seed)
        persons.append(p)
        owner.extend([p.pid] * p.n_images)
    person_of = np.array(owner[:count], dtype=np.int64)
    # Split on person boundaries so no identity crosses splits (as in CelebA).
    part = np.zeros(count, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, person_of[1:] != person_of[:-1]])
    for cut, value in ((0.8, 1), (0.9, 2)):
        at = starts[starts >= int(round(cut * count))]
        if len(at) and count >= 10:
            part[at[0]:] = value
    return Plan(seed=seed, persons=persons, person_of=person_of, partition=part)


def image_name(index: int) -> str:
    """CelebA's file name of image ``index`` (0-based): 000001.jpg, ..."""
    return f"{index + 1:06d}.jpg"


def item_labels(plan_seed: int, person: Person, index: int
                ) -> tuple[dict[str, bool], np.random.Generator]:
    """The labels of image ``index`` and the random stream its rendering continues from."""
    rng = np.random.default_rng((plan_seed, 2, index))
    return sample_labels(person, rng), rng


def render_item(plan_seed: int, person: Person, index: int) -> tuple[bytes, list[int], np.ndarray]:
    """JPEG bytes, labels (+1/-1) and landmarks of image ``index``; deterministic in ``(seed, index)``."""
    lab, rng = item_labels(plan_seed, person, index)
    img, lm = render(person, lab, rng)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue(), [1 if lab[a] else -1 for a in ATTRIBUTES], lm


def _render_chunk(args: tuple[int, list[Person], list[int], str]) -> list[tuple[int, list[int], list[int]]]:
    seed, persons, indices, img_dir = args
    out = []
    for person, index in zip(persons, indices):
        data, labels, lm = render_item(seed, person, index)
        atomic_write(os.path.join(img_dir, image_name(index)), lambda p, b=data: p.write_bytes(b))
        out.append((index, labels, [int(round(v)) for v in lm.reshape(-1)]))
    return out


def iter_render(plan: Plan, img_dir: str, workers: int = 1, chunk: int = 64
                ) -> Iterator[list[tuple[int, list[int], list[int]]]]:
    """Render every image of ``plan`` into ``img_dir``; yields finished chunks (for progress)."""
    jobs = []
    for start in range(0, plan.count, chunk):
        idx = list(range(start, min(start + chunk, plan.count)))
        jobs.append((plan.seed, [plan.persons[plan.person_of[i]] for i in idx], idx, img_dir))
    if workers <= 1:
        for job in jobs:
            yield _render_chunk(job)
        return
    import multiprocessing as mp

    with mp.get_context("spawn" if os.name == "nt" else "fork").Pool(workers) as pool:
        yield from pool.imap(_render_chunk, jobs)


def write_dataset(out: str, count: int, seed: int, workers: int = 1,
                  progress: Callable[[int], None] | None = None) -> Plan:
    """Write a complete synthetic CelebA under ``out`` (img_align_celeba/ and the four .txt lists).

    The lists are written last, each through a temporary file and a rename, so a folder with lists
    is always complete.
    """
    plan = make_plan(count, seed)
    img_dir = os.path.join(out, "img_align_celeba")
    os.makedirs(img_dir, exist_ok=True)
    labels = np.zeros((count, len(ATTRIBUTES)), dtype=np.int8)
    marks = np.zeros((count, 10), dtype=np.int64)
    for done in iter_render(plan, img_dir, workers=workers):
        for index, lab, lm in done:
            labels[index], marks[index] = lab, lm
        if progress:
            progress(len(done))

    names = [image_name(i) for i in range(count)]

    def write(name: str, lines: list[str]) -> None:
        atomic_write(os.path.join(out, name), lambda p: p.write_text("\n".join(lines) + "\n", newline="\n"))

    write("list_attr_celeba.txt", [str(count), " ".join(ATTRIBUTES)] +
          [n + " " + " ".join(f"{v:2d}" for v in row) for n, row in zip(names, labels)])
    write("list_eval_partition.txt", [f"{n} {p}" for n, p in zip(names, plan.partition)])
    write("list_landmarks_align_celeba.txt",
          [str(count), " ".join(LANDMARK_COLUMNS)] +
          [n + " " + " ".join(str(v) for v in row) for n, row in zip(names, marks)])
    write("identity_CelebA.txt", [f"{n} {plan.person_of[i] + 1}" for i, n in enumerate(names)])
    write(SYNTHETIC_MARK, [json.dumps({"generator": "disguise.data.synthetic", "count": count, "seed": seed,
                                       "faces": "drawn, not photos of real people"})])
    return plan


def _caption(names: list[str], width: int = 30, max_lines: int = 8) -> str:
    """``names`` joined by ", ", wrapped at ``width`` characters between names, never inside one."""
    nbsp = "\u00a0"  # textwrap breaks only at ASCII whitespace: this keeps "Wavy hair" whole
    text = ", ".join(n.replace(" ", nbsp) for n in names)
    lines = textwrap.wrap(text, width=width, max_lines=max_lines, placeholder=" ...",
                          break_long_words=False)
    return "\n".join(lines).replace(nbsp, " ")


def contact_sheet(root: str, count: int = 16, columns: int = 8) -> Image.Image:
    """One face of each of the first ``count`` people of a CelebA-format folder, captioned with the
    attributes drawn on it."""
    names, labels = read_attributes(os.path.join(root, "list_attr_celeba.txt"))
    picks = list(range(len(names)))
    id_path = os.path.join(root, "identity_CelebA.txt")
    if os.path.isfile(id_path):  # one face per person shows more variety
        seen, picks = set(), []
        with open(id_path) as f:
            for k, line in enumerate(f):
                pid = line.split()[1]
                if pid not in seen:
                    seen.add(pid)
                    picks.append(k)
    picks = picks[:count]
    count = len(picks)
    cell_w, cell_h, text_h = WIDTH, HEIGHT, 96
    rows = (count + columns - 1) // columns
    sheet = Image.new("RGB", (columns * cell_w, rows * (cell_h + text_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for k in range(count):
        x, y = (k % columns) * cell_w, (k // columns) * (cell_h + text_h)
        i = picks[k]
        with Image.open(os.path.join(root, "img_align_celeba", names[i])) as im:
            sheet.paste(im.convert("RGB"), (x, y))
        on = [pretty(a) for a, v in zip(ATTRIBUTES, labels[i]) if v > 0 and a not in NOT_DRAWN
              and a != "No_Beard"]
        if labels[i][ATTRIBUTES.index("No_Beard")] < 0:
            on.append("Beard")
        draw.multiline_text((x + 3, y + cell_h + 3), _caption(on), fill=(20, 20, 20), spacing=1)
    return sheet
