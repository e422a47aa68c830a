"""Attribute directions learned through the decoder, with a classifier's reading as the loss.

The effects (``disguise.sliders.effects``) and the seed's means say where faces with an attribute
lie in the code space, not what the decoder draws when a code moves that way. Here A's edit ``u_A``
is fitted where it is seen: on the codes of training faces that lack A, the decoder draws
``z + u_A`` and a frozen classifier, the *guide*, must see A while its reading of the other
attributes stays as on the plain decode, with terms that keep the background and keep the move
short. The edit lives in the span the faces' codes fill (most code dimensions carry no face, and
edits there learn textures classifiers misread), and one global ``u_A`` is shared by all faces, so
the live edit stays ``z + sum_i alpha_i v_i`` (the global latent shift of "Enjoy your editing",
ICLR 2021, with a classifier in place of their regressor). The guide must not be the judge. The
learned rows are candidates for ``disguise.sliders.calibration``. A ``checkpoints`` folder keeps
each edit as it is learned, named for all it depends on, so a stopped run picks up where it was.
The loss written out, and what was learned on the way: docs/sliders.md ("Learned edits").
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..attributes import DRAWN, INDEX
from ..backdrop import band
from ..classifier.model import AttributeClassifier, at_classifier_size
from ..files import read_safetensors, write_safetensors
from ..pretrained import evaluating
from ..vae.model import VAE
from .bank import AttributeBank
from .links import excluded_by

TARGET_LOGIT = 3.0  # the guide's logit an edit aims for (a probability of 0.95)
KEEP = 1.0  # weight of the other attributes' readings
KEEPS = (1.0, 2.0)  # the weights train.vectors learns a candidate with, by default
BACKDROP = 25.0  # weight of the backdrop's squared change (a change of 0.1 everywhere costs 0.25)
NORM = 0.003  # weight of the squared length of the edit
LEARN_STEPS = 150  # Adam steps per attribute
BATCH = 64  # faces per step
LR = 0.05  # Adam's step, in the faces' spread
SPAN = 0.01  # principal axes of the codes kept: variance at least this share of the largest
FACES = 4000  # training faces the edits are learned on, by default


@dataclass
class Guided:
    """One learned edit's last-step figures on its training faces: the guide's share seeing the
    attribute, the share of kept readings unchanged (NaN for an edit ``resumed`` from a
    checkpoint), and the edit's length."""

    attribute: str
    success: float
    kept: float
    length: float
    spread: float  # the length in the faces' own spread (|w|)
    resumed: bool = False


