"""The page's decoder without a browser: the ONNX export against PyTorch (onnxruntime in Python),
the document the page decodes from, and the files served for it."""

from __future__ import annotations

import base64
import gzip
import json
import shutil

import numpy as np
import pytest
import torch

from disguise.attributes import ATTRIBUTES
from disguise.serving.live import FORMAT, random_edits
from disguise.serving.web_assets import (
    LOCAL_RUNTIME,
    ORT_VERSION,
    RUNTIME_FILES,
    RUNTIME_INTEGRITY,
    RUNTIME_SCRIPT,
    WEB_DIR,
    WebAssets,
    encoded,
    sri,
)
from disguise.vae.model import VAE, WEIGHTS_NAME
from disguise.vae.onnx_decoder import (
    DECODER_NAME,
    INPUT,
    OUTPUT,
    check_parity,
    decoder_for,
    export_decoder,
    exported_from,
    weights_digest,
)
from tests.tools import missing

ort = pytest.importorskip("onnxruntime", reason=missing("onnxruntime", "pip install -r requirements-test.txt"))


@pytest.fixture(scope="module")
def studio(tiny_run):
    from disguise.serving.studio import Studio

    return Studio.load(tiny_run, device="cpu")


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    model = VAE.from_pretrained(tiny_run)
    path = export_decoder(model, folder / DECODER_NAME, weights_digest(tiny_run / WEIGHTS_NAME))
    return path, model


def _page_edit(doc: dict, alphas) -> np.ndarray:
    """What web/live.js computes from the document: z + alphas @ bank, in float32."""
    z = np.frombuffer(base64.b64decode(doc["z"]), "<f4")
    bank = np.frombuffer(base64.b64decode(doc["bank"]), "<f4").reshape(len(ATTRIBUTES), doc["zDim"])
    out = z.copy()
    for i, a in enumerate(alphas):
        if a:
            out += np.float32(a) * bank[i]
    return out


def test_the_page_computes_the_servers_picture_within_one_level(exported, tiny_run, studio):
    """Random codes, alphas and locks: the document's z and conditioned vectors, summed as the
    page sums them, decoded by onnxruntime, against ``Editor.render``."""
    path, _ = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    editor = studio.editor
    worst, exact = 0, []
    for face_seed, alphas, locked in random_edits(24, seed=0):
        face = studio.random_face(seed=face_seed)
        doc = json.loads(studio.live(face, [alphas.get(a, 0.0) for a in ATTRIBUTES], locked, "model"))
        z = _page_edit(doc, [alphas.get(a, 0.0) for a in ATTRIBUTES])
        got = session.run([OUTPUT], {INPUT: z[None]})[0][0].astype(int)
        want = editor.render(face.z, alphas, locked).astype(int)
        assert got.shape == want.shape and session.get_outputs()[0].type == "tensor(uint8)"
        worst = max(worst, int(np.abs(got - want).max()))
        exact.append((got == want).mean())
    assert worst <= 1, worst
    assert np.mean(exact) > 0.99


def test_conditioned_bank_is_what_direction_uses(studio):
    editor = studio.editor
    alphas = {"Eyeglasses": 2.0, "Male": -1.5, "Wearing_Hat": 0.7, "Bangs": -0.5}
    for locked in ([], ["Male"], ["Male", "Young", "Eyeglasses"]):
        above, below = editor.conditioned_bank(locked), editor.conditioned_bank(locked, removing=True)
        a = torch.tensor([alphas.get(n, 0.0) for n in ATTRIBUTES])
        torch.testing.assert_close(a.clamp(min=0) @ above + a.clamp(max=0) @ below, editor.direction(alphas, locked),
                                   atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="Sunglasses"):
        editor.conditioned_bank(["Sunglasses"])


