"""The web app: handlers as plain functions, then the real server driven by gradio_client."""

from __future__ import annotations

import io
import json
import random
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from disguise.attributes import ATTRIBUTES
from disguise.compose.face_space import FACE_SPACE_NAME, FaceSpace
from disguise.serving import events
from disguise.serving.pictures import PictureFiles
from disguise.serving.studio import LIVE_SIDE, Studio, sanitize_sliders
from disguise.sliders.editor import parse_alphas
from tests.appserver import at_once, client, serve

ZERO = [0.0] * len(ATTRIBUTES)


def sliders(**alphas) -> list[float]:
    values = list(ZERO)
    for name, a in alphas.items():
        values[ATTRIBUTES.index(name)] = a
    return values


# ----------------------------------------------------------------------------------------------
# Handlers as plain functions


@pytest.fixture(scope="module")
def studio(tiny_run) -> Studio:
    return Studio.load(tiny_run, device="cpu")


def test_prepare_render_and_exports(studio, astronaut, tmp_path):
    face = studio.prepare(astronaut)
    assert face.z.shape == (16,) and face.original.shape == (32, 32, 3)
    assert face.aligned.shape == (218, 178, 3) and "eyes" in face.notice
    recon = studio.reconstruction(face)
    assert recon.shape == (256, 256, 3)
    np.testing.assert_array_equal(studio.before(face, "model"), recon)
    glasses = studio.render(face, {"Eyeglasses": 3.0}, view="model")
    assert np.abs(glasses.astype(int) - recon.astype(int)).mean() > 0.5
    # The photo view: the person's photo itself, unchanged at 0, changed by an edit.
    photo = studio.before(face, "photo")
    assert photo.shape == (512, 512, 3)  # astronaut.png is 512 x 512, under the display size
    np.testing.assert_array_equal(studio.render(face, {}, view="photo"), photo)
    edited = studio.render(face, {"Eyeglasses": 3.0})
    assert edited.shape == photo.shape and (edited != photo).any()
    x0, y0, x1, y1 = face.live(studio.editor.policy).box  # where the face's crop lies in it
    assert (edited[y1:] == photo[y1:]).all() and (edited[:, x1:] == photo[:, x1:]).all()
    path, img = studio.export_strip(face, "Eyeglasses", "-4, -3, -2, -1, 0", view="model")
    with Image.open(path) as im:
        assert json.loads(im.text["labels"])[0] == "input" and im.size == img.size
    path, img = studio.export_strip(face, "Eyeglasses", "0, 4")
    # photo view: 256 px tiles, each with its identity line (a photo: dlib judges it, whatever the weights)
    assert img.size == (6 + 3 * (256 + 6), 54 + 256 + 40 + 6 + 6)
    assert len(json.loads(img.info["identity"])) == 2
    path, img = studio.export_sheet(face, locked=["Male"])
    assert path.is_file() and json.loads(Image.open(path).text["locked"]) == ["Male"]
    with pytest.raises(ValueError, match="view must be one of photo, model"):
        studio.render(face, {}, view="sketch")


