"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary name beside ``path``, then rename it into place.

    A crash mid-write leaves the old file (or none), never a truncated one; the temporary file
    is removed whatever happens. The file gets the usual permissions (0666 less the umask), as a
    plain ``open`` would give it, whatever the writer used for its temporary file.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_umask() -> int:
    """The process umask. Reading it means setting it, so it is done once, at import, rather than
    on every write, where another thread creating a file could catch the temporary value."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
