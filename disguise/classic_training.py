"""Training the classic VAEs (``disguise.classic``) with the project's loop, and their pictures.

The loop, the loss, the step, the checkpoints and the resume are ``disguise.training``'s
(``train_epoch``, ``RunState``, ``train_step``, ``check_run_folder``) and ``disguise.checkpoints``';
this module adds the data (MNIST-format folders, Frey faces) and what a classic run writes.

A run folder holds, at every epoch's end:

* ``config.json`` + ``model.safetensors``: the model (``ClassicVAE.from_pretrained``);
* ``codes.safetensors``: the 2-D codes (``mu``) of a fixed subset of the test set, float16, with
  their labels: what the app's latent-space tab draws without the data set;
* ``checkpoint.safetensors``: model, optimiser, RNG states, counters and the first epoch's
  animation frames, written atomically; ``resume=True`` continues exactly, even mid-epoch;
* ``training.json``, ``metrics.csv``, ``loss_curve.png``;
* ``latent_space.gif``: the test codes every few batches through the first epoch, on fixed axes
  (the dense-VAE note's animation); ``latent_scatter.png``: the codes now;
  ``manifold.png``: 15 x 15 decodes over the plane at N(0, 1)'s quantiles (ch. 8's figure);
  ``prior_samples.png``: 64 decodes of z ~ N(0, I); ``reconstructions.png``: test images above
  their reconstructions.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import checkpoints
from .batches import iterate_batches
from .classic import SEED_RECIPES, ClassicConfig, ClassicVAE, make_optimizer
from .files import (atomic_write, read_safetensors, read_safetensors_metadata, write_json,
                    write_safetensors)
from .frey import read_frey
from .idx import FASHION_MNIST_CLASSES, MNIST_CLASSES, read_split
from .latent_figures import (image_grid, manifold_image, scatter_image, symmetric_limit,
                             write_gif)
from .losses import LossConfig
from .model import evaluating
from .plots import line_chart
from .training import (CHECKPOINT, Distributed, RunFolderError, RunResult, RunningLoss, RunState,
                       check_run_folder, epoch_generator, evaluate_loss, train_epoch)

CODES_NAME = "codes.safetensors"
METRIC_COLUMNS = ["epoch", "train_total", "train_recon", "train_kl", "test_total", "test_recon",
                  "test_kl", "seconds", "images_per_second"]
FIGURES = ("latent_space.gif", "latent_scatter.png", "manifold.png", "prior_samples.png",
           "reconstructions.png", "loss_curve.png")


# ----------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class ClassicData:
    """Grey uint8 images ``(N, H, W)`` with integer labels, split into train and test.

    ``class_names`` names the labels 0, 1, ...; empty when the labels are an order (Frey's frame
    index) rather than classes.
    """

    name: str
    source: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: tuple[str, ...] = ()

    @property
    def image_hw(self) -> tuple[int, int]:
        return int(self.train_x.shape[1]), int(self.train_x.shape[2])


def load_mnist_format(folder: str | os.PathLike, name: str | None = None) -> ClassicData:
    """MNIST or Fashion-MNIST from the folder of its four IDX files (see ``disguise.idx``).

    ``name`` defaults to ``Fashion-MNIST`` when the folder's path says "fashion", else ``MNIST``;
    the class names follow it.
    """
    folder = Path(folder)
    train, test = read_split(folder, "train"), read_split(folder, "test")
    if name is None:
        name = "Fashion-MNIST" if "fashion" in str(folder.resolve()).lower() else "MNIST"
    classes = FASHION_MNIST_CLASSES if "fashion" in name.lower() else MNIST_CLASSES
    return ClassicData(name, str(folder.resolve()), train.images, train.labels.astype(np.int64),
                       test.images, test.labels.astype(np.int64), classes)


def load_frey_data(path: str | os.PathLike, test_share: float = 0.1, name: str | None = None
                   ) -> ClassicData:
    """Frey's faces from a ``frey_rawface.mat``-format file, a fixed random ``test_share`` held out.

    The labels are the frame indices (the faces are frames of one video), so a scatter coloured by
    them shows how the code moves through the video. ``name`` defaults to ``Frey stand-in
    (synthetic)`` when the file's name says "standin" (as ``train.classic frey-standin`` suggests),
    else ``Frey faces``: figures and configs never pass the stand-in off as Frey's data.
    """
    if name is None:
        stem = Path(path).name.lower().replace("-", "").replace("_", "")
        name = "Frey stand-in (synthetic)" if "standin" in stem else "Frey faces"
    faces = read_frey(path)
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be in (0, 1), got {test_share}")
    order = np.random.default_rng(0).permutation(len(faces))
    n_test = max(1, int(round(test_share * len(faces))))
    if len(faces) - n_test < 1:
        raise ValueError(f"{path}: {len(faces)} faces are too few to hold {n_test} out for testing")
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return ClassicData(name, str(Path(path).resolve()), faces[train], train.astype(np.int64),
                       faces[test], test.astype(np.int64), ())


def to_batch(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(B, H, W)`` uint8 -> ``(B, 1, H, W)`` float32 in [0, 1] on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255).unsqueeze(1)


# ----------------------------------------------------------------------------------------------
# Options


@dataclass
class ClassicTrainConfig:
    """Training options; ``for_kind`` gives the seed's recipe (``disguise.classic.SEED_RECIPES``).

    Attributes:
        epochs / batch_size / lr / optimizer / loss / kl_weight: the recipe.
        seed: seeds the weights, the shuffling and the sampling noise; CPU runs repeat exactly.
        frames: about this many animation frames through the first epoch (one every
            ``steps // frames`` batches, plus the untrained start).
        frame_points: test images whose codes each frame shows (the first ones).
        codes: test images whose codes go into ``codes.safetensors`` (a fixed random subset).
        test_limit: at most this many test images per evaluation (0: all).
        device: ``cpu`` or ``cuda[:N]``.
    """

    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    optimizer: str = "rmsprop"
    loss: str = "bce-mean"
    kl_weight: float = 5e-4
    seed: int = 0
    frames: int = 60
    frame_points: int = 1000
    codes: int = 5000
    test_limit: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch size must be at least 1, got {self.epochs}, "
                             f"{self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be positive, got {self.lr}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"optimizer must be adam or rmsprop, got {self.optimizer!r}")
        if self.frames < 1 or self.frame_points < 1 or self.codes < 1 or self.test_limit < 0:
            raise ValueError("frames, frame_points and codes must be at least 1, test_limit >= 0")
        LossConfig(self.loss, kl_weight=self.kl_weight)  # raises on bad loss options

    @classmethod
    def for_kind(cls, kind: str, **overrides) -> "ClassicTrainConfig":
        """The seed's recipe for model ``kind``, with ``overrides`` (e.g. fewer epochs)."""
        if kind not in SEED_RECIPES:
            raise ValueError(f"model kind must be one of {', '.join(SEED_RECIPES)}, got {kind!r}")
        return cls(**{**asdict(SEED_RECIPES[kind]), **overrides})

    @property
    def loss_config(self) -> LossConfig:
        return LossConfig(self.loss, kl_weight=self.kl_weight)

    @classmethod
    def from_dict(cls, d: dict) -> "ClassicTrainConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown training options {sorted(unknown)}")
        return cls(**d)


