"""The app's speed and size, on this machine.

    python bench/app_latency.py [--weights weights] [--events 100] [--threads 2]

Each against its target: the model time per edit at 64 and 128 pixels (and what the face's own
hair and picture rows add); slider events through the real Gradio server, run in its own process
(bench/_serve.py), against a no-op event that returns a ready image, in the model view and the
photo view; upload to first edited image for a 12-megapixel photo; the photo view's work per
slider event beyond the decode; the cold start of `python app.py` and its memory; the identity
line after a slider's release; a disguise sheet with identity per tile. The client freezes its
garbage collector and collects between timings, so that a collection does not land on random
events. The targets, what each figure covers and the last figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time

import _common
import numpy as np
import torch

from disguise.attributes import ATTRIBUTES
from disguise.serving.studio import Studio
from disguise.sliders.bank import AttributeBank
from disguise.sliders.editor import Editor
from disguise.vae.model import VAE, VAEConfig

ASTRONAUT = _common.ROOT / "examples" / "astronaut.jpg"


def model_time(weights: str, size: int, repeats: int = 300) -> tuple[float, str]:
    """Median ms of one edit (z + sum alpha v, decode) with the weights' architecture at ``size``:
    the weights themselves at their own size, the same layers untrained at another size."""
    editor = Editor.from_pretrained(weights)
    cfg = editor.model.config
    what = "these weights"
    if size != cfg.image_size:
        torch.manual_seed(0)
        cfg = VAEConfig.from_dict({**cfg.to_dict(), "image_size": size,
                                   "preprocess": {**cfg.preprocess, "size": size}})
        bank = AttributeBank(names=ATTRIBUTES, records=[],
                             vectors=torch.nn.functional.normalize(torch.randn(40, cfg.z_dim), dim=1))
        editor = Editor(VAE(cfg).eval(), bank)
        what = "same layers, untrained"
    z = editor.encode(np.zeros((size, size, 3), np.uint8))[0]
    alphas = {"Eyeglasses": 2.0, "No_Beard": -1.5, "Wearing_Hat": 1.0}
    ms = _common.median_ms(_common.timed(lambda: editor.render(z, alphas), repeats, warmup=20))
    return ms, what


def own_rows_time(weights: str, repeats: int = 300) -> list[str]:
    """Median ms of an edit's direction that reads the face's own rows, against one that reads
    none: a hair slider's (``disguise.sliders.hair_rows``) and Blurry's (``disguise.sliders.picture_rows``),
    for a face seen before and for new faces."""
    editor = Editor.from_pretrained(weights)
    z = editor.encode(np.zeros((editor.size, editor.size, 3), np.uint8))[0]
    faces = iter(z + 0.05 * torch.randn(repeats + 2, len(z), generator=torch.Generator().manual_seed(0)))

    def ms(fn) -> float:
        return _common.median_ms(_common.timed(fn, repeats, warmup=2))

    lines = [f"direction, no face rows (glasses): {ms(lambda: editor.direction({'Eyeglasses': 2.0}, z=z)):.3f} ms"]
    if editor.hair_rows is not None:
        lines.append(f"direction, a hair slider's rows (brown hair): "
                     f"{ms(lambda: editor.direction({'Brown_Hair': 2.0}, z=z)):.3f} ms")
    if editor.picture_rows is not None:
        name = next(iter(editor.picture_rows.blur))
        new = ms(lambda: editor.direction({name: 2.0}, z=next(faces)))
        kept = ms(lambda: editor.direction({name: 2.0}, z=z))
        lines.append(f"direction, {name}'s row from the face's picture: {new:.2f} ms for a new face, "
                     f"{kept:.3f} ms once worked out")
    return lines


def server_latency(weights: str, events: int, threads: int, photo: str) -> dict[str, list[float]]:
    """Round trips of an edit in each view and of a no-op, interleaved, the server in its own
    process (as in production), after uploading ``photo``."""
    from gradio_client import Client, handle_file

    port = _common.free_port()
    proc, _ = _common.start_server([str(_common.ROOT / "bench" / "_serve.py"), weights, str(port), str(threads)],
                                   port)
    try:
        c = Client(f"http://127.0.0.1:{port}/", verbose=False)
        zero = [0.0] * len(ATTRIBUTES)
        c.predict(handle_file(photo), False, [], *zero, api_name="/prepare")
        rng = np.random.default_rng(0)
        calls = {"model": lambda v: c.predict([], *v, "model", api_name="/edit"),
                 "photo": lambda v: c.predict([], *v, "photo", api_name="/edit"),
                 "noop": lambda v: c.predict(api_name="/noop")}
        times: dict[str, list[float]] = {k: [] for k in calls}
        gc.collect()
        gc.freeze()  # the client's own garbage collections are not the server's latency
        for k in range(events + 10):  # interleaved; the first 10 of each are warm-up
            if k % 10 == 0:
                gc.collect()  # between timings, not inside one
            values = list(zero)
            values[int(rng.integers(40))] = round(float(rng.uniform(-4, 4)), 1)
            for name, call in calls.items():
                t = time.perf_counter()
                call(values)
                if k >= 10:
                    times[name].append(time.perf_counter() - t)
        return times
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def photo_work(studio: Studio, photo: str, repeats: int = 50) -> tuple[float, float, tuple, tuple]:
    """Median ms of drawing one edit on the live (display) copy and on the working copy."""
    from disguise.photo.view import PhotoCanvas

    face = studio.prepare(photo)
    edited = studio.editor.render(face.z, {"Eyeglasses": 2.0, "Wearing_Hat": 1.5})
    live = face.live(studio.editor.policy)
    work = PhotoCanvas(face.photo, studio.editor.policy)
    ms_live = _common.median_ms(_common.timed(lambda: live.apply(face.recon, edited), repeats))
    ms_work = _common.median_ms(_common.timed(lambda: work.apply(face.recon, edited), repeats))
    return ms_live, ms_work, live.view.size, face.photo.size


def cold_start(weights: str) -> tuple[float, float]:
    port = _common.free_port()
    proc, took = _common.start_server([str(_common.ROOT / "app.py"), "--weights", weights, "--port", str(port)], port)
    try:
        from gradio_client import Client, handle_file

        c = Client(f"http://127.0.0.1:{port}/", verbose=False)
        c.predict(handle_file(str(ASTRONAUT)), False, [], *([0.0] * len(ATTRIBUTES)), api_name="/prepare")
        for k in range(20):
            c.predict([], *([0.1 * k] * len(ATTRIBUTES)), api_name="/edit")
        with open(f"/proc/{proc.pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
        return took, rss
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(_common.ROOT / "weights"))
    p.add_argument("--events", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--starts", type=int, default=3)
    p.add_argument("--skip", default="", help="comma-separated parts to skip, e.g. 1,3,4")
    args = p.parse_args()
    skip = set(args.skip.split(","))
    torch.set_num_threads(args.threads)
    print(f"disguise app benchmark, {args.threads} CPU threads, weights {args.weights}")

    if "1" not in skip:
        print("1. model time per edit (median of 300):")
        for size in (64, 128):
            ms, what = model_time(args.weights, size)
            print(f"   {size:3d} x {size:<3d}: {ms:6.2f} ms   (target <= 3 ms; {what})")
        for line in own_rows_time(args.weights):
            print(f"   {line}")

    work = tempfile.TemporaryDirectory()
    photo = _common.twelve_megapixel_photo(work.name)
    if "2" not in skip:
        t = server_latency(args.weights, args.events, args.threads, photo)
        print(f"2. slider event through the server ({args.events} events each, interleaved; "
              "12 MP upload, live pictures as JPEG files of their own):")
        for name in ("model", "photo", "noop"):
            print(f"   {name:5s}: p50 {_common.pct_ms(t[name], .5):6.1f} ms, p95 {_common.pct_ms(t[name], .95):6.1f} ms")
        print(f"   model view / no-op: p50 {statistics.median(t['model']) / statistics.median(t['noop']):.2f}x, "
              f"p95 {_common.pct_ms(t['model'], .95) / _common.pct_ms(t['noop'], .95):.2f}x   (target <= 1.25x)")
        print(f"   photo view / model view: p50 {statistics.median(t['photo']) / statistics.median(t['model']):.2f}x   "
              f"(target <= 1.3x)")

    if not {"3", "5", "6", "7"} <= skip:
        studio = Studio.load(args.weights, device="cpu")
    if "3" not in skip:
        for view in ("model", "photo"):
            times = _common.timed(lambda: studio.render(studio.prepare(photo), {"Eyeglasses": 2.0}, view=view),
                                  7, warmup=1)
            print(f"3. upload to first edited image, 12 MP JPEG (4000 x 3000), {view} view, median of 7: "
                  f"{_common.median_ms(times):6.0f} ms   (target <= 300 ms)")
    if "5" not in skip:
        ms_live, ms_work, live_size, work_size = photo_work(studio, photo)
        print(f"5. photo-view work per slider event beyond the decode, median of 50: "
              f"{ms_live:5.2f} ms on the {live_size[0]} x {live_size[1]} live copy   (target <= 10 ms); "
              f"{ms_work:5.2f} ms on the {work_size[0]} x {work_size[1]} working copy")
    if "6" not in skip:
        alphas = {"Eyeglasses": 2.0, "Wearing_Hat": 1.5}
        firsts, laters = [], []
        for _ in range(5):
            face = studio.prepare(photo)
            firsts += _common.timed(lambda: studio.identity(face, alphas), 1, warmup=0)
            laters += _common.timed(lambda: studio.identity(face, alphas), 5, warmup=0)
        print(f"6. identity line after a release, 12 MP upload ({studio.recogniser(face).name}): first "
              f"{_common.median_ms(firsts):5.0f} ms, then {_common.median_ms(laters):5.0f} ms (medians)   "
              f"(target <= 250 ms)")
    if "7" not in skip:
        face = studio.prepare(photo)
        times = _common.timed(lambda: studio.export_sheet(face), 3, warmup=1)
        print(f"7. disguise sheet with identity per tile, median of 3: {statistics.median(times):5.2f} s   "
              f"(target <= 3 s)")
    work.cleanup()

    if "4" in skip:
        return
    starts = [cold_start(args.weights) for _ in range(args.starts)]
    print(f"4. cold start to ready, median of {args.starts}: "
          f"{statistics.median(s for s, _ in starts):5.2f} s   (target <= 8 s)")
    print(f"   resident memory after an upload and 20 edits: "
          f"{max(r for _, r in starts):6.0f} MB   (target <= 1536 MB)")


if __name__ == "__main__":
    main()