def test_the_full_size_photo_and_the_animation(studio, astronaut, tmp_path):
    from disguise.photo.loading import load_image

    big = tmp_path / "big.jpg"
    Image.open(astronaut).convert("RGB").resize((1500, 1500)).save(big, quality=92)
    face = studio.prepare(big)
    assert face.photo.size == (1024, 1024)  # worked on at 1024 px
    path, img = studio.export_photo(face, {"Eyeglasses": 3.0}, locked=["Male"])
    with Image.open(path) as im:
        assert im.size == (1500, 1500) and json.loads(im.text["edits"]) == {"Eyeglasses": 3.0}
        out = np.asarray(im.convert("RGB"))
    full = np.asarray(load_image(big, work_side=None))
    assert (out[1300:] == full[1300:]).all() and (out != full).any()  # the shirt is outside the face
    same, _ = studio.export_photo(face, {})
    np.testing.assert_array_equal(np.asarray(Image.open(same).convert("RGB")), full)
    with pytest.raises(ValueError, match="alpha for Eyeglasses must be finite"):
        studio.export_photo(face, {"Eyeglasses": float("nan")})
    path, frames = studio.export_animation(face, "Wearing_Hat", peak=4.0, frames=9)
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 9 and im.size == (256, 256)
    first, middle = np.asarray(frames[0]), np.asarray(frames[4])
    assert np.array_equal(first, np.asarray(frames[-1])) and (first != middle).any()
    for frames_, peak, message in ((0, 4.0, "needs 3 to 64 frames"), (9, float("nan"), "must be finite"),
                                   (9, 99.0, "keep it within")):
        with pytest.raises(ValueError, match=message):
            studio.export_animation(face, "Wearing_Hat", peak=peak, frames=frames_)


def test_random_faces_come_from_the_face_space_and_repeat_with_a_seed(studio, tiny_run):
    a, again, other = studio.random_face(seed=3), studio.random_face(seed=3), studio.random_face(seed=4)
    assert a.source == "random" and np.array_equal(a.original, again.original)
    assert not np.array_equal(a.original, other.original)
    np.testing.assert_array_equal(a.original, studio.editor.decode(a.z)[0])  # its own decode
    assert a.aligned.shape == (218, 178, 3)
    # Drawn where the training faces' codes lie: nearer their centre than codes from the prior.
    anyone = FaceSpace.load(tiny_run / FACE_SPACE_NAME).description()
    faces = torch.stack([studio.random_face(seed=s).z for s in range(40)])
    prior = studio.editor.random_codes(40, seed=0).cpu()
    assert (faces - anyone.mean).norm(dim=1).median() < (prior - anyone.mean).norm(dim=1).median()
    # Weights without a face space: the prior.
    bare = Studio(studio.editor)
    np.testing.assert_allclose(bare.random_face(seed=3).z, studio.editor.random_codes(1, seed=3)[0].cpu())


def test_slider_values_are_sanitised():
    values, notes = sanitize_sliders(sliders(Eyeglasses=2.5, Male=float("nan"), Bald=9.0, Young="x"))
    assert values == {"Eyeglasses": 2.5, "Bald": 4.0}
    assert any("NaN" in n for n in notes) and any("outside -4..4, used 4" in n for n in notes)
    assert any("'x' is not a number" in n for n in notes)
    with pytest.raises(ValueError, match="expected 40 slider values"):
        sanitize_sliders([0.0] * 3)


@pytest.mark.parametrize("text, message", [("", "the alpha list is empty"),
                                           ("1, two", "'two' in the alpha list is not a number"),
                                           ("1, inf", "alpha must be finite")])
def test_alpha_lists(text, message):
    with pytest.raises(ValueError, match=message):
        parse_alphas(text)
    assert parse_alphas("-4 -3, -2;-1 0") == [-4, -3, -2, -1, 0]


