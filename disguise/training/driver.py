"""The one training run driver: a run folder, its checkpoint, exact resume, Ctrl-C, metrics.

The face VAE, the seeds' classic VAEs and the identity model train through ``Run``; they differ
in their step (``step(batch) -> {name: float}``), their batches and what an epoch's end writes,
not in how they checkpoint, resume and log. The checkpoint holds every module's weights, the
optimiser's and the schedule's state, the RNG states, the position, the running sums and the
history; it is written atomically at every epoch's end and on Ctrl-C, and ``resume=True``
continues exactly, even mid-epoch (the same weights as a run never stopped, on the CPU).
``metrics.csv`` gets one row per epoch. A run without a folder (``folder=None``) trains the same
way and writes nothing (tests, benchmarks). Under torchrun only rank 0 writes.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from ..files import atomic_write, read_safetensors_metadata
from .checkpoints import load_checkpoint, read_extra, save_checkpoint

CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.csv"
LR_SCHEDULES = ("constant", "cosine", "one-cycle")
COSINE_FLOOR = 0.01  # the cosine schedule ends at this share of the peak learning rate
WARM_UP = 0.3  # one-cycle: the share of the steps spent rising to the peak ...
WARM_START = 1 / 25  # ... from this share of it (then a cosine down to COSINE_FLOOR / 100)


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (holds another run, nothing to resume, ...)."""


# ----------------------------------------------------------------------------------------------
# The learning-rate schedule: a function of the optimisation step alone, so resume repeats it.


def lr_factor(kind: str, total_steps: int) -> Callable[[int], float]:
    """The factor on the peak learning rate at step ``s`` (from 0) of ``total_steps``: 1 for
    ``constant``; for ``cosine``, half a cosine from 1 down to ``COSINE_FLOOR`` by the last step;
    for ``one-cycle`` (Smith's, as ``torch.optim.lr_scheduler.OneCycleLR`` draws it), a half
    cosine up from ``WARM_START`` to 1 over the first ``WARM_UP`` of the steps, then one down to
    ``COSINE_FLOOR / 100``."""
    if kind not in LR_SCHEDULES:
        raise ValueError(f"learning-rate schedule must be one of {', '.join(LR_SCHEDULES)}, got {kind!r}")
    if kind == "constant" or total_steps <= 1:
        return lambda step: 1.0
    last = total_steps - 1
    if kind == "cosine":
        return lambda step: _cosine(min(step, last) / last, 1.0, COSINE_FLOOR)
    peak = max(1, round(WARM_UP * last))

    def one_cycle(step: int) -> float:
        step = min(step, last)
        if step < peak:
            return _cosine(step / peak, WARM_START, 1.0)
        return _cosine((step - peak) / max(last - peak, 1), 1.0, COSINE_FLOOR / 100)

    return one_cycle


def _cosine(t: float, start: float, end: float) -> float:
    """Half a cosine from ``start`` (t = 0) to ``end`` (t = 1)."""
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * t))


