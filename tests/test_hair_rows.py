"""The hair sliders' rows per hair state: the gate, the face's own rows (in every edit, the page's
included), the bank's file, and the choice of hair rows on faces in each state."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from disguise.attributes import ATTRIBUTES, INDEX
from disguise.sliders.bank import AttributeBank, AttributeRecord
from disguise.sliders.editor import Editor
from disguise.sliders.effects import fit_effects
from disguise.sliders.hair_choice import GAIN, choose_hair_rows, hair_row_link
from disguise.sliders.hair_rows import OTHER, STATES, Gate, HairRows, fit_gate, sources, states_of
from disguise.sliders.means import labelled_batches
from tests.toys import Z, MiddleVAE



class _Judge(torch.nn.Module):
    """Sees attribute j where code j > 1; brown hair only where the hair is not also black, and not
    pushed past 2.4 (where it would read as some other colour)."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = type("P", (), {"size": 8})()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = MiddleVAE().encode(x)[0][:, :40]
        logits = 4.0 * (z - 1.0)
        brown, black = INDEX["Brown_Hair"], INDEX["Black_Hair"]
        logits[:, brown] = 4.0 * torch.minimum(torch.minimum(z[:, brown] - 1.0, 1.0 - z[:, black]), 2.4 - z[:, brown])
        return logits


