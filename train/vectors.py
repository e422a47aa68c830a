"""Build the attribute vector bank: ``python -m train.vectors --model RUN --data ROOT``.

Encodes labelled faces once and derives all 40 attribute directions into
RUN/attribute_vectors.safetensors. ``--method effect`` (the default): each attribute's code change
with the other 39 labels held, linked where attributes exclude each other (bald has no hair
colour; ``disguise.sliders.effects``). ``--method seed``: the seed's difference of means, unit
length. ``--method calibrated``: per attribute the direction and scale the judge finds best on the
validation split, within ``--reach`` and leaving the background be (``disguise.sliders.calibration``),
then held against what it flips (``disguise.sliders.holding``); ``--guide`` adds edits learned
through the decoder as candidates (``disguise.sliders.learned``; cached as they are learned, so a
stopped run resumes). ``--base BANK`` makes a bank's rows candidates too and ``--only A,B`` rebuilds
just those sliders; with ``--base``, ``--hair-rows`` gives the hair sliders a row per hair state and
``--picture-rows`` Blurry a row from each face's own picture. docs/sliders.md has the method in full.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from disguise.attributes import ATTRIBUTES, DRAWN, NOT_DRAWN
from disguise.classifier.model import CLASSIFIER_NAME, classifier_policy, load_classifier
from disguise.data.cache import load_split
from disguise.data.celeba import CelebAError, open_celeba
from disguise.files import cache_root
from disguise.sliders.bank import BANK_NAME, METHODS, AttributeBank
from disguise.sliders.calibration import BLURS, REACH
from disguise.sliders.editor import Editor
from disguise.sliders.effects import RIDGE, effect_bank, effects_of
from disguise.sliders.hair_rows import STATES, sources
from disguise.sliders.learned import BACKDROP, FACES, KEEPS, LEARN_STEPS
from disguise.sliders.means import BATCH_SIZE, MAX_POSITIVES, THRESHOLD, build_bank, labelled_batches
from disguise.sliders.picture_rows import MAX_BLUR, PICTURE_SLIDERS
from disguise.sliders.recipe import at_the_bar as misses_and_line
from disguise.sliders.recipe import (
    Faces,
    SliderSettings,
    calibrated,
    encode_all,
    hair_rows,
    held,
    learned,
    moments,
    picture_rows,
    removal_rows,
    seed_bank,
)
from disguise.vae.model import VAE
from train._cli import attribute_list, fail, run



def at_the_bar(choices) -> str:
    """The line naming how many calibrated sliders reach the bar on validation faces, with the
    others as the ``--only`` list a second pass (learned edits) rebuilds."""
    misses, line = misses_and_line([(c.attribute, c.success, c.kept) for c in choices])
    return line + (f"; the others: --only {','.join(misses)}" if misses else "")

def parse(argv):
    p = argparse.ArgumentParser(prog="python -m train.vectors", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="run or weights folder (config.json, model.safetensors)")
    p.add_argument("--data", required=True, help="CelebA-format folder")
    p.add_argument("--split", default="train", choices=["train", "valid", "test", "all"])
    p.add_argument("--method", default="effect", choices=METHODS,
                   help="effect: the change with the other labels held, at its own scale; seed: the "
                        "seed's difference of means, unit length; calibrated: per attribute the better "
                        "of the two at the scale the judge found best on the validation split")
    p.add_argument("--judge", default=None,
                   help="calibrated: folder with attribute_classifier.* (default: MODEL)")
    p.add_argument("--calibration-faces", type=int, default=200,
                   help="calibrated: validation faces per attribute")
    p.add_argument("--reach", type=float, default=REACH,
                   help="calibrated: the longest end edit considered, in median distances between two "
                        "faces' codes (longer ones draw someone else, whatever the judge says)")
    p.add_argument("--hold-rounds", type=int, default=3,
                   help="calibrated: rounds in which each slider learns to hold the attributes it "
                        "flips with the other sliders (disguise.sliders.holding); 0: off")
    p.add_argument("--hold-faces", type=int, default=150,
                   help="calibrated: validation faces per attribute for --hold-rounds")
    p.add_argument("--guide", default=None,
                   help="calibrated: folder with an attribute classifier trained on other people than "
                        "the judge's (train.attributes); adds edits learned through the decoder "
                        "(disguise.sliders.learned) to the candidates")
    p.add_argument("--guide-keep", type=float, nargs="+", default=list(KEEPS),
                   help="--guide: the weight of keeping the other attributes; one candidate each")
    p.add_argument("--guide-backdrop", type=float, nargs="+", default=[BACKDROP],
                   help="--guide: the weight of keeping the background (disguise.backdrop), one per "
                        "--guide-keep, or one for all")
    p.add_argument("--guide-steps", type=int, default=LEARN_STEPS, help="--guide: optimiser steps per attribute")
    p.add_argument("--guide-faces", type=int, default=FACES,
                   help="--guide: faces of --split the edits are learned on")
    p.add_argument("--base", default=None,
                   help="calibrated: an existing bank (say weights/attribute_vectors.safetensors) whose "
                        "rows join the candidates, at multiples of their own unit")
    p.add_argument("--only", type=attribute_list, default=None,
                   help="calibrated, with --base: rebuild only these sliders (comma-separated), "
                        "keeping the base's other rows")
    p.add_argument("--hair-rows", action="store_true",
                   help="calibrated, with --base: keep the base's rows and give the hair sliders (--only, "
                        "default all five) a row per hair state they replace, where it beats the shared "
                        "row on validation faces in that state (disguise.sliders.hair_rows)")
    p.add_argument("--picture-rows", action="store_true",
                   help="calibrated, with --base: keep the base's rows and make Blurry's row for each face "
                        "from its own picture blurred, where that beats the shared row on validation faces "
                        "(disguise.sliders.picture_rows)")
    p.add_argument("--removal-rows", action="store_true",
                   help="calibrated, with --base: keep the base's rows and give each slider (--only, default "
                        "all) a row of its own below 0 where its effect row takes the attribute away better "
                        "on validation faces (disguise.sliders.removal_rows)")
    p.add_argument("--blurs", type=float, nargs="+", default=list(BLURS),
                   help="--picture-rows: the blurs at the slider's end to measure, px of the aligned frame")
    p.add_argument("--fresh", action="store_true",
                   help="--guide: learn every edit again instead of resuming from the cache")
    p.add_argument("--no-links", action="store_true",
                   help="effect: do not remove what an attribute excludes (hair colours when bald, ...)")
    p.add_argument("--ridge", type=float, default=RIDGE, help="effect: ridge, relative to the label variance")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                   help="faces per batch: with --threshold, sets how many faces each mean averages")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="seed: stop when both means move less")
    p.add_argument("--max-positives", type=int, default=MAX_POSITIVES, help="seed: positives per mean at most")
    p.add_argument("--seed", type=int, default=0, help="order in which faces are visited")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help=f"default: MODEL/{BANK_NAME}")
    p.add_argument("--force", action="store_true", help="replace an existing bank")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def judge_folder(args) -> Path:
    """The folder of the classifier ``--method calibrated`` chooses with (checked before any face
    is read)."""
    judge = Path(args.judge or args.model)
    if not (judge / CLASSIFIER_NAME).is_file():
        fail(f"--method calibrated needs the judge, {judge / CLASSIFIER_NAME}: python -m train.evaluate "
             f"trains one (pass its folder as --judge), or use --method effect")
    return judge


def settings(args) -> SliderSettings:
    """The slider recipe's settings the options give."""
    return SliderSettings(calibration_faces=args.calibration_faces, reach=args.reach, hold_rounds=args.hold_rounds,
                          hold_faces=args.hold_faces, learn_keeps=tuple(args.guide_keep),
                          learn_steps=args.guide_steps, learn_faces=args.guide_faces, blurs=tuple(args.blurs),
                          batch_size=args.batch_size, seed=args.seed)


