"""The live view in a real browser: the page decoding edits itself (web/live.js).

    python bench/browser_live.py [--weights weights] [--codes 50] [--seconds 4]

Runs `python app.py` in its own process (onnxruntime-web from web/node_modules: run
`npm ci --prefix web` first) and drives Debian's chromium with Playwright (headless, software
rendering, no GPU). It measures loading (time and bytes, first and second visit); parity (the
page's pictures against the server's, in the model view and the photo view); and dragging the
Eyeglasses slider on a 12 MP photo on a laptop, a high-density laptop and a phone: pictures drawn
per second, input-to-pixels, the photo work per picture and requests sent before the release.
Targets and figures: docs/app.md ("Live in the browser") and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import shutil
import statistics
import tempfile
import time

import _common
import numpy as np
from PIL import Image

from disguise.attributes import ATTRIBUTES
from disguise.photo.view import PhotoCanvas, PhotoFrame
from disguise.serving.live import random_edits
from disguise.serving.studio import Studio
from disguise.serving.web_assets import LOCAL_RUNTIME, ORT_VERSION, local_runtime_version

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ASTRONAUT = _common.ROOT / "examples" / "astronaut.jpg"
RENDER = """async ([doc, alphas]) => { await window.disguiseLive.prepare(doc);
                                       return await window.disguiseLive.render(alphas); }"""
# Input events inside the page, one per display frame, sweeping the slider for `seconds`.
IN_PAGE_DRAG = """async (seconds) => {
  const range = document.querySelector('#slider-Eyeglasses input[type=range]');
  const live = window.disguiseLive;
  const frames0 = live.frames, stats0 = live.stats.length;
  const t0 = performance.now();
  let k = 0;
  await new Promise((done) => {
    function step() {
      const t = performance.now() - t0;
      if (t > seconds * 1000) return done();
      range.value = (3.5 * Math.sin(k++ * 0.05)).toFixed(2);
      range.dispatchEvent(new Event('input', {bubbles: true}));
      requestAnimationFrame(step);
    }
    requestAnimationFrame(step);
  });
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 200));
  return {inputs: k, frames: live.frames - frames0, seconds: (t1 - t0) / 1000,
          stats: live.stats.slice(stats0)};
}"""


def visit(playwright, profile: str, url: str) -> dict:
    """Open the page in a browser on ``profile``; seconds until it can decode, bytes fetched."""
    context = playwright.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=ARGS)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    fetched = {"all": 0, "assets": 0, "network": 0, "cached": 0}
    urls, from_cache = {}, set()

    def on_sent(e):
        urls[e["requestId"]] = e["request"]["url"]

    def on_response(e):
        if e["response"].get("fromDiskCache") or e["response"].get("fromPrefetchCache"):
            from_cache.add(e["requestId"])

    def on_finished(e):
        fetched["all"] += e["encodedDataLength"]
        if "/disguise-web/" in urls.get(e["requestId"], ""):
            fetched["assets"] += e["encodedDataLength"]
            cached = e["requestId"] in from_cache
            fetched["cached" if cached else "network"] += 1

    cdp.on("Network.requestWillBeSent", on_sent)
    cdp.on("Network.requestServedFromCache", lambda e: from_cache.add(e["requestId"]))
    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.loadingFinished", on_finished)
    page.goto(url, wait_until="load")
    page.wait_for_function("() => window.disguiseLive && window.disguiseLive.mode !== 'loading'", timeout=120_000)
    mode = page.evaluate("() => window.disguiseLive.mode")
    ready = page.evaluate("() => window.disguiseLive.readyAt || null")
    page.wait_for_timeout(500)
    context.close()
    return {"mode": mode, "ready_ms": ready, **fetched}


def parity(page, studio: Studio, codes: int) -> tuple[int, float]:
    """The largest difference (levels) and the share of identical values over ``codes`` random
    codes, alphas and locks, model size."""
    worst, same = 0, []
    for face_seed, alphas, locked in random_edits(codes, seed=2):
        face = studio.random_face(seed=face_seed)
        vector = [alphas.get(a, 0.0) for a in ATTRIBUTES]
        got = np.array(page.evaluate(RENDER, [studio.live(face, vector, locked, "model"), vector]), np.int16)
        want = studio.editor.render(face.z, alphas, locked).astype(np.int16).reshape(-1)
        worst = max(worst, int(np.abs(got - want).max()))
        same.append(float((got == want).mean()))
    return worst, float(np.mean(same))


DEVICES = {  # name: browser context options
    "laptop 1280 x 800": {"viewport": {"width": 1280, "height": 800}},
    "laptop, ratio 2": {"viewport": {"width": 1280, "height": 800}, "device_scale_factor": 2},
    "phone 390 x 844, ratio 3": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3,
                                 "is_mobile": True, "has_touch": True},
}


def photo_parity(page, studio: Studio) -> tuple[int, float]:
    """The page's photo view against PhotoCanvas.apply on the photo as sent (levels: max, p99)."""
    face = studio.prepare(ASTRONAUT)
    vector = [0.0] * len(ATTRIBUTES)
    vector[ATTRIBUTES.index("Eyeglasses")] = 3.0
    vector[ATTRIBUTES.index("Wearing_Hat")] = 2.0
    doc = studio.live(face, vector, [], "photo")
    edited = np.array(page.evaluate(RENDER, [doc, vector]), np.uint8).reshape(face.recon.shape)
    data = page.evaluate("() => window.disguiseLive.afterPixels()")
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).convert("RGB"), int)
    src = json.loads(doc)["photo"]["src"]
    sent = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))
    view = PhotoFrame(sent, face.live(studio.editor.policy).view.to_frame)
    want = PhotoCanvas(view, studio.editor.policy).apply(face.recon, edited).astype(int)
    diff = np.abs(shown - want)
    return int(diff.max()), float(np.percentile(diff, 99))


