"""The seed's plain conv VAE against the residual variant, for the same wall-clock budget.

    python bench/arch_compare.py [--size 64] [--seconds 90]

Each architecture trains from the same seed on the same synthetic faces for the same time; the
table gives parameters, training speed, steps reached and the validation loss (per image, the
seed's MSE x 10000 + KL) at the end.
"""

from __future__ import annotations

import argparse
import time

import _common
import torch

from disguise.data.batches import iterate_batches
from disguise.data.cache import load_split
from disguise.data.celeba import open_celeba
from disguise.preprocess import Preprocess, to_tensor
from disguise.pretrained import count_parameters
from disguise.vae.losses import LossConfig
from disguise.vae.model import VAE, VAEConfig
from disguise.vae.training import evaluate_loss, train_step


def run(arch: str, size: int, seconds: float, train_x, val_x) -> dict:
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_size=size, arch=arch, preprocess=Preprocess(size=size).to_dict()))
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    loss = LossConfig()
    steps, epoch, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for idx in iterate_batches(len(train_x), 32, True, torch.Generator().manual_seed(epoch), drop_last=True):
            train_step(model, opt, to_tensor(train_x[idx]), loss)
            steps += 1
            if time.perf_counter() - start >= seconds:
                break
        epoch += 1
    took = time.perf_counter() - start
    val = evaluate_loss(model, val_x, loss, torch.device("cpu"))
    return {"arch": arch, "params": count_parameters(model), "img_s": steps * 32 / took,
            "steps": steps, "val": val["total"], "recon": val["recon"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seconds", type=float, default=90)
    p.add_argument("--data", default=None)
    args = p.parse_args()
    data = open_celeba(args.data or _common.synthetic_data(4000))
    policy = Preprocess(size=args.size)
    train_x, _, _ = load_split(data, "train", policy, progress=False)
    val_x, _, _ = load_split(data, "valid", policy, progress=False)
    rows = [run(a, args.size, args.seconds, train_x, val_x[:500]) for a in ("conv", "resnet")]
    print(f"conv vs resnet VAE, {args.size} x {args.size}, batch 32, {args.seconds:.0f} s of "
          f"training each on {torch.get_num_threads()} CPU threads:")
    print(f"  {'arch':7s} {'params':>9s} {'img/s':>7s} {'steps':>6s} {'val loss':>9s} {'val recon':>9s}")
    for r in rows:
        print(f"  {r['arch']:7s} {r['params']:9,d} {r['img_s']:7.0f} {r['steps']:6d} {r['val']:9.1f} "
              f"{r['recon']:9.1f}")


if __name__ == "__main__":
    main()
