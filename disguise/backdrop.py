"""The picture's backdrop: the band along its top and sides that an aligned face leaves to the
background, and how much an edit changes it.

An attribute edit should change the person, not the wall behind them. The judge cannot tell
(it reads attributes), so edits that also repaint the background pass it: at its slider's end a
learned "big lips" edit turned the backgrounds cyan, a "bald" edit purple. In the aligned frame
(``disguise.frame``) the face, the hair and a hat sit inside a margin of ``1/16`` of the picture at
the top and the sides; the bottom is left out, where the neck, a necklace and a necktie reach the
edge. The change there, as a mean absolute difference of pixels in 0..1, is what
``disguise.sliders.learned`` learns to keep small and ``disguise.sliders.calibration`` caps
(``LIMIT``).
"""

from __future__ import annotations

import torch

LIMIT = 0.08  # the most an accepted edit may change the backdrop: about 20 of 255 levels on average


def band(size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(size, size)`` bool mask of the backdrop band: the top rows and the side columns, each
    ``size // 16`` pixels wide (4 at 64 px)."""
    width = max(1, size // 16)
    mask = torch.zeros(size, size, dtype=torch.bool, device=device)
    mask[:width] = True
    mask[:, :width] = True
    mask[:, size - width:] = True
    return mask


def change(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Per picture, the mean absolute change of the backdrop band between two ``(N, C, S, S)``
    batches of pixels in 0..1: ``(N,)``."""
    if before.shape != after.shape or before.ndim != 4 or before.shape[-1] != before.shape[-2]:
        raise ValueError(f"need two (N, C, S, S) batches of square pictures of one shape, "
                         f"got {tuple(before.shape)} and {tuple(after.shape)}")
    mask = band(before.shape[-1], before.device)
    return (after - before).abs()[..., mask].mean((1, 2))