def summarise(stats: list[dict], seconds: float) -> str:
    drawn = [s["drawn"] - s["input"] for s in stats if s["input"]]
    shown = [s["frame"] - s["input"] for s in stats if s["input"] and s["frame"]]
    decode = [s["decode"] for s in stats]
    photo = [s["photo"] for s in stats]
    present = [s["present"] for s in stats]
    q = lambda xs, p: float(np.percentile(xs, p)) if xs else float("nan")  # noqa: E731
    return (f"{len(stats) / seconds:5.1f} pictures/s; input-to-pixels p50 {q(drawn, 50):.1f} ms "
            f"(p90 {q(drawn, 90):.1f}), to the frame shown p50 {q(shown, 50):.1f} ms; "
            f"decode p50 {statistics.median(decode):.1f} ms, photo work p50 {q(photo, 50):.1f} ms "
            f"(p90 {q(photo, 90):.1f}), presenting p50 {q(present, 50):.1f} ms")


def drag_with_mouse(page, moves: int = 120) -> tuple[str, int]:
    track = page.locator("#slider-Eyeglasses input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    y = box["y"] + box["height"] / 2
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.evaluate("() => { window.benchInputs = 0; document.addEventListener('input', () => window.benchInputs++); }")
    n0 = page.evaluate("() => window.disguiseLive.stats.length")
    page.mouse.move(box["x"] + box["width"] * 0.1, y)
    page.mouse.down()
    t0 = time.perf_counter()
    for k in range(moves):
        page.mouse.move(box["x"] + box["width"] * (0.1 + 0.8 * (k % 60) / 60), y)
    seconds = time.perf_counter() - t0
    page.wait_for_timeout(100)
    before_release = len(requests)
    page.mouse.up()
    stats = page.evaluate(f"() => window.disguiseLive.stats.slice({n0})")
    inputs = page.evaluate("() => window.benchInputs")
    return f"{inputs / seconds:.0f} inputs/s -> {summarise(stats, seconds)}", before_release


def open_with(browser, url: str, photo: str, device: dict):
    """A page on ``device`` with ``photo`` uploaded, once the live copy follows the screen."""
    page = browser.new_context(**device).new_page()
    page.goto(url, wait_until="load")
    page.wait_for_selector("#face-input input[type=file]", state="attached", timeout=60_000)
    page.wait_for_function("() => window.disguiseLive && window.disguiseLive.mode !== 'loading'", timeout=120_000)
    page.set_input_files("#face-input input[type=file]", photo)
    page.wait_for_function("() => window.disguiseLive?.frames > 0", timeout=60_000)
    page.wait_for_timeout(1500)  # the page reports its size; the server sends the copy for it
    page.wait_for_function("() => !window.disguiseLive.busy", timeout=60_000)
    return page


def quiet(page, requests: list) -> None:
    """Wait until the release's own requests (the server's picture, the identity line) end."""
    for _ in range(40):  # (Playwright delivers events only inside its own calls: no time.sleep)
        seen = len(requests)
        page.wait_for_timeout(500)
        if len(requests) == seen:
            break
    requests.clear()


def drags(browser, url: str, photo: str, name: str, device: dict, seconds: float) -> None:
    page = open_with(browser, url, photo, device)
    size = page.evaluate("() => { const l = window.disguiseLive, c = document.querySelector('#live canvas'); "
                         "return [l.after.width, l.after.height, c.width, c.height]; }")
    print(f"   {name}: live copy {size[0]} x {size[1]}, canvas {size[2]} x {size[3]} device px")
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    if not device.get("has_touch"):
        line, before_release = drag_with_mouse(page)
        print(f"      Playwright's mouse : {line}; {before_release} requests before the release")
    quiet(page, requests)
    result = page.evaluate(IN_PAGE_DRAG, seconds)
    print(f"      in-page input events: {result['inputs'] / result['seconds']:.0f} inputs/s -> "
          f"{summarise(result['stats'], result['seconds'])}; {len(requests)} requests {requests[:3]}")
    page.context.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(_common.ROOT / "weights"))
    p.add_argument("--codes", type=int, default=50)
    p.add_argument("--seconds", type=float, default=4.0)
    args = p.parse_args()
    if local_runtime_version(LOCAL_RUNTIME) != ORT_VERSION:
        raise SystemExit(f"onnxruntime-web {ORT_VERSION} is not under web/: run `npm ci --prefix web`")
    from playwright.sync_api import sync_playwright

    port = _common.free_port()
    proc, started = _common.start_server([str(_common.ROOT / "app.py"), "--weights", args.weights,
                                          "--port", str(port)], port, env={"DISGUISE_RUNTIME": "local"})
    url = f"http://127.0.0.1:{port}/"
    studio = Studio.load(args.weights, device="cpu")
    print(f"disguise in the browser: chromium headless (software rendering), onnxruntime-web {ORT_VERSION} "
          f"(WASM, 1 thread); app answered in {started:.2f} s")
    try:
        with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
            print("1. loading (navigation until the page can decode; bytes over the network)")
            for name in ("first visit", "second visit"):
                v = visit(pw, profile, url)
                print(f"   {name:12s}: {v['mode']}, ready at {v['ready_ms']:.0f} ms; {v['all'] / 1e6:.2f} MB in all, "
                      f"{v['assets'] / 1e6:.2f} MB of it decoder and runtime (files: {v['network']} from the "
                      f"server, {v['cached']} from the browser's cache)")
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_context(**DEVICES["laptop 1280 x 800"]).new_page()
            page.goto(url, wait_until="load")
            page.wait_for_selector("#face-input input[type=file]", state="attached", timeout=60_000)
            page.set_input_files("#face-input input[type=file]", str(ASTRONAUT))
            page.wait_for_function("() => window.disguiseLive?.frames > 0", timeout=60_000)
            print("2. parity with the server")
            worst, same = parity(page, studio, args.codes)
            print(f"   model size, {args.codes} random codes, alphas and locks: at most {worst} level(s) apart "
                  f"(target <= 1), {same:.4%} of values identical")
            most, p99 = photo_parity(page, studio)
            print(f"   photo view (astronaut, glasses and hat) against PhotoCanvas.apply: at most {most} levels, "
                  f"p99 {p99:.0f}")
            page.context.close()
            print("3. dragging Eyeglasses in the photo view of a 12 MP photo (targets: >= 30 pictures/s, "
                  "photo work <= 10 ms, 0 requests)")
            with tempfile.TemporaryDirectory() as work:
                photo = _common.twelve_megapixel_photo(work)
                for name, device in DEVICES.items():
                    drags(browser, url, photo, name, device, args.seconds)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
