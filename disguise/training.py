"""Training a VAE on a CelebA-format folder: the loop, checkpoints, resume, logs and pictures.

A run folder holds, at every epoch's end:

* ``config.json`` + ``model.safetensors``: what the app and ``train.vectors`` load;
* ``checkpoint.safetensors``: model, Adam state, RNG states and counters (pickle-free), written
  atomically; ``resume=True`` continues from it exactly, even mid-epoch after Ctrl-C;
* ``training.json``: the training options and data folder;
* ``metrics.csv`` and ``loss_curve.png``; ``samples/epoch_NNN_recon.png`` (fixed validation faces
  above their reconstructions) and ``samples/epoch_NNN_prior.png`` (fixed z ~ N(0, I) decoded).

Several processes (``torchrun``) train with DistributedDataParallel; only rank 0 writes files.

The loop over an epoch (``train_epoch``), the step (``train_step``), the run's position
(``RunState``, ``RunningLoss``), the run-folder check and ``evaluate_loss`` take any model whose
``forward`` gives ``(recon, mu, log_var)``: the seeds' classic VAEs train with them too
(``disguise.classic_training``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Iterable, Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import checkpoints
from .batches import iterate_batches
from .cache import load_split
from .celeba import open_celeba
from .files import atomic_write, read_safetensors_metadata, write_json
from .losses import LossConfig, vae_loss
from .model import WEIGHTS_NAME, VAE, VAEConfig, evaluating, load_strict, resolve_pretrained
from .plots import line_chart
from .policy import to_tensor

CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.csv"
METRIC_COLUMNS = ["epoch", "train_total", "train_recon", "train_kl", "val_total", "val_recon",
                  "val_kl", "lr", "seconds", "images_per_second"]
LR_SCHEDULES = ("constant", "cosine")
COSINE_FLOOR = 0.01  # the cosine schedule ends at this share of the peak learning rate


class ModelConfig(Protocol):
    """What the loop's bookkeeping needs of a model config (``VAEConfig``, ``ClassicConfig``)."""

    def to_dict(self) -> dict: ...

    def differences(self, other) -> list[str]: ...


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (holds another run, nothing to resume, ...)."""


@dataclass
class TrainConfig:
    """Training options (the seed's defaults: Adam, lr 0.0005, batch 32, r_loss_factor 10000).

    Attributes:
        epochs: total epochs; a resumed run continues up to this number.
        batch_size: images per step (per process under torchrun).
        lr: Adam's learning rate (the peak, under a schedule).
        lr_schedule: ``constant``, or ``cosine``: from ``lr`` down to ``COSINE_FLOOR * lr`` along
            the run's steps (a function of the step alone, so resume reproduces it).
        loss / r_loss_factor / kl_weight: see ``disguise.losses.LossConfig``.
        seed: seeds the weights, the shuffling and dropout; CPU runs repeat exactly.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda[:N]``.
        amp: bfloat16 autocast on CUDA (ignored on CPU).
        channels_last: NHWC memory format on CUDA (ignored on CPU).
        grid_faces: faces in the per-epoch picture grids.
        val_limit: at most this many validation faces per evaluation (0: all).
        init: a model folder (or Hub id) whose weights a new run starts from instead of random
            ones (fine-tuning); its architecture must be the run's. Ignored when resuming.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-4
    loss: str = "mse"
    r_loss_factor: float = 10000.0
    kl_weight: float = 1.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    grid_faces: int = 8
    val_limit: int = 2000
    lr_schedule: str = "constant"
    init: str | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be positive, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"learning-rate schedule must be one of {', '.join(LR_SCHEDULES)}, "
                             f"got {self.lr_schedule!r}")
        LossConfig(self.loss, self.r_loss_factor, self.kl_weight)  # raises on bad loss options

    @property
    def loss_config(self) -> LossConfig:
        return LossConfig(self.loss, self.r_loss_factor, self.kl_weight)

    def lr_at(self, step: int, total: int) -> float:
        """The learning rate of optimisation step ``step`` (from 0) of ``total``."""
        if self.lr_schedule == "constant" or total <= 1:
            return self.lr
        floor = COSINE_FLOOR * self.lr
        return floor + 0.5 * (self.lr - floor) * (1 + math.cos(math.pi * min(step, total - 1) / (total - 1)))


