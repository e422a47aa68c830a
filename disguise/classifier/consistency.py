"""An attribute-consistency loss: the decoder is asked to draw what the face's labels say.

A VAE trained on pixels alone spends its few nats of latent information on what covers many
pixels (hair, skin, background) and drops what covers few (rosy cheeks, a thin necklace), and no
latent direction can add what the decoder never draws. Here a frozen attribute classifier reads
each reconstruction during training, and its binary cross-entropy against the input face's labels
joins the loss (AttGAN's attribute-classification constraint, applied to reconstructions):

    loss = VAE loss + weight * sum_a BCE(classifier(recon)_a, label_a)

The classifier must not be the judge that later evaluates the model: train it on other people
(``python -m train.attributes``), or the model would be graded by the network it learned to please.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..attributes import ATTRIBUTES, DRAWN
from .model import AttributeClassifier, at_classifier_size


def attributes_for(kind: str) -> tuple[str, ...]:
    """The attributes whose labels describe the pictures of a data set of ``kind``: those the
    synthetic set draws (its other labels are noise), or all 40 for real photos."""
    return DRAWN if kind == "synthetic" else ATTRIBUTES


class AttributeConsistency:
    """``weight`` x the summed BCE of ``classifier``'s reading of reconstructions against ``labels``
    (+1/-1, one row per training face) on ``attributes``. ``classifier`` is frozen and kept in eval
    mode."""

    def __init__(self, classifier: AttributeClassifier, labels: np.ndarray, attributes: Sequence[str], weight: float,
                 device: str | torch.device = "cpu") -> None:
        if not (weight > 0 and np.isfinite(weight)):
            raise ValueError(f"the attribute loss's weight must be positive, got {weight}")
        self.classifier = classifier.to(device).eval().requires_grad_(False)
        self.columns = torch.tensor([ATTRIBUTES.index(a) for a in attributes], device=device)
        self.targets = torch.from_numpy(np.asarray(labels) > 0).float().to(device)[:, self.columns]
        self.weight = float(weight)

    def term(self, rows: np.ndarray | torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """The loss for the batch of training faces ``rows``, as a function of their reconstructions."""
        target = self.targets[torch.as_tensor(rows, device=self.targets.device)]

        def loss(recon: torch.Tensor) -> torch.Tensor:
            logits = self.classifier(at_classifier_size(self.classifier, recon.float()))[:, self.columns]
            return self.weight * F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1).mean()

        return loss
