"""An identity model: face embeddings that tell people apart, and how well they verify.

Used to ask whether an edited face still looks like the same person. ``IdentityNet`` is a small
CNN (like the judge's, ``disguise.judge``) ending in a linear embedding, L2-normalised, so two
faces compare by the cosine of their embeddings. It learns from the training split's people with a
margin softmax over those people (``MarginHead``, used only in training):

* CosFace (large margin cosine loss): ``s * (cos(theta_y) - m)`` for the true person
  (Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face Recognition", CVPR 2018);
* ArcFace (additive angular margin): ``s * cos(theta_y + m)``
  (Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019).

Verification is measured on held-out people (``verify``): genuine pairs (two images of one person)
against impostor pairs (two people), scored by cosine similarity, as ROC AUC and TAR at a fixed
FAR; the same for the genuine pairs whose images differ in a disguise attribute (glasses, hat,
beard, hair colour, make-up, ...), the pairs a disguise editor cares about.

A saved model is a folder with ``identity.json`` (the whole config) and ``identity.safetensors``
(the weights), loaded strictly and without pickle (``save_identity`` / ``load_identity``).
Training with a ``run_dir`` writes ``identity_checkpoint.safetensors`` there at every epoch's end
and on Ctrl-C; ``resume=True`` continues from it exactly.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import checkpoints
from .attributes import ATTRIBUTES
from .batches import iterate_batches
from .cache import load_split
from .celeba import CelebA
from .files import read_json, read_safetensors, read_safetensors_metadata, write_json, write_safetensors
from .judge import conv_blocks, random_blur
from .model import config_fields, evaluating, load_state_strict
from .policy import Preprocess, to_tensor

IDENTITY_TYPE = "disguise-identity"
CONFIG_NAME = "identity.json"
WEIGHTS_NAME = "identity.safetensors"
CHECKPOINT_NAME = "identity_checkpoint.safetensors"
VERIFICATION_NAME = "identity_verification.json"  # the figures on unseen people, and the threshold
LOSSES = ("cosface", "arcface")
DEFAULT_WIDTHS: tuple[int, ...] = (32, 64, 128, 128)
# Attributes a disguise changes: a genuine pair differing in one of them is a "disguised" pair.
DISGUISE_ATTRIBUTES: tuple[str, ...] = (
    "Eyeglasses", "Wearing_Hat", "No_Beard", "Goatee", "Mustache", "Black_Hair", "Blond_Hair",
    "Brown_Hair", "Gray_Hair", "Bangs", "Heavy_Makeup", "Wearing_Lipstick", "Bald")


# ----------------------------------------------------------------------------------------------
# Config and model


@dataclass
class IdentityConfig:
    """Everything needed to rebuild an identity model (and how it was trained).

    Attributes:
        widths: channels of each stride-2 conv block (one block per entry).
        embedding_dim: size of the L2-normalised embedding.
        loss: margin softmax, ``cosface`` or ``arcface``.
        scale: the logit scale ``s`` (30 by default, as in CosFace).
        margin: ``m``: a cosine margin for CosFace (0.35 default), an angle in radians for ArcFace
            (0.5 is ArcFace's usual value).
        preprocess: the preprocessing policy (``Preprocess.to_dict()``); default the VAE's crop at 64 px.
    """

    widths: tuple[int, ...] = DEFAULT_WIDTHS
    embedding_dim: int = 128
    loss: str = "cosface"
    scale: float = 30.0
    margin: float = 0.35
    preprocess: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"widths must be one or more positive integers, got {list(self.widths)}")
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
        self.preprocess = Preprocess.from_dict(self.preprocess).to_dict() if self.preprocess \
            else Preprocess(size=64).to_dict()

    @property
    def policy(self) -> Preprocess:
        return Preprocess.from_dict(self.preprocess)

    def to_dict(self) -> dict:
        return {"model_type": IDENTITY_TYPE, "widths": list(self.widths),
                "embedding_dim": self.embedding_dim, "loss": self.loss, "scale": self.scale,
                "margin": self.margin, "preprocess": dict(self.preprocess)}

    @classmethod
    def from_dict(cls, d: dict) -> "IdentityConfig":
        """The inverse of ``to_dict``; another model type or an unknown key is a ``ValueError``."""
        return cls(**config_fields(cls, d, IDENTITY_TYPE))


class IdentityNet(nn.Module):
    """Stride-2 conv blocks (``config.widths``), global average pooling, a linear embedding,
    L2-normalised: ``(B, 3, S, S)`` in [0, 1] -> ``(B, embedding_dim)`` unit vectors."""

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


# ----------------------------------------------------------------------------------------------
# Data: faces with the person each shows


def load_people(data: CelebA, split: str, policy: Preprocess, progress: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(faces uint8 (M, S, S, 3), person ids (M,), attributes (M, 40))`` of ``split``.

    The faces come from ``disguise.cache.load_split``, which drops unreadable images; the ids
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


# ----------------------------------------------------------------------------------------------
# Training


def _lr_at(lr: float, step: int, total: int) -> float:
    """Cosine from ``lr`` down to 1% of it: a function of the step alone, so resume repeats it."""
    if total <= 1:
        return lr
    return 0.01 * lr + 0.495 * lr * (1 + math.cos(math.pi * min(step, total - 1) / (total - 1)))


def _augment(x: torch.Tensor, blur: float) -> torch.Tensor:
    """Per-image horizontal flips; half the batches blurred (sigma up to ``blur``), as the judge
    is, so that the softer faces a VAE decodes are embedded like photos."""
    flip = torch.rand(len(x), device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if blur and torch.rand(()) < 0.5:
        x = random_blur(x, blur)
    return x


def _save_checkpoint(path: Path, net: IdentityNet, head: MarginHead, opt: torch.optim.Optimizer,
                     meta: dict) -> None:
    checkpoints.save_checkpoint(path, {"model": net, "head": head}, opt,
                                {k: json.dumps(v) for k, v in meta.items()})


def _load_checkpoint(path: Path, net: IdentityNet, head: MarginHead, opt: torch.optim.Optimizer,
                     expect: dict) -> tuple[int, int]:
    """Restore everything from ``path``; returns ``(epoch, batch)``. Another model or training
    set-up is a ``ValueError``."""
    meta = read_safetensors_metadata(path)
    try:
        saved = {k: json.loads(meta[k]) for k in ("config", "setup", "epoch", "batch")}
    except (KeyError, json.JSONDecodeError):
        raise ValueError(f"{path}: not an identity checkpoint") from None
    for key in ("config", "setup"):
        if saved[key] != expect[key]:
            diff = {k: (saved[key].get(k), v) for k, v in expect[key].items() if saved[key].get(k) != v}
            raise ValueError(f"{path} holds another run ({key} differs: "
                             + "; ".join(f"{k}: {a} != {b}" for k, (a, b) in diff.items()) + ")")
    checkpoints.load_checkpoint(path, {"model": net, "head": head}, opt)
    return int(saved["epoch"]), int(saved["batch"])


def _checkpoint_path(run_dir: str | os.PathLike | None, resume: bool) -> Path | None:
    """Where a run's checkpoint goes; a new run never overwrites one, a resumed run needs one."""
    if run_dir is None:
        if resume:
            raise ValueError("resume needs a run_dir")
        return None
    ckpt = Path(run_dir) / CHECKPOINT_NAME
    if resume and not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt}: nothing to resume (no checkpoint)")
    if not resume and ckpt.exists():
        raise ValueError(f"{ckpt} already exists; resume it or choose a new folder")
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    return ckpt


