"""The page in a real browser (Debian's chromium driven by Playwright): upload, drag, download."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil

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


# The width of the "After" picture: the page's canvas when it decodes, else the server's image.
SHOWN_WIDTH = """(w) => (window.disguiseLive?.mode === 'browser'
    ? document.querySelector('#live canvas')?.width : document.querySelector('#edited img')?.naturalWidth) === w"""


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


def _src(page, elem_id: str) -> str | None:
    img = page.locator(f"#{elem_id} img")
    return img.first.get_attribute("src") if img.count() else None


def test_upload_drag_slider_and_download_strip(browser, site, astronaut, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.goto(site, wait_until="load")
    page.wait_for_selector("#face-input input[type=file]", state="attached", timeout=WAIT)
    page.set_input_files("#face-input input[type=file]", str(astronaut))
    page.wait_for_selector("#edited img", state="attached", timeout=WAIT)
    page.wait_for_selector("#aligned img", timeout=WAIT)
    assert "eyes" in page.locator("#notice").inner_text(timeout=WAIT)
    before = _src(page, "edited")

    # Drag the Eyeglasses slider with the mouse, from the middle (0) towards the right end.
    track = _drag(page, "Eyeglasses", 0.95, 10)
    value = float(track.input_value())
    assert value > 2.5, value
    page.wait_for_function(
        "([sel, old]) => { const i = document.querySelector(sel); return i && i.src !== old; }",
        arg=["#edited img", before], timeout=WAIT)
    assert _src(page, "edited") != before
    # It is the photo view: the person's 512 x 512 photo, not the model's 256 px decode (drawn
    # by the page itself, or by the server where the page cannot decode).
    page.wait_for_function(SHOWN_WIDTH, arg=512, timeout=WAIT)

    # Download the edited photo at full size, its edit in the PNG's text.
    page.locator("#photo").click()
    link = page.locator("#export-file a").first
    link.wait_for(timeout=WAIT)
    with page.expect_download(timeout=WAIT) as info:
        link.click()
    path = tmp_path / "photo.png"
    info.value.save_as(path)
    with Image.open(path) as im:
        assert im.size == (512, 512) and json.loads(im.text["edits"]) == {"Eyeglasses": value}

    # The model view shows the decode (256 px) beside the reconstruction.
    page.locator("#view label", has_text="Model").click()
    page.wait_for_function(SHOWN_WIDTH, arg=256, timeout=WAIT)
    page.wait_for_function("() => document.querySelector('#recon img')?.naturalWidth === 256", timeout=WAIT)

    # Export the strip and download it.
    page.locator("#strip-alphas textarea, #strip-alphas input").first.fill("-2, 0, 2")
    page.locator("#strip").click()
    link = page.locator("#export-file a").first
    link.wait_for(timeout=WAIT)
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
    page.close()


def test_a_bad_upload_shows_a_message(browser, site, tmp_path):
    page = browser.new_page()
    page.goto(site, wait_until="load")
    page.wait_for_selector("#face-input input[type=file]", state="attached", timeout=WAIT)
    bad = tmp_path / "not-a-photo.png"
    bad.write_bytes(b"these bytes are not a picture")
    page.set_input_files("#face-input input[type=file]", str(bad))
    page.wait_for_function("() => document.querySelector('#notice')?.innerText.includes('Could not use')",
                           timeout=WAIT)
    assert "not an image we can read" in page.locator("#notice").inner_text()
    page.close()


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


def _canvas(page) -> np.ndarray:
    data = page.evaluate("() => document.querySelector('#live canvas').toDataURL('image/png')")
    with Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))) as im:
        return np.asarray(im.convert("RGB"))


def _upload_live(page, url, photo):
    page.goto(url, wait_until="load")
    page.wait_for_selector("#face-input input[type=file]", state="attached", timeout=WAIT)
    page.wait_for_function("() => window.disguiseLive && window.disguiseLive.mode !== 'loading'", timeout=WAIT)
    page.set_input_files("#face-input input[type=file]", str(photo))
    page.wait_for_selector("#edited img", state="attached", timeout=WAIT)


def test_the_page_decodes_edits_itself(browser, live_site, astronaut):
    url, studio = live_site
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _upload_live(page, url, astronaut)
    assert page.evaluate("() => window.disguiseLive.mode") == "browser"
    page.wait_for_function("() => window.disguiseLive.frames > 0", timeout=WAIT)
    assert page.locator("#live canvas").is_visible() and not page.locator("#edited").is_visible()

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
    # photo as the page got it, a JPEG).
    face = studio.prepare(astronaut)
    vector = [0.0] * len(ATTRIBUTES)
    vector[ATTRIBUTES.index("Eyeglasses")] = 3.0
    doc = studio.live(face, vector, [], "photo")
    edited = np.array(page.evaluate(render, [doc, vector]), np.uint8).reshape(face.recon.shape)
    shown = _canvas(page).astype(int)
    src = json.loads(doc)["photo"]["src"]
    with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
        sent = np.asarray(im.convert("RGB"))
    canvas = face.live(studio.editor.policy)
    expected = PhotoCanvas(PhotoFrame(sent, canvas.view.to_frame), studio.editor.policy).apply(face.recon, edited)
    diff = np.abs(shown - expected.astype(int))
    assert diff.max() <= 3 and (diff > 1).mean() < 0.01, (diff.max(), (diff > 1).mean())
    assert (np.abs(shown - sent.astype(int)) > 8).any()  # and the edit is there
    page.close()


def test_a_drag_asks_the_server_nothing_until_release(browser, live_site, astronaut):
    url, _ = live_site
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _upload_live(page, url, astronaut)
    page.wait_for_function("() => window.disguiseLive.frames > 0", timeout=WAIT)
    page.wait_for_selector("#edited img", state="attached", timeout=WAIT)
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
    page.close()


def test_without_the_runtime_the_page_edits_through_the_server(browser, tiny_run, astronaut, tmp_path):
    """The runtime's files are missing (a blocked or failed download): the page says nothing
    alarming and every slider move goes to the server, as before."""
    from disguise.serving.web_assets import ORT_VERSION

    _need_runtime()
    empty = tmp_path / "onnxruntime-web" / "dist"
    empty.mkdir(parents=True)
    (empty.parent / "package.json").write_text(json.dumps({"version": ORT_VERSION}))
    with serve(tiny_run, runtime="local", runtime_dir=empty) as (url, studio):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        _upload_live(page, url, astronaut)
        assert page.evaluate("() => window.disguiseLive.mode") == "server"
        page.wait_for_selector("#edited img", timeout=WAIT)
        before = _src(page, "edited")
        assert page.locator("#edited").is_visible() and not page.locator("#live").is_visible()
        track = _drag(page, "Eyeglasses", 0.92, 7, release=False)
        page.wait_for_function("([sel, old]) => document.querySelector(sel)?.src !== old",
                               arg=["#edited img", before], timeout=WAIT)  # before the release
        page.mouse.up()
        value = float(track.input_value())
        # The server's last picture is the edit at the slider's final value.
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
        assert page.evaluate("() => window.disguiseLive.frames") == 0
        assert errors == [] and page.locator(".toast-body").count() == 0
        page.close()


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
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requested = []
        page.on("request", lambda r: requested.append(r.url))
        for _ in range(100):
            if server.started:
                break
            page.wait_for_timeout(100)
        _upload_live(page, f"http://127.0.0.1:{port}/tools/disguise/", astronaut)
        page.wait_for_function("() => window.disguiseLive.frames > 0", timeout=WAIT)
        assert page.evaluate("() => window.disguiseLive.mode") == "browser"
        assets_fetched = [u for u in requested if "/disguise-web/" in u]
        assert assets_fetched and all(f"127.0.0.1:{port}/tools/disguise/disguise-web/" in u for u in assets_fetched)
        page.close()
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_the_latent_space_point_follows_a_click_and_a_drag(browser, site):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(site, wait_until="load")
    page.get_by_role("tab", name="Latent space").click()
    page.wait_for_selector("#latent-plane img", timeout=WAIT)
    box = page.locator("#latent-plane img").bounding_box()

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
    page.close()
