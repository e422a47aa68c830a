"""Training a face VAE on a CelebA-format folder, through the project's run driver.

What is the face VAE's own here: its options (``TrainConfig``), its step (``train_step``: the VAE
loss, refused before the step when not finite), its validation (``evaluate_loss``), and what an
epoch's end writes besides the driver's checkpoint and ``metrics.csv``
(``disguise.training.driver``): ``config.json`` + ``model.safetensors`` (what the app and
``train.vectors`` load), ``training.json``, ``loss_curve.png`` and sample grids under
``samples/``. Several processes (``torchrun``) train with DistributedDataParallel; only rank 0
writes. ``train_step`` and ``evaluate_loss`` take any model whose ``forward`` gives ``(recon, mu,
log_var)``, so the seeds' classic VAEs train with them too (``disguise.classic.training``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..classifier.consistency import AttributeConsistency, attributes_for
from ..classifier.model import classifier_policy, load_classifier
from ..data.batches import iterate_batches, resident_copy
from ..data.cache import load_split
from ..data.celeba import CelebA, open_celeba
from ..files import write_json, write_png
from ..preprocess import to_tensor
from ..pretrained import evaluating, load_strict
from ..training.driver import (
    CHECKPOINT,
    LR_SCHEDULES,
    Distributed,
    Run,
    RunFolderError,
    RunResult,
    RunState,
    epoch_generator,
    lr_factor,
    lr_schedule,
    saved_options,
)
from ..training.figures import image_grid, line_chart
from .losses import LOSSES, LossConfig, vae_loss
from .model import VAE, WEIGHTS_NAME, VAEConfig, resolve_pretrained

__all__ = ["TrainConfig", "train", "train_step", "evaluate_loss", "Distributed", "RunFolderError",
           "RunResult", "saved_model_config", "saved_train_config"]


@dataclass
class TrainConfig:
    """How a face VAE trains (the seed's defaults: Adam, lr 0.0005, batch 32, r_loss_factor 10000).

    Attributes:
        epochs: total epochs; a resumed run continues up to this number.
        batch_size: images per step (per process under torchrun).
        lr: Adam's learning rate (the peak, under a schedule).
        lr_schedule: constant (the seed's), cosine: down to 1% of lr by the last step, or one-cycle:
            up to lr over the first 30% of the steps, then down (each a function of the step
            alone, so resume reproduces it).
        loss: mse (the seed's r_loss_factor x MSE + KL), bce-sum or bce-mean.
        r_loss_factor: the weight of the MSE term.
        kl_weight: the weight of the KL term.
        seed: seeds the weights, the shuffling and dropout; CPU runs repeat exactly.
        device: auto (CUDA when present), cpu or cuda[:N].
        amp: bfloat16 autocast on CUDA (ignored on CPU).
        channels_last: NHWC memory format on CUDA (ignored on CPU).
        grid_faces: faces in the per-epoch picture grids.
        val_limit: validation faces per epoch (0: all).
        train_limit: training faces (0: all; the recipe's --smoke trains on a few hundred).
        init: a model folder (or Hub id) whose weights a new run starts from instead of random
            ones (fine-tuning); its architecture must be the run's. Ignored when resuming.
        attribute_classifier: a folder with an attribute classifier (attribute_classifier.*, from
            train.attributes) for the attribute-consistency loss: it reads every reconstruction
            and the loss holds its reading to the face's labels, so the decoder draws what the
            labels say. Train it on other people than the judge that evaluates the model.
        attribute_weight: the weight of that loss (binary cross-entropy summed over the
            attributes the data's pictures show); 0: off.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-4
    loss: str = field(default="mse", metadata={"choices": LOSSES})
    r_loss_factor: float = 10000.0
    kl_weight: float = 1.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    grid_faces: int = 8
    val_limit: int = 2000
    train_limit: int = 0
    lr_schedule: str = field(default="constant", metadata={"choices": LR_SCHEDULES})
    init: str | None = None
    attribute_classifier: str | None = None
    attribute_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise ValueError(f"learning rate must be positive, got {self.lr}")
        lr_factor(self.lr_schedule, 1)  # raises on an unknown schedule
        LossConfig(self.loss, self.r_loss_factor, self.kl_weight)  # raises on bad loss options
        if not (self.attribute_weight >= 0 and np.isfinite(self.attribute_weight)):
            raise ValueError(f"attribute_weight must be 0 or more, got {self.attribute_weight}")
        if (self.attribute_weight > 0) != bool(self.attribute_classifier):
            raise ValueError("the attribute loss needs both --attribute-classifier (a folder with an attribute "
                             "classifier: python -m train.attributes) and a positive --attribute-weight")

    @property
    def loss_config(self) -> LossConfig:
        return LossConfig(self.loss, self.r_loss_factor, self.kl_weight)

    def lr_at(self, step: int, total: int) -> float:
        """The learning rate of optimisation step ``step`` (from 0) of ``total``."""
        return self.lr * lr_factor(self.lr_schedule, total)(step)


def saved_train_config(run: Path) -> dict:
    """The training options stored in a run's checkpoint (``--resume`` keeps them by default)."""
    options = saved_options(Path(run) / CHECKPOINT)[1]
    if "attribute_net" in options:  # a checkpoint from before the option was named attribute_classifier
        options["attribute_classifier"] = options.pop("attribute_net")
    return options


def saved_model_config(run: Path) -> VAEConfig:
    """The model config stored in a run's checkpoint (for ``--resume`` without repeating options)."""
    return VAEConfig.from_dict(saved_options(Path(run) / CHECKPOINT)[0])


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


# ----------------------------------------------------------------------------------------------
# The step and the validation (shared with the classic VAEs)


def train_step(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, loss_cfg: LossConfig,
               autocast=contextlib.nullcontext(), where: str = "",
               extra: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
    """One optimisation step on batch ``x``; returns the loss terms as floats.

    ``extra(recon)``, when given, is a further term of the loss (``attr`` among the terms; the
    total includes it): the attribute-consistency loss (``disguise.classifier.consistency``).
    A loss that is not finite is an error (``FloatingPointError``, naming ``where``) raised before
    the step, so the weights are never updated from it.
    """
    with autocast:
        recon, mu, log_var = net(x)
    terms = vae_loss(recon, x, mu, log_var, loss_cfg)
    total, items = terms.total, terms.items()
    if extra is not None:
        attr = extra(recon)
        total = total + attr
        items.update(total=float(total.detach()), attr=float(attr.detach()))
    if not torch.isfinite(total):
        at = f" at {where}" if where else ""
        raise FloatingPointError(f"the loss became {float(total.detach())}{at}; try a lower --lr")
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()
    return items


@torch.no_grad()
def evaluate_loss(model: nn.Module, images: np.ndarray, loss_cfg: LossConfig, device: torch.device,
                  batch_size: int = 128, seed: int = 0,
                  to_batch: Callable[[np.ndarray, torch.device], torch.Tensor] = to_tensor,
                  extra: Callable[[np.ndarray], Callable[[torch.Tensor], torch.Tensor]] | None = None
                  ) -> dict[str, float]:
    """Mean loss terms over ``images`` in eval mode (the model's mode is restored), with a fixed
    noise stream (repeatable). ``to_batch(images, device)`` makes a float batch of stored images
    (default: RGB faces). ``extra(rows)``, when given, is the further term of ``train_step`` for
    the images at ``rows`` (``attr``, in the total too), so training and validation measure the
    same loss."""
    gen = torch.Generator(device=device).manual_seed(seed + 2)
    totals, n = {"total": 0.0, "recon": 0.0, "kl": 0.0}, 0
    with evaluating(model):
        for start in range(0, len(images), batch_size):
            x = to_batch(images[start:start + batch_size], device)
            recon, mu, log_var = model(x, generator=gen)
            t = vae_loss(recon, x, mu, log_var, loss_cfg)
            terms = {"total": float(t.total), "recon": float(t.recon), "kl": float(t.kl)}
            if extra is not None:
                terms["attr"] = float(extra(np.arange(start, start + len(x)))(recon))
                terms["total"] += terms["attr"]
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + v * len(x)
            n += len(x)
    return {k: v / max(n, 1) for k, v in totals.items()}


# ----------------------------------------------------------------------------------------------
# The run


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
    data = open_celeba(data_root)
    model_cfg = dataclasses.replace(model_cfg, trained_on=data.kind)
    classifier = (load_classifier(cfg.attribute_classifier, device, classifier_policy(model_cfg.policy))
                  if cfg.attribute_weight > 0 else None)
    train_x, train_y, val_x, val_y = _load_faces(data, model_cfg, cfg, dist, progress, log)
    consistency = val_consistency = None
    if classifier is not None:
        shown = attributes_for(data.kind)
        consistency = AttributeConsistency(classifier, train_y, shown, cfg.attribute_weight, device)
        val_consistency = AttributeConsistency(classifier, val_y, shown, cfg.attribute_weight, device)
        if dist.main:
            log(f"attribute loss: {cfg.attribute_weight:g} x the reading of {cfg.attribute_classifier}'s classifier")
    torch.manual_seed(cfg.seed)
    model = VAE(model_cfg)
    if cfg.init and not resume:
        start_from(model, cfg.init)
        if dist.main:
            log(f"starting from the weights in {cfg.init}")
    model, net, resident = _place(model, cfg, dist, device, train_x)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps = len(train_x) // dist.world // cfg.batch_size
    run = Run(folder, {"model": model}, opt, lr_schedule(opt, cfg.lr_schedule, cfg.epochs * steps),
              model_cfg, cfg, cfg.epochs, steps, cfg.batch_size * dist.world, dist=dist,
              progress=progress, log=log)
    if dist.main:
        run.check_folder(resume, holds=(WEIGHTS_NAME, "config.json"))
    state, _ = run.resume() if resume else (RunState(), {})
    if dist.main:
        (folder / "samples").mkdir(parents=True, exist_ok=True)
        write_json(folder / "training.json", {"data": str(Path(data_root).resolve()), "train": asdict(cfg),
                                              "model": model_cfg.to_dict(), "world_size": dist.world})
    fixed_faces = to_tensor(val_x[:cfg.grid_faces], device)
    fixed_z = torch.randn(cfg.grid_faces, model_cfg.z_dim,
                          generator=torch.Generator().manual_seed(cfg.seed + 1)).to(device)
    cuda = device.type == "cuda"

    def batches(epoch: int):
        return iterate_batches(len(train_x), cfg.batch_size, shuffle=True, generator=epoch_generator(cfg.seed, epoch),
                               rank=dist.rank, world=dist.world, drop_last=True)

    def step(idx: np.ndarray) -> dict[str, float]:
        faces = resident[torch.from_numpy(idx).to(device)] if resident is not None else train_x[idx]
        x = to_tensor(faces, device)
        if cuda and cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda and cfg.amp else contextlib.nullcontext()
        return train_step(net, opt, x, cfg.loss_config, autocast,
                          extra=consistency.term(idx) if consistency else None)

    def end_epoch(epoch: int, means: dict[str, float]) -> dict:
        val = evaluate_loss(model, val_x, cfg.loss_config, device, cfg.batch_size * 4, cfg.seed,
                            extra=val_consistency.term if val_consistency else None)
        history = state.history + [{**{f"train_{k}": v for k, v in means.items()},
                                    **{f"val_{k}": v for k, v in val.items()}}]
        write_epoch_outputs(folder, model, history, fixed_faces, fixed_z, epoch)
        return {f"val_{k}": v for k, v in val.items()}

    return run.fit(state, batches, step, end_epoch, on_batch=on_batch, device=device)


def _load_faces(data: CelebA, model_cfg: VAEConfig, cfg: TrainConfig, dist: Distributed, progress: bool,
                log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The train and validation faces and labels, validated and cached (every list was checked on
    opening)."""
    train_x, train_y, rep = load_split(data, "train", model_cfg.policy, progress=progress and dist.main)
    val_x, val_y, vrep = load_split(data, "valid", model_cfg.policy, progress=progress and dist.main)
    if dist.main:
        for r in (rep, vrep):
            log(r.summary())
    train_x, train_y = train_x[:cfg.train_limit or len(train_x)], train_y[:cfg.train_limit or len(train_y)]
    if len(train_x) < cfg.batch_size * dist.world:
        raise ValueError(f"the train split has {len(train_x)} usable images, fewer than one batch "
                         f"of {cfg.batch_size} per process")
    if len(val_x) == 0:
        raise ValueError("the validation split is empty; list_eval_partition.txt needs some 1s")
    limit = cfg.val_limit or len(val_x)
    return train_x, train_y, val_x[:limit], val_y[:limit]


def _place(model: VAE, cfg: TrainConfig, dist: Distributed, device: torch.device, train_x: np.ndarray
           ) -> tuple[VAE, nn.Module, torch.Tensor | None]:
    """The model on its device (channels-last on CUDA), its DDP wrapper under torchrun, and on a
    GPU the training faces resident there when they fit in half its free memory."""
    model = model.to(device)
    if device.type == "cuda" and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if dist.world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    resident = None
    if device.type == "cuda" and train_x.nbytes < 0.5 * torch.cuda.mem_get_info(device)[0]:
        resident = resident_copy(train_x, device)
    return model, net, resident


def start_from(model: VAE, source: str) -> None:
    """Load the weights of the model folder (or Hub id) ``source`` into ``model``, strictly."""
    folder, config = resolve_pretrained(source)
    diff = config.differences(model.config)
    if diff:
        raise ValueError(f"the model in {source} holds another architecture than this run's: "
                         f"{'; '.join(diff)}")
    load_strict(model, folder / WEIGHTS_NAME)


def write_epoch_outputs(run: Path, model: VAE, history: list[dict], faces: torch.Tensor,
                        z: torch.Tensor, epoch: int) -> None:
    """The loadable model, the loss curve and this epoch's two picture grids."""
    model.save_pretrained(run)
    chart = line_chart({k: [h[k] for h in history] for k in
                        ("train_total", "val_total", "train_recon", "val_recon", "train_kl", "val_kl")},
                       title="loss per image (log scale)", ylabel="loss", log_y=True)
    write_png(run / "loss_curve.png", chart)
    with torch.no_grad(), evaluating(model):
        recon = model.decode(model.encode(faces)[0])
        prior = model.decode(z)
    samples = run / "samples"
    samples.mkdir(exist_ok=True)
    n = len(faces)
    write_png(samples / f"epoch_{epoch:03d}_recon.png", image_grid(torch.cat([faces, recon]), nrow=n))
    write_png(samples / f"epoch_{epoch:03d}_prior.png", image_grid(prior, nrow=n))
