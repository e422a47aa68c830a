"""The synthetic CelebA: determinism, landmarks, drawn attributes and CelebA-like rates."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from disguise import synthetic as S
from disguise.attributes import ATTRIBUTES, CELEBA_RATES, DRAWN, NOT_DRAWN
from disguise.data import open_celeba


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
    from PIL import Image

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


def test_drawn_and_not_drawn_lists():
    assert len(DRAWN) >= 28 and NOT_DRAWN == {"Attractive"}
    assert set(DRAWN) | NOT_DRAWN == set(ATTRIBUTES)


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
    assert len(open_celeba(tmp_path / "ok")) == 12 and (tmp_path / "sheet.png").stat().st_size > 1000
