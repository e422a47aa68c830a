"""Training images per second: the real input pipeline against a compute-only floor.

    python bench/train_throughput.py [--size 64] [--batch 32] [--steps 60] [--repeats 3]

Both loops run the trainer's own step (disguise.vae.training.train_step) on the same model. The real
one draws shuffled batches from the memory-mapped uint8 cache and converts them; the floor reuses
one batch already in memory as float. Target (issue 3): ratio >= 0.9 (data loading costs <= 10%).
On CUDA the batches come from the GPU-resident uint8 copy, as the trainer does.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import _common  # noqa: F401  (import path)
import torch

from disguise.data.batches import iterate_batches, resident_copy
from disguise.data.cache import load_split
from disguise.data.celeba import open_celeba
from disguise.preprocess import Preprocess, to_tensor
from disguise.vae.losses import LossConfig
from disguise.vae.model import VAE, VAEConfig
from disguise.vae.training import train_step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", default=None, help="CelebA-format folder (default: a synthetic one)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    dev = torch.device(args.device)
    root = args.data or _common.synthetic_data(4000)
    policy = Preprocess(size=args.size)
    images, _, _ = load_split(open_celeba(root), "train", policy, progress=False)
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_size=args.size, preprocess=policy.to_dict())).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    loss = LossConfig()
    ctx = (torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda"
           else contextlib.nullcontext())
    resident = resident_copy(images, dev) if dev.type == "cuda" else None

    def real() -> float:
        gen = torch.Generator().manual_seed(1)
        batches = iterate_batches(len(images), args.batch, True, gen, drop_last=True)
        t = time.perf_counter()
        for _, idx in zip(range(args.steps), batches):
            if resident is not None:
                x = resident[torch.from_numpy(idx).to(dev)].permute(0, 3, 1, 2).float().div_(255)
            else:
                x = to_tensor(images[idx]).to(dev)
            train_step(model, opt, x, loss, ctx)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return args.steps * args.batch / (time.perf_counter() - t)

    fixed = to_tensor(images[: args.batch]).to(dev)

    def floor() -> float:
        t = time.perf_counter()
        for _ in range(args.steps):
            train_step(model, opt, fixed, loss, ctx)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return args.steps * args.batch / (time.perf_counter() - t)

    real(), floor()  # warm-up
    r, f = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        r.append(real())
        f.append(floor())
    ratios = [a / b for a, b in zip(r, f)]
    print(f"training throughput, {args.size} x {args.size}, batch {args.batch}, {dev}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}:")
    print(f"  real pipeline (memory-mapped cache): {statistics.median(r):8.0f} img/s")
    print(f"  compute-only floor (batch in memory): {statistics.median(f):8.0f} img/s")
    print(f"  ratio: {statistics.median(ratios):.3f}   (target >= 0.9)")


if __name__ == "__main__":
    main()
