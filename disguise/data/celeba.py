"""Reading a CelebA-format folder (the real one or the synthetic look-alike) and validating it.

Layouts accepted (``shared/CELEBA.md``):

* ``ROOT/img_align_celeba/*.jpg`` with ``list_attr_celeba.txt``, ``list_eval_partition.txt`` and,
  when present, ``list_landmarks_align_celeba.txt`` and ``identity_CelebA.txt``;
* the same under ``ROOT/celeba/`` (torchvision's root);
* the CSV mirror (``list_attr_celeba.csv`` with an ``image_id`` column, ``list_eval_partition.csv``,
  images possibly nested as ``img_align_celeba/img_align_celeba/``).

Everything is checked before any training starts, and each problem is reported as one
``CelebAError`` naming the file and the line. A JPEG that turns out corrupt when decoded is skipped,
counted and reported, never fatal (``disguise.data.cache``). How a face becomes a model input is
``disguise.preprocess``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..attributes import ATTRIBUTES

SPLITS = {"train": 0, "valid": 1, "test": 2}
SYNTHETIC_MARK = "synthetic.json"  # written by disguise.data.synthetic: the faces are drawn
# The header of list_landmarks_align_celeba.txt (line 2), in CelebA's order.
LANDMARK_COLUMNS = ("lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
                    "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y")


class CelebAError(ValueError):
    """A data folder that is not a usable CelebA: the message names the file (and line)."""


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


def _read_table(path: Path, columns: int, skip: int, header: tuple[str, ...] | None = None
                ) -> tuple[list[str], list[list[str]]]:
    """Rows of ``name v1 .. v_columns`` (txt, after ``skip`` header lines) or the CSV equivalent.

    ``header``: the column names the file must declare (the txt's last header line, or the CSV's
    columns after ``image_id``)."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
        if not rows or rows[0][0].strip() != "image_id":
            raise _fail(path, 1, "first column should be 'image_id'")
        declared, header_line = [c.strip() for c in rows[0][1:]], 1
        body, first = rows[1:], 2
    else:
        lines = _read_lines(path)
        declared = lines[skip - 1].split() if 0 < skip <= len(lines) else []
        header_line = skip
        body = [ln.split() for ln in lines[skip:] if ln.strip()]
        first = skip + 1
    if header is not None and tuple(declared) != header:
        raise _fail(path, header_line, f"expected the columns {' '.join(header)}, "
                                       f"found {' '.join(declared)[:80]!r}")
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
    _stats: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def kind(self) -> str:
        """What the faces are: ``"synthetic"`` (drawn by ``disguise.data.synthetic``, which marks
        its folders with ``synthetic.json``) or ``"celeba"`` (photos of real people). Models
        trained on the folder record it as their ``trained_on``."""
        return "synthetic" if (self.root / SYNTHETIC_MARK).is_file() else "celeba"

    def indices(self, split: str) -> np.ndarray:
        """Row numbers of ``split`` (``train``, ``valid``, ``test`` or ``all``)."""
        if split == "all":
            return np.arange(len(self.names))
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)} or 'all', got {split!r}")
        return np.flatnonzero(self.partition == SPLITS[split])

    def path(self, i: int) -> Path:
        return self.image_dir / self.names[i]

    def file_stats(self) -> np.ndarray:
        """``(N, 2)`` int64: each listed image's size and modification time in ns (-1 if absent).

        Read once, in one pass over the image folder, when first asked (``open_celeba`` asks):
        a ``CelebA`` is a snapshot of the folder, so reopen it to see files changed since.
        """
        if self._stats is None:
            found = {e.name: e.stat() for e in os.scandir(self.image_dir) if e.is_file()}
            stats = np.full((len(self.names), 2), -1, dtype=np.int64)
            for i, name in enumerate(self.names):
                st = found.get(name)
                if st is not None:
                    stats[i] = (st.st_size, st.st_mtime_ns)
            self._stats = stats
        return self._stats


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
        landmarks = _aligned_values(lm_path, len(LANDMARK_COLUMNS), 2, index, len(names),
                                    header=LANDMARK_COLUMNS)
    id_path = _find(root, "identity_CelebA")
    if id_path is not None:
        identity = _aligned_values(id_path, 1, 0, index, len(names))[:, 0]

    data = CelebA(root=root, image_dir=image_dir, names=names, attributes=labels,
                  partition=partition, landmarks=landmarks, identity=identity)
    if check_images:
        missing = np.flatnonzero(data.file_stats()[:, 0] < 0)
        if len(missing):
            n = names[missing[0]]
            raise _fail(attr_path, int(missing[0]) + 3,
                        f"lists {n!r} but {image_dir / n} does not exist (a partial download? "
                        f"{len(missing)} of {len(names)} images are missing)")
    return data


def _aligned_values(path: Path, columns: int, skip: int, index: dict[str, int], n: int,
                    header: tuple[str, ...] | None = None) -> np.ndarray:
    names, values = _read_table(path, columns, skip, header)
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
