"""Make docs/app.png: the app on the bundled weights in headless chromium, a photo being edited.

    python docs/screenshot.py [--weights weights] [--out docs/app.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.appserver import serve  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(ROOT / "weights"))
    p.add_argument("--out", default=str(ROOT / "docs" / "app.png"))
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    with serve(Path(args.weights)) as (url, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="load")
        page.wait_for_selector("#face-input input[type=file]", state="attached", timeout=30_000)
        page.set_input_files("#face-input input[type=file]", str(ROOT / "examples" / "astronaut.jpg"))
        page.wait_for_selector("#edited img", state="attached", timeout=30_000)
        # the page draws edits itself once its decoder has loaded (web/live.js)
        page.wait_for_function("() => window.disguiseLive?.frames > 0", timeout=60_000)
        for name, value in (("Eyeglasses", "3"),):
            page.locator(f"#slider-{name} input[type=range]").fill(value)
            page.wait_for_timeout(800)
        page.locator("#sheet").click()
        page.wait_for_selector("#export-view img", timeout=30_000)
        page.wait_for_timeout(1500)
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(500)
        page.screenshot(path=args.out)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
