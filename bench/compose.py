"""The Compose tab, measured: a simulated witness's composites against the two baselines, over
witness noise levels and both ways a witness can perceive, and how long a screen takes to breed.

    python bench/compose.py [--weights weights] [--data data/synthetic] [--witness runs/witness]
                            [--targets 50] [--noise 0.25,0.5,1.0] [--generations 8]

For each witness (a second identity model, or the aligned pixels) and noise level, after
``--generations`` screens: the share of ``--targets`` test faces the judge ranks first and in the
first five among 100 same-sex faces, for the breeding search, random faces of the description and
the description alone; and how often that witness names the culprit from a line-up of 6. Then the
time a pick takes on the server at screen 8. ``python -m train.compose simulate`` runs one
configuration with every generation. The simulation: docs/compose.md; figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common

from disguise.compose.face_space import FACE_SPACE_NAME, FaceSpace
from disguise.compose.pictures import screen_pictures
from disguise.compose.session import Composite
from disguise.compose.simulation import Simulation, make_cases, summary
from disguise.compose.witness import identity_perceiver, pixel_perceiver
from disguise.data.celeba import open_celeba
from disguise.identity.recognisers import LearnedRecogniser
from disguise.identity.training import load_people
from disguise.sliders.editor import Editor


def pick_latency(editor: Editor, space: FaceSpace, repeats: int = 20) -> list[float]:
    """Seconds per pick at screen 8: the breeding, the decode, the 12 pictures as shown."""
    out = []
    for k in range(repeats):
        c = Composite.start(space, {"Male": True}, editor.decode_batch, seed=k)
        for g in range(1, 8):
            c.pick([0, 1 + g % 5], generation=g)
        t = time.perf_counter()
        c.pick([2, 3], generation=8)
        screen_pictures(c, editor.policy, blur=False)
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=str(_common.ROOT / "weights"))
    p.add_argument("--data", default=str(_common.ROOT / "data" / "synthetic"))
    p.add_argument("--witness", default=str(_common.ROOT / "runs" / "witness"),
                   help="the second identity model's folder (README: Compose); 'none' measures pixels only")
    p.add_argument("--targets", type=int, default=50)
    p.add_argument("--generations", type=int, default=8)
    p.add_argument("--noise", default="0.25,0.5,1.0")
    p.add_argument("--wrong", type=float, default=0.2)
    args = p.parse_args()
    editor = Editor.from_pretrained(args.weights)
    space = FaceSpace.load(Path(args.weights) / FACE_SPACE_NAME, editor.model.config.z_dim)
    lat = pick_latency(editor, space)
    print(f"a pick at screen 8 (breed, decode and draw 12 faces): median {_common.median_ms(lat):.0f} ms, "
          f"p90 {_common.pct_ms(lat, 0.9):.0f} ms")
    judge = LearnedRecogniser.from_folder(args.weights)
    faces, people, labels = load_people(open_celeba(args.data), "test", editor.policy, progress=False)
    cases = make_cases(people, labels, args.targets)
    witnesses = {"pixels": pixel_perceiver()}
    if args.witness != "none":
        witnesses = {"identity model 2": identity_perceiver(args.witness), **witnesses}
    print(f"\n{args.targets} test targets, {args.generations} screens of 12, gallery of 100 same-sex faces, "
          f"{args.wrong:.0%} wrong picks, 3 picks a screen; after the last screen:")
    print(f"{'witness':>17s} {'noise':>5s}  {'search top1/top5/med':>22s}  {'random top1/top5/med':>22s}  "
          f"{'description top5':>16s}  {'search / random top5':>20s}  {'line-up':>7s}")
    for name, perceive in witnesses.items():
        for noise in (float(x) for x in args.noise.split(",")):
            sim = Simulation(space, editor.decode_batch, judge.embed_crops, perceive, faces,
                             generations=args.generations, noise=noise, wrong=args.wrong)
            t = time.perf_counter()
            lineup = sim.lineup(cases)
            runs = sim.run(cases, progress=False)
            rows = {k: summary(v)[-1] for k, v in runs.items()}
            s, r, d = rows["search"], rows["random"], rows["description"]
            ratio = s["top5"] / r["top5"] if r["top5"] else float("inf")
            print(f"{name:>17s} {noise:>5.2f}  {s['top1']:>6.0%} {s['top5']:>6.0%} {s['median_rank']:>7.1f}  "
                  f"{r['top1']:>6.0%} {r['top5']:>6.0%} {r['median_rank']:>7.1f}  {d['top5']:>16.0%}  "
                  f"{ratio:>19.2f}x  {lineup:>7.0%}   ({time.perf_counter() - t:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
