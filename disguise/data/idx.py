"""MNIST's IDX files, read from the real format (plain or gzip), checked before they are trusted.

An IDX file is a 4-byte magic number ``0x00 0x00 TYPE NDIM``, then ``NDIM`` big-endian uint32
dimensions, then the data, row-major (LeCun et al., "THE MNIST DATABASE", the file-format section).
MNIST and Fashion-MNIST use type ``0x08`` (unsigned byte): images are ``(N, 28, 28)`` (NDIM 3) and
labels ``(N,)`` (NDIM 1). Debian's package ``dataset-fashion-mnist`` installs Fashion-MNIST in that
exact layout under ``/usr/share/datasets/fashion-mnist/`` (gzip files only).

Every check names the file and what is wrong: a bad magic number, another element type, the wrong
number of dimensions, a file shorter or longer than its header says, images and labels that do not
pair up, or a file that is not there.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
MNIST_CLASSES = tuple(str(d) for d in range(10))
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
UBYTE = 0x08  # the element type code of unsigned bytes, the only one MNIST uses


class IDXError(ValueError):
    """An IDX file that is not what it should be (the message names the file)."""


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise IDXError(f"{path}: cannot be read ({type(e).__name__}: {e})") from None


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """The uint8 array stored in the IDX file ``path`` (``.gz``: gzip-compressed).

    ``ndim``: the number of dimensions the file must have (3 for images, 1 for labels).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise IDXError(f"{path}: truncated: {len(raw)} bytes, shorter than the 4-byte magic number")
    zero, code, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0:
        raise IDXError(f"{path}: bad magic number 0x{raw[:4].hex()}: not an IDX file (an IDX file "
                       f"starts with two zero bytes)")
    if code != UBYTE:
        raise IDXError(f"{path}: element type code 0x{code:02x}, expected 0x08 (unsigned byte) "
                       f"as MNIST's files have")
    if ndim is not None and dims != ndim:
        raise IDXError(f"{path}: {dims} dimensions, expected {ndim} (magic number 0x{raw[:4].hex()})")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise IDXError(f"{path}: truncated: {len(raw)} bytes, shorter than its {header}-byte header")
    shape = struct.unpack(f">{dims}I", raw[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "too long"
        raise IDXError(f"{path}: {what}: {len(raw)} bytes, but a {' x '.join(map(str, shape))} "
                       f"array needs {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``)."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"IDX files here hold uint8 arrays, got {array.dtype}")
    data = struct.pack(">HBB", 0, UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) \
        + array.tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def find_file(folder: Path, stem: str) -> Path:
    """``folder/stem``, or ``folder/stem.gz`` when only that exists."""
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder / stem}: file not found (nor {stem}.gz); expected MNIST's "
                            f"four IDX files in {folder}")


@dataclass(frozen=True)
class Split:
    """One split of an MNIST-format data set: uint8 images ``(N, H, W)`` and labels ``(N,)``."""

    images: np.ndarray
    labels: np.ndarray


def read_split(folder: str | os.PathLike, split: str) -> Split:
    """The ``train`` or ``test`` split of the MNIST-format folder ``folder``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (expected MNIST's four IDX files)")
    image_path, label_path = (find_file(folder, stem) for stem in SPLITS[split])
    images, labels = read_idx(image_path, ndim=3), read_idx(label_path, ndim=1)
    if len(images) != len(labels):
        raise IDXError(f"{image_path} holds {len(images)} images but {label_path} holds "
                       f"{len(labels)} labels")
    return Split(images, labels)
