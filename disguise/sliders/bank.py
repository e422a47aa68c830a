"""The attribute vector bank: one latent direction per CelebA attribute, each row at its slider's
scale (``AttributeBank``), saved with a record of how each row was made.

The rows come from the ways in this wing: the seed's difference of means
(``disguise.sliders.means``), each attribute's effect with the others held
(``disguise.sliders.effects``), edits learned through the decoder (``disguise.sliders.learned``),
each chosen and scaled on validation faces (``disguise.sliders.calibration``). A bank may also
carry the hair sliders' rows per hair state (``disguise.sliders.hair_rows``), the picture
sliders (``disguise.sliders.picture_rows``) and rows for taking attributes away
(``disguise.sliders.removal_rows``).
"""


from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import torch

from ..attributes import ATTRIBUTES
from ..files import read_safetensors, write_safetensors
from .hair_rows import HairRows
from .picture_rows import PictureRows
from .removal_rows import RemovalRows

BANK_NAME = "attribute_vectors.safetensors"
SEED_BANK_NAME = "attribute_vectors_seed.safetensors"  # the seed's bank, bundled beside the default for its units
BANK_FORMAT = "disguise-attribute-bank-2"  # -1 (unit vectors, records without method) still loads
METHODS = ("effect", "seed", "calibrated")


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
            length), ``"effect"`` (``disguise.sliders.effects``: the code change when the label flips
            with the others held, at its own length), ``"guided"`` (``disguise.sliders.learned``: learned
            through the decoder; a candidate only) or ``"calibrated"`` (one of those, scaled so
            the slider's end is its best edit on validation faces; ``note`` says which).
        scale: the vector's length, the code distance of alpha = 1 (1 for the seed's unit vectors).
        note: how a calibrated slider was chosen (``disguise.sliders.calibration``).
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
    ``hair_rows``: the hair sliders' rows per hair state, if any (``disguise.sliders.hair_rows``);
    ``picture_rows``: the sliders whose row a face's own picture makes, if any
    (``disguise.sliders.picture_rows``); ``removal_rows``: the sliders' rows below 0 where they
    differ from their rows above it, if any (``disguise.sliders.removal_rows``)."""

    names: tuple[str, ...]
    vectors: torch.Tensor
    records: list[AttributeRecord]
    hair_rows: HairRows | None = None
    picture_rows: PictureRows | None = None
    removal_rows: RemovalRows | None = None

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
        bank's hair rows, picture rows and removal rows, if any)."""
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
        if self.hair_rows is not None:
            more, more_meta = self.hair_rows.tensors()
            tensors.update(more)
            meta.update(more_meta)
        if self.picture_rows is not None:
            meta[self.picture_rows.META] = self.picture_rows.to_meta()
        if self.removal_rows is not None:
            more, more_meta = self.removal_rows.tensors()
            tensors.update(more)
            meta.update(more_meta)
        write_safetensors(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike, z_dim: int | None = None) -> "AttributeBank":
        """Load strictly: 40 names in CelebA's order, a ``(40, z_dim)`` tensor, one record each,
        and either no hair rows or all of their tensors (``disguise.sliders.hair_rows``); picture
        rows and removal rows, if any, as ``disguise.sliders.picture_rows`` and
        ``disguise.sliders.removal_rows`` read them."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found (make it with python -m train.vectors)")
        tensors, meta = read_safetensors(path)
        removal = RemovalRows.TENSOR in tensors
        if ((set(tensors) - {RemovalRows.TENSOR}) not in ({"vectors"}, {"vectors", *HairRows.TENSORS})
                or "names" not in meta or "records" not in meta or removal != (RemovalRows.META in meta)):
            raise ValueError(f"{path}: not an attribute bank (expects a 'vectors' tensor, and optionally "
                             f"{', '.join(HairRows.TENSORS)} and {RemovalRows.TENSOR}, with names and records "
                             f"in its metadata)")
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
        hair_rows = None
        if HairRows.FILE_KEY in tensors:
            try:
                hair_rows = HairRows.from_tensors(tensors, meta, vectors.shape[1])
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from None
        picture_rows = None
        if PictureRows.META in meta:
            try:
                picture_rows = PictureRows.from_meta(meta[PictureRows.META])
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from None
        removal_rows = None
        if removal:
            try:
                removal_rows = RemovalRows.from_tensors(tensors, meta, vectors.shape[1])
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from None
        return cls(names=names, vectors=vectors.float(), records=records, hair_rows=hair_rows,
                   picture_rows=picture_rows, removal_rows=removal_rows)
