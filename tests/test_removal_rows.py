"""Rows below 0 (``disguise.sliders.removal_rows``): in every edit and the page's, under locks, in
the bank's file, and chosen on validation faces where they take an attribute away better."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from disguise.attributes import ATTRIBUTES, INDEX
from disguise.sliders.bank import AttributeBank, AttributeRecord
from disguise.sliders.editor import Editor
from disguise.sliders.removal_choice import choose_removal_rows
from disguise.sliders.removal_rows import RemovalRows
from disguise.files import read_safetensors, write_safetensors
from tests.toys import Z, MiddleVAE

G = INDEX["Eyeglasses"]


class _Judge(torch.nn.Module):
    """Sees Eyeglasses where the middle's red is brighter than 0.6 on average; nothing else ever."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = type("P", (), {"size": 8})()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.full((len(x), 40), -10.0)
        logits[:, G] = 100.0 * (x[:, 0, 2:6, 2:6].mean((1, 2)) - 0.6)
        return logits


def _red() -> torch.Tensor:
    """The code direction that brightens the middle's red, one code unit per pixel level step."""
    v = torch.zeros(3, 4, 4)
    v[0] = 1.0
    return v.flatten()


def _bank(removal: RemovalRows | None = None) -> AttributeBank:
    records = [AttributeRecord(a, 1, 1, True, 1.0, 1, method="calibrated", scale=1.0) for a in ATTRIBUTES]
    vectors = 0.1 * torch.randn(40, Z, generator=torch.Generator().manual_seed(3))
    return AttributeBank(ATTRIBUTES, vectors, records, removal_rows=removal)


