"""Reading CelebA (or the synthetic look-alike): validation, the preprocessing policy, and a cache.

Layouts accepted (``shared/CELEBA.md``):

* ``ROOT/img_align_celeba/*.jpg`` with ``list_attr_celeba.txt``, ``list_eval_partition.txt`` and,
  when present, ``list_landmarks_align_celeba.txt`` and ``identity_CelebA.txt``;
* the same under ``ROOT/celeba/`` (torchvision's root);
* the CSV mirror (``list_attr_celeba.csv`` with an ``image_id`` column, ``list_eval_partition.csv``,
  images possibly nested as ``img_align_celeba/img_align_celeba/``).

Everything is checked before any training starts, and each problem is reported as one
``CelebAError`` naming the file and the line. A JPEG that turns out corrupt when decoded is skipped,
counted and reported, never fatal.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .attributes import ATTRIBUTES

SPLITS = {"train": 0, "valid": 1, "test": 2}
LANDMARK_COLUMNS = ("lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x "
                    "leftmouth_y rightmouth_x rightmouth_y").split()
INTERPOLATIONS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
                  "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
                  "box": Image.Resampling.BOX}
CELEBA_SIZE = (178, 218)


class CelebAError(ValueError):
    """A data folder that is not a usable CelebA: the message names the file (and line)."""


# ----------------------------------------------------------------------------------------------
# The preprocessing policy: travels with the weights so training, vectors and the app agree.


@dataclass(frozen=True)
class Preprocess:
    """How a 178x218 aligned face becomes a model input.

    Attributes:
        crop: (left, top, right, bottom) box in the 178x218 image. Default: CelebA's centre 148x148
            crop, used by the popular PyTorch VAE collection.
        size: output side in pixels (square).
        interpolation: one of ``nearest``, ``bilinear``, ``bicubic``, ``lanczos``, ``box``.
    """

    crop: tuple[int, int, int, int] = (15, 35, 163, 183)
    size: int = 64
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop", tuple(int(v) for v in self.crop))
        if len(self.crop) != 4:
            raise ValueError(f"crop must be four numbers (left, top, right, bottom) with "
                             f"left < right and top < bottom, got {self.crop}")
        left, top, right, bottom = self.crop
        if not (0 <= left < right and 0 <= top < bottom):
            raise ValueError(f"crop must be (left, top, right, bottom) with left < right and "
                             f"top < bottom, got {self.crop}")
        if int(self.size) < 8:
            raise ValueError(f"size must be at least 8 pixels, got {self.size}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}, "
                             f"got {self.interpolation!r}")

    def to_dict(self) -> dict:
        return {"crop": list(self.crop), "size": int(self.size), "interpolation": self.interpolation}

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown preprocessing keys {sorted(unknown)}")
        return cls(**{k: tuple(v) if k == "crop" else v for k, v in d.items()})

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def apply(self, image: Image.Image) -> np.ndarray:
        """Crop and resize one aligned RGB face; returns ``(size, size, 3)`` uint8."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        if image.size != CELEBA_SIZE:  # other sizes: scale the box with the image
            sx, sy = image.size[0] / CELEBA_SIZE[0], image.size[1] / CELEBA_SIZE[1]
            box = (self.crop[0] * sx, self.crop[1] * sy, self.crop[2] * sx, self.crop[3] * sy)
        else:
            box = self.crop
        out = image.resize((self.size, self.size), INTERPOLATIONS[self.interpolation], box=box)
        return np.asarray(out, dtype=np.uint8)


# ----------------------------------------------------------------------------------------------
# Reading and validating the lists.


def _fail(path: Path | str, line: int | None, what: str) -> CelebAError:
    where = f"{path}" + (f", line {line}" if line is not None else "")
    return CelebAError(f"{where}: {what}")


