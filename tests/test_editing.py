"""The editing engine and the exports: the edit equation, locking, batching, pictures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from disguise.data.cache import load_split
from disguise.data.celeba import open_celeba
from disguise.files import write_png
from disguise.photo.exports import DISGUISES, TILE, alpha_grid, alpha_strip, disguise_sheet
from disguise.sliders.bank import SEED_BANK_NAME, AttributeBank
from disguise.sliders.editor import Editor, condition
from disguise.vae.model import VAE


@pytest.fixture(scope="module")
def editor(tiny_run) -> Editor:
    return Editor.from_pretrained(tiny_run)


@pytest.fixture(scope="module")
def faces(editor, synthetic_root) -> np.ndarray:
    images, _, _ = load_split(open_celeba(synthetic_root), "test", editor.policy, progress=False)
    return np.array(images[:4])


def test_zero_alphas_give_the_reconstruction(editor, faces):
    """Bit for bit, on any CPU: every picture is decoded at one shape, so a face decoded among
    others and alone are the same bytes."""
    z = editor.encode(faces)
    recon = editor.decode(z)
    with torch.no_grad():
        codes = editor.model.encode(editor.to_input(faces))[0]
        direct = torch.cat([editor.model.decode(c[None]) for c in codes])
    np.testing.assert_array_equal(recon, (direct * 255).round().clamp(0, 255).byte()
                                  .permute(0, 2, 3, 1).numpy())
    for k in range(len(faces)):
        np.testing.assert_array_equal(editor.decode(z[k:k + 1])[0], recon[k])
    np.testing.assert_allclose(editor.decode_batch(z).astype(int), recon.astype(int), atol=1)
    zeros = {name: 0.0 for name in editor.bank.names}
    np.testing.assert_array_equal(editor.render(z[0], zeros), recon[0])
    np.testing.assert_array_equal(editor.render(z[0], {}), recon[0])


def test_edit_is_z_plus_sum_of_alpha_v(editor, faces):
    z = editor.encode(faces)[0]
    v = editor.bank.vectors
    want = z + 2.0 * v[15] - 1.5 * v[20]  # Eyeglasses, Male
    got = editor.edit(z, {"Eyeglasses": 2.0, "Male": -1.5})
    torch.testing.assert_close(got, want)
    np.testing.assert_array_equal(editor.render(z, {"Eyeglasses": 2.0, "Male": -1.5}),
                                  editor.decode(want)[0])


def test_locking_makes_edit_vectors_orthogonal_to_locked_ones(editor):
    v = editor.bank.vectors
    males, young = v[20], v[39]
    d = editor.direction({"Goatee": 1.0}, locked=["Male"])
    assert abs(float(d @ males)) < 1e-5 and float(d.norm()) == pytest.approx(1.0, abs=1e-5)
    d2 = editor.direction({"Goatee": 2.0, "Mustache": 1.0}, locked=["Male", "Young"])
    assert abs(float(d2 @ males)) < 1e-4 and abs(float(d2 @ young)) < 1e-4
    # Unlocked, the goatee vector does lean on the male one in this entangled data.
    assert abs(float(v[16] @ males)) > 1e-3
    # Locking an attribute does not cancel its own edit.
    own = editor.direction({"Male": 1.0}, locked=["Male"])
    torch.testing.assert_close(own, males)
    q = condition(torch.tensor([1.0, 1.0, 0.0]), torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 1.0]]))
    torch.testing.assert_close(q, torch.tensor([0.0, math.sqrt(2), 0.0]))


@pytest.mark.parametrize("alphas, message", [
    ({"Sunglasses": 1.0}, "unknown attribute 'Sunglasses'"),
    ({"Eyeglases": 1.0}, "Did you mean Eyeglasses"),
    ({"Male": float("nan")}, "alpha for Male must be finite"),
    ({"Male": float("inf")}, "alpha for Male must be finite"),
    ({"Male": 1e6}, "keep it within"),
    ({"Male": "lots"}, "alpha for Male must be a number"),
])
def test_bad_edits_are_named(editor, faces, alphas, message):
    z = editor.encode(faces)[0]
    with pytest.raises(ValueError, match=message):
        editor.render(z, alphas)


def test_bad_lists_and_mismatched_bank(editor, faces, tiny_run):
    z = editor.encode(faces)[0]
    with pytest.raises(ValueError, match="the alpha list is empty"):
        editor.strip(z, "Male", [])
    with pytest.raises(ValueError, match="unknown attribute 'Hat'"):
        editor.strip(z, "Hat")
    with pytest.raises(ValueError, match="unknown attribute 'Beard'"):
        editor.direction({"Male": 1}, locked=["Beard"])
    bank = AttributeBank.load(tiny_run / "attribute_vectors.safetensors")
    bank.vectors = torch.zeros(40, 7)
    with pytest.raises(ValueError, match="7-dimensional but the model's z_dim is 16"):
        Editor(VAE.from_pretrained(tiny_run), bank)


def test_batched_strip_grid_and_combinations_match_single_decodes(editor, faces):
    zs = editor.encode(faces)
    strip = editor.strip(zs[0], "Eyeglasses", [0, 1, 2, 3, 4])
    assert strip.shape == (5, 32, 32, 3)
    for k, a in enumerate([0, 1, 2, 3, 4]):
        np.testing.assert_array_equal(strip[k], editor.render(zs[0], {"Eyeglasses": a}))
    grid = editor.grid(zs, "Male", [-2, 0, 2])
    assert grid.shape == (4, 3, 32, 32, 3)
    np.testing.assert_array_equal(grid[2, 1], editor.decode(zs[2])[0])
    combos = editor.combinations(zs[1], [c for _, c in DISGUISES], locked=["Male"])
    assert combos.shape == (len(DISGUISES), 32, 32, 3)
    for (_, c), got in zip(DISGUISES, combos):  # each tile is that disguise's own edit
        np.testing.assert_array_equal(got, editor.render(zs[1], c, locked=["Male"]))
    assert len({got.tobytes() for got in combos}) == len(DISGUISES)


def test_random_faces_and_morph(editor, faces):
    codes = editor.random_codes(3, seed=1)
    assert codes.shape == (3, 16) and torch.equal(codes, editor.random_codes(3, seed=1))
    zs = editor.encode(faces)
    m = editor.morph(zs[0], zs[1], steps=5)
    assert m.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(m[0], editor.decode(zs[0])[0])
    np.testing.assert_array_equal(m[-1], editor.decode(zs[1])[0])
    with pytest.raises(ValueError, match="at least 2 steps"):
        editor.morph(zs[0], zs[1], steps=1)


def _png_text(path) -> dict:
    with Image.open(path) as im:
        return dict(im.text)


def test_strip_grid_and_sheet_pictures(editor, faces, tmp_path):
    z = editor.encode(faces)
    strip = alpha_strip(editor, z[0], "Eyeglasses", [-4, -3, -2, -1, 0], original=faces[0])
    write_png(tmp_path / "strip.png", strip)
    with Image.open(tmp_path / "strip.png") as im:
        assert im.size == (6 + 6 * (TILE + 6), 54 + (TILE + 22 + 6) + 6)
    text = _png_text(tmp_path / "strip.png")
    assert json.loads(text["labels"]) == ["input", "alpha = -4", "alpha = -3", "alpha = -2",
                                          "alpha = -1", "alpha = 0"]
    assert json.loads(text["attribute"]) == "Eyeglasses"
    # The tile under "alpha = 0" is the reconstruction, upscaled.
    arr = np.asarray(strip)
    x0 = 6 + 5 * (TILE + 6)
    tile0 = arr[54:54 + TILE, x0:x0 + TILE]
    recon = np.asarray(Image.fromarray(editor.decode(z[0])[0]).resize((TILE, TILE), Image.Resampling.LANCZOS))
    assert np.abs(tile0.astype(int) - recon.astype(int)).mean() < 1.0
    # A caption actually drew ink under each tile.
    assert (arr[54 + TILE + 3:54 + TILE + 19, 6:6 + TILE] < 128).any()

    grid = alpha_grid(editor, z, "Male", [0, 2, 4], originals=list(faces))
    assert grid.size == (6 + 4 * (TILE + 6), 54 + 4 * (TILE + 22 + 6) + 6)

    sheet = disguise_sheet(editor, z[0], original=faces[0], locked=["Male"])
    write_png(tmp_path / "sheet.png", sheet)
    text = _png_text(tmp_path / "sheet.png")
    labels = json.loads(text["labels"])
    assert labels[:3] == ["input", "reconstruction", "Glasses"] and "Glasses + hat" in labels
    assert len(labels) == 2 + len(DISGUISES) and json.loads(text["locked"]) == ["Male"]
    rows = math.ceil(len(labels) / 4)
    assert sheet.size == (6 + 4 * (TILE + 6), 54 + rows * (TILE + 40 + 6) + 6)
    with pytest.raises(ValueError, match="at least one combination"):
        disguise_sheet(editor, z[0], combos=[])


def test_the_bundled_weights_load_strictly_and_edit_a_face():
    """What a fresh clone's app starts on: weights/ loads (strict, pickle-free), fits the limit,
    and its plain reconstruction of a drawn face is close to the face."""
    folder = Path(__file__).resolve().parents[1] / "weights"
    assert sum(p.stat().st_size for p in folder.iterdir()) < 25 * 2**20
    editor = Editor.from_pretrained(folder)
    assert editor.vectors.shape == (40, editor.model.config.z_dim)
    # The sliders are calibrated: each row at its slider's scale, as its record says.
    assert editor.bank.method == "calibrated"
    scales = torch.tensor([r.scale for r in editor.bank.records])
    assert torch.allclose(editor.vectors.norm(dim=1), scales, rtol=1e-5) and (scales > 0).all()
    seed = AttributeBank.load(folder / SEED_BANK_NAME, z_dim=editor.model.config.z_dim)
    assert seed.method == "seed" and torch.allclose(seed.vectors.norm(dim=1), torch.ones(40), atol=1e-5)
    crop = editor.policy.apply(Image.open(folder.parent / "examples" / "face_3.jpg").convert("RGB"))
    z = editor.encode(crop[None])[0]
    plain = editor.render(z, {}).astype(float)
    assert np.abs(plain - crop).mean() < 10      # a reconstruction, not noise (0..255 scale)
    glasses = editor.render(z, {"Eyeglasses": 3.0}).astype(float)
    # The slider moves the picture: glasses are thin lines, so some pixels change a lot (2.4% by
    # over 30 levels here), not all a little.
    assert (np.abs(glasses - plain).max(axis=-1) > 30).mean() > 0.01
