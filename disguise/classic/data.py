"""The classic VAEs' data: grey images with labels, from MNIST-format folders or Frey's file.

``load_mnist_format`` reads MNIST or Fashion-MNIST (``disguise.data.idx``), ``load_frey_data``
Frey's faces or their synthetic stand-in (``disguise.data.frey``); both give a ``ClassicData``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.frey import read_frey
from ..data.idx import FASHION_MNIST_CLASSES, MNIST_CLASSES, read_split


@dataclass(frozen=True)
class ClassicData:
    """Grey uint8 images ``(N, H, W)`` with integer labels, split into train and test.

    ``class_names`` names the labels 0, 1, ...; empty when the labels are an order (Frey's frame
    index) rather than classes.
    """

    name: str
    source: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: tuple[str, ...] = ()

    @property
    def image_hw(self) -> tuple[int, int]:
        return int(self.train_x.shape[1]), int(self.train_x.shape[2])


def load_mnist_format(folder: str | os.PathLike, name: str | None = None) -> ClassicData:
    """MNIST or Fashion-MNIST from the folder of its four IDX files (see ``disguise.data.idx``).

    ``name`` defaults to ``Fashion-MNIST`` when the folder's path says "fashion", else ``MNIST``;
    the class names follow it.
    """
    folder = Path(folder)
    train, test = read_split(folder, "train"), read_split(folder, "test")
    if name is None:
        name = "Fashion-MNIST" if "fashion" in str(folder.resolve()).lower() else "MNIST"
    classes = FASHION_MNIST_CLASSES if "fashion" in name.lower() else MNIST_CLASSES
    return ClassicData(name, str(folder.resolve()), train.images, train.labels.astype(np.int64),
                       test.images, test.labels.astype(np.int64), classes)


def load_frey_data(path: str | os.PathLike, test_share: float = 0.1, name: str | None = None
                   ) -> ClassicData:
    """Frey's faces from a ``frey_rawface.mat``-format file, a fixed random ``test_share`` held out.

    The labels are the frame indices (the faces are frames of one video), so a scatter coloured by
    them shows how the code moves through the video. ``name`` defaults to ``Frey stand-in
    (synthetic)`` when the file's name says "standin" (as ``train.classic frey-standin`` suggests),
    else ``Frey faces``: figures and configs never pass the stand-in off as Frey's data.
    """
    if name is None:
        stem = Path(path).name.lower().replace("-", "").replace("_", "")
        name = "Frey stand-in (synthetic)" if "standin" in stem else "Frey faces"
    faces = read_frey(path)
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be in (0, 1), got {test_share}")
    order = np.random.default_rng(0).permutation(len(faces))
    n_test = max(1, int(round(test_share * len(faces))))
    if len(faces) - n_test < 1:
        raise ValueError(f"{path}: {len(faces)} faces are too few to hold {n_test} out for testing")
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return ClassicData(name, str(Path(path).resolve()), faces[train], train.astype(np.int64),
                       faces[test], test.astype(np.int64), ())


def to_batch(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(B, H, W)`` uint8 -> ``(B, 1, H, W)`` float32 in [0, 1] on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255).unsqueeze(1)