def _read_lines(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except UnicodeDecodeError as e:
        raise _fail(path, None, f"not a text file ({e.reason})") from None


def read_attributes(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Image names and a ``(N, 40)`` int8 array of +1/-1 from ``list_attr_celeba.txt`` or ``.csv``."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, None, "file not found")
    if path.suffix == ".csv":
        return _read_attributes_csv(path)
    lines = _read_lines(path)
    if len(lines) < 2:
        raise _fail(path, len(lines) + 1, "expected the image count on line 1 and the 40 attribute "
                                          "names on line 2; the file ends early")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise _fail(path, 1, f"expected the number of images, found {lines[0][:40]!r}") from None
    header = lines[1].split()
    if tuple(header) != ATTRIBUTES:
        raise _fail(path, 2, _header_problem(header))
    rows = [ln for ln in lines[2:]]
    while rows and not rows[-1].strip():
        rows.pop()
    if len(rows) != count:
        raise _fail(path, 1, f"says {count} images but {len(rows)} lines follow the header "
                             f"(a partial download?)")
    names: list[str] = []
    labels = np.empty((count, len(ATTRIBUTES)), dtype=np.int8)
    for i, line in enumerate(rows):
        parts = line.split()
        names.append(_check_row(path, i + 3, parts, labels, i))
    return names, labels


def _header_problem(header: list[str]) -> str:
    if len(header) != len(ATTRIBUTES):
        return f"expected the 40 attribute names, found {len(header)} names"
    for k, (got, want) in enumerate(zip(header, ATTRIBUTES)):
        if got != want:
            return f"attribute {k + 1} should be {want!r}, found {got!r}"
    return "unexpected header"


def _check_row(path: Path, lineno: int, parts: list[str], labels: np.ndarray, i: int) -> str:
    if len(parts) != len(ATTRIBUTES) + 1:
        raise _fail(path, lineno, f"expected an image name and 40 values, found "
                                  f"{max(len(parts) - 1, 0)} values")
    for k, v in enumerate(parts[1:]):
        if v not in ("1", "-1"):
            raise _fail(path, lineno, f"value {v!r} for {ATTRIBUTES[k]} is not 1 or -1")
    labels[i] = [int(v) for v in parts[1:]]
    return parts[0]


def _read_attributes_csv(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise _fail(path, 1, "empty file")
    header = [h.strip() for h in rows[0]]
    if not header or header[0] != "image_id":
        raise _fail(path, 1, f"first column should be 'image_id', found {header[:1]}")
    if tuple(header[1:]) != ATTRIBUTES:
        raise _fail(path, 1, _header_problem(header[1:]))
    body = [r for r in rows[1:] if r]
    labels = np.empty((len(body), len(ATTRIBUTES)), dtype=np.int8)
    names = [_check_row(path, i + 2, [c.strip() for c in r], labels, i) for i, r in enumerate(body)]
    return names, labels


def _read_table(path: Path, columns: int, skip: int) -> tuple[list[str], list[list[str]]]:
    """Rows of ``name v1 .. v_columns`` (txt, after ``skip`` header lines) or the CSV equivalent."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
        if not rows or rows[0][0].strip() != "image_id":
            raise _fail(path, 1, "first column should be 'image_id'")
        body, first = rows[1:], 2
    else:
        lines = _read_lines(path)
        body = [ln.split() for ln in lines[skip:] if ln.strip()]
        first = skip + 1
    names, values = [], []
    for k, row in enumerate(body):
        row = [c.strip() for c in row]
        if len(row) != columns + 1:
            raise _fail(path, first + k, f"expected an image name and {columns} value(s), "
                                         f"found {len(row) - 1}")
        names.append(row[0])
        values.append(row[1:])
    return names, values


def _find(root: Path, stem: str) -> Path | None:
    for suffix in (".txt", ".csv"):
        if (root / (stem + suffix)).is_file():
            return root / (stem + suffix)
    return None


def find_root(path: str | os.PathLike) -> Path:
    """The folder that holds ``img_align_celeba/`` and the lists: ``path`` or ``path/celeba``."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CelebAError(f"{path}: no such folder. Point --data at the folder that holds "
                          f"img_align_celeba/ and list_attr_celeba.txt (see README, 'Data').")
    if not path.is_dir():
        raise CelebAError(f"{path}: not a folder")
    for cand in (path, path / "celeba"):
        if (cand / "img_align_celeba").is_dir() or _find(cand, "list_attr_celeba"):
            return cand
    raise CelebAError(f"{path}: neither it nor {path / 'celeba'} holds img_align_celeba/ or "
                      f"list_attr_celeba.txt; is this a CelebA folder?")


@dataclass
class CelebA:
    """A validated CelebA-format folder: names, labels, splits and (when present) extras.

    Attributes:
        root: folder that holds the lists.
        image_dir: folder that holds the JPEGs.
        names: image file names, in file order.
        attributes: ``(N, 40)`` int8, +1 or -1, columns in ``ATTRIBUTES`` order.
        partition: ``(N,)`` int, 0 train, 1 validation, 2 test.
        landmarks: ``(N, 10)`` int or None.
        identity: ``(N,)`` int or None.
    """

    root: Path
    image_dir: Path
    names: list[str]
    attributes: np.ndarray
    partition: np.ndarray
    landmarks: np.ndarray | None = None
    identity: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.names)

    def indices(self, split: str) -> np.ndarray:
        """Row numbers of ``split`` (``train``, ``valid``, ``test`` or ``all``)."""
        if split == "all":
            return np.arange(len(self.names))
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)} or 'all', got {split!r}")
        return np.flatnonzero(self.partition == SPLITS[split])

    def path(self, i: int) -> Path:
        return self.image_dir / self.names[i]


