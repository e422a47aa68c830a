"""What the page needs to draw edits itself, once per face: the browser's side of the live view.

While a slider is dragged the page computes ``z + sum_i alpha_i v_i``, decodes it with the ONNX
decoder (``disguise.vae.onnx_decoder``) and, in the photo view, draws the change on the photo as
``PhotoCanvas.apply`` does. For that it receives one JSON document: the code ``z`` and the face's
forty rows as the locks condition them (``Editor.rows``; little-endian float32, base64), and
where the model has removal rows (``disguise.sliders.removal_rows``) the forty rows below 0, the
slider positions the server last saw, the reconstruction (uint8 RGB, base64), and for the photo
view a copy of the photo as large as the page shows it (``Studio.show_at``), the footprint of the
model's crop in it, the affine warp to model pixels and the photo view's constants. The document
is rebuilt when the face, the view or the locks change, never while dragging, so a drag costs the
server nothing (docs/app.md, "Live in the browser").
"""

from __future__ import annotations

import base64
import io
import json
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from ..attributes import ATTRIBUTES
from ..photo.view import FEATHER, FULL, NEGLIGIBLE, PhotoCanvas

FORMAT = 3  # bumped when the document's layout changes (the page checks it)
PHOTO_QUALITY = 92  # JPEG quality of the photo sent to the page


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _jpeg_data_url(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=PHOTO_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def live_document(face_id: str, z: torch.Tensor, bank: torch.Tensor, recon: np.ndarray,
                  canvas: PhotoCanvas | None, alphas: Sequence[float], view: str, display: int,
                  removal: torch.Tensor | None = None) -> str:
    """The JSON document for one face (see the module docstring); ``canvas`` None: model view only;
    ``removal``: the rows below 0, where they differ from ``bank``."""
    z = z.detach().float().cpu().reshape(-1)
    banks = {"bank": bank} if removal is None else {"bank": bank, "removal": removal}
    for key, rows in banks.items():
        if tuple(rows.shape) != (len(ATTRIBUTES), z.numel()):
            raise ValueError(f"{key} must be ({len(ATTRIBUTES)}, {z.numel()}), got {tuple(rows.shape)}")
    if len(alphas) != len(ATTRIBUTES):
        raise ValueError(f"expected {len(ATTRIBUTES)} alphas, got {len(alphas)}")
    doc = {
        "format": FORMAT, "face": face_id, "view": view, "display": display,
        "size": int(recon.shape[0]), "zDim": int(z.numel()), "attributes": list(ATTRIBUTES),
        "alphas": [float(a) for a in alphas],
        "z": _b64(z.numpy().astype("<f4")),
        **{key: _b64(rows.detach().float().cpu().numpy().astype("<f4")) for key, rows in banks.items()},
        "recon": _b64(recon.astype(np.uint8)),
    }
    if canvas is not None:  # an empty box (the crop outside the photo): the photo, unchanged
        w, h = canvas.view.size
        doc["photo"] = {
            "src": _jpeg_data_url(canvas.view.photo), "width": w, "height": h,
            "box": [int(v) for v in canvas.box], "warp": [float(v) for v in canvas.warp_matrix.reshape(-1)],
            "negligible": NEGLIGIBLE, "full": FULL, "feather": FEATHER,
        }
    return json.dumps(doc, separators=(",", ":"))


def random_edits(count: int, seed: int = 0, most: int = 6, most_locked: int = 3
                 ) -> Iterator[tuple[int, dict[str, float], list[str]]]:
    """``count`` random edits to check the page against the server with: a face seed, 1 to
    ``most`` alphas in -4..4 and 0 to ``most_locked`` locks, repeatable by ``seed``."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        names = rng.choice(ATTRIBUTES, size=int(rng.integers(1, most + 1)), replace=False)
        alphas = {str(n): float(rng.uniform(-4, 4)) for n in names}
        locked = [str(n) for n in rng.choice(ATTRIBUTES, size=int(rng.integers(0, most_locked + 1)), replace=False)]
        yield seed * 100_000 + k, alphas, locked
