"""Training a VAE on a CelebA-format folder: the loop, checkpoints, resume, logs and pictures.

A run folder holds, at every epoch's end:

* ``config.json`` + ``model.safetensors``: what the app and ``train.vectors`` load;
* ``checkpoint.safetensors``: model, Adam state, RNG states and counters (pickle-free), written
  atomically; ``resume=True`` continues from it exactly, even mid-epoch after Ctrl-C;
* ``training.json``: the training options and data folder;
* ``metrics.csv`` and ``loss_curve.png``; ``samples/epoch_NNN_recon.png`` (fixed validation faces
  above their reconstructions) and ``samples/epoch_NNN_prior.png`` (fixed z ~ N(0, I) decoded).

Several processes (``torchrun``) train with DistributedDataParallel; only rank 0 writes files.
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
from typing import Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from .data import iterate_batches, load_split, open_celeba, to_tensor
from .losses import LossConfig, vae_loss
from .files import atomic_write
from .model import WEIGHTS_NAME, VAE, VAEConfig, check_state, load_strict, resolve_pretrained
from .plots import line_chart

CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.csv"
METRIC_COLUMNS = ["epoch", "train_total", "train_recon", "train_kl", "val_total", "val_recon",
                  "val_kl", "lr", "seconds", "images_per_second"]
LR_SCHEDULES = ("constant", "cosine")
COSINE_FLOOR = 0.01  # the cosine schedule ends at this share of the peak learning rate


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


def check_run_folder(run: Path, model_cfg: VAEConfig, resume: bool) -> None:
    """Refuse to start where it would overwrite another run or resume into the wrong model."""
    has = [n for n in (CHECKPOINT, "model.safetensors", "config.json") if (run / n).exists()]
    if not resume and has:
        raise RunFolderError(f"{run} already holds a run ({', '.join(has)}); pass --resume to "
                             f"continue it or choose a new --out. Nothing was changed.")
    if resume:
        if not (run / CHECKPOINT).is_file():
            raise RunFolderError(f"{run / CHECKPOINT}: nothing to resume (no checkpoint)")
        meta = _checkpoint_meta(run / CHECKPOINT)
        saved = VAEConfig.from_dict(json.loads(meta["model_config"]))
        diff = saved.differences(model_cfg)
        if diff:
            raise RunFolderError(f"{run / CHECKPOINT} holds another architecture: "
                                 f"{'; '.join(diff)}. Nothing was changed.")


def _checkpoint_meta(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:  # a corrupt header
        raise RunFolderError(f"{path}: unreadable checkpoint ({e})") from None


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
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    state = opt.state_dict()
    for pid, st in state["state"].items():
        for k, v in st.items():
            tensors[f"optim/{pid}/{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng/cuda"] = torch.cuda.get_rng_state()
    groups = [{k: v for k, v in g.items()} for g in state["param_groups"]]
    metadata = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in meta.items()}
    metadata["optim_groups"] = json.dumps(groups)
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=metadata))


def load_checkpoint(path: Path, model: VAE, opt: torch.optim.Optimizer) -> dict[str, str]:
    meta = _checkpoint_meta(path)
    tensors = load_file(str(path))
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    check_state(model.state_dict(), model_state, str(path))
    model.load_state_dict(model_state, strict=True)
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


# ----------------------------------------------------------------------------------------------
# The loop


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling of epoch ``epoch``: a function of the seed alone, so resume reproduces it."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def train(run_dir: str | os.PathLike, data_root: str | os.PathLike, model_cfg: VAEConfig,
          cfg: TrainConfig, resume: bool = False, progress: bool = True,
          on_batch: Callable[[int, int], None] | None = None,
          dist: Distributed | None = None, log: Callable[[str], None] = print) -> RunResult:
    """Train (or resume) a VAE; returns when done or after Ctrl-C with a checkpoint written.

    ``on_batch(epoch, batch)`` is called after every step (tests use it to interrupt a run).
    """
    dist = dist or Distributed.from_env()
    run = Path(run_dir)
    device = pick_device(cfg.device, dist)
    if dist.main:
        check_run_folder(run, model_cfg, resume)
    data = open_celeba(data_root)  # validates every list before any work
    policy = model_cfg.policy
    train_x, _, rep = load_split(data, "train", policy, progress=progress and dist.main)
    val_x, _, vrep = load_split(data, "valid", policy, progress=progress and dist.main)
    if dist.main:
        for r in (rep, vrep):
            log(r.summary())
    if len(train_x) < cfg.batch_size * dist.world:
        raise ValueError(f"the train split has {len(train_x)} usable images, fewer than one batch "
                         f"of {cfg.batch_size} per process")
    if len(val_x) == 0:
        raise ValueError("the validation split is empty; list_eval_partition.txt needs some 1s")
    if cfg.val_limit:
        val_x = val_x[:cfg.val_limit]

    torch.manual_seed(cfg.seed)
    model = VAE(model_cfg)
    if cfg.init and not resume:
        start_from(model, cfg.init)
        if dist.main:
            log(f"starting from the weights in {cfg.init}")
    model = model.to(device)
    cuda = device.type == "cuda"
    if cuda and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start_epoch, start_batch, sums, history = 0, 0, [0.0, 0.0, 0.0, 0], []
    if resume:
        meta = load_checkpoint(run / CHECKPOINT, model, opt)
        start_epoch, start_batch = int(meta["epoch"]), int(meta["batch"])
        sums, history = json.loads(meta["sums"]), json.loads(meta["history"])
        if dist.main:
            log(f"resuming {run} at epoch {start_epoch + 1}, batch {start_batch}")
    net: nn.Module = model
    if dist.world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    if dist.main:
        run.mkdir(parents=True, exist_ok=True)
        (run / "samples").mkdir(exist_ok=True)
        atomic_write(run / "training.json", lambda p: p.write_text(json.dumps(
            {"data": str(Path(data_root).resolve()), "train": asdict(cfg),
             "model": model_cfg.to_dict(), "world_size": dist.world}, indent=2) + "\n"))

    # The training images live on the GPU as uint8 when they fit; otherwise batches are copied.
    resident = None
    if cuda and train_x.nbytes < 0.5 * torch.cuda.mem_get_info(device)[0]:
        resident = torch.from_numpy(np.ascontiguousarray(train_x)).to(device)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if cuda and cfg.amp
                else contextlib.nullcontext())
    loss_cfg = cfg.loss_config
    fixed_faces = to_tensor(val_x[:cfg.grid_faces]).to(device)
    fixed_z = torch.randn(cfg.grid_faces, model_cfg.z_dim,
                          generator=torch.Generator().manual_seed(cfg.seed + 1)).to(device)

    def batch_of(idx: np.ndarray) -> torch.Tensor:
        if resident is not None:
            x = resident[torch.from_numpy(idx).to(device)].permute(0, 3, 1, 2).float().div_(255)
        else:
            x = to_tensor(train_x[idx]).to(device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if cuda and cfg.channels_last else x

    steps = len(train_x) // dist.world // cfg.batch_size
    epoch, b = start_epoch, start_batch
    try:
        for epoch in range(start_epoch, cfg.epochs):
            net.train()
            t0 = time.perf_counter()
            batches = iterate_batches(len(train_x), cfg.batch_size, shuffle=True,
                                      generator=epoch_generator(cfg.seed, epoch), rank=dist.rank,
                                      world=dist.world, drop_last=True)
            bar = tqdm(total=steps, initial=b, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                       disable=not (progress and dist.main), leave=False)
            for i, idx in enumerate(batches):
                if i < b:  # resumed mid-epoch: these batches were already trained on
                    continue
                lr = cfg.lr_at(epoch * steps + i, cfg.epochs * steps)
                for group in opt.param_groups:
                    group["lr"] = lr
                vals = train_step(net, opt, batch_of(idx), loss_cfg, autocast)
                if not math.isfinite(vals["total"]):
                    raise FloatingPointError(f"the loss became {vals['total']} at epoch "
                                             f"{epoch + 1}, batch {i}; try a lower --lr")
                sums = [sums[0] + vals["total"], sums[1] + vals["recon"], sums[2] + vals["kl"],
                        sums[3] + 1]
                b = i + 1
                bar.update(1)
                bar.set_postfix(loss=f"{sums[0] / sums[3]:.1f}", recon=f"{sums[1] / sums[3]:.1f}",
                                kl=f"{sums[2] / sums[3]:.1f}")
                if on_batch:
                    on_batch(epoch, i)
            bar.close()
            seconds = time.perf_counter() - t0
            train_means = _reduce(sums, device, dist)
            if dist.main:
                val = evaluate_loss(model, val_x, loss_cfg, device, cfg.batch_size * 4, cfg.seed)
                row = {"epoch": epoch + 1, "train_total": train_means[0],
                       "train_recon": train_means[1], "train_kl": train_means[2],
                       "val_total": val["total"], "val_recon": val["recon"], "val_kl": val["kl"],
                       "lr": opt.param_groups[0]["lr"], "seconds": round(seconds, 2),
                       "images_per_second": round(steps * cfg.batch_size * dist.world / seconds, 1)}
                history.append(row)
                write_epoch_outputs(run, model, history, fixed_faces, fixed_z, epoch + 1)
                save_checkpoint(run / CHECKPOINT, model, opt, _meta(epoch + 1, 0, [0.0, 0.0, 0.0, 0],
                                                                    history, model_cfg, cfg))
                log(f"epoch {epoch + 1}/{cfg.epochs}: train {row['train_total']:.2f} "
                    f"(recon {row['train_recon']:.2f}, kl {row['train_kl']:.2f}), val "
                    f"{row['val_total']:.2f}, {row['images_per_second']:.0f} img/s")
            sums, b = [0.0, 0.0, 0.0, 0], 0
            if dist.world > 1:
                torch.distributed.barrier()
    except KeyboardInterrupt:
        if dist.main:
            save_checkpoint(run / CHECKPOINT, model, opt, _meta(epoch, b, sums, history, model_cfg, cfg))
            log(f"interrupted at epoch {epoch + 1}, batch {b}: checkpoint written to "
                f"{run / CHECKPOINT}; run again with --resume to continue")
        return RunResult("interrupted", epoch, history)
    return RunResult("finished", cfg.epochs, history)


def start_from(model: VAE, source: str) -> None:
    """Load the weights of the model folder (or Hub id) ``source`` into ``model``, strictly."""
    folder, config = resolve_pretrained(source)
    diff = config.differences(model.config)
    if diff:
        raise ValueError(f"the model in {source} holds another architecture than this run's: "
                         f"{'; '.join(diff)}")
    load_strict(model, folder / WEIGHTS_NAME)


def train_step(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, loss_cfg: LossConfig,
               autocast=contextlib.nullcontext()) -> dict[str, float]:
    """One optimisation step on batch ``x``; returns the loss terms as floats."""
    with autocast:
        recon, mu, log_var = net(x)
    terms = vae_loss(recon, x, mu, log_var, loss_cfg)
    opt.zero_grad(set_to_none=True)
    if torch.isfinite(terms.total):
        terms.total.backward()
        opt.step()
    return terms.items()


def _meta(epoch: int, batch: int, sums, history, model_cfg: VAEConfig, cfg: TrainConfig) -> dict:
    return {"epoch": str(epoch), "batch": str(batch), "sums": sums, "history": history,
            "model_config": model_cfg.to_dict(), "train_config": asdict(cfg)}


def _reduce(sums: list, device: torch.device, dist: Distributed) -> list[float]:
    t = torch.tensor(sums, dtype=torch.float64, device=device)
    if dist.world > 1:
        torch.distributed.all_reduce(t)
    return [float(v) / max(float(t[3]), 1.0) for v in t[:3]]


@torch.no_grad()
def evaluate_loss(model: VAE, images: np.ndarray, loss_cfg: LossConfig, device: torch.device,
                  batch_size: int = 128, seed: int = 0) -> dict[str, float]:
    """Mean loss terms over ``images`` in eval mode, with a fixed noise stream (repeatable)."""
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed + 2)
    totals, n = np.zeros(3), 0
    for start in range(0, len(images), batch_size):
        x = to_tensor(images[start:start + batch_size]).to(device)
        recon, mu, log_var = model(x, generator=gen)
        t = vae_loss(recon, x, mu, log_var, loss_cfg)
        totals += np.array([float(t.total), float(t.recon), float(t.kl)]) * len(x)
        n += len(x)
    model.train()
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
                       title="loss per image (log scale)", log_y=True)
    atomic_write(run / "loss_curve.png", lambda p: chart.save(p, format="PNG"))
    model.eval()
    with torch.no_grad():
        recon = model.decode(model.encode(faces)[0])
        prior = model.decode(z)
    model.train()
    samples = run / "samples"
    samples.mkdir(exist_ok=True)
    n = len(faces)
    save_image(torch.cat([faces, recon]).float().cpu(), samples / f"epoch_{epoch:03d}_recon.png",
               nrow=n, padding=2, pad_value=1.0)
    save_image(prior.float().cpu(), samples / f"epoch_{epoch:03d}_prior.png", nrow=n, padding=2,
               pad_value=1.0)
