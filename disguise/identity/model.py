"""The learned identity model: face embeddings that tell people apart.

It answers whether an edited face still looks like the same person on the faces it was trained on
(the bundled one learned the synthetic set's drawn people; real photos are judged by
``disguise.identity.recognisers.DlibRecogniser``). ``IdentityNet`` is a small CNN ending in an
L2-normalised linear embedding, so two faces compare by the cosine of their embeddings. It learns
from the training split's people with a margin softmax over them (``MarginHead``, training only:
``disguise.identity.training``), CosFace's ``s * (cos(theta_y) - m)`` or ArcFace's
``s * cos(theta_y + m)`` for the true person. A saved model is ``identity.json`` and
``identity.safetensors`` in a weights folder (``disguise.pretrained.SavedModel``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..classifier.convnet import ConvNetConfig, conv_blocks
from ..preprocess import Preprocess, to_tensor
from ..pretrained import SavedModel, evaluating

IDENTITY_TYPE = "disguise-identity"
CONFIG_NAME = "identity.json"
WEIGHTS_NAME = "identity.safetensors"
LOSSES = ("cosface", "arcface")


@dataclass
class IdentityConfig(ConvNetConfig):
    """Everything needed to rebuild an identity model (and how it was trained).

    Attributes:
        widths: channels of each stride-2 conv block (one block per entry).
        embedding_dim: size of the L2-normalised embedding.
        loss: the margin softmax, cosface or arcface.
        scale: the logit scale s (30, as in CosFace).
        margin: m: a cosine margin for CosFace (0.35), an angle in radians for ArcFace (0.5 is
            ArcFace's usual value).
        preprocess: the preprocessing policy (``Preprocess.to_dict()``); default the VAE's crop at 64 px.
    """

    embedding_dim: int = 128
    loss: str = field(default="cosface", metadata={"choices": LOSSES})
    scale: float = 30.0
    margin: float = 0.35
    model_type: ClassVar[str] = IDENTITY_TYPE

    def __post_init__(self) -> None:
        super().__post_init__()
        if int(self.embedding_dim) < 1:
            raise ValueError(f"embedding_dim must be positive, got {self.embedding_dim}")
        self.embedding_dim = int(self.embedding_dim)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"scale must be positive, got {self.scale}")
        if not (0 <= self.margin < (math.pi / 2 if self.loss == "arcface" else 1)):
            raise ValueError(f"margin must be in [0, {'pi/2' if self.loss == 'arcface' else '1'}) "
                             f"for {self.loss}, got {self.margin}")
        self.scale, self.margin = float(self.scale), float(self.margin)


class IdentityNet(SavedModel):
    """Stride-2 conv blocks (``config.widths``), global average pooling, a linear embedding,
    L2-normalised: ``(B, 3, S, S)`` in [0, 1] -> ``(B, embedding_dim)`` unit vectors."""

    config_class = IdentityConfig
    config_name, weights_name = CONFIG_NAME, WEIGHTS_NAME

    def __init__(self, config: IdentityConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else IdentityConfig()
        self.features = conv_blocks(self.config.widths)
        self.embedding = nn.Linear(self.config.widths[-1], self.config.embedding_dim)

    @property
    def policy(self) -> Preprocess:
        return self.config.policy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.embedding(self.features(x).mean(dim=(2, 3))), dim=1)


class MarginHead(nn.Module):
    """Margin-softmax logits over the training people (training only; not saved with the model).

    ``forward(embeddings, labels)``: ``s * cos(theta)`` for every person, with the true person's
    term replaced by ``s * (cos(theta) - m)`` (CosFace, Wang et al. 2018) or ``s * cos(theta + m)``
    (ArcFace, Deng et al. 2019; past ``theta = pi - m``, where the angle would wrap, it falls back
    to CosFace's form with ``m * sin(m)`` as in the ArcFace code). ``labels=None``: no margin.
    """

    def __init__(self, embedding_dim: int, classes: int, loss: str = "cosface", scale: float = 30.0,
                 margin: float = 0.35) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        self.loss, self.scale, self.margin = loss, float(scale), float(margin)
        self.weight = nn.Parameter(torch.empty(classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, emb: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cos = F.normalize(emb, dim=1) @ F.normalize(self.weight, dim=1).t()
        if labels is None:
            return self.scale * cos
        target = cos.gather(1, labels[:, None])
        if self.loss == "cosface":
            marked = target - self.margin
        else:
            m = self.margin
            sin = torch.sqrt((1 - target.square()).clamp_min(1e-7))
            phi = target * math.cos(m) - sin * math.sin(m)
            marked = torch.where(target > math.cos(math.pi - m), phi, target - math.sin(math.pi - m) * m)
        return self.scale * cos.scatter(1, labels[:, None], marked)


@torch.no_grad()
def embed(net: IdentityNet, faces: np.ndarray, batch_size: int = 256, flip: bool = True,
          device: str | torch.device | None = None) -> np.ndarray:
    """``(N, D)`` float32 unit embeddings of uint8 faces ``(N, S, S, 3)`` (other sizes are
    resized to the model's). ``flip``: average with the mirrored face's embedding, renormalised.
    Runs in eval mode and gives the model back in the mode it was in."""
    device = torch.device(device) if device is not None else next(net.parameters()).device
    size = net.policy.size
    out = []
    with evaluating(net):
        for start in range(0, len(faces), batch_size):
            x = to_tensor(faces[start:start + batch_size], device)
            if x.shape[-2:] != (size, size):
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            e = net(x)
            if flip:
                e = F.normalize(e + net(x.flip(3)), dim=1)
            out.append(e.float().cpu())
    if not out:
        return np.zeros((0, net.config.embedding_dim), dtype=np.float32)
    return torch.cat(out).numpy()
