"""Train the attribute classifier alone: ``python -m train.attributes --data ROOT --out FOLDER``.

The attribute classifier that ``train.vae --attribute-classifier FOLDER`` reads reconstructions
with (the attribute-consistency loss, ``disguise.classifier.consistency``), or the guide of
``train.vectors --guide FOLDER``. It is the judge's architecture and recipe
(``disguise.classifier.model``), trained on the training split of ``--data``, which should hold
other people than the data the model is evaluated on (e.g. ``train.synthetic --seed 2``), so that
the evaluation's judge stays independent of what the model was trained to please. The faces are
cropped as ``--model`` crops them (its config), at most 64 px. Writes
FOLDER/attribute_classifier.json and .safetensors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from disguise.classifier.model import CLASSIFIER_NAME, classifier_policy
from disguise.classifier.training import train_classifier
from disguise.data.cache import load_split
from disguise.data.celeba import CelebAError, open_celeba
from disguise.vae.model import resolve_pretrained
from train._cli import fail, run


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m train.attributes", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="CelebA-format folder (other people than the evaluation's)")
    p.add_argument("--out", required=True, help="folder for attribute_classifier.json and .safetensors")
    p.add_argument("--model", default="weights", help="the model folder whose crop the faces take")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--blur", type=float, default=1.5,
                   help="max Gaussian blur (pixels) of the training augmentation (decodes are soft)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--force", action="store_true", help="replace a classifier already in --out")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    if args.epochs < 1 or not args.blur >= 0:
        fail("--epochs must be at least 1 and --blur not negative")
    out = Path(args.out)
    if (out / CLASSIFIER_NAME).exists() and not args.force:
        fail(f"{out / CLASSIFIER_NAME} exists; pass --force to replace it")
    policy = classifier_policy(resolve_pretrained(args.model)[1].policy)
    data = open_celeba(args.data)
    faces, labels, rep = load_split(data, "train", policy, progress=not args.quiet)
    print(rep.summary())
    start = time.perf_counter()
    classifier = train_classifier(faces, labels, epochs=args.epochs, seed=args.seed, device=args.device,
                                  progress=not args.quiet, blur=args.blur, policy=policy, trained_on=data.kind)
    classifier.save_pretrained(out)
    print(f"wrote {out / CLASSIFIER_NAME} ({len(faces)} faces, {args.epochs} epochs, "
          f"{time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, expected=(CelebAError, ValueError, FileNotFoundError, OSError)))
