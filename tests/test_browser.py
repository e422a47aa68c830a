"""The page in a real browser (Debian's chromium driven by Playwright): upload, drag, download."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from PIL import Image

from tests.appserver import serve

CHROMIUM = os.environ.get("DISGUISE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WAIT = 30_000  # ms; a slider round trip takes ~150 ms here, but CI machines are shared


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
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


def _src(page, elem_id: str) -> str | None:
    img = page.locator(f"#{elem_id} img")
    return img.first.get_attribute("src") if img.count() else None


def test_upload_drag_slider_and_download_strip(browser, site, astronaut, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.goto(site, wait_until="load")
    page.wait_for_selector("#face-input input[type=file]", state="attached", timeout=WAIT)
    page.set_input_files("#face-input input[type=file]", str(astronaut))
    page.wait_for_selector("#edited img", timeout=WAIT)
    page.wait_for_selector("#aligned img", timeout=WAIT)
    assert "eyes" in page.locator("#notice").inner_text(timeout=WAIT)
    before = _src(page, "edited")

    # Drag the Eyeglasses slider with the mouse, from the middle (0) towards the right end.
    track = page.locator("#slider-Eyeglasses input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.045 * k), y)
    page.mouse.up()
    value = float(track.input_value())
    assert value > 2.5, value
    page.wait_for_function(
        "([sel, old]) => { const i = document.querySelector(sel); return i && i.src !== old; }",
        arg=["#edited img", before], timeout=WAIT)
    assert _src(page, "edited") != before
    # It is the photo view: the person's 512 x 512 photo, not the model's 256 px decode.
    page.wait_for_function("() => document.querySelector('#edited img')?.naturalWidth === 512", timeout=WAIT)

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
    page.wait_for_function("() => document.querySelector('#edited img')?.naturalWidth === 256", timeout=WAIT)
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
