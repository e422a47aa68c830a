"""The gallery in the app: served only behind a login (refused at start without one), searched
from the Match tab through the real server, and invisible to a visitor without the login."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import app
import app_gradio
from tests.appserver import free_port

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "real_faces"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    """A gallery of three real people (four photos) made by the command line."""
    photos = tmp_path_factory.mktemp("known")
    for name in ("obama", "obama2", "biden"):
        Image.open(FIXTURES / f"{name}.jpg").convert("RGB").save(photos / f"{name}.jpg", quality=92)
    from matplotlib import cbook

    Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB").save(photos / "hopper.jpg")
    folder = photos.parent / "gallery"
    r = subprocess.run([sys.executable, "-m", "train.gallery", "add", str(folder), str(photos), "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    return folder


def test_logins_come_from_the_environment_or_a_file(tmp_path):
    assert app_gradio.credentials({}) == []
    assert app_gradio.credentials({"DISGUISE_AUTH": "ann:pw1, bob:p:w"}) == [("ann", "pw1"), ("bob", "p:w")]
    logins = tmp_path / "logins"
    logins.write_text("# analysts\ncyd:secret\n\n")
    assert app_gradio.credentials({"DISGUISE_AUTH_FILE": str(logins)}) == [("cyd", "secret")]
    for bad in ({"DISGUISE_AUTH": "ann"}, {"DISGUISE_AUTH": ":pw"}, {"DISGUISE_AUTH": "ann:"},
                {"DISGUISE_AUTH_FILE": str(tmp_path / "missing")}):
        with pytest.raises(ValueError):
            app_gradio.credentials(bad)


def test_a_gallery_without_a_login_is_refused_at_start(gallery, monkeypatch, capsys):
    for name in ("DISGUISE_AUTH", "DISGUISE_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert app.main(["--gallery", str(gallery), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "served only behind a login" in err and "DISGUISE_AUTH=user:password" in err
    monkeypatch.setenv("DISGUISE_GALLERY", str(gallery))  # the environment's gallery alike
    assert app.main(["--port", str(free_port())]) == 2
    monkeypatch.setenv("DISGUISE_AUTH", "ann:pw1")
    monkeypatch.setenv("DISGUISE_GALLERY", str(gallery.parent / "nothing-here"))
    assert app.main(["--port", str(free_port())]) == 2  # a folder that is no gallery: said, not a crash
    assert "error: cannot start" in capsys.readouterr().err


@pytest.fixture(scope="module")
def studio(gallery):
    from disguise.gallery.search import GallerySearch
    from disguise.serving.studio import Studio

    studio = Studio.load(ROOT / "weights", device="cpu")
    studio.gallery = GallerySearch(gallery, studio.recognisers)
    return studio


def test_a_click_on_a_found_face_draws_that_one_in_the_disguise(studio):
    from disguise.serving import events

    sighting = str(FIXTURES / "obama3.jpg")
    summary, pictures, report = events.gallery_search(studio, sighting, ["Eyeglasses"], False, 3)
    found = [caption for _, caption in pictures if caption[0].isdigit()]
    assert len(found) == 3 and len(pictures) > 3  # the faces found, then the best drawn in the disguise
    second = found[1].split(". ", 1)[1].split(":")[0]
    summary, pictures, report = events.gallery_pick(studio, sighting, ["Eyeglasses"], False, 3, 1)
    drawn = [caption for _, caption in pictures if "in the sighting's disguise" in caption]
    assert drawn == [f"{second}, in the sighting's disguise"] and report  # that one alone
    assert events.gallery_pick(studio, sighting, [], False, 3, 4) == (events.KEEP,) * 3  # a drawn row: nothing
    assert events.gallery_pick(studio, None, [], False, 3, 0) == (events.KEEP,) * 3


def test_the_match_tab_searches_the_gallery_behind_the_login(studio, tmp_path):
    from gradio_client import Client, handle_file

    from disguise.serving.web_assets import WebAssets

    assets = WebAssets.choose(studio.decoder_file)
    demo = app.build_demo(studio, assets)
    port = free_port()
    app.launch(demo, assets, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               auth=[("ann", "pw1")])
    url = f"http://127.0.0.1:{port}/"
    try:
        import httpx

        page = httpx.get(url, timeout=30)
        assert "obama" not in page.text and "biden" not in page.text  # a visitor sees the login only
        assert httpx.get(url + "config", timeout=30).status_code in (401, 403)
        with pytest.raises(Exception):
            Client(url, verbose=False)
        client = Client(url, auth=("ann", "pw1"), verbose=False)
        summary, pictures, report = client.predict(handle_file(str(FIXTURES / "obama3.jpg")), [], False, 3,
                                                   api_name="/gallery_search")
        assert summary.startswith("**best match: obama")
        captions = [p["caption"] for p in pictures]
        assert captions[0].startswith("1. obama") and "distance" in captions[0]
        assert any("in the sighting's disguise" in c for c in captions)  # the best drawn beside the sighting
        assert report and Path(report).stat().st_size > 1000
        with pytest.raises(Exception, match="no face found"):
            client.predict(handle_file(str(_faceless(tmp_path))), [], False, 3, api_name="/gallery_search")
    finally:
        demo.close()


def _faceless(tmp_path: Path) -> Path:
    import skimage.data

    path = tmp_path / "coffee.jpg"
    Image.fromarray(skimage.data.coffee()).save(path)
    return path
