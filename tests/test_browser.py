"""The page in a real browser (Debian's chromium driven by Playwright): upload, drag, download."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disguise.attributes import ATTRIBUTES
from disguise.photo.view import PhotoCanvas, PhotoFrame
from disguise.serving.live import random_edits
from tests.appserver import serve
from tests.tools import missing

CHROMIUM = os.environ.get("DISGUISE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WAIT = 30_000  # ms; a slider round trip takes ~150 ms here, but CI machines are shared


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(missing("chromium", "apt-get install -y chromium"))
    sync_api = pytest.importorskip("playwright.sync_api", reason=missing("playwright", "pip install -r requirements-test.txt"))
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tiny_run):
    with serve(tiny_run) as (url, _):
        yield url


LAPTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
SHOWN = "() => { const l = window.disguiseLive; return l && l.source !== 'none' && l.after.width > 0; }"


def _open(browser, url: str, photo=None, device: dict = LAPTOP):
    """A new page (its own browser context: the device) on ``url``, with ``photo`` uploaded and
    shown in the picture."""
    page = browser.new_context(accept_downloads=True, **device).new_page()
    page.goto(url, wait_until="load")
    page.wait_for_selector("#face-input input[type=file]", state="attached", timeout=WAIT)
    page.wait_for_function("() => window.disguiseLive && window.disguiseLive.mode !== 'loading'", timeout=WAIT)
    if photo is not None:
        page.set_input_files("#face-input input[type=file]", str(photo))
        page.wait_for_selector("#edited img", state="attached", timeout=WAIT)
        page.wait_for_function(SHOWN, timeout=WAIT)
        _settle(page)
    return page


def _settle(page, quiet_ms: int = 1000) -> None:
    """Wait until the page has sent no request for ``quiet_ms``: an upload's picture shows before
    the events chained to it (the panel folding, the identity line, the stage's new size) have
    all asked the server."""
    sent = []

    def count(request):
        sent.append(request)

    page.on("request", count)
    seen, waited = -1, 0
    while len(sent) != seen and waited < WAIT:
        seen = len(sent)
        page.wait_for_timeout(quiet_ms)
        waited += quiet_ms
    page.remove_listener("request", count)


def _close(page) -> None:
    page.context.close()


def _after(page) -> np.ndarray:
    """The picture's "after" layer: what the canvas shows right of the compare handle."""
    return _data_url(page.evaluate("() => window.disguiseLive.afterPixels()"))


def _data_url(data: str) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))) as im:
        return np.asarray(im.convert("RGB"))


def _changes(page, old: np.ndarray) -> np.ndarray:
    """Wait for the after layer to differ from ``old``; the new one."""
    for _ in range(150):
        new = _after(page)
        if new.shape != old.shape or (new != old).any():
            return new
        page.wait_for_timeout(200)
    raise AssertionError("the picture did not change")


def _box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def _in_view(box: dict, page) -> bool:
    """The whole box on the screen, as the page is now scrolled."""
    size = page.viewport_size
    return box["y"] >= -1 and box["y"] + box["height"] <= size["height"] + 1 and box["x"] >= -1 \
        and box["x"] + box["width"] <= size["width"] + 1