def lr_schedule(opt: torch.optim.Optimizer, kind: str, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """``torch.optim.lr_scheduler.LambdaLR`` over ``lr_factor``; stepped after every step."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(kind, total_steps))


# ----------------------------------------------------------------------------------------------
# Where a run stands


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
class RunningSums:
    """Sums of the step's terms over the batches of the current epoch."""

    sums: dict[str, float] = field(default_factory=dict)
    batches: int = 0

    def add(self, terms: Mapping[str, float]) -> None:
        for k, v in terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.batches += 1

    def postfix(self) -> dict[str, str]:
        n = max(self.batches, 1)
        return {k: f"{v / n:.5g}" for k, v in self.sums.items()}

    def means(self, device: torch.device, dist: Distributed) -> dict[str, float]:
        """Per-batch means over every process's batches."""
        keys = sorted(self.sums)
        t = torch.tensor([self.sums[k] for k in keys] + [self.batches], dtype=torch.float64, device=device)
        if dist.world > 1:
            torch.distributed.all_reduce(t)
        n = max(float(t[-1]), 1.0)
        return {k: float(v) / n for k, v in zip(keys, t[:-1].tolist())}


@dataclass
class RunState:
    """The loop's position: ``epoch`` epochs done, ``batch`` batches into the next one."""

    epoch: int = 0
    batch: int = 0
    running: RunningSums = field(default_factory=RunningSums)
    history: list[dict] = field(default_factory=list)
    step: int = 0  # optimisation steps taken in all (the schedule's position)

    def meta(self) -> dict:
        return {"epoch": self.epoch, "batch": self.batch, "step": self.step,
                "sums": {"sums": self.running.sums, "batches": self.running.batches},
                "history": self.history}

    @classmethod
    def from_meta(cls, meta: Mapping[str, str]) -> "RunState":
        sums = json.loads(meta["sums"])
        return cls(int(meta["epoch"]), int(meta["batch"]), RunningSums(sums["sums"], int(sums["batches"])),
                   json.loads(meta["history"]), int(meta.get("step", 0)))


@dataclass
class RunResult:
    status: str  # "finished" or "interrupted"
    epoch: int  # epochs completed
    history: list[dict] = field(default_factory=list)


def checkpoint_meta(path: Path) -> dict[str, str]:
    """A checkpoint's metadata (counters, history, options); a missing or corrupt one says so."""
    if not path.is_file():
        raise RunFolderError(f"{path}: nothing to resume (no checkpoint)")
    try:
        return read_safetensors_metadata(path)
    except ValueError as e:  # a corrupt header
        raise RunFolderError(f"unreadable checkpoint: {e}") from None


def saved_options(path: Path) -> tuple[dict, dict]:
    """``(model config, training options)`` as stored in a checkpoint (for ``--resume``)."""
    meta = checkpoint_meta(path)
    try:
        return json.loads(meta["model_config"]), json.loads(meta["train_config"])
    except (KeyError, json.JSONDecodeError) as e:
        raise RunFolderError(f"{path}: not a checkpoint of this project ({e})") from None


# ----------------------------------------------------------------------------------------------
# The driver


@dataclass
class Run:
    """One training run (see the module docstring).

    Attributes:
        folder: the run folder (None: write nothing).
        modules: what the checkpoint holds, by prefix (``{"model": net, "head": head}``).
        opt / schedule: the optimiser and its ``LambdaLR`` (``lr_schedule``), stepped per batch.
        model_config: the model's ``SavedConfig``; ``options``: the training options (a
            dataclass); both stored in the checkpoint, and a resume into another model refused.
        epochs / steps: total epochs, and optimisation steps per epoch (per process).
        checkpoint: the checkpoint's file name in ``folder``.
        extra: other tensors the checkpoint keeps (e.g. the classic VAEs' animation frames).
        images_per_step: images in one step over all processes (for the images per second).
    """

    folder: Path | None
    modules: dict[str, nn.Module]
    opt: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    model_config: object
    options: object
    epochs: int
    steps: int
    images_per_step: int
    checkpoint: str = CHECKPOINT
    dist: Distributed = field(default_factory=Distributed)
    progress: bool = True
    log: Callable[[str], None] = print
    desc: str = "epoch"
    extra: Callable[[], dict[str, torch.Tensor]] = dict

    @property
    def path(self) -> Path | None:
        return None if self.folder is None else Path(self.folder) / self.checkpoint

    @property
    def writes(self) -> bool:
        return self.folder is not None and self.dist.main

    # ------------------------------------------------------------------------------------------

    def check_folder(self, resume: bool, holds: Iterable[str] = ()) -> None:
        """Refuse to start where it would overwrite another run (``holds``: the files a run
        leaves besides its checkpoint) or resume into another model."""
        if self.folder is None:
            if resume:
                raise RunFolderError("resuming needs a run folder")
            return
        folder = Path(self.folder)
        has = [n for n in (self.checkpoint, *holds) if (folder / n).exists()]
        if not resume and has:
            raise RunFolderError(f"{folder} already holds a run ({', '.join(has)}); pass --resume to "
                                 f"continue it or choose a new --out. Nothing was changed.")
        if resume:
            saved, _ = saved_options(self.path)
            cls = type(self.model_config)
            try:
                diff = cls.from_dict(saved).differences(self.model_config)
            except (TypeError, ValueError) as e:
                raise RunFolderError(f"{self.path} holds another kind of model ({e}). Nothing was changed.") from None
            if diff:
                raise RunFolderError(f"{self.path} holds another architecture: {'; '.join(diff)}. "
                                     f"Nothing was changed.")

    def resume(self) -> tuple[RunState, dict[str, torch.Tensor]]:
        """Restore the modules, optimiser, schedule and RNG states; the state and extra tensors."""
        meta = load_checkpoint(self.path, self.modules, self.opt)
        state = RunState.from_meta(meta)
        if "schedule" in meta:
            self.schedule.load_state_dict(json.loads(meta["schedule"]))
        if self.dist.main:
            self.log(f"resuming {self.folder} at epoch {state.epoch + 1}, batch {state.batch}")
        return state, read_extra(self.path)

    def save(self, state: RunState) -> None:
        if not self.writes:
            return
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        options = asdict(self.options) if is_dataclass(self.options) else dict(self.options)
        meta = {**state.meta(), "model_config": self.model_config.to_dict(), "train_config": options,
                "schedule": self.schedule.state_dict()}
        save_checkpoint(self.path, self.modules, self.opt, meta, extra=self.extra())

    # ------------------------------------------------------------------------------------------

    def fit(self, state: RunState, batches: Callable[[int], Iterable], step: Callable[[object], Mapping[str, float]],
            end_epoch: Callable[[int, dict[str, float]], dict] = lambda epoch, means: {},
            on_batch: Callable[[int, int], None] | None = None, device: torch.device | None = None
            ) -> RunResult:
        """Train from ``state`` to ``epochs``: ``batches(epoch)`` gives the epoch's batches (the
        same ones again on resume), ``step(batch)`` trains on one and returns its terms,
        ``end_epoch(epoch, train_means)`` evaluates and writes the epoch's own files (rank 0) and
        returns the metrics row's other columns. ``on_batch(epoch, batch)`` runs after every step,
        once ``state`` counts it, so a ``KeyboardInterrupt`` raised there checkpoints a consistent
        state. Ctrl-C writes a checkpoint and returns ``status="interrupted"``."""
        device = device or torch.device("cpu")
        try:
            while state.epoch < self.epochs:
                seconds = self._epoch(state, batches, step, on_batch)
                self._end(state, seconds, end_epoch, device)
        except KeyboardInterrupt:
            self.save(state)
            if self.writes:
                self.log(f"interrupted at epoch {state.epoch + 1}, batch {state.batch}: checkpoint "
                         f"written to {self.path}; run again with --resume to continue")
            return RunResult("interrupted", state.epoch, state.history)
        return RunResult("finished", self.epochs, state.history)

    def _epoch(self, state: RunState, batches, step, on_batch) -> float:
        """The rest of epoch ``state.epoch`` (from batch ``state.batch``); returns its seconds."""
        for m in self.modules.values():
            m.train()
        t0 = time.perf_counter()
        with tqdm(total=self.steps, initial=state.batch, desc=f"{self.desc} {state.epoch + 1}/{self.epochs}",
                  unit="batch", disable=not (self.progress and self.dist.main), leave=False) as bar:
            for i, batch in enumerate(batches(state.epoch)):
                if i < state.batch:  # resumed mid-epoch: these batches were already trained on
                    continue
                terms = step(batch)
                self._lr = self.opt.param_groups[0]["lr"]  # the rate this step used
                self.schedule.step()
                state.running.add(terms)
                state.batch, state.step = i + 1, state.step + 1
                bar.update(1)
                bar.set_postfix(state.running.postfix())
                if on_batch:
                    on_batch(state.epoch, i)
        return time.perf_counter() - t0

    def _end(self, state: RunState, seconds: float, end_epoch, device: torch.device) -> None:
        """Evaluate, log, write the epoch's files, metrics and a checkpoint, then move ``state``
        to the next epoch (only then: a Ctrl-C in here resumes into this epoch's end again)."""
        epoch = state.epoch + 1
        means = state.running.means(device, self.dist)
        lr = getattr(self, "_lr", self.opt.param_groups[0]["lr"])  # the epoch's last step's rate
        if self.dist.main:
            row = {"epoch": epoch, **{f"train_{k}": v for k, v in means.items()},
                   **end_epoch(epoch, means), "lr": lr, "seconds": round(seconds, 2),
                   "images_per_second": round(self.steps * self.images_per_step / max(seconds, 1e-9), 1)}
            history = state.history + [row]
            if self.writes:
                Path(self.folder).mkdir(parents=True, exist_ok=True)
                write_metrics(Path(self.folder) / METRICS, history)
            self.save(RunState(epoch, 0, RunningSums(), history, state.step))
            self.log(f"{self.desc} {epoch}/{self.epochs}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds", "lr"))
                + f" ({seconds:.0f} s)")
            state.history = history
        state.epoch, state.batch, state.running = epoch, 0, RunningSums()
        if self.dist.world > 1:
            torch.distributed.barrier()


