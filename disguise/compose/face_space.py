"""The face space of a description: where the faces of "a young man, dark hair, glasses" lie in the
VAE's latent space, as a Gaussian to draw from and to search in.

EvoFIT found that composites are better when the face space is tailored to the witness's
description. Here it is a linear model of the codes given the 40 labels, with the residual
covariance of what the labels leave unexplained (the person), fitted once on the training split
(``python -m train.compose fit``; bundled as ``weights/face_space.safetensors``). A description
fixes some labels; the others are filled in by what the known ones imply (a bald face is likely
male and old), their uncertainty adding to the spread. ``Description`` is the resulting Gaussian
with a whitening ``basis``: ``z = mean + basis @ u`` with ``u ~ N(0, I)``, components by
decreasing variance, so a search works in ``u`` and keeps to the leading components. The
formulas: docs/compose.md ("The search, in formulas").
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import torch

from ..attributes import ATTRIBUTES, INDEX, check_names, pretty
from ..files import read_safetensors, write_safetensors
from ..sliders.effects import RIDGE, CodeMoments, code_moments
from ..vae.model import VAE

FACE_SPACE_NAME = "face_space.safetensors"
FACE_SPACE_FORMAT = "disguise-face-space-1"
MIN_VARIANCE = 1e-6  # components with less variance than this (relative to the largest) are dropped


def check_description(description: Mapping[str, object]) -> dict[str, bool]:
    """``{attribute: True/False}`` from a client's mapping; yes/no/1/-1 are accepted, anything
    else (unknown names, None, "maybe") is a ``ValueError`` that says which."""
    if not isinstance(description, Mapping):
        raise ValueError('a description is a mapping like {"Male": true, "Eyeglasses": false}')
    check_names(description)
    out = {}
    for name, value in description.items():
        if isinstance(value, bool):
            out[name] = value
        elif isinstance(value, (int, float)) and value in (1, -1, 0):
            out[name] = value == 1
        elif isinstance(value, str) and value.lower() in ("yes", "no", "true", "false"):
            out[name] = value.lower() in ("yes", "true")
        else:
            raise ValueError(f"{pretty(name)}: {value!r} is not yes or no (leave an attribute out when "
                             f"it is not known)")
    return out


def describe(description: Mapping[str, bool]) -> str:
    """A description in words: "Male, Eyeglasses; not Wearing hat"."""
    has = [pretty(a) for a in ATTRIBUTES if description.get(a) is True]
    lacks = [pretty(a) for a in ATTRIBUTES if description.get(a) is False]
    parts = [", ".join(has)] if has else []
    parts += ["not " + ", not ".join(lacks)] if lacks else []
    return "; ".join(parts) or "no description (any face)"


@dataclass
class Description:
    """One description's face space: ``z = mean + basis @ u``, ``u ~ N(0, I)``."""

    known: dict[str, bool]
    mean: torch.Tensor  # (z,)
    basis: torch.Tensor  # (z, k): columns by decreasing standard deviation
    labels: torch.Tensor  # (40,) E[y | known], in -1 .. 1

    @property
    def dims(self) -> int:
        return self.basis.shape[1]

    def codes(self, u: torch.Tensor) -> torch.Tensor:
        """``(n, d)`` coordinates on the first d components -> ``(n, z)`` codes."""
        u = torch.as_tensor(u, dtype=torch.float32)
        return self.mean + u @ self.basis[:, :u.shape[-1]].T

    def coordinates(self, z: torch.Tensor, dims: int | None = None) -> torch.Tensor:
        """``(n, z)`` codes -> their coordinates on the first ``dims`` components (least squares)."""
        basis = self.basis[:, :dims or self.dims]
        return torch.linalg.lstsq(basis, (torch.as_tensor(z, dtype=torch.float32) - self.mean).T).solution.T

    def sample(self, n: int, generator: torch.Generator | None = None, dims: int | None = None) -> torch.Tensor:
        """``n`` codes of faces that fit the description."""
        return self.codes(torch.randn(n, dims or self.dims, generator=generator))