def test_a_slider_moves_along_its_removal_row_below_zero_only(tmp_path):
    """Below 0 a slider with a removal row moves along it, above 0 along its row; the page's two
    banks give the server's edit; a lock holds both rows of the locked attribute; the file keeps
    the rows and loads strictly."""
    below = torch.randn(Z, generator=torch.Generator().manual_seed(1))
    removal = RemovalRows({"Eyeglasses": below}, {"Eyeglasses": "toy"})
    bank = _bank(removal)
    editor = Editor(MiddleVAE(), bank)
    z = torch.randn(Z, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(editor.edit(z, {"Eyeglasses": 2.0}), z + 2 * bank.vectors[G])
    assert torch.allclose(editor.edit(z, {"Eyeglasses": -2.0}), z - 2 * below)
    assert torch.equal(editor.edit(z, {"Eyeglasses": 0.0}), z)
    m = INDEX["Male"]
    assert torch.allclose(editor.edit(z, {"Male": -1.5}), z - 1.5 * bank.vectors[m])  # no removal row: its row
    grid = editor.grid_codes(z[None], "Eyeglasses", [-4, 0, 4])[0]
    assert torch.allclose(grid[0], z - 4 * below) and torch.allclose(grid[2], z + 4 * bank.vectors[G])

    # The page: z + alphas @ bank above 0 and @ removal below 0, under locks, is the server's edit.
    for locked in ([], ["Male", "Smiling"], ["Eyeglasses", "Young"]):
        add, remove = editor.conditioned_bank(locked, z), editor.conditioned_bank(locked, z, removing=True)
        alphas = {"Eyeglasses": -2.5, "Male": 1.0, "Bangs": -1.0}
        a = torch.tensor([alphas.get(n, 0.0) for n in ATTRIBUTES])
        page = z + a.clamp(min=0) @ add + a.clamp(max=0) @ remove
        assert torch.allclose(page, editor.edit(z, alphas, locked), atol=1e-4), locked
    # Locking Eyeglasses holds both its rows: Male's edit has no part along either.
    moved = editor.direction({"Male": 3.0}, ["Eyeglasses"])
    for row in (bank.vectors[G], below):
        assert abs(float(moved @ row)) < 1e-3 * float(moved.norm() * row.norm())
    assert float(moved.norm()) == pytest.approx(3 * float(bank.vectors[m].norm()), rel=1e-5)

    path = tmp_path / "bank.safetensors"
    bank.save(path)
    back = AttributeBank.load(path, z_dim=Z)
    assert back.removal_rows.names == {"Eyeglasses"} and torch.equal(back.removal_rows.rows["Eyeglasses"], below)
    assert back.removal_rows.describe() == ["Eyeglasses below 0: toy"]
    replace(bank, removal_rows=None).save(tmp_path / "plain.safetensors")
    assert AttributeBank.load(tmp_path / "plain.safetensors").removal_rows is None
    tensors, meta = read_safetensors(path)
    for broken, broken_meta, message in (
            ({**tensors, "removal_rows": torch.zeros(1, Z + 1)}, meta, "removal rows of shape"),
            (tensors, {k: v for k, v in meta.items() if k != "removal_rows"}, "not an attribute bank"),
            (tensors, {**meta, "removal_rows": '{"names": ["Mole"], "notes": {}}'}, "unknown sliders"),
            (tensors, {**meta, "removal_rows": "[1, 2"}, "unreadable removal rows")):
        write_safetensors(tmp_path / "broken.safetensors", broken, broken_meta)
        with pytest.raises(ValueError, match=message):
            AttributeBank.load(tmp_path / "broken.safetensors", z_dim=Z)


def test_the_effect_row_is_kept_below_zero_where_it_takes_the_attribute_away_better():
    """A slider whose own row is too short to take glasses away gets its effect row below 0; one
    whose own row does it keeps its own rows; the rows above 0 never change."""
    rng = np.random.default_rng(0)
    n = 60
    images = np.full((n, 8, 8, 3), 128, np.uint8)
    images[:, 2:6, 2:6] = rng.integers(90, 130, (n, 4, 4, 3))
    labels = np.where(rng.random((n, 40)) < 0.3, 1, -1)
    labels[:, G] = np.where(np.arange(n) < n // 2, 1, -1)
    images[: n // 2, 2:6, 2:6, 0] = 200  # bright red: the judge sees glasses on the first half
    weak = _bank()
    weak.vectors[G] = 0.02 * _red()  # at -4 red moves by about 2 levels: the glasses stay
    effect = _bank()
    effect.vectors[G] = 3.0 * _red()
    limit, judge = 1e3, _Judge()
    bank, chosen = choose_removal_rows(Editor(MiddleVAE(), weak), judge, effect, images, labels, ["Eyeglasses"], limit,
                                       scales=(0.8, 1.0), max_faces=30, progress=False)
    (c,) = chosen
    assert c.kind == "effect" and c.passes and not c.own and c.end == 1.0
    assert bank.removal_rows.names == {"Eyeglasses"} and torch.equal(bank.vectors, weak.vectors)
    assert torch.allclose(bank.removal_rows.rows["Eyeglasses"], effect.vectors[G] * c.scale)
    assert "the effect row" in bank.removal_rows.describe()[0]
    edited = Editor(MiddleVAE(), bank)
    z = edited.encode(images[:5])
    assert not (judge(edited.decode_float(z - 4 * bank.removal_rows.rows["Eyeglasses"]))[:, G] > 0).any()

    strong = _bank()
    strong.vectors[G] = 3.0 * _red()
    bank, chosen = choose_removal_rows(Editor(MiddleVAE(), strong), judge, weak, images, labels, ["Eyeglasses"], limit,
                                       scales=(0.8, 1.0), max_faces=30, progress=False)
    assert chosen[0].passes and chosen[0].kind == "own" and bank.removal_rows is None
    # Within the limits: a removal row past `limit` code units at -4 is not taken.
    bank, chosen = choose_removal_rows(Editor(MiddleVAE(), weak), judge, effect, images, labels, ["Eyeglasses"],
                                       limit=1.0, scales=(0.8, 1.0), max_faces=30, progress=False)
    assert bank.removal_rows is None and chosen[0].own
