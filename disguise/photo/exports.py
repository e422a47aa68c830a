"""Printable pictures: alpha strips, face x alpha grids and disguise sheets, as labelled images.

Each function takes an ``Editor`` and a face code and returns a ``PIL.Image`` (save it as PNG). The
decoding is batched: one forward pass per picture.
"""

from __future__ import annotations

from typing import Callable, Mapping, Protocol, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..attributes import pretty
from ..preprocess import Preprocess
from ..sliders.editor import Editor, check_alpha, check_alpha_list, check_alphas
from .view import DISPLAY, PhotoFrame, PhotoTiles, photo_edit

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
    return im if im.size == (size, size) else im.resize((size, size), Image.Resampling.LANCZOS)


class Tiles(Protocol):
    """Turns model decodes into the pictures an export prints (the model view or the photo view)."""

    size: int

    def __call__(self, decodes: np.ndarray) -> list[np.ndarray]: ...


VIEWS = ("photo", "model")  # the edit drawn on the person's photo, or the model's decode


def check_view(view: str) -> str:
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    return view


def view_tiles(view: str, photo: PhotoFrame, policy: Preprocess, recon: np.ndarray, crop: np.ndarray
               ) -> tuple["Tiles | None", np.ndarray]:
    """The tile drawer and the "input" picture of an export in ``view``: the photo view's face
    regions (``DISPLAY`` px), or the model's decodes (the exports' default) beside its input ``crop``."""
    if check_view(view) == "model":
        return None, crop
    tiles = PhotoTiles(photo, policy, recon)
    return tiles, tiles.original()


def edited_photo(photo: PhotoFrame, policy: Preprocess, recon: np.ndarray, edited: np.ndarray,
                 alphas: Mapping[str, float], locked: Sequence[str] = ()) -> Image.Image:
    """The whole photo with the edit drawn on it, its edits recorded for ``write_png``'s text."""
    import json

    img = Image.fromarray(photo_edit(photo, policy, recon, edited))
    img.info.update({"Title": "disguise: edited photo", "Software": "disguise",
                     "edits": json.dumps(dict(alphas)), "locked": json.dumps(list(locked))})
    return img


Identity = Callable[[list[np.ndarray]], list[dict]]  # tiles -> [{"similarity", "threshold", "recognised", ...}]


class ModelTiles:
    """The model view: each decode, upscaled to ``size`` pixels."""

    def __init__(self, size: int = TILE) -> None:
        self.size = size

    def __call__(self, decodes: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(tile(d, self.size)) for d in decodes]


def format_alpha(a: float) -> str:
    return "0" if a == 0 else f"{a:+g}"


def _canvas(cols: int, rows: int, title: str, subtitle: str, size: int, label_h: int = 22
            ) -> tuple[Image.Image, ImageDraw.ImageDraw, int]:
    head = 54
    w = GAP + cols * (size + GAP)
    h = head + rows * (size + label_h + GAP) + GAP
    img = Image.new("RGB", (max(w, 360), h), BG)
    d = ImageDraw.Draw(img)
    d.text((GAP + 2, 8), title, fill=INK, font=font(20))
    d.text((GAP + 2, 32), subtitle, fill=MUTED, font=font(13))
    return img, d, head


def _label(d: ImageDraw.ImageDraw, x: int, y: int, text: str, size: int, bold: bool = False) -> None:
    f = font(14 if bold else 13)
    w = d.textlength(text, font=f)
    d.text((x + (size - w) / 2, y + 3), text, fill=INK if bold else MUTED, font=f)


def identity_caption(result: dict) -> str:
    """A tile's identity line: the similarity to the person and the verdict at the threshold."""
    return f"identity {result['similarity']:.2f}: {'recognised' if result['recognised'] else 'not recognised'}"


def _identity_line(d: ImageDraw.ImageDraw, x: int, y: int, result: dict, size: int) -> None:
    text = identity_caption(result)
    f = font(11)
    colour = (20, 110, 40) if not result["recognised"] else MUTED  # hidden: the disguise worked
    d.text((x + (size - d.textlength(text, font=f)) / 2, y + 22), text, fill=colour, font=f)