def test_app_handlers_turn_errors_into_messages(studio, tmp_path):
    """The page's events (``disguise.serving.events``) raise ``ValueError``; wired through the
    app's ``handler`` each is a message in the page (``gr.Error``), a note a warning, and an
    output to keep a skipped one."""
    import gradio as gr

    import app
    from disguise.serving import events

    on = {name: app.handler(studio, getattr(events, name)) for name in
          ("upload", "edit", "edit_by_name", "strip", "sheet")}
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning, match="not an image we can read"):  # gr.Warning outside a request
        out = on["upload"](str(tmp_path / "notes.txt"), False, [], *ZERO, "photo")
    assert "Could not use that image" in out[4] and "not an image" in out[4]
    assert all(isinstance(o, dict) and o.get("__type__") == "update" for o in out[:4])  # kept: gr.skip()
    assert on["edit"](None, [], *ZERO, "photo") is None
    with pytest.warns(UserWarning, match="NaN is not a position, used 0"):
        on["edit"](studio.random_face(seed=0), [], *sliders(Male=float("nan")), "photo")
    with pytest.raises(ValueError, match="Upload a face"):  # the library's own error
        events.strip(studio, None, "Eyeglasses", "0,1", [])

    with pytest.raises(gr.Error, match="unknown attribute 'Sunglasses'"):
        on["edit_by_name"](studio.random_face(), {"Sunglasses": 1}, [])
    with pytest.raises(gr.Error, match="Upload a face"):
        on["strip"](None, "Eyeglasses", "0,1", [])
    with pytest.raises(gr.Error, match="Upload a face"):
        on["sheet"](None, [])
    with pytest.raises(gr.Error, match="unknown attribute 'Sunglasses'"):  # a message, not a crash
        on["sheet"](studio.random_face(seed=0), ["Sunglasses"])
    with pytest.raises(gr.Error, match="the alpha list has 26 values; the limit is 25"):
        on["strip"](studio.random_face(seed=0), "Eyeglasses", ",".join(["1"] * 26), [])
    with pytest.raises(gr.Error, match="3999 characters long; the limit is 1000"):
        on["strip"](studio.random_face(seed=0), "Eyeglasses", ",".join(["1"] * 2000), [])


def test_the_page_size_and_the_photo_panel_events(studio, astronaut):
    """A new size from the page sends a new document only when the live copy's size changes; the
    photo panel folds once a face is loaded."""
    face = studio.prepare(astronaut)
    screen = '{"w": 300, "h": 300, "dpr": 1}'
    assert events.resize(studio, None, screen, [], *ZERO) is events.KEEP
    doc = events.resize(studio, face, screen, [], *ZERO, "photo")
    assert json.loads(doc)["photo"]["width"] == 320 == face.live_side
    assert events.resize(studio, face, '{"w": 310, "h": 310, "dpr": 1}', [], *ZERO, "photo") is events.KEEP
    assert events.resize(studio, face, "garbage", [], *ZERO, "photo") != events.KEEP  # back to the default
    assert face.live_side == LIVE_SIDE
    assert events.fold_once_loaded(studio, face) == {"open": False}
    assert events.fold_once_loaded(studio, None) == {"open": True}


def test_every_handler_runs_through_the_gpu_wrapper(studio, monkeypatch):
    """On a ZeroGPU Space each event must hold a GPU: every wired function is wrapped."""
    import app

    wrapped = set()

    def fake_gpu(fn):
        wrapped.add(fn)
        return fn

    monkeypatch.setattr(app, "gpu", fake_gpu)
    demo = app.build_demo(studio)
    handlers = {b.fn.func for b in demo.fns.values() if b.fn is not None and hasattr(b.fn, "func")}
    named = {b.fn for b in demo.fns.values() if b.fn is not None} - {
        b.fn for b in demo.fns.values() if hasattr(b.fn, "func")}
    assert not {f for f in named if getattr(f, "__module__", "").startswith(("app", "disguise"))}, named
    assert handlers == wrapped and {f.__name__ for f in handlers} >= {
        "upload", "edit", "change_view", "edit_by_name", "random_face", "reset", "strip", "sheet",
        "full_photo", "animation", "change_locks", "identity_line", "match", "latent", "plane_click"}


def test_exports_kept_on_disk_are_capped(studio, monkeypatch):
    import disguise.serving.studio as S

    monkeypatch.setattr(S, "KEPT_EXPORTS", 3)
    face = studio.random_face(seed=1)
    paths = [studio.export_strip(face, "Eyeglasses", "0, 1")[0] for _ in range(5)]
    assert [p.is_file() for p in paths] == [False, False, True, True, True]