@dataclass
class Distributed:
    """This process's place under torchrun (rank 0 of 1 without it)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Distributed":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


@dataclass
class RunResult:
    status: str  # "finished" or "interrupted"
    epoch: int  # epochs completed
    history: list[dict] = field(default_factory=list)


def pick_device(name: str, dist: Distributed) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda asked for, but no CUDA device is available")
        if dev.index is None:
            dev = torch.device("cuda", dist.local_rank)
    return dev


def check_run_folder(run: Path, model_cfg: ModelConfig, resume: bool) -> None:
    """Refuse to start where it would overwrite another run or resume into the wrong model.

    ``model_cfg`` is any saved config (``VAEConfig``, ``ClassicConfig``): its class reads the
    checkpoint's config back and lists the differences."""
    has = [n for n in (CHECKPOINT, "model.safetensors", "config.json") if (run / n).exists()]
    if not resume and has:
        raise RunFolderError(f"{run} already holds a run ({', '.join(has)}); pass --resume to "
                             f"continue it or choose a new --out. Nothing was changed.")
    if resume:
        if not (run / CHECKPOINT).is_file():
            raise RunFolderError(f"{run / CHECKPOINT}: nothing to resume (no checkpoint)")
        meta = _checkpoint_meta(run / CHECKPOINT)
        saved = type(model_cfg).from_dict(json.loads(meta["model_config"]))
        diff = saved.differences(model_cfg)
        if diff:
            raise RunFolderError(f"{run / CHECKPOINT} holds another architecture: "
                                 f"{'; '.join(diff)}. Nothing was changed.")


def _checkpoint_meta(path: Path) -> dict[str, str]:
    try:
        return read_safetensors_metadata(path)
    except ValueError as e:  # a corrupt header
        raise RunFolderError(f"unreadable checkpoint: {e}") from None


def saved_train_config(run: Path) -> dict:
    """The training options stored in a run's checkpoint (``--resume`` keeps them by default)."""
    if not (run / CHECKPOINT).is_file():
        raise RunFolderError(f"{run / CHECKPOINT}: nothing to resume (no checkpoint)")
    return json.loads(_checkpoint_meta(run / CHECKPOINT)["train_config"])


def saved_model_config(run: Path) -> VAEConfig:
    """The model config stored in a run's checkpoint (for ``--resume`` without repeating options)."""
    if not (run / CHECKPOINT).is_file():
        raise RunFolderError(f"{run / CHECKPOINT}: nothing to resume (no checkpoint)")
    return VAEConfig.from_dict(json.loads(_checkpoint_meta(run / CHECKPOINT)["model_config"]))


# ----------------------------------------------------------------------------------------------
# Checkpoints: tensors in safetensors, counters and histories in its string metadata.


def save_checkpoint(path: Path, model: VAE, opt: torch.optim.Optimizer, meta: dict) -> None:
    checkpoints.save_checkpoint(path, {"model": model}, opt, meta)


def load_checkpoint(path: Path, model: VAE, opt: torch.optim.Optimizer) -> dict[str, str]:
    """Restore model, optimiser and RNG states from ``path``; returns its metadata."""
    return checkpoints.load_checkpoint(path, {"model": model}, opt)


# ----------------------------------------------------------------------------------------------
# Where a run stands: what a checkpoint holds besides the tensors.


