"""Sliders of the picture (Blurry): a face's row made from its own picture blurred, in every edit
and the page's, the bank's file, and the choice of blur on validation faces."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from disguise.attributes import ATTRIBUTES, INDEX
from disguise.data.blur import gaussian_blur
from disguise.evaluation.diagnosis import Drawability, cause
from disguise.sliders.bank import AttributeBank, AttributeRecord
from disguise.sliders.calibration import GAIN, calibrate_pictures
from disguise.sliders.editor import Editor
from disguise.sliders.measure import EditResult, QualityBar
from disguise.sliders.picture_rows import PictureRows
from tests.toys import Z, MiddleVAE

B = INDEX["Blurry"]


class _Judge(torch.nn.Module):
    """Sees Blurry where neighbouring pixels of the middle differ by under 0.08 on average; every
    other attribute never (so the others are always kept)."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = type("P", (), {"size": 8})()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mid = x[:, :, 2:6, 2:6]
        rough = ((mid[..., 1:] - mid[..., :-1]).abs().mean((1, 2, 3)) +
                 (mid[..., 1:, :] - mid[..., :-1, :]).abs().mean((1, 2, 3))) / 2
        logits = torch.full((len(x), 40), -10.0)
        logits[:, B] = 100.0 * (0.08 - rough)
        return logits


def _faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sharp faces of random pixels (none blurry), each its own pattern."""
    rng = np.random.default_rng(seed)
    images = np.full((n, 8, 8, 3), 128, np.uint8)
    images[:, 2:6, 2:6] = rng.integers(40, 216, (n, 4, 4, 3))
    labels = np.where(rng.random((n, 40)) < 0.2, 1, -1)
    labels[:, B] = -1
    return images, labels


def _bank(picture_rows: PictureRows | None = None) -> AttributeBank:
    records = [AttributeRecord(a, 1, 1, True, 1.0, 1, method="calibrated", scale=1.0) for a in ATTRIBUTES]
    vectors = 0.1 * torch.randn(40, Z, generator=torch.Generator().manual_seed(3))
    return AttributeBank(ATTRIBUTES, vectors, records, picture_rows=picture_rows)


def test_a_blurry_faces_row_is_the_way_to_its_own_blurred_picture(tmp_path):
    """The Blurry row of a face leads, at the slider's end, to the code of its picture blurred; in
    an edit, a grid, under locks and in the page's conditioned bank alike, while every other row is
    the bank's and an edit of other sliders never decodes the face."""
    model = MiddleVAE()
    picture_rows = PictureRows({"Blurry": 1.5}, end=4.0, notes={"Blurry": "toy"})
    bank = _bank(picture_rows)
    editor = Editor(model, bank)
    images, _ = _faces(3, seed=0)
    z = editor.encode(images)
    want = model.encode(gaussian_blur(model.decode(z), 1.5))[0]  # the blurred pictures' codes
    for i in range(3):
        assert torch.allclose(editor.rows(z[i])[B], (want[i] - z[i]) / 4, atol=1e-6)
        assert torch.allclose(editor.edit(z[i], {"Blurry": 4.0}), want[i], atol=1e-5)
    assert not torch.allclose(editor.rows(z[0])[B], editor.rows(z[1])[B])  # each face its own
    assert torch.equal(editor.rows()[B], bank.vectors[B])  # no face: the shared row
    others = [j for j in range(40) if j != B]
    assert torch.equal(editor.rows(z[0])[others], bank.vectors[others])
    grid = editor.grid_codes(z, "Blurry", [0, 2, 4])
    assert torch.allclose(grid[:, 2], want, atol=1e-5) and torch.equal(grid[:, 0], z)
    assert torch.allclose(grid[:, 1], (z + want) / 2, atol=1e-5)  # half-way, half of the way
    locked = ["Male", "Smiling"]
    page = editor.conditioned_bank(locked, z[0])
    alphas = torch.zeros(40)
    alphas[B], alphas[INDEX["Eyeglasses"]] = 2.5, -1.0
    assert torch.allclose(z[0] + alphas @ page, editor.edit(z[0], {"Blurry": 2.5, "Eyeglasses": -1.0}, locked),
                          atol=1e-4)
    before = model.decodes
    editor.edit(z[0], {"Eyeglasses": 2.0, "Male": 1.0}, ["Young"])
    editor.grid_codes(z, "Smiling", [0, 4])
    assert model.decodes == before  # the blur is only worked out where Blurry is moved or locked
    editor.edit(z[1], {"Blurry": 1.0})
    editor.conditioned_bank(["Blurry"], z[2])
    assert model.decodes == before  # ... and once per face: these faces' rows were worked out above
    editor.edit(z[0] + 0.5, {"Blurry": 1.0})
    assert model.decodes == before + 1  # another face
    # Blurring the decode is what the data's Blurry is: the judge of the toy sees it at the end.
    judged = _Judge()(editor.decode_float(grid[:, 2]))[:, B] > 0
    assert judged.all() and not (_Judge()(editor.decode_float(z))[:, B] > 0).any()

    # The file: the blur travels in the metadata and loads strictly.
    path = tmp_path / "bank.safetensors"
    bank.save(path)
    back = AttributeBank.load(path, z_dim=Z)
    assert back.picture_rows == picture_rows
    assert back.picture_rows.describe() == ["Blurry: the face's own picture blurred by 1.5 px of the aligned frame "
                                            "at alpha 4 (toy)"]
    assert torch.allclose(Editor(MiddleVAE(), back).rows(z[1]), editor.rows(z[1]))
    replace(bank, picture_rows=None).save(tmp_path / "plain.safetensors")
    assert AttributeBank.load(tmp_path / "plain.safetensors").picture_rows is None
    tensors = load_file(str(path))  # the file format keeps the picture rows under "pictured" (PictureRows.META)
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    for text, message in (('{"end": 4, "blur": {"Male": 2}, "notes": {}}', "not a slider of the picture"),
                          ('{"end": 4, "blur": {"Blurry": 0}, "notes": {}}', "blur must be"),
                          ('{"end": 4, "blur": {"Blurry": NaN}, "notes": {}}', "blur must be"),
                          ('{"end": 4, "blur": {"Blurry": 50}, "notes": {}}', "blur must be"),
                          ('{"end": 4, "blur": {"Blurry": "2"}, "notes": {}}', "blur must be"),
                          ('{"end": 0, "blur": {"Blurry": 2}, "notes": {}}', "end must be"),
                          ('{"end": 4, "blur": {"Blurry": 2}}', "unreadable picture sliders"),
                          ('{"end": 4, "blur": [1], "notes": {}}', "unreadable picture sliders"),
                          ("{not json", "unreadable picture sliders")):
        save_file(tensors, str(tmp_path / "broken.safetensors"), metadata={**meta, "pictured": text})
        with pytest.raises(ValueError, match=message):
            AttributeBank.load(tmp_path / "broken.safetensors")


