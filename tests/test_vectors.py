"""The attribute vector bank: one-pass builder vs the seed's loop, records, strict loading."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from disguise.attributes import ATTRIBUTES
from disguise.data.cache import load_split
from disguise.data.celeba import open_celeba
from disguise.sliders.bank import BANK_NAME, AttributeBank
from disguise.sliders.means import build_bank, labelled_batches, seed_vector
from disguise.vae.model import VAE


def test_forty_unit_vectors_with_records_round_trip(tiny_run, tmp_path):
    bank = AttributeBank.load(tiny_run / BANK_NAME, z_dim=16)
    assert bank.names == ATTRIBUTES and bank.vectors.shape == (40, 16)
    norms = bank.vectors.norm(dim=1)
    assert torch.allclose(norms, torch.ones(40), atol=1e-5)
    assert all(r.positives > 0 and r.negatives > 0 and r.raw_norm > 0 for r in bank.records)
    bank.save(tmp_path / "b.safetensors")
    again = AttributeBank.load(tmp_path / "b.safetensors")
    assert torch.equal(again.vectors, bank.vectors) and again.records == bank.records


def test_one_pass_matches_the_seed_loop(tiny_run, synthetic_root):
    model = VAE.from_pretrained(tiny_run)
    images, labels, _ = load_split(open_celeba(synthetic_root), "train", model.config.policy,
                                   progress=False)
    bank = build_bank(model, labelled_batches(images, labels, 32, seed=3), progress=False)
    for name in ("Eyeglasses", "Male", "Bald", "Smiling", "Wearing_Hat", "No_Beard"):
        vec, rec = seed_vector(model, labelled_batches(images, labels, 32, seed=3), name)
        cos = float(torch.nn.functional.cosine_similarity(vec, bank.vector(name), dim=0))
        assert cos >= 0.999, (name, cos)
        mine = bank.records[ATTRIBUTES.index(name)]
        assert (mine.positives, mine.negatives, mine.converged, mine.batches) == \
            (rec.positives, rec.negatives, rec.converged, rec.batches), name
        assert mine.raw_norm == pytest.approx(rec.raw_norm, rel=1e-5)


def test_stops_at_max_positives(tiny_run, synthetic_root):
    model = VAE.from_pretrained(tiny_run)
    images, labels, _ = load_split(open_celeba(synthetic_root), "train", model.config.policy,
                                   progress=False)
    bank = build_bank(model, labelled_batches(images, labels, 32), threshold=1e-9, max_positives=40,
                      progress=False)
    young = bank.records[ATTRIBUTES.index("Young")]
    assert 40 <= young.positives < 40 + 32 and not young.converged


def test_strict_loading(tiny_run, tmp_path):
    src = tiny_run / BANK_NAME
    with pytest.raises(ValueError, match="16-dimensional but the model's z_dim is 200"):
        AttributeBank.load(src, z_dim=200)
    with pytest.raises(FileNotFoundError, match="make it with python -m train.vectors"):
        AttributeBank.load(tmp_path / "none.safetensors")
    tensors = load_file(src)
    from safetensors import safe_open

    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
    names = json.loads(meta["names"])
    names[3] = "Tired_Eyes"
    save_file(tensors, tmp_path / "renamed.safetensors", metadata={**meta, "names": json.dumps(names)})
    with pytest.raises(ValueError, match="names differ from CelebA's 40"):
        AttributeBank.load(tmp_path / "renamed.safetensors")
    save_file({"vectors": tensors["vectors"][:39]}, tmp_path / "short.safetensors", metadata=meta)
    with pytest.raises(ValueError, match=r"shape \(39, 16\), expected \(40, z_dim\)"):
        AttributeBank.load(tmp_path / "short.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"garbage!" * 10)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        AttributeBank.load(tmp_path / "junk.safetensors")


def test_bigger_batches_average_more_faces(tiny_run, synthetic_root):
    """The stopping rule looks at one batch's movement of the means, so the batch size sets how
    many faces each mean averages: why the bank is built in the book's batches of 500. (The test
    set is small, so a looser threshold stands in for 0.08 to let the means settle before the
    faces run out.)"""
    from disguise.sliders.means import BATCH_SIZE

    assert BATCH_SIZE == 500
    model = VAE.from_pretrained(tiny_run)
    images, labels, _ = load_split(open_celeba(synthetic_root), "train", model.config.policy,
                                   progress=False)
    used = {}
    for batch in (16, 128):
        bank = build_bank(model, labelled_batches(images, labels, batch, seed=1), threshold=0.5,
                          progress=False)
        assert sum(r.converged for r in bank.records) >= 30
        used[batch] = sum(r.positives + r.negatives for r in bank.records)
    assert used[128] > 1.5 * used[16], used
