"""Frey faces: Brendan Frey's 1,965 grayscale 28 x 20 video frames, and a synthetic stand-in.

The file everyone uses, ``frey_rawface.mat`` (Roweis' page), is a MATLAB v5 file with one variable
``ff``: ``uint8`` of shape ``(560, 1965)``, each column one face of 28 rows x 20 columns stored row
by row (``ff[:, i].reshape(28, 20)``). ``read_frey`` reads exactly that, and refuses anything else
by name.

The real file cannot be downloaded everywhere (not on this project's build machines), so
``standin_faces`` renders the project's synthetic faces (``disguise.data.synthetic``) in grayscale at
28 x 20 and ``write_frey`` stores them in Frey's exact layout. They are NOT Frey's faces: a model
trained on them says nothing about the real data set, only that the pipeline runs end to end.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ROWS, COLS = 28, 20
VARIABLE = "ff"
FREY_COUNT = 1965


def read_frey(path: str | os.PathLike) -> np.ndarray:
    """The faces of a ``frey_rawface.mat``-format file as ``(N, 28, 20)`` uint8."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (expected frey_rawface.mat or a file in "
                                f"its layout)")
    try:
        mat = loadmat(str(path))
    except (ValueError, TypeError, OSError, NotImplementedError) as e:
        raise ValueError(f"{path}: not a readable MATLAB file ({e})") from None
    if VARIABLE not in mat:
        names = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path}: no variable {VARIABLE!r} (it holds {names}); Frey's file keeps "
                         f"the faces in 'ff'")
    ff = mat[VARIABLE]
    if ff.dtype != np.uint8:
        raise ValueError(f"{path}: {VARIABLE!r} is {ff.dtype}, expected uint8 grey levels")
    if ff.ndim != 2 or ff.shape[0] != ROWS * COLS or ff.shape[1] < 1:
        raise ValueError(f"{path}: {VARIABLE!r} has shape {ff.shape}, expected ({ROWS * COLS}, N): "
                         f"one {ROWS} x {COLS} face per column")
    return np.ascontiguousarray(ff.T.reshape(-1, ROWS, COLS))


def write_frey(path: str | os.PathLike, faces: np.ndarray) -> None:
    """Store ``(N, 28, 20)`` uint8 faces in Frey's layout (``ff``: 560 x N, a face per column)."""
    from scipy.io import savemat

    from ..files import atomic_write

    faces = np.asarray(faces)
    if faces.dtype != np.uint8 or faces.ndim != 3 or faces.shape[1:] != (ROWS, COLS):
        raise ValueError(f"faces must be uint8 (N, {ROWS}, {COLS}), got {faces.dtype} {faces.shape}")
    ff = np.ascontiguousarray(faces.reshape(len(faces), ROWS * COLS).T)
    atomic_write(path, lambda p: savemat(str(p), {VARIABLE: ff}, format="5", do_compression=True))


def standin_faces(count: int = FREY_COUNT, seed: int = 0) -> np.ndarray:
    """``count`` synthetic faces (``disguise.data.synthetic``) as grey ``(count, 28, 20)`` uint8.

    The face is cropped as Frey's frames are (the face filling a portrait 20:28 box) and turned to
    grey with PIL's ITU-R 601 luma. Deterministic in ``(count, seed)``.
    """
    from PIL import Image

    from .synthetic import item_labels, make_plan, render

    plan = make_plan(count, seed)
    box = (49, 77, 129, 189)  # 80 x 112 (20:28) around the eyes and mouth of the 178 x 218 frame
    out = np.empty((count, ROWS, COLS), dtype=np.uint8)
    for i in range(count):
        lab, rng = item_labels(plan.seed, plan.persons[plan.person_of[i]], i)
        img, _ = render(plan.persons[plan.person_of[i]], lab, rng)
        out[i] = np.asarray(img.convert("L").resize((COLS, ROWS), Image.Resampling.BOX, box=box))
    return out
