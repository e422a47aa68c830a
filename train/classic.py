"""Train one of the seeds' classic 2-D VAEs, or write the Frey stand-in file.

    python -m train.classic --model dense|linear|conv2d|frey --data DATA --out RUN [--epochs N] [--resume]
    python -m train.classic frey-standin --out data/frey_standin.mat [--count 1965] [--seed 0]
    python -m train.classic bundle --run RUN --out weights/classic

DATA is the folder of MNIST's four IDX files (plain or .gz) for dense, linear and conv2d, e.g.
Debian's Fashion-MNIST at /usr/share/datasets/fashion-mnist; for frey, a frey_rawface.mat-format
file. The real Frey file is not bundled: ``frey-standin`` writes the project's synthetic faces in
grey at 28 x 20 in Frey's exact layout, so the frey model runs end to end; it is not Frey's data.
Each model's defaults are its seed's. RUN receives the model, its test codes, a checkpoint,
metrics.csv and the figures (docs/classic.md); Ctrl-C writes a checkpoint and --resume continues
exactly (only --epochs may change). ``bundle`` copies a run's model (float16 weights, half the
bytes) and its codes into a folder the app loads (``disguise.classic.space``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from disguise.classic.data import load_frey_data, load_mnist_format
from disguise.classic.model import KINDS, SEED_RECIPES, ClassicConfig
from disguise.classic.training import FIGURES, ClassicTrainConfig, saved_options, train_classic
from disguise.data.idx import IDXError
from disguise.training.driver import RunFolderError
from train._cli import add_run_options, fail, run

TRAIN_OPTIONS = ("epochs", "batch_size", "lr", "seed", "frames", "test_limit")


def parse(argv: list[str] | None) -> argparse.Namespace:
    recipes = "; ".join(f"{k}: {r.optimizer} lr {r.lr:g}, batch {r.batch_size}, {r.epochs} epochs, "
                        f"{r.loss} + {r.kl_weight:.3g} KL" for k, r in SEED_RECIPES.items())
    p = argparse.ArgumentParser(prog="python -m train.classic", description=__doc__,
                                epilog=f"seed recipes: {recipes}",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(p, "MNIST-format folder (dense, linear, conv2d) or frey_rawface.mat-format file "
                       "(frey)", "continue the run in --out (its model and options)")
    p.add_argument("--model", choices=KINDS, default=None, help="which seed's VAE (required unless "
                                                                "--resume)")
    p.add_argument("--epochs", type=int, default=None, help="total epochs (default: the seed's)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the seed's")
    p.add_argument("--lr", type=float, default=None, help="default: the seed's (1e-3)")
    p.add_argument("--seed", type=int, default=None, help="default 0")
    p.add_argument("--frames", type=int, default=None,
                   help="about this many animation frames through the first epoch (default 60)")
    p.add_argument("--test-limit", type=int, default=None, help="test images per evaluation (0: all)")
    p.add_argument("--limit", type=int, default=0,
                   help="train on the first N training images only (0: all; for quick checks)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def parse_standin(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.classic frey-standin",
                                description="Write SYNTHETIC grey 28 x 20 faces in frey_rawface.mat's "
                                            "layout (variable ff, 560 x N uint8). Not Frey's faces.")
    p.add_argument("--out", required=True, help="the .mat file to write")
    p.add_argument("--count", type=int, default=1965, help="faces (Frey's file has 1965)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same faces")
    return p.parse_args(argv)


def write_standin(argv: list[str]) -> int:
    from disguise.data.frey import standin_faces, write_frey

    args = parse_standin(argv)
    if args.count < 2:
        fail(f"--count must be at least 2, got {args.count}")
    start = time.perf_counter()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_frey(args.out, standin_faces(args.count, args.seed))
    print(f"wrote {args.count} synthetic faces (a stand-in, not Frey's) in Frey's layout to {args.out} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def write_bundle(argv: list[str]) -> int:
    import shutil

    from disguise.classic.codes import CODES_NAME, read_codes
    from disguise.classic.model import ClassicVAE

    p = argparse.ArgumentParser(prog="python -m train.classic bundle",
                                description="Copy a run's model (float16) and codes for the app.")
    p.add_argument("--run", required=True, help="a finished train.classic run folder")
    p.add_argument("--out", required=True, help="folder to write (e.g. weights/classic)")
    args = p.parse_args(argv)
    model = ClassicVAE.from_pretrained(args.run)
    read_codes(Path(args.run) / CODES_NAME)  # refuse a run without readable codes
    model.save_pretrained(args.out, half=True)
    shutil.copyfile(Path(args.run) / CODES_NAME, Path(args.out) / CODES_NAME)
    size = sum(p.stat().st_size for p in Path(args.out).iterdir() if p.is_file())
    print(f"wrote {args.out}: {model.config.kind} VAE on {model.config.data} ({size / 1e3:.0f} kB)")
    return 0


def options(args: argparse.Namespace) -> tuple[ClassicConfig | None, ClassicTrainConfig]:
    """The model config (None: made from the data) and training options; when resuming, the
    run's, of which only --epochs may change."""
    given = {k: getattr(args, k) for k in TRAIN_OPTIONS if getattr(args, k) is not None}
    if args.resume:
        model_cfg, saved = saved_options(args.out)
        if args.model and args.model != model_cfg.kind:
            fail(f"{args.out} holds a {model_cfg.kind} run, not {args.model}; nothing was changed")
        changed = [k for k, v in given.items() if k != "epochs" and getattr(saved, k) != v]
        if changed:
            fail(f"--resume keeps the run's options; only --epochs may change (got {', '.join(changed)})")
        return model_cfg, dataclasses.replace(saved, **given)
    if args.model is None:
        fail("--model is required (one of " + ", ".join(KINDS) + ")")
    return None, ClassicTrainConfig.for_kind(args.model, **given)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "frey-standin":
        return write_standin(argv[1:])
    if argv and argv[0] == "bundle":
        return write_bundle(argv[1:])
    args = parse(argv)
    if args.limit < 0:
        fail(f"--limit must be at least 0, got {args.limit}")
    model_cfg, cfg = options(args)
    kind = model_cfg.kind if model_cfg else args.model
    data = load_frey_data(args.data) if kind == "frey" else load_mnist_format(args.data)
    if args.limit:
        data = dataclasses.replace(data, train_x=data.train_x[:args.limit], train_y=data.train_y[:args.limit])
    if model_cfg is None:
        h, w = data.image_hw
        model_cfg = ClassicConfig.for_kind(kind, height=h, width=w, data=data.name,
                                           class_names=data.class_names)
    print(f"{kind} VAE on {data.name}: {len(data.train_x)} train / {len(data.test_x)} test images; "
          f"{cfg.optimizer} lr {cfg.lr:g}, batch {cfg.batch_size}, {cfg.epochs} epochs", file=sys.stderr)
    result = train_classic(args.out, data, model_cfg, cfg, resume=args.resume, progress=not args.quiet)
    if result.status != "finished":
        return 130
    last = result.history[-1]
    print(f"done: test loss {last['test_total']:.4f} after {last['epoch']} epochs; {args.out} holds "
          f"config.json, model.safetensors, codes.safetensors and {', '.join(FIGURES)}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, expected=(IDXError, RunFolderError, ValueError, FileNotFoundError, OSError)))
