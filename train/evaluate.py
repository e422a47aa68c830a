"""Evaluate a model and its vectors: ``python -m train.evaluate --model RUN --data ROOT``.

Reconstruction quality on the test split, the independent attribute classifier's accuracy, edit
success per attribute, the photo view against the model view (test faces placed into
photo-like scenes, edited on the photo, prepared again and judged), and, when MODEL holds an
identity model, the share of faces still recognised after each edit; per attribute, whether the
judge sees it and the model draws it, and why a slider misses the bar. Writes RUN/evaluation.json
and RUN/evaluation.md. ``--bank`` evaluates another vector bank with the same model (e.g. the
seed's, from ``train.vectors --method seed``); ``--before`` puts another run's evaluation.json
beside this one, slider by slider. ``--model-only`` measures the model alone, before it has
sliders: reconstruction and what it draws (a minute on 2 cores; RUN/drawn.json), to choose
between models before spending the sliders' hour on one.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from disguise.attributes import DRAWN as DRAWN_ATTRIBUTES
from disguise.classifier.model import CLASSIFIER_NAME, AttributeClassifier, classifier_policy, load_classifier
from disguise.classifier.training import train_classifier
from disguise.data.cache import load_split
from disguise.data.celeba import CelebAError, open_celeba
from disguise.evaluation.diagnosis import drawability
from disguise.evaluation.grading import grade, judge_faces
from disguise.evaluation.reconstruction import reconstruction_metrics
from disguise.evaluation.report import markdown
from disguise.files import atomic_write
from disguise.sliders.bank import AttributeBank
from disguise.sliders.editor import Editor
from disguise.vae.model import VAE
from train._cli import alpha_list, attribute_list, run


def positive_alphas(text: str) -> list[float]:
    """A ``type=`` for ``--alphas``: an alpha list of positive numbers (removal negates them)."""
    try:
        alphas, why = alpha_list(text), ""
    except argparse.ArgumentTypeError as e:
        alphas, why = [], f": {e}"
    if not alphas or any(a <= 0 for a in alphas):
        raise argparse.ArgumentTypeError(f"--alphas must be positive numbers (removal uses their "
                                         f"negatives), got {text!r}{why}")
    return alphas


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="folder with config, weights and vector bank")
    p.add_argument("--data", required=True, help="CelebA-format folder")
    p.add_argument("--bank", default=None, help="vector bank to evaluate (default: MODEL's own)")
    p.add_argument("--before", default=None,
                   help="another evaluation.json to show beside this one per slider (e.g. the seed's vectors)")
    p.add_argument("--alphas", type=positive_alphas, default="1,2,3,4", help="edit strengths to test")
    p.add_argument("--faces", type=int, default=200, help="test faces per attribute and direction")
    p.add_argument("--attributes", type=attribute_list, default=list(DRAWN_ATTRIBUTES),
                   help="comma-separated attribute names (empty: all drawn ones)")
    p.add_argument("--classifier-epochs", type=int, default=12)
    p.add_argument("--classifier-blur", type=float, default=1.5,
                   help="max Gaussian blur (pixels) of the classifier's training augmentation")
    p.add_argument("--judge", default=None,
                   help="a folder with the judge (attribute_classifier.*; default: MODEL's own), e.g. the "
                        "train.recipe run that made a bundle too big to ship its judge")
    p.add_argument("--retrain-classifier", action="store_true",
                   help=f"ignore a saved MODEL/{CLASSIFIER_NAME}")
    p.add_argument("--photo-scenes", type=int, default=300,
                   help="test faces placed into photo-like scenes for the photo view's evaluation")
    p.add_argument("--photo-faces", type=int, default=20,
                   help="of those, faces per attribute and direction edited in both views (0: skip)")
    p.add_argument("--model-only", action="store_true",
                   help="only the model, no sliders: reconstruction and, per attribute, the judge's share "
                        "on test faces with it as they are and as the model reconstructs them (drawn.json)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="folder for evaluation.json/.md (default: MODEL)")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def read_before(path: str | None) -> dict:
    """Another run's evaluation.json (``{}`` without ``path``), with a clear error when unreadable."""
    if not path:
        return {}
    try:
        before = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"--before {path}: not a readable evaluation.json ({e})") from None
    if not isinstance(before, dict) or not isinstance(before.get("edits"), list):
        raise ValueError(f"--before {path}: not an evaluation.json (no edits in it)")
    return before


