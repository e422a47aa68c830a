"""Which disguises hide the person: the share of faces the identity model still recognises after
each edit, drawn on the aligned test face as the photo view draws it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..attributes import ATTRIBUTES, DRAWN
from ..identity.recognisers import FaceShot
from ..photo.view import PhotoCanvas, PhotoFrame
from ..sliders.editor import Editor


@dataclass
class IdentityResult:
    """One attribute and direction: after the edit (drawn on the aligned test face, as the photo
    view draws it), the share of faces the identity model still calls the same person, and the
    mean cosine similarity to the unedited face."""

    attribute: str
    direction: str
    faces: int
    alphas: list[float]
    recognised: list[float]
    similarity: list[float]


@torch.no_grad()
def identity_retention(editor: Editor, recogniser, faces: Sequence[np.ndarray], labels: np.ndarray,
                       attributes: Sequence[str] = DRAWN, alphas: Sequence[float] = (1, 2, 3, 4),
                       max_faces: int = 200, seed: int = 0, progress: bool = True) -> list[IdentityResult]:
    """Add (to faces without it) and remove (from faces with it) each attribute; see
    ``IdentityResult``. ``faces``: aligned 178 x 218 uint8 test images; ``recogniser``: the
    one for what they are (``disguise.identity.recognisers``: the learned model for drawn faces)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    views = [PhotoFrame.aligned(np.asarray(f)) for f in faces]
    crops = np.stack([editor.policy.apply(Image.fromarray(f)) for f in faces])
    people: dict[int, np.ndarray] = {}  # each face's own embedding, made when a row first needs it
    codes = editor.encode(crops)
    recons = editor.decode_batch(codes)  # many faces: batched (within a level of a face alone)
    results = []
    bar = tqdm(total=2 * len(attributes), desc="identity kept", leave=False, disable=not progress)
    for name in attributes:
        k = ATTRIBUTES.index(name)
        for direction, sign, want in (("add", 1.0, -1), ("remove", -1.0, 1)):
            bar.update(1)
            rows = np.flatnonzero(labels[:, k] == want)
            if len(rows) > max_faces:
                rows = np.sort(rng.choice(rows, max_faces, replace=False))
            if len(rows) == 0:
                continue
            signed = [sign * float(a) for a in alphas]
            grid = editor.grid_codes(codes[rows], name, signed)               # (F, A, z)
            grid = editor.decode_batch(grid.reshape(-1, grid.shape[-1])).reshape(len(rows), len(signed),
                                                                                 *recons.shape[1:])
            shots = []
            for r, decodes in zip(rows, grid):
                canvas = PhotoCanvas(views[r], editor.policy)
                shots += [FaceShot.of(views[r], canvas.apply(recons[r], d)) for d in decodes]
            emb = recogniser.embed(shots).reshape(len(rows), len(signed), -1)
            fresh = [int(r) for r in rows if int(r) not in people]
            if fresh:
                people.update(zip(fresh, recogniser.embed([FaceShot.of(views[r]) for r in fresh])))
            sims = np.array([[recogniser.compare(people[int(r)], e)["similarity"] for e in emb[i]]
                             for i, r in enumerate(rows)])                   # (F, A)
            results.append(IdentityResult(name, direction, len(rows), signed,
                                          (sims >= recogniser.threshold).mean(0).tolist(),
                                          sims.mean(0).tolist()))
    bar.close()
    return results
