"""The editing engine: encode a face once, move its code along attribute vectors, decode.

    z_edited = z + sum_i alpha_i * v_i

``alpha = 0`` everywhere gives the plain reconstruction. Locks keep chosen attributes fixed while
others change: each edit vector loses its components along the locked attributes' vectors
(projection onto their orthogonal complement, then renormalised), the conditional manipulation of
InterFaceGAN (Shen et al., CVPR 2020, sec. 2.2): a beard added without changing the gender.

A bank may give the hair sliders a row per hair state (``disguise.sliders.hair_rows``) and Blurry
a row made from the face's own picture (``disguise.sliders.picture_rows``), read off each face's
code and used in every edit of it, here and in the page; and a slider a row of its own below 0
(``disguise.sliders.removal_rows``), where a lock holds both rows of a locked attribute.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from ..attributes import ATTRIBUTES, INDEX, check_names
from ..preprocess import Preprocess, to_tensor
from ..pretrained import resolve_folder
from ..vae.model import CONFIG_NAME, VAE, WEIGHTS_NAME
from .bank import BANK_NAME, AttributeBank

ALPHA_LIMIT = 20.0  # beyond this a decoded face is noise; the app's sliders span -4..4
MAX_ALPHAS = 25  # alphas in one strip or grid: each is a decode and a tile, so a client's list is capped
MAX_ALPHA_TEXT = 1000  # characters of a typed alpha list
PICTURE_CACHE = 256  # faces whose picture-slider rows are kept (each a few floats per slider)


def check_alpha(a: object, what: str = "alpha") -> float:
    """A finite number within +-ALPHA_LIMIT, else ``ValueError`` saying what was wrong."""
    try:
        value = float(a)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {a!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value}")
    if abs(value) > ALPHA_LIMIT:
        raise ValueError(f"{what} is {value:g}; keep it within +-{ALPHA_LIMIT:g}")
    return value


def check_alphas(alphas: Mapping[str, float]) -> dict[str, float]:
    """Known attribute names with valid alphas, else ``ValueError`` naming the problem."""
    check_names(alphas)
    return {name: check_alpha(a, f"alpha for {name}") for name, a in alphas.items()}


def check_alpha_list(alphas: Sequence[float]) -> list[float]:
    """A non-empty list of at most ``MAX_ALPHAS`` valid alphas (for strips and grids)."""
    values = list(alphas)
    if not values:
        raise ValueError("the alpha list is empty; give at least one value, e.g. 0,1,2,3,4")
    if len(values) > MAX_ALPHAS:
        raise ValueError(f"the alpha list has {len(values)} values; the limit is {MAX_ALPHAS}")
    return [check_alpha(a) for a in values]


def parse_alphas(text: str) -> list[float]:
    """``"0, 1, 2"`` or ``"-4 -3 -2"`` -> floats, with a message naming the bad piece."""
    text = str(text)
    if len(text) > MAX_ALPHA_TEXT:
        raise ValueError(f"the alpha list is {len(text)} characters long; the limit is {MAX_ALPHA_TEXT} "
                         f"(at most {MAX_ALPHAS} values)")
    pieces = [p for p in text.replace(",", " ").replace(";", " ").split() if p]
    values = []
    for p in pieces:
        try:
            values.append(float(p))
        except ValueError:
            raise ValueError(f"{p!r} in the alpha list is not a number; write e.g. 0, 1, 2, 3, 4") from None
    return check_alpha_list(values)


class Editor:
    """A VAE and its attribute bank, loaded once, on one device, in eval mode.

    The editor takes the model over: it moves it to ``device`` and leaves it in eval mode.
    """

    def __init__(self, model: VAE, bank: AttributeBank, device: str | torch.device = "cpu") -> None:
        if bank.z_dim != model.config.z_dim:
            raise ValueError(f"the attribute bank is {bank.z_dim}-dimensional but the model's z_dim "
                             f"is {model.config.z_dim}; they come from different runs")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.bank = bank
        self.vectors = bank.vectors.to(self.device)                 # (40, z)
        self.hair_rows = bank.hair_rows.to(self.device) if bank.hair_rows is not None else None
        self.picture_rows = bank.picture_rows
        self.removal_rows = bank.removal_rows.to(self.device) if bank.removal_rows is not None else None
        self._pictures: OrderedDict[bytes, torch.Tensor] = OrderedDict()  # a face's picture rows, by its code
        self._pictures_lock = threading.Lock()
        # The sliders whose rows depend on the face (all others are the bank's rows for everyone).
        self._by_hair = {name for name, _ in self.hair_rows.by_state} if self.hair_rows else set()
        self._own = self._by_hair | (self.picture_rows.names if self.picture_rows else set())

    @classmethod
    def from_pretrained(cls, source: str | os.PathLike, device: str | torch.device = "cpu",
                        revision: str | None = None) -> "Editor":
        """Load ``config.json``, ``model.safetensors`` and the bank from a folder or Hub repo id."""
        folder = resolve_folder(source, (CONFIG_NAME, WEIGHTS_NAME, BANK_NAME), revision)
        model = VAE.from_pretrained(folder, device=device)
        bank = AttributeBank.load(Path(folder) / BANK_NAME, z_dim=model.config.z_dim)
        return cls(model, bank, device)

    @property
    def face_rows(self) -> set[str]:
        """The sliders whose rows depend on the face (its hair state, its picture)."""
        return set(self._own)

    @property
    def policy(self) -> Preprocess:
        return self.model.config.policy

    @property
    def size(self) -> int:
        return self.model.config.image_size

    # ------------------------------------------------------------------------------------------

    def to_input(self, faces: np.ndarray) -> torch.Tensor:
        """``(S, S, 3)`` or ``(B, S, S, 3)`` uint8 model-sized faces -> ``(B, 3, S, S)`` floats."""
        arr = np.asarray(faces)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.shape[1:] != (self.size, self.size, 3) or arr.dtype != np.uint8:
            raise ValueError(f"faces must be uint8 of shape (..., {self.size}, {self.size}, 3), "
                             f"got {arr.dtype} {arr.shape}")
        return to_tensor(arr, self.device)

    @torch.inference_mode()
    def encode(self, faces: np.ndarray) -> torch.Tensor:
        """Model-sized uint8 faces -> their codes ``mu``, ``(B, z_dim)`` (deterministic)."""
        return self.model.encode(self.to_input(faces))[0]

    @torch.inference_mode()
    def decode_float(self, z: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """``(B, z_dim)`` codes -> ``(B, 3, S, S)`` float images in [0, 1], ``batch_size`` at a
        time: the fast path, for evaluation over many faces (see ``decode`` for the pictures)."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device).reshape(-1, self.model.config.z_dim)
        if len(z) <= batch_size:
            return self.model.decode(z)
        return torch.cat([self.model.decode(z[i:i + batch_size]) for i in range(len(z))[::batch_size]])

    @torch.inference_mode()
    def decode(self, z: torch.Tensor) -> np.ndarray:
        """``(B, z_dim)`` codes -> ``(B, S, S, 3)`` uint8 images, each code decoded on its own.

        A batch decoded together and one code decoded alone can take different CPU kernels, whose
        sums differ in the last bits (one value in 3,072 a level apart, seen on AMD machines), so
        every picture is decoded at the one shape, ``(1, z_dim)``: the same code gives the same
        bytes in a strip, a sheet, an animation or alone, and all alphas 0 give the reconstruction
        bit for bit on any CPU. (About 1 ms a face at 64 px; ``decode_batch`` for many.)"""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device).reshape(-1, self.model.config.z_dim)
        return to_pixels(torch.cat([self.model.decode(code[None]) for code in z]))

    def decode_batch(self, z: torch.Tensor) -> np.ndarray:
        """``decode`` in batches: faster over many faces (evaluation), and within a level of it."""
        return to_pixels(self.decode_float(z))

    def rows(self, z: torch.Tensor | None = None, names: Iterable[str] | None = None) -> torch.Tensor:
        """The forty rows ``(40, z_dim)`` as they apply to the face whose code is ``z``: the
        bank's, with its hair rows blended in by the face's hair state and its picture rows made
        from the face's picture (module docstring). ``names``: the only rows the caller
        reads; where none of them depends on the face, the bank's rows are those rows already and
        the face is not read (an edit of glasses on the server's hot path pays nothing for the
        hair sliders or the blur)."""
        names = None if names is None else set(names)
        if z is None or not self._own or (names is not None and self._own.isdisjoint(names)):
            return self.vectors
        z = torch.as_tensor(z, device=self.device).reshape(1, -1)
        rows = self.vectors
        if self.hair_rows is not None and (names is None or not self._by_hair.isdisjoint(names)):
            rows = self.hair_rows.rows(rows, z)[0]
        if self.picture_rows is not None and (names is None or not self.picture_rows.names.isdisjoint(names)):
            rows = rows.clone() if rows is self.vectors else rows
            rows[self.picture_rows.index] = self._face_picture_rows(z)
        return rows

    def _face_picture_rows(self, z: torch.Tensor) -> torch.Tensor:
        """The picture sliders' rows of the face with code ``z`` ``(1, z_dim)``, worked out once
        per face (a decode and an encode) and kept for its later edits (the last
        ``PICTURE_CACHE`` faces; requests may come from several threads)."""
        key = z.detach().float().cpu().numpy().tobytes()
        with self._pictures_lock:
            if key in self._pictures:
                self._pictures.move_to_end(key)
                return self._pictures[key]
        rows = self.picture_rows.rows(z.to(self.device), self.model)[0]
        with self._pictures_lock:
            self._pictures[key] = rows
            while len(self._pictures) > PICTURE_CACHE:
                self._pictures.popitem(last=False)
        return rows

    def direction(self, alphas: Mapping[str, float], locked: Iterable[str] = (),
                  z: torch.Tensor | None = None) -> torch.Tensor:
        """``sum_i alpha_i * v_i`` with each ``v_i`` made orthogonal to the locked attributes'
        vectors; the rows of the face with code ``z`` (``rows``), and below 0 a slider's removal
        row where it has one."""
        alphas = check_alphas(alphas)
        locked = list(dict.fromkeys(locked))
        check_names(locked)
        moved = [name for name, a in alphas.items() if a != 0.0]
        return self._direction(alphas, locked, self.rows(z, moved + locked))

    def below(self, rows: torch.Tensor) -> torch.Tensor:
        """The rows the sliders move along below 0, given the face's ``rows`` above it."""
        return self.removal_rows.applied(rows) if self.removal_rows is not None else rows

    def _direction(self, alphas: dict[str, float], locked: list[str], rows: torch.Tensor) -> torch.Tensor:
        """``direction`` with checked ``alphas`` and ``locked``, along ``rows`` (above 0)."""
        below = self.below(rows)
        delta = torch.zeros(self.model.config.z_dim, device=self.device)
        for name, a in alphas.items():
            if a != 0.0:
                delta = delta + a * self._vector(rows if a > 0 else below, name, locked, rows, below)
        return delta

    def _vector(self, side: torch.Tensor, name: str, locked: list[str], rows: torch.Tensor,
                below: torch.Tensor) -> torch.Tensor:
        """``name``'s row of ``side`` (``rows`` or ``below``), orthogonal to the rows of the
        other locked attributes: above 0, and below 0 where theirs differ."""
        v = side[INDEX[name]]
        others = [INDEX[n] for n in locked if n != name]
        if not others:
            return v
        span = rows[others]
        removal = [INDEX[n] for n in locked if n != name and self.removal_rows is not None
                   and n in self.removal_rows.rows]
        if removal:
            span = torch.cat([span, below[removal]])
        return condition(v, span)

    def conditioned_bank(self, locked: Iterable[str] = (), z: torch.Tensor | None = None,
                         removing: bool = False) -> torch.Tensor:
        """All forty edit vectors as ``direction`` uses them under ``locked`` for the face with
        code ``z``, above 0 (or below it, ``removing``): ``(40, z_dim)``, so that
        ``z + alphas @ bank`` is the edit (what the page computes in the browser)."""
        locked = list(dict.fromkeys(locked))
        check_names(locked)
        rows = self.rows(z)
        below = self.below(rows)
        side = below if removing else rows
        return torch.stack([self._vector(side, name, locked, rows, below) for name in ATTRIBUTES])

    def edit(self, z: torch.Tensor, alphas: Mapping[str, float], locked: Iterable[str] = ()
             ) -> torch.Tensor:
        z = torch.as_tensor(z, device=self.device)
        return z + self.direction(alphas, locked, z)

    def render(self, z: torch.Tensor, alphas: Mapping[str, float], locked: Iterable[str] = ()
               ) -> np.ndarray:
        """One edited face, ``(S, S, 3)`` uint8."""
        return self.decode(self.edit(z, alphas, locked))[0]

    def strip(self, z: torch.Tensor, attribute: str, alphas: Sequence[float] = (0, 1, 2, 3, 4),
              base: Mapping[str, float] | None = None, locked: Iterable[str] = ()) -> np.ndarray:
        """One face at each alpha of one attribute (on top of ``base`` edits): ``(A, S, S, 3)``."""
        check_names([attribute])
        values = check_alpha_list(alphas)
        base = dict(base or {})
        z = torch.as_tensor(z, device=self.device).reshape(-1)
        codes = torch.stack([self.edit(z, {**base, attribute: base.get(attribute, 0.0) + a}, locked)
                             for a in values])
        return self.decode(codes)

    def grid_codes(self, zs: torch.Tensor, attribute: str, alphas: Sequence[float] = (0, 1, 2, 3, 4),
                   locked: Iterable[str] = ()) -> torch.Tensor:
        """The codes of several faces x alphas of one attribute: ``(N, A, z_dim)``."""
        check_names([attribute])
        values = check_alpha_list(alphas)
        zs = torch.as_tensor(zs, device=self.device).reshape(-1, self.model.config.z_dim)
        locked = list(dict.fromkeys(locked))
        check_names(locked)
        if self._own.isdisjoint([attribute, *locked]):
            steps = torch.stack([self.direction({attribute: a}, locked) for a in values])  # (A, z)
            return zs[:, None, :] + steps[None]
        out = []
        for z in zs:  # each face along its own rows, read once for all the alphas
            rows = self.rows(z, [attribute, *locked])
            out.append(z[None] + torch.stack([self._direction({attribute: a}, locked, rows) for a in values]))
        return torch.stack(out)

    def grid(self, zs: torch.Tensor, attribute: str, alphas: Sequence[float] = (0, 1, 2, 3, 4),
             locked: Iterable[str] = ()) -> np.ndarray:
        """Several faces x alphas in one pass: ``(N, A, S, S, 3)``."""
        codes = self.grid_codes(zs, attribute, alphas, locked)
        n, a = codes.shape[:2]
        return self.decode(codes.reshape(n * a, -1)).reshape(n, a, self.size, self.size, 3)

    def combinations(self, z: torch.Tensor, combos: Sequence[Mapping[str, float]],
                     locked: Iterable[str] = ()) -> np.ndarray:
        """One face under several sets of edits (a disguise sheet), in one pass: ``(K, S, S, 3)``."""
        if not combos:
            raise ValueError("no combinations to render")
        z = torch.as_tensor(z, device=self.device).reshape(-1)
        return self.decode(torch.stack([self.edit(z, c, locked) for c in combos]))

    def random_codes(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` codes from the prior N(0, I)."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.randn(n, self.model.config.z_dim, generator=gen).to(self.device)

    def morph(self, z0: torch.Tensor, z1: torch.Tensor, steps: int = 7) -> np.ndarray:
        """Faces along the straight line from ``z0`` to ``z1`` (the book's morph): ``(steps, S, S, 3)``."""
        if steps < 2:
            raise ValueError(f"a morph needs at least 2 steps, got {steps}")
        t = torch.linspace(0, 1, steps, device=self.device)[:, None]
        z0 = torch.as_tensor(z0, device=self.device).reshape(1, -1)
        z1 = torch.as_tensor(z1, device=self.device).reshape(1, -1)
        return self.decode((1 - t) * z0 + t * z1)


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """``(B, 3, S, S)`` floats in [0, 1] -> ``(B, S, S, 3)`` uint8: times 255, rounded half to
    even, clamped (the ONNX decoder ends in the same operations)."""
    return images.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def condition(v: torch.Tensor, locked: torch.Tensor) -> torch.Tensor:
    """``v`` without its components in the span of ``locked`` rows, renormalised to ``|v|``.

    The locked vectors are not orthogonal to each other, so the span is taken through a QR
    decomposition rather than by subtracting one projection after another.
    """
    q, _ = torch.linalg.qr(locked.T)                                # (z, k), orthonormal columns
    w = v - q @ (q.T @ v)
    n = w.norm()
    return w * (v.norm() / n) if n > 1e-8 else torch.zeros_like(v)