def open_celeba(path: str | os.PathLike, check_images: bool = True) -> CelebA:
    """Find, read and validate a CelebA-format folder; raise ``CelebAError`` on the first problem."""
    root = find_root(path)
    image_dir = root / "img_align_celeba"
    if (image_dir / "img_align_celeba").is_dir():  # the CSV mirror nests its images one level
        image_dir = image_dir / "img_align_celeba"
    attr_path = _find(root, "list_attr_celeba")
    if attr_path is None:
        raise CelebAError(f"{root / 'list_attr_celeba.txt'}: file not found (the 40 labels)")
    part_path = _find(root, "list_eval_partition")
    if part_path is None:
        raise CelebAError(f"{root / 'list_eval_partition.txt'}: file not found (train/valid/test)")
    if not image_dir.is_dir():
        raise CelebAError(f"{image_dir}: folder not found (the aligned JPEGs)")

    names, labels = read_attributes(attr_path)
    index = {n: i for i, n in enumerate(names)}
    if len(index) != len(names):
        dup = next(n for k, n in enumerate(names) if index[n] != k)
        raise _fail(attr_path, names.index(dup) + 3, f"image {dup!r} is listed twice")

    pnames, pvalues = _read_table(part_path, 1, 0)
    partition = np.full(len(names), -1, dtype=np.int64)
    for k, (n, (v,)) in enumerate(zip(pnames, pvalues)):
        line = k + (2 if part_path.suffix == ".csv" else 1)
        if n not in index:
            raise _fail(part_path, line, f"image {n!r} is not in {attr_path.name}")
        if v not in ("0", "1", "2"):
            raise _fail(part_path, line, f"partition {v!r} is not 0, 1 or 2")
        partition[index[n]] = int(v)
    if (partition < 0).any():
        missing = names[int(np.flatnonzero(partition < 0)[0])]
        raise _fail(part_path, None, f"image {missing!r} (from {attr_path.name}) has no partition; "
                                     f"{int((partition < 0).sum())} images lack one")

    landmarks = identity = None
    lm_path = _find(root, "list_landmarks_align_celeba")
    if lm_path is not None:
        landmarks = _aligned_values(lm_path, 10, 2, index, len(names))
    id_path = _find(root, "identity_CelebA")
    if id_path is not None:
        identity = _aligned_values(id_path, 1, 0, index, len(names))[:, 0]

    if check_images:
        present = set(os.listdir(image_dir))
        for k, n in enumerate(names):
            if n not in present:
                raise _fail(attr_path, k + 3, f"lists {n!r} but {image_dir / n} does not exist "
                                              f"(a partial download? {sum(m not in present for m in names)} "
                                              f"of {len(names)} images are missing)")
    return CelebA(root=root, image_dir=image_dir, names=names, attributes=labels,
                  partition=partition, landmarks=landmarks, identity=identity)


def _aligned_values(path: Path, columns: int, skip: int, index: dict[str, int], n: int) -> np.ndarray:
    names, values = _read_table(path, columns, skip)
    out = np.zeros((n, columns), dtype=np.int64)
    first = 2 if path.suffix == ".csv" else skip + 1
    for k, (name, row) in enumerate(zip(names, values)):
        if name not in index:
            raise _fail(path, first + k, f"image {name!r} is not in the attribute list")
        try:
            out[index[name]] = [int(float(v)) for v in row]
        except ValueError:
            raise _fail(path, first + k, f"non-numeric value in {row}") from None
    return out


# ----------------------------------------------------------------------------------------------
# The preprocessed cache: one memory-mapped uint8 array per (split, policy, source files).


@dataclass
class CacheReport:
    """What building or opening a cache found."""

    path: Path
    built: bool
    corrupt: list[str] = field(default_factory=list)

    def summary(self) -> str:
        what = "built" if self.built else "reused"
        bad = (f"; skipped {len(self.corrupt)} unreadable image(s): "
               f"{', '.join(self.corrupt[:5])}{' ...' if len(self.corrupt) > 5 else ''}"
               if self.corrupt else "")
        return f"cache {what}: {self.path}{bad}"