def test_check_parity_measures_a_real_difference(exported, tmp_path):
    path, model = exported
    codes = torch.randn(16, model.config.z_dim, generator=torch.Generator().manual_seed(1))
    parity = check_parity(path, model, codes)
    assert parity.codes == 16 and parity.max_levels <= 1 and parity.share_exact > 0.99
    other = VAE(model.config)  # fresh weights: the same file is now far from "PyTorch"
    assert check_parity(path, other, codes).max_levels > 10


def test_decoder_for_uses_a_matching_export_and_replaces_a_stale_one(exported, tiny_run, tmp_path):
    path, model = exported
    folder = tmp_path / "weights"
    shutil.copytree(tiny_run, folder)
    cache = tmp_path / "cache"
    made = decoder_for(folder, model, cache)  # none in the folder: exported into the cache
    assert made.parent == cache and exported_from(made) == weights_digest(folder / WEIGHTS_NAME)
    assert decoder_for(folder, model, cache) == made  # and reused
    shutil.copyfile(path, folder / DECODER_NAME)  # the folder's own, of these weights: used
    assert decoder_for(folder, model, cache) == folder / DECODER_NAME
    # New weights in the folder: its decoder.onnx is stale and is not served.
    other = VAE(model.config)
    other.save_pretrained(folder)
    fresh = decoder_for(folder, other, cache)
    assert fresh != folder / DECODER_NAME and exported_from(fresh) == weights_digest(folder / WEIGHTS_NAME)
    # A damaged file is not used either.
    (folder / DECODER_NAME).write_bytes(b"not onnx")
    assert exported_from(folder / DECODER_NAME) is None
    assert decoder_for(folder, other, cache) == fresh


def test_a_studio_without_a_decoder_says_why(studio, tmp_path, monkeypatch):
    import disguise.serving.studio as session

    def broken(*args, **kwargs):
        raise OSError("read-only file system")

    monkeypatch.setattr(session, "decoder_for", broken)
    fresh = session.Studio(studio.editor)
    fresh.find_decoder(tmp_path)
    assert fresh.decoder_file is None and "read-only" in fresh.decoder_problem


def test_the_live_document(studio, astronaut):
    face = studio.prepare(astronaut)
    alphas = [0.0] * len(ATTRIBUTES)
    alphas[ATTRIBUTES.index("Eyeglasses")] = 2.5
    doc = json.loads(studio.live(face, alphas, ["Male"], "photo"))
    size, zdim = studio.editor.size, studio.editor.model.config.z_dim
    assert doc["format"] == FORMAT and doc["face"] == face.face_id and doc["alphas"] == alphas
    assert doc["attributes"] == list(ATTRIBUTES) and doc["size"] == size and doc["zDim"] == zdim
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(doc["z"]), "<f4"), face.z.numpy())
    bank = np.frombuffer(base64.b64decode(doc["bank"]), "<f4").reshape(len(ATTRIBUTES), zdim)
    np.testing.assert_allclose(bank, studio.editor.conditioned_bank(["Male"]).numpy())
    recon = np.frombuffer(base64.b64decode(doc["recon"]), np.uint8).reshape(size, size, 3)
    np.testing.assert_array_equal(recon, face.recon)
    canvas = face.live(studio.editor.policy)
    photo = doc["photo"]
    assert (photo["width"], photo["height"]) == canvas.view.size and photo["box"] == list(canvas.box)
    np.testing.assert_allclose(np.reshape(photo["warp"], (2, 3)), canvas.warp_matrix)
    assert photo["src"].startswith("data:image/jpeg;base64,")
    assert "photo" not in json.loads(studio.live(face, alphas, [], "model"))
    with pytest.raises(ValueError, match="40 alphas"):
        studio.live(face, alphas[:3], [], "photo")
    with pytest.raises(ValueError, match="view"):
        studio.live(face, alphas, [], "sketch")


