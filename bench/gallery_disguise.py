"""Does indexing each known face's predicted disguises find a disguised sighting more often?

    python bench/gallery_disguise.py [--people 300] [--count 12000] [--seed 1] [--weights weights]

Against the plain gallery (each known face once): the gallery side (each known face also in
glasses and in a hat, under its name; a person's distance is their nearest picture's) and the
sighting side (the sighting also searched with glasses and a hat taken off). Drawn faces: test
people of a plan the identity model never saw, known without glasses or a hat, sighted in another
image wearing one (the disguises: the VAE's edits, alpha 3). Real portraits (dlib): Obama,
Biden, Collins, Hopper among the 100 faces of ``lfw_subset``, sighted in painted dark sunglasses
and a painted cap (painted on the known photo too). Prints top-1/top-5, the true person's and
the nearest other's median distance, and how often the true person, or someone else first, is
within the threshold.
"""

from __future__ import annotations

import argparse
import math
import time

import _common
import numpy as np
from PIL import Image, ImageDraw, ImageOps

from disguise.data.synthetic import item_labels, make_plan, render
from disguise.identity.recognisers import DLIB_DISTANCE, DlibRecogniser, FaceShot, LearnedRecogniser
from disguise.photo.alignment import prepare_face
from disguise.photo.view import photo_edit
from disguise.sliders.editor import Editor

ALPHA = 3.0
DISGUISES = {"glasses": "Eyeglasses", "hat": "Wearing_Hat"}


def score(dist: np.ndarray, truth: np.ndarray, threshold: float) -> dict:
    """``dist``: ``(sightings, people)``; ``truth``: each sighting's person (column)."""
    n = len(truth)
    true_d = dist[np.arange(n), truth]
    rank = (dist < true_d[:, None]).sum(1)
    best = dist.argmin(1)
    others = dist.copy()
    others[np.arange(n), truth] = np.inf
    return {"impostor_median": float(np.median(others.min(1))), "top1": float((rank == 0).mean()), "top5": float((rank < 5).mean()),
            "true_median": float(np.median(true_d)), "true_within": float((true_d < threshold).mean()),
            "false_match": float(((best != truth) & (dist.min(1) < threshold)).mean())}


def nearest_per_person(q: np.ndarray, vecs: np.ndarray, owner: np.ndarray, people: int, metric: str) -> np.ndarray:
    """``(len(q), people)``: each person's nearest picture's distance to each query."""
    d = 1 - q @ vecs.T if metric == "cosine" else np.linalg.norm(q[:, None] - vecs[None], axis=2)
    out = np.full((len(q), people), np.inf)
    for j in range(people):
        out[:, j] = d[:, owner == j].min(1)
    return out


def table(title: str, rows: dict[str, dict], unit: str) -> None:
    print(title)
    print(f"| {'gallery':<50} | top-1 | top-5 | true {unit} (median) | nearest other (median) | true within "
          f"| false match |")
    print(f"|{'-' * 52}|------:|------:|----------------------:|-----------------------:|------------:|------------:|")
    for name, s in rows.items():
        print(f"| {name:<50} | {s['top1']:5.1%} | {s['top5']:5.1%} | {s['true_median']:21.3f} | "
              f"{s['impostor_median']:22.3f} | {s['true_within']:11.1%} | {s['false_match']:11.1%} |")
    print()


# ----------------------------------------------------------------------------------------------
# Drawn faces