def _faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Faces of the toy world: every label its own code number (2 with it, 0 without, a little
    noise), one hair state each (40% black, 20% blond, 20% brown, 20% none)."""
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random((n, 40)) < 0.2, 1, -1)
    for s in STATES:
        labels[:, INDEX[s]] = -1
    state = rng.choice(["Black_Hair", "Blond_Hair", "Brown_Hair", OTHER], n, p=[0.4, 0.2, 0.2, 0.2])
    for s in ("Black_Hair", "Blond_Hair", "Brown_Hair"):
        labels[state == s, INDEX[s]] = 1
    codes = np.zeros((n, Z))
    codes[:, :40] = np.where(labels == 1, 2.0, 0.0) + rng.normal(0, 0.15, (n, 40))
    pixels = np.clip(np.round((codes + 4) / 8 * 255), 0, 255).astype(np.uint8).reshape(n, 3, 4, 4)
    images = np.full((n, 3, 8, 8), 128, np.uint8)
    images[:, :, 2:6, 2:6] = pixels
    return images.transpose(0, 2, 3, 1).copy(), labels


def _records(method: str = "calibrated") -> list[AttributeRecord]:
    return [AttributeRecord(a, 1, 1, True, 1.0, 1, method=method, scale=1.0) for a in ATTRIBUTES]


def test_the_gate_reads_the_hair_state_from_the_code():
    images, labels = _faces(600, seed=0)
    codes = MiddleVAE().encode(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)[0]
    states = states_of(labels)
    assert set(np.unique(states)) == {0, 1, 2, len(STATES)}  # black, blond, brown, none
    gate = fit_gate(codes, states)
    assert gate.weight.shape == (len(STATES) + 1, Z) and gate.accuracy(codes, states) >= 0.98
    p = gate.probabilities(codes[:5])
    assert p.shape == (5, len(STATES) + 1) and torch.allclose(p.sum(1), torch.ones(5))
    with pytest.raises(ValueError, match="one state per code"):
        fit_gate(codes[:10], states[:9])
    assert sources("Brown_Hair") == ["Black_Hair", "Blond_Hair", "Gray_Hair", "Bald"]
    assert sources("Bald") == ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"] and sources("Male") == []


def _gate_on(state: str) -> Gate:
    """A gate that reads code 47 as ``state`` (its class alone), anything else as none."""
    weight, bias = torch.zeros(len(STATES) + 1, Z), torch.zeros(len(STATES) + 1)
    weight[STATES.index(state), 47] = 50.0
    bias[STATES.index(state)] = -25.0
    return Gate(weight, bias)


def test_a_faces_rows_follow_its_hair_and_every_edit_uses_them(tmp_path):
    """On a face the gate reads as black-haired, the brown slider is its hair row (in an edit, a
    strip's codes, a grid and the page's conditioned bank alike); on any other face it is the
    shared row; the bank's file keeps the hair rows and refuses broken ones."""
    vectors = torch.randn(40, Z, generator=torch.Generator().manual_seed(1))
    row = torch.randn(Z, generator=torch.Generator().manual_seed(2))
    hair_rows = HairRows(_gate_on("Black_Hair"), {("Brown_Hair", "Black_Hair"): row},
                         {("Brown_Hair", "Black_Hair"): "link"})
    bank = AttributeBank(ATTRIBUTES, vectors, _records(), hair_rows)
    editor = Editor(MiddleVAE(), bank)
    black, other = torch.zeros(Z), torch.zeros(Z)
    black[47] = 1.0
    k = INDEX["Brown_Hair"]
    assert torch.allclose(editor.rows(black)[k], row, atol=1e-5)
    assert torch.equal(editor.rows(other)[k], vectors[k]) or torch.allclose(editor.rows(other)[k], vectors[k])
    assert torch.equal(editor.rows()[k], vectors[k])
    assert torch.equal(editor.rows(black)[INDEX["Male"]], vectors[INDEX["Male"]])  # other sliders: shared
    assert torch.allclose(editor.edit(black, {"Brown_Hair": 2.0}), black + 2 * row, atol=1e-5)
    assert torch.allclose(editor.edit(other, {"Brown_Hair": 2.0}), other + 2 * vectors[k], atol=1e-5)
    grid = editor.grid_codes(torch.stack([black, other]), "Brown_Hair", [0, 1, 3])
    assert torch.allclose(grid[0, 2], black + 3 * row, atol=1e-5)
    assert torch.allclose(grid[1, 2], other + 3 * vectors[k], atol=1e-5)
    assert torch.equal(grid[:, 0], torch.stack([black, other]))
    locked = ["Male", "Smiling"]
    page = editor.conditioned_bank(locked, black)  # what the page computes z + alphas @ bank with
    alphas = torch.zeros(40)
    alphas[k], alphas[INDEX["Eyeglasses"]] = 1.5, -2.0
    assert torch.allclose(black + alphas @ page, editor.edit(black, {"Brown_Hair": 1.5, "Eyeglasses": -2.0}, locked),
                          atol=1e-4)
    assert not torch.allclose(page[k], editor.conditioned_bank(locked)[k])
    # The file: saved and loaded whole; a broken one is refused with the reason.
    path = tmp_path / "bank.safetensors"
    bank.save(path)
    back = AttributeBank.load(path, z_dim=Z)
    assert back.hair_rows is not None and list(back.hair_rows.by_state) == [("Brown_Hair", "Black_Hair")]
    assert torch.equal(back.hair_rows.by_state[("Brown_Hair", "Black_Hair")], row)
    assert back.hair_rows.describe() == ["Brown_Hair on black hair: link"]
    assert torch.allclose(Editor(MiddleVAE(), back).rows(black), editor.rows(black))
    # Hair rows chosen again for some sliders replace theirs and keep the others'.
    bald = torch.ones(Z)
    newer = HairRows(_gate_on("Blond_Hair"), {("Bald", "Blond_Hair"): bald}, {("Bald", "Blond_Hair"): "new"})
    both = hair_rows.updated(newer, ["Bald"])
    assert both.gate is newer.gate and set(both.by_state) == {("Brown_Hair", "Black_Hair"), ("Bald", "Blond_Hair")}
    assert both.notes[("Brown_Hair", "Black_Hair")] == "link"
    assert set(hair_rows.updated(newer, ["Bald", "Brown_Hair"]).by_state) == {("Bald", "Blond_Hair")}
    replace(bank, hair_rows=None).save(tmp_path / "plain.safetensors")
    assert AttributeBank.load(tmp_path / "plain.safetensors").hair_rows is None
    tensors = load_file(str(path))  # the file format keeps the hair rows under "variants" (HairRows.FILE_KEY)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    for broken, message in (({k: v for k, v in tensors.items() if k != "gate_bias"}, "not an attribute bank"),
                            ({**tensors, "gate_weight": torch.zeros(3, Z)}, "the gate must be"),
                            ({**tensors, "variants": torch.full((1, Z), float("nan"))}, "NaN"),
                            ({**tensors, "variants": torch.zeros(2, Z)}, "hair rows have shape")):
        save_file(broken, str(tmp_path / "broken.safetensors"), metadata=meta)
        with pytest.raises(ValueError, match=message):
            AttributeBank.load(tmp_path / "broken.safetensors")
    save_file(tensors, str(tmp_path / "broken.safetensors"), metadata={**meta, "variants": "[[\"Male\", \"Bald\", \"\"]]"})
    with pytest.raises(ValueError, match="only the hair sliders"):
        AttributeBank.load(tmp_path / "broken.safetensors")
    save_file(tensors, str(tmp_path / "broken.safetensors"), metadata={**meta, "variants": "{not json"})
    with pytest.raises(ValueError, match="unreadable hair row names"):
        AttributeBank.load(tmp_path / "broken.safetensors")