def _step(net: IdentityNet, head: MarginHead, opt: torch.optim.Optimizer, x: torch.Tensor,
          y: torch.Tensor, where: str) -> float:
    """One optimisation step; a loss that is not finite is an error, raised before the step."""
    loss = F.cross_entropy(head(net(x), y), y)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the loss became {float(loss.detach())} at {where}; try a lower lr")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def train_identity(faces: np.ndarray, person_ids: np.ndarray, config: IdentityConfig | None = None,
                   epochs: int = 20, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
                   progress: bool = True, run_dir: str | os.PathLike | None = None,
                   resume: bool = False, device: str | torch.device = "cpu", blur: float = 1.5,
                   on_batch: Callable[[int, int], None] | None = None,
                   log: Callable[[str], None] = lambda m: None) -> IdentityNet:
    """Fit an identity model on uint8 faces ``(N, S, S, 3)`` of the people ``person_ids`` (N,).

    Adam with a cosine learning-rate decay, per-image flips and random blur (``blur=0``: none).
    With ``run_dir``, a checkpoint (model, margin head, Adam state, RNG, position) is written there
    atomically at every epoch's end and on Ctrl-C, after which ``KeyboardInterrupt`` is raised
    again; ``resume=True`` continues from it exactly (same weights as an uninterrupted run, on the
    CPU). ``on_batch(epoch, batch)`` is called after every step. Returns the model in eval mode.
    """
    config = config if config is not None else IdentityConfig()
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need epochs >= 1, batch size >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
    if faces.shape[1] != config.policy.size:
        raise ValueError(f"faces are {faces.shape[1]} px but the config's policy says {config.policy.size}")
    if len(faces) != len(person_ids):
        raise ValueError(f"{len(faces)} faces but {len(person_ids)} person ids")
    people, labels = np.unique(np.asarray(person_ids), return_inverse=True)
    if len(people) < 2:
        raise ValueError(f"need at least two people to train on, got {len(people)}")
    if len(faces) < batch_size:
        raise ValueError(f"{len(faces)} faces, fewer than one batch of {batch_size}")
    device = torch.device(device)
    labels_t = torch.from_numpy(labels.astype(np.int64))
    ckpt = _checkpoint_path(run_dir, resume)
    torch.manual_seed(seed)
    net = IdentityNet(config).to(device)
    head = MarginHead(config.embedding_dim, len(people), config.loss, config.scale, config.margin).to(device)
    opt = torch.optim.Adam(list(net.parameters()) + list(head.parameters()), lr=lr)
    setup = {"batch_size": batch_size, "lr": lr, "seed": seed, "blur": blur, "people": len(people),
             "faces": len(faces)}
    epoch = batch = 0
    if resume:
        epoch, batch = _load_checkpoint(ckpt, net, head, opt, {"config": config.to_dict(), "setup": setup})
        log(f"resuming {ckpt} at epoch {epoch + 1}, batch {batch}")
    steps = len(faces) // batch_size
    bar = tqdm(total=epochs * steps, initial=min(epoch * steps + batch, epochs * steps),
               desc="identity model", unit="batch", disable=not progress, leave=False)

    def checkpoint(e: int, b: int) -> None:
        if ckpt is not None:
            _save_checkpoint(ckpt, net, head, opt, {"config": config.to_dict(), "setup": setup,
                                                   "epoch": e, "batch": b})
    try:
        while epoch < epochs:
            net.train()
            head.train()
            t0, total = time.perf_counter(), 0.0
            gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
            for i, idx in enumerate(iterate_batches(len(faces), batch_size, True, gen, drop_last=True)):
                if i < batch:  # resumed mid-epoch: already trained on
                    continue
                for group in opt.param_groups:
                    group["lr"] = _lr_at(lr, epoch * steps + i, epochs * steps)
                loss = _step(net, head, opt, _augment(to_tensor(faces[idx], device), blur),
                             labels_t[idx].to(device), f"epoch {epoch + 1}, batch {i}")
                batch, total = i + 1, total + loss
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}")
                if on_batch:
                    on_batch(epoch, i)
            epoch, batch = epoch + 1, 0
            checkpoint(epoch, 0)
            log(f"epoch {epoch}/{epochs}: loss {total / max(steps, 1):.3f}, "
                f"{time.perf_counter() - t0:.1f} s")
    except KeyboardInterrupt:
        checkpoint(epoch, batch)
        if ckpt is not None:
            log(f"interrupted at epoch {epoch + 1}, batch {batch}: checkpoint written to {ckpt}; "
                f"resume to continue")
        raise
    finally:
        bar.close()
    return net.eval()


