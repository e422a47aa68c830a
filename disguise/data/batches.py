"""Index batches over a set of faces: shuffled per epoch, split between processes under torchrun;
and the faces copied whole onto a GPU, where the batches are then taken."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch


def iterate_batches(n: int, batch_size: int, shuffle: bool, generator: torch.Generator | None = None,
                    rank: int = 0, world: int = 1, drop_last: bool = False) -> Iterator[np.ndarray]:
    """Index batches over ``range(n)``; with ``world > 1`` each rank gets its own equal share."""
    order = torch.randperm(n, generator=generator).numpy() if shuffle else np.arange(n)
    if world > 1:
        per = n // world
        order = order[rank * per:(rank + 1) * per]
    stop = len(order) - (len(order) % batch_size if drop_last else 0)
    for start in range(0, stop, batch_size):
        yield np.sort(order[start:start + batch_size])  # sorted: sequential reads of the memory map


def resident_copy(images: np.ndarray, device: torch.device, chunk: int = 4096) -> torch.Tensor:
    """``images`` (often a read-only memory map) copied onto ``device`` a chunk at a time: no second
    copy of the whole set in host memory, and no tensor over read-only memory."""
    out = torch.empty(images.shape, dtype=torch.from_numpy(np.array(images[:1])).dtype, device=device)
    for start in range(0, len(images), chunk):
        out[start:start + chunk] = torch.from_numpy(np.array(images[start:start + chunk]))
    return out
