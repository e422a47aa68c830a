"""How well an identity model verifies: genuine pairs against impostor pairs, on unseen people.

Genuine pairs (two images of one person) against impostor pairs (two people), scored by a
similarity, as ROC AUC and TAR at a fixed FAR; the same for the genuine pairs whose images differ
in a disguise attribute (glasses, hat, beard, hair colour, make-up, ...), the pairs a disguise
editor cares about.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata

from ..attributes import ATTRIBUTES
from .model import IdentityNet, embed

# Attributes a disguise changes: a genuine pair differing in one of them is a "disguised" pair.
DISGUISE_ATTRIBUTES: tuple[str, ...] = (
    "Eyeglasses", "Wearing_Hat", "No_Beard", "Goatee", "Mustache", "Black_Hair", "Blond_Hair",
    "Brown_Hair", "Gray_Hair", "Bangs", "Heavy_Makeup", "Wearing_Lipstick", "Bald")


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
    ranks = rankdata(scores, method="average")
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


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