def test_hair_rows_are_adopted_where_the_shared_row_misses():
    """In the toy world the judge sees brown hair only once black is gone, and not pushed too far.
    The shared brown row, at its end, takes black off a black-haired face by half (the average of
    what faces without brown hair have): few of them turn brown, and no stronger end of it turns
    most brown without overdoing the brown. The link made for black hair (its effect, less
    black's) turns them all brown, so it is adopted for black hair; on blond faces the shared row
    already works, and stays."""
    model, judge = MiddleVAE(), _Judge()
    train_x, train_y = _faces(800, seed=0)
    valid_x, valid_y = _faces(400, seed=1)
    fit = fit_effects(model, labelled_batches(train_x, train_y, 200), progress=False)
    effect_rows = fit.directions()
    k, black = INDEX["Brown_Hair"], INDEX["Black_Hair"]
    assert 0.2 < float(-effect_rows[k, black]) / 2 < 0.8  # the shared link removes part of black
    link = hair_row_link(fit, "Brown_Hair", "Black_Hair")
    assert float(link[black]) == pytest.approx(-2.0, abs=0.2) and float(link[k]) == pytest.approx(2.0, abs=0.2)
    shared = AttributeBank(ATTRIBUTES, effect_rows * 0.8 / 4, _records())  # its end: 0.8 of the effect row
    editor = Editor(model, shared)
    train_codes = editor.encode(train_x)
    hair_rows, measured, accuracy = choose_hair_rows(editor, judge, shared, fit, valid_x, valid_y, train_codes,
                                                     train_y, ["Brown_Hair"], max_faces=60, progress=False)
    assert accuracy >= 0.98
    by_state = {v.state: v for v in measured if v.attribute == "Brown_Hair"}
    assert set(by_state) == {"Black_Hair", "Blond_Hair"}  # no grey or bald faces to measure on
    on_black = by_state["Black_Hair"]
    assert on_black.adopted and on_black.shared[0] <= 0.3 and on_black.choice.success >= 0.9
    assert on_black.choice.source == "link"
    assert not by_state["Blond_Hair"].adopted and by_state["Blond_Hair"].shared[0] >= 0.9
    assert min(on_black.choice.success, on_black.choice.kept) >= min(on_black.shared) + GAIN
    assert list(hair_rows.by_state) == [("Brown_Hair", "Black_Hair")] and "link" in on_black.describe()
    # The bank with its hair row turns black-haired validation faces brown; the shared row did not.
    mine = Editor(model, replace(shared, hair_rows=hair_rows))
    rows = np.flatnonzero(valid_y[:, black] == 1)[:40]
    z = mine.encode(valid_x[rows])
    after = torch.stack([mine.edit(code, {"Brown_Hair": 4.0}) for code in z])
    before = torch.stack([editor.edit(code, {"Brown_Hair": 4.0}) for code in z])
    seen = lambda codes: (judge(model.decode(codes)) > 0)[:, k].float().mean()  # noqa: E731
    assert seen(after) >= 0.9 and seen(before) <= 0.3
    with pytest.raises(ValueError, match="only the hair sliders"):
        choose_hair_rows(editor, judge, shared, fit, valid_x, valid_y, train_codes, train_y, ["Male"])