def saved_options(run: str | os.PathLike) -> tuple[ClassicConfig, ClassicTrainConfig]:
    """The model config and training options in a run's checkpoint (for ``--resume``)."""
    path = Path(run) / CHECKPOINT
    if not path.is_file():
        raise RunFolderError(f"{path}: nothing to resume (no checkpoint)")
    meta = read_safetensors_metadata(path)
    try:
        return (ClassicConfig.from_dict(json.loads(meta["model_config"])),
                ClassicTrainConfig.from_dict(json.loads(meta["train_config"])))
    except (KeyError, json.JSONDecodeError, TypeError, ValueError) as e:
        raise RunFolderError(f"{path}: not a classic VAE checkpoint ({e})") from None


# ----------------------------------------------------------------------------------------------
# The run


@dataclass
class Frames:
    """The first epoch's animation: test codes ``(F, P, 2)`` after the batches ``after`` (F,)."""

    codes: list[np.ndarray]
    after: list[int]

    def tensors(self) -> dict[str, torch.Tensor]:
        if not self.codes:
            return {}
        return {"frames/codes": torch.from_numpy(np.stack(self.codes)),
                "frames/after": torch.tensor(self.after, dtype=torch.int64)}

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor]) -> "Frames":
        if "frames/codes" not in t:
            return cls([], [])
        return cls(list(t["frames/codes"].numpy()), t["frames/after"].tolist())


def frame_every(steps: int, frames: int) -> int:
    """Batches between animation frames."""
    return max(1, steps // frames)


def expected_frames(steps: int, frames: int) -> int:
    """How many frames the first epoch gives: the untrained start, then one per ``frame_every``."""
    return 1 + steps // frame_every(steps, frames)


@torch.no_grad()
def encode_means(model: ClassicVAE, images: np.ndarray, device: torch.device, batch_size: int = 500
                 ) -> np.ndarray:
    """The codes ``mu`` of uint8 ``images`` ``(N, H, W)`` -> ``(N, z_dim)`` float32 (no noise)."""
    out = []
    with evaluating(model):
        for start in range(0, len(images), batch_size):
            out.append(model.encode(to_batch(images[start:start + batch_size], device))[0].cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.z_dim), np.float32)


