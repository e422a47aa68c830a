"""How fast the synthetic CelebA renders: images per second on one core and on all of them.

    python bench/synthetic_speed.py [--count 2000] [--repeats 3]

Target (issue 2): at least 300 images per second per core, JPEG files written included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from disguise.data.synthetic import write_dataset  # noqa: E402


def rate(count: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        start = time.perf_counter()
        write_dataset(d, count, seed=0, workers=workers)
        return count / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    cores = os.cpu_count() or 1
    one = [rate(args.count, 1) for _ in range(args.repeats)]
    alln = [rate(args.count, cores) for _ in range(args.repeats)]
    print(f"synthetic CelebA, {args.count} images, median of {args.repeats}:")
    print(f"  1 process : {statistics.median(one):7.0f} img/s per core   (target >= 300)")
    print(f"  {cores} processes: {statistics.median(alln):7.0f} img/s in all, "
          f"{statistics.median(alln) / cores:.0f} per core")


if __name__ == "__main__":
    main()
