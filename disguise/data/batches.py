"""Index batches over a set of faces: shuffled per epoch, split between processes under torchrun."""

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