def test_missing_or_corrupt_weights_fail_at_start_without_a_server(tiny_run, tmp_path, capsys):
    import shutil

    import app

    assert app.main(["--weights", str(tmp_path)]) == 2
    assert "config.json: file not found" in capsys.readouterr().err
    for name in ("config.json", "model.safetensors", "attribute_vectors.safetensors"):
        shutil.copyfile(tiny_run / name, tmp_path / name)
    (tmp_path / "attribute_vectors.safetensors").write_bytes(b"\x00" * 64)
    assert app.main(["--weights", str(tmp_path)]) == 2
    assert "attribute_vectors.safetensors: not a readable safetensors file" in capsys.readouterr().err
    (tmp_path / "config.json").write_text("{broken")
    assert app.main(["--weights", str(tmp_path)]) == 2
    assert "config.json: not valid JSON" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# The real server


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def live(arr: np.ndarray) -> np.ndarray:
    """``arr`` as the page receives it: written as the server writes its pictures."""
    with Image.open(_FILES.save(arr)) as im:
        return np.asarray(im.convert("RGB"))


_FILES = PictureFiles(kept=8)


def _upload(c, path, aligned=False):
    from gradio_client import handle_file

    return c.predict(handle_file(str(path)), aligned, [], *ZERO, api_name="/prepare")[:4]


def test_upload_move_sliders_export(server, astronaut):
    url, studio = server
    c = client(url)
    preview, recon, edited, notice = _upload(c, astronaut)
    assert "eyes" in notice
    assert _png(preview).shape == (218, 178, 3)
    np.testing.assert_array_equal(_png(recon), _png(edited))  # all sliders at 0
    face = studio.prepare(astronaut)
    np.testing.assert_array_equal(_png(recon), live(studio.before(face, "photo")))  # the photo view
    out = c.predict([], *sliders(Eyeglasses=3.0, Wearing_Hat=1.5), api_name="/edit")
    np.testing.assert_array_equal(_png(out), live(studio.render(face, {"Eyeglasses": 3.0, "Wearing_Hat": 1.5})))
    assert (_png(out) != _png(recon)).any()
    out = c.predict([], *sliders(Eyeglasses=3.0), "model", api_name="/edit")
    np.testing.assert_array_equal(_png(out), live(studio.render(face, {"Eyeglasses": 3.0}, view="model")))
    before, after, _ = c.predict([], *sliders(Eyeglasses=3.0), "model", api_name="/view")
    np.testing.assert_array_equal(_png(before), live(studio.reconstruction(face)))
    np.testing.assert_array_equal(_png(after), _png(out))
    photo = c.predict([], *sliders(Eyeglasses=3.0), api_name="/photo")
    with Image.open(photo) as im:
        assert im.size == (512, 512) and json.loads(im.text["edits"]) == {"Eyeglasses": 3.0}
    view, gif = c.predict("Wearing_Hat", 4, 5, [], api_name="/animation")
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 5
    out = c.predict({"No_Beard": -2.0}, ["Male"], api_name="/edit_by_name")
    np.testing.assert_array_equal(_png(out), live(studio.render(face, {"No_Beard": -2.0}, ["Male"])))
    view, download = c.predict("Eyeglasses", "-4, -2, 0", [], api_name="/strip")
    with Image.open(download) as im:
        assert json.loads(im.text["labels"]) == ["input", "alpha = -4", "alpha = -2", "alpha = 0"]
    view, download = c.predict([], api_name="/sheet")
    with Image.open(download) as im:
        assert "Glasses + hat" in json.loads(im.text["labels"])
    reset = c.predict(api_name="/reset")
    np.testing.assert_array_equal(_png(reset[0]), _png(recon))
    assert list(reset[1:-1]) == ZERO


