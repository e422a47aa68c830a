"""A model and its sliders graded on the test split, as ``train.evaluate`` and the recipe report it.

The judge is an attribute classifier that took no part in choosing or fitting any slider (the
recipe trains it on other people than the guide and the chooser; ``disguise.classifier.model``).
It reads reconstructions, and an attribute it cannot tell apart on them says nothing about a
slider: its balanced accuracy on the test faces' reconstructions goes in the report beside the
verdicts. Where the chooser is given, its reading of the same edits goes beside the judge's, so a
reader sees how much kinder the network that picked the sliders is than one that did not.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..classifier.model import AttributeClassifier, classifier_accuracy
from ..data.cache import load_split
from ..data.celeba import CelebA
from ..identity.recognisers import DRAWN, REAL, Recognisers
from ..sliders.bank import AttributeBank
from ..sliders.editor import Editor
from ..sliders.measure import EditResult, QualityBar, edit_success
from .diagnosis import drawability
from .identity_kept import identity_retention
from .photo_view import photo_view_success
from .reconstruction import reconstruction_metrics
from .report import Report


def test_photos(data: CelebA, count: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The first ``count`` test images as they are on disk (aligned, 178 x 218) and their labels."""
    rows = data.indices("test")[:count]
    images = []
    for k in rows:
        with Image.open(data.path(k)) as im:
            images.append(np.asarray(im.convert("RGB")))
    return images, data.attributes[rows]


def judge_faces(data: CelebA, judge: AttributeClassifier, editor: Editor, test_x: np.ndarray, test_y: np.ndarray,
                limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The test faces and labels as the judge reads them: the model's own, or, for a model bigger
    than the judge, the test faces at the judge's size (``limit``: at most that many)."""
    if judge.policy == editor.policy:
        return test_x, test_y
    judge_x, judge_y, _ = load_split(data, "test", judge.policy, progress=False)
    return judge_x[:limit or len(judge_x)], judge_y[:limit or len(judge_y)]


def identity_kept(folder: str | Path, data: CelebA, editor: Editor, attributes: Sequence[str], alphas: Sequence[float],
                  faces: int, device, progress: bool = True, log=print) -> tuple[list, object]:
    """The share of faces still recognised after each edit, by the recogniser for what the test
    faces are (drawn faces: ``folder``'s identity model; photos: dlib's, or the folder's own when
    it learned real faces); ``([], None)`` without one."""
    kind = DRAWN if data.kind == "synthetic" else REAL
    recognisers = Recognisers.load(folder, device)
    recogniser = recognisers.for_kind(kind)
    if recogniser is None:
        log(f"identity kept: not measured ({recognisers.missing.get(kind)})")
        return [], None
    photos, labels = test_photos(data, len(data.indices("test")))
    return identity_retention(editor, recogniser, photos, labels, attributes, alphas, max_faces=faces,
                              progress=progress), recogniser


def reconstructions(editor: Editor, faces: np.ndarray, size: int, batch: int = 512) -> np.ndarray:
    """``faces`` as the model draws them, uint8 ``(N, size, size, 3)`` (resized with antialiasing
    where the model is bigger)."""
    out = []
    for i in range(0, len(faces), batch):
        x = editor.decode_float(editor.encode(np.asarray(faces[i:i + batch])))
        if x.shape[-1] != size:
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                                align_corners=False)
        out.append(x.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, size, size, 3), np.uint8)


def reads(judge: AttributeClassifier, editor: Editor, test_x: np.ndarray, test_y: np.ndarray,
          attributes: Sequence[str], device) -> dict[str, float]:
    """The judge's balanced accuracy per attribute on the test faces' reconstructions."""
    accuracy = classifier_accuracy(judge, reconstructions(editor, test_x, judge.policy.size), test_y, device)
    return {a: accuracy[a]["balanced_accuracy"] for a in attributes}


