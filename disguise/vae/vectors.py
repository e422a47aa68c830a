"""The attribute vector bank: one latent direction per CelebA attribute, each row at its slider's
scale (``AttributeBank``), and the seed's recipe for making one.

Other ways to make the rows: ``disguise.vae.effects`` (each attribute's change with the others
held) and ``disguise.evaluation.calibration`` (each slider's direction and scale chosen on
validation faces); the bank records which made each row.

The seed's recipe, per attribute: encode labelled faces batch by batch, keep running means of the
codes of faces with the attribute (label 1) and without it (-1), stop once both means together move
less than 0.08 in a batch (or at 10,000 positives), and take the difference of the two means,
normalised to unit length. Batches hold 500 faces, as in the book the seed follows: the stopping
rule looks at how far one batch moves the means, so the batch size sets how many faces each mean
averages (about 2.4 times as many as with batches of 128, and vectors with less noise in them).

``build_bank`` runs that recipe for all 40 attributes in a single pass over the data (each batch is
encoded once, every attribute updates from it until it stops), on ``mu`` with the model in eval
mode. ``seed_vector`` is the seed's loop for one attribute, kept as the reference the fast path is
tested and benchmarked against.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attributes import ATTRIBUTES
from ..files import read_safetensors, write_safetensors
from ..policy import to_tensor
from ..pretrained import evaluating
from .model import VAE

if TYPE_CHECKING:
    from .personal import Personal
    from .pictured import Pictured

BANK_NAME = "attribute_vectors.safetensors"
SEED_BANK_NAME = "attribute_vectors_seed.safetensors"  # the seed's bank, bundled beside the default for its units
BANK_FORMAT = "disguise-attribute-bank-2"  # -1 (unit vectors, records without method) still loads
METHODS = ("effect", "seed", "calibrated")
THRESHOLD = 0.08
MAX_POSITIVES = 10_000
BATCH_SIZE = 500


@dataclass
class AttributeRecord:
    """How one vector was made.

    Attributes:
        name: the attribute.
        positives / negatives: faces averaged on each side.
        converged: True if the means settled (movement < threshold) before the data or the
            positive limit ran out.
        raw_norm: length of the difference of means before normalising (how far apart the classes
            sit in latent space; small means a weak or undrawn attribute).
        batches: batches the attribute took before it stopped.
        method: how the vector was made: ``"seed"`` (this module: difference of means, unit
            length), ``"effect"`` (``disguise.vae.effects``: the code change when the label flips
            with the others held, at its own length), ``"guided"`` (``disguise.vae.guided``: learned
            through the decoder; a candidate only) or ``"calibrated"`` (one of those, scaled so
            the slider's end is its best edit on validation faces; ``note`` says which).
        scale: the vector's length, the code distance of alpha = 1 (1 for the seed's unit vectors).
        note: how a calibrated slider was chosen (``disguise.evaluation.calibration``).
    """

    name: str
    positives: int
    negatives: int
    converged: bool
    raw_norm: float
    batches: int
    method: str = "seed"
    scale: float = 1.0
    note: str = ""


UNITS = {"seed": "the seed's unit: alpha 1 moves the code by 1 along the difference of means",
         "calibrated": "alpha 4, the slider's end, is the strongest edit that kept the other "
                       "attributes on validation faces, with small moves of other sliders taking back "
                       "what it still flipped where its record says so (each slider's own scale)",
         "effect": "alpha 1 is the typical code change between two faces that differ in that "
                   "attribute alone (its regression effect)"}


@dataclass
class AttributeBank:
    """``vectors``: ``(40, z_dim)`` rows in ``names`` order, with a record per attribute. A row's
    length is its slider's unit (alpha = 1 moves the code by it): 1 for the seed's method.
    ``personal``: the hair sliders' rows per hair state, if any (``disguise.vae.personal``);
    ``pictured``: the sliders whose row a face's own picture makes, if any (``disguise.vae.pictured``)."""

    names: tuple[str, ...]
    vectors: torch.Tensor
    records: list[AttributeRecord]
    personal: "Personal | None" = None
    pictured: "Pictured | None" = None

    @property
    def method(self) -> str:
        """``"seed"``, ``"effect"``, ``"calibrated"``, or ``"mixed"`` when the rows were made
        differently."""
        methods = {r.method for r in self.records}
        return methods.pop() if len(methods) == 1 else "mixed"

    @property
    def unit(self) -> str:
        """What alpha = 1 means, in words (for strips, sheets and the page)."""
        return UNITS.get(self.method, "each slider's own unit (see the bank's records)")

    @property
    def z_dim(self) -> int:
        return int(self.vectors.shape[1])

    @classmethod
    def blank(cls, z_dim: int) -> "AttributeBank":
        """40 zero rows: for encoding and decoding with no sliders yet (a model being compared)."""
        records = [AttributeRecord(a, 0, 0, False, 0.0, 0, note="blank") for a in ATTRIBUTES]
        return cls(tuple(ATTRIBUTES), torch.zeros(len(ATTRIBUTES), z_dim), records)

    def vector(self, name: str) -> torch.Tensor:
        return self.vectors[self.names.index(name)]

    def with_rows(self, other: "AttributeBank", names: Sequence[str]) -> "AttributeBank":
        """This bank with ``names``' rows (vectors and records) taken from ``other`` (and this
        bank's variants and picture sliders, if any)."""
        if other.vectors.shape != self.vectors.shape:
            raise ValueError(f"banks of shape {tuple(self.vectors.shape)} and {tuple(other.vectors.shape)} "
                             f"cannot share rows")
        vectors, records = self.vectors.clone(), list(self.records)
        for name in names:
            i = self.names.index(name)
            vectors[i], records[i] = other.vectors[i].to(vectors), other.records[i]
        return replace(self, vectors=vectors, records=records)

    def save(self, path: str | os.PathLike) -> None:
        meta = {"names": json.dumps(list(self.names)),
                "records": json.dumps([asdict(r) for r in self.records]),
                "z_dim": str(self.z_dim), "format": BANK_FORMAT}
        tensors = {"vectors": self.vectors.float()}
        if self.personal is not None:
            more, more_meta = self.personal.tensors()
            tensors.update(more)
            meta.update(more_meta)
        if self.pictured is not None:
            meta[self.pictured.META] = self.pictured.to_meta()
        write_safetensors(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike, z_dim: int | None = None) -> "AttributeBank":
        """Load strictly: 40 names in CelebA's order, a ``(40, z_dim)`` tensor, one record each,
        and either no variants or all of their tensors (``disguise.vae.personal``); picture
        sliders, if any, as ``disguise.vae.pictured`` reads them."""
        from .personal import Personal
        from .pictured import Pictured

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found (make it with python -m train.vectors)")
        tensors, meta = read_safetensors(path)
        if (set(tensors) not in ({"vectors"}, {"vectors", *Personal.TENSORS})
                or "names" not in meta or "records" not in meta):
            raise ValueError(f"{path}: not an attribute bank (expects a 'vectors' tensor, and optionally "
                             f"{', '.join(Personal.TENSORS)}, with names and records in its metadata)")
        names = tuple(json.loads(meta["names"]))
        if names != ATTRIBUTES:
            raise ValueError(f"{path}: attribute names differ from CelebA's 40 "
                             f"({len(names)} names; first difference at "
                             f"{next((i for i, (a, b) in enumerate(zip(names, ATTRIBUTES)) if a != b), len(names))})")
        vectors = tensors["vectors"]
        if vectors.ndim != 2 or vectors.shape[0] != len(names):
            raise ValueError(f"{path}: vectors have shape {tuple(vectors.shape)}, expected "
                             f"({len(names)}, z_dim)")
        if z_dim is not None and vectors.shape[1] != z_dim:
            raise ValueError(f"{path}: vectors are {vectors.shape[1]}-dimensional but the model's "
                             f"z_dim is {z_dim}; this bank belongs to another model")
        if not torch.isfinite(vectors).all():
            raise ValueError(f"{path}: vectors contain NaN or infinity")
        try:
            records = [AttributeRecord(**r) for r in json.loads(meta["records"])]
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: unreadable records ({e})") from None
        if len(records) != len(names) or [r.name for r in records] != list(names):
            raise ValueError(f"{path}: the records do not name the 40 attributes in order")
        personal = None
        if "variants" in tensors:
            try:
                personal = Personal.from_tensors(tensors, meta, vectors.shape[1])
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from None
        pictured = None
        if Pictured.META in meta:
            try:
                pictured = Pictured.from_meta(meta[Pictured.META])
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from None
        return cls(names=names, vectors=vectors.float(), records=records, personal=personal, pictured=pictured)