def _bytes(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_every_kind_of_upload(server, astronaut, tmp_path):
    url, _ = server
    c = client(url)
    photo = Image.open(astronaut).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    frames = [photo.resize((200, 200)), Image.new("RGB", (200, 200), "blue")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], loop=0)
    good = {
        "gray.png": _bytes(photo.convert("L"), "PNG"),
        "rgba.png": _bytes(photo.convert("RGBA"), "PNG"),
        "cmyk.jpg": _bytes(photo.convert("CMYK"), "JPEG"),
        "sixteen.png": _bytes(Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257), "PNG"),
        "palette.png": _bytes(photo.convert("P"), "PNG"),
        "rotated.jpg": _bytes(photo.rotate(90, expand=True), "JPEG", exif=exif),
        "animated.gif": gif.getvalue(),
    }
    for name, data in good.items():
        (tmp_path / name).write_bytes(data)
        preview, recon, edited, notice = _upload(c, tmp_path / name)
        assert _png(preview).shape == (218, 178, 3), name
        assert "Could not use" not in notice, (name, notice)
    # The rotated phone photo is shown upright: it frames like the original.
    upright = _png(_upload(c, astronaut)[0]).astype(int)
    rotated = _png(_upload(c, tmp_path / "rotated.jpg")[0]).astype(int)
    assert np.abs(upright - rotated).mean() < 15
    bad = {
        "notes.png": (b"plain text, not pixels", "not an image we can read"),
        "cut.jpg": (_bytes(photo, "JPEG")[:5000], "truncated or corrupt"),
        "bomb.png": (_bytes(Image.new("1", (20000, 20000)), "PNG"), "too large to open safely"),
        "tiny.png": (_bytes(Image.new("RGB", (6, 6)), "PNG"), "only 6 x 6 pixels"),
    }
    face_before = c.predict([], *sliders(Eyeglasses=2.0), api_name="/edit")
    for name, (data, message) in bad.items():
        (tmp_path / name).write_bytes(data)
        out = _upload(c, tmp_path / name)
        assert "Could not use that image" in out[-1] and message in out[-1], (name, out[-1])
    # Nothing was lost: the session still edits the face it had.
    after = c.predict([], *sliders(Eyeglasses=2.0), api_name="/edit")
    np.testing.assert_array_equal(_png(face_before), _png(after))


def test_bad_values_through_the_api(server, astronaut):
    from gradio_client.exceptions import AppError

    url, studio = server
    c = client(url)
    _upload(c, astronaut)
    face = studio.prepare(astronaut)
    # Out of range: clamped to the slider's end. NaN, null and text: taken as 0 (with a note).
    out = c.predict([], *sliders(Male=50.0), api_name="/edit")
    np.testing.assert_array_equal(_png(out), live(studio.render(face, {"Male": 4.0})))
    for bad in ("NaN", "null", "Infinity", '"lots"'):
        out = _raw_edit(url, c.session_hash, [bad, "1.0"] + ["0"] * 38)  # Attribute 2 is Arched_Eyebrows
        want = live(studio.render(face, {"Arched_Eyebrows": 1.0} if bad != "Infinity"
                                  else {"5_o_Clock_Shadow": 4.0, "Arched_Eyebrows": 1.0}))
        np.testing.assert_array_equal(_png(out), want, err_msg=bad)
    with pytest.raises(AppError, match="unknown attribute 'Beard'"):
        c.predict({"Beard": 1.0}, [], api_name="/edit_by_name")
    with pytest.raises(AppError, match="alpha for Male must be finite"):
        c.predict({"Male": "inf"}, [], api_name="/edit_by_name")
    with pytest.raises(AppError, match="'Sunglasses' .* is not in the list of choices"):
        c.predict({"Male": 1.0}, ["Sunglasses"], api_name="/edit_by_name")  # the lock dropdown
    with pytest.raises(AppError, match="the alpha list is empty"):
        c.predict("Eyeglasses", " , ", [], api_name="/strip")
    with pytest.raises(AppError, match="'sketch' .* is not in the list of choices"):
        c.predict([], *ZERO, "sketch", api_name="/edit")
    with pytest.raises(AppError, match="less than minimum value 3"):
        c.predict("Wearing_Hat", 4, 0, [], api_name="/animation")  # an animation of no frames
    with pytest.raises(AppError, match="greater than maximum value 20"):
        c.predict("Wearing_Hat", 99, 9, [], api_name="/animation")
    # The server is alive and this session still works.
    out = c.predict([], *sliders(Male=1.0), api_name="/edit")
    np.testing.assert_array_equal(_png(out), live(studio.render(face, {"Male": 1.0})))