def _drag(page, attribute: str, to: float, steps: int, release: bool = True):
    """Drag ``attribute``'s slider with the mouse from its middle (0) to ``to`` of its width, in
    ``steps`` moves; the slider's range input."""
    track = page.locator(f"#slider-{attribute} input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    for k in range(1, steps + 1):
        page.mouse.move(box["x"] + box["width"] * (0.5 + (to - 0.5) * k / steps), y)
    if release:
        page.mouse.up()
    return track


def _touch_drag(page, attribute: str, to: float, steps: int):
    """The same with a finger (touch events through the DevTools protocol, as a phone sends them)."""
    track = page.locator(f"#slider-{attribute} input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    y = box["y"] + box["height"] / 2
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": box["x"] + box["width"] / 2, "y": y}]})
    for k in range(1, steps + 1):
        x = box["x"] + box["width"] * (0.5 + (to - 0.5) * k / steps)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        page.wait_for_timeout(30)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    return track


def _src(page, elem_id: str) -> str | None:
    img = page.locator(f"#{elem_id} img")
    return img.first.get_attribute("src") if img.count() else None


def test_on_a_laptop_the_picture_is_large_and_beside_the_sliders(browser, site, astronaut, tmp_path):
    page = _open(browser, site, astronaut)
    page.wait_for_function("() => !document.querySelector('#face-input')?.checkVisibility()", timeout=WAIT)
    assert "eyes" in page.locator("#notice").inner_text(timeout=WAIT)
    # The edited photo at least 480 px tall, wholly on the screen, with sliders beside it: no scrolling.
    canvas = _box(page, "#live canvas")
    shown = page.evaluate("() => window.disguiseLive.rect.dh / window.disguiseLive.rect.dpr")
    assert canvas["height"] >= 480 and shown >= 480 and _in_view(canvas, page), (canvas, shown)
    first = _box(page, "[id^=slider-]")  # the first slider of the column
    assert _in_view(first, page) and first["x"] >= canvas["x"] + canvas["width"], first
    # The photo view at the photo's own resolution (512 x 512: smaller than the picture shows it).
    assert page.evaluate("() => [window.disguiseLive.after.width, window.disguiseLive.after.height]") == [512, 512]

    # Drag the Eyeglasses slider with the mouse: the sliders' column scrolls, the picture stays and changes.
    before = _after(page)
    track = _drag(page, "Eyeglasses", 0.95, 10)
    value = float(track.input_value())
    assert value > 2.5, value
    assert _in_view(_box(page, "#live canvas"), page) and _in_view(track.bounding_box(), page)
    _changes(page, before)
    page.wait_for_function("() => document.querySelector('#slider-Eyeglasses').classList.contains('moved')",
                           timeout=WAIT)

    # Download the edited photo at full size, its edit in the PNG's text.
    page.locator("#export-panel").get_by_text("Export").first.click()
    page.locator("#photo").click()
    link = page.locator("#export-file a").first
    link.wait_for(timeout=WAIT)
    with page.expect_download(timeout=WAIT) as info:
        link.click()
    path = tmp_path / "photo.png"
    info.value.save_as(path)
    with Image.open(path) as im:
        assert im.size == (512, 512) and json.loads(im.text["edits"]) == {"Eyeglasses": value}

    # The model view shows the decode (256 px) and the reconstruction, in the same picture.
    page.locator("#view label", has_text="Model").click()
    page.wait_for_function("() => window.disguiseLive.after.width === 256 && window.disguiseLive.before.width === 256",
                           timeout=WAIT)

    # Export the strip and download it.
    page.locator("#strip-alphas textarea, #strip-alphas input").first.fill("-2, 0, 2")
    page.locator("#strip").click()
    page.wait_for_function("() => [...document.querySelectorAll('#export-file a')].some(a => a.href.includes('strip-'))",
                           timeout=WAIT)
    link = page.locator("#export-file a[href*=\"strip-\"]").first
    with page.expect_download(timeout=WAIT) as info:
        link.click()
    path = tmp_path / "strip.png"
    info.value.save_as(path)
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert json.loads(im.text["labels"]) == ["input", "alpha = -2", "alpha = 0", "alpha = +2"]
    _close(page)


def test_on_a_phone_the_picture_stays_on_top_and_a_finger_drags_a_slider(browser, site, astronaut, tmp_path):
    from disguise.serving.studio import live_side

    big = tmp_path / "astronaut-1600.png"  # larger than the phone shows it: the live copy follows the screen
    Image.open(astronaut).convert("RGB").resize((1600, 1600), Image.LANCZOS).save(big)
    page = _open(browser, site, big, PHONE)
    canvas = _box(page, "#live canvas")
    assert _in_view(canvas, page) and canvas["y"] < 250 and canvas["height"] >= 220, canvas  # on the first screen
    stage = page.evaluate("() => { const b = document.querySelector('#live .stage').getBoundingClientRect(); "
                          "return {w: b.width, h: b.height}; }")
    side = live_side((1600, 1600), {**stage, "dpr": 2})  # the box times the pixel ratio, rounded up
    assert side < 1024
    page.wait_for_function(f"() => window.disguiseLive.after.width === {side}", timeout=WAIT)

    # The sliders scroll beneath the picture, which stays at the top of the screen.
    before = _after(page)
    track = _touch_drag(page, "Eyeglasses", 0.9, 12)
    assert page.evaluate("() => window.scrollY") > 300
    canvas = _box(page, "#live canvas")
    assert canvas["y"] <= 40 and _in_view(canvas, page), canvas  # stuck at the top
    slider = track.bounding_box()
    assert _in_view(slider, page) and slider["y"] >= canvas["y"] + canvas["height"], (slider, canvas)
    assert float(track.input_value()) > 2.0, track.input_value()
    _changes(page, before)
    _close(page)


def test_finding_sliders_by_name_and_the_moved_ones(browser, site, astronaut):
    page = _open(browser, site, astronaut)
    visible = "() => [...document.querySelectorAll('[id^=slider-]')].filter(b => b.checkVisibility()).map(b => b.id)"
    assert len(page.evaluate(visible)) == len(ATTRIBUTES)
    page.locator(".finder-query").fill("glass")
    page.wait_for_function(f"() => ({visible})().join() === 'slider-Eyeglasses'", timeout=WAIT)
    page.locator(".finder-query").fill("hair")
    hair = page.evaluate(visible)
    assert "slider-Black_Hair" in hair and "slider-Bald" not in hair and len(hair) >= 5, hair
    page.locator(".finder-query").fill("")
    page.wait_for_function(f"() => ({visible})().length === {len(ATTRIBUTES)}", timeout=WAIT)

    # Move two sliders; "moved only" leaves those two, each marked.
    before = _after(page)
    _drag(page, "Wearing_Hat", 0.8, 5)
    _drag(page, "Smiling", 0.2, 5)
    page.locator(".finder-moved").check()
    page.wait_for_function(f"() => ({visible})().sort().join() === 'slider-Smiling,slider-Wearing_Hat'", timeout=WAIT)
    assert page.locator(".finder-count").inner_text() == "2 moved"
    assert page.locator("#slider-Smiling.moved").count() == 1
    edited = _changes(page, before)

    # Reset is one click: every slider back at 0, no slider marked, the picture the photo again.
    page.locator("#reset").click()
    page.wait_for_function("() => document.querySelector('.finder-count').textContent === ''", timeout=WAIT)
    assert page.locator("[id^=slider-].moved").count() == 0
    _changes(page, edited)
    _close(page)


def test_a_bad_upload_shows_a_message(browser, site, tmp_path):
    page = _open(browser, site)
    bad = tmp_path / "not-a-photo.png"
    bad.write_bytes(b"these bytes are not a picture")
    page.set_input_files("#face-input input[type=file]", str(bad))
    page.wait_for_function("() => document.querySelector('#notice')?.innerText.includes('Could not use')",
                           timeout=WAIT)
    assert "not an image we can read" in page.locator("#notice").inner_text()
    _close(page)


# ----------------------------------------------------------------------------------------------
# The live view: the page decodes edits itself (web/live.js, onnxruntime-web)


def _need_runtime():
    from disguise.serving.web_assets import LOCAL_RUNTIME, ORT_VERSION, local_runtime_version

    if local_runtime_version(LOCAL_RUNTIME) != ORT_VERSION:
        pytest.skip(missing(f"onnxruntime-web {ORT_VERSION} (under web/)", "npm ci --prefix web, as the README's "
                                                                          "test command does"))


@pytest.fixture(scope="module")
def live_site(tiny_run):
    _need_runtime()
    with serve(tiny_run, runtime="local") as (url, studio):
        yield url, studio


def test_the_page_decodes_edits_itself(browser, live_site, astronaut):
    url, studio = live_site
    page = _open(browser, url, astronaut)
    assert page.evaluate("() => window.disguiseLive.mode") == "browser"
    page.wait_for_function("() => window.disguiseLive.frames > 0", timeout=WAIT)
    assert page.locator("#live canvas").is_visible() and not page.locator("#edited img").is_visible()

    # Model size: random codes, alphas and locks, the page's pixels against the server's.
    render = "async ([doc, alphas]) => { await window.disguiseLive.prepare(doc); return await window.disguiseLive.render(alphas); }"
    worst = 0
    for face_seed, alphas, locked in random_edits(6, seed=1):
        face = studio.random_face(seed=face_seed)
        vector = [alphas.get(a, 0.0) for a in ATTRIBUTES]
        got = np.array(page.evaluate(render, [studio.live(face, vector, locked, "model"), vector]), np.int16)
        want = studio.editor.render(face.z, alphas, locked).astype(np.int16).reshape(-1)
        worst = max(worst, int(np.abs(got - want).max()))
    assert worst <= 1, worst

    # The photo view: the page draws the change on the photo as PhotoCanvas.apply does (on the
    # photo as the page got it, a JPEG, at the size the page shows it).
    face = studio.prepare(astronaut)
    vector = [0.0] * len(ATTRIBUTES)
    vector[ATTRIBUTES.index("Eyeglasses")] = 3.0
    doc = studio.live(face, vector, [], "photo")
    edited = np.array(page.evaluate(render, [doc, vector]), np.uint8).reshape(face.recon.shape)
    shown = _after(page).astype(int)
    sent = _data_url(json.loads(doc)["photo"]["src"])
    canvas = face.live(studio.editor.policy)
    expected = PhotoCanvas(PhotoFrame(sent, canvas.view.to_frame), studio.editor.policy).apply(face.recon, edited)
    diff = np.abs(shown - expected.astype(int))
    assert diff.max() <= 3 and (diff > 1).mean() < 0.01, (diff.max(), (diff > 1).mean())
    assert (np.abs(shown - sent.astype(int)) > 8).any()  # and the edit is there
    _close(page)


def test_the_compare_handle_shows_before_left_and_after_right(browser, live_site, astronaut):
    url, _ = live_site
    page = _open(browser, url, astronaut)
    page.wait_for_function("() => window.disguiseLive.frames > 0", timeout=WAIT)
    _drag(page, "Eyeglasses", 0.95, 5)
    page.wait_for_timeout(500)
    box = _box(page, "#live canvas")
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)  # drag the handle from the middle to the right edge
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, y, steps=5)
    page.mouse.up()
    assert page.evaluate("() => window.disguiseLive.handle") > 0.95
    page.keyboard.press("ArrowLeft")  # the keys move it too (the canvas has the focus)
    handle = page.evaluate("() => window.disguiseLive.handle")
    assert 0.8 < handle < 0.99, handle
    page.locator("#live canvas").dblclick()  # and a double click puts it back in the middle
    assert page.evaluate("() => window.disguiseLive.handle") == 0.5
    _close(page)


