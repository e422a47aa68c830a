"""Checkpoints that resume exactly: modules' weights, the optimiser's state and the random
generators', all as tensors in one safetensors file (pickle-free, written atomically), with the
counters and options as JSON strings in its metadata. The VAE's and the identity model's training
both keep theirs this way.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..files import read_safetensors, read_safetensors_metadata, write_safetensors
from ..pretrained import load_state_strict

EXTRA = "extra"


def save_checkpoint(path: str | Path, modules: dict[str, nn.Module], opt: torch.optim.Optimizer,
                    meta: dict, extra: dict[str, torch.Tensor] | None = None) -> None:
    """Write ``modules`` (each under its prefix, e.g. ``{"model": net}``), ``opt``'s state, the
    RNG states and ``meta`` (values JSON-encoded unless already strings) to ``path``; ``extra``:
    other tensors the run keeps (``read_extra`` gives them back)."""
    tensors = {f"{prefix}/{k}": v for prefix, m in modules.items() for k, v in m.state_dict().items()}
    tensors.update({f"{EXTRA}/{k}": v for k, v in (extra or {}).items()})
    state = opt.state_dict()
    for pid, st in state["state"].items():
        for k, v in st.items():
            tensors[f"optim/{pid}/{k}"] = torch.as_tensor(v)
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng/cuda"] = torch.cuda.get_rng_state()
    metadata = {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
    metadata["optim_groups"] = json.dumps(state["param_groups"])
    write_safetensors(path, tensors, metadata)


def load_checkpoint(path: str | Path, modules: dict[str, nn.Module], opt: torch.optim.Optimizer
                    ) -> dict[str, str]:
    """Restore ``modules`` (strictly), ``opt`` and the RNG states from ``path``; returns its
    metadata."""
    tensors, meta = read_safetensors(path)
    for prefix, module in modules.items():
        n = len(prefix) + 1
        load_state_strict(module, {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + "/")},
                          str(path))
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("optim/"):
            _, pid, name = k.split("/", 2)
            state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": json.loads(meta["optim_groups"])})
    torch.set_rng_state(tensors["rng/torch"])
    if "rng/cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng/cuda"])
    return meta


def read_extra(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``extra`` tensors a checkpoint was saved with (``{}`` if none), without the rest."""
    from safetensors import safe_open

    read_safetensors_metadata(path)  # a missing or corrupt file: the usual clear error
    with safe_open(str(path), framework="pt") as f:
        return {k[len(EXTRA) + 1:]: f.get_tensor(k) for k in f.keys() if k.startswith(EXTRA + "/")}
