"""The decoder as an ONNX file, so a browser can decode edits itself (onnxruntime-web).

The graph is ``decode`` followed by exactly what ``Editor.decode`` does to its output: times 255,
round (half to even, as torch), clamp to 0..255, uint8, channels last. So ``z -> (1, S, S, 3)``
uint8 pixels, ready to copy into a canvas, and the same bytes the server would draw (onnxruntime's
float arithmetic differs from PyTorch's in the last bits, which can move a pixel by one level).

The file records the SHA-256 of the ``model.safetensors`` it came from (ONNX metadata), so a
stale export is never served: ``decoder_for`` uses the weights folder's ``decoder.onnx`` when it
matches and otherwise exports one into a cache folder (about 2 s, once per set of weights).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..files import atomic_write, cache_root
from ..pretrained import evaluating
from .model import VAE, WEIGHTS_NAME

DECODER_NAME = "decoder.onnx"
INPUT, OUTPUT = "z", "image"
WEIGHTS_KEY = "disguise.weights_sha256"  # metadata: the weights the graph was exported from
OPSET = 18


class _PixelDecoder(nn.Module):
    """``(1, z_dim)`` -> ``(1, S, S, 3)`` uint8, as ``Editor.decode`` makes pixels."""

    def __init__(self, vae: VAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.vae.decode(z).mul(255).round().clamp(0, 255).to(torch.uint8)
        return x.permute(0, 2, 3, 1)


def weights_digest(path: str | os.PathLike) -> str:
    """The SHA-256 of a weights file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_decoder(model: VAE, path: str | os.PathLike, weights_sha256: str = "") -> Path:
    """Write ``model``'s decoder to ``path`` as one self-contained ONNX file (atomically)."""
    import onnx  # the exporter needs onnx and onnxscript (requirements.txt)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    z = torch.zeros(1, model.config.z_dim)
    with evaluating(model), tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / DECODER_NAME
        z = z.to(next(model.parameters()).device)
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
            torch.onnx.export(_PixelDecoder(model).eval(), (z,), str(raw), input_names=[INPUT],
                              output_names=[OUTPUT], opset_version=OPSET, dynamo=True,
                              external_data=False, verbose=False)
        graph = onnx.load(str(raw))
    meta = {WEIGHTS_KEY: weights_sha256, "disguise.z_dim": str(model.config.z_dim),
            "disguise.image_size": str(model.config.image_size)}
    onnx.helper.set_model_props(graph, meta)
    atomic_write(path, lambda p: onnx.save(graph, str(p)))
    return path


def exported_from(path: str | os.PathLike) -> str | None:
    """The weights digest recorded in an exported decoder; None when unreadable or absent."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - a damaged file of any kind is simply not usable
        return None
    return next((p.value for p in graph.metadata_props if p.key == WEIGHTS_KEY), None)


def default_cache() -> Path:
    """Where exports for weights folders without a (matching) decoder.onnx go."""
    return cache_root() / "decoders"


def decoder_for(folder: str | os.PathLike, model: VAE, cache: str | os.PathLike | None = None) -> Path:
    """An ONNX decoder of exactly these weights: the folder's own ``decoder.onnx`` when it was
    exported from them, else one exported now into ``cache`` (reused on the next start)."""
    folder = Path(folder)
    digest = weights_digest(folder / WEIGHTS_NAME)
    own = folder / DECODER_NAME
    if own.is_file() and exported_from(own) == digest:
        return own
    cached = Path(cache or default_cache()) / f"{digest[:24]}.onnx"
    if cached.is_file() and exported_from(cached) == digest:
        return cached
    return export_decoder(model, cached, digest)


@dataclass(frozen=True)
class Parity:
    """How far the ONNX decoder's pixels are from PyTorch's over ``codes`` codes."""

    codes: int
    max_levels: int
    share_exact: float  # share of pixel channels identical

    def __str__(self) -> str:
        return (f"{self.codes} codes: at most {self.max_levels} level(s) apart, "
                f"{self.share_exact:.4%} of pixel values identical")


def check_parity(path: str | os.PathLike, model: VAE, codes: torch.Tensor) -> Parity:
    """Decode ``codes`` with onnxruntime (CPU) and with PyTorch, and compare the pixels."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    codes = torch.as_tensor(codes, dtype=torch.float32).reshape(-1, model.config.z_dim).cpu()
    device = next(model.parameters()).device
    with evaluating(model), torch.inference_mode():
        ref = _PixelDecoder(model)(codes.to(device)).cpu().numpy().astype(np.int16)
    got = np.concatenate([session.run([OUTPUT], {INPUT: c[None].numpy()})[0] for c in codes])
    diff = np.abs(got.astype(np.int16) - ref)
    return Parity(len(codes), int(diff.max()), float((diff == 0).mean()))
