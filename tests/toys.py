"""Stand-ins for the VAE whose every code a person can reason about, for the tests of the rows
that depend on a face (hair rows, picture rows) and of the rows below 0."""

from __future__ import annotations

import torch

Z = 48  # the toy's code: the 4 x 4 x 3 middle of an 8 x 8 picture


class MiddleVAE(torch.nn.Module):
    """A VAE on 8 x 8 pictures whose code is the picture's 4 x 4 x 3 middle (pixel p -> 8p - 4);
    decoding paints it back there on a grey frame, so the backdrop never changes. Its crop is the
    whole picture (a blur of s px of the aligned frame is s px here). It counts its decodes."""

    def __init__(self) -> None:
        super().__init__()
        policy = type("P", (), {"crop": (0, 0, 8, 8), "size": 8})()
        self.config = type("C", (), {"z_dim": Z, "image_size": 8, "policy": policy})()
        self.decodes = 0

    def encode(self, x: torch.Tensor):
        return x[:, :, 2:6, 2:6].flatten(1) * 8 - 4, None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        self.decodes += 1
        out = torch.full((len(z), 3, 8, 8), 0.5)
        out[:, :, 2:6, 2:6] = ((z + 4) / 8).clamp(0, 1).reshape(-1, 3, 4, 4)
        return out