def drawn(args) -> dict[str, dict]:
    editor = Editor.from_pretrained(args.weights)
    rec = LearnedRecogniser.from_folder(args.weights)
    plan = make_plan(args.count, args.seed)
    test = np.flatnonzero(plan.partition == 2)
    by_person: dict[int, list[int]] = {}
    for i in test.tolist():
        by_person.setdefault(int(plan.person_of[i]), []).append(i)
    chosen = [pid for pid, items in by_person.items() if len(items) >= 2][:args.people]

    def draw(index: int, **force) -> np.ndarray:
        person = plan.persons[plan.person_of[index]]
        lab, rng = item_labels(plan.seed, person, index)
        lab.update(force)
        return np.asarray(render(person, lab, rng)[0])

    def edited(prep, alphas: dict) -> np.ndarray:
        z = editor.encode(prep.crop[None])
        recon = editor.decode(z)[0]
        locked = [] if "Male" in alphas else ["Male"]
        return photo_edit(prep.photo, editor.policy, recon, editor.render(z, alphas, locked))

    def embed(images: list[np.ndarray], prep_of) -> np.ndarray:
        return rec.embed([FaceShot(img, p.photo.to_frame) for img, p in zip(images, prep_of)])

    known_preps, sight_preps, truth, kinds = [], [], [], []
    for k, pid in enumerate(chosen):
        first, later = by_person[pid][0], by_person[pid][1]
        known_preps.append(prepare_face(draw(first, Eyeglasses=False, Wearing_Hat=False), editor.policy,
                                        already_aligned=True))
        wear = "Eyeglasses" if k % 2 == 0 else "Wearing_Hat"
        other = "Wearing_Hat" if wear == "Eyeglasses" else "Eyeglasses"
        sight_preps.append(prepare_face(draw(later, **{wear: True, other: False}), editor.policy, already_aligned=True))
        truth.append(k)
        kinds.append(wear)
    truth = np.array(truth)
    n = len(chosen)
    plain = embed([p.photo.photo for p in known_preps], known_preps)
    dressed = {name: embed([edited(p, {attr: ALPHA}) for p in known_preps], known_preps)
               for name, attr in DISGUISES.items()}
    sighted = embed([p.photo.photo for p in sight_preps], sight_preps)
    undressed = {name: embed([edited(p, {attr: -ALPHA}) for p in sight_preps], sight_preps)
                 for name, attr in DISGUISES.items()}
    owner = np.arange(n)
    threshold = 1 - rec.threshold  # as a distance (1 - cosine)
    rows = {}
    base = nearest_per_person(sighted, plain, owner, n, "cosine")
    rows["plain (each known face once)"] = score(base, truth, threshold)
    gal = np.vstack([plain, *dressed.values()])
    own = np.concatenate([owner] * (1 + len(dressed)))
    rows["+ each known face in glasses and in a hat"] = score(
        nearest_per_person(sighted, gal, own, n, "cosine"), truth, threshold)
    q = np.minimum.reduce([base] + [nearest_per_person(u, plain, owner, n, "cosine") for u in undressed.values()])
    rows["sighting also searched without glasses / hat"] = score(q, truth, threshold)
    return {"rows": rows, "n": n, "threshold": threshold}


# ----------------------------------------------------------------------------------------------
# Real portraits


def eyes_in_photo(prep) -> np.ndarray:
    """The two eyes (image-left, image-right) in the photo's own pixels."""
    pts = np.array([prep.landmarks[2:4].mean(0), prep.landmarks[0:2].mean(0)])
    inv = np.linalg.inv(np.vstack([prep.photo.to_frame, [0.0, 0.0, 1.0]]))
    return pts @ inv[:2, :2].T + inv[:2, 2]


