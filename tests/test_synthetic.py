"""The synthetic CelebA: determinism, landmarks, drawn attributes and CelebA-like rates."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from disguise.attributes import ATTRIBUTES, CELEBA_RATES, DRAWN
from disguise.data import synthetic as S
from disguise.data.celeba import open_celeba
from disguise.data.switched import CHANGED, PERSON_FIELDS, Contrast, switched_pair


def _digest(root) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_same_arguments_same_bytes_whatever_the_workers(tmp_path):
    S.write_dataset(str(tmp_path / "a"), 90, seed=3, workers=1)
    S.write_dataset(str(tmp_path / "b"), 90, seed=3, workers=2)
    S.write_dataset(str(tmp_path / "c"), 90, seed=4, workers=1)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_layout_matches_celeba(synthetic_root):
    lines = (synthetic_root / "list_attr_celeba.txt").read_text().splitlines()
    assert lines[0] == "600" and lines[1].split() == list(ATTRIBUTES)
    assert lines[2].startswith("000001.jpg ") and len(lines[2].split()) == 41
    lm = (synthetic_root / "list_landmarks_align_celeba.txt").read_text().splitlines()
    assert lm[1].split()[:2] == ["lefteye_x", "lefteye_y"]
    with Image.open(synthetic_root / "img_align_celeba" / "000001.jpg") as im:
        assert im.size == (178, 218) and im.mode == "RGB" and im.format == "JPEG"
    # Landmarks near CelebA's alignment targets (eyes at y=112, mouth at y~153).
    marks = open_celeba(synthetic_root).landmarks
    assert abs(np.median(marks[:, 1]) - 112) < 3 and abs(np.median(marks[:, 0]) - 71) < 3
    assert abs(np.median((marks[:, 7] + marks[:, 9]) / 2) - 151) < 4


def _face(index: int, **force):
    plan = S.make_plan(400, seed=11)
    person = plan.persons[plan.person_of[index]]
    lab, rng = S.item_labels(11, person, index)
    lab.update(force)
    img, lm = S.render(person, lab, rng)
    return np.asarray(img, dtype=np.float32), lm, lab


def test_landmarks_sit_on_drawn_pupils_and_mouth_corners():
    checked = 0
    for i in range(60):
        img, lm, lab = _face(i, Heavy_Makeup=False, Eyeglasses=False, Blurry=False,
                             Wearing_Lipstick=True, Mouth_Slightly_Open=False)
        lum = img.mean(axis=2)
        for (x, y) in lm[:2]:  # the darkest pixel near an eye landmark is its pupil
            xi, yi = int(round(x)), int(round(y))
            win = lum[yi - 4:yi + 5, xi - 4:xi + 5]
            dy, dx = np.unravel_index(np.argmin(win), win.shape)
            assert abs(dx - 4) <= 2 and abs(dy - 4) <= 2, (i, x, y)
        red = (img[..., 0] > 120) & (img[..., 1] < 70) & (img[..., 2] < 100)
        for (x, y), side in ((lm[3], -1), (lm[4], 1)):  # lipstick ends at the mouth corners
            yi = int(round(y))
            cols = np.flatnonzero(red[yi - 2:yi + 3].any(axis=0))
            cols = cols[np.abs(cols - x) < 12]
            assert len(cols), (i, "no lip colour near the corner")
            end = cols.min() if side < 0 else cols.max()
            assert abs(end - x) <= 4, (i, end, x)  # the lip tapers to a point there
        checked += 1
    assert checked == 60


def _region(lm, dx0, dy0, dx1, dy1):
    cx, cy = (lm[0] + lm[1]) / 2
    return slice(int(cy + dy0), int(cy + dy1)), slice(int(cx + dx0), int(cx + dx1))


BEARD = dict(No_Beard=False, Goatee=False, Mustache=False)
MOUSTACHE = dict(No_Beard=False, Goatee=False, Mustache=True)


@pytest.mark.parametrize("attr, on, region, test", [
    ("Eyeglasses", {"Eyeglasses": True}, (-30, -10, 30, 10), lambda a, b: a.mean() < b.mean() - 8),
    ("Wearing_Hat", {"Wearing_Hat": True}, (-30, -70, 30, -45),
     lambda a, b: np.abs(a - b).mean() > 25),
    ("No_Beard", BEARD, (-25, 30, 25, 55), lambda a, b: np.abs(a - b).mean() > 20),
    ("Wearing_Lipstick", {"Wearing_Lipstick": True}, (-10, 37, 10, 46),
     lambda a, b: (a[..., 0] - a[..., 1]).mean() > (b[..., 0] - b[..., 1]).mean() + 15),
    ("Mustache", MOUSTACHE, (-12, 31, 12, 37), lambda a, b: np.abs(a - b).mean() > 20),
    ("Rosy_Cheeks", {"Rosy_Cheeks": True}, (-30, 20, -14, 32),
     lambda a, b: (a[..., 0] - a[..., 2]).mean() > (b[..., 0] - b[..., 2]).mean() + 5),
    ("Blurry", {"Blurry": True}, (-40, -40, 40, 60),
     lambda a, b: np.abs(np.diff(a, axis=1)).mean() < 0.7 * np.abs(np.diff(b, axis=1)).mean()),
])
def test_drawn_attribute_changes_its_pixels(attr, on, region, test):
    # A plain baseline (no beard, hat, glasses, blur, shadow), then only `on` switched on.
    base = dict(Wearing_Hat=False, Eyeglasses=False, Blurry=False, No_Beard=True, Goatee=False,
                Mustache=False, Rosy_Cheeks=False, Wearing_Lipstick=False)
    base["5_o_Clock_Shadow"] = False
    for i in (5, 17, 33, 71):
        a, lm, _ = _face(i, **{**base, **on})
        b, _, _ = _face(i, **base)
        rows, cols = _region(lm, *region)
        assert test(a[rows, cols], b[rows, cols]), (attr, i)
        outside = np.ones(a.shape[:2], bool)
        outside[rows, cols] = False
        if attr not in ("Blurry", "No_Beard", "Wearing_Hat", "Eyeglasses"):
            # a local attribute leaves most of the picture alone
            assert (np.abs(a - b)[outside].max(axis=-1) > 0).mean() < 0.05, attr


def test_rates_of_5000_faces_near_celeba():
    plan = S.make_plan(5000, seed=0)
    labels = np.array([[S.item_labels(0, plan.persons[plan.person_of[i]], i)[0][a] for a in ATTRIBUTES]
                       for i in range(5000)])
    rates = labels.mean(axis=0)
    # Identity attributes (face shape, nose, ...) are drawn once per person, and 5,000 faces hold
    # about 1,000 people: their sampling error alone is about 1.4 points, hence 4.5 points here.
    off = {a: (round(float(r), 3), CELEBA_RATES[a]) for a, r in zip(ATTRIBUTES, rates)
           if abs(r - CELEBA_RATES[a]) > 0.045}
    assert not off, off
    # CelebA-like entanglement: men have the beards, women the make-up.
    col = {a: labels[:, i] for i, a in enumerate(ATTRIBUTES)}
    assert col["Goatee"][~col["Male"]].sum() == 0 and col["Goatee"][col["Male"]].mean() > 0.1
    assert col["Heavy_Makeup"][col["Male"]].mean() < 0.05 < 0.5 < col["Heavy_Makeup"][~col["Male"]].mean()
    assert np.corrcoef(col["Smiling"], col["Mouth_Slightly_Open"])[0, 1] > 0.2


def _man(hair: str) -> S.Person:
    """The first synthetic man (seed 11) whose natural hair is ``hair``."""
    return next(p for p in (S.sample_person(pid, 11) for pid in range(400))
                if p.hair == hair and p.male)


def _render(person: S.Person, index: int, drawn: S.Person | None = None, **force
            ) -> tuple[np.ndarray, np.ndarray]:
    """Image ``index`` of ``person`` with some labels forced, as float pixels, and its landmarks.

    ``drawn``, if given, is drawn instead, from ``person``'s labels and random stream (sampling
    the labels of another person would move that stream).
    """
    lab, rng = S.item_labels(11, person, index)
    lab.update(force)
    img, lm = S.render(drawn or person, lab, rng)
    return np.asarray(img, dtype=np.float32), lm


def _upright_to_image(lm: np.ndarray, x: float, y: float) -> tuple[float, float]:
    """Where point (x, y) of the upright frame lands in a posed image, found from its eye landmarks.

    The pose is a similarity transform, so the two eyes fix it.
    """
    src_l, src_r = complex(*S.LEFT_EYE), complex(*S.RIGHT_EYE)
    dst_l, dst_r = complex(*lm[0]), complex(*lm[1])
    a = (dst_r - dst_l) / (src_r - src_l)
    z = dst_l + a * (complex(x, y) - src_l)
    return z.real, z.imag


COLOUR_LABELS = ("Black_Hair", "Brown_Hair", "Blond_Hair", "Gray_Hair")
# A bald head keeps a patch of hair above each ear; nothing else may cover it.
BALD = dict(Bald=True, Sideburns=False, Wearing_Hat=False, Eyeglasses=False, Blurry=False,
            Wavy_Hair=False, Straight_Hair=False, Bangs=False, Receding_Hairline=False,
            **{c: False for c in COLOUR_LABELS})


@pytest.mark.parametrize("hair", ["black", "blond", "gray"])
def test_bald_side_hair_is_the_natural_colour(hair):
    person = _man(hair)
    img, lm = _render(person, 3, **BALD)
    nat = np.array(person.hair_rgb, dtype=np.float32)
    cx = (S.LEFT_EYE[0] + S.RIGHT_EYE[0]) / 2
    for s in (-1, 1):  # the middle of each side patch (x from fw - 4 to fw + 2, y 100 to 122)
        x, y = _upright_to_image(lm, cx + s * (person.face_w - 1), 108)
        win = img[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2]
        pix = np.median(win.reshape(-1, 3), axis=0)
        # The lighting scales all channels of a column alike: the pixel is the hair colour times a
        # gain near 1. A red patch (the old bug) is no multiple of black, blond or grey.
        gain = float(pix @ nat / (nat @ nat))
        assert 0.7 < gain < 1.35 and np.abs(pix - gain * nat).max() <= 4, (hair, s, pix, nat)


def _in_range(rgb, key: str) -> bool:
    """Whether ``rgb`` is a shade of natural hair category ``key``."""
    return all(lo <= v <= hi for v, lo, hi in zip(rgb, *S.HAIR_COLOURS[key]))


def test_hair_colour_follows_the_labels():
    rng = np.random.default_rng(0)
    none = {c: False for c in COLOUR_LABELS}
    for natural in ("black", "brown", "blond", "gray", "red"):
        person = _man(natural)
        # Bald: no colour label can be set, and what is left is the person's own hair.
        assert S.hair_colour(person, {**none, "Bald": True}, rng) == person.hair_rgb, natural
        # Not bald and no colour label: red, the person's own shade if they are a redhead.
        red = S.hair_colour(person, {**none, "Bald": False}, rng)
        assert _in_range(red, "red") and (natural != "red" or red == person.hair_rgb), natural
        for label, key in S.HAIR_LABELS:
            rgb = S.hair_colour(person, {**none, label: True, "Bald": False}, rng)
            own = key != natural or rgb == person.hair_rgb
            assert _in_range(rgb, key) and own, (natural, label)


# How each drawn attribute is switched: identity attributes are drawn from the person, so the
# person changes with the label (disguise.data.switched's map); some labels only show with others.
SHAPED = {"Chubby", "Oval_Face", "Pale_Skin"}  # baked into face size and skin: see the next test
NEEDS = {"Goatee": {"No_Beard": False}, "Mustache": {"No_Beard": False}}


@pytest.mark.parametrize("long_hair", [False, True])
def test_each_drawn_attribute_changes_pixels_and_attractive_none(long_hair):
    # A redhead: with no colour label their own hair is drawn and nothing is taken from the random
    # stream for it, so a switch cannot change pixels just by moving the stream. Young, so that
    # bangs do not show merely by hiding forehead lines.
    person = next(p for p in (S.sample_person(pid, 11) for pid in range(400))
                  if p.hair == "red" and p.long_hair == long_hair)
    person = dataclasses.replace(person, young=True)
    plain = {a: False for a in ATTRIBUTES} | {"No_Beard": True}
    for attr in [a for a in DRAWN if a not in SHAPED]:
        pics = []
        for value in (False, True):
            who = (dataclasses.replace(person, **{PERSON_FIELDS[attr]: value}) if attr in PERSON_FIELDS
                   else person)
            img, lm = _render(person, 5, who, **{**plain, **NEEDS.get(attr, {}), attr: value})
            pics.append(img)
        # A hair colour other than the natural one is drawn from the stream, which moves the shirt
        # colour drawn after it: look above the shirt only.
        rows = slice(0, int(lm[:2, 1].mean()) + 20) if attr in COLOUR_LABELS else slice(None)
        changed = (np.abs(pics[1] - pics[0])[rows].max(axis=-1) > 8).sum()
        assert changed >= 10, (attr, changed)
    for force in (plain, {}):  # a plain face and one with its own labels: not a pixel moves
        a, _ = _render(person, 5, **{**force, "Attractive": False})
        b, _ = _render(person, 5, **{**force, "Attractive": True})
        assert np.array_equal(a, b)


def test_chubby_oval_and_pale_shape_the_person():
    # These are drawn through the face's size and the skin colour that sample_person gives them.
    people = [S.sample_person(pid, 11) for pid in range(600)]
    for oval in (False, True):
        same = [p for p in people if p.oval == oval]
        assert min(p.face_w for p in same if p.chubby) > max(p.face_w for p in same if not p.chubby)
    assert min(p.face_h for p in people if p.oval) > max(p.face_h for p in people if not p.oval)
    pale = np.array([p.skin for p in people if p.pale])
    other = np.array([p.skin for p in people if not p.pale])
    assert len(pale) and (pale.min(axis=0) > other.max(axis=0)).all()


def test_cli_refuses_to_overwrite_and_bad_counts(tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    r = subprocess.run([sys.executable, "-m", "train.synthetic", "--out", str(tmp_path),
                        "--count", "5"], capture_output=True, text=True)
    assert r.returncode == 2 and "is not empty" in r.stderr
    assert (tmp_path / "keep.txt").read_text() == "precious"
    r = subprocess.run([sys.executable, "-m", "train.synthetic", "--out", str(tmp_path / "n"),
                        "--count", "0"], capture_output=True, text=True)
    assert r.returncode == 2 and "--count must be at least 1" in r.stderr
    r = subprocess.run([sys.executable, "-m", "train.synthetic", "--out", str(tmp_path / "ok"),
                        "--count", "12", "--seed", "1", "--workers", "1", "--sheet",
                        str(tmp_path / "sheet.png")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(open_celeba(tmp_path / "ok")) == 12
    # One cell (face and caption) per person, at most 16, in rows of 8.
    people = len({line.split()[1] for line in (tmp_path / "ok" / "identity_CelebA.txt").open()})
    rows = (min(people, 16) + 7) // 8
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.size == (8 * 178, rows * (218 + 96))
        assert len(sheet.getcolors(1 << 24)) > 1000  # faces, not a blank page


def test_a_switched_pair_is_the_image_with_one_attribute_changed():
    for attr in ("Eyeglasses", "Big_Nose", "Chubby"):
        for k in range(6):
            on, off = (np.asarray(im, np.float32) for im in switched_pair(11, k, attr))
            assert Contrast.between(on, off).pixels >= 10, (attr, k)
            # The side that the image already has is the image itself, as the data set draws it.
            person = S.sample_person(k, 11)
            labels, rng = S.item_labels(11, person, k)
            if attr in PERSON_FIELDS:
                labels[attr] = getattr(person, PERSON_FIELDS[attr])
            own = np.asarray(S.render(person, labels, rng)[0], np.float32)
            assert np.array_equal(own, on if labels[attr] else off), (attr, k)
            if attr == "Eyeglasses":  # glasses leave the mouth and chin alone
                assert np.array_equal(on[160:], off[160:]), k
    with pytest.raises(ValueError, match="Attractive is not drawn"):
        switched_pair(11, 0, "Attractive")


def test_contrast_counts_the_pixels_a_switch_moves():
    a = np.zeros((4, 5, 3), np.uint8)
    b = a.copy()
    b[0, 0] = (0, CHANGED + 1, 0)  # one channel over the line counts the pixel
    b[1, 1] = CHANGED  # at the line: not counted, but the largest change sees it
    b[2, 2, 2] = 200
    assert Contrast.between(a, b) == Contrast(largest=200.0, pixels=2)
    assert Contrast.between(a, a) == Contrast(largest=0.0, pixels=0)
