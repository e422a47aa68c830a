"""The VAE: shapes, the loss, and strict save/load."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from disguise.vae.losses import LossConfig, kl_divergence, vae_loss
from disguise.vae.model import VAE, VAEConfig


@pytest.mark.parametrize("arch", ["conv", "resnet"])
@pytest.mark.parametrize("size", [64, 128])
@torch.no_grad()
def test_shapes(arch, size):
    model = VAE(VAEConfig(image_size=size, arch=arch, z_dim=32)).eval()
    x = torch.rand(2, 3, size, size)
    recon, mu, log_var = model(x)
    assert recon.shape == x.shape and mu.shape == log_var.shape == (2, 32)
    assert 0 <= float(recon.min()) and float(recon.max()) <= 1  # sigmoid output
    assert model.decode(torch.zeros(5, 32)).shape == (5, 3, size, size)


@torch.no_grad()
def test_wider_stages_keep_the_shapes():
    cfg = VAEConfig(image_size=64, z_dim=16, encoder_filters=(64, 128, 128, 128),
                    decoder_filters=(128, 128, 64, 3))
    model = VAE(cfg).eval()
    assert model.mu.in_features == 128 * 4 * 4
    assert model(torch.rand(2, 3, 64, 64))[0].shape == (2, 3, 64, 64)


def test_seed_architecture_by_default():
    cfg = VAEConfig()
    assert (cfg.image_size, cfg.z_dim, cfg.encoder_filters, cfg.decoder_filters) == \
        (128, 200, (32, 64, 64, 64), (64, 64, 32, 3))
    model = VAE(cfg)
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2)] * 4 and [c.kernel_size for c in convs] == [(3, 3)] * 4
    kinds = {type(m).__name__ for m in model.encoder}
    assert {"BatchNorm2d", "LeakyReLU", "Dropout"} <= kinds
    assert model.mu.in_features == 64 * 8 * 8


@pytest.mark.parametrize("kwargs, message", [
    (dict(image_size=100), "not divisible by the encoder's total stride 16"),
    (dict(z_dim=0), "z_dim must be positive"),
    (dict(arch="transformer"), "arch must be"),
    (dict(dropout=1.5), "dropout must be"),
    (dict(encoder_strides=(2, 2, 2)), "one entry per stage"),
    (dict(encoder_filters=(32, 0, 64, 64)), "at least 1"),
])
def test_impossible_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAEConfig(**kwargs)


def test_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu, log_var = torch.randn(3, 6), torch.randn(3, 6) * 0.5
    closed = kl_divergence(mu, log_var)
    std = torch.exp(0.5 * log_var)
    z = mu + std * torch.randn(200_000, 3, 6)
    log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    mc = (log_q - log_p).mean(0)
    torch.testing.assert_close(mc, closed, atol=0.03, rtol=0.02)
    assert float(kl_divergence(torch.zeros(1, 4), torch.zeros(1, 4))) == 0.0


def test_loss_variants_and_terms():
    x = torch.rand(4, 3, 8, 8)
    recon = (x + 0.1).clamp(0, 1)
    mu, lv = torch.zeros(4, 5), torch.zeros(4, 5)
    t = vae_loss(recon, x, mu, lv, LossConfig("mse", r_loss_factor=10000))
    expected = 10000 * ((recon - x) ** 2).flatten(1).mean(1).mean()
    torch.testing.assert_close(t.recon, expected)
    assert float(t.kl) == 0 and float(t.total) == pytest.approx(float(t.recon))
    s = vae_loss(recon, x, mu + 1, lv, LossConfig("bce-sum"))
    m = vae_loss(recon, x, mu + 1, lv, LossConfig("bce-mean", kl_weight=5e-4))
    assert float(s.recon) == pytest.approx(float(m.recon) * 3 * 8 * 8, rel=1e-5)
    assert float(m.total) == pytest.approx(float(m.recon) + 5e-4 * float(m.kl), rel=1e-5)
    with pytest.raises(ValueError, match="loss must be one of"):
        LossConfig("l1")


def test_save_then_load_gives_identical_outputs(tmp_path):
    torch.manual_seed(1)
    model = VAE(VAEConfig(image_size=64, z_dim=20, arch="resnet")).eval()
    model.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["model_type"] == "disguise-vae" and cfg["preprocess"]["size"] == 64
    again = VAE.from_pretrained(tmp_path)
    x = torch.rand(3, 3, 64, 64)
    torch.testing.assert_close(again.encode(x), model.encode(x), rtol=0, atol=0)
    torch.testing.assert_close(again.decode(torch.ones(2, 20)), model.decode(torch.ones(2, 20)),
                               rtol=0, atol=0)


def test_strict_loading_names_the_problem(tmp_path):
    VAE(VAEConfig(image_size=64, z_dim=20)).save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    state = load_file(weights)
    # A renamed key.
    bad = dict(state)
    bad["mu.weights"] = bad.pop("mu.weight")
    save_file(bad, weights)
    with pytest.raises(ValueError, match=r"missing \['mu.weight'\]; unexpected \['mu.weights'\]"):
        VAE.from_pretrained(tmp_path)
    # A wrong shape (weights of a z_dim=30 model under a z_dim=20 config).
    VAE(VAEConfig(image_size=64, z_dim=30)).save_pretrained(tmp_path / "other")
    (tmp_path / "other" / "model.safetensors").replace(weights)
    with pytest.raises(ValueError, match=r"mu.weight has shape \(30, 1024\), the model expects \(20, 1024\)"):
        VAE.from_pretrained(tmp_path)
    # A corrupt file, a broken config, a missing file, a missing folder.
    weights.write_bytes(b"\x00" * 40)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        VAE.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json: not valid JSON"):
        VAE.from_pretrained(tmp_path)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors: file not found"):
        VAE.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        VAE.from_pretrained(tmp_path / "nowhere")


def test_hub_repo_id_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="Hub repo could not be fetched"):
        VAE.from_pretrained("someone/not-cached-here")


def test_hub_repo_id_loads_from_the_local_cache(tmp_path, monkeypatch):
    """A repo id resolves through huggingface_hub's cache, offline, like a download would."""
    from huggingface_hub import constants

    model = VAE(VAEConfig(image_size=64, z_dim=8)).eval()
    snap = tmp_path / "hub" / "models--someone--faces" / "snapshots" / ("a" * 40)
    model.save_pretrained(snap)
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    loaded = VAE.from_pretrained("someone/faces")
    assert torch.equal(loaded.mu.weight, model.mu.weight)