def test_the_blur_is_chosen_on_validation_faces_where_the_shared_row_misses():
    """The toy's shared Blurry row blurs nobody; among the blurs tried, the weakest the judge
    does not see is passed over for one it sees on every face, and it is adopted; a blur too
    weak to be seen anywhere is not adopted, and only Blurry can be made from the picture."""
    images, labels = _faces(120, seed=1)
    editor = Editor(MiddleVAE(), _bank())
    judge = _Judge()
    picture_rows, measured = calibrate_pictures(editor, judge, images, labels, ladder=(0.2, 1.0, 1.5), max_faces=60,
                                                progress=False)
    (m,) = measured
    assert set(m.ladder) == {0.2, 1.0, 1.5}
    assert m.ladder[0.2].success < 0.5 and m.ladder[1.0].success == 1.0 and m.ladder[1.0].kept == 1.0
    assert m.shared[0] < 0.1 and m.adopted and m.blur == 1.0  # the first of the best on a tie
    assert min(m.choice.success, m.choice.kept) >= min(m.shared) + GAIN
    assert picture_rows is not None and picture_rows.blur == {"Blurry": 1.0} and picture_rows.end == 4.0
    assert "adopted" in m.describe() and "the shared row" in m.describe()
    edited = Editor(MiddleVAE(), _bank(picture_rows))
    z = edited.encode(images[:10])
    assert (judge(edited.decode_float(edited.edit(z[0], {"Blurry": 4.0})))[:, B] > 0).all()
    weak, (w,) = calibrate_pictures(editor, judge, images, labels, ladder=(0.1, 0.2), max_faces=60, progress=False)
    assert weak is None and not w.adopted
    with pytest.raises(ValueError, match="only Blurry"):
        calibrate_pictures(editor, judge, images, labels, attributes=["Male"])


def test_a_slider_the_judge_sees_through_an_edit_is_not_blamed_on_the_judge():
    """Blurry photos of the data are seen by the judge on 12% of them; an edit that the judge sees
    on 96% of faces at the end but keeps only 89% of the rest misses on entanglement, not the judge;
    one that is never seen keeps the judge as its cause."""
    bar = QualityBar()
    data = Drawability("Blurry", 141, seen=0.12, drawn=0.04)
    seen = bar.judge(EditResult("Blurry", "add", 200, [1, 2, 3, 4], [0, 0, 0.44, 0.96], [0.98, 0.96, 0.92, 0.89], 0))
    assert cause(seen, data, bar) == "entangled"
    unseen = bar.judge(EditResult("Blurry", "add", 200, [1, 2, 3, 4], [0, 0, 0.1, 0.2], [0.98, 0.96, 0.92, 0.89], 0))
    assert cause(unseen, data, bar) == "judge"
