"""Train the VAE: ``python -m train.vae --data ROOT --out RUN [options]``.

Defaults follow the seed (Adam, lr 0.0005, batch 32, r_loss_factor 10000, z 200, 128 x 128).
Several GPUs (or CPU processes): ``torchrun --nproc_per_node N -m train.vae ...``.
Ctrl-C writes a checkpoint; ``--resume`` continues exactly where the run stopped.
``--init MODEL`` starts a new run from a trained model's weights (fine-tuning; the architecture
is MODEL's), e.g. with ``--lr-schedule cosine`` to anneal the learning rate.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from disguise.data.celeba import CelebAError
from disguise.preprocess import Preprocess
from disguise.vae.model import VAEConfig, resolve_pretrained
from disguise.vae.training import (
    Distributed,
    RunFolderError,
    TrainConfig,
    saved_model_config,
    saved_train_config,
    train,
)
from train._cli import add_config_options, add_run_options, fail, int_list, run

# Model options: None means "not given", so --resume can tell them from the saved config's.
MODEL_OPTIONS = ("image_size", "z_dim", "arch", "dropout", "crop", "encoder_filters", "decoder_filters")
TRAIN_OPTIONS = ("epochs", "batch_size", "lr", "lr_schedule", "loss", "r_loss_factor", "kl_weight", "seed",
                 "val_limit", "init", "attribute_classifier", "attribute_weight")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.vae", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(p, "CelebA-format folder (real or synthetic)", "continue the run in --out")
    add_config_options(p, TrainConfig, ["init"], none_defaults=True)
    m = p.add_argument_group("model (fixed by the checkpoint when resuming)")
    add_config_options(m, VAEConfig, ["image_size", "z_dim", "arch", "dropout", "encoder_filters",
                                      "decoder_filters"], none_defaults=True)
    m.add_argument("--crop", type=int_list("15,35,163,183"), default=None,
                   help="left,top,right,bottom box in the 178x218 image (default: "
                        f"{','.join(map(str, Preprocess().crop))}, CelebA's centre 148 x 148)")
    t = p.add_argument_group("training (when resuming, options not given keep the run's values)")
    add_config_options(t, TrainConfig, [n for n in TRAIN_OPTIONS if n != "init"], none_defaults=True)
    add_config_options(t, TrainConfig, ["device", "amp"])
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def model_config(args: argparse.Namespace) -> VAEConfig:
    given = {k: getattr(args, k) for k in MODEL_OPTIONS if getattr(args, k) is not None}
    if args.resume or args.init:
        base = saved_model_config(Path(args.out)) if args.resume else resolve_pretrained(args.init)[1]
        size = given.get("image_size", base.image_size)
        policy = base.policy.to_dict()
        if "crop" in given:
            policy["crop"] = list(given.pop("crop"))
        policy["size"] = size
        fields = {**base.to_dict(), **given, "preprocess": policy}
        cfg = VAEConfig.from_dict(fields)
        diff = base.differences(cfg)
        if args.init and not args.resume and diff:
            fail(f"--init {args.init} fixes the architecture; these options disagree with it: "
                 f"{'; '.join(diff)}")
        return cfg
    size = given.pop("image_size", 128)
    crop = given.pop("crop", Preprocess().crop)
    return VAEConfig(image_size=size, preprocess=Preprocess(crop=crop, size=size).to_dict(), **given)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The options given; when resuming, the rest from the run, with a note for each change."""
    given = {k: getattr(args, k) for k in TRAIN_OPTIONS if getattr(args, k) is not None}
    base = asdict(TrainConfig())
    if args.resume:
        saved = saved_train_config(Path(args.out))
        if given.pop("init", None) is not None:
            print("note: --init is ignored when resuming: the checkpoint holds the weights",
                  file=sys.stderr)
        for k, v in given.items():
            if k != "epochs" and saved.get(k) != v:
                print(f"note: {k} changes from {saved.get(k)} to {v} for the rest of the run",
                      file=sys.stderr)
        base.update({k: v for k, v in saved.items() if k in TRAIN_OPTIONS})
    return TrainConfig(**{**base, **given, "device": args.device, "amp": args.amp})


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    dist = Distributed.from_env()
    try:
        mcfg = model_config(args)
        cfg = train_config(args)
    except (ValueError, RunFolderError, FileNotFoundError) as e:
        fail(str(e))
    if dist.world > 1:
        import torch
        import torch.distributed as td

        td.init_process_group("nccl" if args.device.startswith("cuda") or
                              (args.device == "auto" and torch.cuda.is_available()) else "gloo")
    try:
        result = train(args.out, args.data, mcfg, cfg, resume=args.resume,
                       progress=not args.quiet, dist=dist)
    finally:
        if dist.world > 1:
            import torch.distributed as td

            td.destroy_process_group()
    if dist.main and result.status == "finished":
        print(f"done: {args.out} holds config.json and model.safetensors "
              f"(next: python -m train.vectors --model {args.out} --data {args.data})")
    return 0 if result.status == "finished" else 130


if __name__ == "__main__":
    sys.exit(run(main, expected=(CelebAError, RunFolderError, ValueError, FileNotFoundError)))
