"""Training an attribute classifier, through the project's run driver (``disguise.training.driver``):
Adam on a one-cycle learning rate, binary cross-entropy over the 40 labels (optionally with each
label's faces that have it weighed as much, in all, as those without: ``label_weights``), flips,
and blur on half the batches (VAE decodes are softer than photos). With a run folder it
checkpoints at every epoch's end and on Ctrl-C, and ``resume=True`` continues exactly where it
stopped.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.batches import iterate_batches
from ..preprocess import Preprocess, to_tensor
from ..training.driver import Run, RunState, descend, epoch_generator, lr_schedule, same_setup
from .convnet import DEFAULT_WIDTHS, random_blur
from .model import AttributeClassifier, ClassifierConfig

CHECKPOINT_NAME = "classifier_checkpoint.safetensors"


@dataclass
class ClassifierTrainConfig:
    """How an attribute classifier trains (recorded in its checkpoint).

    Attributes:
        epochs: passes over the faces.
        batch_size: faces per step.
        lr: Adam's peak learning rate (one-cycle: up over the first 30% of the steps, then down).
        seed: seeds the weights, the shuffling and the augmentation; CPU runs repeat exactly.
        blur: the largest Gaussian blur (pixels) put on half the batches (0: none).
        faces: how many faces it learns from (a resumed run must see the same).
        balanced: each label's positives weighed with ``label_weights`` (False: every face alike).
    """

    epochs: int = 12
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    blur: float = 1.5
    faces: int = 0
    balanced: bool = False


MAX_LABEL_WEIGHT = 50.0


def label_weights(labels: np.ndarray) -> torch.Tensor:
    """Per label, the weight of a face that has it: the faces without it over those with it, within
    ``1 / MAX_LABEL_WEIGHT`` and ``MAX_LABEL_WEIGHT``. Unweighted, a classifier learns each label's
    prior first and reads a rare label only on overwhelming evidence (``bench/balanced_labels.py``:
    Blurry, on 5% of the synthetic faces, read at chance unweighted and at 80% weighted)."""
    has = (np.asarray(labels) > 0).sum(0).astype(np.float64)
    weights = (len(labels) - has) / np.maximum(has, 1.0)
    return torch.from_numpy(np.clip(weights, 1 / MAX_LABEL_WEIGHT, MAX_LABEL_WEIGHT).astype(np.float32))


def train_classifier(images: np.ndarray, labels: np.ndarray, epochs: int = 12, batch_size: int = 128,
                     lr: float = 2e-3, seed: int = 0, device: str | torch.device = "cpu",
                     progress: bool = True, blur: float = 1.5, policy: Preprocess | None = None,
                     widths: Sequence[int] = DEFAULT_WIDTHS, trained_on: str = "", arch: str = "convnet",
                     run_dir: str | os.PathLike | None = None, resume: bool = False, desc: str = "attribute classifier",
                     on_batch: Callable[[int, int], None] | None = None, balanced: bool = False,
                     log: Callable[[str], None] = lambda m: None) -> AttributeClassifier:
    """Fit a new classifier on uint8 faces ``(N, S, S, 3)`` with +1/-1 ``labels`` ``(N, 40)``.

    ``policy`` is how those faces were preprocessed (default: the default crop at size S);
    ``arch`` and ``widths`` its network; ``trained_on`` what the faces are (the data's ``kind``);
    ``balanced``: weigh each label's positives with ``label_weights``.
    Half the batches are blurred (sigma up to ``blur`` pixels, 0: never): a classifier that has
    only seen sharp faces judges sharpness, not attributes, on a VAE's softer decodes. With
    ``run_dir`` the run checkpoints there (``CHECKPOINT_NAME``); ``resume=True`` continues it
    exactly, and an interrupted run (Ctrl-C) writes its checkpoint, then raises
    ``KeyboardInterrupt`` again. Returned in eval mode.
    """
    device = torch.device(device)
    if policy is None:
        policy = Preprocess(size=images.shape[1])
    if images.shape[1] != policy.size:
        raise ValueError(f"faces are {images.shape[1]} px but the policy says {policy.size}")
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"a classifier needs faces and one label row each, got {len(images)} faces and "
                         f"{len(labels)} rows")
    options = ClassifierTrainConfig(epochs, batch_size, lr, seed, blur, int(len(images)), balanced)
    torch.manual_seed(seed)
    classifier = AttributeClassifier(ClassifierConfig(widths=tuple(widths), preprocess=policy.to_dict(),
                                               trained_on=trained_on, arch=arch)).to(device)
    opt = torch.optim.Adam(classifier.parameters(), lr=lr)
    steps = math.ceil(len(images) / batch_size)
    run = Run(None if run_dir is None else Path(run_dir), {"model": classifier}, opt,
              lr_schedule(opt, "one-cycle", epochs * steps), classifier.config, options, epochs, steps, batch_size,
              checkpoint=CHECKPOINT_NAME, progress=progress, log=log, desc=desc)
    run.check_folder(resume)
    state = RunState()
    if resume:
        _same_setup(run, options)
        state, _ = run.resume()
    targets = torch.from_numpy((np.asarray(labels) > 0).astype(np.float32))
    positives = label_weights(labels).to(device) if balanced else None

    def batches(epoch: int):
        return iterate_batches(len(images), batch_size, True, epoch_generator(seed, epoch))

    def step(idx: np.ndarray) -> dict[str, float]:
        x = to_tensor(images[idx], device)
        if torch.rand(()) < 0.5:  # horizontal flips: no attribute here is left-right specific
            x = x.flip(3)
        if blur and torch.rand(()) < 0.5:
            x = random_blur(x, blur)
        loss = F.binary_cross_entropy_with_logits(classifier(x), targets[idx].to(device), pos_weight=positives)
        return descend(opt, loss, "the classifier's loss")

    result = run.fit(state, batches, step, on_batch=on_batch, device=device)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    return classifier.eval()


def _same_setup(run: Run, options: ClassifierTrainConfig) -> None:
    """A resumed run must see as many faces with the same options (only ``epochs`` may grow)."""
    same_setup(run.path, asdict(options), "another classifier's run", before={"balanced": False})
