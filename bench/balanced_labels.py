"""What weighing each label's positives (``--classifier-balanced``) does to an attribute
classifier: the same classifier trained on the same faces and epochs, unweighted and weighted, and
each one's balanced accuracy per attribute on the test split's faces (people it never saw).

    python bench/balanced_labels.py [--data data/synthetic] [--faces 4000] [--epochs 4] [--test 1500]

Prints one row per attribute the two read differently (by at least 5 points), then the mean over
the drawn attributes, and how many each reads at chance (under 55%).
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (the import path)
import numpy as np
import torch

from disguise.attributes import DRAWN, INDEX
from disguise.classifier.model import classifier_accuracy, classifier_policy
from disguise.classifier.training import train_classifier
from disguise.data.cache import load_split
from disguise.data.celeba import open_celeba
from disguise.vae.model import VAE


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/synthetic", help="a CelebA-format folder")
    p.add_argument("--weights", default="weights", help="the model whose crop the classifiers see")
    p.add_argument("--faces", type=int, default=4000, help="training faces")
    p.add_argument("--test", type=int, default=1500, help="test faces")
    p.add_argument("--epochs", type=int, default=4)
    args = p.parse_args()
    policy = classifier_policy(VAE.read_config(args.weights).policy)
    data = open_celeba(args.data)
    x, y, _ = load_split(data, "train", policy, progress=False)
    tx, ty, _ = load_split(data, "test", policy, progress=False)
    x, y, tx, ty = np.asarray(x[:args.faces]), y[:args.faces], np.asarray(tx[:args.test]), ty[:args.test]
    reads = {}
    for balanced in (False, True):
        began = time.perf_counter()
        classifier = train_classifier(x, y, epochs=args.epochs, policy=policy, progress=False, balanced=balanced)
        accuracy = classifier_accuracy(classifier, tx, ty, torch.device("cpu"))
        reads[balanced] = {a: accuracy[a]["balanced_accuracy"] for a in DRAWN}
        print(f"{'balanced' if balanced else 'unweighted':10s} trained in {time.perf_counter() - began:.0f} s")
    print(f"\n{len(x):,} training faces, {len(tx):,} test faces, {args.epochs} epochs; balanced accuracy:")
    print("| attribute | share with it | unweighted | balanced |\n| --- | ---: | ---: | ---: |")
    for a in DRAWN:
        if abs(reads[True][a] - reads[False][a]) >= 0.05:
            print(f"| {a} | {(y[:, INDEX[a]] > 0).mean():.1%} | {reads[False][a]:.1%} | {reads[True][a]:.1%} |")
    for balanced, name in ((False, "unweighted"), (True, "balanced")):
        values = list(reads[balanced].values())
        print(f"{name:10s} mean {np.mean(values):.1%}; at chance (under 55%): "
              f"{sum(v < 0.55 for v in values)} of {len(values)}")


if __name__ == "__main__":
    main()
