"""One way to save and load every model the project ships: its config beside its weights.

A saved model is two files in a folder: a JSON config holding every constructor argument (and a
``model_type``, so one model's config is never read as another's) and a safetensors file of its
weights. The face VAE, the classic 2-D VAEs, the identity model and the attribute judge all save
this way (``SavedModel``); only their file names differ, so that several can share one weights
folder (the VAE's ``config.json`` and ``model.safetensors`` beside ``identity.json`` and
``identity.safetensors``, ...).

Loading is strict and pickle-free: a missing, unexpected or mis-shaped tensor is a
``ValueError`` naming the key and the shapes, a config key the model does not know is an error,
and a folder can also be a Hugging Face Hub repo id (``user/name``), downloaded once.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import ClassVar, Iterator, TypeVar

import torch
from torch import nn

from .files import read_json, read_safetensors, write_json, write_safetensors

M = TypeVar("M", bound="SavedModel")
HUB_FILES = ["*.json", "*.safetensors", "*.md", "*.onnx"]  # what a Hub weights repo is fetched for


class SavedConfig:
    """What a model's config dataclass shares: ``to_dict`` (with its ``model_type``), a strict
    ``from_dict`` and ``differences`` (to refuse resuming a run into another architecture)."""

    model_type: ClassVar[str]
    records: ClassVar[tuple[str, ...]] = ("trained_on",)  # what is recorded, not the architecture

    def to_dict(self) -> dict:
        return {"model_type": self.model_type, **{k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in asdict(self).items()}}

    @classmethod
    def from_dict(cls, d: dict):
        """The inverse of ``to_dict``; another ``model_type`` or an unknown key is a ``ValueError``
        (a config is never silently half-read)."""
        d = dict(d)
        kind = d.pop("model_type", cls.model_type)
        if kind != cls.model_type:
            raise ValueError(f"config is for model_type {kind!r}, not {cls.model_type!r}")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        return cls(**d)

    def differences(self, other: "SavedConfig") -> list[str]:
        """``name: mine != theirs`` for each field of the architecture that differs (not those it
        only records, such as what the model was trained on)."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a.get(k)} != {b.get(k)}" for k in a if a.get(k) != b.get(k) and k not in self.records]


TRAINED_ON = ("", "synthetic", "celeba")  # not recorded; drawn faces; photos of real people


def check_trained_on(value: str) -> str:
    if value not in TRAINED_ON:
        raise ValueError(f"trained_on must be one of {', '.join(map(repr, TRAINED_ON))}, got {value!r}")
    return value


class SavedModel(nn.Module):
    """A module rebuilt from its config: ``save_pretrained``, ``from_pretrained``, ``push_to_hub``.

    Subclasses set ``config_class`` (a ``SavedConfig`` dataclass), ``config_name`` and
    ``weights_name``, and take the config as their constructor's first argument.
    """

    config_class: ClassVar[type]
    config_name: ClassVar[str] = "config.json"
    weights_name: ClassVar[str] = "model.safetensors"
    config: SavedConfig

    def save_pretrained(self, folder: str | os.PathLike, half: bool = False) -> None:
        """Write the config and the weights into ``folder`` (each atomically). ``half``: store the
        floating-point weights as float16, half the bytes (for bundling); loading casts them back."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.half() if half and v.is_floating_point() else v for k, v in self.state_dict().items()}
        write_safetensors(folder / self.weights_name, state, metadata={"format": "pt"})
        write_json(folder / self.config_name, self.config.to_dict())

    @classmethod
    def read_config(cls, folder: str | os.PathLike):
        """The config saved in ``folder``; bad JSON, another model type or an unknown key says
        which file."""
        path = Path(folder) / cls.config_name
        try:
            return cls.config_class.from_dict(read_json(path))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from None

    @classmethod
    def from_pretrained(cls: type[M], source: str | os.PathLike, device: str | torch.device = "cpu",
                        revision: str | None = None) -> M:
        """Load from a local folder or a Hub repo id, strictly; the model comes back in eval mode."""
        folder = resolve_folder(source, (cls.config_name, cls.weights_name), revision)
        model = cls(cls.read_config(folder))
        load_strict(model, folder / cls.weights_name)
        return model.to(device).eval()

    def push_to_hub(self, repo_id: str, private: bool | None = None) -> str:
        """Upload the config and the weights to a Hub model repo (needs a token); returns the
        commit URL."""
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(repo_id, exist_ok=True, private=private)
        with tempfile.TemporaryDirectory() as d:
            self.save_pretrained(d)
            return str(api.upload_folder(repo_id=repo_id, folder_path=d))


def resolve_folder(source: str | os.PathLike, needed: tuple[str, ...], revision: str | None = None
                   ) -> Path:
    """A local folder holding ``needed``, downloading a Hub repo id if ``source`` is not a folder."""
    path = Path(source).expanduser()
    if path.is_dir():
        folder = path
    elif path.exists():
        raise FileNotFoundError(f"{path} is a file; expected a folder with {', '.join(needed)}")
    elif str(source).count("/") == 1 and not str(source).startswith((".", "/", "~")):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

        try:
            folder = Path(snapshot_download(str(source), revision=revision, allow_patterns=HUB_FILES))
        except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as e:
            raise FileNotFoundError(f"{source}: not a local folder, and the Hub repo could not be "
                                    f"fetched ({type(e).__name__}: {e})") from None
    else:
        raise FileNotFoundError(f"{source}: no such folder (nor a Hub repo id like 'user/name')")
    for name in needed:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: file not found")
    return folder


def load_strict(model: nn.Module, path: Path, prefix: str = "") -> None:
    """Load a safetensors file into ``model``; any missing, extra or mis-shaped key is an error.
    Tensors stored in another floating-point precision are cast to the model's."""
    tensors, _ = read_safetensors(path)
    if prefix:
        tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    load_state_strict(model, tensors, str(path))


def load_state_strict(model: nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    """``model.load_state_dict(tensors)`` after ``check_state``: errors name the key and shape."""
    check_state(model.state_dict(), tensors, where)
    model.load_state_dict(tensors, strict=True)


def check_state(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor], where: str) -> None:
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing or extra:
        parts = ([f"missing {missing[:5]}"] if missing else []) + \
                ([f"unexpected {extra[:5]}"] if extra else [])
        raise ValueError(f"{where}: weights do not fit the model: {'; '.join(parts)}")
    for k, v in expected.items():
        if tuple(got[k].shape) != tuple(v.shape):
            raise ValueError(f"{where}: {k} has shape {tuple(got[k].shape)}, the model expects "
                             f"{tuple(v.shape)}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``model`` in eval mode, then give it back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