def load_judge(args, data, editor: Editor, device) -> AttributeClassifier:
    """The model's judge: the one saved with it, or one trained now on the data's training split."""
    judged = classifier_policy(editor.policy)  # the classifier's faces: the model's crop, at most 64 px
    if args.judge:
        print(f"attribute classifier: {Path(args.judge) / CLASSIFIER_NAME}")
        return load_classifier(args.judge, device, judged)
    if (Path(args.model) / CLASSIFIER_NAME).is_file() and not args.retrain_classifier:
        print(f"attribute classifier: {Path(args.model) / CLASSIFIER_NAME}")
        return load_classifier(args.model, device, judged)
    if (Path(args.model) / "recipe.json").is_file() and not args.retrain_classifier:
        # A judge trained now on the whole training split would have seen the people its sliders were
        # chosen on: not the recipe's independent judge.
        raise ValueError(f"{args.model} was made by train.recipe and ships without its judge ({CLASSIFIER_NAME}); "
                         f"remake it with `python -m train.recipe --data DATA --out RUN --from {args.model} "
                         f"--until classifiers` and pass --judge RUN, or pass --retrain-classifier for one "
                         f"trained now on every training face (it then shares people with the chooser)")
    train_x, train_y, _ = load_split(data, "train", judged, progress=not args.quiet)
    judge = train_classifier(train_x, train_y, epochs=args.classifier_epochs, device=device, progress=not args.quiet,
                             blur=args.classifier_blur, policy=judged, trained_on=data.kind)
    judge.save_pretrained(Path(args.out or args.model))
    return judge


def model_only(args) -> int:
    """``--model-only``: reconstruction and what the model draws, printed and in OUT/drawn.json."""
    device = torch.device(args.device)
    model = VAE.from_pretrained(args.model, device=device)
    editor = Editor(model, AttributeBank.blank(model.config.z_dim), device)  # encode and decode only
    data = open_celeba(args.data)
    test_x, test_y, _ = load_split(data, "test", editor.policy, progress=not args.quiet)
    judge = load_judge(args, data, editor, device)
    judge_x, _ = judge_faces(data, judge, editor, test_x, test_y)
    recon = reconstruction_metrics(editor, test_x, progress=not args.quiet)
    attributes = args.attributes or list(DRAWN_ATTRIBUTES)  # an empty --attributes: all drawn ones
    drawn = drawability(editor, judge, test_x, test_y, judge_x, attributes, max_faces=args.faces)
    shares = [d.drawn for d in drawn]
    summary = {"mean_drawn": float(np.mean(shares)) if shares else float("nan"),
               "drawn_for_half": sum(s >= 0.5 for s in shares), "attributes": len(shares)}
    out = Path(args.out or args.model)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "drawn.json", lambda p: p.write_text(json.dumps(
        {"reconstruction": recon, "drawability": [asdict(d) for d in drawn], **summary}, indent=1)))
    print(f"reconstruction: MSE {recon['mse']:.5f}, PSNR {recon['psnr']:.2f} dB, SSIM {recon['ssim']:.3f}")
    print(f"the judge on up to {args.faces} test faces with each attribute: as they are / as the model draws them")
    for d in drawn:
        print(f"  {d.attribute:20s} {d.seen:4.0%} / {d.drawn:4.0%}")
    print(f"drawn on average for {summary['mean_drawn']:.1%} of the faces; for at least half of them: "
          f"{summary['drawn_for_half']} of {summary['attributes']}")
    print(f"wrote {out / 'drawn.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.model_only:
        return model_only(args)
    attributes = args.attributes or list(DRAWN_ATTRIBUTES)
    device = torch.device(args.device)
    if args.bank:  # the model alone, with this bank (MODEL needs no bank of its own)
        model = VAE.from_pretrained(args.model, device=device)
        editor = Editor(model, AttributeBank.load(args.bank, z_dim=model.config.z_dim), device)
    else:
        editor = Editor.from_pretrained(args.model, device=device)
    before = read_before(args.before)
    data = open_celeba(args.data)
    out = Path(args.out or args.model)
    out.mkdir(parents=True, exist_ok=True)
    judge = load_judge(args, data, editor, device)
    report = grade(editor, judge, data, args.model, attributes, args.alphas, faces=args.faces,
                   photo_scenes=args.photo_scenes, photo_faces=args.photo_faces, device=device, before=before,
                   progress=not args.quiet)
    atomic_write(out / "evaluation.json", lambda p: p.write_text(report.to_json()))
    atomic_write(out / "evaluation.md", lambda p: p.write_text(markdown(report)))
    recon, edits, photo = report.reconstruction, report.edits, report.photo_view
    print(f"reconstruction: MSE {recon['mse']:.5f}, PSNR {recon['psnr']:.2f} dB, SSIM {recon['ssim']:.3f}")
    b = report.bar
    print(f"edits passing the bar ({b['success']:.0%} success, {b['preserve']:.0%} kept, alpha <= {b['alpha']:g}): "
          f"{b['passing']} of {b['attributes']} added attributes "
          f"({', '.join(e.attribute for e in edits if e.passes and e.direction == 'add')}); "
          f"{b['informative'] - len(b['below_floor'])} of {b['informative']} reach {b['floor']:.0%} at the end")
    if photo:
        print(f"photo view: {report.photo_summary['framed_by_eyes']:.0%} of {report.photo_summary['faces']} placed "
              f"test faces framed by the eyes; largest mean change outside the face: "
              f"{max(e.outside_change for e in photo):g} levels")
    print(f"wrote {out / 'evaluation.md'} and {out / 'evaluation.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, expected=(CelebAError, ValueError, FileNotFoundError)))
