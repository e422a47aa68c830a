"""The small CNN the judge and the learned identity model share: its config, its feature
extractor and the blur their training adds (VAE decodes are softer than photos)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import torch
from torch import nn

from ..data.blur import gaussian_blur
from ..preprocess import Preprocess
from ..pretrained import SavedConfig, check_trained_on

DEFAULT_WIDTHS: tuple[int, ...] = (32, 64, 128, 128)


@dataclass
class ConvNetConfig(SavedConfig):
    """The fields every conv-block face network has: its widths, the preprocessing of the faces
    it sees (default: the VAE's crop at ``default_size`` px) and what those faces were
    (``trained_on``: synthetic, celeba, or "" when not recorded)."""

    widths: tuple[int, ...] = DEFAULT_WIDTHS
    preprocess: dict = field(default_factory=dict)
    trained_on: str = ""
    default_size: ClassVar[int] = 64

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"widths must be one or more positive integers, got {list(self.widths)}")
        # Round-trip through Preprocess: validates it and normalises it for comparisons.
        self.preprocess = Preprocess.from_dict(self.preprocess).to_dict() if self.preprocess \
            else Preprocess(size=self.default_size).to_dict()
        check_trained_on(self.trained_on)

    @property
    def policy(self) -> Preprocess:
        return Preprocess.from_dict(self.preprocess)


def conv_blocks(widths: Sequence[int]) -> nn.Sequential:
    """Per width: a stride-2 3x3 convolution and a 3x3 one, each with BatchNorm and ReLU;
    ``(B, 3, S, S)`` -> ``(B, widths[-1], S / 2^k, S / 2^k)``. The judge's and the identity model's
    feature extractor."""
    layers: list[nn.Module] = []
    cin = 3
    for w in widths:
        layers += [nn.Conv2d(cin, w, 3, stride=2, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                   nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        cin = w
    return nn.Sequential(*layers)


def random_blur(x: torch.Tensor, max_sigma: float) -> torch.Tensor:
    """Gaussian blur with one sigma per image, drawn from [0.3, max_sigma] pixels."""
    return gaussian_blur(x, torch.empty(len(x), device=x.device).uniform_(0.3, max_sigma))
