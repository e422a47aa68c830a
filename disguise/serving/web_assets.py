"""The files the page fetches to decode in the browser: the ONNX decoder and onnxruntime-web.

Each is served under a URL that names its version (the decoder's content hash, the runtime's
release), so it can be cached for good: ``Cache-Control: immutable``, and a second visit fetches
nothing (``bench/browser_live.py`` counts the bytes). Each is compressed once, on its first
request, and kept in memory: brotli where the browser takes it (the 14.2 MB WASM file travels
as 2.8 MB), else gzip.

The runtime comes from ``web/node_modules`` when ``npm ci --prefix web`` has installed it (the
version pinned in ``web/package.json`` and its lock file); otherwise, as on Hugging Face Spaces
where only pip runs, from a public CDN at the same pinned version, checked by its integrity hash.
``DISGUISE_RUNTIME=local|cdn|off`` chooses explicitly (``off``: every edit through the server).
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..files import WEB_DIR

ORT_VERSION = "1.30.0"  # web/package.json pins the same release; a test checks they agree
RUNTIME_SCRIPT = "ort.wasm.min.js"
# sha384 of onnxruntime-web 1.30.0's dist/ort.wasm.min.js (checked against the npm copy in a test)
RUNTIME_INTEGRITY = "sha384-Bw6URI+Gvoadw0do7/QrSHUC9D1vCYYK5OSqChFyhyV5mzPL4oe2rOAFljAnS8Sq"
CDN = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{ORT_VERSION}/dist/"
# The files the WASM build loads, and their types (a .wasm must be application/wasm to stream).
RUNTIME_FILES = {
    RUNTIME_SCRIPT: "text/javascript",
    "ort-wasm-simd-threaded.mjs": "text/javascript",
    "ort-wasm-simd-threaded.wasm": "application/wasm",
}
# The page's own modules (web/), served beside the decoder under their content's hash.
PAGE_FILES = {"photo_view.mjs": "text/javascript"}
ROUTE = "disguise-web"  # URLs: <root>/disguise-web/<version>/<file>
IMMUTABLE = "public, max-age=31536000, immutable"
LOCAL_RUNTIME = WEB_DIR / "node_modules" / "onnxruntime-web" / "dist"
MODES = ("auto", "local", "cdn", "off")


def sri(path: str | os.PathLike) -> str:
    """A file's subresource-integrity string (sha384)."""
    return "sha384-" + base64.b64encode(hashlib.sha384(Path(path).read_bytes()).digest()).decode()


def local_runtime_version(folder: Path = LOCAL_RUNTIME) -> str | None:
    """The onnxruntime-web release npm installed beside ``folder``; None when absent."""
    try:
        return json.loads((folder.parent / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class WebAssets:
    """Where the page gets its decoder and runtime; ``page_props`` tells the page, ``find``
    answers the requests for the files served here."""

    decoder: Path | None  # None: the page edits through the server
    runtime: str  # "local", "cdn" or "off"
    runtime_dir: Path = LOCAL_RUNTIME
    decoder_version: str = ""
    page_version: str = ""  # the hash of the page's own modules

    @classmethod
    def choose(cls, decoder: Path | None, mode: str | None = None, runtime_dir: Path = LOCAL_RUNTIME
               ) -> "WebAssets":
        """``mode`` (default: ``DISGUISE_RUNTIME``, else ``auto``): ``auto`` serves the npm copy
        when it is there at the pinned version, else the CDN's."""
        mode = (mode or os.environ.get("DISGUISE_RUNTIME") or "auto").lower()
        if mode not in MODES:
            raise ValueError(f"DISGUISE_RUNTIME must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "auto":
            mode = "local" if local_runtime_version(runtime_dir) == ORT_VERSION else "cdn"
        if decoder is None:
            mode = "off"
        version = hashlib.sha256(decoder.read_bytes()).hexdigest()[:16] if decoder else ""
        page = hashlib.sha256(b"".join((WEB_DIR / n).read_bytes() for n in sorted(PAGE_FILES))).hexdigest()[:16]
        return cls(decoder, mode, runtime_dir, version, "page-" + page)

    def page_props(self) -> dict[str, str]:
        """What the live component's script is told: URLs relative to the page's root, or
        absolute (the CDN's), and the runtime's integrity hash when it comes from elsewhere."""
        if self.runtime == "off":
            return {"model_url": "", "runtime_url": "", "wasm_base": "", "runtime_integrity": "", "maths_url": ""}
        base = f"{ROUTE}/ort-{ORT_VERSION}/" if self.runtime == "local" else CDN
        return {"model_url": f"{ROUTE}/{self.decoder_version}/decoder.onnx",
                "runtime_url": base + RUNTIME_SCRIPT, "wasm_base": base,
                "runtime_integrity": RUNTIME_INTEGRITY if self.runtime == "cdn" else "",
                "maths_url": f"{ROUTE}/{self.page_version}/photo_view.mjs"}

    def find(self, version: str, name: str) -> tuple[Path, str] | None:
        """The file and its media type for ``<version>/<name>``; None for anything else."""
        if self.decoder is not None and version == self.decoder_version and name == "decoder.onnx":
            return self.decoder, "application/octet-stream"
        if version == self.page_version and name in PAGE_FILES:
            return WEB_DIR / name, PAGE_FILES[name]
        if self.runtime == "local" and version == f"ort-{ORT_VERSION}" and name in RUNTIME_FILES:
            path = self.runtime_dir / name
            if path.is_file():
                return path, RUNTIME_FILES[name]
        return None


def encoded(path: Path, accept_encoding: str) -> tuple[bytes, str | None]:
    """A file's bytes as the browser best takes them: ``(body, "br" | "gzip" | None)``."""
    accepted = {part.split(";")[0].strip().lower() for part in accept_encoding.split(",")}
    stat = path.stat()
    for encoding in ("br", "gzip"):
        if encoding in accepted:
            body = _compressed(str(path), stat.st_mtime_ns, stat.st_size, encoding)
            if body is not None:
                return body, encoding
    return path.read_bytes(), None


@functools.lru_cache(maxsize=16)
def _compressed(path: str, mtime_ns: int, size: int, encoding: str) -> bytes | None:
    """Compressed once per file version (the key holds its time and size); None: no brotli here."""
    data = Path(path).read_bytes()
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    try:
        import brotli  # installed with gradio
    except ImportError:
        return None
    return brotli.compress(data, quality=5)  # 0.3 s for the WASM file; quality 11 takes 26 s