@dataclass
class RunningLoss:
    """Sums of the loss terms over the batches of the current epoch."""

    total: float = 0.0
    recon: float = 0.0
    kl: float = 0.0
    batches: int = 0

    def add(self, terms: dict[str, float]) -> None:
        self.total += terms["total"]
        self.recon += terms["recon"]
        self.kl += terms["kl"]
        self.batches += 1

    def postfix(self) -> dict[str, str]:
        n = max(self.batches, 1)
        return {"loss": f"{self.total / n:.5g}", "recon": f"{self.recon / n:.5g}", "kl": f"{self.kl / n:.4g}"}

    def means(self, device: torch.device, dist: "Distributed") -> tuple[float, float, float]:
        """Per-batch means over every process's batches."""
        t = torch.tensor([self.total, self.recon, self.kl, self.batches], dtype=torch.float64,
                         device=device)
        if dist.world > 1:
            torch.distributed.all_reduce(t)
        n = max(float(t[3]), 1.0)
        return float(t[0]) / n, float(t[1]) / n, float(t[2]) / n

    def to_list(self) -> list:
        return [self.total, self.recon, self.kl, self.batches]

    @classmethod
    def from_list(cls, values: list) -> "RunningLoss":
        return cls(float(values[0]), float(values[1]), float(values[2]), int(values[3]))


@dataclass
class RunState:
    """The loop's position: ``epoch`` epochs done, ``batch`` batches into the next one."""

    epoch: int = 0
    batch: int = 0
    running: RunningLoss = field(default_factory=RunningLoss)
    history: list[dict] = field(default_factory=list)

    def meta(self, model_cfg: ModelConfig, cfg) -> dict:
        """The checkpoint metadata: position, sums, history, the model config and the training
        options (``cfg``: a dataclass)."""
        return {"epoch": str(self.epoch), "batch": str(self.batch), "sums": self.running.to_list(),
                "history": self.history, "model_config": model_cfg.to_dict(), "train_config": asdict(cfg)}

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> "RunState":
        return cls(int(meta["epoch"]), int(meta["batch"]), RunningLoss.from_list(json.loads(meta["sums"])),
                   json.loads(meta["history"]))


# ----------------------------------------------------------------------------------------------
# The loop


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling of epoch ``epoch``: a function of the seed alone, so resume reproduces it."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


