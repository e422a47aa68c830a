"""Train the identity model: ``python -m train.identity --data ROOT --out RUN [options]``.

The train split's people teach it (margin softmax, CosFace by default); verification is measured
on the test split's people, whom it has never seen. Writes RUN/identity.json,
RUN/identity.safetensors and RUN/identity_verification.json, and prints the figures. The data folder needs
``identity_CelebA.txt`` (which person each image shows). Ctrl-C writes a checkpoint;
``--resume`` continues exactly where the run stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from disguise.data.celeba import CelebAError, open_celeba
from disguise.files import write_json
from disguise.identity.model import CONFIG_NAME, WEIGHTS_NAME, IdentityConfig
from disguise.identity.training import (
    CHECKPOINT_NAME,
    VERIFICATION_NAME,
    IdentityTrainConfig,
    load_people,
    train_identity,
)
from disguise.identity.verification import verify
from disguise.preprocess import Preprocess
from disguise.training.driver import RunFolderError, saved_options
from train._cli import add_config_options, add_run_options, fail, int_list, run


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.identity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(p, "CelebA-format folder with identity_CelebA.txt",
                    "continue the run in --out (same options; only --epochs may grow)")
    add_config_options(p, IdentityTrainConfig, ["epochs", "batch_size", "lr", "seed", "blur"])
    add_config_options(p, IdentityConfig, ["widths", "embedding_dim", "loss", "scale"])
    p.add_argument("--margin", type=float, default=None,
                   help="margin m (default 0.35 for cosface, 0.5 radians for arcface)")
    p.add_argument("--image-size", type=int, default=64, help="side of the face in pixels (default 64)")
    p.add_argument("--crop", type=int_list("15,35,163,183"), default=Preprocess().crop,
                   help="left,top,right,bottom box in the 178x218 image (default: the VAE's)")
    p.add_argument("--max-pairs", type=int, default=20000, help="verification pairs (default 20000)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    return p.parse_args(argv)


def model_config(args: argparse.Namespace) -> IdentityConfig:
    """The model the options describe; when resuming, it must be the checkpoint's."""
    margin = args.margin if args.margin is not None else (0.5 if args.loss == "arcface" else 0.35)
    config = IdentityConfig(widths=args.widths, embedding_dim=args.embedding_dim, loss=args.loss,
                            scale=args.scale, margin=margin,
                            preprocess=Preprocess(crop=args.crop, size=args.image_size).to_dict())
    if args.resume:  # the checkpoint fixes the model: refuse other model options up front
        saved = IdentityConfig.from_dict(saved_options(Path(args.out) / CHECKPOINT_NAME)[0])
        diff = saved.differences(config)
        if diff:
            fail(f"{Path(args.out) / CHECKPOINT_NAME} holds another model: {'; '.join(diff)}")
    return config


def check_people(data) -> None:
    """Verification must be on people the model never saw: the splits may not share anyone."""
    if data.identity is None:
        fail(f"{data.root}: no identity_CelebA.txt (which person each image shows); the identity "
             f"model needs it (CelebA's identity list, or a synthetic set from train.synthetic)")
    train_people = set(data.identity[data.indices("train")].tolist())
    test_people = set(data.identity[data.indices("test")].tolist())
    shared = sorted(train_people & test_people)
    if shared:
        fail(f"{len(shared)} people appear in both the train and test splits (e.g. identity "
             f"{shared[0]}); verification must be on unseen people: split list_eval_partition.txt "
             f"by person")
    if len(test_people) < 2:
        fail(f"the test split holds {len(test_people)} people; verification needs at least two")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    out = Path(args.out)
    if args.max_pairs < 1:
        fail(f"--max-pairs must be at least 1, got {args.max_pairs}")
    if not args.resume and any((out / n).exists() for n in (CHECKPOINT_NAME, WEIGHTS_NAME, CONFIG_NAME)):
        fail(f"{out} already holds an identity model; pass --resume to continue it or choose a "
             f"new --out. Nothing was changed.")
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        options = IdentityTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                      seed=args.seed, blur=args.blur, device=device)
        config = model_config(args)
    except (ValueError, RunFolderError) as e:
        fail(str(e))
    data = open_celeba(args.data)
    check_people(data)
    config = dataclasses.replace(config, trained_on=data.kind)
    faces, ids, _ = load_people(data, "train", config.policy, progress=not args.quiet)
    log = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    log(f"training on {len(faces)} faces of {len(np.unique(ids))} people ({device})")
    start = time.perf_counter()
    net = train_identity(faces, ids, config, options, run_dir=out, resume=args.resume,
                         progress=not args.quiet, log=log)
    seconds = time.perf_counter() - start
    net.save_pretrained(out)

    test_faces, test_ids, test_attrs = load_people(data, "test", config.policy, progress=not args.quiet)
    result = verify(net, test_faces, test_ids, test_attrs, max_pairs=args.max_pairs, seed=args.seed)
    result["training"] = {**asdict(options), "train_faces": int(len(faces)),
                          "train_people": int(len(np.unique(ids))), "seconds_this_session": round(seconds, 1),
                          "data": str(Path(args.data).resolve())}
    write_json(out / VERIFICATION_NAME, result)
    d = result["disguised"]
    print(f"verification on {result['people']} unseen people ({result['faces']} faces, "
          f"{result['genuine_pairs']} genuine / {result['impostor_pairs']} impostor pairs):\n"
          f"  AUC {result['auc']:.4f}, TAR {result['tar']:.3f} at FAR {result['far']:.0%} "
          f"(threshold {result['threshold']:.3f})\n"
          f"  disguised pairs ({d['genuine_pairs']} genuine): AUC {d['auc']:.4f}, TAR {d['tar']:.3f} "
          f"at FAR {result['far']:.0%}")
    print(f"done: {out} holds {CONFIG_NAME}, {WEIGHTS_NAME} and {VERIFICATION_NAME} (copy the three "
          f"into a weights folder and the app shows, with every edit, whether it is still the person)")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, expected=(CelebAError, ValueError, FileNotFoundError, OSError)))