def test_a_drag_asks_the_server_nothing_until_release(browser, live_site, astronaut):
    url, _ = live_site
    page = _open(browser, url, astronaut)
    page.wait_for_function("() => window.disguiseLive.frames > 0", timeout=WAIT)
    server_picture = page.locator("#edited img").first.get_attribute("src")
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    frames = page.evaluate("() => window.disguiseLive.frames")
    _drag(page, "Eyeglasses", 0.9, 20, release=False)
    page.wait_for_function(f"() => window.disguiseLive.frames > {frames + 5}", timeout=WAIT)
    assert requests == [], requests  # every picture of the drag was drawn in the page
    page.mouse.up()
    # On release the server draws the authoritative picture (and the identity line) once.
    page.wait_for_function("([sel, old]) => document.querySelector(sel)?.getAttribute('src') !== old",
                           arg=["#edited img", server_picture], timeout=WAIT)
    assert any("/gradio_api/queue/join" in r for r in requests)
    # Keys move a slider without a release: the page draws each step, and the server the last.
    server_picture = page.locator("#edited img").first.get_attribute("src")
    frames = page.evaluate("() => window.disguiseLive.frames")
    track = page.locator("#slider-Wearing_Hat input[type=range]")
    track.focus()
    for _ in range(5):
        track.press("ArrowRight")
    page.wait_for_function(f"() => window.disguiseLive.frames >= {frames + 1}", timeout=WAIT)
    page.wait_for_function("([sel, old]) => document.querySelector(sel)?.getAttribute('src') !== old",
                           arg=["#edited img", server_picture], timeout=WAIT)
    assert float(track.input_value()) > 0
    _close(page)


