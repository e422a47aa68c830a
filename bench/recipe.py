"""The whole recipe's time, stage by stage: ``train.recipe`` from a data folder, or a finished run's
record read back.

    python bench/recipe.py --data data/synthetic --out runs/bench-recipe     # run it (hours on a CPU)
    python bench/recipe.py --report runs/recipe                              # a run's figures

Prints each stage's time, the total against the target (issue 42: the 30,000-face synthetic set at
64 px within 3 hours on 2 CPU cores; within 1 hour on one GPU for a CelebA-sized set at 128 px),
and the judge's figures. The times are those of the run's last pass through each stage (a stage
resumed after a stop counts the time since it resumed), or for the sliders the sum of their steps'
own times, each kept as it finished (``StageRecord.time``). So for each training stage it also prints
its epochs' own time from their metrics (every pass), and the median epoch times the epochs: the
stage's training at the pace it mostly ran, which a few epochs slowed by other work do not move.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path
from statistics import median

import _common

from disguise.recipe.ledger import StageRecord
from disguise.recipe.runner import NAMES


def report(run: Path) -> None:
    record = json.loads((run / "recipe.json").read_text())
    data = record["data"]
    print(f"{run}: {data['faces']:,} faces ({data['kind']}), {record['command']}")
    total = 0.0
    order = {name: k for k, name in enumerate(NAMES)}
    for name, raw in sorted(record["stages"].items(), key=lambda kv: order.get(kv[0], len(order))):
        stage = StageRecord(**raw)
        total += stage.time
        print(f"  {name:12s} {stage.status:8s} {stage.time / 60:7.1f} min  {stage.summary}")
    print(f"  {'all':12s} {'':8s} {total / 60:7.1f} min ({total / 3600:.2f} h; target on 2 CPU cores: 3 h)")
    for name, folders in _trained(run).items():
        runs = [s for s in ([float(r["seconds"]) for r in _rows(f / "metrics.csv")] for f in folders) if s]
        if runs:
            epochs, own = sum(map(len, runs)), sum(map(sum, runs))
            paced = sum(median(s) * len(s) for s in runs)
            print(f"  {name:12s} {epochs} epochs in {len(runs)} runs, their own time {own / 60:.1f} min; each "
                  f"run's median epoch x its epochs: {paced / 60:.1f} min")
    figures = record["stages"].get("evaluation", {}).get("figures", {})
    for who in ("judge", "chooser", "baseline"):
        f = figures.get(who)
        if f:
            print(f"  {who:9s} adds at 90/90: {f['adds']} of {f['attributes']}, at 50% at the end: {f['floor']} of "
                  f"{f['informative']}, removals: {f['removals']}")
    if "psnr" in figures:
        print(f"  PSNR {figures['psnr']:.2f} dB")


def _trained(run: Path) -> dict[str, list[Path]]:
    """The training runs in each stage's work folder (the VAE's phases, the three classifiers, the
    identity model)."""
    work = run / "work"
    return {"vae": sorted((work / "vae").glob("phase-*"), key=lambda p: int(p.name.split("-")[1])),
            "classifiers": [work / "classifiers" / role for role in ("guide", "chooser", "judge")],
            "identity": [work / "identity"]}


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="a CelebA-format folder (default: a 30,000-face synthetic set)")
    p.add_argument("--out", default=None, help="the run folder to make (default: under the temp folder)")
    p.add_argument("--report", default=None, help="only print the figures of this finished run")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="more train.recipe options, after --")
    args = p.parse_args()
    if args.report:
        report(Path(args.report))
        return
    data = args.data or str(_common.synthetic_data(30000))
    out = args.out or str(Path(data).with_name(Path(data).name + "-recipe"))
    extra = [a for a in args.extra if a != "--"]
    subprocess.run([sys.executable, "-m", "train.recipe", "--data", data, "--out", out, *extra],
                   cwd=_common.ROOT, check=True)
    report(Path(out))


if __name__ == "__main__":
    main()
