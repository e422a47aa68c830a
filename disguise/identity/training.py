"""Training the learned identity model on a CelebA-format folder's people.

The train split's people teach it, with a margin softmax over them (``MarginHead``: CosFace or
ArcFace), Adam, a cosine learning-rate decay, per-image flips and random blur; the run goes
through the project's run driver (``disguise.training.driver``): with a ``run_dir``, a checkpoint
(model, margin head, Adam state, schedule, RNG, position) at every epoch's end and on Ctrl-C,
``metrics.csv``, and an exact resume.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..classifier.convnet import random_blur
from ..data.batches import iterate_batches
from ..data.cache import load_split
from ..data.celeba import CelebA
from ..preprocess import Preprocess, to_tensor
from ..training.driver import Run, RunState, descend, epoch_generator, lr_schedule, same_setup
from .model import IdentityConfig, IdentityNet, MarginHead

CHECKPOINT_NAME = "identity_checkpoint.safetensors"
VERIFICATION_NAME = "identity_verification.json"  # the figures on unseen people, and the threshold


@dataclass
class IdentityTrainConfig:
    """How the identity model trains.

    Attributes:
        epochs: total epochs; a resumed run continues up to this number.
        batch_size: faces per step.
        lr: Adam's peak learning rate, lowered along a cosine to 1% of it by the last step.
        seed: seeds the weights, the shuffling and the augmentation; CPU runs repeat exactly.
        blur: the largest Gaussian blur (pixels) of the augmentation, applied to half the batches
            (0: none), so the softer faces a VAE decodes are embedded like photos.
        device: cpu or cuda[:N].
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    blur: float = 1.5
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"need epochs >= 1, batch size >= 1 and lr > 0, got {self.epochs}, "
                             f"{self.batch_size}, {self.lr}")


def load_people(data: CelebA, split: str, policy: Preprocess, progress: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(faces uint8 (M, S, S, 3), person ids (M,), attributes (M, 40))`` of ``split``.

    The faces come from ``disguise.data.cache.load_split``, which drops unreadable images; the ids
    are taken from the same rows. A folder without ``identity_CelebA.txt`` is a ``ValueError``.
    """
    if data.identity is None:
        raise ValueError(f"{data.root / 'identity_CelebA.txt'}: file not found (which person each "
                         f"image shows); the identity model needs it")
    faces, labels, report = load_split(data, split, policy, progress=progress)
    rows = data.indices(split)
    bad = set(report.corrupt)
    keep = rows[[data.names[i] not in bad for i in rows]] if bad else rows
    if len(keep) != len(faces):  # would mean cache.py selects rows otherwise
        raise ValueError(f"{report.path}: {len(faces)} faces for {len(keep)} readable rows")
    return faces, data.identity[keep], labels


def augment(x: torch.Tensor, blur: float) -> torch.Tensor:
    """Per-image horizontal flips; half the batches blurred (sigma up to ``blur``), as the judge
    is, so that the softer faces a VAE decodes are embedded like photos."""
    flip = torch.rand(len(x), device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if blur and torch.rand(()) < 0.5:
        x = random_blur(x, blur)
    return x


def _check_data(faces: np.ndarray, person_ids: np.ndarray, config: IdentityConfig,
                options: IdentityTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The people and each face's person index; impossible data is a ``ValueError``."""
    if faces.shape[1] != config.policy.size:
        raise ValueError(f"faces are {faces.shape[1]} px but the config's policy says {config.policy.size}")
    if len(faces) != len(person_ids):
        raise ValueError(f"{len(faces)} faces but {len(person_ids)} person ids")
    people, labels = np.unique(np.asarray(person_ids), return_inverse=True)
    if len(people) < 2:
        raise ValueError(f"need at least two people to train on, got {len(people)}")
    if len(faces) < options.batch_size:
        raise ValueError(f"{len(faces)} faces, fewer than one batch of {options.batch_size}")
    return people, labels


def train_identity(faces: np.ndarray, person_ids: np.ndarray, config: IdentityConfig | None = None,
                   options: IdentityTrainConfig | None = None, run_dir: str | os.PathLike | None = None,
                   resume: bool = False, progress: bool = True,
                   on_batch: Callable[[int, int], None] | None = None,
                   log: Callable[[str], None] = lambda m: None) -> IdentityNet:
    """Fit an identity model on uint8 faces ``(N, S, S, 3)`` of the people ``person_ids`` (N,).

    With ``run_dir`` the run checkpoints there (``CHECKPOINT_NAME``) and ``resume=True``
    continues it exactly (the same data and options but ``epochs``; anything else is refused). An
    interrupted run (Ctrl-C) writes its checkpoint, then raises ``KeyboardInterrupt`` again.
    ``on_batch(epoch, batch)`` is called after every step. Returns the model in eval mode.
    """
    config = config if config is not None else IdentityConfig()
    options = options if options is not None else IdentityTrainConfig()
    people, labels = _check_data(faces, person_ids, config, options)
    device = torch.device(options.device)
    labels_t = torch.from_numpy(labels.astype(np.int64))
    torch.manual_seed(options.seed)
    net = IdentityNet(config).to(device)
    head = MarginHead(config.embedding_dim, len(people), config.loss, config.scale, config.margin).to(device)
    opt = torch.optim.Adam(list(net.parameters()) + list(head.parameters()), lr=options.lr)
    steps = len(faces) // options.batch_size
    setup = {**asdict(options), "people": int(len(people)), "faces": int(len(faces))}
    run = Run(None if run_dir is None else Path(run_dir), {"model": net, "head": head}, opt,
              lr_schedule(opt, "cosine", options.epochs * steps), config, setup, options.epochs, steps,
              options.batch_size, checkpoint=CHECKPOINT_NAME, progress=progress, log=log,
              desc="identity model")
    run.check_folder(resume)
    state = RunState()
    if resume:
        _same_setup(run, setup)
        state, _ = run.resume()

    def batches(epoch: int):
        gen = epoch_generator(options.seed, epoch)
        return iterate_batches(len(faces), options.batch_size, True, gen, drop_last=True)

    def step(idx: np.ndarray) -> dict[str, float]:
        x = augment(to_tensor(faces[idx], device), options.blur)
        y = labels_t[idx].to(device)
        return descend(opt, F.cross_entropy(head(net(x), y), y))

    result = run.fit(state, batches, step, on_batch=on_batch, device=device)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    return net.eval()


def _same_setup(run: Run, setup: dict) -> None:
    """A resumed run must see the same faces and options (only ``epochs`` may grow)."""
    same_setup(run.path, setup)
