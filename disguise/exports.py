"""Printable pictures: alpha strips, face x alpha grids and disguise sheets, as labelled images.

Each function takes an ``Editor`` and a face code and returns a ``PIL.Image`` (save it as PNG). The
decoding is batched: one forward pass per picture.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .attributes import pretty
from .editing import Editor, check_alpha_list, check_alphas

TILE = 160  # tiles are shown at this size, upscaled from the model's resolution
GAP = 6
BG, INK, MUTED = (255, 255, 255), (25, 25, 25), (110, 110, 110)

# What an investigator would print: common disguises, as sets of attribute edits.
DISGUISES: tuple[tuple[str, dict[str, float]], ...] = (
    ("Glasses", {"Eyeglasses": 3.0}),
    ("Glasses + hat", {"Eyeglasses": 3.0, "Wearing_Hat": 3.0}),
    ("Beard", {"No_Beard": -3.0}),
    ("Beard + dark hair", {"No_Beard": -3.0, "Black_Hair": 3.0}),
    ("Moustache", {"Mustache": 3.0}),
    ("Blond, no beard", {"Blond_Hair": 3.0, "No_Beard": 3.0}),
    ("Hat + moustache", {"Wearing_Hat": 3.0, "Mustache": 3.0}),
    ("Grey hair, older", {"Gray_Hair": 3.0, "Young": -3.0}),
    ("Bangs + make-up", {"Bangs": 3.0, "Heavy_Makeup": 3.0}),
    ("Bald + glasses", {"Bald": 3.0, "Eyeglasses": 3.0}),
)


def save_png(img: Image.Image, path) -> None:
    """Write ``img`` as PNG with its ``info`` (title, labels, edits) kept as text chunks."""
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    for k, v in img.info.items():
        if isinstance(v, str):
            meta.add_text(k, v)
    img.save(path, format="PNG", pnginfo=meta)


def _describe(img: Image.Image, title: str, labels: list[str], **extra) -> Image.Image:
    import json

    img.info.update({"Title": title, "Software": "disguise", "labels": json.dumps(labels),
                     **{k: json.dumps(v) for k, v in extra.items()}})
    return img


def font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def tile(img: np.ndarray | Image.Image, size: int = TILE) -> Image.Image:
    im = Image.fromarray(img) if isinstance(img, np.ndarray) else img.convert("RGB")
    return im.resize((size, size), Image.Resampling.LANCZOS)


def format_alpha(a: float) -> str:
    return "0" if a == 0 else f"{a:+g}"


def _canvas(cols: int, rows: int, title: str, subtitle: str, label_h: int = 22
            ) -> tuple[Image.Image, ImageDraw.ImageDraw, int]:
    head = 54
    w = GAP + cols * (TILE + GAP)
    h = head + rows * (TILE + label_h + GAP) + GAP
    img = Image.new("RGB", (max(w, 360), h), BG)
    d = ImageDraw.Draw(img)
    d.text((GAP + 2, 8), title, fill=INK, font=font(20))
    d.text((GAP + 2, 32), subtitle, fill=MUTED, font=font(13))
    return img, d, head


def _label(d: ImageDraw.ImageDraw, x: int, y: int, text: str, bold: bool = False) -> None:
    f = font(14 if bold else 13)
    w = d.textlength(text, font=f)
    d.text((x + (TILE - w) / 2, y + 3), text, fill=INK if bold else MUTED, font=f)


def alpha_strip(editor: Editor, z: torch.Tensor, attribute: str,
                alphas: Sequence[float] = (0, 1, 2, 3, 4), original: np.ndarray | None = None,
                base: Mapping[str, float] | None = None, locked: Sequence[str] = ()) -> Image.Image:
    """The seed's figure: one face decoded at each alpha of one attribute, the original first."""
    values = check_alpha_list(alphas)
    faces = editor.strip(z, attribute, values, base=base, locked=locked)
    cols = len(values) + (original is not None)
    lock = f"; locked: {', '.join(pretty(n) for n in locked)}" if locked else ""
    img, d, y0 = _canvas(cols, 1, f"{pretty(attribute)}",
                         f"z + alpha * v({attribute}){lock}")
    x = GAP
    if original is not None:
        img.paste(tile(original), (x, y0))
        _label(d, x, y0 + TILE, "input", bold=True)
        x += TILE + GAP
    labels = ["input"] if original is not None else []
    for a, face in zip(values, faces):
        img.paste(tile(face), (x, y0))
        labels.append(f"alpha = {format_alpha(a)}")
        _label(d, x, y0 + TILE, labels[-1])
        x += TILE + GAP
    return _describe(img, f"{pretty(attribute)} alpha strip", labels, attribute=attribute,
                     alphas=values, locked=list(locked))


