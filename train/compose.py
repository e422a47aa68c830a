"""The Compose tab's face space, and its measurement by a simulated witness.

    python -m train.compose fit --model weights --data data/synthetic
    python -m train.compose simulate --model weights --data data/synthetic --witness runs/witness [--json out.json]

``fit``: one pass over the training split's labelled faces -> MODEL/face_space.safetensors
(``disguise.compose.face_space``). ``simulate``: a simulated witness composes each of ``--targets``
test faces over ``--generations`` screens, and MODEL's identity model ranks each composite among
``--gallery`` faces. Per generation it prints (and writes with ``--json``) top-1, top-5 and the
median rank for the search, the two baselines and the ceiling (the target's own reconstruction),
how often the witness names the culprit from a line-up, and how often the Match tab names the
target from the composite (``--match-suspects``; 0 skips it). The witness must not see faces as
the judge does: ``--witness FOLDER`` is a second identity model trained on other people with
another seed, ``--witness pixels`` the aligned pixels. docs/compose.md ("A simulated witness").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from disguise.compose.breeding import DIMS, METHODS, SCREEN, SPREAD, TAU
from disguise.compose.face_space import FACE_SPACE_NAME, FaceSpace, fit_face_space
from disguise.compose.simulation import GALLERY, LINEUP, Simulation, make_cases, match_first, summary
from disguise.compose.witness import identity_perceiver, pixel_perceiver
from disguise.data.cache import load_split
from disguise.data.celeba import CelebAError, open_celeba
from disguise.files import write_json
from disguise.identity.match import Matcher
from disguise.identity.recognisers import LearnedRecogniser, Recognisers
from disguise.identity.training import load_people
from disguise.sliders.editor import Editor
from disguise.sliders.means import labelled_batches
from disguise.vae.model import VAE
from train._cli import fail, run

KINDS = ("search", "random", "description")


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m train.compose", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit the description's face space on the training split")
    fit.add_argument("--model", required=True, help="weights or run folder (config.json, model.safetensors)")
    fit.add_argument("--data", required=True, help="CelebA-format folder")
    fit.add_argument("--out", default=None, help=f"default: MODEL/{FACE_SPACE_NAME}")
    fit.add_argument("--force", action="store_true", help="replace an existing face space")
    fit.add_argument("--quiet", action="store_true")
    sim = sub.add_parser("simulate", help="measure composites made by a simulated witness")
    sim.add_argument("--model", required=True, help="weights folder: the VAE, its face space, the judge (identity model)")
    sim.add_argument("--data", required=True, help="CelebA-format folder with identity_CelebA.txt")
    sim.add_argument("--witness", required=True, help="a second identity model's folder, or 'pixels'")
    sim.add_argument("--split", default="test", choices=["valid", "test"])
    sim.add_argument("--targets", type=int, default=50)
    sim.add_argument("--generations", type=int, default=8)
    sim.add_argument("--screen", type=int, default=SCREEN, help="faces per screen")
    sim.add_argument("--gallery", type=int, default=GALLERY, help="faces the judge ranks the target among")
    sim.add_argument("--picks", type=int, default=3, help="faces the witness picks per screen")
    sim.add_argument("--noise", type=float, default=0.5,
                     help="the witness's noise, in units of the spread of its similarities to faces of the description")
    sim.add_argument("--wrong", type=float, default=0.2, help="the chance that a pick is a random face instead")
    sim.add_argument("--method", default="estimate", choices=METHODS)
    sim.add_argument("--dims", type=int, default=DIMS, help="face-space components searched")
    sim.add_argument("--tau", type=float, default=TAU, help="estimate: the choice model's temperature")
    sim.add_argument("--spread", type=float, default=SPREAD, help="estimate: the mutation's width")
    sim.add_argument("--kinds", default=",".join(KINDS), help="which of search,random,description to run")
    sim.add_argument("--match-suspects", type=int, default=20,
                     help="suspects in the Match tab's figure (0: skip it)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--json", default=None, help="write the report here")
    sim.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def fit(args) -> int:
    out = Path(args.out) if args.out else Path(args.model) / FACE_SPACE_NAME
    if out.exists() and not args.force:
        fail(f"{out} exists; pass --force to replace it")
    model = VAE.from_pretrained(args.model)
    images, labels, rep = load_split(open_celeba(args.data), "train", model.config.policy, progress=not args.quiet)
    print(rep.summary())
    start = time.perf_counter()
    space = fit_face_space(model, labelled_batches(images, labels, 500), progress=not args.quiet,
                           total=-(-len(images) // 500))
    space.save(out)
    desc = space.description({})
    sd = desc.basis.norm(dim=0)
    share = float((sd[:DIMS] ** 2).sum() / (sd ** 2).sum())
    print(f"wrote {out}: {space.faces} faces in {time.perf_counter() - start:.1f} s; the first {DIMS} of "
          f"{desc.dims} components hold {share:.1%} of the codes' variance")
    return 0


def check(args) -> list[str]:
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        fail(f"--kinds takes {', '.join(KINDS)}; got {args.kinds!r}")
    if min(args.targets, args.generations, args.picks) < 1 or args.screen < 4 or args.gallery < 2:
        fail("--targets, --generations and --picks must be at least 1, --screen at least 4, --gallery at least 2")
    if not (0 <= args.wrong <= 1 and args.noise >= 0 and args.tau > 0 and args.spread > 0):
        fail("--wrong must lie in 0..1, --noise not negative, --tau and --spread positive")
    if args.witness != "pixels" and not (Path(args.witness) / "identity.safetensors").is_file():
        fail(f"--witness {args.witness}: no identity.safetensors there; train a second identity model (README: "
             f"'Compose') or pass --witness pixels")
    if Path(args.witness).resolve() == Path(args.model).resolve():
        fail("the witness must not perceive with the judge's own identity model: pass another one, or 'pixels'")
    return kinds


def simulate(args) -> int:
    kinds = check(args)
    editor = Editor.from_pretrained(args.model)
    space = FaceSpace.load(Path(args.model) / FACE_SPACE_NAME, editor.model.config.z_dim)
    judge = LearnedRecogniser.from_folder(args.model)
    perceive = pixel_perceiver() if args.witness == "pixels" else identity_perceiver(args.witness)
    data = open_celeba(args.data)
    faces, people, labels = load_people(data, args.split, editor.policy, progress=not args.quiet)
    sim = Simulation(space, editor.decode_batch, judge.embed_crops, perceive, faces, generations=args.generations,
                     size=args.screen, picks=args.picks, noise=args.noise, wrong=args.wrong, dims=args.dims,
                     method=args.method, seed=args.seed, tau=args.tau, spread=args.spread)
    start = time.perf_counter()
    report = {"targets": args.targets, "generations": args.generations, "screen": args.screen,
              "gallery": args.gallery, "witness": {"perceives": args.witness, "picks": args.picks,
                                                   "noise": args.noise, "wrong": args.wrong},
              "method": args.method, "seed": args.seed, "split": args.split}
    cases = make_cases(people, labels, args.targets, args.gallery, seed=args.seed)
    report["witness"]["lineup"] = sim.lineup(cases)
    trials = sim.run(cases, kinds, progress=not args.quiet)
    report.update({kind: summary(trials[kind]) for kind in kinds})
    if "search" in trials:
        report["favourite"] = summary(trials["search"], "favourite_ranks")
    ceiling = [sim.ceiling(c, editor.encode) for c in cases]
    report["ceiling"] = {"top1": float(np.mean(np.array(ceiling) == 1)), "top5": float(np.mean(np.array(ceiling) <= 5)),
                         "median_rank": float(np.median(ceiling))}
    if args.match_suspects and "search" in trials:
        report["match"] = match_figure(args, editor, sim, data, people, labels, cases, trials["search"])
    report["seconds"] = round(time.perf_counter() - start, 1)
    print_report(report, kinds)
    if args.json:
        write_json(args.json, report)
        print(f"wrote {args.json}")
    return 0


def match_figure(args, editor, sim, data, people, labels, cases, trials) -> dict:
    """The Match tab's first-rank rate from the composites: the witness saw the target as in its
    photo, and (a second set of targets) in a disguise the photo lacks."""
    matcher = Matcher(editor, Recognisers.load(args.model), None)
    rows = data.indices(args.split)
    if len(rows) != len(people):  # load_people left unreadable images out: rows no longer line up
        fail(f"{len(rows) - len(people)} images of the {args.split} split are unreadable; the Match figure needs "
             f"every one (--match-suspects 0 skips it)")

    def aligned(r: int) -> np.ndarray:
        return np.asarray(Image.open(data.path(int(rows[r]))).convert("RGB"))

    plain = match_first(matcher, cases, trials, aligned, args.match_suspects)
    disguised_cases = make_cases(people, labels, args.targets, args.gallery, seed=args.seed + 1, disguised=True,
                                 strict=False)
    disguised = match_first(matcher, disguised_cases, sim.run(disguised_cases, ["search"], progress=False)["search"],
                            aligned, args.match_suspects)
    return {"suspects": args.match_suspects, "first_undisguised": plain, "targets_undisguised": len(cases),
            "first_disguised": disguised, "targets_disguised": len(disguised_cases)}


def print_report(report: dict, kinds: list[str]) -> None:
    print(f"{report['targets']} targets, {report['generations']} screens of {report['screen']}, gallery of "
          f"{report['gallery']}; witness perceives with {report['witness']['perceives']} (noise "
          f"{report['witness']['noise']}, {report['witness']['wrong']:.0%} wrong picks, {report['witness']['picks']} "
          f"picks a screen); breeding: {report['method']}")
    print(f"{'screen':>6s}  " + "  ".join(f"{k + ' top1/top5/median':>28s}" for k in kinds))
    for g in range(report["generations"]):
        cells = [f"{report[k][g]['top1']:>9.0%} {report[k][g]['top5']:>6.0%} {report[k][g]['median_rank']:>8.1f}"
                 for k in kinds]
        print(f"{g + 1:>6d}  " + "  ".join(f"{c:>28s}" for c in cells))
    c = report["ceiling"]
    print(f"ceiling (the target's own reconstruction): top-1 {c['top1']:.0%}, top-5 {c['top5']:.0%}")
    print(f"the witness names the culprit from a line-up of {LINEUP} (the photo and the gallery's people who fit "
          f"the description best) {report['witness']['lineup']:.0%} of the time (laboratory witnesses: about half)")
    if "search" in report and "random" in report:
        s, r = report["search"][-1]["top5"], report["random"][-1]["top5"]
        most = f"{1 / r:.1f}x" if r else "unbounded"
        print(f"search / random top-5 at screen {report['generations']}: "
              f"{s / r if r else float('inf'):.2f}x (a search that always succeeded: {most})")
    if "match" in report:
        m = report["match"]
        print(f"Match tab, {m['suspects']} suspects, the composite as sighting: target first {m['first_undisguised']:.0%} "
              f"(seen undisguised, {m['targets_undisguised']} targets), {m['first_disguised']:.0%} (seen in glasses or "
              f"a hat its photo lacks, {m['targets_disguised']} targets)")
    print(f"took {report['seconds']:.0f} s")


def main(argv=None) -> int:
    args = parse(argv)
    return fit(args) if args.command == "fit" else simulate(args)


if __name__ == "__main__":
    sys.exit(run(main, expected=(CelebAError, ValueError, FileNotFoundError)))
