"""The seeds' classic VAEs with a 2-D latent, in one file: config, the networks, saving.

Four kinds, each its seed's network: ``dense`` (mnist-dense-vae-keras, 784-256-2), ``linear``
(frey-mnist-resnet-vae's "VAE - Linear", 784-512-256-2), ``conv2d`` (the VAE of
generative-dl-keras ch. 8) and ``frey`` (frey-mnist-resnet-vae's convolutional Frey-face VAE);
docs/classic.md has them layer by layer. Every model takes ``(B, 1, H, W)`` images in [0, 1] and
gives ``forward(x) -> (recon, mu, log_var)`` like ``disguise.vae.model.VAE``, so the project's
loss and training step serve both; ``SEED_RECIPES`` holds each seed's loss, optimiser, batch and
epochs. A saved model is a folder with ``config.json`` (model_type ``disguise-classic-vae``) and
``model.safetensors``, loaded strictly and without pickle (``ClassicVAE.from_pretrained``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..pretrained import SavedConfig, SavedModel
from ..vae.losses import LossConfig
from ..vae.model import reparameterize

MODEL_TYPE = "disguise-classic-vae"
KINDS = ("dense", "linear", "conv2d", "frey")


@dataclass(frozen=True)
class Recipe:
    """A seed's training recipe.

    Attributes:
        loss / kl_weight: see ``disguise.vae.losses.LossConfig``.
        optimizer: ``rmsprop`` (Keras' defaults: lr 1e-3, rho 0.9, eps 1e-7) or ``adam``.
        lr, batch_size, epochs: as the seed trained.
    """

    loss: str
    kl_weight: float
    optimizer: str
    lr: float
    batch_size: int
    epochs: int


SEED_RECIPES = {
    # Keras' binary_crossentropy is the per-pixel mean; the KL is added divided by 784.
    "dense": Recipe("bce-mean", 1 / 784, "rmsprop", 1e-3, 100, 50),
    # PyTorch's VAE example: BCE summed over pixels + KL (test loss about 136 on MNIST).
    "linear": Recipe("bce-sum", 1.0, "adam", 1e-3, 100, 100),
    # Chollet's ch. 8: per-pixel mean BCE + 5e-4 * KL (val loss about 0.183 on MNIST).
    "conv2d": Recipe("bce-mean", 5e-4, "rmsprop", 1e-3, 16, 10),
    # The note gives Adam and BCE + KL; no batch size, and shows epochs 1 and 20.
    "frey": Recipe("bce-sum", 1.0, "adam", 1e-3, 32, 20),
}


@dataclass
class ClassicConfig(SavedConfig):
    """Everything needed to rebuild a classic VAE.

    Attributes:
        kind: one of ``KINDS``.
        height / width: image size (28 x 28 for MNIST, 28 x 20 for Frey faces).
        z_dim: latent dimensions (2 in every seed, so the latent plane can be drawn).
        hidden: ``dense`` / ``linear``: the hidden layer widths, input side first.
        filters: ``conv2d``: the four encoder convolutions' channels; ``frey``: the five encoder
            convolutions' channels (the decoder mirrors them).
        dense: ``conv2d``: the width of the dense layer before the latent heads.
        data: the data set it was trained on (a name, for people).
        class_names: the names of the labels 0, 1, ... (empty when the data has none).
    """

    kind: str = "conv2d"
    height: int = 28
    width: int = 28
    z_dim: int = 2
    hidden: tuple[int, ...] = ()
    filters: tuple[int, ...] = ()
    dense: int = 32
    data: str = ""
    class_names: tuple[str, ...] = ()
    model_type: ClassVar[str] = MODEL_TYPE

    def __post_init__(self) -> None:
        self.hidden = tuple(int(v) for v in self.hidden)
        self.filters = tuple(int(v) for v in self.filters)
        self.class_names = tuple(str(v) for v in self.class_names)
        self.validate()

    @classmethod
    def for_kind(cls, kind: str, **overrides) -> "ClassicConfig":
        """The seed's architecture for ``kind`` (MNIST-sized unless ``overrides`` say otherwise)."""
        base = {"dense": dict(hidden=(256,)), "linear": dict(hidden=(512, 256)),
                "conv2d": dict(filters=(32, 64, 64, 32), dense=32),
                "frey": dict(height=28, width=20, filters=(16, 32, 32, 64, 64))}
        if kind not in base:
            raise ValueError(f"model kind must be one of {', '.join(KINDS)}, got {kind!r}")
        return cls(kind=kind, **{**base[kind], **overrides})

    def validate(self) -> None:
        """Raise ``ValueError`` for an impossible configuration, saying what to change."""
        if self.kind not in KINDS:
            raise ValueError(f"model kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.z_dim < 1 or self.height < 4 or self.width < 4:
            raise ValueError(f"need z_dim >= 1 and images of at least 4 x 4, got z_dim {self.z_dim}, "
                             f"{self.height} x {self.width}")
        if self.kind in ("dense", "linear"):
            if not self.hidden or min(self.hidden) < 1:
                raise ValueError(f"{self.kind}: hidden needs one positive width per layer, got "
                                 f"{self.hidden}")
        elif self.kind == "conv2d":
            if len(self.filters) != 4 or min(self.filters) < 1 or self.dense < 1:
                raise ValueError(f"conv2d: needs four positive filter counts and a dense width, got "
                                 f"{self.filters}, {self.dense}")
            if self.height % 2 or self.width % 2:
                raise ValueError(f"conv2d halves the image once: {self.height} x {self.width} must be even")
        else:
            if len(self.filters) != 5 or min(self.filters) < 1:
                raise ValueError(f"frey: needs five positive filter counts, got {self.filters}")
            if self.height % 4 or self.width % 4:
                raise ValueError(f"frey halves the image twice: {self.height} x {self.width} must be "
                                 f"divisible by 4")

    @property
    def pixels(self) -> int:
        return self.height * self.width



def recipe_loss(kind: str) -> LossConfig:
    """The seed's loss for a model kind."""
    r = SEED_RECIPES[kind]
    return LossConfig(r.loss, kl_weight=r.kl_weight)


# ----------------------------------------------------------------------------------------------
# The networks: each maps (B, 1, H, W) -> (B, z_dim) twice, and (B, z_dim) -> (B, 1, H, W).


def _mlp(widths: list[int], last: nn.Module | None) -> nn.Sequential:
    """Linear layers through ``widths`` with ReLU between them and ``last`` after the final one."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


def _conv(cin: int, cout: int, stride: int) -> nn.Conv2d:
    # kernel 3, padding 1: Keras' padding='same' for stride 1, and size // 2 for stride 2.
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


def _deconv(cin: int, cout: int, stride: int) -> nn.ConvTranspose2d:
    # Keras' Conv2DTranspose(3, padding='same'): multiplies the size by the stride exactly.
    return nn.ConvTranspose2d(cin, cout, 3, stride=stride, padding=1, output_padding=stride - 1)


class DenseNets(nn.Module):
    """``dense`` and ``linear``: the image flattened through ``hidden``, and back."""

    def __init__(self, cfg: ClassicConfig) -> None:
        super().__init__()
        widths = [cfg.pixels, *cfg.hidden]
        self.encoder = nn.Sequential(nn.Flatten(), _mlp(widths, nn.ReLU()))     # (B, hidden[-1])
        self.mu = nn.Linear(widths[-1], cfg.z_dim)
        self.log_var = nn.Linear(widths[-1], cfg.z_dim)
        self.decoder = nn.Sequential(_mlp([cfg.z_dim, *reversed(widths)], nn.Sigmoid()),
                                     nn.Unflatten(1, (1, cfg.height, cfg.width)))


class BookConvNets(nn.Module):
    """``conv2d``, Chollet's ch. 8 model: four convolutions (the second halves the image), a dense
    layer; back through a dense layer, one transposed convolution (x2) and a sigmoid convolution."""

    def __init__(self, cfg: ClassicConfig) -> None:
        super().__init__()
        f = cfg.filters
        h, w = cfg.height // 2, cfg.width // 2
        flat = f[3] * h * w
        self.encoder = nn.Sequential(
            _conv(1, f[0], 1), nn.ReLU(), _conv(f[0], f[1], 2), nn.ReLU(),       # (B, f1, H/2, W/2)
            _conv(f[1], f[2], 1), nn.ReLU(), _conv(f[2], f[3], 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(flat, cfg.dense), nn.ReLU())                  # (B, dense)
        self.mu = nn.Linear(cfg.dense, cfg.z_dim)
        self.log_var = nn.Linear(cfg.dense, cfg.z_dim)
        self.decoder = nn.Sequential(
            nn.Linear(cfg.z_dim, flat), nn.ReLU(), nn.Unflatten(1, (f[3], h, w)),
            _deconv(f[3], f[3], 2), nn.ReLU(),                                    # (B, f3, H, W)
            _conv(f[3], 1, 1), nn.Sigmoid())


class FreyConvNets(nn.Module):
    """``frey``: five convolutions (the 2nd and 4th halve the image), five transposed ones that
    mirror them channel for channel; a sigmoid at the end."""

    STRIDES = (1, 2, 1, 2, 1)

    def __init__(self, cfg: ClassicConfig) -> None:
        super().__init__()
        chans = [1, *cfg.filters]
        h, w = cfg.height // 4, cfg.width // 4
        flat = chans[-1] * h * w
        enc: list[nn.Module] = []
        for i, s in enumerate(self.STRIDES):
            enc += [_conv(chans[i], chans[i + 1], s), nn.ReLU()]
        self.encoder = nn.Sequential(*enc, nn.Flatten())                         # (B, c5 * H/4 * W/4)
        self.mu = nn.Linear(flat, cfg.z_dim)
        self.log_var = nn.Linear(flat, cfg.z_dim)
        dec: list[nn.Module] = [nn.Linear(cfg.z_dim, flat), nn.ReLU(), nn.Unflatten(1, (chans[-1], h, w))]
        for j, s in enumerate(reversed(self.STRIDES)):
            dec.append(_deconv(chans[-1 - j], chans[-2 - j], s))
            dec.append(nn.ReLU() if j < len(self.STRIDES) - 1 else nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)                                        # (B, 1, H, W)


NETS = {"dense": DenseNets, "linear": DenseNets, "conv2d": BookConvNets, "frey": FreyConvNets}


class ClassicVAE(SavedModel):
    """A classic VAE on ``(B, 1, H, W)`` images in [0, 1]: ``forward(x) -> (recon, mu, log_var)``."""

    config_class = ClassicConfig

    def __init__(self, config: ClassicConfig) -> None:
        super().__init__()
        self.config = config
        self.nets = NETS[config.kind](config)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 1, H, W)`` -> ``mu, log_var``, each ``(B, z_dim)``."""
        h = self.nets.encoder(x)
        return self.nets.mu(h), self.nets.log_var(h)

    reparameterize = staticmethod(reparameterize)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, z_dim)`` -> ``(B, 1, H, W)`` in [0, 1]."""
        return self.nets.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, log_var = self.encode(x)
        return self.decode(self.reparameterize(mu, log_var, generator)), mu, log_var


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """``adam``, or ``rmsprop`` with Keras' defaults (rho 0.9, epsilon 1e-7; torch's are 0.99, 1e-8)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)
    raise ValueError(f"optimizer must be adam or rmsprop, got {name!r}")