def alpha_strip(editor: Editor, z: torch.Tensor, attribute: str,
                alphas: Sequence[float] = (0, 1, 2, 3, 4), original: np.ndarray | None = None,
                base: Mapping[str, float] | None = None, locked: Sequence[str] = (),
                tiles: Tiles | None = None, identity: Identity | None = None) -> Image.Image:
    """The seed's figure: one face decoded at each alpha of one attribute, the original first.

    ``tiles`` draws the faces (default: the model's decodes, upscaled); ``original`` is shown as
    given (resized to the tile size). ``identity``, given a tile, says whether it is still the
    person (``Identity``); each tile is then labelled with it."""
    tiles = tiles or ModelTiles()
    size = tiles.size
    values = check_alpha_list(alphas)
    faces = tiles(editor.strip(z, attribute, values, base=base, locked=locked))
    scores = identity(list(faces)) if identity else []
    cols = len(values) + (original is not None)
    lock = f"; locked: {', '.join(pretty(n) for n in locked)}" if locked else ""
    img, d, y0 = _canvas(cols, 1, f"{pretty(attribute)}", f"z + alpha * v({attribute}), {editor.bank.method} units{lock}", size,
                         label_h=40 if scores else 22)
    x = GAP
    if original is not None:
        img.paste(tile(original, size), (x, y0))
        _label(d, x, y0 + size, "input", size, bold=True)
        x += size + GAP
    labels = ["input"] if original is not None else []
    for k, (a, face) in enumerate(zip(values, faces)):
        img.paste(tile(face, size), (x, y0))
        labels.append(f"alpha = {format_alpha(a)}")
        _label(d, x, y0 + size, labels[-1], size)
        if scores:
            _identity_line(d, x, y0 + size, scores[k], size)
        x += size + GAP
    extra = {"identity": [round(r["similarity"], 4) for r in scores]} if scores else {}
    return _describe(img, f"{pretty(attribute)} alpha strip", labels, attribute=attribute,
                     alphas=values, locked=list(locked), unit=editor.bank.unit, **extra)


def alpha_grid(editor: Editor, zs: torch.Tensor, attribute: str,
               alphas: Sequence[float] = (0, 1, 2, 3, 4), originals: Sequence[np.ndarray] | None = None,
               locked: Sequence[str] = (), tiles: Sequence[Tiles] | None = None) -> Image.Image:
    """Several faces (rows) x alphas (columns), like the book's figure; one forward pass.

    ``tiles``: one drawer per face (default: the model view for all)."""
    values = check_alpha_list(alphas)
    faces = editor.grid(zs, attribute, values, locked=locked)          # (N, A, S, S, 3)
    n = faces.shape[0]
    drawers = list(tiles) if tiles is not None else [ModelTiles()] * n
    if len(drawers) != n:
        raise ValueError(f"{len(drawers)} tile drawers for {n} faces")
    size = drawers[0].size
    cols = len(values) + (originals is not None)
    img, d, y0 = _canvas(cols, n, pretty(attribute), f"{n} faces x alpha in "
                         f"{', '.join(format_alpha(a) for a in values)} ({editor.bank.method} units)", size)
    for r in range(n):
        y = y0 + r * (size + 22 + GAP)
        x = GAP
        if originals is not None:
            img.paste(tile(originals[r], size), (x, y))
            _label(d, x, y + size, "input", size, bold=True)
            x += size + GAP
        for a, face in zip(values, drawers[r](faces[r])):
            img.paste(tile(face, size), (x, y))
            _label(d, x, y + size, f"alpha = {format_alpha(a)}", size)
            x += size + GAP
    labels = (["input"] if originals is not None else []) + [f"alpha = {format_alpha(a)}" for a in values]
    return _describe(img, f"{pretty(attribute)} grid", labels, attribute=attribute, alphas=values,
                     faces=n, unit=editor.bank.unit)