# ----------------------------------------------------------------------------------------------
# Building


Batches = Iterable[tuple[np.ndarray, np.ndarray]]  # (uint8 (B, S, S, 3), labels (B, 40) of +1/-1)


def labelled_batches(images: np.ndarray, labels: np.ndarray, batch_size: int = BATCH_SIZE, seed: int = 0
                     ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The faces in a fixed shuffled order (the seed drew them from a shuffling generator)."""
    order = np.random.default_rng(seed).permutation(len(images))
    for start in range(0, len(order), batch_size):
        idx = np.sort(order[start:start + batch_size])
        yield images[idx], labels[idx]


@torch.no_grad()
def _encode(model: VAE, batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """``mu`` of a batch, in eval mode (the model's own mode is restored), as float64 on the CPU."""
    with evaluating(model):
        return model.encode(to_tensor(batch, device))[0].double().cpu()


@torch.no_grad()
def build_bank(model: VAE, batches: Batches, threshold: float = THRESHOLD,
               max_positives: int = MAX_POSITIVES, device: str | torch.device = "cpu",
               progress: bool = True, total: int | None = None) -> AttributeBank:
    """All 40 vectors in one pass: each batch is encoded once and feeds every unfinished attribute."""
    device = torch.device(device)
    n_attr = len(ATTRIBUTES)
    z = model.config.z_dim
    s_pos, s_neg = torch.zeros(n_attr, z, dtype=torch.float64), torch.zeros(n_attr, z, dtype=torch.float64)
    n_pos, n_neg = torch.zeros(n_attr, dtype=torch.float64), torch.zeros(n_attr, dtype=torch.float64)
    m_pos, m_neg = torch.zeros(n_attr, z, dtype=torch.float64), torch.zeros(n_attr, z, dtype=torch.float64)
    mv_pos, mv_neg = torch.full((n_attr,), float("inf"), dtype=torch.float64), \
        torch.full((n_attr,), float("inf"), dtype=torch.float64)
    active = torch.ones(n_attr, dtype=torch.bool)
    converged = torch.zeros(n_attr, dtype=torch.bool)
    used = torch.zeros(n_attr, dtype=torch.long)
    bar = tqdm(batches, total=total, desc="attribute vectors", unit="batch", disable=not progress,
               leave=False)
    for images, labels in bar:
        if not active.any():
            break
        mu = _encode(model, images, device)                        # (B, z)
        lab = torch.as_tensor(np.asarray(labels), dtype=torch.float64)  # (B, 40)
        pos, neg = (lab == 1).double(), (lab == -1).double()
        keep = active.double()[:, None]                            # frozen attributes stop here
        bp, bn = pos.sum(0) * active, neg.sum(0) * active          # (40,)
        s_pos += keep * (pos.T @ mu)
        s_neg += keep * (neg.T @ mu)
        n_pos += bp
        n_neg += bn
        new_pos = torch.where((bp > 0)[:, None], s_pos / n_pos.clamp(min=1)[:, None], m_pos)
        new_neg = torch.where((bn > 0)[:, None], s_neg / n_neg.clamp(min=1)[:, None], m_neg)
        # A side that saw no new face keeps its previous movement (as the seed's loop does).
        mv_pos = torch.where(bp > 0, (new_pos - m_pos).norm(dim=1), mv_pos)
        mv_neg = torch.where(bn > 0, (new_neg - m_neg).norm(dim=1), mv_neg)
        m_pos, m_neg = new_pos, new_neg
        used += active.long()
        done = active & ((mv_pos + mv_neg) < threshold)
        converged |= done
        active &= ~done & (n_pos < max_positives)
        bar.set_postfix(open=int(active.sum()))
    return _finish(m_pos - m_neg, n_pos, n_neg, converged, used)


def _finish(diff: torch.Tensor, n_pos, n_neg, converged, used) -> AttributeBank:
    norms = diff.norm(dim=1)
    vectors = torch.where(norms[:, None] > 0, diff / norms.clamp(min=1e-12)[:, None], diff)
    records = [AttributeRecord(name=a, positives=int(n_pos[i]), negatives=int(n_neg[i]),
                               converged=bool(converged[i]), raw_norm=float(norms[i]),
                               batches=int(used[i]))
               for i, a in enumerate(ATTRIBUTES)]
    return AttributeBank(names=ATTRIBUTES, vectors=vectors.float(), records=records)


@torch.no_grad()
def seed_vector(model: VAE, batches: Batches, attribute: str, threshold: float = THRESHOLD,
                max_positives: int = MAX_POSITIVES, device: str | torch.device = "cpu"
                ) -> tuple[torch.Tensor, AttributeRecord]:
    """The seed's loop for one attribute, re-encoding every batch (the reference, and the baseline
    the one-pass builder is benchmarked against)."""
    device = torch.device(device)
    k = ATTRIBUTES.index(attribute)
    z = model.config.z_dim
    sum_p, sum_n = np.zeros(z), np.zeros(z)
    n_p = n_n = 0
    mean_p, mean_n = np.zeros(z), np.zeros(z)
    move_p = move_n = float("inf")
    batches_used, converged = 0, False
    for images, labels in batches:
        if n_p >= max_positives:
            break
        codes = _encode(model, images, device).numpy()
        col = np.asarray(labels)[:, k]
        batches_used += 1
        sum_p, n_p, mean_p, move_p = _running_mean(sum_p, n_p, mean_p, move_p, codes[col == 1])
        sum_n, n_n, mean_n, move_n = _running_mean(sum_n, n_n, mean_n, move_n, codes[col == -1])
        if move_p + move_n < threshold:
            converged = True
            break
    diff = torch.from_numpy(mean_p - mean_n)
    norm = float(diff.norm())
    vec = diff / norm if norm > 0 else diff
    return vec.float(), AttributeRecord(attribute, n_p, n_n, converged, norm, batches_used)


def _running_mean(total: np.ndarray, n: int, mean: np.ndarray, move: float, codes: np.ndarray):
    """Add ``codes`` to a running mean; a side with no new codes keeps its last movement."""
    if not len(codes):
        return total, n, mean, move
    total, n = total + codes.sum(axis=0), n + len(codes)
    new = total / n
    return total, n, new, float(np.linalg.norm(new - mean))