def _raw_edit(url: str, session_hash: str, values: list[str]) -> str:
    """POST the edit event with raw JSON (gradio_client cannot send NaN); returns the image path."""
    import httpx

    body = '{"data": [[], ' + ", ".join(values) + ', "photo"], "session_hash": "' + session_hash + '"}'
    r = httpx.post(url + "gradio_api/call/edit", content=body,
                   headers={"content-type": "application/json"}, timeout=30)
    r.raise_for_status()
    events = httpx.get(url + f"gradio_api/call/edit/{r.json()['event_id']}", timeout=60).text
    assert "event: complete" in events, events
    data = json.loads(events.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0])
    return data[0]["path"]


def test_a_fresh_session_has_no_face(server):
    url, _ = server
    c = client(url)
    assert c.predict([], *ZERO, api_name="/edit") is None


def test_twenty_sessions_never_see_each_others_faces(server, synthetic_root):
    """20 clients at once, 12 slider events each; every answer is that client's own face."""
    url, studio = server
    paths = sorted((synthetic_root / "img_align_celeba").glob("*.jpg"))[:20]
    faces = [studio.prepare(p) for p in paths]
    checked = [0] * len(paths)

    def session(k: int) -> None:
        c = client(url)
        _upload(c, paths[k])
        rng = random.Random(k)
        for _ in range(12):
            name = rng.choice(ATTRIBUTES)
            a = round(rng.uniform(-4, 4), 1)
            out = c.predict([], *sliders(**{name: a}), api_name="/edit")
            want = live(studio.render(faces[k], {name: a}))
            assert np.array_equal(_png(out), want), f"a picture that is not its face ({name}={a})"
            checked[k] += 1

    errors = at_once(len(paths), session)
    assert not errors, errors[:5]
    assert checked == [12] * 20


def test_identical_sessions_at_once_get_whole_pictures(server, astronaut):
    """8 visitors on the same photo moving the same slider the same way at the same moment: the
    server makes identical pictures at once, and every one of 288 arrives whole (Gradio alone
    writes identical pictures to one path, truncating it under a reader)."""
    url, studio = server
    face = studio.prepare(astronaut)
    moves = [round(0.5 * k, 1) for k in range(-4, 5)]
    want = {a: live(studio.render(face, {"Eyeglasses": a})) for a in moves}
    received, wrong = [0] * 8, []
    start = threading.Barrier(8)

    def session(k: int) -> None:
        c = client(url)
        _upload(c, astronaut)
        start.wait(timeout=120)
        for i in range(36):
            a = moves[i % len(moves)]
            out = c.predict([], *sliders(Eyeglasses=a), api_name="/edit")
            if not np.array_equal(_png(out), want[a]):
                wrong.append(f"session {k}, event {i}: not the picture for Eyeglasses={a}")
            received[k] += 1

    errors = at_once(8, session) + wrong
    assert not errors, errors[:5]
    assert sum(received) == 288


# ----------------------------------------------------------------------------------------------
# Identity: the bundled weights carry an identity model and its threshold


BUNDLED = Path(__file__).resolve().parents[1] / "weights"
EXAMPLES = BUNDLED.parent / "examples"


@pytest.fixture(scope="module")
def bundled() -> Studio:
    return Studio.load(BUNDLED, device="cpu")