def disguise_sheet(editor: Editor, z: torch.Tensor,
                   combos: Sequence[tuple[str, Mapping[str, float]]] = DISGUISES,
                   original: np.ndarray | None = None, locked: Sequence[str] = (),
                   columns: int = 4, title: str = "Possible disguises",
                   tiles: Tiles | None = None, identity: Identity | None = None,
                   by_identity: bool = False) -> Image.Image:
    """One face under several attribute combinations, each tile labelled with its edits.

    ``identity`` labels each tile with whether it is still the person; ``by_identity`` orders the
    disguises by it, the one that hides the person best first."""
    if not combos:
        raise ValueError("a disguise sheet needs at least one combination")
    if by_identity and identity is None:
        raise ValueError("ordering by identity needs an identity model")
    tiles = tiles or ModelTiles()
    size = tiles.size
    edits = [check_alphas(c) for _, c in combos]
    faces = tiles(np.concatenate([editor.render(z, {})[None], editor.combinations(z, edits, locked=locked)]))
    scores = identity(list(faces)) if identity else [None] * len(faces)
    entries = list(zip(combos, faces[1:], scores[1:]))
    if by_identity:
        entries.sort(key=lambda e: e[2]["similarity"])
        combos, edits = [c for c, _, _ in entries], [check_alphas(c) for (_, c), _, _ in entries]
    pictures: list[tuple[np.ndarray, str, str, dict | None]] = []
    if original is not None:
        pictures.append((original, "input", "", None))
    pictures.append((faces[0], "reconstruction", "all alphas 0", scores[0]))
    for (label, c), face, score in entries:
        detail = ", ".join(f"{pretty(k)} {format_alpha(v)}" for k, v in c.items())
        pictures.append((face, label, detail, score))
    cols = min(columns, len(pictures))
    rows = (len(pictures) + cols - 1) // cols
    lock = f"; locked: {', '.join(pretty(n) for n in locked)}" if locked else ""
    label_h = 58 if identity else 40
    order = "; ordered by identity, the best hiding first" if by_identity else ""
    img, d, y0 = _canvas(cols, rows, title, f"z + sum of alpha_i * v_i, per tile{lock}{order}", size,
                         label_h=label_h)
    small = font(11)
    for k, (face, label, detail, score) in enumerate(pictures):
        x = GAP + (k % cols) * (size + GAP)
        y = y0 + (k // cols) * (size + label_h + GAP)
        img.paste(tile(face, size), (x, y))
        _label(d, x, y + size, label, size, bold=True)
        if detail:
            chars = max(8, size * 28 // TILE)  # what fits under a tile in the small font
            text = detail if d.textlength(detail, font=small) <= size else detail[:chars] + "..."
            w = d.textlength(text, font=small)
            d.text((x + (size - w) / 2, y + size + 22), text, fill=MUTED, font=small)
        if score is not None:
            _identity_line(d, x, y + size + 18, score, size)
    extra = {"identity": [None if p[3] is None else round(p[3]["similarity"], 4) for p in pictures]} \
        if identity else {}
    return _describe(img, title, [t[1] for t in pictures], edits=[dict(e) for e in edits],
                     locked=list(locked), **extra)


MAX_FRAMES = 64  # an animation is one decode and one picture per frame
SWEEP_PEAK, SWEEP_FRAMES = 4.0, 17  # an animation's defaults: 0 -> 4 -> 0 in 17 frames
FRAME_MS = 90  # each frame's time on screen


def sweep_alphas(peak: float = SWEEP_PEAK, frames: int = SWEEP_FRAMES) -> list[float]:
    """``frames`` alphas going 0 -> ``peak`` -> 0 (the seeds' way of showing a change)."""
    peak = check_alpha(peak, "the sweep's peak alpha")
    if not 3 <= int(frames) <= MAX_FRAMES:
        raise ValueError(f"an animation needs 3 to {MAX_FRAMES} frames, got {frames}")
    up = int(frames) // 2 + 1
    rise = np.linspace(0.0, peak, up).tolist()
    return rise + rise[-2:-2 - (int(frames) - up):-1]


def animation_comment(attribute: str, peak: float, frames: int, view: str, locked: Sequence[str]) -> str:
    """What an animation's GIF says it shows (its comment), as JSON."""
    import json

    return json.dumps({"attribute": attribute, "peak": float(peak), "frames": int(frames), "view": view,
                       "locked": list(locked)})


def sweep_animation(editor: Editor, z: torch.Tensor, attribute: str, peak: float = SWEEP_PEAK,
                    frames: int = SWEEP_FRAMES, base: Mapping[str, float] | None = None,
                    locked: Sequence[str] = (), tiles: Tiles | None = None) -> list[Image.Image]:
    """Frames of one attribute sweeping 0 -> ``peak`` -> 0, each captioned with its alpha."""
    tiles = tiles or ModelTiles(DISPLAY)
    alphas = sweep_alphas(peak, frames)
    pictures = tiles(editor.strip(z, attribute, alphas, base=base, locked=locked))
    out = []
    for a, face in zip(alphas, pictures):
        im = tile(face, tiles.size)
        d = ImageDraw.Draw(im)
        d.rectangle((0, im.height - 22, im.width, im.height), fill=(0, 0, 0))
        d.text((6, im.height - 19), f"{pretty(attribute)}  alpha {a:+.1f}", fill=(255, 255, 255), font=font(13))
        out.append(im)
    return out