# ----------------------------------------------------------------------------------------------
# Embedding, saving, loading


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


def save_identity(net: IdentityNet, folder: str | os.PathLike) -> None:
    """Write ``folder/identity.safetensors`` (weights) and ``folder/identity.json`` (config)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(folder / WEIGHTS_NAME, net.state_dict())
    write_json(folder / CONFIG_NAME, net.config.to_dict())


def load_identity(folder: str | os.PathLike, device: str | torch.device = "cpu") -> IdentityNet:
    """Rebuild a saved identity model from its config and load its weights strictly (eval mode).

    A missing or wrong config, or weights that do not fit it, is a ``ValueError`` naming the file;
    missing weights are a ``FileNotFoundError``.
    """
    folder = Path(folder)
    cfg_path = folder / CONFIG_NAME
    if not cfg_path.is_file():
        raise ValueError(f"{cfg_path}: config not found (the identity model's widths, embedding "
                         f"size and preprocessing); save it with save_identity")
    try:
        config = IdentityConfig.from_dict(read_json(cfg_path))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{cfg_path}: {e}") from None
    net = IdentityNet(config)
    tensors, _ = read_safetensors(folder / WEIGHTS_NAME)
    load_state_strict(net, tensors, str(folder / WEIGHTS_NAME))
    return net.to(device).eval()


# ----------------------------------------------------------------------------------------------
# Verification


@dataclass
class Pairs:
    """Image pairs for verification: ``first[k]`` and ``second[k]`` index the faces.

    ``genuine``: same person. ``disguised``: a genuine pair whose two images differ in at least
    one of ``DISGUISE_ATTRIBUTES`` (always False for impostor pairs)."""

    first: np.ndarray
    second: np.ndarray
    genuine: np.ndarray
    disguised: np.ndarray

    def __len__(self) -> int:
        return len(self.first)


def verification_pairs(person_ids: np.ndarray, attributes: np.ndarray | None,
                       rng: np.random.Generator, max_pairs: int = 20000) -> Pairs:
    """Genuine pairs (every pair of one person's images, sampled down to at most half of
    ``max_pairs``) and as many distinct impostor pairs as fill ``max_pairs`` (when there are that
    many). ``attributes`` ``(N, 40)`` +1/-1 marks the disguised genuine pairs (None: none marked)."""
    ids = np.asarray(person_ids)
    n = len(ids)
    gi, gj = [], []
    for p in np.unique(ids):
        rows = np.flatnonzero(ids == p)
        if len(rows) > 1:
            a, b = np.triu_indices(len(rows), k=1)
            gi.append(rows[a])
            gj.append(rows[b])
    gi = np.concatenate(gi) if gi else np.zeros(0, dtype=np.int64)
    gj = np.concatenate(gj) if gj else np.zeros(0, dtype=np.int64)
    if len(gi) > max_pairs // 2:
        pick = np.sort(rng.choice(len(gi), max_pairs // 2, replace=False))
        gi, gj = gi[pick], gj[pick]
    counts = np.unique(ids, return_counts=True)[1]
    possible = (n * (n - 1) - int((counts * (counts - 1)).sum())) // 2
    want = min(max_pairs - len(gi), possible)
    seen: set[tuple[int, int]] = set()
    while len(seen) < want:
        i = rng.integers(0, n, 2 * (want - len(seen)) + 16)
        j = rng.integers(0, n, len(i))
        for a, b in zip(i.tolist(), j.tolist()):
            if ids[a] != ids[b]:
                seen.add((min(a, b), max(a, b)))
                if len(seen) == want:
                    break
    imp = np.array(sorted(seen), dtype=np.int64).reshape(-1, 2)
    first = np.concatenate([gi, imp[:, 0]]).astype(np.int64)
    second = np.concatenate([gj, imp[:, 1]]).astype(np.int64)
    genuine = np.r_[np.ones(len(gi), bool), np.zeros(len(imp), bool)]
    disguised = np.zeros(len(first), bool)
    if attributes is not None and len(gi):
        cols = [ATTRIBUTES.index(a) for a in DISGUISE_ATTRIBUTES]
        att = np.asarray(attributes)[:, cols] > 0
        disguised[:len(gi)] = (att[gi] != att[gj]).any(axis=1)
    return Pairs(first, second, genuine, disguised)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive outscores a random negative, ties
    counting one half (Mann-Whitney U from average ranks). NaN without both classes."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s))
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends):  # average rank (1-based) over each group of ties
        ranks[a:b] = (a + 1 + b) / 2
    r = np.empty(len(s))
    r[order] = ranks
    return float((r[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def tar_at_far(scores: np.ndarray, labels: np.ndarray, far: float = 0.01) -> tuple[float, float]:
    """``(TAR, threshold)``: accepting pairs that score above ``threshold``, the lowest threshold
    at which at most ``far`` of the negatives are accepted, and the share of positives accepted."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    neg = np.sort(scores[~labels])[::-1]
    if not labels.any() or not len(neg):
        return float("nan"), float("nan")
    k = int(math.floor(far * len(neg) + 1e-9))
    threshold = float(neg[k]) if k < len(neg) else -math.inf
    return float((scores[labels] > threshold).mean()), threshold