def bar_figures(edits: Sequence[EditResult], bar: QualityBar) -> dict:
    """Adds passing the bar, adds reaching its floor at the end, removals passing: the three counts
    a bank is held to."""
    adds = [e for e in edits if e.direction == "add"]
    floor = [e.attribute for e in adds if e.informative and bar.at_end(e) < bar.floor]
    return {"adds": sum(e.passes for e in adds), "attributes": len(adds),
            "floor": sum(e.informative for e in adds) - len(floor), "informative": sum(e.informative for e in adds),
            "below_floor": floor, "removals": sum(e.passes for e in edits if e.direction == "remove")}


def grade(editor: Editor, judge: AttributeClassifier, data: CelebA, folder: str | Path, attributes: Sequence[str],
          alphas: Sequence[float] = (1, 2, 3, 4), faces: int = 200, photo_scenes: int = 300, photo_faces: int = 20,
          limit: int = 0, device="cpu", bar: QualityBar | None = None, before: dict | None = None,
          chooser: AttributeClassifier | None = None, baseline: AttributeBank | None = None,
          progress: bool = True, log=print) -> Report:
    """The whole evaluation (module docstring) of ``editor`` by ``judge`` on ``data``'s test split
    (at most ``limit`` faces, 0: all): reconstruction, the judge's accuracy, edit success, the
    photo view (``photo_faces`` per attribute and direction; 0: skip), identity kept (with
    ``folder``'s recognisers), what the model draws; ``chooser``: its reading of the same edits
    beside; ``baseline``: another bank (the effect method's) graded by the same judge."""
    bar = bar or QualityBar()
    test_x, test_y, _ = load_split(data, "test", editor.policy, progress=progress)
    test_x, test_y = test_x[:limit or len(test_x)], test_y[:limit or len(test_y)]
    recon = reconstruction_metrics(editor, test_x, progress=progress)
    judge_x, judge_y = judge_faces(data, judge, editor, test_x, test_y, limit)
    accuracy = classifier_accuracy(judge, judge_x, judge_y, device)
    edits = edit_success(editor, judge, test_x, test_y, attributes, alphas, max_faces=faces, bar=bar,
                         progress=progress)
    photo, photo_summary = [], {}
    if photo_faces:
        photos, labels = test_photos(data, photo_scenes)
        photo, photo_summary = photo_view_success(editor, judge, photos, labels, attributes, alphas,
                                                  max_faces=photo_faces, progress=progress)
    kept, recogniser = identity_kept(folder, data, editor, attributes, alphas, faces, device, progress, log)
    drawable = drawability(editor, judge, test_x, test_y, judge_x, attributes, max_faces=faces)
    bank = {"method": editor.bank.method, "unit": editor.bank.unit,
            "scales": {r.name: r.scale for r in editor.bank.records},
            "hair_rows": editor.bank.hair_rows.describe() if editor.bank.hair_rows else [],
            "picture_rows": editor.bank.picture_rows.describe() if editor.bank.picture_rows else [],
            "removal_rows": editor.bank.removal_rows.describe() if editor.bank.removal_rows else []}
    others = {}
    if chooser is not None or baseline is not None:
        others["judge_reads"] = reads(judge, editor, test_x, test_y, attributes, device)
        others["judge_thresholds"] = dict(judge.config.thresholds)
        others["figures"] = {"judge": bar_figures(edits, bar)}
    if chooser is not None:
        chosen = edit_success(editor, chooser, test_x, test_y, attributes, alphas, max_faces=faces, bar=bar,
                              progress=progress)
        others["chooser"] = [asdict(e) for e in chosen]
        others["figures"]["chooser"] = bar_figures(chosen, bar)
    if baseline is not None:
        plain = Editor(editor.model, baseline, editor.device)
        theirs = edit_success(plain, judge, test_x, test_y, attributes, alphas, max_faces=faces, bar=bar,
                              progress=progress)
        others["baseline"] = [asdict(e) for e in theirs]
        others["figures"]["baseline"] = bar_figures(theirs, bar)
    return Report(recon, accuracy, edits, bar=bar.summary(edits), photo_view=photo, photo_summary=photo_summary,
                  identity=kept, identity_threshold=recogniser.threshold if recogniser else None,
                  identity_recogniser=recogniser.name if recogniser else "", drawability=drawable, bank=bank,
                  before=before or {}, **others)