def test_the_live_document_carries_the_rows_below_zero(studio, astronaut):
    """A model whose sliders have rows below 0 sends them beside the others, as the locks condition
    them; one without sends none (the page then moves along one row both ways)."""
    from dataclasses import replace

    from disguise.serving.studio import Studio
    from disguise.sliders.editor import Editor
    from disguise.sliders.removal_rows import RemovalRows

    editor = studio.editor
    zdim = editor.model.config.z_dim
    below = RemovalRows({"Male": torch.randn(zdim, generator=torch.Generator().manual_seed(0))})
    taking = Studio(Editor(editor.model, replace(editor.bank, removal_rows=below), editor.device))
    plain = Studio(Editor(editor.model, replace(editor.bank, removal_rows=None), editor.device))
    alphas = [0.0] * len(ATTRIBUTES)
    for session in (taking, plain):
        face = session.prepare(astronaut)
        doc = json.loads(session.live(face, alphas, ["Young"], "model"))
        if session is plain:
            assert "removal" not in doc
            continue
        removal = np.frombuffer(base64.b64decode(doc["removal"]), "<f4").reshape(len(ATTRIBUTES), zdim)
        np.testing.assert_allclose(removal, session.editor.conditioned_bank(["Young"], face.z, removing=True).numpy())
        male = ATTRIBUTES.index("Male")
        bank = np.frombuffer(base64.b64decode(doc["bank"]), "<f4").reshape(len(ATTRIBUTES), zdim)
        assert not np.allclose(removal[male], bank[male])  # Male's own row below 0
        others = [i for i in range(len(ATTRIBUTES)) if i != male]
        np.testing.assert_allclose(removal[others], bank[others], atol=1e-6)


def test_the_live_copy_is_as_large_as_the_page_shows_it(studio, astronaut, tmp_path):
    """The page reports its picture's box and pixel ratio: the live copy follows it (the photo
    fitted into the box, times the ratio capped at 2.5, rounded up to 64 px, within 256 .. 1600
    and at most the working copy); whatever else a client sends gives the default size."""
    from PIL import Image

    from disguise.serving.studio import LIVE_SIDE, MAX_LIVE_SIDE, live_side

    box = {"w": 694, "h": 530, "dpr": 1}
    assert live_side((4000, 3000), json.dumps(box)) == 704  # width-bound: 694 px -> 704
    assert live_side((3000, 4000), box) == 576  # height-bound: 530 px -> 576
    assert live_side((4000, 3000), {**box, "dpr": 2}) == 1408
    assert live_side((4000, 3000), {**box, "dpr": 9}) == MAX_LIVE_SIDE  # 2.5 at most, then the cap
    assert live_side((100, 100), {"w": 10, "h": 10, "dpr": 1}) == 256
    assert live_side((4000, 3000), {"w": 1e308, "h": 1e308, "dpr": 1e308}) == MAX_LIVE_SIDE
    for bad in ["", "not json", "[1, 2]", '{"w": "wide", "h": 1, "dpr": 1}', {"w": -5, "h": 530, "dpr": 1},
                {"w": float("nan"), "h": 530, "dpr": 1}, {"w": 694, "h": 530}, None, 7]:
        assert live_side((4000, 3000), bad) == LIVE_SIDE, bad

    photo = tmp_path / "big.jpg"
    Image.open(astronaut).convert("RGB").resize((2000, 2000)).save(photo)
    face = studio.prepare(photo)
    assert studio.show_at(face, box) and max(face.live(studio.editor.policy).view.size) == 576
    assert not studio.show_at(face, {**box, "w": 690})  # the same 64 px step: no new copy
    assert studio.show_at(face, {**box, "dpr": 2})
    assert max(face.live(studio.editor.policy).view.size) == 1024  # the working copy's size at most
    doc = json.loads(studio.live(face, [0.0] * len(ATTRIBUTES), [], "photo"))
    assert (doc["photo"]["width"], doc["photo"]["height"]) == (1024, 1024)