def test_without_the_runtime_the_page_edits_through_the_server(browser, tiny_run, astronaut, tmp_path):
    """The runtime's files are missing (a blocked or failed download): the page says nothing
    alarming, every slider move goes to the server, and the picture shows the server's."""
    from disguise.serving.web_assets import ORT_VERSION

    _need_runtime()
    empty = tmp_path / "onnxruntime-web" / "dist"
    empty.mkdir(parents=True)
    (empty.parent / "package.json").write_text(json.dumps({"version": ORT_VERSION}))
    with serve(tiny_run, runtime="local", runtime_dir=empty) as (url, studio):
        errors = []
        page = _open(browser, url)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_input_files("#face-input input[type=file]", str(astronaut))
        page.wait_for_function(SHOWN, timeout=WAIT)
        assert page.evaluate("() => [window.disguiseLive.mode, window.disguiseLive.source]") == ["server", "server"]
        assert page.locator("#live canvas").is_visible()
        before = _src(page, "edited")
        track = _drag(page, "Eyeglasses", 0.92, 7, release=False)
        page.wait_for_function("([sel, old]) => document.querySelector(sel)?.src !== old",
                               arg=["#edited img", before], timeout=WAIT)  # before the release
        page.mouse.up()
        value = float(track.input_value())
        # The server's last picture is the edit at the slider's final value, and the picture shows it.
        from tests.test_app import live

        want = live(studio.render(studio.prepare(astronaut), {"Eyeglasses": value}))
        for _ in range(100):
            page.wait_for_timeout(200)
            shown = page.request.get(_src(page, "edited")).body()
            with Image.open(io.BytesIO(shown)) as im:
                if np.array_equal(np.asarray(im.convert("RGB")), want):
                    break
        else:
            raise AssertionError(f"the server's picture never showed Eyeglasses = {value}")
        page.wait_for_timeout(500)
        diff = np.abs(_after(page).astype(int) - want)  # the browser's JPEG decoder, not PIL's
        assert diff.mean() < 1 and diff.max() <= 16, (diff.mean(), diff.max())
        assert page.evaluate("() => window.disguiseLive.frames") == 0
        assert errors == [] and page.locator(".toast-body").count() == 0
        _close(page)


