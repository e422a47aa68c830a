"""The editing command line (``python -m train.edit``) on the bundled weights and a real photo:
the edited photo at full resolution, the sweep GIF, the photo and model views of the exports, and
each bad option answered with a message (exit 2, no traceback, no file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "examples" / "astronaut.jpg"  # 512 x 512, one frontal face
ALIGNED = ROOT / "examples" / "face_1.jpg"  # 178 x 218: taken as aligned
GAP, HEAD, LABEL = 6, 54, 22  # disguise.photo.exports' layout


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train.edit", *args, "--model", "weights"], cwd=ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
                          timeout=300)


def refused(r: subprocess.CompletedProcess, message: str) -> bool:
    return r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def policy():
    from disguise.sliders.editor import Editor

    return Editor.from_pretrained(ROOT / "weights").policy


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory) -> Path:
    """The photo upscaled to 1600 px, as a JPEG: larger than the 1024 px working size."""
    path = tmp_path_factory.mktemp("big") / "big.jpg"
    Image.open(PHOTO).convert("RGB").resize((1600, 1600), Image.Resampling.BICUBIC).save(path, quality=92)
    return path


def rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("which", ["photo", "big"])
def test_photo_is_the_whole_photo_at_full_resolution_edited_only_on_the_face(which, big_photo, policy, tmp_path):
    from disguise.photo.alignment import prepare_face
    from disguise.photo.loading import load_image

    src = PHOTO if which == "photo" else big_photo
    out = tmp_path / "edited.png"
    r = cli("photo", "--image", str(src), "--set", "Eyeglasses=3", "--set", "Wearing_Hat=2", "--lock", "Male",
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    full = np.asarray(load_image(src, work_side=None))
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == Image.open(src).size == (full.shape[1], full.shape[0])
        assert json.loads(im.text["edits"]) == {"Eyeglasses": 3.0, "Wearing_Hat": 2.0}
        assert json.loads(im.text["locked"]) == ["Male"] and im.text["Software"] == "disguise"
    edited = rgb(out)
    # Where the face is in the full-size photo: the pixels that can map into the model's crop.
    x0, y0, x1, y1 = prepare_face(src, policy).photo.at_resolution(full).footprint(policy)
    h, w = full.shape[:2]
    assert (x1 - x0) * (y1 - y0) < 0.25 * w * h  # the face is a small part of the photo
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    corner = max(8, w // 10)
    assert outside[:corner, :corner].all() and outside[-corner:, -corner:].all()
    assert (edited[outside] == full[outside]).all()  # bit-exact, corners included
    change = np.abs(edited[y0:y1, x0:x1].astype(int) - full[y0:y1, x0:x1]).max(axis=2)
    assert (change > 10).mean() > 0.1, (change > 10).mean()  # glasses and a hat: much of the face


def test_photo_with_every_alpha_zero_is_the_photo(big_photo, tmp_path):
    from disguise.photo.loading import load_image

    out = tmp_path / "same.png"
    r = cli("photo", "--image", str(big_photo), "--set", "Eyeglasses=0", "--out", str(out))
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(rgb(out), np.asarray(load_image(big_photo, work_side=None)))
    assert json.loads(Image.open(out).text["edits"]) == {"Eyeglasses": 0.0}


def test_gif_sweeps_there_and_back(tmp_path):
    out = tmp_path / "sweep.gif"
    r = cli("gif", "--image", str(PHOTO), "--attribute", "Wearing_Hat", "--peak", "4", "--frames", "9",
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    with Image.open(out) as im:
        assert im.format == "GIF" and im.n_frames == 9 and im.size == (256, 256)
        assert json.loads(im.info["comment"])["attribute"] == "Wearing_Hat"
        frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
    assert len(frames) == 9
    np.testing.assert_array_equal(frames[0], frames[-1])  # alpha 0 at both ends
    face = slice(0, 256 - LABEL)  # above the caption, which names the alpha
    assert np.abs(frames[4][face].astype(int) - frames[0][face]).mean() > 2  # the hat at its peak


@pytest.mark.parametrize("args, message", [
    (["--frames", "0"], "an animation needs 3 to 64 frames, got 0"),
    (["--peak", "nan"], "peak alpha must be finite"),
])
def test_gif_refuses_a_bad_sweep(args, message, tmp_path):
    out = tmp_path / "sweep.gif"
    r = cli("gif", "--image", str(PHOTO), "--attribute", "Wearing_Hat", *args, "--out", str(out))
    assert refused(r, message), r.stderr
    assert not out.exists()


def test_strip_in_the_photo_and_the_model_view(policy, tmp_path):
    from disguise.photo.alignment import prepare_face
    from disguise.photo.exports import tile
    from disguise.photo.view import PhotoTiles

    prep = prepare_face(PHOTO, policy)
    expected_input = {"photo": PhotoTiles(prep.photo, policy, prep.crop).original(),
                      "model": np.asarray(tile(prep.crop, 160))}
    for view, size in (("photo", 256), ("model", 160)):
        out = tmp_path / f"{view}.png"
        r = cli("strip", "--image", str(PHOTO), "--alphas", "0,2", "--view", view, "--out", str(out))
        assert r.returncode == 0, r.stderr
        img = rgb(out)
        assert img.shape[:2] == (HEAD + size + LABEL + 2 * GAP, GAP + 3 * (size + GAP)), (view, img.shape)
        # the "input" tile: the photo's face region, upright, or the model's input, upscaled
        np.testing.assert_array_equal(img[HEAD:HEAD + size, GAP:GAP + size], expected_input[view])
    r = cli("strip", "--image", str(PHOTO), "--alphas", "0,2", "--out", str(tmp_path / "default.png"))
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(rgb(tmp_path / "default.png"), rgb(tmp_path / "photo.png"))
    r = cli("strip", "--image", str(PHOTO), "--view", "sketch", "--out", str(tmp_path / "x.png"))
    assert refused(r, "argument --view: invalid choice: 'sketch'"), r.stderr
    assert not (tmp_path / "x.png").exists()


def test_grid_in_the_photo_view_takes_an_aligned_face_too(policy, tmp_path):
    from disguise.photo.alignment import prepare_face
    from disguise.photo.view import PhotoTiles

    out = tmp_path / "grid.png"
    r = cli("grid", "--image", str(PHOTO), str(ALIGNED), "--attribute", "Male", "--alphas", "0,3",
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    img, size = rgb(out), 256
    assert img.shape[:2] == (HEAD + 2 * (size + LABEL + GAP) + GAP, GAP + 3 * (size + GAP))
    for row, path in enumerate((PHOTO, ALIGNED)):
        prep = prepare_face(path, policy)
        y = HEAD + row * (size + LABEL + GAP)
        np.testing.assert_array_equal(img[y:y + size, GAP:GAP + size],
                                      PhotoTiles(prep.photo, policy, prep.crop).original())
    assert prepare_face(ALIGNED, policy).method == "as given"


@pytest.mark.parametrize("args, message", [
    (["--set", "Sunglasses=1"], "argument --set: unknown attribute 'Sunglasses'"),
    (["--set", "Eyeglasses"], "argument --set: expected NAME=ALPHA, e.g. Eyeglasses=3, got 'Eyeglasses'"),
    (["--set", "Eyeglasses=inf"], "argument --set: alpha for Eyeglasses must be finite"),
    (["--set", "Eyeglasses=1", "--set", "Eyeglasses=2"], "--set Eyeglasses is given more than once"),
    ([], "photo needs at least one edit"),
])
def test_photo_refuses_a_bad_edit(args, message, tmp_path):
    out = tmp_path / "edited.png"
    r = cli("photo", "--image", str(PHOTO), *args, "--out", str(out))
    assert refused(r, message), r.stderr
    assert not out.exists()
