"""The photo view, judged: edit success on the photo itself against the model's decodes.

Test faces are placed into photo-like scenes (``disguise.data.scenes``) and prepared by the app's
own path; each edit is drawn on the scene (``disguise.photo.view``), the edited scene prepared
again as a new upload would be, and its crop judged, beside the decodes of the same faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attributes import ATTRIBUTES, DRAWN
from ..classifier.model import AttributeClassifier, predict
from ..data.scenes import SceneSpec, place
from ..frame import LEFT_EYE, RIGHT_EYE
from ..photo.alignment import prepare_face
from ..photo.view import PhotoCanvas
from ..preprocess import to_tensor
from ..sliders.editor import Editor
from ..sliders.measure import share


@dataclass
class PhotoViewResult:
    """One attribute and direction on test faces placed into scenes, in both views.

    ``model_*``: the decodes judged (as ``edit_success`` does), ``photo_*``: the edited scene,
    prepared again by the app's path and its crop judged; both on the same faces, ``kept`` against
    each view's own alpha-0 picture. ``outside_change``: the mean absolute change, in levels, of
    the scene's pixels outside the crop's footprint (0 by construction)."""

    attribute: str
    direction: str
    faces: int
    alphas: list[float]
    model_success: list[float]
    model_kept: list[float]
    photo_success: list[float]
    photo_kept: list[float]
    outside_change: float


@dataclass
class _Placed:
    """A test face in a scene, as the app prepared it."""

    prep: object  # disguise.photo.alignment.PreparedFace
    z: torch.Tensor
    recon: np.ndarray
    canvas: object  # disguise.photo.view.PhotoCanvas
    outside: np.ndarray  # (H, W) bool: pixels outside the crop's footprint


def _place_faces(editor: Editor, faces: Sequence[np.ndarray], seed: int, spec) -> list[_Placed | None]:
    """Each aligned face put into its own scene (seeded by its index) and prepared like an
    upload; None where the app could not frame it by the eyes."""
    eyes = np.array([LEFT_EYE, RIGHT_EYE])
    out: list[_Placed | None] = []
    for i, face in enumerate(faces):
        scene = place(np.asarray(face), eyes, 0.6 * face.shape[1], np.random.default_rng((seed, i)), spec)
        prep = prepare_face(scene.jpeg, editor.policy)
        if not prep.method.startswith("eyes"):
            out.append(None)
            continue
        canvas = PhotoCanvas(prep.photo, editor.policy)
        outside = np.ones(prep.photo.photo.shape[:2], bool)
        x0, y0, x1, y1 = canvas.box
        outside[y0:y1, x0:x1] = False
        z = editor.encode(prep.crop)
        out.append(_Placed(prep, z[0], editor.render(z[0], {}), canvas, outside))
    return out


@torch.no_grad()
def photo_view_success(editor: Editor, judge: AttributeClassifier, faces: Sequence[np.ndarray],
                       labels: np.ndarray, attributes: Sequence[str] = DRAWN,
                       alphas: Sequence[float] = (1, 2, 3, 4), max_faces: int = 20, seed: int = 0,
                       progress: bool = True) -> tuple[list[PhotoViewResult], dict]:
    """Edit success in the photo view against the model view, on the same faces.

    ``faces``: aligned 178 x 218 uint8 test images with their +1/-1 ``labels``. Each is placed
    into a photo-like scene (``disguise.data.scenes``: 150-400 px wide, rolled up to 20 degrees, JPEG)
    and prepared by the app's own path; faces it does not frame by the eyes are left out (their
    share is in the returned summary). For each attribute and direction, up to ``max_faces``
    framed faces lacking (adding) or having (removing) it are edited at each alpha in both views:
    the photo view's edited scene is prepared again, as a new upload would be, and its crop judged.
    """
    placed = _place_faces(editor, faces, seed, SceneSpec())
    framed = np.array([p is not None for p in placed])
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    drawn_idx = [ATTRIBUTES.index(a) for a in DRAWN]
    steps = [0.0] + [float(a) for a in alphas]
    results, reframed, tried = [], 0, 0
    bar = tqdm(total=2 * len(attributes), desc="photo view", leave=False, disable=not progress)
    for name in attributes:
        k = ATTRIBUTES.index(name)
        others = [j for j in drawn_idx if j != k]
        for direction, sign, want in (("add", 1.0, -1), ("remove", -1.0, 1)):
            bar.update(1)
            rows = np.flatnonzero((labels[:, k] == want) & framed)
            if len(rows) > max_faces:
                rows = np.sort(rng.choice(rows, max_faces, replace=False))
            if len(rows) == 0:
                continue
            model_preds, photo_preds, outside = [], [], []
            for r in rows:
                p = placed[r]
                decodes = editor.decode(editor.grid_codes(p.z[None], name, [sign * a for a in steps])[0])
                model_preds.append(predict(judge, to_tensor(decodes, editor.device)).cpu())
                crops = []
                for a, decode in zip(steps, decodes):
                    if a == 0:  # the photo is unchanged: the upload's own preparation
                        crops.append(p.prep.crop)
                        continue
                    photo = p.canvas.apply(p.recon, decode)
                    outside.append(np.abs(photo[p.outside].astype(np.int16) - p.prep.photo.photo[p.outside]).mean())
                    again = prepare_face(photo, editor.policy)
                    tried += 1
                    reframed += again.method.startswith("eyes")
                    crops.append(again.crop)
                photo_preds.append(predict(judge, to_tensor(np.stack(crops), editor.device)).cpu())
            shares = {}
            for view, preds in (("model", model_preds), ("photo", photo_preds)):
                pr = torch.stack(preds, 1)                                    # (A, F, 40)
                has = pr[:, :, k] if sign > 0 else ~pr[:, :, k]
                shares[view] = (share(has, 1).tolist()[1:],
                                share(pr[:, :, others] == pr[0:1, :, others], (1, 2)).tolist()[1:])
            results.append(PhotoViewResult(name, direction, len(rows), [sign * a for a in steps[1:]],
                                           *shares["model"], *shares["photo"],
                                           float(np.mean(outside)) if outside else 0.0))
    bar.close()
    summary = {"faces": len(faces), "framed_by_eyes": float(framed.mean()) if len(faces) else 0.0,
               "edited_reframed_by_eyes": reframed / max(tried, 1)}
    return results, summary