def train_classic(run_dir: str | os.PathLike, data: ClassicData, model_cfg: ClassicConfig,
                  cfg: ClassicTrainConfig, resume: bool = False, progress: bool = True,
                  on_batch: Callable[[int, int], None] | None = None,
                  log: Callable[[str], None] = print) -> RunResult:
    """Train (or resume) a classic VAE on ``data``; returns when done or after Ctrl-C with a
    checkpoint written. ``on_batch(epoch, batch)`` is called after every step."""
    folder = Path(run_dir)
    if data.image_hw != (model_cfg.height, model_cfg.width):
        raise ValueError(f"{data.name} images are {data.image_hw[0]} x {data.image_hw[1]} but the "
                         f"model takes {model_cfg.height} x {model_cfg.width}")
    if len(data.train_x) < cfg.batch_size:
        raise ValueError(f"{len(data.train_x)} training images, fewer than one batch of {cfg.batch_size}")
    check_run_folder(folder, model_cfg, resume)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = ClassicVAE(model_cfg).to(device)
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
    state, frames = RunState(), Frames([], [])
    if resume:
        state = RunState.from_meta(checkpoints.load_checkpoint(folder / CHECKPOINT, {"model": model}, opt))
        frames = Frames.from_tensors(checkpoints.read_extra(folder / CHECKPOINT))
        log(f"resuming {folder} at epoch {state.epoch + 1}, batch {state.batch}")
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "training.json", {"data": data.source, "data_name": data.name,
                                          "train": asdict(cfg), "model": model_cfg.to_dict()})
    test_x = data.test_x[:cfg.test_limit] if cfg.test_limit else data.test_x
    steps = len(data.train_x) // cfg.batch_size
    every = frame_every(steps, cfg.frames)
    frame_x = data.test_x[:cfg.frame_points]

    def record(epoch: int, batch: int) -> None:
        if epoch == 0 and (batch + 1) % every == 0:
            frames.codes.append(encode_means(model, frame_x, device))
            frames.after.append(batch + 1)
        if on_batch:
            on_batch(epoch, batch)

    def checkpoint(s: RunState) -> None:
        checkpoints.save_checkpoint(folder / CHECKPOINT, {"model": model}, opt, s.meta(model_cfg, cfg),
                                    extra=frames.tensors())

    try:
        if state.epoch == 0 and state.batch == 0 and not frames.codes:
            frames.codes.append(encode_means(model, frame_x, device))  # the untrained start
            frames.after.append(0)
        while state.epoch < cfg.epochs:
            model.train()
            batches = iterate_batches(len(data.train_x), cfg.batch_size, shuffle=True,
                                      generator=epoch_generator(cfg.seed, state.epoch), drop_last=True)
            seconds = train_epoch(model, opt, batches, steps, state,
                                  lambda idx: to_batch(data.train_x[idx], device), cfg.loss_config,
                                  lambda i: cfg.lr, desc=f"epoch {state.epoch + 1}/{cfg.epochs}",
                                  progress=progress, on_batch=record)
            _end_epoch(folder, model, data, test_x, cfg, state, frames, seconds, steps, checkpoint, log)
    except KeyboardInterrupt:
        checkpoint(state)
        log(f"interrupted at epoch {state.epoch + 1}, batch {state.batch}: checkpoint written to "
            f"{folder / CHECKPOINT}; run again with --resume to continue")
        return RunResult("interrupted", state.epoch, state.history)
    return RunResult("finished", cfg.epochs, state.history)


def _end_epoch(folder: Path, model: ClassicVAE, data: ClassicData, test_x: np.ndarray,
               cfg: ClassicTrainConfig, state: RunState, frames: Frames, seconds: float, steps: int,
               checkpoint: Callable[[RunState], None], log: Callable[[str], None]) -> None:
    """Test, log, write the epoch's files and a checkpoint, then move ``state`` to the next epoch
    (only then: a Ctrl-C in here resumes into this epoch's end again)."""
    epoch = state.epoch + 1
    device = next(model.parameters()).device
    train_means = state.running.means(device, Distributed())
    test = evaluate_loss(model, test_x, cfg.loss_config, device, 500, cfg.seed, to_batch=to_batch)
    row = {"epoch": epoch, "train_total": train_means[0], "train_recon": train_means[1],
           "train_kl": train_means[2], "test_total": test["total"], "test_recon": test["recon"],
           "test_kl": test["kl"], "seconds": round(seconds, 2),
           "images_per_second": round(steps * cfg.batch_size / max(seconds, 1e-9), 1)}
    history = state.history + [row]
    write_outputs(folder, model, data, cfg, history, frames, write_animation=epoch == 1)
    checkpoint(RunState(epoch, 0, RunningLoss(), history))
    log(f"epoch {epoch}/{cfg.epochs}: train {row['train_total']:.4g} (recon {row['train_recon']:.4g}, "
        f"kl {row['train_kl']:.3g}), test {row['test_total']:.4g}, {row['images_per_second']:.0f} img/s")
    state.history = history
    state.epoch, state.batch, state.running = epoch, 0, RunningLoss()