def alpha_grid(editor: Editor, zs: torch.Tensor, attribute: str,
               alphas: Sequence[float] = (0, 1, 2, 3, 4), originals: Sequence[np.ndarray] | None = None,
               locked: Sequence[str] = ()) -> Image.Image:
    """Several faces (rows) x alphas (columns), like the book's figure; one forward pass."""
    values = check_alpha_list(alphas)
    faces = editor.grid(zs, attribute, values, locked=locked)          # (N, A, S, S, 3)
    n = faces.shape[0]
    cols = len(values) + (originals is not None)
    img, d, y0 = _canvas(cols, n, pretty(attribute), f"{n} faces x alpha in "
                         f"{', '.join(format_alpha(a) for a in values)}")
    for r in range(n):
        y = y0 + r * (TILE + 22 + GAP)
        x = GAP
        if originals is not None:
            img.paste(tile(originals[r]), (x, y))
            _label(d, x, y + TILE, "input", bold=True)
            x += TILE + GAP
        for a, face in zip(values, faces[r]):
            img.paste(tile(face), (x, y))
            _label(d, x, y + TILE, f"alpha = {format_alpha(a)}")
            x += TILE + GAP
    labels = (["input"] if originals is not None else []) + [f"alpha = {format_alpha(a)}" for a in values]
    return _describe(img, f"{pretty(attribute)} grid", labels, attribute=attribute, alphas=values,
                     faces=n)


def disguise_sheet(editor: Editor, z: torch.Tensor,
                   combos: Sequence[tuple[str, Mapping[str, float]]] = DISGUISES,
                   original: np.ndarray | None = None, locked: Sequence[str] = (),
                   columns: int = 4, title: str = "Possible disguises") -> Image.Image:
    """One face under several attribute combinations, each tile labelled with its edits."""
    if not combos:
        raise ValueError("a disguise sheet needs at least one combination")
    edits = [check_alphas(c) for _, c in combos]
    faces = editor.combinations(z, edits, locked=locked)
    tiles: list[tuple[np.ndarray, str, str]] = []
    if original is not None:
        tiles.append((original, "input", ""))
    tiles.append((editor.render(z, {}), "reconstruction", "all alphas 0"))
    for (label, c), face in zip(combos, faces):
        detail = ", ".join(f"{pretty(k)} {format_alpha(v)}" for k, v in c.items())
        tiles.append((face, label, detail))
    cols = min(columns, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    lock = f"; locked: {', '.join(pretty(n) for n in locked)}" if locked else ""
    img, d, y0 = _canvas(cols, rows, title, f"z + sum of alpha_i * v_i, per tile{lock}",
                         label_h=40)
    small = font(11)
    for k, (face, label, detail) in enumerate(tiles):
        x = GAP + (k % cols) * (TILE + GAP)
        y = y0 + (k // cols) * (TILE + 40 + GAP)
        img.paste(tile(face), (x, y))
        _label(d, x, y + TILE, label, bold=True)
        if detail:
            text = detail if d.textlength(detail, font=small) <= TILE else detail[:28] + "..."
            w = d.textlength(text, font=small)
            d.text((x + (TILE - w) / 2, y + TILE + 22), text, fill=MUTED, font=small)
    return _describe(img, title, [t[1] for t in tiles], edits=[dict(e) for e in edits],
                     locked=list(locked))
