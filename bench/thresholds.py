"""What the recipe's decision thresholds do to a run's chooser and judge: each label's thresholds
fitted on the validation faces' reconstructions as the recipe fits them, then read on the test
faces' reconstructions (people neither saw).

    python bench/thresholds.py --run runs/scratch --data data/seed23 [--gain 0.2] [--labels Pointy_Nose]

Per role, one row per label whose threshold moves (and per ``--labels``): how often it is on the
test faces, the area under the ROC curve (how well the classifier ranks it, at any threshold),
its balanced accuracy at logit 0, at the fitted threshold, and at the best threshold for the test
faces themselves (a ceiling no fitted threshold can pass). A run's stored thresholds play no part:
the classifiers' logits are the same with or without them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import _common  # noqa: F401  (the import path)
import numpy as np

from disguise.attributes import ATTRIBUTES, INDEX
from disguise.classifier.model import face_logits, load_classifier
from disguise.classifier.thresholds import MIN_GAIN, balanced_accuracies, fit_thresholds
from disguise.data.cache import load_split
from disguise.data.celeba import open_celeba
from disguise.evaluation.grading import reconstructions
from disguise.identity.verification import roc_auc
from disguise.sliders.editor import Editor


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a train.recipe run folder (its judge at the top, chooser/)")
    p.add_argument("--data", required=True, help="the run's data folder")
    p.add_argument("--gain", type=float, default=MIN_GAIN, help="balanced accuracy a moved threshold must add")
    p.add_argument("--labels", default="", help="comma-separated labels to show whether they move or not")
    args = p.parse_args()
    shown = [a for a in args.labels.split(",") if a]
    unknown = sorted(set(shown) - set(ATTRIBUTES))
    if unknown:
        p.error(f"not CelebA attributes: {', '.join(unknown)}")
    editor = Editor.from_pretrained(args.run)
    data = open_celeba(args.data)
    drawn = {}
    for split in ("valid", "test"):
        faces, labels, _ = load_split(data, split, editor.policy, progress=False)
        drawn[split] = reconstructions(editor, np.asarray(faces), 64), np.asarray(labels) > 0
    print(f"{args.run}: thresholds fitted on {len(drawn['valid'][0]):,} validation faces (gain {args.gain:g}), "
          f"read on {len(drawn['test'][0]):,} test faces")
    for role, folder in (("chooser", Path(args.run) / "chooser"), ("judge", Path(args.run))):
        classifier = load_classifier(folder)
        valid_logits = face_logits(classifier, drawn["valid"][0], "cpu")
        test_logits, truth = face_logits(classifier, drawn["test"][0], "cpu"), drawn["test"][1]
        moved = fit_thresholds(valid_logits, drawn["valid"][1], args.gain)
        print(f"\n{role}: moves {', '.join(moved) or 'none'}")
        print("| label | on test faces | ROC AUC | at 0 | at the fitted threshold | at the test's best |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name in [a for a in ATTRIBUTES if a in moved or a in shown]:
            k = INDEX[name]
            logit, has = test_logits[:, k], truth[:, k]
            cut = moved.get(name, 0.0)
            at = balanced_accuracies(logit, has, np.array([0.0, cut]))
            every = np.unique(logit)
            best = balanced_accuracies(logit, has, (every[:-1] + every[1:]) / 2).max() if len(every) > 1 else at[0]
            print(f"| {name} | {has.mean():.1%} | {roc_auc(logit, has):.3f} | {at[0]:.1%} | "
                  f"{at[1]:.1%} ({cut:+.2f}) | {best:.1%} |")


if __name__ == "__main__":
    main()