def same_setup(path: Path, setup: Mapping, what: str = "another run", before: Mapping | None = None) -> None:
    """A run resumed in ``path`` must see the same faces and options it began with (only
    ``epochs`` may grow); otherwise a ``RunFolderError`` naming each difference. ``before``: the
    value of each option added since, for checkpoints written before it existed."""
    _, saved = saved_options(path)
    saved = {**(before or {}), **saved}
    diff = [f"{k}: {saved.get(k)} != {v}" for k, v in setup.items() if k != "epochs" and saved.get(k) != v]
    if diff:
        raise RunFolderError(f"{path} holds {what} ({'; '.join(diff)})")


def descend(opt: torch.optim.Optimizer, loss: torch.Tensor, what: str = "the loss") -> dict[str, float]:
    """One optimiser step on ``loss``, refused (``FloatingPointError``) when it is not finite;
    the step's metrics for ``Run.fit``."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{what} became {float(loss.detach())}; try a lower lr")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": loss.item()}


def write_metrics(path: Path, history: list[dict]) -> None:
    """``metrics.csv``: one row per epoch, the columns in the order the first row has them."""
    columns = list(dict.fromkeys(k for row in history for k in row))

    def write(p: Path) -> None:
        with open(p, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            w.writerows(history)

    atomic_write(path, write)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling of epoch ``epoch``: a function of the seed alone, so resume reproduces it."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)
