"""Is it still this person? A recogniser: an identity model with its verification threshold.

``Recogniser`` wraps the learned identity model (``disguise.identity.model``) with the cosine
similarity above which two faces are called the same person, set at ``far`` false accepts on
unseen people (``identity_verification.json``, written by ``python -m train.identity``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..files import read_json
from ..policy import Preprocess
from .model import IdentityNet, embed
from .training import VERIFICATION_NAME


@dataclass
class Recogniser:
    """An identity model with its verification threshold: the cosine similarity above which two
    faces are called the same person, set at ``far`` false accepts on unseen people."""

    net: IdentityNet
    threshold: float
    far: float = 0.01

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, device: str | torch.device = "cpu") -> "Recogniser":
        """``identity.json``, ``identity.safetensors`` and ``identity_verification.json`` (written
        by ``python -m train.identity``) from ``folder``."""
        path = Path(folder) / VERIFICATION_NAME
        figures = read_json(path)
        try:
            threshold, far = float(figures["threshold"]), float(figures["far"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: no verification threshold (expected 'threshold' and 'far')") from None
        return cls(IdentityNet.from_pretrained(folder, device), threshold, far)

    @property
    def policy(self) -> Preprocess:
        return self.net.policy

    def embed(self, faces: np.ndarray) -> np.ndarray:
        return embed(self.net, faces)

    def compare(self, a: np.ndarray, b: np.ndarray) -> dict:
        """Two embeddings: their cosine similarity and whether it clears the threshold."""
        similarity = float(np.dot(a, b))
        return {"similarity": similarity, "threshold": self.threshold, "far": self.far,
                "recognised": similarity >= self.threshold}
