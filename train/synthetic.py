"""Make a synthetic CelebA: ``python -m train.synthetic --out DIR --count N --seed S``.

Writes DIR/img_align_celeba/*.jpg and CelebA's four lists, with true labels and landmarks.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from tqdm.auto import tqdm

from disguise.data import synthetic
from train._cli import fail, run


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.synthetic", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True, help="folder to create (must be empty or new)")
    p.add_argument("--count", type=int, default=20000, help="number of images")
    p.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="rendering processes")
    p.add_argument("--sheet", default=None, help="also write a contact sheet PNG of the first faces")
    p.add_argument("--force", action="store_true", help="write into a folder that has files")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.count < 1:
        fail(f"--count must be at least 1, got {args.count}")
    if args.workers < 1:
        fail(f"--workers must be at least 1, got {args.workers}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        fail(f"--out {args.out} exists and is not a folder")
    if os.path.isdir(args.out) and os.listdir(args.out) and not args.force:
        fail(f"--out {args.out} is not empty; choose a new folder or pass --force to overwrite "
             f"the synthetic set there")
    start = time.perf_counter()
    with tqdm(total=args.count, desc="rendering faces", unit="img") as bar:
        plan = synthetic.write_dataset(args.out, args.count, args.seed, workers=args.workers,
                                       progress=bar.update)
    took = time.perf_counter() - start
    print(f"wrote {args.count} faces of {len(set(plan.person_of.tolist()))} people to {args.out} "
          f"in {took:.1f} s ({args.count / took:.0f} img/s)")
    if args.sheet:
        synthetic.contact_sheet(args.out).save(args.sheet)
        print(f"contact sheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
