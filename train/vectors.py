"""Build the attribute vector bank: ``python -m train.vectors --model RUN --data ROOT``.

Encodes labelled faces once and derives all 40 attribute directions (the seed's running-means
recipe, in one pass). Writes RUN/attribute_vectors.safetensors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from disguise.attributes import ATTRIBUTES, NOT_DRAWN
from disguise.data.cache import load_split
from disguise.data.celeba import CelebAError, open_celeba
from disguise.vae.model import VAE
from disguise.vae.vectors import BANK_NAME, BATCH_SIZE, MAX_POSITIVES, THRESHOLD, build_bank, labelled_batches
from train._cli import fail, run


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m train.vectors", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="run or weights folder (config.json, model.safetensors)")
    p.add_argument("--data", required=True, help="CelebA-format folder")
    p.add_argument("--split", default="train", choices=["train", "valid", "test", "all"])
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                   help="faces per batch: with --threshold, sets how many faces each mean averages")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="stop when both means move less")
    p.add_argument("--max-positives", type=int, default=MAX_POSITIVES)
    p.add_argument("--seed", type=int, default=0, help="order in which faces are visited")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help=f"default: MODEL/{BANK_NAME}")
    p.add_argument("--force", action="store_true", help="replace an existing bank")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    if args.batch_size < 1 or args.max_positives < 1 or not args.threshold > 0:
        fail("--batch-size and --max-positives must be at least 1 and --threshold positive")
    out = Path(args.out) if args.out else Path(args.model) / BANK_NAME
    if out.exists() and not args.force:
        fail(f"{out} exists; pass --force to replace it")
    model = VAE.from_pretrained(args.model, device=args.device)
    data = open_celeba(args.data)
    images, labels, rep = load_split(data, args.split, model.config.policy, progress=not args.quiet)
    print(rep.summary())
    start = time.perf_counter()
    total = -(-len(images) // args.batch_size)
    bank = build_bank(model, labelled_batches(images, labels, args.batch_size, args.seed),
                      threshold=args.threshold, max_positives=args.max_positives,
                      device=args.device, progress=not args.quiet, total=total)
    bank.save(out)
    took = time.perf_counter() - start
    print(f"{'attribute':20s} {'pos':>6s} {'neg':>6s} {'batches':>7s} {'|diff|':>7s}  converged")
    for r in bank.records:
        flag = "  (not drawn in the synthetic set)" if r.name in NOT_DRAWN else ""
        print(f"{r.name:20s} {r.positives:6d} {r.negatives:6d} {r.batches:7d} {r.raw_norm:7.3f}  "
              f"{'yes' if r.converged else 'no '}{flag}")
    print(f"wrote {len(ATTRIBUTES)} vectors to {out} in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, expected=(CelebAError, ValueError, FileNotFoundError)))