def test_every_edit_says_whether_it_is_still_the_person(bundled, astronaut):
    """A photo is judged by dlib's recogniser (trained on real people), a drawn example by the
    weights' identity model; the page says which."""
    face = bundled.prepare(astronaut)
    assert face.kind == "real" and bundled.recogniser(face).name.startswith("dlib")
    plain = bundled.identity(face, {})
    assert plain["similarity"] > 0.95 and plain["recognised"] and plain["distance"] < 0.05  # the photo itself
    heavy = {"Eyeglasses": 4.0, "Wearing_Hat": 4.0, "No_Beard": -4.0, "Blond_Hair": 4.0}
    disguised = bundled.identity(face, heavy)
    assert disguised["similarity"] < plain["similarity"] - 0.02
    model = bundled.identity(face, {}, view="model")  # the decode of a drawn-face model
    assert model["similarity"] < plain["similarity"]
    assert bundled.identity(bundled.random_face(seed=0), {}) is None  # no person to compare with
    line = events.identity_line(bundled, face, [], *ZERO, "photo")
    assert line.startswith(f"Identity, judged by dlib's face recogniser (real faces): distance "
                           f"{plain['distance']:.2f}") and "still recognised" in line
    assert events.identity_line(bundled, None, [], *ZERO, "photo") == ""
    drawn = bundled.prepare(EXAMPLES / "face_1.jpg")  # a bundled drawn example: the learned model
    assert drawn.kind == "drawn"
    line = events.identity_line(bundled, drawn, [], *sliders(Eyeglasses=1.0), "photo")
    assert line.startswith("Identity, judged by the learned identity model (drawn faces): cosine similarity")
    copy = bundled.prepare(Image.open(EXAMPLES / "face_1.jpg"))  # not the example's file: a photo
    assert copy.kind == "real"


def test_the_identity_endpoint_through_the_server(astronaut):
    with serve(BUNDLED) as (url, _):
        c = client(url)
        _upload(c, astronaut)
        text = c.predict([], *sliders(Eyeglasses=2.0), api_name="/identity")
    assert text.startswith("Identity, judged by dlib's face recogniser") and "the same person below 0.60" in text


def test_strips_and_sheets_say_which_disguises_hide_the_person(bundled, studio, astronaut):
    import gradio as gr

    import app

    face = bundled.prepare(astronaut)
    _, strip = bundled.export_strip(face, "Eyeglasses", "0, 2, 4")
    ids = json.loads(strip.info["identity"])
    assert len(ids) == 3 and ids[0] > 0.99 and ids[2] < ids[0]  # alpha 0 is the photo itself
    assert strip.height == 54 + 256 + 40 + 6 + 6  # a second caption line under each tile
    _, plain = bundled.export_sheet(face)
    _, ordered = bundled.export_sheet(face, by_identity=True)
    ranked = json.loads(ordered.info["identity"])[2:]  # after the input and the reconstruction
    assert ranked == sorted(ranked) and sorted(json.loads(plain.info["identity"])[2:]) == ranked
    labels = json.loads(ordered.info["labels"])
    assert labels[:2] == ["input", "reconstruction"] and set(labels) == set(json.loads(plain.info["labels"]))
    drawn = studio.prepare(EXAMPLES / "face_1.jpg")  # tiny_run has no identity model for drawn faces
    with pytest.raises(gr.Error, match="ordering by identity needs an identity model"):
        app.handler(studio, events.sheet)(drawn, [], "photo", True)


