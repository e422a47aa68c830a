"""Make the README's screenshots: the app on the bundled weights in headless chromium, a photo
being edited (Eyeglasses and a hat, the compare handle between the eyes: before on the left, after on
the right), on a laptop and on a phone.

    python docs/screenshot.py [--weights weights] [--out docs]

Writes docs/app.png (1280 x 800) and docs/app_phone.png (390 x 844, the sliders scrolled beneath
the picture), and docs/compose.png (1280 x 800: the Compose tab at its third screen, two faces
picked on it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.appserver import serve  # noqa: E402

SCREENS = {  # file: browser context options
    "app.png": {"viewport": {"width": 1280, "height": 800}},
    "app_phone.png": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1.5, "is_mobile": True,
                      "has_touch": True},
}
EDIT = {"Eyeglasses": "3", "Wearing_Hat": "2"}
HANDLE_STEPS = 3  # arrow-key steps of 5% to the left: the handle from the middle to between the eyes


def shoot(browser, url: str, out: Path, device: dict) -> None:
    page = browser.new_context(**device).new_page()
    page.goto(url, wait_until="load")
    page.wait_for_selector("#face-input input[type=file]", state="attached", timeout=30_000)
    page.wait_for_function("() => window.disguiseLive && window.disguiseLive.mode !== 'loading'", timeout=60_000)
    page.set_input_files("#face-input input[type=file]", str(ROOT / "examples" / "astronaut.jpg"))
    # the page draws edits itself once its decoder has loaded (web/live.js)
    page.wait_for_function("() => window.disguiseLive?.frames > 0", timeout=60_000)
    for name, value in EDIT.items():
        page.locator(f"#slider-{name} input[type=range]").fill(value)
        page.wait_for_timeout(800)
    page.locator("canvas.live-canvas").focus()
    for _ in range(HANDLE_STEPS):
        page.keyboard.press("ArrowLeft")
    if device.get("is_mobile"):  # the sliders scrolled beneath the picture, the first edited one in view
        page.locator(f"#slider-{next(iter(EDIT))}").scroll_into_view_if_needed()
    else:
        page.locator("#controls").evaluate("c => c.scrollTo(0, 0)")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out))
    page.context.close()
    print(f"wrote {out}")


def shoot_compose(browser, url: str, out: Path) -> None:
    """The Compose tab: a described man, two screens picked, two faces picked on the third."""
    page = browser.new_context(**SCREENS["app.png"]).new_page()
    page.goto(url, wait_until="load")
    page.wait_for_function("() => window.disguiseLive && window.disguiseLive.mode !== 'loading'", timeout=60_000)
    page.get_by_role("tab", name="Compose").click()
    for question, answer in (("sex", "Man"), ("glasses", "No")):
        page.locator(f"#describe-{question} input").click()
        page.get_by_role("option", name=answer, exact=True).click()
    page.locator("#compose-start").click()
    faces = page.locator("#compose-screen .thumbnail-item")
    for screen, picks in ((1, (2, 6)), (2, (0, 4)), (3, (1, 7))):
        page.wait_for_function(f"() => document.querySelector('#compose-status')?.innerText.includes('Screen {screen}')",
                               timeout=60_000)
        page.wait_for_timeout(800)
        for i in picks:
            faces.nth(i).click()
            page.wait_for_timeout(400)
        if screen < 3:
            page.locator("#compose-breed").click()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out))
    page.context.close()
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(ROOT / "weights"))
    p.add_argument("--out", default=str(ROOT / "docs"))
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    with serve(Path(args.weights), runtime="local") as (url, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for name, device in SCREENS.items():
            shoot(browser, url, Path(args.out) / name, device)
        shoot_compose(browser, url, Path(args.out) / "compose.png")
        browser.close()


if __name__ == "__main__":
    main()
