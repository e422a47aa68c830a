"""The test codes a classic run stores beside its model: what the Latent space tab draws, with
no data set at hand.

``codes.safetensors`` holds the 2-D codes (``mu``, float16) of a fixed subset of the test set and
their labels (uint8 classes, or int32 frame indices), the class names in its metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ..files import read_safetensors, write_safetensors

CODES_NAME = "codes.safetensors"


def write_codes(path: Path, codes: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...],
                data_name: str) -> None:
    """Codes (float16) and labels (uint8 for classes, int32 for frame indices) in one file."""
    label_dtype = torch.uint8 if class_names else torch.int32
    write_safetensors(path, {"codes": torch.from_numpy(codes).half(),
                             "labels": torch.from_numpy(labels).to(label_dtype)},
                      metadata={"class_names": json.dumps(list(class_names)), "data": data_name})


def read_codes(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(codes (N, 2) float32, labels (N,) int64, class_names)`` from ``write_codes``' file."""
    tensors, meta = read_safetensors(path)
    if set(tensors) != {"codes", "labels"}:
        raise ValueError(f"{path}: expected the tensors 'codes' and 'labels', found {sorted(tensors)}")
    codes, labels = tensors["codes"].float().numpy(), tensors["labels"].long().numpy()
    if codes.ndim != 2 or codes.shape[1] != 2 or labels.shape != (len(codes),):
        raise ValueError(f"{path}: codes {tuple(codes.shape)} and labels {tuple(labels.shape)} do not "
                         f"pair up as (N, 2) and (N,)")
    try:
        names = tuple(json.loads(meta.get("class_names", "[]")))
    except json.JSONDecodeError:
        raise ValueError(f"{path}: its class_names metadata is not JSON") from None
    return codes, labels, names