def test_mounted_under_a_sub_path_the_page_still_decodes(browser, tiny_run, astronaut):
    """``app.mount``: the app at /tools/disguise of another FastAPI app; the page builds its
    URLs from its own root, so it finds the decoder and runtime there."""
    import threading

    import fastapi
    import uvicorn

    import app
    from disguise.serving.studio import Studio
    from disguise.serving.web_assets import WebAssets
    from tests.appserver import free_port

    _need_runtime()
    studio = Studio.load(tiny_run, device="cpu")
    assets = WebAssets.choose(studio.decoder_file, "local")
    parent = fastapi.FastAPI()
    parent.get("/")(lambda: {"hello": "another app"})
    app.mount(parent, app.build_demo(studio, assets), assets, "/tools/disguise")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(parent, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            threading.Event().wait(0.1)
        context = browser.new_context(**LAPTOP)
        requested = []
        context.on("request", lambda r: requested.append(r.url))
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/tools/disguise/", wait_until="load")
        page.wait_for_selector("#face-input input[type=file]", state="attached", timeout=WAIT)
        page.set_input_files("#face-input input[type=file]", str(astronaut))
        page.wait_for_function("() => window.disguiseLive.frames > 0", timeout=WAIT)
        assert page.evaluate("() => window.disguiseLive.mode") == "browser"
        assets_fetched = [u for u in requested if "/disguise-web/" in u]
        assert assets_fetched and all(f"127.0.0.1:{port}/tools/disguise/disguise-web/" in u for u in assets_fetched)
        context.close()
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_the_latent_space_point_follows_a_click_and_a_drag(browser, site):
    page = _open(browser, site)
    page.get_by_role("tab", name="Latent space").click()
    page.wait_for_selector("#latent-plane img", timeout=WAIT)
    page.wait_for_function("() => document.querySelector('#latent-decoded img')?.complete", timeout=WAIT)
    box = page.locator("#latent-plane img").bounding_box()
    # The plane and its decode side by side, the largest pictures in the tab, on the first screen.
    decoded = _box(page, "#latent-decoded img")
    manifold = _box(page, "#latent-manifold img")
    assert decoded["height"] >= 380 and box["height"] >= 380, (decoded, box)
    assert _in_view(decoded, page) and abs(decoded["y"] - box["y"]) < 120
    assert manifold["y"] >= decoded["y"] + decoded["height"] - 1  # the grid below them

    def at(u, v):
        return box["x"] + box["width"] * u, box["y"] + box["height"] * v

    def point():
        return tuple(float(page.locator(f"#latent-{axis} input[type=range]").input_value()) for axis in "xy")

    def decoded_changes(old):
        page.wait_for_function("([sel, old]) => document.querySelector(sel)?.src !== old",
                               arg=["#latent-decoded img", old], timeout=WAIT)
        return _src(page, "latent-decoded")

    # A click: the server's select event moves the point there (up is +z[1]: drawn as a plot).
    decoded = _src(page, "latent-decoded")
    page.mouse.click(*at(0.75, 0.3))
    decoded = decoded_changes(decoded)
    x, y = point()
    assert x > 0.5 and y > 0.5, (x, y)
    # A drag: the sliders follow the pointer while it is held, and the decode follows them.
    page.mouse.move(*at(0.5, 0.5))
    page.mouse.down()
    for k in range(1, 11):  # towards the lower left: negative z[0] and z[1]
        page.mouse.move(*at(0.5 - 0.025 * k, 0.5 + 0.025 * k))
    x, y = point()
    assert x < -0.5 and y < -0.5, (x, y)
    decoded_changes(decoded)
    page.mouse.up()
    _close(page)


def test_the_match_tab_shows_its_pictures_largest(browser, astronaut):
    """A sighting against two suspects (real photos, judged by dlib's recogniser): the row of
    pictures is the largest thing in the tab and starts on the first screen."""
    from tests.test_app import BUNDLED

    faces = Path(__file__).parent / "fixtures" / "real_faces"
    with serve(BUNDLED) as (url, _):
        page = _open(browser, url)
        page.get_by_role("tab", name="Match a sighting").click()
        page.wait_for_selector("#sighting input[type=file]", state="attached", timeout=WAIT)
        page.set_input_files("#sighting input[type=file]", str(faces / "obama.jpg"))
        page.set_input_files("#suspects input[type=file]", [str(faces / "obama2.jpg"), str(faces / "biden.jpg")])
        page.wait_for_selector("#sighting img", timeout=WAIT)
        page.wait_for_function("() => document.querySelectorAll('#suspects a, #suspects .file-name').length >= 2",
                               timeout=WAIT)
        page.locator("#match").click()
        page.wait_for_function("() => document.querySelector('#match-summary')?.innerText.includes('best match')",
                               timeout=WAIT)
        assert "obama2" in page.locator("#match-summary").inner_text().split("best match")[1][:40]
        page.wait_for_selector("#match-gallery img", timeout=WAIT)
        gallery, sighting = _box(page, "#match-gallery"), _box(page, "#sighting")
        assert gallery["width"] * gallery["height"] > 2 * sighting["width"] * sighting["height"], (gallery, sighting)
        assert gallery["y"] < page.viewport_size["height"] / 2 and gallery["width"] > page.viewport_size["width"] / 2
        _close(page)


def _compose(page) -> None:
    """The Compose tab, started from a short description: the first screen shown."""
    page.get_by_role("tab", name="Compose").click()
    page.locator("#describe-sex input").click()
    page.get_by_role("option", name="Woman", exact=True).click()
    page.locator("#compose-start").click()
    page.wait_for_function("() => document.querySelector('#compose-status')?.innerText.includes('Screen 1')",
                           timeout=WAIT)
    page.wait_for_function("() => document.querySelectorAll('#compose-screen .thumbnail-item img').length === 12",
                           timeout=WAIT)
    page.wait_for_function("() => { const r = document.querySelector('#compose-screen').getBoundingClientRect();"
                           " return r.top >= -1 && r.bottom <= window.innerHeight + 1; }", timeout=WAIT)


def _screen(page, n: int) -> None:
    page.wait_for_function(f"() => document.querySelector('#compose-status')?.innerText.includes('Screen {n}')",
                           timeout=WAIT)


@pytest.mark.parametrize("device", ["laptop", "phone"])
def test_a_witness_composes_by_clicking_faces(browser, site, device):
    """Twelve faces in view at once, large enough to judge; a click picks a face (framed, ticked),
    a second click unpicks it; Breed shows the next screen and the composite; Undo goes back."""
    page = _open(browser, site, device=LAPTOP if device == "laptop" else PHONE)
    _compose(page)
    faces = page.locator("#compose-screen .thumbnail-item")
    boxes = [faces.nth(i).bounding_box() for i in range(12)]
    side = min(b["width"] for b in boxes)
    assert side >= (150 if device == "laptop" else 90), boxes[0]
    assert all(_in_view(b, page) for b in boxes), boxes  # all twelve at once, the screen scrolled to them
    rows = sorted({round(b["y"]) for b in boxes})
    assert len(rows) == (3 if device == "laptop" else 4), rows
    if device == "laptop":  # the whole screen of faces on the first screen, under the toolbar
        screen = _box(page, "#compose-screen")
        assert _in_view(screen, page) and _in_view(_box(page, "#compose-breed"), page), screen
    for i in (2, 5, 7):
        faces.nth(i).click()
        page.wait_for_function(f"() => document.querySelectorAll('#compose-screen .thumbnail-item')[{i}]"
                               ".classList.contains('picked')", timeout=WAIT)
    faces.nth(7).click()  # changed their mind
    page.wait_for_function("() => !document.querySelectorAll('#compose-screen .thumbnail-item')[7]"
                           ".classList.contains('picked')", timeout=WAIT)
    ticked = page.locator("#compose-picks input:checked")
    assert ticked.count() == 2
    page.locator("#compose-breed").click()
    _screen(page, 2)
    page.wait_for_selector("#compose-composite img", timeout=WAIT)
    assert page.locator("#compose-screen .thumbnail-item.picked").count() == 0  # a new screen, no picks
    assert page.locator("#compose-picks input:checked").count() == 0
    page.locator("#compose-undo").click()
    _screen(page, 1)
    _close(page)


def test_breeding_with_no_pick_says_so_and_keeps_the_screen(browser, site):
    page = _open(browser, site)
    _compose(page)
    first = page.locator("#compose-screen .thumbnail-item img").first.get_attribute("src")
    page.locator("#compose-breed").click()
    page.wait_for_selector("text=pick at least one face", timeout=WAIT)
    assert page.locator("#compose-screen .thumbnail-item img").first.get_attribute("src") == first
    _close(page)
