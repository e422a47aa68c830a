"""The page's photo-view maths (web/photo_view.mjs) against the Python they port, without a
browser: fixtures written here (many random edits, photo sizes and similarity transforms), checked
by Node's own test runner (web/tests/photo_view.test.mjs): at most 1 level apart."""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from disguise import frame
from disguise.attributes import ATTRIBUTES
from disguise.photo.view import FEATHER, FULL, NEGLIGIBLE, PhotoCanvas, PhotoFrame
from disguise.preprocess import Preprocess
from disguise.sliders.bank import AttributeBank, AttributeRecord
from disguise.sliders.editor import Editor
from disguise.sliders.removal_rows import RemovalRows
from tests.tools import missing

ROOT = Path(__file__).resolve().parents[1]
NODE_TEST = ROOT / "web" / "tests" / "photo_view.test.mjs"


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _smooth(rng: np.random.Generator, h: int, w: int, lo: float = 0, hi: float = 255) -> np.ndarray:
    """A smooth random picture (as photos and decodes are), uint8 (h, w, 3)."""
    import cv2

    coarse = rng.uniform(lo, hi, (int(rng.integers(2, 7)), int(rng.integers(2, 7)), 3)).astype(np.float32)
    return np.clip(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).round().astype(np.uint8)


def photo_case(rng: np.random.Generator) -> dict:
    """A photo of random size under a random similarity into CelebA's frame, a random edit of a
    decode of random size, and what PhotoCanvas.apply makes of it."""
    size = int(rng.choice([16, 32, 64]))
    policy = Preprocess(size=size)
    w, h = int(rng.integers(40, 360)), int(rng.integers(40, 360))
    photo = _smooth(rng, h, w)
    photo = np.clip(photo.astype(int) + rng.integers(-6, 7, photo.shape), 0, 255).astype(np.uint8)  # grain
    scale = rng.uniform(0.3, 3.0) * frame.WIDTH / max(w, h)
    angle = rng.uniform(-0.6, 0.6)
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    centre = np.array([w, h]) * rng.uniform(0.2, 0.8, 2)
    to_frame = np.hstack([rot, (np.array(frame.EYE_MID) - rot @ centre)[:, None]])
    canvas = PhotoCanvas(PhotoFrame(photo, to_frame), policy)
    recon = _smooth(rng, size, size)
    change = _smooth(rng, size, size, -80, 80).astype(int) - 0
    change[rng.random((size, size)) < 0.3] = 0  # patches the edit leaves alone
    edited = np.clip(recon.astype(int) + change, 0, 255).astype(np.uint8)
    expected = canvas.apply(recon, edited)
    return {"kind": "photo", "size": size, "base": _b64(photo), "recon": _b64(recon), "edited": _b64(edited),
            "expected": _b64(expected), "unchanged": bool(canvas.empty or (expected == photo).all()),
            "photo": {"width": w, "height": h, "box": [int(v) for v in canvas.box],
                      "warp": [float(v) for v in canvas.warp_matrix.reshape(-1)],
                      "negligible": NEGLIGIBLE, "full": FULL, "feather": FEATHER}}


class _Codes(torch.nn.Module):
    """All an ``Editor`` needs of a model to edit codes: their size."""

    def __init__(self, z_dim: int) -> None:
        super().__init__()
        self.config = type("C", (), {"z_dim": z_dim})()


def code_case(rng: np.random.Generator, removal: bool) -> dict:
    """An edit's code as the server computes it (``Editor.edit``: z plus the sum of alpha v, under a
    few locks), with the page's two banks (``Editor.conditioned_bank``); ``removal``: some sliders
    have rows of their own below 0."""
    z_dim = int(rng.choice([16, 200]))
    z = torch.from_numpy(rng.normal(size=z_dim).astype(np.float32))
    unit = lambda shape: torch.nn.functional.normalize(  # noqa: E731
        torch.from_numpy(rng.normal(size=shape).astype(np.float32)), dim=-1)
    rows = unit((40, z_dim))
    records = [AttributeRecord(a, 0, 0, True, 1.0, 0) for a in ATTRIBUTES]
    taken = [ATTRIBUTES[i] for i in rng.choice(40, size=12, replace=False)] if removal else []
    below = RemovalRows({a: 2 * unit(z_dim) for a in taken}) if taken else None
    editor = Editor(_Codes(z_dim), AttributeBank(tuple(ATTRIBUTES), rows, records, removal_rows=below))
    alphas = np.where(rng.random(40) < 0.6, 0.0, rng.uniform(-4, 4, 40)).astype(np.float32)
    locked = [ATTRIBUTES[i] for i in rng.choice(40, size=3, replace=False)]
    expected = editor.edit(z, dict(zip(ATTRIBUTES, alphas.tolist())), locked)
    case = {"kind": "code", "zDim": z_dim, "z": _b64(z.numpy()), "bank": _b64(editor.conditioned_bank(locked).numpy()),
            "alphas": alphas.tolist(), "expected": _b64(expected.numpy())}
    if removal:
        case["removal"] = _b64(editor.conditioned_bank(locked, removing=True).numpy())
    return case


def write_fixtures(folder: Path, photos: int = 48, codes: int = 8, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for k in range(photos):
        (folder / f"photo-{k:03d}.json").write_text(json.dumps(photo_case(rng)))
    for k in range(codes):
        (folder / f"code-{k:03d}.json").write_text(json.dumps(code_case(rng, removal=k % 2 == 1)))


def test_the_page_maths_match_the_python_they_port(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip(missing("Node.js", "apt-get install -y nodejs"))
    write_fixtures(tmp_path)
    r = subprocess.run([node, "--test", str(NODE_TEST)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PHOTO_VIEW_FIXTURES": str(tmp_path)})
    print(r.stdout[-4000:])
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "# pass 57" in r.stdout and "# fail 0" in r.stdout  # 48 photos, 8 codes and the count