def test_match_a_sighting_through_the_server(tmp_path):
    """The Match tab's endpoint: a planted suspect (the same drawn person, without the glasses
    the sighting wears) ranks first among six; bad input gets a message."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from disguise.data import synthetic as S

    plan = S.make_plan(3000, seed=3)
    test = np.flatnonzero(plan.partition == 2)
    people = list(dict.fromkeys(plan.person_of[test].tolist()))[:6]
    first = [int(test[plan.person_of[test] == pid][0]) for pid in people]

    def draw(index: int, glasses: bool, path):
        person = plan.persons[plan.person_of[index]]
        lab, rng = S.item_labels(plan.seed, person, index)
        lab["Eyeglasses"] = glasses
        S.render(person, lab, rng)[0].save(path)
        return handle_file(str(path))

    sighting = draw(first[0], True, tmp_path / "sighting.png")
    gallery = [draw(i, False, tmp_path / f"p{k}.png") for k, i in enumerate(first)]
    (tmp_path / "notes.txt").write_text("not a photo")
    with serve(BUNDLED) as (url, _):
        c = client(url)
        table, pictures, report = c.predict(sighting, gallery + [handle_file(str(tmp_path / "notes.txt"))],
                                             [], True, api_name="/match")
        assert table.startswith("**best match: p0") and "| 1 | p0 |" in table and "+glasses" in table
        assert "skipped 1 unreadable file" in table and len(pictures) == 3 * 5
        with Image.open(report) as im:
            assert im.format == "PNG" and "best match: p0" in im.text["summary"]
        with pytest.raises(AppError, match="the gallery is empty"):
            c.predict(sighting, [], [], True, api_name="/match")
        with pytest.raises(AppError, match="no file in the gallery is an image"):
            c.predict(sighting, [handle_file(str(tmp_path / "notes.txt"))], [], True, api_name="/match")
        # Judged as photos (the default), the bundled judge reads none: it claims nothing, and
        # the disguise ticked is the one drawn on each suspect.
        table, _, _ = c.predict(sighting, gallery, ["glasses"], api_name="/match")
        assert "judged by dlib's face recogniser" in table and "drawn in the disguise you ticked" in table
        assert "| +glasses |" in table


# ----------------------------------------------------------------------------------------------
# The Latent space tab (the bundled 2-D conv VAE on Fashion-MNIST)


def _raw_call(url: str, api: str, body: str) -> str:
    """POST ``body`` as it is to ``/gradio_api/call/API`` and read the event stream's answer."""
    import httpx

    event = httpx.post(f"{url}gradio_api/call/{api}", content=body,
                       headers={"Content-Type": "application/json"}, timeout=30).json()["event_id"]
    return httpx.get(f"{url}gradio_api/call/{api}/{event}", timeout=30).text


def test_the_latent_space_tab_through_the_api(server):
    from gradio_client.exceptions import AppError

    from disguise.classic.space import load_latent_space

    url, _ = server
    c = client(url)
    space = load_latent_space()
    decoded, plane = c.predict(0.5, -1.25, api_name="/latent")
    want = np.asarray(space.decode_point(0.5, -1.25).convert("RGB"))
    np.testing.assert_array_equal(_png(decoded), want)
    assert _png(decoded).shape == (448, 448, 3)  # 28 x 28, enlarged 16 times: the largest thing in the tab
    marked = _png(plane)
    np.testing.assert_array_equal(marked, np.asarray(space.scatter(0.5, -1.25)))
    assert (marked != np.asarray(space.scatter())).any()  # the point is drawn
    other, _ = c.predict(-2.0, 2.0, api_name="/latent")
    assert (_png(other) != _png(decoded)).any()  # another point, another picture
    for bad, message in [(100.0, "beyond"), ("left", "two numbers"), (None, "two numbers")]:
        with pytest.raises(AppError, match=message):
            c.predict(bad, 0.0, api_name="/latent")
    # JSON has no NaN or infinity, but a client may send Python's spelling of them.
    for raw in ("NaN", "Infinity", "-Infinity"):
        answer = _raw_call(url, "latent", f'{{"data": [{raw}, 0.5]}}')
        assert "event: error" in answer and "finite" in answer, answer
    again, _ = c.predict(0.5, -1.25, api_name="/latent")  # the server is still fine
    np.testing.assert_array_equal(_png(again), want)