def paint_cap(photo: Image.Image, eyes: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A baseball cap painted on: a crown over the top of the head and a brim above the brows."""
    out = photo.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    (lx, ly), (rx, ry) = eyes
    dist = math.hypot(rx - lx, ry - ly)
    cx, cy = (lx + rx) / 2, (ly + ry) / 2
    colour = tuple(int(c) for c in rng.choice([(20, 30, 90), (140, 20, 20), (25, 25, 25), (200, 200, 200)]))
    brim_y = cy - 0.75 * dist
    d.ellipse([cx - 1.25 * dist, brim_y - 1.6 * dist, cx + 1.25 * dist, brim_y + 0.5 * dist], fill=colour)
    d.rectangle([cx - 1.3 * dist, brim_y - 0.05 * dist, cx + 1.3 * dist, brim_y + 0.3 * dist], fill=colour)
    return out


def real(args) -> dict[str, dict]:
    import skimage.data
    from matplotlib import cbook

    from disguise.data.scenes import paint_glasses
    from disguise.preprocess import Preprocess

    fixtures = _common.ROOT / "tests" / "fixtures" / "real_faces"
    rec = DlibRecogniser()
    policy = Preprocess()
    photos = {"obama": [fixtures / f"obama{k}.jpg" for k in ("", "2", "3")], "biden": [fixtures / "biden.jpg"],
              "collins": [_common.Path(skimage.__file__).parent / "data" / "astronaut.png"],
              "hopper": [_common.Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))]}
    rng = np.random.default_rng(args.seed)

    def describe(img: Image.Image) -> np.ndarray:
        prep = prepare_face(img, policy)
        return rec.embed([FaceShot.of(prep.photo, landmarks=prep.landmarks)])[0]

    def disguised(img: Image.Image, how: str) -> Image.Image:
        prep = prepare_face(img, policy)
        eyes = eyes_in_photo(prep)
        return paint_glasses(img, eyes, rng, dark=True) if how == "glasses" else paint_cap(img, eyes, rng)

    names = list(photos)
    known = {n: Image.open(ps[0]).convert("RGB") for n, ps in photos.items()}
    sightings = []
    for k, n in enumerate(names):
        others = [Image.open(p).convert("RGB") for p in photos[n][1:]] or [ImageOps.mirror(known[n])]
        for img in others:
            for how in ("glasses", "hat"):
                sightings.append((k, disguised(img, how)))
    # the other people: the LFW subset's 100 real faces, at dlib's chip size
    chips = [np.ascontiguousarray(np.asarray(Image.fromarray((np.clip(f, 0, 1) * 255).astype(np.uint8))
                                             .resize((150, 150), Image.Resampling.BICUBIC).convert("RGB")))
             for f in skimage.data.lfw_subset()[:100]]
    lfw = np.array(rec.model.compute_face_descriptor(chips))
    people = len(names) + len(lfw)
    plain = np.array([describe(known[n]) for n in names])
    dressed = np.array([describe(disguised(known[n], how)) for how in ("glasses", "hat") for n in names])
    sighted = np.array([describe(img) for _, img in sightings])
    truth = np.array([k for k, _ in sightings])
    base_vecs = np.vstack([plain, lfw])
    base_owner = np.arange(people)
    rows = {}
    rows["plain (each known face once)"] = score(
        nearest_per_person(sighted, base_vecs, base_owner, people, "euclid"), truth, DLIB_DISTANCE)
    gal = np.vstack([base_vecs, dressed])
    own = np.concatenate([base_owner, np.tile(np.arange(len(names)), 2)])
    rows["+ each known face in painted sunglasses and a cap"] = score(
        nearest_per_person(sighted, gal, own, people, "euclid"), truth, DLIB_DISTANCE)
    return {"rows": rows, "n": len(sightings), "people": people}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=300)
    p.add_argument("--count", type=int, default=12000, help="images in the synthetic plan")
    p.add_argument("--seed", type=int, default=1, help="the plan's seed (the bundled identity model saw 0)")
    p.add_argument("--weights", default=str(_common.ROOT / "weights"))
    args = p.parse_args()
    t = time.perf_counter()
    d = drawn(args)
    table(f"Drawn faces (the identity model): {d['n']} people, each sighted once in glasses or a hat; "
          f"threshold: distance {d['threshold']:.3f} (1 - cosine)", d["rows"], "distance")
    r = real(args)
    table(f"Real portraits (dlib): {r['n']} disguised sightings of 4 people among {r['people']} people; "
          f"threshold: distance {DLIB_DISTANCE}", r["rows"], "distance")
    print(f"{time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
