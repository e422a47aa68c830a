"""Which photos to add, and under which name: files, folders and CSV lists.

* A **file** is one photo, named by its file name's stem (``ada.jpg``: ``ada``).
* A **folder** is every file in it and its subfolders (sorted; hidden ones left out). A photo
  directly in the folder is named by its stem; one in a subfolder by the subfolder's name (a
  folder per person, as LFW is laid out: ``people/Ada_Lovelace/1.jpg``: ``Ada_Lovelace``).
* A **CSV** (``.csv``) lists ``path,name`` rows (a header row naming ``path`` is optional; an
  empty name: the stem); a relative path is taken from the CSV's own folder.

What cannot be had (a path that does not exist, a CSV row without a path, a CSV that cannot be
read) is kept as a ``Photo`` with its ``problem``, to be reported with the others at the end,
never as an error that stops the rest.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


@dataclass(frozen=True)
class Photo:
    """A photo to add: where it is, the name it goes under, and what is wrong (``""``: nothing
    known yet)."""

    path: str
    name: str
    problem: str = ""


def _files(folder: Path) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / f for f in sorted(files) if not f.startswith("."))
    return out


def read_csv(path: str | os.PathLike) -> list[Photo]:
    """The photos a ``path,name`` CSV lists (see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        return [Photo(str(path), path.stem, f"the CSV cannot be read ({e})")]
    rows = list(csv.reader(text.splitlines()))
    if rows and [c.strip().lower() for c in rows[0][:1]] == ["path"]:
        rows = rows[1:]
    out = []
    for k, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        where = f"{path.name} row {k}"
        if not cells[0]:
            out.append(Photo(where, cells[1] if len(cells) > 1 else "", "the row has no path"))
            continue
        p = Path(cells[0]).expanduser()
        if not p.is_absolute():
            p = path.parent / p
        name = cells[1] if len(cells) > 1 and cells[1] else p.stem
        out.append(Photo(str(p), name, "" if p.is_file() else f"no such file (listed in {where})"))
    return out


def list_photos(items: Iterable[str | os.PathLike]) -> list[Photo]:
    """Every photo that ``items`` (files, folders, CSVs) name, in the order given."""
    out: list[Photo] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            for f in _files(path):
                rel = f.relative_to(path)
                out.append(Photo(str(f), rel.parts[0] if len(rel.parts) > 1 else f.stem))
        elif path.is_file() and path.suffix.lower() == ".csv":
            out.extend(read_csv(path))
        elif path.is_file():
            out.append(Photo(str(path), path.stem))
        else:
            out.append(Photo(str(path), path.stem, "no such file or folder"))
    return out


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
