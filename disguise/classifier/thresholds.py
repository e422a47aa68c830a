"""A classifier's decision thresholds: where a label it ranks well is read better away from 0.

Trained without weights, a classifier learns each label's prior first, and a rare label it tells
apart well may still never cross logit 0: in the run from scratch on seed 23, the chooser ranked
Blurry (on 5% of faces) at an area under the ROC curve of 0.88 and the judge at 0.96, yet both
read it at chance (50% and 52% balanced accuracy), so no Blurry slider could be seen, chosen or
graded. ``fit_thresholds`` moves a label's threshold, on held-out faces, to the logit that reads
it with the best balanced accuracy, and only where that gains at least ``min_gain`` over 0: every
moved threshold also makes the label easier to flip on an edited face, which the sliders' "kept"
counts against them, so labels read fairly well at 0 stay there.
"""

from __future__ import annotations

import numpy as np

from ..attributes import ATTRIBUTES

MIN_GAIN = 0.2  # balanced accuracy a moved threshold must add on the held-out faces
MIN_FACES = 10  # faces with and without a label needed to move its threshold


def balanced_accuracies(logits: np.ndarray, truth: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """One label's balanced accuracy (mean of the true positive and true negative rates) when
    read as ``logits > cut``, for each of ``cuts``."""
    logits, truth = np.asarray(logits, np.float64), np.asarray(truth, bool)
    order = np.sort(logits[truth]), np.sort(logits[~truth])
    above = [len(o) - np.searchsorted(o, cuts, side="right") for o in order]  # counts with logit > cut
    return 0.5 * (above[0] / len(order[0]) + 1.0 - above[1] / len(order[1]))


def fit_thresholds(logits: np.ndarray, truth: np.ndarray, min_gain: float = MIN_GAIN) -> dict[str, float]:
    """Per label (``ATTRIBUTES``' order in the columns of ``(N, 40)`` logits and truths), the logit
    above which it reads the label best, where that beats 0 by ``min_gain`` of balanced accuracy
    and there are ``MIN_FACES`` faces with and without it; the others are left out (they stay 0)."""
    logits, truth = np.asarray(logits, np.float64), np.asarray(truth) > 0
    if logits.shape != truth.shape or logits.shape[1:] != (len(ATTRIBUTES),):
        raise ValueError(f"logits and truths must both be (N, {len(ATTRIBUTES)}), got {logits.shape} and "
                         f"{truth.shape}")
    moved = {}
    for k, name in enumerate(ATTRIBUTES):
        has = truth[:, k]
        if min(has.sum(), (~has).sum()) < MIN_FACES:
            continue
        values = np.unique(logits[:, k])
        cuts = np.concatenate([(values[:-1] + values[1:]) / 2, [0.0]])  # between neighbours, and 0
        reads = balanced_accuracies(logits[:, k], has, cuts)
        best = int(np.argmax(reads))
        if reads[best] >= reads[-1] + min_gain:
            moved[name] = round(float(cuts[best]), 4)
    return moved
