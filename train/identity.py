"""Train the identity model: ``python -m train.identity --data ROOT --out RUN [options]``.

The train split's people teach it (margin softmax, CosFace by default); verification is measured
on the test split's people, whom it has never seen. Writes RUN/identity.json,
RUN/identity.safetensors and RUN/identity_verification.json, and prints the figures. The data folder needs
``identity_CelebA.txt`` (which person each image shows). Ctrl-C writes a checkpoint;
``--resume`` continues exactly where the run stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from disguise.celeba import CelebAError, open_celeba
from disguise.files import read_safetensors_metadata, write_json
from disguise.identity import (CHECKPOINT_NAME, CONFIG_NAME, DEFAULT_WIDTHS, LOSSES, VERIFICATION_NAME, WEIGHTS_NAME,
                               IdentityConfig, load_people, save_identity,
                               train_identity, verify)
from disguise.policy import Preprocess
from train._cli import add_run_options, fail, int_list, run


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.identity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(p, "CelebA-format folder with identity_CelebA.txt",
                    "continue the run in --out (same options)")
    p.add_argument("--epochs", type=int, default=20, help="total epochs (default 20)")
    p.add_argument("--batch-size", type=int, default=64, help="default 64")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam's peak learning rate (default 0.002)")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--widths", type=int_list("32,64,128,128"), default=DEFAULT_WIDTHS,
                   help="channels per conv block (default 32,64,128,128)")
    p.add_argument("--embedding-dim", type=int, default=128, help="default 128")
    p.add_argument("--loss", choices=LOSSES, default="cosface", help="default cosface")
    p.add_argument("--scale", type=float, default=30.0, help="margin softmax scale s (default 30)")
    p.add_argument("--margin", type=float, default=None,
                   help="margin m (default 0.35 for cosface, 0.5 radians for arcface)")
    p.add_argument("--image-size", type=int, default=64, help="default 64")
    p.add_argument("--crop", type=int_list("15,35,163,183"), default=Preprocess().crop,
                   help="left,top,right,bottom box in the 178x218 image (default: the VAE's)")
    p.add_argument("--max-pairs", type=int, default=20000, help="verification pairs (default 20000)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    out = Path(args.out)
    for name, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size),
                        ("--max-pairs", args.max_pairs)):
        if value < 1:
            fail(f"{name} must be at least 1, got {value}")
    if not args.resume and any((out / n).exists() for n in (CHECKPOINT_NAME, WEIGHTS_NAME, CONFIG_NAME)):
        fail(f"{out} already holds an identity model; pass --resume to continue it or choose a "
             f"new --out. Nothing was changed.")
    if args.resume and not (out / CHECKPOINT_NAME).is_file():
        fail(f"{out / CHECKPOINT_NAME}: nothing to resume (no checkpoint)")
    margin = args.margin if args.margin is not None else (0.5 if args.loss == "arcface" else 0.35)
    try:
        config = IdentityConfig(widths=args.widths, embedding_dim=args.embedding_dim, loss=args.loss,
                                scale=args.scale, margin=margin,
                                preprocess=Preprocess(crop=args.crop, size=args.image_size).to_dict())
    except ValueError as e:
        fail(str(e))
    if args.resume:  # the checkpoint fixes the model: refuse other model options up front
        saved = json.loads(read_safetensors_metadata(out / CHECKPOINT_NAME).get("config", "{}"))
        if saved != config.to_dict():
            diff = [f"{k}: {saved.get(k)} != {v}" for k, v in config.to_dict().items() if saved.get(k) != v]
            fail(f"{out / CHECKPOINT_NAME} holds another model: {'; '.join(diff)}")
    data = open_celeba(args.data)
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

    policy = config.policy
    faces, ids, _ = load_people(data, "train", policy, progress=not args.quiet)
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    log = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    log(f"training on {len(faces)} faces of {len(np.unique(ids))} people ({device})")
    start = time.perf_counter()
    net = train_identity(faces, ids, config, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         seed=args.seed, progress=not args.quiet, run_dir=out, resume=args.resume,
                         device=device, log=log)
    seconds = time.perf_counter() - start
    save_identity(net, out)

    test_faces, test_ids, test_attrs = load_people(data, "test", policy, progress=not args.quiet)
    result = verify(net, test_faces, test_ids, test_attrs, max_pairs=args.max_pairs, seed=args.seed)
    result["training"] = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                          "seed": args.seed, "train_faces": int(len(faces)),
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
