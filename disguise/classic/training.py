"""Training the classic VAEs (``disguise.classic.model``) through the project's run driver.

The loop, the checkpoints, the exact resume, Ctrl-C and ``metrics.csv`` are the driver's
(``disguise.training.driver``), the step and the loss the VAE's (``disguise.vae.training``). This
module adds the seed's options (``ClassicTrainConfig``), the first epoch's animation and what a
classic run writes at every epoch's end: the model (``config.json``, ``model.safetensors``), the
2-D codes of a fixed subset of the test set with their labels (``codes.safetensors``, what the
app's latent-space tab draws without the data set; ``disguise.classic.codes``), ``training.json``
and the figures (``latent_space.gif``, ``latent_scatter.png``, ``manifold.png``,
``prior_samples.png``, ``reconstructions.png``, ``loss_curve.png``; docs/classic.md shows them).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data.batches import iterate_batches
from ..files import write_json, write_png
from ..pretrained import evaluating
from ..training.driver import CHECKPOINT, Run, RunFolderError, RunResult, RunState, epoch_generator, lr_schedule
from ..training.driver import saved_options as checkpoint_options
from ..training.figures import image_grid, line_chart
from ..vae.losses import LOSSES, LossConfig
from ..vae.training import evaluate_loss, train_step
from .codes import CODES_NAME, write_codes
from .data import ClassicData, to_batch
from .figures import manifold_image, scatter_image, symmetric_limit, write_animation
from .model import SEED_RECIPES, ClassicConfig, ClassicVAE, make_optimizer

FIGURES = ("latent_space.gif", "latent_scatter.png", "manifold.png", "prior_samples.png",
           "reconstructions.png", "loss_curve.png")


# ----------------------------------------------------------------------------------------------
# Options


@dataclass
class ClassicTrainConfig:
    """Training options; ``for_kind`` gives the seed's recipe (``disguise.classic.model.SEED_RECIPES``).

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
    optimizer: str = field(default="rmsprop", metadata={"choices": ("adam", "rmsprop")})
    loss: str = field(default="bce-mean", metadata={"choices": LOSSES})
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
    model, options = checkpoint_options(Path(run) / CHECKPOINT)
    try:
        return ClassicConfig.from_dict(model), ClassicTrainConfig.from_dict(options)
    except (TypeError, ValueError) as e:
        raise RunFolderError(f"{Path(run) / CHECKPOINT}: not a classic VAE checkpoint ({e})") from None


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
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = ClassicVAE(model_cfg).to(device)
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
    steps = len(data.train_x) // cfg.batch_size
    frames = Frames([], [])
    run = Run(folder, {"model": model}, opt, lr_schedule(opt, "constant", cfg.epochs * steps),
              model_cfg, cfg, cfg.epochs, steps, cfg.batch_size, progress=progress, log=log,
              extra=lambda: frames.tensors())
    run.check_folder(resume, holds=("model.safetensors", "config.json"))
    state = RunState()
    if resume:
        state, extra = run.resume()
        frames = Frames.from_tensors(extra)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "training.json", {"data": data.source, "data_name": data.name,
                                          "train": asdict(cfg), "model": model_cfg.to_dict()})
    test_x = data.test_x[:cfg.test_limit] if cfg.test_limit else data.test_x
    every = frame_every(steps, cfg.frames)
    frame_x = data.test_x[:cfg.frame_points]
    if state.epoch == 0 and state.batch == 0 and not frames.codes:
        frames.codes.append(encode_means(model, frame_x, device))  # the untrained start
        frames.after.append(0)

    def record(epoch: int, batch: int) -> None:
        if epoch == 0 and (batch + 1) % every == 0:
            frames.codes.append(encode_means(model, frame_x, device))
            frames.after.append(batch + 1)
        if on_batch:
            on_batch(epoch, batch)

    def batches(epoch: int):
        return iterate_batches(len(data.train_x), cfg.batch_size, shuffle=True,
                               generator=epoch_generator(cfg.seed, epoch), drop_last=True)

    def step(idx: np.ndarray) -> dict[str, float]:
        return train_step(model, opt, to_batch(data.train_x[idx], device), cfg.loss_config)

    def end_epoch(epoch: int, means: dict[str, float]) -> dict:
        test = evaluate_loss(model, test_x, cfg.loss_config, device, 500, cfg.seed, to_batch=to_batch)
        row = {f"test_{k}": v for k, v in test.items()}
        history = state.history + [{**{f"train_{k}": v for k, v in means.items()}, **row}]
        write_outputs(folder, model, data, cfg, history, frames, animation=epoch == 1)
        return row

    return run.fit(state, batches, step, end_epoch, on_batch=record, device=device)


def code_subset(data: ClassicData, count: int) -> np.ndarray:
    """The indices of the test images whose codes are stored: a fixed random subset, sorted."""
    n = min(count, len(data.test_x))
    return np.sort(np.random.default_rng(0).choice(len(data.test_x), n, replace=False))


def write_outputs(folder: Path, model: ClassicVAE, data: ClassicData, cfg: ClassicTrainConfig,
                  history: list[dict], frames: Frames, animation: bool) -> None:
    """The loadable model and its codes, the loss curve and the pictures (see the module docstring)."""
    device = next(model.parameters()).device
    model.save_pretrained(folder)
    keep = code_subset(data, cfg.codes)
    codes = encode_means(model, data.test_x[keep], device)
    write_codes(folder / CODES_NAME, codes, data.test_y[keep], data.class_names, data.name)
    chart = line_chart({k: [h[k] for h in history] for k in ("train_total", "test_total")},
                       title=f"{model.config.kind} VAE on {data.name}: loss per image", ylabel="loss")
    write_png(folder / "loss_curve.png", chart, optimize=True)
    title = f"{model.config.kind} VAE, {data.name} test codes, epoch {len(history)}"
    write_png(folder / "latent_scatter.png",
              scatter_image(codes, data.test_y[keep], symmetric_limit(codes), data.class_names, title, 480),
              optimize=True)
    write_png(folder / "manifold.png", manifold_image(model, 15, scale=2), optimize=True)
    with torch.no_grad(), evaluating(model):
        z = torch.randn(64, model.config.z_dim, generator=torch.Generator().manual_seed(cfg.seed + 1))
        prior = model.decode(z.to(device))
        originals = to_batch(data.test_x[:16], device)
        recon = model.decode(model.encode(originals)[0])
    write_png(folder / "prior_samples.png", image_grid(prior, nrow=16, scale=2), optimize=True)
    write_png(folder / "reconstructions.png", image_grid(torch.cat([originals, recon]), nrow=16, scale=2),
              optimize=True)
    if animation and frames.codes:
        write_animation(folder / "latent_space.gif", frames.codes, frames.after,
                        data.test_y[:len(frames.codes[0])], data.class_names, f"{model.config.kind}, {data.name}, epoch 1")