def validation(args, model: VAE, data):
    """The chooser (``--judge``) and the validation faces the sliders are chosen on."""
    chooser = load_classifier(judge_folder(args), args.device, classifier_policy(model.config.policy))
    valid_x, valid_y, _ = load_split(data, "valid", model.config.policy, progress=not args.quiet)
    return chooser, Faces(valid_x, valid_y)


def make_bank(args, model: VAE, data, train: Faces, base: AttributeBank | None = None) -> AttributeBank:
    """The bank ``--method`` asks for, from the faces of ``--split`` (``base``: ``--base``'s bank)."""
    s = settings(args)
    if args.method == "seed":
        return build_bank(model, labelled_batches(train.images, train.labels, args.batch_size, args.seed),
                          threshold=args.threshold, max_positives=args.max_positives, device=args.device,
                          progress=not args.quiet, total=-(-len(train) // args.batch_size))
    effect = effect_bank(effects_of(moments(model, train, s, args.device, not args.quiet), args.ridge),
                         links=not args.no_links, batches=-(-len(train) // args.batch_size))
    if args.method == "effect":
        return effect
    chooser, valid = validation(args, model, data)
    editor = Editor(model, seed_bank(model, train, s, args.device, not args.quiet), args.device)
    candidates = {"effect": effect, "seed": editor.bank}
    attributes = args.only or list(DRAWN)
    if args.guide:
        guide, checkpoints = load_guide(args, model)
        codes = encode_all(editor, train, args.batch_size)
        for keep, backdrop in guide_settings(args):
            candidates.update(learned(model, guide, codes, train.labels, effect, attributes, [keep], backdrop, s,
                                      checkpoints, not args.quiet))
    if base is not None:
        candidates["base"] = base
    bank, choices = calibrated(editor, chooser, candidates, valid, attributes, s, not args.quiet)
    if args.only:
        bank = base.with_rows(bank, attributes)
    print(at_the_bar(choices))
    return held(bank, editor, chooser, valid, attributes, s, not args.quiet)[0]


def load_guide(args, model: VAE):
    """``--guide``'s classifier, and the cache folder learned edits are kept in (None with ``--fresh``)."""
    guide = load_classifier(args.guide, args.device, classifier_policy(model.config.policy))
    checkpoints = None if args.fresh else cache_root() / "guided"
    if checkpoints:
        print(f"learned edits are kept in {checkpoints} (a stopped run resumes; --fresh ignores them)")
    return guide, checkpoints


def guide_settings(args) -> list[tuple[float, float]]:
    """The (keep, backdrop) weights of each learned candidate."""
    backdrops = args.guide_backdrop * len(args.guide_keep) if len(args.guide_backdrop) == 1 else args.guide_backdrop
    return list(zip(args.guide_keep, backdrops))


def with_hair_rows(args, model: VAE, data, train: Faces, base: AttributeBank) -> AttributeBank:
    """``--hair-rows``: ``base`` with rows per hair state for the hair sliders (``--only``)."""
    chooser, valid = validation(args, model, data)
    s = settings(args)
    fit = effects_of(moments(model, train, s, args.device, not args.quiet), args.ridge)
    editor = Editor(model, replace(base, hair_rows=None), args.device)
    guide, checkpoints = load_guide(args, model) if args.guide else (None, None)
    s = replace(s, hair_keeps=tuple(args.guide_keep), learn_backdrop=args.guide_backdrop[0])
    attributes = args.only or [a for a in STATES if a in DRAWN]
    return hair_rows(editor, chooser, guide, base, fit, valid, encode_all(editor, train, args.batch_size), train.labels,
                     attributes, s, checkpoints, not args.quiet)


def with_picture_rows(args, model: VAE, data, base: AttributeBank) -> AttributeBank:
    """``--picture-rows``: ``base`` with its picture sliders made from each face's picture."""
    chooser, valid = validation(args, model, data)
    editor = Editor(model, base, args.device)
    return picture_rows(editor, chooser, base, valid, args.only or list(PICTURE_SLIDERS), settings(args),
                        not args.quiet)


def with_removal_rows(args, model: VAE, data, train: Faces, base: AttributeBank) -> AttributeBank:
    """``--removal-rows``: ``base`` with rows below 0 where they take the attribute away better."""
    chooser, valid = validation(args, model, data)
    s = settings(args)
    effect = effect_bank(effects_of(moments(model, train, s, args.device, not args.quiet), args.ridge),
                         links=not args.no_links, batches=-(-len(train) // args.batch_size))
    return removal_rows(base, Editor(model, base, args.device), chooser, effect, valid, args.only or list(DRAWN), s,
                        not args.quiet)


def main(argv=None) -> int:
    args = parse(argv)
    counts = (args.batch_size, args.max_positives, args.calibration_faces, args.hold_faces, args.guide_steps,
              args.guide_faces)
    if (min(counts) < 1 or not args.reach > 0 or not args.threshold > 0 or not args.ridge >= 0
            or args.hold_rounds < 0):
        fail("--batch-size, --max-positives, --calibration-faces, --hold-faces, --guide-steps and "
             "--guide-faces must be at least 1, --hold-rounds not negative, --reach and --threshold "
             "positive and --ridge not negative")
    rows = [flag for flag, on in (("--hair-rows", args.hair_rows), ("--picture-rows", args.picture_rows),
                                  ("--removal-rows", args.removal_rows)) if on]
    if (args.guide or args.base or rows) and args.method != "calibrated":
        fail("--guide, --base, --hair-rows, --picture-rows and --removal-rows work with --method calibrated; "
             "pass that too")
    if args.hair_rows and not args.base:
        fail("--hair-rows gives an existing bank's hair sliders their hair rows: pass that bank as --base")
    if args.picture_rows and not args.base:
        fail("--picture-rows remakes an existing bank's picture sliders: pass that bank as --base")
    if args.removal_rows and not args.base:
        fail("--removal-rows gives an existing bank's sliders their rows below 0: pass that bank as --base")
    if len(rows) > 1:
        fail(f"{' and '.join(rows)} are made one at a time: run one on the other's bank")
    if not all(0 < b <= MAX_BLUR for b in args.blurs):
        fail(f"--blurs are pixels of the aligned frame, each in (0, {MAX_BLUR:g}]")
    if args.only is not None:
        args.only = list(dict.fromkeys(args.only))
        if not args.base:
            fail("--only rebuilds some sliders of a bank: pass that bank as --base")
        if not args.only:
            fail("--only names at least one attribute (comma-separated)")
        not_judged = [a for a in args.only if a not in DRAWN]
        if not_judged:
            fail(f"--only takes attributes the judge can see, not {', '.join(not_judged)} (not drawn in "
                 f"the synthetic set)")
        no_states = [a for a in args.only if args.hair_rows and not sources(a)]
        if no_states:
            fail(f"--hair-rows varies the hair sliders ({', '.join(STATES)}), not {', '.join(no_states)}")
        not_pictures = [a for a in args.only if args.picture_rows and a not in PICTURE_SLIDERS]
        if not_pictures:
            fail(f"--picture-rows makes {', '.join(PICTURE_SLIDERS)} from the picture, not {', '.join(not_pictures)}")
    if not all(k >= 0 for k in args.guide_keep + args.guide_backdrop):
        fail("--guide-keep and --guide-backdrop weights must not be negative")
    if len(args.guide_backdrop) not in (1, len(args.guide_keep)):
        fail("--guide-backdrop takes one weight for all, or one per --guide-keep")
    out = Path(args.out) if args.out else Path(args.model) / BANK_NAME
    if out.exists() and not args.force:
        fail(f"{out} exists; pass --force to replace it")
    model = VAE.from_pretrained(args.model, device=args.device)
    # Read once, and refused (wrong file, other code size) before any face is read.
    base = AttributeBank.load(args.base, z_dim=model.config.z_dim) if args.base else None
    if args.method == "calibrated":
        judge_folder(args)
        if args.guide:
            if Path(args.guide).resolve() == judge_folder(args).resolve():
                fail("--guide must not be the judge: an edit fitted to please one network is judged by "
                     "another (train.attributes trains a guide on other people)")
            load_classifier(args.guide, policy=classifier_policy(model.config.policy))
    data = open_celeba(args.data)
    if args.picture_rows:  # validation faces only
        start = time.perf_counter()
        bank = with_picture_rows(args, model, data, base)
    else:
        images, labels, rep = load_split(data, args.split, model.config.policy, progress=not args.quiet)
        print(rep.summary())
        start = time.perf_counter()
        train = Faces(images, labels)
        bank = (with_hair_rows(args, model, data, train, base) if args.hair_rows
                else with_removal_rows(args, model, data, train, base) if args.removal_rows
                else make_bank(args, model, data, train, base))
    bank.save(out)
    took = time.perf_counter() - start
    print(f"{'attribute':20s} {'pos':>6s} {'neg':>6s} {'batches':>7s} {'|diff|':>7s} {'unit':>6s}  converged")
    for r in bank.records:
        flag = "  (not drawn in the synthetic set)" if r.name in NOT_DRAWN else ""
        print(f"{r.name:20s} {r.positives:6d} {r.negatives:6d} {r.batches:7d} {r.raw_norm:7.3f} {r.scale:6.3f}  "
              f"{'yes' if r.converged else 'no '}{flag}")
    print(f"wrote {len(ATTRIBUTES)} vectors ({args.method}: {bank.unit}) to {out} in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, expected=(CelebAError, ValueError, FileNotFoundError)))
