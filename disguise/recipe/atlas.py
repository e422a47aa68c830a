"""The atlas: every slider on the same few test faces at 0, 2 and 4 (and -4 on the faces that have
the attribute), one row per slider, with the judge's verdict beside it, so that a person can check
the judge's figures against what the sliders draw."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..attributes import INDEX, pretty
from ..photo.exports import BG, INK, MUTED, font, tile
from ..sliders.editor import Editor
from ..sliders.measure import EditResult, QualityBar

ALPHAS = (-4.0, 0.0, 2.0, 4.0)
TILE = 64
NAME_W, VERDICT_W, GAP, HEAD = 150, 250, 10, 44


def pick_faces(labels: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` test faces that differ in sex and age where the data allows (rows, sorted)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    kinds = [(m, y) for m in (1, -1) for y in (1, -1)]
    chosen: list[int] = []
    for m, y in kinds * count:
        if len(chosen) == count:
            break
        pool = np.flatnonzero((labels[:, INDEX["Male"]] == m) & (labels[:, INDEX["Young"]] == y))
        pool = np.setdiff1d(pool, chosen)
        if len(pool):
            chosen.append(int(rng.choice(pool)))
    rest = np.setdiff1d(np.arange(len(labels)), chosen)
    chosen += [int(i) for i in rng.permutation(rest)[:count - len(chosen)]]
    return np.array(chosen, dtype=int)


def atlas(editor: Editor, faces: np.ndarray, labels: np.ndarray, attributes: Sequence[str],
          verdicts: Sequence[EditResult] = (), bar: QualityBar = QualityBar(), title: str = "") -> Image.Image:
    """The atlas (module docstring) of ``faces`` (model-sized uint8) with +1/-1 ``labels``;
    ``verdicts``: the judge's add results, one per attribute, printed beside its row."""
    verdict = {e.attribute: e for e in verdicts if e.direction == "add"}
    z = editor.encode(np.asarray(faces))
    n = len(faces)
    cell = len(ALPHAS) * TILE
    width = NAME_W + n * (cell + GAP) + VERDICT_W
    canvas = Image.new("RGB", (width, HEAD + len(attributes) * (TILE + 4)), BG)
    d = ImageDraw.Draw(canvas)
    d.text((6, 4), title or "every slider on the same test faces", fill=INK, font=font(15))
    for j in range(n):
        for k, a in enumerate(ALPHAS):
            d.text((NAME_W + j * (cell + GAP) + k * TILE + 4, HEAD - 16), f"{a:+g}" if a else "0", fill=MUTED,
                   font=font(11))
    d.text((width - VERDICT_W + 6, HEAD - 16), "judge at +4: seen / kept", fill=MUTED, font=font(11))
    for r, name in enumerate(attributes):
        y = HEAD + r * (TILE + 4)
        d.text((6, y + TILE // 2 - 7), pretty(name), fill=INK, font=font(12))
        codes = editor.grid_codes(z, name, ALPHAS)                           # (n, A, z)
        pictures = editor.decode(codes.reshape(n * len(ALPHAS), -1)).reshape(n, len(ALPHAS), *faces.shape[1:])
        for j in range(n):
            has = labels[j, INDEX[name]] == 1
            for k, a in enumerate(ALPHAS):
                x = NAME_W + j * (cell + GAP) + k * TILE
                if a < 0 and not has:  # removal applies to faces that have the attribute
                    d.rectangle([x, y, x + TILE - 1, y + TILE - 1], fill=(236, 236, 236))
                    continue
                canvas.paste(tile(pictures[j, k], TILE), (x, y))
        e = verdict.get(name)
        if e is not None:
            text = (f"{bar.at_end(e):.0%} / {e.preserved[-1]:.0%}  "
                    + ("passes" if e.passes else "misses" if e.informative else "seen at 0"))
            d.text((width - VERDICT_W + 6, y + TILE // 2 - 7), text, fill=INK if e.passes else MUTED, font=font(12))
    return canvas
