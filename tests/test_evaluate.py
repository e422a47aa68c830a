"""Evaluation: SSIM against an independent implementation, and the whole report end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from disguise.attributes import ATTRIBUTES, DRAWN
from disguise.evaluate import ssim


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    a = rng.random((2, 3, 40, 40)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    mine = ssim(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    for k in range(2):
        ref = structural_similarity(a[k].transpose(1, 2, 0), b[k].transpose(1, 2, 0), channel_axis=2,
                                    data_range=1.0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False)
        assert mine[k] == pytest.approx(ref, abs=2e-3)
    assert float(ssim(torch.from_numpy(a), torch.from_numpy(a))[0]) == pytest.approx(1.0, abs=1e-5)


def test_evaluation_runs_end_to_end(tiny_run, synthetic_root, tmp_path):
    r = subprocess.run([sys.executable, "-m", "train.evaluate", "--model", str(tiny_run), "--data",
                        str(synthetic_root), "--faces", "20", "--alphas", "1,3",
                        "--classifier-epochs", "12", "--out", str(tmp_path), "--quiet"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((tmp_path / "evaluation.json").read_text())
    rec = report["reconstruction"]
    assert 0 < rec["mse"] < 0.1 and rec["psnr"] > 10 and 0 < rec["ssim"] <= 1
    assert set(report["classifier"]) == set(ATTRIBUTES)
    # The classifier beats chance on the drawn attributes (mean balanced accuracy > 0.5).
    bal = [report["classifier"][a]["balanced_accuracy"] for a in DRAWN]
    assert np.nanmean(bal) > 0.6, np.nanmean(bal)
    adds = [e for e in report["edits"] if e["direction"] == "add"]
    removes = [e for e in report["edits"] if e["direction"] == "remove"]
    assert {e["attribute"] for e in adds} <= set(DRAWN) and len(adds) >= 30
    assert all(e["alphas"] == [1.0, 3.0] for e in adds) and all(e["alphas"] == [-1.0, -3.0] for e in removes)
    assert all(0 <= s <= 1 for e in adds for s in e["success"] + e["preserved"])
    md = (tmp_path / "evaluation.md").read_text()
    assert "## Edit success: add" in md and "| Eyeglasses |" in md and "## Quality bar" in md
    assert (tmp_path / "attribute_classifier.safetensors").is_file()


def test_cli_bad_input(tiny_run, synthetic_root, tmp_path, astronaut):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)

    r = cli("train.evaluate", "--model", str(tiny_run), "--data", str(synthetic_root), "--alphas", "")
    assert r.returncode == 2 and "--alphas must be positive numbers" in r.stderr
    r = cli("train.evaluate", "--model", str(tiny_run), "--data", str(synthetic_root), "--attributes",
            "Beard")
    assert r.returncode == 2 and "unknown attribute 'Beard'" in r.stderr
    r = cli("train.vectors", "--model", str(tiny_run), "--data", str(synthetic_root))
    assert r.returncode == 2 and "exists; pass --force" in r.stderr
    r = cli("train.vectors", "--model", str(tmp_path), "--data", str(synthetic_root))
    assert r.returncode == 2 and "config.json: file not found" in r.stderr
    # The editing command line: a picture on a real photo, and each bad input.
    out = tmp_path / "strip.png"
    r = cli("train.edit", "strip", "--model", str(tiny_run), "--image", str(astronaut),
            "--attribute", "Eyeglasses", "--alphas=-4,-3,-2,-1,0", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 1000
    r = cli("train.edit", "strip", "--model", str(tiny_run), "--image", str(astronaut), "--out", str(out))
    assert r.returncode == 2 and "exists; pass --force" in r.stderr
    (tmp_path / "notes.txt").write_text("not a photo")
    for args, message in (
        (["--image", str(tmp_path / "notes.txt")], "not an image we can read"),
        (["--image", str(astronaut), "--attribute", "Sunglasses"], "unknown attribute 'Sunglasses'"),
        (["--image", str(astronaut), "--alphas", ","], "the alpha list is empty"),
        (["--image", str(astronaut), "--alphas", "1,nan"], "alpha must be finite"),
    ):
        r = cli("train.edit", "strip", "--model", str(tiny_run), "--out", str(tmp_path / "x.png"), *args)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert not (tmp_path / "x.png").exists()
    r = cli("train.edit", "sheet", "--model", str(tiny_run), "--image", str(astronaut), "--lock", "Male",
            "--out", str(tmp_path / "sheet.png"))
    assert r.returncode == 0 and (tmp_path / "sheet.png").is_file()


def test_judge_records_its_preprocessing_and_judges_other_sizes(synthetic_root, tmp_path):
    """A saved judge keeps the crop and size it learned on, refuses a model cropped otherwise
    (or a file without that record), and judges a bigger model's decodes at its own size."""
    import torch.nn.functional as F
    from safetensors.torch import save_file

    from disguise.data import Preprocess, load_split, open_celeba, to_tensor
    from disguise.evaluate import (judge_policy, load_classifier, predict, save_classifier,
                                   train_classifier)

    policy = Preprocess(size=32)
    assert judge_policy(Preprocess(size=128)) == Preprocess(size=64)
    assert judge_policy(policy) == policy
    data = open_celeba(synthetic_root)
    x, y, _ = load_split(data, "train", policy, progress=False)
    clf = train_classifier(x, y, epochs=2, progress=False, policy=policy)
    path = tmp_path / "judge.safetensors"
    save_classifier(clf, path)
    loaded = load_classifier(path, torch.device("cpu"), policy)
    assert loaded.policy == policy
    faces = to_tensor(np.asarray(x[:64]))
    assert torch.equal(predict(loaded, faces), predict(clf, faces))
    # The same faces at 64 px (as a 64 px model would decode them) are judged at 32 px: nearly
    # the same calls as on the 32 px originals.
    big = F.interpolate(faces, size=(64, 64), mode="bilinear", align_corners=False)
    agree = (predict(loaded, big) == predict(loaded, faces)).float().mean().item()
    assert agree > 0.95, agree
    with pytest.raises(ValueError, match="was trained on faces preprocessed as"):
        load_classifier(path, torch.device("cpu"), Preprocess(crop=(9, 40, 169, 200), size=32))
    bare = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in clf.state_dict().items()}, str(bare))
    with pytest.raises(ValueError, match="no preprocessing record"):
        load_classifier(bare, torch.device("cpu"))
    with pytest.raises(ValueError, match="faces are 32 px but the policy says 64"):
        train_classifier(x[:8], y[:8], epochs=1, progress=False, policy=Preprocess(size=64))
