"""Why a slider fails: whether the judge sees the attribute, whether the model draws it, and what
its edit does.

For each attribute, on test faces that have it, the share the judge calls positive on the faces as
they are (``seen``) and on the model's plain reconstructions (``drawn``). With the edit results
beside them, an attribute that misses the bar gets one cause, checked in this order:
``entangled`` (the edit reaches the bar only while changing other attributes), ``judge`` (it does
not, and the judge sees under half of the real faces' attribute, so no edit can be counted),
``capacity`` (the judge sees it, but not on the reconstructions: the decoder cannot draw it) and
``scale`` (the edit keeps the rest but does not reach the bar within the slider's range). An edit
that reaches the bar shows that the judge sees it and the model draws it, whatever they do on the
data's own faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..attributes import ATTRIBUTES
from ..classifier.model import AttributeClassifier, predict
from ..preprocess import to_tensor
from ..sliders.editor import Editor
from ..sliders.measure import EditResult, QualityBar

MIN_FACES = 10  # positives needed to say anything


@dataclass
class Drawability:
    attribute: str
    faces: int  # test faces with the attribute
    seen: float  # share the judge calls positive, on the faces as they are
    drawn: float  # ... and on their reconstructions


@torch.no_grad()
def drawability(editor: Editor, judge: AttributeClassifier, images: np.ndarray, labels: np.ndarray,
                judge_images: np.ndarray | None = None, attributes: Sequence[str] = ATTRIBUTES,
                max_faces: int = 200, seed: int = 0) -> list[Drawability]:
    """``seen`` and ``drawn`` for each attribute (see the module docstring). ``judge_images``: the
    same faces at the judge's size when it differs from the model's."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    judge_images = images if judge_images is None else judge_images
    out = []
    for name in attributes:
        k = ATTRIBUTES.index(name)
        rows = np.flatnonzero(labels[:, k] == 1)
        if len(rows) < MIN_FACES:
            continue
        if len(rows) > max_faces:
            rows = np.sort(rng.choice(rows, max_faces, replace=False))
        seen = predict(judge, to_tensor(judge_images[rows], editor.device))[:, k]
        drawn = predict(judge, editor.decode_float(editor.encode(images[rows])))[:, k]
        out.append(Drawability(name, len(rows), float(seen.float().mean()), float(drawn.float().mean())))
    return out


def cause(edit: EditResult, drawable: Drawability | None, bar: QualityBar) -> str:
    """Why an added attribute misses ``bar`` (``""`` when it passes or is not informative)."""
    if edit.passes or not edit.informative:
        return ""
    if any(bar.meets(s, bar.success) for _, s, _ in bar.within(edit)):
        return "entangled"
    if drawable is not None and drawable.seen < 0.5:
        return "judge"
    if drawable is not None and drawable.drawn < 0.5:
        return "capacity"
    return "scale"