def _read(model: VAE, guide: AttributeClassifier, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pictures ``z`` decode to, and the guide's logits for them."""
    pictures = model.decode(z)
    return pictures, guide(at_classifier_size(guide, pictures))


def learn_directions(model: VAE, guide: AttributeClassifier, codes: torch.Tensor, labels: np.ndarray,
                     start: AttributeBank, attributes: Sequence[str] = DRAWN, steps: int = LEARN_STEPS,
                     batch: int = BATCH, lr: float = LR, target_logit: float = TARGET_LOGIT, keep: float = KEEP,
                     norm: float = NORM, backdrop: float = BACKDROP, seed: int = 0, progress: bool = True,
                     checkpoints: str | os.PathLike | None = None) -> tuple[AttributeBank, list[Guided]]:
    """Learn each of ``attributes``' edits (module docstring) from ``codes`` ``(N, z)`` of faces
    whose +1/-1 labels are ``labels``, starting from ``start``'s rows at their length (within the
    codes' span). Returns the bank (method ``"guided"``; rows outside ``attributes`` are
    ``start``'s) and what each learned (``resumed`` where taken from ``checkpoints``, module
    docstring)."""
    if steps < 1 or batch < 1 or not lr > 0 or not keep >= 0 or not norm >= 0 or not backdrop >= 0:
        raise ValueError("steps and batch must be at least 1, lr positive, keep, norm and backdrop not "
                         "negative")
    labels = np.asarray(labels)
    # "margin" is the target logit's name in the checkpoints' settings (their file names hash them), kept
    # so that edits already learned are found again.
    settings = dict(steps=steps, batch=batch, lr=lr, margin=target_logit, keep=keep, norm=norm, seed=seed, span=SPAN)
    if backdrop:  # absent at 0, so that edits learned before the term existed keep their files
        settings["backdrop"] = backdrop
    saved = _Checkpoint.open(checkpoints, model, guide, codes, labels, start, settings)
    device = codes.device
    drawn = [INDEX[a] for a in DRAWN]
    vectors, records, learned = start.vectors.clone().float(), list(start.records), []
    spread, axes = span(codes)
    with evaluating(model), evaluating(guide), _frozen(model, guide):
        with torch.no_grad():
            reads = [_read(model, guide, codes[i:i + 256]) for i in range(0, len(codes), 256)]
            mask = band(reads[0][0].shape[-1], device)
            plain = torch.cat([torch.sigmoid(logits) for _, logits in reads])
            wall = torch.cat([pictures[..., mask] for pictures, _ in reads])  # (N, C, band pixels)
            del reads
        for name in tqdm(attributes, desc="learning directions", leave=False, disable=not progress):
            k = INDEX[name]
            rows = np.flatnonzero(labels[:, k] == -1)
            if len(rows) == 0:
                continue
            if saved.has(name, vectors[k]):
                u = saved.edits[name].to(vectors)
                w = (axes.T @ u.to(device)) / spread
                learned.append(Guided(name, float("nan"), float("nan"), float(u.norm()), float(w.norm()),
                                      resumed=True))
                vectors[k] = u
                records[k] = replace(records[k], method="guided", scale=float(u.norm()))
                continue
            ruled_out = {INDEX[b] for b in excluded_by(name)}
            kept = torch.tensor([j for j in drawn if j != k and j not in ruled_out], device=device)
            rng = np.random.default_rng([seed, k])
            w = ((axes.T @ vectors[k].to(device)) / spread).requires_grad_(True)
            opt = torch.optim.Adam([w], lr=lr)
            for _ in range(steps):
                pick = torch.as_tensor(rng.choice(rows, min(batch, len(rows)), replace=False), device=device)
                u = axes @ (spread * w)
                pictures, logits = _read(model, guide, codes[pick] + u)
                shows = F.softplus(target_logit - logits[:, k]).mean()
                held = F.binary_cross_entropy_with_logits(logits[:, kept], plain[pick][:, kept],
                                                          reduction="none").sum(1).mean()
                repainted = (pictures[..., mask] - wall[pick]).pow(2).mean()
                loss = shows + keep * held + backdrop * repainted + norm * w.pow(2).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                u = axes @ (spread * w)
                seen = logits.detach() > 0
                was = plain[pick] > 0.5
                learned.append(Guided(name, float(seen[:, k].float().mean()),
                                      float((seen[:, kept] == was[:, kept]).float().mean()),
                                      float(u.norm()), float(w.norm())))
            vectors[k] = u.detach().to(vectors)
            records[k] = replace(records[k], method="guided", scale=float(vectors[k].norm()))
            saved.add(name, vectors[k])
    return AttributeBank(start.names, vectors, records), learned


class _Checkpoint:
    """The edits learned so far for one set of inputs, kept in ``folder/<digest>.safetensors``
    (module docstring); without a folder it keeps nothing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.edits: dict[str, torch.Tensor] = {}
        if path is not None and path.is_file():
            try:
                self.edits = read_safetensors(path)[0]
            except ValueError:  # a damaged file is learned again, not trusted
                self.edits = {}

    @classmethod
    def open(cls, folder, model: VAE, guide: AttributeClassifier, codes: torch.Tensor, labels: np.ndarray,
             start: AttributeBank, settings: dict) -> "_Checkpoint":
        if folder is None:
            return cls(None)
        h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
        for net in (model, guide):
            for key, value in net.state_dict().items():
                h.update(key.encode())
                h.update(value.detach().cpu().contiguous().numpy().tobytes())
        for array in (codes.detach().cpu().float().numpy(), labels, start.vectors.float().numpy()):
            h.update(np.ascontiguousarray(array).tobytes())
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder / f"{h.hexdigest()[:24]}.safetensors")

    def has(self, name: str, like: torch.Tensor) -> bool:
        """Whether ``name``'s edit was kept, whole (``like``'s shape, finite)."""
        edit = self.edits.get(name)
        return edit is not None and edit.shape == like.shape and bool(torch.isfinite(edit).all())

    def add(self, name: str, edit: torch.Tensor) -> None:
        self.edits[name] = edit.detach().cpu().float().clone()
        if self.path is not None:
            write_safetensors(self.path, self.edits)


@contextmanager
def _frozen(*modules: torch.nn.Module):
    """Only the edit learns: the networks' parameters take no gradient inside, and get their
    flags back after."""
    trainable = [q for m in modules for q in m.parameters() if q.requires_grad]
    for q in trainable:
        q.requires_grad_(False)
    try:
        yield
    finally:
        for q in trainable:
            q.requires_grad_(True)


def span(codes: torch.Tensor, floor: float = SPAN) -> tuple[torch.Tensor, torch.Tensor]:
    """The codes' principal axes with at least ``floor`` of the largest variance: their spreads
    (standard deviations, ``(k,)``) and the axes as columns, ``(z, k)``."""
    if len(codes) < 2:
        raise ValueError("learning an edit needs the codes of at least two faces")
    variance, axes = torch.linalg.eigh(torch.cov(codes.T.double()))
    keep = variance >= floor * variance.max()
    return variance[keep].sqrt().to(codes), axes[:, keep].to(codes)
