"""Make the model the app loads, from a data folder, in one command:

    python -m train.recipe --data DIR --out RUN

Every stage in order: the VAE, three attribute classifiers on different people (the guide
learned edits are fitted to, the chooser that picks the sliders, and the judge that grades them
and chooses nothing), the identity model, the sliders, the evaluation, the face space and the
page's decoder, and a model card with an atlas. ``python app.py --weights RUN`` serves the folder
and ``python -m train.evaluate --model RUN --data DIR`` checks it again. Stopped at any moment
(Ctrl-C, kill -9), the same command continues where it was; a finished stage whose settings you
change is named and redone only with --redo. ``--smoke`` runs every stage at its smallest.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

from disguise.data.celeba import CelebAError
from disguise.recipe.card import bundle
from disguise.recipe.ledger import RecipeError
from disguise.recipe.runner import NAMES, disk_full, run_recipe
from disguise.recipe.settings import RecipeSettings, field_names, smoke
from disguise.sliders.recipe import SliderSettings
from train._cli import add_config_options, fail


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.recipe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a CelebA folder (or a synthetic one from train.synthetic)")
    p.add_argument("--out", required=True, help="the run folder: new, empty, or this recipe's earlier run")
    p.add_argument("--from", dest="from_model", default=None,
                   help="a trained VAE's folder (config.json, model.safetensors): skip the VAE stage")
    p.add_argument("--smoke", action="store_true",
                   help="every stage at its smallest (a few hundred faces, one epoch, a few slider steps)")
    p.add_argument("--redo", action="store_true",
                   help="make again the finished stages whose settings changed (and those made from them)")
    p.add_argument("--push", default=None, metavar="USER/NAME",
                   help="upload the run folder (not its work/) to this Hugging Face model repo at the end")
    p.add_argument("--bundle", default=None, metavar="DIR",
                   help="at the end, copy the run's app files into DIR without the judge (too big for a "
                        "repository; the project's weights/ is made so); DIR's other folders stay")
    p.add_argument("--until", default=None, choices=NAMES,
                   help="stop after this stage (the same command without it goes on from there)")
    p.add_argument("--gpus", type=int, default=1,
                   help="train the VAE stage on this many GPUs of this machine (processes, on a CPU), under "
                        "torchrun (python -m train.vae)")
    p.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda or cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    g = p.add_argument_group("the stages' settings (defaults: the project's best; recorded in RUN/recipe.json)")
    add_config_options(g, RecipeSettings, field_names(RecipeSettings), none_defaults=True)
    s = p.add_argument_group("the sliders' settings")
    add_config_options(s, SliderSettings, slider_options(), none_defaults=True)
    return p.parse_args(argv)


def slider_options() -> list[str]:
    """The sliders' settings the command line takes (their seed is the recipe's)."""
    return [f.name for f in fields(SliderSettings) if f.name != "seed"]


def settings_from(args: argparse.Namespace) -> RecipeSettings:
    """The settings the options give, the defaults (or ``--smoke``'s) for the rest."""
    top = {n: getattr(args, n) for n in field_names(RecipeSettings) if getattr(args, n) is not None}
    slider = {n: getattr(args, n) for n in slider_options() if getattr(args, n) is not None}
    settings = RecipeSettings(**top, sliders=SliderSettings(**slider))
    if args.smoke:
        settings = smoke(settings, set(top) | set(slider))
    return replace(settings)


def torchrun(gpus: int):
    """A VAE trainer (``disguise.recipe.stages.VAETrainer``) that runs each phase as ``python -m
    train.vae`` under torchrun on ``gpus`` GPUs, resuming it where it has a checkpoint."""
    def trainer(folder, data_root, config, options, resume, progress, on_batch, log) -> str:
        policy = config.policy
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
               "-m", "train.vae", "--data", str(data_root), "--out", str(folder),
               "--image-size", str(config.image_size), "--z-dim", str(config.z_dim),
               "--crop", ",".join(map(str, policy.crop)), "--dropout", str(config.dropout),
               "--encoder-filters", ",".join(map(str, config.encoder_filters)),
               "--decoder-filters", ",".join(map(str, config.decoder_filters)),
               "--epochs", str(options.epochs), "--batch-size", str(options.batch_size), "--lr", str(options.lr),
               "--lr-schedule", options.lr_schedule, "--r-loss-factor", str(options.r_loss_factor),
               "--seed", str(options.seed), "--device", options.device]
        cmd += ["--resume"] if resume else (["--init", options.init] if options.init else [])
        cmd += [] if progress else ["--quiet"]
        log("torchrun: " + " ".join(shlex.quote(c) for c in cmd))
        done = subprocess.run(cmd, check=False)
        return "finished" if done.returncode == 0 else "interrupted"
    return trainer


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    given = sys.argv[1:] if argv is None else argv
    # The command that makes this run from nothing: --redo only says what to do with an earlier one.
    command = "python -m train.recipe " + " ".join(shlex.quote(a) for a in given if a != "--redo")
    if args.gpus < 1:
        fail(f"--gpus must be at least 1, got {args.gpus}")
    try:
        settings = settings_from(args)
        if args.bundle and args.until:
            fail("--bundle copies a finished run: leave out --until")
        run_recipe(args.data, args.out, settings, from_model=args.from_model, device=args.device, redo=args.redo,
                   push=args.push, progress=not args.quiet, command=command, until=args.until,
                   vae_trainer=torchrun(args.gpus) if args.gpus > 1 else None)
        if args.bundle:
            copied = bundle(Path(args.out), Path(args.bundle))
            print(f"bundled {len(copied)} files into {args.bundle} (without the judge)")
    except (RecipeError, CelebAError, ValueError, FileNotFoundError) as e:
        fail(str(e))
    except OSError as e:
        if disk_full(e):
            fail(f"the disk is full ({e.filename or e}); free some room and run the same command again: the "
                 f"finished stages are kept, and the one that stopped resumes from its last checkpoint")
        fail(str(e))
    except KeyboardInterrupt:
        print(f"stopped; run the same command again to continue where it was ({args.out}/recipe.json "
              f"says which stage)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
