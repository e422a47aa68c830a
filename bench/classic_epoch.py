"""Seconds per training epoch of the classic VAEs and of the project's face VAEs, on the CPU.

    python bench/classic_epoch.py [--threads 2] [--batches 20] [--repeats 3]

Each model trains with the project's own step (``disguise.vae.training.train_step``) at its seed's
batch size and optimiser. An epoch is not run to the end: ``--repeats`` runs of ``--batches``
steps are timed after warm-up steps, and the median seconds per step is multiplied by the steps of
one epoch of the data set the model is for: 60,000 images (Fashion-MNIST / MNIST), 1,965 (Frey
faces), 162,770 (CelebA's train split). The face VAEs are the bundled model's architecture
(``weights/config.json``: 64 px, filters 64-128-128-128, z 200) as ``arch="conv"`` and as the
residual ``arch="resnet"``, at batch 32 with Adam. Inputs are random: the time does not depend
on the pixels.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _common  # noqa: F401  (puts the repository on the import path)
import numpy as np
import torch

from disguise.classic.data import to_batch
from disguise.classic.model import SEED_RECIPES, ClassicConfig, ClassicVAE, make_optimizer
from disguise.pretrained import count_parameters
from disguise.vae.losses import LossConfig
from disguise.vae.model import VAE, VAEConfig
from disguise.vae.training import train_step

EPOCH_IMAGES = {"fashion-mnist": 60_000, "frey": 1_965, "celeba": 162_770}


def step_seconds(model: torch.nn.Module, opt: torch.optim.Optimizer, make_batch, loss: LossConfig,
                 batches: int, repeats: int, warmup: int = 3) -> float:
    """Median seconds per optimisation step over ``repeats`` timed runs of ``batches`` steps."""
    model.train()
    for _ in range(warmup):
        train_step(model, opt, make_batch(), loss)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(batches):
            train_step(model, opt, make_batch(), loss)
        runs.append((time.perf_counter() - t0) / batches)
    return statistics.median(runs)


def classic_rows(batches: int, repeats: int) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for kind, recipe in SEED_RECIPES.items():
        cfg = ClassicConfig.for_kind(kind)
        torch.manual_seed(0)
        model = ClassicVAE(cfg)
        opt = make_optimizer(recipe.optimizer, model.parameters(), recipe.lr)
        pool = rng.integers(0, 256, (recipe.batch_size * 8, cfg.height, cfg.width), dtype=np.uint8)

        def make_batch(pool=pool, b=recipe.batch_size):
            return to_batch(pool[rng.integers(0, len(pool) - b + 1):][:b])

        per_step = step_seconds(model, opt, make_batch, LossConfig(recipe.loss, kl_weight=recipe.kl_weight),
                                batches, repeats)
        data = "frey" if kind == "frey" else "fashion-mnist"
        rows.append(dict(model=kind, params=count_parameters(model), batch=recipe.batch_size,
                         data=data, per_step=per_step, images=EPOCH_IMAGES[data]))
    return rows


def face_rows(batches: int, repeats: int) -> list[dict]:
    from _common import ROOT

    bundled = VAE.read_config(ROOT / "weights")
    rows = []
    for arch in ("conv", "resnet"):
        cfg = VAEConfig.from_dict({**bundled.to_dict(), "arch": arch})
        torch.manual_seed(0)
        model = VAE(cfg)
        opt = torch.optim.Adam(model.parameters(), lr=5e-4)
        x = torch.rand(32, 3, cfg.image_size, cfg.image_size)
        per_step = step_seconds(model, opt, lambda: x, LossConfig(), batches, repeats)
        rows.append(dict(model=f"face VAE ({arch}, {cfg.image_size} px)", params=count_parameters(model),
                         batch=32, data="celeba", per_step=per_step, images=EPOCH_IMAGES["celeba"]))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--batches", type=int, default=20, help="steps per timed run")
    p.add_argument("--repeats", type=int, default=3, help="timed runs (the median counts)")
    p.add_argument("--skip-faces", action="store_true", help="only the classic VAEs")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = classic_rows(args.batches, args.repeats)
    if not args.skip_faces:
        rows += face_rows(max(2, args.batches // 4), args.repeats)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s); median of "
          f"{args.repeats} timed runs, extrapolated to a full epoch")
    print("| model | parameters | batch | epoch of | ms / step | images / s | s / epoch |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for r in rows:
        steps = r["images"] // r["batch"]
        print(f"| {r['model']} | {r['params']:,} | {r['batch']} | {r['data']} ({r['images']:,}) | "
              f"{r['per_step'] * 1000:.1f} | {r['batch'] / r['per_step']:,.0f} | "
              f"{steps * r['per_step']:,.0f} |")


if __name__ == "__main__":
    main()
