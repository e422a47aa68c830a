"""Training an attribute classifier: Adam with a one-cycle learning rate, flips, and blur on half
the batches (VAE decodes are softer than photos)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.batches import iterate_batches
from ..policy import Preprocess, to_tensor
from .convnet import DEFAULT_WIDTHS, random_blur
from .model import AttributeClassifier, ClassifierConfig


def train_classifier(images: np.ndarray, labels: np.ndarray, epochs: int = 12, batch_size: int = 128,
                     lr: float = 2e-3, seed: int = 0, device: str | torch.device = "cpu",
                     progress: bool = True, blur: float = 1.5, policy: Preprocess | None = None,
                     widths: Sequence[int] = DEFAULT_WIDTHS, trained_on: str = "") -> AttributeClassifier:
    """Fit a new judge on real training faces (uint8 ``(N, S, S, 3)``, labels +1/-1).

    ``policy`` is how those faces were preprocessed (default: the default crop at size S);
    ``widths`` are the classifier's conv blocks; ``trained_on`` what the faces are (the data's
    ``kind``). The judge is returned in eval mode.

    Half the batches are blurred (sigma up to ``blur`` pixels): VAE decodes are softer than
    photos, and a classifier that has only seen sharp faces judges sharpness, not attributes
    (it would call every reconstruction Blurry and miss glasses frames). The classifier never
    sees the VAE's output, so it stays an independent judge. ``blur=0`` turns this off.
    """
    torch.manual_seed(seed)
    device = torch.device(device)
    if policy is None:
        policy = Preprocess(size=images.shape[1])
    if images.shape[1] != policy.size:
        raise ValueError(f"faces are {images.shape[1]} px but the policy says {policy.size}")
    clf = AttributeClassifier(ClassifierConfig(widths=tuple(widths), preprocess=policy.to_dict(),
                                          trained_on=trained_on)).to(device)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    steps = epochs * math.ceil(len(images) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    target_all = torch.from_numpy((np.asarray(labels) > 0).astype(np.float32))
    bar = tqdm(total=steps, desc="attribute classifier", unit="batch", disable=not progress, leave=False)
    for epoch in range(epochs):
        clf.train()
        for idx in iterate_batches(len(images), batch_size, True, torch.Generator().manual_seed(seed + epoch)):
            x = to_tensor(images[idx], device)
            if torch.rand(()) < 0.5:  # horizontal flips: no attribute here is left-right specific
                x = x.flip(3)
            if blur and torch.rand(()) < 0.5:
                x = random_blur(x, blur)
            loss = F.binary_cross_entropy_with_logits(clf(x), target_all[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return clf.eval()
