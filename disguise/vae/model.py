"""The convolutional VAE: config, encoder, decoder, and strict save/load.

The default architecture is the one in the seed notes (the book "Generative Deep Learning", ch. 3):
Conv(32, 64, 64, 64; kernel 3; stride 2; 'same') each followed by BatchNorm, LeakyReLU and
Dropout(0.25); two dense heads for ``mu`` and ``log_var`` (z_dim 200); a mirrored decoder of
transposed convolutions ending in a sigmoid. ``arch="resnet"`` swaps each stage for a residual
block, which the seeds wanted but found too slow in their form.

A saved model is a folder: ``config.json`` (every constructor argument and the preprocessing
policy) and ``model.safetensors`` (``disguise.pretrained.SavedModel``). ``VAE.from_pretrained``
rebuilds it from that folder or a Hugging Face Hub repo id, and refuses any missing, unexpected or
mis-shaped tensor by name.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ..preprocess import Preprocess
from ..pretrained import SavedConfig, SavedModel, check_trained_on, resolve_folder

CONFIG_NAME, WEIGHTS_NAME = "config.json", "model.safetensors"
MODEL_TYPE = "disguise-vae"
ARCHS = ("conv", "resnet")


@dataclass
class VAEConfig(SavedConfig):
    """Everything needed to rebuild a VAE.

    Attributes:
        image_size: side of the square input in pixels (64 or 128); divisible by the product of
            the strides.
        in_channels: 3 for RGB.
        z_dim: latent dimensions (200 in the seed).
        arch: conv (the seed's plain stack) or resnet (residual stages).
        encoder_filters: channels per encoder stage, e.g. 64,128,128,128.
        encoder_kernels: kernel size per encoder stage.
        encoder_strides: stride per encoder stage.
        decoder_filters: channels per decoder stage; the last is the number of output channels
            (3), e.g. 128,128,64,3.
        decoder_kernels: kernel size per decoder stage.
        decoder_strides: stride per decoder stage.
        batch_norm: BatchNorm after each hidden convolution.
        dropout: dropout rate after each hidden convolution (0 disables it).
        leaky_slope: LeakyReLU's negative slope (0.3 is Keras' default, which the seed used).
        preprocess: the data policy (crop, size, interpolation) the model was trained with.
        trained_on: what the faces it learned were: synthetic (drawn), celeba (photos of real
            people), or "" (not recorded). Set by training from the data folder.
    """

    image_size: int = 128
    in_channels: int = 3
    z_dim: int = 200
    arch: str = field(default="conv", metadata={"choices": ARCHS})
    encoder_filters: tuple[int, ...] = (32, 64, 64, 64)
    encoder_kernels: tuple[int, ...] = (3, 3, 3, 3)
    encoder_strides: tuple[int, ...] = (2, 2, 2, 2)
    decoder_filters: tuple[int, ...] = (64, 64, 32, 3)
    decoder_kernels: tuple[int, ...] = (3, 3, 3, 3)
    decoder_strides: tuple[int, ...] = (2, 2, 2, 2)
    batch_norm: bool = True
    dropout: float = 0.25
    leaky_slope: float = 0.3
    preprocess: dict = field(default_factory=dict)
    trained_on: str = ""
    model_type: ClassVar[str] = MODEL_TYPE

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.startswith(("encoder_", "decoder_")):
                setattr(self, f.name, tuple(int(v) for v in getattr(self, f.name)))
        if not self.preprocess:
            self.preprocess = Preprocess(size=self.image_size).to_dict()
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` for an impossible configuration, saying what to change."""
        if self.z_dim <= 0:
            raise ValueError(f"z_dim must be positive, got {self.z_dim}")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be 'conv' or 'resnet', got {self.arch!r}")
        enc = (self.encoder_filters, self.encoder_kernels, self.encoder_strides)
        dec = (self.decoder_filters, self.decoder_kernels, self.decoder_strides)
        if len({len(v) for v in enc}) != 1 or len({len(v) for v in dec}) != 1:
            raise ValueError("encoder (and decoder) filters, kernels and strides need one entry "
                             "per stage each")
        if min(self.encoder_filters + self.decoder_filters + self.encoder_kernels
               + self.decoder_kernels + self.encoder_strides + self.decoder_strides) < 1:
            raise ValueError("filters, kernels and strides must all be at least 1")
        down = math.prod(self.encoder_strides)
        if self.image_size <= 0 or self.image_size % down:
            raise ValueError(f"image_size {self.image_size} is not divisible by the encoder's "
                             f"total stride {down}; use a multiple of {down} (e.g. 64 or 128)")
        if math.prod(self.decoder_strides) != down:
            raise ValueError(f"the decoder upsamples by {math.prod(self.decoder_strides)} but the "
                             f"encoder downsamples by {down}")
        if self.decoder_filters[-1] != self.in_channels:
            raise ValueError(f"the last decoder filter count ({self.decoder_filters[-1]}) must equal "
                             f"in_channels ({self.in_channels})")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        check_trained_on(self.trained_on)
        policy = Preprocess.from_dict(self.preprocess)
        if policy.size != self.image_size:
            raise ValueError(f"preprocess size {policy.size} differs from image_size {self.image_size}")

    @property
    def policy(self) -> Preprocess:
        return Preprocess.from_dict(self.preprocess)



