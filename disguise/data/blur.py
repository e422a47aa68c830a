"""A Gaussian blur of float pictures, in torch, as a photo is blurred: the Blurry slider's picture
change (``disguise.sliders.picture_rows``) and the blur the judge and the identity model learn with
(``disguise.classifier.convnet.random_blur``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_blur(x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """Float images ``(B, C, H, W)`` blurred by a Gaussian of ``sigma`` pixels (one for all, or
    one per image), separably, with the edges repeated outwards."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1).expand(len(x))
    if not bool((sigma > 0).all()):
        raise ValueError("a Gaussian blur needs a positive sigma")
    k = 2 * math.ceil(3 * float(sigma.max())) + 1
    t = torch.arange(k, dtype=x.dtype, device=x.device) - k // 2
    g = torch.exp(-t[None] ** 2 / (2 * sigma[:, None] ** 2))
    g = g / g.sum(1, keepdim=True)                                   # (B, k)
    b, c, h, w = x.shape
    y = x.reshape(1, b * c, h, w)
    kern = g.repeat_interleave(c, 0)                                 # (B*C, k)
    y = F.conv2d(F.pad(y, (k // 2, k // 2, 0, 0), mode="replicate"), kern[:, None, None, :], groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, k // 2, k // 2), mode="replicate"), kern[:, None, :, None], groups=b * c)
    return y.reshape(b, c, h, w)