@dataclass
class FaceSpace:
    """The fitted model of codes given labels (see the module docstring)."""

    intercept: torch.Tensor  # (z,)
    beta: torch.Tensor  # (40, z): the change of the code per unit of each label
    residual: torch.Tensor  # (z, z): what the labels leave to the person
    label_mean: torch.Tensor  # (40,)
    label_cov: torch.Tensor  # (40, 40)
    faces: int

    @property
    def z_dim(self) -> int:
        return self.intercept.shape[0]

    @classmethod
    def from_moments(cls, moments: CodeMoments, ridge: float = RIDGE) -> "FaceSpace":
        if moments.ztz is None:
            raise ValueError("the face space needs the codes' second moments (code_moments(second=True))")
        coef = moments.solve(ridge)  # (41, z)
        n = moments.faces
        # (Z - XB)^T (Z - XB) / n, expanded in the sums.
        cross = coef.T @ moments.xtz
        residual = (moments.ztz - cross - cross.T + coef.T @ moments.xtx @ coef) / n
        label_mean = moments.xtx[0, 1:] / n
        label_cov = moments.xtx[1:, 1:] / n - torch.outer(label_mean, label_mean)
        return cls(intercept=coef[0].float(), beta=coef[1:].float(), residual=(residual + residual.T).float() / 2,
                   label_mean=label_mean.float(), label_cov=label_cov.float(), faces=n)

    @functools.cached_property
    def anyone(self) -> Description:
        """The face space of no description, where the training faces' codes lie (the app's random
        faces): worked out once, not on every click."""
        return self.description()

    def description(self, known: Mapping[str, object] | None = None) -> Description:
        """The face space of ``known`` (``{attribute: True/False}``; unknown ones left out)."""
        known = check_description(known or {})
        k = [INDEX[a] for a in ATTRIBUTES if a in known]
        u = [i for i in range(len(ATTRIBUTES)) if ATTRIBUTES[i] not in known]
        y = self.label_mean.double().clone()
        cov_u = self.label_cov.double()[u][:, u]
        if k:
            yk = torch.tensor([1.0 if known[ATTRIBUTES[i]] else -1.0 for i in k], dtype=torch.float64)
            c = self.label_cov.double()
            ckk = c[k][:, k] + 1e-4 * torch.eye(len(k), dtype=torch.float64)
            gain = torch.linalg.solve(ckk, c[k][:, u]).T  # (u, k)
            y[u] = (y[u] + gain @ (yk - y[k])).clamp(-1, 1)
            y[k] = yk
            cov_u = cov_u - gain @ c[k][:, u]
        beta = self.beta.double()
        mean = self.intercept.double() + y @ beta
        cov = self.residual.double() + beta[u].T @ cov_u @ beta[u]
        values, vectors = torch.linalg.eigh((cov + cov.T) / 2)
        order = values.argsort(descending=True)
        values, vectors = values[order], vectors[:, order]
        keep = values > MIN_VARIANCE * values[0]
        basis = vectors[:, keep] * values[keep].sqrt()
        return Description(known=dict(known), mean=mean.float(), basis=basis.float(), labels=y.float())

    # ------------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        write_safetensors(path, {"intercept": self.intercept, "beta": self.beta, "residual": self.residual,
                                 "label_mean": self.label_mean, "label_cov": self.label_cov},
                          metadata={"format": FACE_SPACE_FORMAT, "faces": str(self.faces),
                                    "attributes": ",".join(ATTRIBUTES)})

    @classmethod
    def load(cls, path: str | os.PathLike, z_dim: int | None = None) -> "FaceSpace":
        """Strict: the format, the 40 names in order, every tensor's shape (and ``z_dim``)."""
        tensors, meta = read_safetensors(path)
        if meta.get("format") != FACE_SPACE_FORMAT:
            raise ValueError(f"{path}: not a face space (format {meta.get('format')!r}, expected "
                             f"{FACE_SPACE_FORMAT!r}); python -m train.compose fit writes one")
        if meta.get("attributes") != ",".join(ATTRIBUTES):
            raise ValueError(f"{path}: its attributes are not CelebA's 40 in file order")
        z = tensors["intercept"].shape[0] if "intercept" in tensors else -1
        n = len(ATTRIBUTES)
        shapes = {"intercept": (z,), "beta": (n, z), "residual": (z, z), "label_mean": (n,), "label_cov": (n, n)}
        for name, shape in shapes.items():
            if name not in tensors or tuple(tensors[name].shape) != shape:
                got = tuple(tensors[name].shape) if name in tensors else "missing"
                raise ValueError(f"{path}: tensor {name!r} should be {shape}, got {got}")
        if set(tensors) != set(shapes):
            raise ValueError(f"{path}: unexpected tensors {sorted(set(tensors) - set(shapes))}")
        if z_dim is not None and z != z_dim:
            raise ValueError(f"{path}: the face space is {z}-dimensional but the model's z_dim is {z_dim}; "
                             f"they come from different runs")
        if not all(torch.isfinite(t).all() for t in tensors.values()):
            raise ValueError(f"{path}: the face space holds non-finite numbers")
        return cls(faces=int(meta.get("faces", 0)), **{k: tensors[k].float() for k in shapes})


def fit_face_space(model: VAE, batches: Iterable[tuple[np.ndarray, np.ndarray]], ridge: float = RIDGE,
                   device: str | torch.device = "cpu", progress: bool = True, total: int | None = None
                   ) -> FaceSpace:
    """One pass over labelled faces (``disguise.sliders.means.labelled_batches``) -> the face space."""
    moments = code_moments(model, batches, device, progress, total, second=True, desc="face space")
    return FaceSpace.from_moments(moments, ridge)
