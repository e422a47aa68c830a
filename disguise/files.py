"""Files on disk: where the project's own files are, and writing them so that a reader never sees
half of one, reading them with errors that say why.

* Locations: the bundled files (``BUNDLED_WEIGHTS``, ``WEB_DIR``) are found from this package's
  own place, whatever the working directory (a checkout, or ``pip install -e .``); every cache
  (decoded faces, exported decoders) lives under one root, ``cache_root()``.
* Every safetensors file the project keeps (weights, checkpoints, the vector bank) goes through
  ``write_safetensors`` and ``read_safetensors``: pickle-free, atomic, and a corrupt or missing
  file is a ``ValueError`` / ``FileNotFoundError`` naming it. Pictures go through ``write_png``
  (text chunks kept) and ``write_gif`` (one palette for all frames), atomically too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

SOURCE = Path(__file__).resolve().parent.parent  # the checkout holding disguise/, weights/, web/
BUNDLED_WEIGHTS = SOURCE / "weights"  # the demo weights the app loads by default
WEB_DIR = SOURCE / "web"  # the page's own scripts and its pinned runtime (web/node_modules)
EXAMPLES = SOURCE / "examples"  # the app's example faces (a real photo, drawn faces)


def example_photos() -> list[str]:
    """The app's examples: the real photo (aligned on upload), then the drawn faces (178 x 218,
    CelebA's size: taken as aligned)."""
    return [str(p) for p in sorted(EXAMPLES.glob("astronaut.jpg")) + sorted(EXAMPLES.glob("face_*.jpg"))]


def cache_root() -> Path:
    """Where every cache goes: ``DISGUISE_CACHE``, else ``$XDG_CACHE_HOME/disguise``, else
    ``~/.cache/disguise``. Each kind has its own folder below it (``faces``, ``decoders``)."""
    root = os.environ.get("DISGUISE_CACHE")
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "disguise"


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


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2) + "\n"))


def read_json(path: str | os.PathLike) -> dict:
    """A JSON object from ``path``; a missing file, bad JSON or another type says which."""
    path = _existing(path)
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return raw


def write_safetensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                      metadata: dict[str, str] | None = None) -> None:
    """Save ``tensors`` (moved to the CPU, made contiguous) with string ``metadata``, atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda p: save_file(state, str(p), metadata=metadata))


def read_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a safetensors file (``{}`` if it has none), without its tensors."""
    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from None


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file, on the CPU."""
    path = _existing(path)
    metadata = read_safetensors_metadata(path)
    try:
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from None


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    return path


def _read_umask() -> int:
    """The process umask. Reading it means setting it, so it is done once, at import, rather than
    on every write, where another thread creating a file could catch the temporary value."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


# ----------------------------------------------------------------------------------------------
# Pictures


def write_png(path: str | os.PathLike, img, compress_level: int = 6, optimize: bool = False) -> None:
    """Write a ``PIL.Image`` as PNG, atomically, its string ``info`` (title, labels, edits) kept as
    text chunks. ``compress_level`` 1 writes a 12-megapixel photo several times faster, a little
    bigger."""
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    for k, v in img.info.items():
        if isinstance(v, str):
            meta.add_text(k, v)
    atomic_write(path, lambda p: img.save(p, format="PNG", pnginfo=meta, compress_level=compress_level,
                                          optimize=optimize))


def write_gif(path: str | os.PathLike, frames, durations: int | list[int] = 90, comment: str = "") -> None:
    """An endlessly looping animated GIF of ``frames`` (``PIL.Image``, all one size), atomically.

    Every frame is reduced to one palette, made from a few frames spread over the animation (the
    first, the last and two between), so colours stay steady from frame to frame; ``durations``:
    ms per frame (one number for all, or one each); ``comment``: text stored in the file (what the
    animation shows)."""
    from PIL import Image

    frames = [f.convert("RGB") for f in frames]
    if not frames:
        raise ValueError("an animation needs at least one frame")
    picks = sorted({round(k * (len(frames) - 1) / 3) for k in range(4)})
    sample = Image.new("RGB", (frames[0].width * len(picks), frames[0].height))
    for k, i in enumerate(picks):
        sample.paste(frames[i], (k * frames[0].width, 0))
    palette = sample.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    quantised = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    extra = {"comment": comment.encode()} if comment else {}
    atomic_write(path, lambda p: quantised[0].save(p, format="GIF", save_all=True,
                                                   append_images=quantised[1:], duration=durations,
                                                   loop=0, optimize=False, disposal=1, **extra))