@dataclass
class _Run:
    """Everything a run needs once it is set up (the named steps of ``train`` share it)."""

    folder: Path
    model_cfg: VAEConfig
    cfg: TrainConfig
    dist: Distributed
    device: torch.device
    model: VAE
    net: nn.Module  # the model, or its DistributedDataParallel wrapper
    opt: torch.optim.Optimizer
    train_x: np.ndarray
    val_x: np.ndarray
    progress: bool
    log: Callable[[str], None]
    resident: torch.Tensor | None = None  # the training faces on the GPU, when they fit

    @property
    def steps(self) -> int:
        """Optimisation steps per epoch (per process)."""
        return len(self.train_x) // self.dist.world // self.cfg.batch_size

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def batch(self, idx: np.ndarray) -> torch.Tensor:
        """The training faces at ``idx`` as a float batch on the device."""
        faces = self.resident[torch.from_numpy(idx).to(self.device)] if self.resident is not None \
            else self.train_x[idx]
        x = to_tensor(faces, self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.cuda and self.cfg.channels_last else x

    def autocast(self):
        return (torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda and self.cfg.amp
                else contextlib.nullcontext())


def train(run_dir: str | os.PathLike, data_root: str | os.PathLike, model_cfg: VAEConfig,
          cfg: TrainConfig, resume: bool = False, progress: bool = True,
          on_batch: Callable[[int, int], None] | None = None,
          dist: Distributed | None = None, log: Callable[[str], None] = print) -> RunResult:
    """Train (or resume) a VAE; returns when done or after Ctrl-C with a checkpoint written.

    ``on_batch(epoch, batch)`` is called after every step (tests use it to interrupt a run).
    """
    dist = dist or Distributed.from_env()
    folder = Path(run_dir)
    device = pick_device(cfg.device, dist)
    if dist.main:
        check_run_folder(folder, model_cfg, resume)
    train_x, val_x = _load_faces(data_root, model_cfg, cfg, dist, progress, log)
    run = _set_up(folder, model_cfg, cfg, dist, device, train_x, val_x, resume, progress, log)
    state = _resume(run) if resume else RunState()
    if dist.main:
        _write_run_record(run, data_root)
    fixed_faces = to_tensor(val_x[:cfg.grid_faces], device)
    fixed_z = torch.randn(cfg.grid_faces, model_cfg.z_dim,
                          generator=torch.Generator().manual_seed(cfg.seed + 1)).to(device)
    try:
        while state.epoch < cfg.epochs:
            seconds = _train_epoch(run, state, on_batch)
            _end_epoch(run, state, seconds, fixed_faces, fixed_z)
    except KeyboardInterrupt:
        if dist.main:
            save_checkpoint(folder / CHECKPOINT, run.model, run.opt, state.meta(model_cfg, cfg))
            log(f"interrupted at epoch {state.epoch + 1}, batch {state.batch}: checkpoint written "
                f"to {folder / CHECKPOINT}; run again with --resume to continue")
        return RunResult("interrupted", state.epoch, state.history)
    return RunResult("finished", cfg.epochs, state.history)


def _load_faces(data_root, model_cfg: VAEConfig, cfg: TrainConfig, dist: Distributed, progress: bool,
                log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """The train and validation faces, validated and cached (every list is checked first)."""
    data = open_celeba(data_root)
    train_x, _, rep = load_split(data, "train", model_cfg.policy, progress=progress and dist.main)
    val_x, _, vrep = load_split(data, "valid", model_cfg.policy, progress=progress and dist.main)
    if dist.main:
        for r in (rep, vrep):
            log(r.summary())
    if len(train_x) < cfg.batch_size * dist.world:
        raise ValueError(f"the train split has {len(train_x)} usable images, fewer than one batch "
                         f"of {cfg.batch_size} per process")
    if len(val_x) == 0:
        raise ValueError("the validation split is empty; list_eval_partition.txt needs some 1s")
    return train_x, val_x[:cfg.val_limit] if cfg.val_limit else val_x


def _set_up(folder: Path, model_cfg: VAEConfig, cfg: TrainConfig, dist: Distributed,
            device: torch.device, train_x: np.ndarray, val_x: np.ndarray, resume: bool,
            progress: bool, log: Callable[[str], None]) -> _Run:
    """The model (seeded, or from ``cfg.init``), its optimiser and, on a GPU, resident faces."""
    torch.manual_seed(cfg.seed)
    model = VAE(model_cfg)
    if cfg.init and not resume:
        start_from(model, cfg.init)
        if dist.main:
            log(f"starting from the weights in {cfg.init}")
    model = model.to(device)
    if device.type == "cuda" and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if dist.world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    resident = None  # uint8 faces on the GPU when they fit in half its free memory
    if device.type == "cuda" and train_x.nbytes < 0.5 * torch.cuda.mem_get_info(device)[0]:
        resident = torch.from_numpy(np.ascontiguousarray(train_x)).to(device)
    return _Run(folder, model_cfg, cfg, dist, device, model, net,
                torch.optim.Adam(model.parameters(), lr=cfg.lr), train_x, val_x, progress, log, resident)


def _resume(run: _Run) -> RunState:
    meta = load_checkpoint(run.folder / CHECKPOINT, run.model, run.opt)
    state = RunState.from_meta(meta)
    if run.dist.main:
        run.log(f"resuming {run.folder} at epoch {state.epoch + 1}, batch {state.batch}")
    return state


def _write_run_record(run: _Run, data_root) -> None:
    (run.folder / "samples").mkdir(parents=True, exist_ok=True)
    write_json(run.folder / "training.json",
               {"data": str(Path(data_root).resolve()), "train": asdict(run.cfg),
                "model": run.model_cfg.to_dict(), "world_size": run.dist.world})


def _train_epoch(run: _Run, state: RunState, on_batch: Callable[[int, int], None] | None) -> float:
    """Train the rest of epoch ``state.epoch`` (from batch ``state.batch``); returns its seconds."""
    cfg, epoch = run.cfg, state.epoch
    run.net.train()
    batches = iterate_batches(len(run.train_x), cfg.batch_size, shuffle=True,
                              generator=epoch_generator(cfg.seed, epoch), rank=run.dist.rank,
                              world=run.dist.world, drop_last=True)
    return train_epoch(run.net, run.opt, batches, run.steps, state, run.batch, cfg.loss_config,
                       lambda i: cfg.lr_at(epoch * run.steps + i, cfg.epochs * run.steps),
                       desc=f"epoch {epoch + 1}/{cfg.epochs}", progress=run.progress and run.dist.main,
                       autocast=run.autocast, on_batch=on_batch)


def train_epoch(net: nn.Module, opt: torch.optim.Optimizer, batches: Iterable[np.ndarray], steps: int,
                state: RunState, to_batch: Callable[[np.ndarray], torch.Tensor], loss_cfg: LossConfig,
                lr_at: Callable[[int], float], desc: str = "", progress: bool = True,
                autocast: Callable[[], ContextManager] = contextlib.nullcontext,
                on_batch: Callable[[int, int], None] | None = None) -> float:
    """The loop over one epoch's index ``batches`` (``steps`` of them), for any model whose
    ``forward`` gives ``(recon, mu, log_var)``; returns the seconds it took.

    Skips the first ``state.batch`` batches (a resumed epoch: already trained on), sets the
    learning rate of step ``i`` to ``lr_at(i)``, steps on ``to_batch(indices)`` and adds the loss
    terms to ``state.running``. ``on_batch(epoch, batch)`` is called after every step, once
    ``state`` counts it, so a ``KeyboardInterrupt`` raised there checkpoints a consistent state.
    """
    t0 = time.perf_counter()
    with tqdm(total=steps, initial=state.batch, desc=desc, unit="batch", disable=not progress,
              leave=False) as bar:
        for i, idx in enumerate(batches):
            if i < state.batch:  # resumed mid-epoch: these batches were already trained on
                continue
            for group in opt.param_groups:
                group["lr"] = lr_at(i)
            terms = train_step(net, opt, to_batch(idx), loss_cfg, autocast(),
                               where=f"epoch {state.epoch + 1}, batch {i}")
            state.running.add(terms)
            state.batch = i + 1
            bar.update(1)
            bar.set_postfix(state.running.postfix())
            if on_batch:
                on_batch(state.epoch, i)
    return time.perf_counter() - t0


def _end_epoch(run: _Run, state: RunState, seconds: float, fixed_faces: torch.Tensor,
               fixed_z: torch.Tensor) -> None:
    """Validate, log, write the epoch's files and a checkpoint, then move ``state`` to the next
    epoch (only then: a Ctrl-C in here resumes into this epoch's end again)."""
    cfg, epoch = run.cfg, state.epoch + 1
    train_means = state.running.means(run.device, run.dist)
    if run.dist.main:
        val = evaluate_loss(run.model, run.val_x, cfg.loss_config, run.device, cfg.batch_size * 4, cfg.seed)
        row = {"epoch": epoch, "train_total": train_means[0], "train_recon": train_means[1],
               "train_kl": train_means[2], "val_total": val["total"], "val_recon": val["recon"],
               "val_kl": val["kl"], "lr": run.opt.param_groups[0]["lr"], "seconds": round(seconds, 2),
               "images_per_second": round(run.steps * cfg.batch_size * run.dist.world / seconds, 1)}
        history = state.history + [row]
        write_epoch_outputs(run.folder, run.model, history, fixed_faces, fixed_z, epoch)
        save_checkpoint(run.folder / CHECKPOINT, run.model, run.opt,
                        RunState(epoch, 0, RunningLoss(), history).meta(run.model_cfg, cfg))
        run.log(f"epoch {epoch}/{cfg.epochs}: train {row['train_total']:.2f} "
                f"(recon {row['train_recon']:.2f}, kl {row['train_kl']:.2f}), val "
                f"{row['val_total']:.2f}, {row['images_per_second']:.0f} img/s")
        state.history = history
    state.epoch, state.batch, state.running = epoch, 0, RunningLoss()
    if run.dist.world > 1:
        torch.distributed.barrier()


def start_from(model: VAE, source: str) -> None:
    """Load the weights of the model folder (or Hub id) ``source`` into ``model``, strictly."""
    folder, config = resolve_pretrained(source)
    diff = config.differences(model.config)
    if diff:
        raise ValueError(f"the model in {source} holds another architecture than this run's: "
                         f"{'; '.join(diff)}")
    load_strict(model, folder / WEIGHTS_NAME)


def train_step(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, loss_cfg: LossConfig,
               autocast=contextlib.nullcontext(), where: str = "") -> dict[str, float]:
    """One optimisation step on batch ``x``; returns the loss terms as floats.

    A loss that is not finite is an error (``FloatingPointError``, naming ``where``) raised before
    the step, so the weights are never updated from it.
    """
    with autocast:
        recon, mu, log_var = net(x)
    terms = vae_loss(recon, x, mu, log_var, loss_cfg)
    if not torch.isfinite(terms.total):
        at = f" at {where}" if where else ""
        raise FloatingPointError(f"the loss became {float(terms.total.detach())}{at}; try a lower --lr")
    opt.zero_grad(set_to_none=True)
    terms.total.backward()
    opt.step()
    return terms.items()


@torch.no_grad()
def evaluate_loss(model: nn.Module, images: np.ndarray, loss_cfg: LossConfig, device: torch.device,
                  batch_size: int = 128, seed: int = 0,
                  to_batch: Callable[[np.ndarray, torch.device], torch.Tensor] = to_tensor
                  ) -> dict[str, float]:
    """Mean loss terms over ``images`` in eval mode (the model's mode is restored), with a fixed
    noise stream (repeatable). ``to_batch(images, device)`` makes a float batch of stored images
    (default: RGB faces)."""
    gen = torch.Generator(device=device).manual_seed(seed + 2)
    totals, n = np.zeros(3), 0
    with evaluating(model):
        for start in range(0, len(images), batch_size):
            x = to_batch(images[start:start + batch_size], device)
            recon, mu, log_var = model(x, generator=gen)
            t = vae_loss(recon, x, mu, log_var, loss_cfg)
            totals += np.array([float(t.total), float(t.recon), float(t.kl)]) * len(x)
            n += len(x)
    return dict(zip(("total", "recon", "kl"), (totals / max(n, 1)).tolist()))


def write_epoch_outputs(run: Path, model: VAE, history: list[dict], faces: torch.Tensor,
                        z: torch.Tensor, epoch: int) -> None:
    """The loadable model, metrics.csv, the loss curve and this epoch's two picture grids."""
    from torchvision.utils import save_image

    model.save_pretrained(run)

    def write_csv(p: Path) -> None:
        with open(p, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
            w.writeheader()
            w.writerows(history)

    atomic_write(run / METRICS, write_csv)
    chart = line_chart({k: [h[k] for h in history] for k in
                        ("train_total", "val_total", "train_recon", "val_recon", "train_kl", "val_kl")},
                       title="loss per image (log scale)", ylabel="loss", log_y=True)
    atomic_write(run / "loss_curve.png", lambda p: chart.save(p, format="PNG"))
    with torch.no_grad(), evaluating(model):
        recon = model.decode(model.encode(faces)[0])
        prior = model.decode(z)
    samples = run / "samples"
    samples.mkdir(exist_ok=True)
    n = len(faces)
    save_image(torch.cat([faces, recon]).float().cpu(), samples / f"epoch_{epoch:03d}_recon.png",
               nrow=n, padding=2, pad_value=1.0)
    save_image(prior.float().cpu(), samples / f"epoch_{epoch:03d}_prior.png", nrow=n, padding=2,
               pad_value=1.0)