def code_subset(data: ClassicData, count: int) -> np.ndarray:
    """The indices of the test images whose codes are stored: a fixed random subset, sorted."""
    n = min(count, len(data.test_x))
    return np.sort(np.random.default_rng(0).choice(len(data.test_x), n, replace=False))


def write_codes(path: Path, codes: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...],
                data_name: str) -> None:
    """Codes (float16) and labels (uint8 for classes, int32 for frame indices) in one file."""
    label_dtype = torch.uint8 if class_names else torch.int32
    write_safetensors(path, {"codes": torch.from_numpy(codes).half(),
                             "labels": torch.from_numpy(labels).to(label_dtype)},
                      metadata={"class_names": json.dumps(list(class_names)), "data": data_name})


def read_codes(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(codes (N, 2) float32, labels (N,) int64, class_names)`` from ``write_codes``' file."""
    tensors, meta = read_safetensors(path)
    if set(tensors) != {"codes", "labels"}:
        raise ValueError(f"{path}: expected the tensors 'codes' and 'labels', found {sorted(tensors)}")
    codes, labels = tensors["codes"].float().numpy(), tensors["labels"].long().numpy()
    if codes.ndim != 2 or codes.shape[1] != 2 or labels.shape != (len(codes),):
        raise ValueError(f"{path}: codes {tuple(codes.shape)} and labels {tuple(labels.shape)} do not "
                         f"pair up as (N, 2) and (N,)")
    try:
        names = tuple(json.loads(meta.get("class_names", "[]")))
    except json.JSONDecodeError:
        raise ValueError(f"{path}: its class_names metadata is not JSON") from None
    return codes, labels, names


def write_outputs(folder: Path, model: ClassicVAE, data: ClassicData, cfg: ClassicTrainConfig,
                  history: list[dict], frames: Frames, write_animation: bool) -> None:
    """The loadable model and its codes, metrics.csv and the pictures (see the module docstring)."""
    device = next(model.parameters()).device
    model.save_pretrained(folder)
    keep = code_subset(data, cfg.codes)
    codes = encode_means(model, data.test_x[keep], device)
    write_codes(folder / CODES_NAME, codes, data.test_y[keep], data.class_names, data.name)

    def write_csv(p: Path) -> None:
        with open(p, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
            w.writeheader()
            w.writerows(history)

    atomic_write(folder / "metrics.csv", write_csv)
    chart = line_chart({k: [h[k] for h in history] for k in ("train_total", "test_total")},
                       title=f"{model.config.kind} VAE on {data.name}: loss per image", ylabel="loss")
    _save_png(folder / "loss_curve.png", chart)
    title = f"{model.config.kind} VAE, {data.name} test codes, epoch {len(history)}"
    _save_png(folder / "latent_scatter.png",
              scatter_image(codes, data.test_y[keep], symmetric_limit(codes), data.class_names, title, 480))
    _save_png(folder / "manifold.png", manifold_image(model, 15, scale=2))
    with torch.no_grad(), evaluating(model):
        z = torch.randn(64, model.config.z_dim, generator=torch.Generator().manual_seed(cfg.seed + 1))
        prior = model.decode(z.to(device))
        originals = to_batch(data.test_x[:16], device)
        recon = model.decode(model.encode(originals)[0])
    _save_png(folder / "prior_samples.png", image_grid(prior, nrow=16, scale=2))
    _save_png(folder / "reconstructions.png", image_grid(torch.cat([originals, recon]), nrow=16, scale=2))
    if write_animation and frames.codes:
        write_animation_gif(folder / "latent_space.gif", frames, data.test_y[:len(frames.codes[0])],
                            data.class_names, f"{model.config.kind}, {data.name}, epoch 1")


def write_animation_gif(path: Path, frames: Frames, labels: np.ndarray, class_names: tuple[str, ...],
                        title: str, size: int = 320, fps: float = 12.0) -> None:
    """The first epoch's frames as a GIF, every frame on the same axes (those of the last one)."""
    limit = symmetric_limit(frames.codes[-1])
    images = [scatter_image(c, labels, limit, class_names, f"{title}, batch {b}", size)
              for c, b in zip(frames.codes, frames.after)]
    write_gif(path, images, fps=fps)


def _save_png(path: Path, image) -> None:
    atomic_write(path, lambda p: image.save(p, format="PNG", optimize=True))
