"""The preprocessed cache: one memory-mapped uint8 array per split, policy and source files.

Decoding 200,000 JPEGs takes minutes, so ``load_split`` does it once and maps the result on every
later call. A cache file is named ``{split}-{policy}-{folder}-{files}``: the preprocessing policy,
the data folder, and a fingerprint of the listed images (names, sizes and modification times, taken
once when the folder is opened). A changed image gives a new fingerprint and a new cache, which
replaces the stale one of the same split, policy and folder; caches of other folders or policies
are left alone. A half-written cache is never read: the data file appears by an atomic rename, last.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..files import cache_root
from ..preprocess import Preprocess
from .celeba import CelebA, CelebAError


@dataclass
class CacheReport:
    """What building or opening a cache found."""

    path: Path
    built: bool
    corrupt: list[str] = field(default_factory=list)
    replaced: list[Path] = field(default_factory=list)  # stale caches of the same source, removed

    def summary(self) -> str:
        what = "built" if self.built else "reused"
        bad = (f"; skipped {len(self.corrupt)} unreadable image(s): "
               f"{', '.join(self.corrupt[:5])}{' ...' if len(self.corrupt) > 5 else ''}"
               if self.corrupt else "")
        stale = f"; removed {len(self.replaced)} stale cache file(s) of this folder" if self.replaced else ""
        return f"cache {what}: {self.path}{bad}{stale}"


def default_cache_dir() -> Path:
    """``cache_root()/faces``: the decoded faces' caches."""
    return cache_root() / "faces"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
        h.update(b"\0")
    return h.hexdigest()[:12]


def cache_stem(data: CelebA, split: str, policy: Preprocess) -> tuple[str, str]:
    """``(prefix, stem)``: the prefix names split, policy and folder; the stem adds the files."""
    rows = data.indices(split)
    folder = _digest(str(data.image_dir.resolve()).encode())
    files = _digest("\n".join(data.names[i] for i in rows).encode(), data.file_stats()[rows].tobytes())
    prefix = f"{split}-{policy.key()}-{folder}-"
    return prefix, prefix + files


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
    calls map it (see the module docstring for when a cache is rebuilt).
    """
    rows = data.indices(split)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    prefix, stem = cache_stem(data, split, policy)
    arr_path, valid_path = cache_dir / f"{stem}.npy", cache_dir / f"{stem}.valid.npy"
    built, replaced = False, []
    if not (arr_path.is_file() and valid_path.is_file()):
        _build_cache(data, rows, policy, arr_path, valid_path, progress, workers)
        built = True
        for old in cache_dir.glob(f"{prefix}*.npy"):  # the same source before its files changed
            if not old.name.startswith(stem + "."):
                old.unlink(missing_ok=True)
                replaced.append(old)
    images = np.load(arr_path, mmap_mode="r")
    valid = np.load(valid_path)
    if len(valid) != len(rows) or images.shape[0] != len(rows):
        raise CelebAError(f"{arr_path}: cache does not match the list ({images.shape[0]} rows for "
                          f"{len(rows)} images); delete it to rebuild")
    corrupt = [data.names[i] for i in rows[~valid]]
    keep = np.flatnonzero(valid)
    if len(keep) != len(rows):
        images = images[keep]  # a copy only when some images were unreadable
    return images, data.attributes[rows[keep]], CacheReport(arr_path, built, corrupt, replaced)


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