def pair_scores(embeddings: np.ndarray, pairs: Pairs) -> np.ndarray:
    """Cosine similarity of each pair's two (unit) embeddings."""
    return (embeddings[pairs.first] * embeddings[pairs.second]).sum(axis=1)


def verify(net: IdentityNet, faces: np.ndarray, person_ids: np.ndarray,
           attributes: np.ndarray | None = None, max_pairs: int = 20000, far: float = 0.01,
           seed: int = 0, device: str | torch.device | None = None) -> dict:
    """Verification figures on ``faces`` (held-out people): AUC, TAR at ``far`` and its threshold,
    overall and (``disguised``) for the genuine pairs differing in a disguise attribute against
    all the impostor pairs (the same impostors, so the same threshold)."""
    pairs = verification_pairs(person_ids, attributes, np.random.default_rng(seed), max_pairs)
    scores = pair_scores(embed(net, faces, device=device), pairs)
    tar, thr = tar_at_far(scores, pairs.genuine, far)
    out = {"people": int(len(np.unique(person_ids))), "faces": int(len(faces)),
           "genuine_pairs": int(pairs.genuine.sum()), "impostor_pairs": int((~pairs.genuine).sum()),
           "far": far, "auc": roc_auc(scores, pairs.genuine), "tar": tar, "threshold": thr}
    sub = pairs.disguised | ~pairs.genuine
    dtar, dthr = tar_at_far(scores[sub], pairs.genuine[sub], far)
    out["disguised"] = {"genuine_pairs": int(pairs.disguised.sum()),
                        "auc": roc_auc(scores[sub], pairs.genuine[sub]), "tar": dtar, "threshold": dthr}
    return out


# ----------------------------------------------------------------------------------------------
# Is it still this person?


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
        return cls(load_identity(folder, device), threshold, far)

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