# ----------------------------------------------------------------------------------------------
# Building blocks


def _act(cfg: VAEConfig) -> nn.Module:
    return nn.LeakyReLU(cfg.leaky_slope)


def _post(cfg: VAEConfig, channels: int) -> list[nn.Module]:
    """What follows a hidden convolution: BatchNorm, LeakyReLU, Dropout (each as configured)."""
    layers: list[nn.Module] = [nn.BatchNorm2d(channels)] if cfg.batch_norm else []
    layers.append(_act(cfg))
    if cfg.dropout > 0:
        layers.append(nn.Dropout(cfg.dropout))
    return layers


def _up(cin: int, cout: int, k: int, s: int) -> nn.Module:
    # Keras' Conv2DTranspose(padding='same') multiplies the size by the stride exactly.
    return nn.ConvTranspose2d(cin, cout, k, stride=s, padding=(k - 1) // 2, output_padding=s - 1)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut, resampling by ``stride`` (down, or up when ``up``).

    Down: the first convolution has the stride. Up: nearest-neighbour upsampling first (no
    checkerboard artefacts of transposed convolutions). The shortcut is a 1x1 convolution when the
    shape changes, else the identity.
    """

    def __init__(self, cin: int, cout: int, stride: int, cfg: VAEConfig, up: bool) -> None:
        super().__init__()
        norm = nn.BatchNorm2d if cfg.batch_norm else (lambda c: nn.Identity())
        self.resample = nn.Upsample(scale_factor=stride, mode="nearest") if up and stride > 1 \
            else nn.Identity()
        conv_stride = 1 if up else stride
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=conv_stride, padding=1)
        self.norm1, self.norm2 = norm(cout), norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1, stride=conv_stride) if cin != cout or conv_stride > 1 \
            else nn.Identity()
        self.act = _act(cfg)
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resample(x)
        h = self.act(self.norm1(self.conv1(x)))
        h = self.norm2(self.conv2(h))
        return self.drop(self.act(h + self.skip(x)))


def reparameterize(mu: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None
                   ) -> torch.Tensor:
    """z = mu + exp(log_var / 2) * eps, eps ~ N(0, I) (Kingma & Welling 2014, sec. 2.4)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * log_var) * eps


class VAE(SavedModel):
    """Convolutional VAE on images in [0, 1]: ``forward(x) -> (recon, mu, log_var)``."""

    config_class = VAEConfig
    config_name, weights_name = CONFIG_NAME, WEIGHTS_NAME

    def __init__(self, config: VAEConfig | None = None, **overrides) -> None:
        super().__init__()
        cfg = config if config is not None else VAEConfig(**overrides)
        self.config = cfg
        down = math.prod(cfg.encoder_strides)
        self.latent_hw = cfg.image_size // down
        self.latent_c = cfg.encoder_filters[-1]
        flat = self.latent_c * self.latent_hw ** 2

        enc: list[nn.Module] = []
        cin = cfg.in_channels
        for cout, k, s in zip(cfg.encoder_filters, cfg.encoder_kernels, cfg.encoder_strides):
            if cfg.arch == "conv":
                enc += [nn.Conv2d(cin, cout, k, stride=s, padding=(k - 1) // 2), *_post(cfg, cout)]
            else:
                enc.append(ResBlock(cin, cout, s, cfg, up=False))
            cin = cout
        self.encoder = nn.Sequential(*enc)                          # (B, C, H, W) -> (B, c, h, w)
        self.mu = nn.Linear(flat, cfg.z_dim)
        self.log_var = nn.Linear(flat, cfg.z_dim)

        self.decoder_input = nn.Linear(cfg.z_dim, flat)
        dec: list[nn.Module] = []
        cin = self.latent_c
        stages = list(zip(cfg.decoder_filters, cfg.decoder_kernels, cfg.decoder_strides))
        for i, (cout, k, s) in enumerate(stages):
            last = i == len(stages) - 1
            if cfg.arch == "conv" or last:
                if cfg.arch == "resnet":  # last stage: upsample, then a plain output convolution
                    dec += [nn.Upsample(scale_factor=s, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1)]
                else:
                    dec.append(_up(cin, cout, k, s))
                if not last:
                    dec += _post(cfg, cout)
            else:
                dec.append(ResBlock(cin, cout, s, cfg, up=True))
            cin = cout
        dec.append(nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)                          # (B, c, h, w) -> (B, C, H, W)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, C, H, W)`` in [0, 1] -> ``mu, log_var``, each ``(B, z_dim)``."""
        h = self.encoder(x).flatten(1)
        return self.mu(h), self.log_var(h)

    reparameterize = staticmethod(reparameterize)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, z_dim)`` -> ``(B, C, H, W)`` in [0, 1]."""
        h = self.decoder_input(z).view(-1, self.latent_c, self.latent_hw, self.latent_hw)
        return self.decoder(h)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, log_var = self.encode(x)
        return self.decode(self.reparameterize(mu, log_var, generator)), mu, log_var


def resolve_pretrained(source: str | os.PathLike, revision: str | None = None) -> tuple[Path, VAEConfig]:
    """The folder holding a model's config and weights (local, or a Hub repo id), and its config."""
    folder = resolve_folder(source, (CONFIG_NAME, WEIGHTS_NAME), revision)
    return folder, VAE.read_config(folder)