def default_cache_dir() -> Path:
    return Path(os.environ.get("DISGUISE_CACHE", Path.home() / ".cache" / "disguise"))


def _source_key(data: CelebA, rows: np.ndarray) -> str:
    h = hashlib.sha256(str(data.image_dir.resolve()).encode())
    for i in rows:
        st = os.stat(data.image_dir / data.names[i])
        h.update(f"{data.names[i]}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:12]


def _decode(path: Path, policy: Preprocess) -> np.ndarray | None:
    try:
        with Image.open(path) as im:
            im.load()
            return policy.apply(im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


def load_split(data: CelebA, split: str, policy: Preprocess, cache_dir: str | Path | None = None,
               progress: bool = True, workers: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, CacheReport]:
    """Preprocessed faces of ``split`` as a read-only memory map, with their labels.

    Returns ``(images (M, S, S, 3) uint8, labels (M, 40) int8, report)`` where M excludes images
    that could not be decoded. The first call decodes every JPEG once and writes the cache; later
    calls map it. A change of policy or of any source file (size or mtime) gives a new cache; a
    half-written cache is never read, because the data file only appears by an atomic rename.
    """
    rows = data.indices(split)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{split}-{policy.key()}-{_source_key(data, rows)}"
    arr_path, valid_path = cache_dir / f"{stem}.npy", cache_dir / f"{stem}.valid.npy"
    built = False
    if not (arr_path.is_file() and valid_path.is_file()):
        for old in cache_dir.glob(f"{split}-{policy.key()}-*"):  # stale caches of this policy
            if old.name.split(".")[0] != stem:
                old.unlink(missing_ok=True)
        _build_cache(data, rows, policy, arr_path, valid_path, progress, workers)
        built = True
    images = np.load(arr_path, mmap_mode="r")
    valid = np.load(valid_path)
    if len(valid) != len(rows) or images.shape[0] != len(rows):
        raise CelebAError(f"{arr_path}: cache does not match the list ({images.shape[0]} rows for "
                          f"{len(rows)} images); delete it to rebuild")
    corrupt = [data.names[i] for i in rows[~valid]]
    keep = np.flatnonzero(valid)
    if len(keep) != len(rows):
        images = images[keep]  # a copy only when some images were unreadable
    return images, data.attributes[rows[keep]], CacheReport(arr_path, built, corrupt)


def _build_cache(data: CelebA, rows: np.ndarray, policy: Preprocess, arr_path: Path,
                 valid_path: Path, progress: bool, workers: int | None) -> None:
    s = policy.size
    tmp = arr_path.with_name(arr_path.name + f".{os.getpid()}.part")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(rows), s, s, 3))
    valid = np.zeros(len(rows), dtype=bool)
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    paths = [data.image_dir / data.names[i] for i in rows]
    try:
        with cf.ThreadPoolExecutor(workers) as pool, \
                tqdm(total=len(rows), desc=f"caching {arr_path.name.split('-')[0]} faces",
                     unit="img", disable=not progress, leave=False) as bar:
            for k, img in enumerate(pool.map(_decode, paths, [policy] * len(paths), chunksize=64)):
                if img is not None:
                    out[k] = img
                    valid[k] = True
                bar.update(1)
        out.flush()
        del out
        np.save(valid_path.with_name(valid_path.name + ".part.npy"), valid)
        os.replace(valid_path.with_name(valid_path.name + ".part.npy"), valid_path)
        os.replace(tmp, arr_path)  # last: the data file's presence means the cache is whole
    finally:
        tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------
# Batches for training: uint8 in memory or memory-mapped, converted on the fly.


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 -> ``(B, 3, H, W)`` float in [0, 1]."""
    if not (batch.flags.writeable and batch.flags.c_contiguous):  # e.g. a slice of the memory map
        batch = np.array(batch)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255)


def iterate_batches(n: int, batch_size: int, shuffle: bool, generator: torch.Generator | None = None,
                    rank: int = 0, world: int = 1, drop_last: bool = False) -> Iterator[np.ndarray]:
    """Index batches over ``range(n)``; with ``world > 1`` each rank gets its own equal share."""
    order = torch.randperm(n, generator=generator).numpy() if shuffle else np.arange(n)
    if world > 1:
        per = n // world
        order = order[rank * per:(rank + 1) * per]
    stop = len(order) - (len(order) % batch_size if drop_last else 0)
    for start in range(0, stop, batch_size):
        yield np.sort(order[start:start + batch_size])  # sorted: sequential reads of the memory map
