"""VAE losses: the seed's faces loss (weighted MSE + KL) and the MNIST-style BCE + KL.

All functions return per-batch means of per-image quantities, so numbers compare across batch sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSSES = ("mse", "bce-sum", "bce-mean")


def kl_divergence(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(log_var)) || N(0, I)) per sample, in closed form: ``(B,)``.

    -1/2 * sum_j (1 + log_var_j - mu_j^2 - exp(log_var_j))  (Kingma & Welling 2014, appendix B).
    """
    return -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=1)


@dataclass
class LossTerms:
    """Batch means: ``total = recon + kl_weight * kl``."""

    total: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor

    def items(self) -> dict[str, float]:
        return {k: float(getattr(self, k).detach()) for k in ("total", "recon", "kl")}


@dataclass(frozen=True)
class LossConfig:
    """Which loss and its weights.

    Attributes:
        kind: ``mse`` (the seed's faces loss: r_loss_factor * per-image mean squared error),
            ``bce-sum`` (binary cross-entropy summed over pixels, as in PyTorch's VAE example) or
            ``bce-mean`` (per-pixel mean BCE, as the book's MNIST VAE, with a small kl_weight).
        r_loss_factor: weight of the MSE term (10000 in the seed for faces).
        kl_weight: weight of the KL term (1 for ``mse`` and ``bce-sum``; the book used 5e-4 with
            ``bce-mean``).
    """

    kind: str = "mse"
    r_loss_factor: float = 10000.0
    kl_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.kind!r}")
        if not (self.r_loss_factor > 0 and self.kl_weight >= 0):
            raise ValueError("r_loss_factor must be positive and kl_weight non-negative")


def vae_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor,
             cfg: LossConfig = LossConfig()) -> LossTerms:
    """The configured VAE loss on a batch; ``recon`` and ``x`` are ``(B, C, H, W)`` in [0, 1]."""
    recon, mu, log_var = recon.float(), mu.float(), log_var.float()
    if cfg.kind == "mse":
        rec = cfg.r_loss_factor * (recon - x).pow(2).flatten(1).mean(dim=1)
    else:
        bce = F.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), x, reduction="none").flatten(1)
        rec = bce.sum(dim=1) if cfg.kind == "bce-sum" else bce.mean(dim=1)
    kl = kl_divergence(mu, log_var)
    return LossTerms(total=(rec + cfg.kl_weight * kl).mean(), recon=rec.mean(), kl=kl.mean())
