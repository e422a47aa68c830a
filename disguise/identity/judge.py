"""The judge: an attribute classifier trained independently of the VAE, to score its edits.

It learns the 40 CelebA attributes from the training split's real faces and never sees the VAE's
output, so it is an independent judge of edited faces (the protocol of face-attribute-editing
papers, see ``disguise.metrics``). Its own test accuracy per attribute goes in the report, so a
reader knows what the edit numbers are worth.

The judge works at ``JUDGE_SIZE`` pixels whatever the model's size (decodes of a 128 px model are
downsampled for it), so runs at 64 and 128 px are held to the same judge, and training it stays
affordable on a laptop CPU. It records the preprocessing it was trained with and is refused for a
model whose faces are cropped differently.

A saved judge is two files in a weights folder, saved like every model of the project
(``disguise.pretrained.SavedModel``): its whole config (``attribute_classifier.json``: the layer
widths and the preprocessing) and its weights (``attribute_classifier.safetensors``), from which
``AttributeClassifier.from_pretrained`` rebuilds it.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..attributes import ATTRIBUTES
from ..data.batches import iterate_batches
from ..policy import Preprocess, to_tensor
from ..pretrained import SavedModel, evaluating
from .convnet import DEFAULT_WIDTHS, ConvNetConfig, conv_blocks, random_blur

CLASSIFIER_NAME = "attribute_classifier.safetensors"
CLASSIFIER_CONFIG = "attribute_classifier.json"
JUDGE_TYPE = "disguise-attribute-classifier"
JUDGE_SIZE = 64  # pixels the classifier sees



@dataclass
class JudgeConfig(ConvNetConfig):
    """Everything needed to rebuild a judge.

    Attributes:
        widths: channels of each stride-2 conv block (one block per entry).
        preprocess: the preprocessing policy (``Preprocess.to_dict()``) of the faces it learned on.
    """

    model_type: ClassVar[str] = JUDGE_TYPE
    default_size: ClassVar[int] = JUDGE_SIZE


class AttributeClassifier(SavedModel):
    """A small CNN: stride-2 conv blocks (``config.widths``), global average pooling, 40 logits.

    ``policy`` is the preprocessing of the faces it is trained on; ``predict`` resizes other
    sizes (a 128 px model's decodes) to ``policy.size``.
    """

    config_class = JudgeConfig
    config_name, weights_name = CLASSIFIER_CONFIG, CLASSIFIER_NAME

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else JudgeConfig()
        self.features = conv_blocks(self.config.widths)
        self.head = nn.Linear(self.config.widths[-1], len(ATTRIBUTES))

    @property
    def policy(self) -> Preprocess:
        return self.config.policy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> ``(B, 40)`` logits."""
        return self.head(self.features(x).mean(dim=(2, 3)))


def judge_policy(policy: Preprocess) -> Preprocess:
    """The judge's preprocessing for a model trained with ``policy``: its crop, at most JUDGE_SIZE px."""
    return dataclasses.replace(policy, size=min(int(policy.size), JUDGE_SIZE))


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
    clf = AttributeClassifier(JudgeConfig(widths=tuple(widths), preprocess=policy.to_dict(),
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


@torch.no_grad()
def predict(clf: AttributeClassifier, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Boolean ``(B, 40)`` predictions for float images ``(B, 3, H, W)`` of any size.

    Runs the judge in eval mode and leaves it in the mode it was in.
    """
    out = []
    with evaluating(clf):
        for i in range(0, len(x), batch_size):
            out.append(clf(at_judge_size(clf, x[i:i + batch_size])) > 0)
    return torch.cat(out)


def at_judge_size(clf: AttributeClassifier, x: torch.Tensor) -> torch.Tensor:
    """Float images ``(B, 3, H, W)`` at the size ``clf`` learned on (bilinear with antialiasing;
    differentiable, so a loss can read a decoder's output through it)."""
    size = clf.policy.size
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


@torch.no_grad()
def classifier_accuracy(clf: AttributeClassifier, images: np.ndarray, labels: np.ndarray,
                        device: str | torch.device) -> dict[str, dict[str, float]]:
    """Per attribute: the judge's accuracy on uint8 faces, its balanced accuracy (mean of the true
    positive and true negative rates) and the majority-class baseline. The judge's mode is kept."""
    with evaluating(clf):
        preds = torch.cat([predict(clf, to_tensor(images[idx], device)).cpu()
                           for idx in iterate_batches(len(images), 512, shuffle=False)]).numpy()
    truth = np.asarray(labels) > 0
    out = {}
    for k, a in enumerate(ATTRIBUTES):
        acc = float((preds[:, k] == truth[:, k]).mean())
        tpr = float(preds[truth[:, k], k].mean()) if truth[:, k].any() else float("nan")
        tnr = float((~preds[~truth[:, k], k]).mean()) if (~truth[:, k]).any() else float("nan")
        out[a] = {"accuracy": acc, "balanced_accuracy": float(np.nanmean([tpr, tnr])),
                  "majority_baseline": float(max(truth[:, k].mean(), 1 - truth[:, k].mean()))}
    return out


def load_classifier(folder: str | os.PathLike, device: str | torch.device = "cpu",
                    policy: Preprocess | None = None) -> AttributeClassifier:
    """The judge saved in ``folder`` (strictly, in eval mode). With ``policy``, refuse a judge
    trained on faces preprocessed otherwise."""
    folder = Path(folder)
    if (folder / CLASSIFIER_NAME).is_file() and not (folder / CLASSIFIER_CONFIG).is_file():
        raise ValueError(f"{folder / CLASSIFIER_NAME} has no config beside it ({CLASSIFIER_CONFIG}: its "
                         f"widths and preprocessing record); train a new one "
                         f"(train.evaluate --retrain-classifier)")
    clf = AttributeClassifier.from_pretrained(folder, device)
    saved = clf.config.policy
    if policy is not None and saved != policy:
        raise ValueError(f"{folder / CLASSIFIER_NAME} was trained on faces preprocessed as "
                         f"{saved.to_dict()}, but this model's judge needs {policy.to_dict()}; pass "
                         f"--retrain-classifier")
    return clf
