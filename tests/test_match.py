"""Matching a sighting against a gallery (disguise.identity.match, train.match) with the bundled weights."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disguise.data.synthetic import item_labels, make_plan, render
from disguise.identity.match import MAX_SUSPECTS, NO_FACE, Matcher, match_sheet
from disguise.identity.recognisers import DRAWN

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "weights"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A temporary copy of the bundled weights folder: the VAE, its bank, the identity model and
    the attribute classifier that reads disguises (the chooser: the recipe's judge is not bundled)."""
    dst = tmp_path_factory.mktemp("weights") / "weights"
    shutil.copytree(WEIGHTS, dst, ignore=shutil.ignore_patterns("classic", "*.png", "*.onnx", "*.md"))
    assert (dst / "identity_verification.json").is_file() and (dst / "chooser").is_dir()
    return dst


@pytest.fixture(scope="module")
def matcher(weights) -> Matcher:
    return Matcher.from_folder(weights)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A sighting (a test person re-drawn with glasses) and a gallery of six people without
    glasses (first image each), the true one named ``p0``; written as PNGs too."""
    plan = make_plan(3000, seed=3)
    test = np.flatnonzero(plan.partition == 2)
    people = list(dict.fromkeys(plan.person_of[test].tolist()))[:6]
    first = [int(test[plan.person_of[test] == pid][0]) for pid in people]

    def draw(index: int, glasses: bool) -> Image.Image:
        person = plan.persons[plan.person_of[index]]
        lab, rng = item_labels(plan.seed, person, index)
        lab["Eyeglasses"] = glasses
        return render(person, lab, rng)[0]

    sighting = draw(first[0], True)
    gallery = [draw(i, False) for i in first]
    folder = tmp_path_factory.mktemp("gallery")
    sighting.save(folder.parent / "sighting.png")
    for k, img in enumerate(gallery):
        img.save(folder / f"p{k}.png")
    return sighting, gallery, folder


def test_planted_suspect_ranks_first(matcher, planted):
    sighting, gallery, _ = planted
    order = [3, 1, 0, 5, 2, 4]  # the true suspect (p0) not first in the gallery
    result = matcher.match(np.asarray(sighting), [gallery[k] for k in order], names=[f"p{k}" for k in order], kind=DRAWN)
    assert [s.name for s in result.suspects][0] == "p0"
    best = result.best
    assert best.recognised and best.similarity >= result.threshold
    assert "Eyeglasses" in best.differences
    assert best.alphas["Eyeglasses"] == 3.0  # the sighting has them: pushed on
    assert "+glasses" in best.difference_labels
    sims = [s.similarity for s in result.suspects]
    assert sims == sorted(sims, reverse=True) and len(sims) == 6
    for s in result.suspects:
        assert s.disguised.shape == (256, 256, 3) and s.disguised.dtype == np.uint8
        assert s.face.shape == (256, 256, 3)
        assert s.recognised == (s.similarity >= result.threshold)
    assert not np.array_equal(best.disguised, best.face)  # the glasses were drawn on
    assert result.matched and result.summary.startswith("best match: p0")
    assert result.best_similarity == best.similarity
    assert result.sighting.shape == (256, 256, 3)
    assert "Eyeglasses" in result.sighting_attributes
    d = result.to_dict()
    json.dumps(d)
    assert d["suspects"][0]["name"] == "p0" and d["matched"] is True


def test_no_suspect_matches(matcher, planted):
    sighting, gallery, _ = planted
    result = matcher.match(sighting, gallery[1:], kind=DRAWN)
    assert not result.matched
    assert result.summary.startswith("no suspect matches")
    assert sorted(s.name for s in result.suspects) == [f"suspect {k}" for k in range(1, 6)]
    assert not any(s.recognised for s in result.suspects)


def test_names_from_paths_and_skipped_files(matcher, planted, tmp_path):
    _, _, folder = planted
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    files = sorted(folder.glob("*.png")) + [bad]
    result = matcher.match(folder.parent / "sighting.png", files, kind=DRAWN)
    assert result.best.name == "p0"
    assert len(result.suspects) == 6
    assert len(result.skipped) == 1 and result.skipped[0].startswith("notes: ")
    assert "skipped 1 unreadable file" in result.summary


def test_empty_gallery(matcher, planted):
    with pytest.raises(ValueError, match="the gallery is empty"):
        matcher.match(planted[0], [], kind=DRAWN)


def test_gallery_without_images(matcher, planted):
    with pytest.raises(ValueError, match="no file in the gallery is an image"):
        matcher.match(planted[0], [b"not an image", b"nor this"], names=["a", "b"], kind=DRAWN)


def test_too_many_suspects(matcher, planted):
    with pytest.raises(ValueError, match=f"the limit is {MAX_SUSPECTS} suspects"):
        matcher.match(planted[0], [b"x"] * (MAX_SUSPECTS + 1), kind=DRAWN)
    with pytest.raises(ValueError, match="the limit is 3 suspects"):
        matcher.match(planted[0], planted[1][:4], limit=3, kind=DRAWN)


def test_sighting_without_a_face(matcher, planted):
    blank = np.full((240, 320, 3), 128, np.uint8)
    with pytest.raises(ValueError, match=NO_FACE):
        matcher.match(blank, planted[1], kind=DRAWN)
    with pytest.raises(ValueError, match="the sighting: this file is not an image"):
        matcher.match(b"not an image", planted[1], kind=DRAWN)


def test_names_must_fit(matcher, planted):
    with pytest.raises(ValueError, match="2 names for 6 gallery images"):
        matcher.match(planted[0], planted[1], names=["a", "b"], kind=DRAWN)


def test_sheet(matcher, planted):
    result = matcher.match(planted[0], planted[1], kind=DRAWN)
    sheet = match_sheet(result, top=5, tile=96)
    assert sheet.mode == "RGB" and sheet.height > 5 * 96


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "train.match", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_end_to_end(weights, planted, tmp_path):
    _, _, folder = planted
    out, js = tmp_path / "report.png", tmp_path / "report.json"
    r = _cli("--drawn", "--sighting", str(folder.parent / "sighting.png"), "--gallery", str(folder),
             "--weights", str(weights), "--out", str(out), "--json", str(js))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[1] == "p0" and "recognised" in lines[0] and "+glasses" in lines[0]
    assert "best match: p0" in r.stdout
    with Image.open(out) as im:
        assert im.width > 3 * 160 and im.height > 5 * 160
    data = json.loads(js.read_text())
    assert data["suspects"][0]["name"] == "p0" and "Eyeglasses" in data["suspects"][0]["differences"]
    assert len(data["suspects"]) == 6 and data["matched"]


def test_cli_bad_gallery(weights, planted, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.txt").write_text("hello")
    r = _cli("--drawn", "--sighting", str(planted[2].parent / "sighting.png"), "--gallery", str(bad),
             "--weights", str(weights), "--out", str(tmp_path / "r.png"))
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: no file in the gallery is an image")
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.png").exists()
    r = _cli("--drawn", "--sighting", str(planted[2].parent / "sighting.png"), "--gallery", str(tmp_path / "none"),
             "--weights", str(weights))
    assert r.returncode == 2 and "no such file or folder" in r.stderr
