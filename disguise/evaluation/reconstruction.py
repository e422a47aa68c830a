"""How well the model reconstructs: MSE, PSNR and SSIM of plain reconstructions (decode of mu).

SSIM as Wang et al. 2004: 11 x 11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, on [0, 1]
images, averaged over channels (checked against scikit-image).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..sliders.editor import Editor


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] @ g[None, :]).float()


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image SSIM of ``(B, C, H, W)`` batches (valid-region filtering, as in Wang et al.)."""
    c = x.shape[1]
    win = _gaussian_window().to(x)[None, None].repeat(c, 1, 1, 1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=c)

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx ** 2
    syy = filt(y * y) - my ** 2
    sxy = filt(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


@torch.no_grad()
def reconstruction_metrics(editor: Editor, images: np.ndarray, batch_size: int = 256,
                           progress: bool = True) -> dict[str, float]:
    """Mean MSE, PSNR (dB) and SSIM of plain reconstructions (decode of ``mu``) of uint8 faces."""
    mse, psnr, ss, n = 0.0, 0.0, 0.0, 0
    for start in tqdm(range(0, len(images), batch_size), desc="reconstruction", leave=False,
                      disable=not progress):
        faces = images[start:start + batch_size]
        x = editor.to_input(faces)
        r = editor.decode_float(editor.encode(faces), batch_size)
        per = (r - x).pow(2).flatten(1).mean(1)
        mse += float(per.sum())
        psnr += float((10 * torch.log10(1.0 / per.clamp(min=1e-10))).sum())
        ss += float(ssim(r, x).sum())
        n += len(x)
    return {"mse": mse / n, "psnr": psnr / n, "ssim": ss / n, "images": n}
