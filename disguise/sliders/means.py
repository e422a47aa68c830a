"""The seed's sliders: for each attribute, the difference of the mean codes of faces with it and
without it, normalised to unit length.

Per attribute: encode labelled faces batch by batch, keep running means of the codes of faces
with the attribute (label 1) and without it (-1), stop once both means together move less than
0.08 in a batch (or at 10,000 positives). Batches hold 500 faces, as in the book the seed
follows: the stopping rule looks at how far one batch moves the means, so the batch size sets
how many faces each mean averages.

``build_bank`` runs that recipe for all 40 attributes in one pass over the data (each batch is
encoded once), on ``mu`` with the model in eval mode. ``seed_vector`` is the seed's loop for one
attribute, the reference the fast path is tested and benchmarked against.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attributes import ATTRIBUTES
from ..preprocess import to_tensor
from ..pretrained import evaluating
from ..vae.model import VAE
from .bank import AttributeBank, AttributeRecord

THRESHOLD = 0.08
MAX_POSITIVES = 10_000
BATCH_SIZE = 500

Batches = Iterable[tuple[np.ndarray, np.ndarray]]  # (uint8 (B, S, S, 3), labels (B, 40) of +1/-1)


def labelled_batches(images: np.ndarray, labels: np.ndarray, batch_size: int = BATCH_SIZE, seed: int = 0
                     ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The faces in a fixed shuffled order (the seed drew them from a shuffling generator)."""
    order = np.random.default_rng(seed).permutation(len(images))
    for start in range(0, len(order), batch_size):
        idx = np.sort(order[start:start + batch_size])
        yield images[idx], labels[idx]


@torch.no_grad()
def _encode(model: VAE, batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """``mu`` of a batch, in eval mode (the model's own mode is restored), as float64 on the CPU."""
    with evaluating(model):
        return model.encode(to_tensor(batch, device))[0].double().cpu()


@torch.no_grad()
def build_bank(model: VAE, batches: Batches, threshold: float = THRESHOLD,
               max_positives: int = MAX_POSITIVES, device: str | torch.device = "cpu",
               progress: bool = True, total: int | None = None) -> AttributeBank:
    """All 40 vectors in one pass: each batch is encoded once and feeds every unfinished attribute."""
    device = torch.device(device)
    n_attr = len(ATTRIBUTES)
    z = model.config.z_dim
    s_pos, s_neg = torch.zeros(n_attr, z, dtype=torch.float64), torch.zeros(n_attr, z, dtype=torch.float64)
    n_pos, n_neg = torch.zeros(n_attr, dtype=torch.float64), torch.zeros(n_attr, dtype=torch.float64)
    m_pos, m_neg = torch.zeros(n_attr, z, dtype=torch.float64), torch.zeros(n_attr, z, dtype=torch.float64)
    mv_pos, mv_neg = torch.full((n_attr,), float("inf"), dtype=torch.float64), \
        torch.full((n_attr,), float("inf"), dtype=torch.float64)
    active = torch.ones(n_attr, dtype=torch.bool)
    converged = torch.zeros(n_attr, dtype=torch.bool)
    used = torch.zeros(n_attr, dtype=torch.long)
    bar = tqdm(batches, total=total, desc="attribute vectors", unit="batch", disable=not progress,
               leave=False)
    for images, labels in bar:
        if not active.any():
            break
        mu = _encode(model, images, device)                        # (B, z)
        lab = torch.as_tensor(np.asarray(labels), dtype=torch.float64)  # (B, 40)
        pos, neg = (lab == 1).double(), (lab == -1).double()
        keep = active.double()[:, None]                            # frozen attributes stop here
        bp, bn = pos.sum(0) * active, neg.sum(0) * active          # (40,)
        s_pos += keep * (pos.T @ mu)
        s_neg += keep * (neg.T @ mu)
        n_pos += bp
        n_neg += bn
        new_pos = torch.where((bp > 0)[:, None], s_pos / n_pos.clamp(min=1)[:, None], m_pos)
        new_neg = torch.where((bn > 0)[:, None], s_neg / n_neg.clamp(min=1)[:, None], m_neg)
        # A side that saw no new face keeps its previous movement (as the seed's loop does).
        mv_pos = torch.where(bp > 0, (new_pos - m_pos).norm(dim=1), mv_pos)
        mv_neg = torch.where(bn > 0, (new_neg - m_neg).norm(dim=1), mv_neg)
        m_pos, m_neg = new_pos, new_neg
        used += active.long()
        done = active & ((mv_pos + mv_neg) < threshold)
        converged |= done
        active &= ~done & (n_pos < max_positives)
        bar.set_postfix(open=int(active.sum()))
    return _finish(m_pos - m_neg, n_pos, n_neg, converged, used)


def _finish(diff: torch.Tensor, n_pos, n_neg, converged, used) -> AttributeBank:
    norms = diff.norm(dim=1)
    vectors = torch.where(norms[:, None] > 0, diff / norms.clamp(min=1e-12)[:, None], diff)
    records = [AttributeRecord(name=a, positives=int(n_pos[i]), negatives=int(n_neg[i]),
                               converged=bool(converged[i]), raw_norm=float(norms[i]),
                               batches=int(used[i]))
               for i, a in enumerate(ATTRIBUTES)]
    return AttributeBank(names=ATTRIBUTES, vectors=vectors.float(), records=records)


@torch.no_grad()
def seed_vector(model: VAE, batches: Batches, attribute: str, threshold: float = THRESHOLD,
                max_positives: int = MAX_POSITIVES, device: str | torch.device = "cpu"
                ) -> tuple[torch.Tensor, AttributeRecord]:
    """The seed's loop for one attribute, re-encoding every batch (the reference, and the baseline
    the one-pass builder is benchmarked against)."""
    device = torch.device(device)
    k = ATTRIBUTES.index(attribute)
    z = model.config.z_dim
    sum_p, sum_n = np.zeros(z), np.zeros(z)
    n_p = n_n = 0
    mean_p, mean_n = np.zeros(z), np.zeros(z)
    move_p = move_n = float("inf")
    batches_used, converged = 0, False
    for images, labels in batches:
        if n_p >= max_positives:
            break
        codes = _encode(model, images, device).numpy()
        col = np.asarray(labels)[:, k]
        batches_used += 1
        sum_p, n_p, mean_p, move_p = _running_mean(sum_p, n_p, mean_p, move_p, codes[col == 1])
        sum_n, n_n, mean_n, move_n = _running_mean(sum_n, n_n, mean_n, move_n, codes[col == -1])
        if move_p + move_n < threshold:
            converged = True
            break
    diff = torch.from_numpy(mean_p - mean_n)
    norm = float(diff.norm())
    vec = diff / norm if norm > 0 else diff
    return vec.float(), AttributeRecord(attribute, n_p, n_n, converged, norm, batches_used)


def _running_mean(total: np.ndarray, n: int, mean: np.ndarray, move: float, codes: np.ndarray):
    """Add ``codes`` to a running mean; a side with no new codes keeps its last movement."""
    if not len(codes):
        return total, n, mean, move
    total, n = total + codes.sum(axis=0), n + len(codes)
    new = total / n
    return total, n, new, float(np.linalg.norm(new - mean))