def test_web_assets_serve_only_their_files(exported, tmp_path):
    path, _ = exported
    runtime = tmp_path / "dist"
    runtime.mkdir()
    for name in RUNTIME_FILES:
        (runtime / name).write_bytes(b"// " + name.encode())
    (runtime.parent / "package.json").write_text(json.dumps({"version": ORT_VERSION}))
    assets = WebAssets.choose(path, "auto", runtime)
    assert assets.runtime == "local"
    props = assets.page_props()
    version, name = props["model_url"].split("/")[-2:]
    assert assets.find(version, name) == (path, "application/octet-stream")
    assert props["runtime_integrity"] == "" and not props["runtime_url"].startswith("http")
    page, module = props["maths_url"].split("/")[-2:]  # the page's own maths, under their hash
    from disguise.files import WEB_DIR

    assert assets.find(page, module) == (WEB_DIR / "photo_view.mjs", "text/javascript")
    assert assets.find(version, module) is None and assets.find(page, "live.js") is None
    wasm = assets.find(f"ort-{ORT_VERSION}", "ort-wasm-simd-threaded.wasm")
    assert wasm == (runtime / "ort-wasm-simd-threaded.wasm", "application/wasm")
    for bad in [("x", "decoder.onnx"), (version, "config.json"), (f"ort-{ORT_VERSION}", "..%2Fpackage.json"),
                ("ort-0.0.1", RUNTIME_SCRIPT), (f"ort-{ORT_VERSION}", "ort.webgpu.min.js")]:
        assert assets.find(*bad) is None, bad
    # Another runtime version on disk, or none: the CDN's pinned copy, with its integrity hash.
    (runtime.parent / "package.json").write_text(json.dumps({"version": "1.0.0"}))
    cdn = WebAssets.choose(path, "auto", runtime)
    assert cdn.runtime == "cdn" and cdn.page_props()["runtime_integrity"] == RUNTIME_INTEGRITY
    assert cdn.page_props()["runtime_url"].startswith(f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{ORT_VERSION}/")
    assert cdn.find(f"ort-{ORT_VERSION}", RUNTIME_SCRIPT) is None
    assert WebAssets.choose(None, "local", runtime).runtime == "off"  # no decoder: no page decoding
    assert WebAssets.choose(path, "off", runtime).page_props()["model_url"] == ""
    with pytest.raises(ValueError, match="DISGUISE_RUNTIME"):
        WebAssets.choose(path, "webgpu", runtime)


def test_encoded_files_decompress_to_themselves(exported):
    path, _ = exported
    data = path.read_bytes()
    body, encoding = encoded(path, "gzip, deflate, br")
    assert encoding == "br" and len(body) < len(data)
    import brotli

    assert brotli.decompress(body) == data
    body, encoding = encoded(path, "gzip")
    assert encoding == "gzip" and gzip.decompress(body) == data
    assert encoded(path, "") == (data, None)


def test_the_pinned_runtime_is_the_one_npm_installs():
    """web/package.json, its lock file and the app agree on the release; the integrity hash the
    page checks the CDN's copy against is the npm copy's."""
    pkg = json.loads((WEB_DIR / "package.json").read_text())
    lock = json.loads((WEB_DIR / "package-lock.json").read_text())
    assert pkg["dependencies"]["onnxruntime-web"] == ORT_VERSION
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == ORT_VERSION
    if not (LOCAL_RUNTIME / RUNTIME_SCRIPT).is_file():
        pytest.skip(missing("onnxruntime-web (under web/)", "npm ci --prefix web, as the README's test command does"))
    assert sri(LOCAL_RUNTIME / RUNTIME_SCRIPT) == RUNTIME_INTEGRITY
    for name in RUNTIME_FILES:
        assert (LOCAL_RUNTIME / name).is_file(), name


def test_the_page_follows_each_sliders_scale(tiny_run, tmp_path, astronaut):
    """With a bank whose rows have their own lengths (effect or calibrated vectors), the page's bank
    is the server's: each row at its slider's scale, kept under locks."""
    from disguise.serving.studio import Studio
    from disguise.sliders.bank import BANK_NAME, AttributeBank

    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(tiny_run / name, tmp_path / name)
    bank = AttributeBank.load(tiny_run / BANK_NAME)
    scales = torch.linspace(0.3, 2.5, len(ATTRIBUTES))
    bank.vectors = bank.vectors * scales[:, None]
    bank.save(tmp_path / BANK_NAME)
    studio = Studio.load(tmp_path, device="cpu")
    face = studio.prepare(astronaut)
    for locked in ([], ["Male", "Young"]):
        doc = json.loads(studio.live(face, [0.0] * len(ATTRIBUTES), locked, "photo"))
        rows = np.frombuffer(base64.b64decode(doc["bank"]), "<f4").reshape(len(ATTRIBUTES), -1)
        np.testing.assert_allclose(rows, studio.editor.conditioned_bank(locked).numpy())
        np.testing.assert_allclose(np.linalg.norm(rows, axis=1), scales.numpy(), rtol=1e-4)


def test_the_page_gets_the_faces_own_rows(tiny_run, tmp_path, astronaut):
    """With a bank whose brown-hair slider has a row for black hair (``disguise.sliders.hair_rows``)
    and whose Blurry slider is made from the picture (``disguise.sliders.picture_rows``), a face the gate
    reads as black-haired gets both of its own rows in its document, and the page's sum is the
    server's edit of that face."""
    from disguise.data.blur import gaussian_blur
    from disguise.serving.studio import Studio
    from disguise.sliders.bank import BANK_NAME, AttributeBank
    from disguise.sliders.hair_rows import STATES, Gate, HairRows
    from disguise.sliders.picture_rows import PictureRows

    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(tiny_run / name, tmp_path / name)
    bank = AttributeBank.load(tiny_run / BANK_NAME)
    zdim, k = bank.z_dim, ATTRIBUTES.index("Brown_Hair")
    bias = torch.zeros(len(STATES) + 1)
    bias[STATES.index("Black_Hair")] = 30.0  # every face reads as black-haired
    row = -2.0 * bank.vectors[k] + 0.5
    bank.hair_rows = HairRows(Gate(torch.zeros(len(STATES) + 1, zdim), bias), {("Brown_Hair", "Black_Hair"): row})
    bank.picture_rows = PictureRows({"Blurry": 4.5}, end=4.0)
    bank.save(tmp_path / BANK_NAME)
    studio = Studio.load(tmp_path, device="cpu")
    face = studio.prepare(astronaut)
    alphas = [0.0] * len(ATTRIBUTES)
    blurry = ATTRIBUTES.index("Blurry")
    alphas[k], alphas[ATTRIBUTES.index("Eyeglasses")], alphas[blurry] = 3.0, 1.0, 2.0
    for locked in ([], ["Male", "Young"]):
        doc = json.loads(studio.live(face, alphas, locked, "photo"))
        rows = np.frombuffer(base64.b64decode(doc["bank"]), "<f4").reshape(len(ATTRIBUTES), zdim)
        np.testing.assert_allclose(rows, studio.editor.conditioned_bank(locked, face.z).numpy(), atol=1e-6)
        shared = studio.editor.conditioned_bank(locked).numpy()
        assert not np.allclose(rows[k], shared[k], atol=1e-3)
        assert not np.allclose(rows[blurry], shared[blurry], atol=1e-3)
        want = studio.editor.edit(face.z, {"Brown_Hair": 3.0, "Eyeglasses": 1.0, "Blurry": 2.0}, locked)
        np.testing.assert_allclose(_page_edit(doc, alphas), want.numpy().reshape(-1), atol=1e-4)
    np.testing.assert_allclose(studio.editor.rows(face.z)[k].numpy(), row.numpy(), atol=1e-5)
    model = studio.editor.model
    with torch.inference_mode():  # the end of Blurry is the code of the face's own picture blurred
        sigma = PictureRows.pixels(4.5, model.config.policy)
        blurred = model.encode(gaussian_blur(model.decode(face.z.reshape(1, -1)), sigma))[0][0]
    np.testing.assert_allclose(studio.editor.edit(face.z, {"Blurry": 4.0}).numpy(), blurred.numpy(), atol=1e-4)
