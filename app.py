"""disguise: upload a face, move one slider per CelebA attribute, export strips and disguise sheets.

    python app.py [--weights weights/] [--port 7860]

Weights come from --weights or DISGUISE_WEIGHTS: a local folder or a Hugging Face Hub repo id with
config.json, model.safetensors and attribute_vectors.safetensors. This file only loads, lays out
and wires; the work is in disguise/ (see disguise/session.py for the handlers).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import shutil
import sys
from functools import partial
from types import SimpleNamespace
from pathlib import Path

import gradio as gr
from PIL import Image

from disguise.attributes import ATTRIBUTES, GROUPS, pretty
from disguise.faces import ImageError
from disguise.latent_space import BUNDLED_CLASSIC, MAX_ABS, LatentSpace, load_latent_space
from disguise.exports import VIEWS
from disguise.match import MAX_SUSPECTS
from disguise.session import SLIDER_LIMIT, Face, Studio, sanitize_sliders
from disguise.web_assets import IMMUTABLE, ROUTE, WebAssets, encoded

HERE = Path(__file__).resolve().parent
DEFAULT_WEIGHTS = os.environ.get("DISGUISE_WEIGHTS", str(HERE / "weights"))
EXAMPLES = HERE / "examples"
OPEN_GROUPS = ("Hair", "Facial hair", "Accessories")
LIVE_FORMAT = "jpeg"  # the live pictures: PNG made a photo-view event 1.9x slower (bench/app_latency.py)
LIVE_JS = (HERE / "web" / "live.js").read_text()  # the page's decoder loop (web/live.js)
LATENT_DRAG_JS = (HERE / "web" / "latent_drag.js").read_text()  # dragging the point over the plane
LIVE_TEMPLATE = """<div class="live-box"><span class="live-label">After</span>
<canvas class="live-canvas" id="live-canvas"></canvas><div class="live-note"></div></div>"""
LIVE_CSS = """.live-box { position: relative; border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-lg); padding: 6px; text-align: center; }
.live-label { position: absolute; left: 8px; top: 6px; font-size: var(--text-sm);
  color: var(--block-label-text-color); background: var(--block-label-background-fill); padding: 0 6px;
  border-radius: var(--radius-sm); }
.live-canvas { width: 100%; height: 256px; object-fit: contain; }
.live-note { font-size: var(--text-xs); color: var(--body-text-color-subdued); }"""

try:  # On a ZeroGPU Space the `spaces` package lends a GPU per call; elsewhere nothing changes.
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn):
        return fn

MATCH_INTRO = """Who is this? Upload a still of a disguised person and the suspects' photos: they are
ranked by the identity model's similarity, each with the attributes in which the sighting differs
(glasses, hat, beard, hair colour, ...) and the suspect drawn in that disguise, beside the
sighting, so you can judge the match by eye. A suspect below the identity model's threshold is
not a match."""

LATENT_INTRO = """How a VAE organises what it learned, in two dimensions: the convolutional VAE of *Generative
Deep Learning with Keras*, ch. 8 (z = 2), trained on Fashion-MNIST. Each dot is a test image's
code, coloured by its class; move the point (click the plane, or drag the sliders) and the decoder
draws what lies there. Beside it, the book's figure: decodes over a 15 x 15 grid of the plane, at
the normal distribution's quantiles 0.05 .. 0.95."""

INTRO = """# disguise
Upload a face and move the sliders to see it with an attribute added (right) or removed (left):
glasses, a hat, a beard, another hair colour, make-up, age. Built to predict how a wanted person
may look in disguise. Your photo and the pictures made from it stay in this session only and are
deleted when it ends."""


class FaceImage(gr.Image):
    """An image input that hands undecodable uploads to our loader, which says what is wrong."""

    is_template = True  # rendered by the frontend as a plain Image

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except (OSError, ValueError, Image.DecompressionBombError):
            # not an image, truncated, a decompression bomb: load_image explains which
            return getattr(payload, "path", None)


class AlphaSlider(gr.Slider):
    """A slider whose value reaches ``sanitize_sliders`` as sent (null, NaN, out of range), so
    a bad value from an API client gets a fallback and a note rather than an error."""

    is_template = True

    def preprocess(self, payload):
        return payload


def _latent_space() -> LatentSpace | None:
    """The "Latent space" tab's model (``DISGUISE_CLASSIC`` or the bundled weights/classic);
    None, with a message, when it cannot be loaded: the face editor runs without the tab."""
    folder = os.environ.get("DISGUISE_CLASSIC") or str(BUNDLED_CLASSIC)
    try:
        space = load_latent_space(folder)
    except (FileNotFoundError, ValueError) as e:
        print(f"disguise: no Latent space tab: {e}", file=sys.stderr)
        return None
    space.scatter()  # draws the scatter once, here rather than on the first visitor's move
    return space


def _drop_exports(face: Face | None) -> None:
    """Called by Gradio when a session's state expires: its exported files go too."""
    for path in getattr(face, "exports", []) or []:
        shutil.rmtree(Path(path).parent, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# Handlers: thin wrappers that turn library errors into messages in the page. Each is wired
# through ``handler``, so on a ZeroGPU Space every one of them runs with a GPU.


def handler(loaded: Studio | LatentSpace, fn):
    """``fn`` bound to what it works with (the studio, the latent space) and wrapped for ZeroGPU
    (a no-op elsewhere). A function rather than a ``partial``: Gradio reads the parameters'
    annotations to hand over event data (``gr.SelectData``), and a partial has none."""
    run = gpu(fn)

    @functools.wraps(fn)
    def bound(*args, **kwargs):
        return run(loaded, *args, **kwargs)

    bound.__signature__ = inspect.signature(partial(fn, loaded))
    bound.func = fn  # what it runs (the tests check every event goes through here)
    return bound


def _need(face: Face | None) -> Face:
    if face is None:
        raise gr.Error("Upload a face (or press Random face) first.")
    return face


def _split(values) -> tuple[list, str]:
    """An event's last inputs: the 40 sliders, then the view ("photo" or "model")."""
    *sliders, view = values
    if view not in VIEWS:
        raise gr.Error(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    return sliders, view


def live_document(studio: Studio, face: Face | None, locked, sliders, view: str) -> str:
    """What the page decodes edits from, in the browser ("" without a face or a decoder)."""
    if face is None or studio.decoder_file is None:
        return ""
    alphas, _ = sanitize_sliders(sliders)
    return studio.live(face, [alphas.get(a, 0.0) for a in ATTRIBUTES], locked or [], view)


def on_upload(studio: Studio, image, already_aligned: bool, locked, *values):
    if image is None:  # the input was cleared: keep the face being edited
        return (gr.skip(),) * 6
    sliders, view = _split(values)
    try:
        face = studio.prepare(image, already_aligned=True if already_aligned else None)
    except ImageError as e:
        gr.Warning(str(e))
        return (gr.skip(),) * 4 + (f"**Could not use that image:** {e}", gr.skip())
    alphas, _ = sanitize_sliders(sliders)
    return (face, face.aligned, studio.before(face, view), studio.render(face, alphas, locked or [], view),
            face.notice, live_document(studio, face, locked, sliders, view))


def on_edit(studio: Studio, face: Face | None, locked, *values):
    sliders, view = _split(values)
    if face is None:
        return None
    alphas, notes = sanitize_sliders(sliders)
    for note in notes:
        gr.Warning(note)
    return studio.render(face, alphas, locked or [], view)


def on_view(studio: Studio, face: Face | None, locked, *values):
    """The view switch: both pictures again, in the other view (and the page's document)."""
    if face is None:
        return None, None, ""
    sliders, view = _split(values)
    return (studio.before(face, view), on_edit(studio, face, locked, *values),
            live_document(studio, face, locked, sliders, view))


def on_locks(studio: Studio, face: Face | None, locked, *values):
    """New locks: the page gets the vectors as they now condition each other."""
    sliders, view = _split(values)
    return live_document(studio, face, locked, sliders, view)


def identity_text(result: dict | None) -> str:
    """The line under the pictures: is the edited face still this person?"""
    if result is None:
        return ""
    verdict = "**still recognised**" if result["recognised"] else "**not recognised**"
    return (f"Identity: cosine similarity {result['similarity']:.2f} to the uploaded face: {verdict} "
            f"(the identity model's threshold is {result['threshold']:.2f} at {result['far']:.0%} "
            f"false accepts)")


def on_identity(studio: Studio, face: Face | None, locked, *values):
    """After each picture: the identity model's verdict on it (empty without one)."""
    sliders, view = _split(values)
    if face is None:
        return ""
    alphas, _ = sanitize_sliders(sliders)
    return identity_text(studio.identity(face, alphas, locked or [], view))


def on_edit_by_name(studio: Studio, face: Face | None, alphas: dict, locked, view: str = "photo"):
    """API: {"Eyeglasses": 2, "No_Beard": -3} -> the edited face (unknown names are errors)."""
    face = _need(face)
    if not isinstance(alphas, dict):
        raise gr.Error('alphas must be a JSON object like {"Eyeglasses": 2.0}')
    try:
        return studio.render(face, alphas, locked or [], view)
    except ValueError as e:
        raise gr.Error(str(e)) from None


def on_random(studio: Studio, locked, view: str):
    face = studio.random_face()
    before = studio.before(face, view)
    zero = (0.0,) * len(ATTRIBUTES)
    return ((face, face.aligned, before, before, face.notice) + zero
            + (live_document(studio, face, locked, zero, view),))


def on_reset(studio: Studio, face: Face | None, locked, view: str):
    zero = (0.0,) * len(ATTRIBUTES)
    return ((studio.before(face, view) if face is not None else None,) + zero
            + (live_document(studio, face, locked, zero, view),))


def _export(face: Face, make):
    """Run an export, turning a library error into a message; the file goes with the session."""
    try:
        path, _ = make()
    except ValueError as e:
        raise gr.Error(str(e)) from None
    face.exports.append(path)
    return str(path), str(path)


def on_strip(studio: Studio, face: Face | None, attribute: str, alphas_text: str, locked,
             view: str = "photo"):
    face = _need(face)
    return _export(face, lambda: studio.export_strip(face, attribute, alphas_text, locked=locked or [],
                                                     view=view))


def on_sheet(studio: Studio, face: Face | None, locked, view: str = "photo", by_identity: bool = False):
    face = _need(face)
    return _export(face, lambda: studio.export_sheet(face, locked=locked or [], view=view,
                                                     by_identity=bool(by_identity)))


def on_photo(studio: Studio, face: Face | None, locked, *sliders):
    """The edited photo at the upload's full resolution, as a PNG download."""
    face = _need(face)
    alphas, _ = sanitize_sliders(sliders)
    return _export(face, lambda: studio.export_photo(face, alphas, locked or []))[1]


def on_animation(studio: Studio, face: Face | None, attribute: str, peak, frames, locked,
                 view: str = "photo"):
    """An animated GIF of one attribute sweeping 0 -> peak -> 0."""
    face = _need(face)
    try:
        frames = int(frames)
    except (TypeError, ValueError):
        raise gr.Error(f"frames must be a whole number, got {frames!r}") from None
    return _export(face, lambda: studio.export_animation(face, attribute, peak, frames,
                                                         locked=locked or [], view=view))


def on_match(studio: Studio, sighting, suspects):
    """A sighting against the suspects' photos: a ranked table, the pictures side by side, a PNG."""
    if sighting is None:
        raise gr.Error("Upload the sighting (a photo of the disguised person) first.")
    paths = [getattr(s, "name", s) for s in (suspects or [])]
    try:
        result, path = studio.match(sighting, paths)
    except (ValueError, ImageError) as e:
        raise gr.Error(str(e)) from None
    rows = [f"| {k} | {m.name} | {m.similarity:.3f} | {'yes' if m.recognised else 'no'} | "
            f"{', '.join(m.difference_labels) or '-'} |" for k, m in enumerate(result.suspects, 1)]
    table = "\n".join([f"**{result.summary}**", "",
                       "| rank | suspect | similarity | recognised | sighting differs in |",
                       "| ---: | --- | ---: | :---: | --- |", *rows])
    pictures = []  # a row per suspect, the best five: the sighting, the suspect, in its disguise
    for m in result.suspects[:5]:
        pictures += [(result.sighting, "sighting"), (m.face, f"{m.name}: {m.similarity:.2f}"),
                     (m.disguised, f"{m.name}, in the sighting's disguise")]
    return table, pictures, str(path)


def on_latent(space: LatentSpace, x, y):
    """A point of the latent plane -> its decode, and the plane with the point marked."""
    try:
        return space.decode_point(x, y), space.scatter(x, y)
    except ValueError as e:
        raise gr.Error(str(e)) from None


def on_plane_click(space: LatentSpace, evt: gr.SelectData):
    """A click on the plane moves the point there (both sliders follow)."""
    x, y = space.point_at(*evt.index)
    x, y = round(x, 2), round(y, 2)
    return (x, y) + on_latent(space, x, y)


# ----------------------------------------------------------------------------------------------
# Layout


def examples() -> list[str]:
    """A real photo (aligned on upload) and synthetic faces (178 x 218: taken as aligned)."""
    photo = [EXAMPLES / "astronaut.jpg"] if (EXAMPLES / "astronaut.jpg").is_file() else []
    return [str(p) for p in photo + sorted(EXAMPLES.glob("face_*.jpg"))]


def _slider_groups() -> dict[str, gr.Slider]:
    """The forty sliders, in the app's groups (the first few open)."""
    sliders = {}
    for group, names in GROUPS.items():
        with gr.Accordion(group, open=group in OPEN_GROUPS):
            for name in names:
                sliders[name] = AlphaSlider(-SLIDER_LIMIT, SLIDER_LIMIT, value=0.0, step=0.1,
                                            label=pretty(name), elem_id=f"slider-{name}")
    return sliders


def _export_panel(choices, studio: Studio) -> SimpleNamespace:
    """The Export accordion: strip, sheet, full-size photo and animation, and their preview."""
    with gr.Accordion("Export", open=True):
        with gr.Row():
            strip_attr = gr.Dropdown(choices, value="Eyeglasses", label="Strip attribute",
                                     elem_id="strip-attr")
            strip_alphas = gr.Textbox("0, 1, 2, 3, 4", label="Alphas", info="e.g. -4, -3, -2, -1, 0 to remove",
                                      elem_id="strip-alphas")
        with gr.Row():
            peak = gr.Number(4.0, label="Animation peak alpha", minimum=-20, maximum=20, elem_id="peak")
            frames = gr.Number(17, label="Animation frames", precision=0, minimum=3, maximum=64,
                               elem_id="frames")
        with gr.Row():
            strip_btn = gr.Button("Alpha strip (PNG)", variant="primary", elem_id="strip")
            sheet_btn = gr.Button("Disguise sheet (PNG)", variant="primary", elem_id="sheet")
        by_identity = gr.Checkbox(label="Order the disguise sheet by identity",
                                  info="The disguises that hide the person best first", value=False,
                                  elem_id="by-identity", visible=studio.recogniser is not None)
        with gr.Row():
            photo_btn = gr.Button("Edited photo, full size (PNG)", variant="primary", elem_id="photo")
            gif_btn = gr.Button("Animation (GIF)", variant="primary", elem_id="animation")
        export_view = gr.Image(label="Export preview", interactive=False, elem_id="export-view")
        export_file = gr.File(label="Download", elem_id="export-file")
    return SimpleNamespace(**{k: v for k, v in locals().items() if k not in ("choices", "studio")})


def _match_tab(studio: Studio) -> None:
    """The second tab: a sighting against the suspects' photos, wired to ``on_match``."""
    with gr.Tab("Match a sighting", id="match-tab"):
        gr.Markdown(MATCH_INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                sighting = FaceImage(label="Sighting (a still of the disguised person)",
                                     sources=["upload", "clipboard"], type="filepath", image_mode=None,
                                     height=260, elem_id="sighting")
                suspects = gr.File(label=f"Suspects' photos (up to {MAX_SUSPECTS})", file_count="multiple",
                                   type="filepath", elem_id="suspects")
                match_btn = gr.Button("Match", variant="primary", elem_id="match",
                                      interactive=studio.matcher is not None)
            with gr.Column(scale=8, min_width=320):
                summary = gr.Markdown(elem_id="match-summary")
                pictures = gr.Gallery(label="Sighting | suspect | suspect in the sighting's disguise",
                                      columns=3, height="auto", elem_id="match-gallery")
                report = gr.File(label="Report (PNG)", elem_id="match-file")
    match_btn.click(handler(studio, on_match), inputs=[sighting, suspects],
                    outputs=[summary, pictures, report], api_name="match")


def _live_view(assets: WebAssets) -> gr.HTML:
    """The canvas the page draws edits on itself while a slider moves (web/live.js); hidden
    until the runtime and decoder have loaded, and for good if they cannot."""
    return gr.HTML("", html_template=LIVE_TEMPLATE, css_template=LIVE_CSS, js_on_load=LIVE_JS,
                   elem_id="live", apply_default_css=False, slider_limit=SLIDER_LIMIT,
                   **assets.page_props())


def _latent_tab(space: LatentSpace | None) -> None:
    """The third tab: a point moved over a 2-D VAE's latent plane (a click, a drag, or the two
    sliders), decoded live."""
    with gr.Tab("Latent space", id="latent-tab"):
        gr.Markdown(LATENT_INTRO)
        if space is None:
            gr.Markdown("*No 2-D model could be loaded (see the server's log).*")
            return
        side = round(min(space.limit, MAX_ABS), 2)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=300):
                plane = gr.Image(space.scatter(0.0, 0.0), label="The test set's codes: click to move the "
                                 "point", show_label=False, interactive=False, format="png",
                                 elem_id="latent-plane")
                x = AlphaSlider(-side, side, value=0.0, step=0.01, label="z[0]", elem_id="latent-x")
                y = AlphaSlider(-side, side, value=0.0, step=0.01, label="z[1]", elem_id="latent-y")
                gr.HTML("", html_template="", js_on_load=LATENT_DRAG_JS, apply_default_css=False,
                        elem_id="latent-drag", to_pixel=list(space.pixel_transform), limit=side)
            with gr.Column(scale=3, min_width=240):
                decoded = gr.Image(space.decode_point(0.0, 0.0), label="Decoded",
                                   interactive=False, format="png", elem_id="latent-decoded")
            with gr.Column(scale=5, min_width=300):
                gr.Image(space.manifold(), label="Decodes over the plane (15 x 15)", show_label=False,
                         interactive=False, format="png", elem_id="latent-manifold")
    gr.on([x.input, y.input], handler(space, on_latent), inputs=[x, y], outputs=[decoded, plane],
          trigger_mode="always_last", show_progress="hidden", api_name="latent")
    plane.select(handler(space, on_plane_click), outputs=[x, y, decoded, plane], show_progress="hidden",
                 api_visibility="private")


_NO_SPACE = object()


def _disguise_tab(studio: Studio, assets: WebAssets) -> SimpleNamespace:
    """The first tab's layout: the photo, the before/after pictures (and the page's own live
    view), locks, exports and the forty sliders. Returns its components by name."""
    choices = [(pretty(a), a) for a in ATTRIBUTES]
    with gr.Tab("Disguise", id="disguise-tab"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                image = FaceImage(label="Face photo", sources=["upload", "webcam", "clipboard"],
                                  type="filepath", image_mode=None, height=300, elem_id="face-input")
                aligned = gr.Checkbox(label="Already aligned (skip face detection)", value=False,
                                      info="178 x 218 images, CelebA's size, are taken as aligned")
                notice = gr.Markdown(elem_id="notice")
                gr.Examples(examples(), inputs=[image], label="Try one: faces the demo model knows",
                            examples_per_page=8)
                preview = gr.Image(label="Aligned face", interactive=False, height=220, elem_id="aligned")
            with gr.Column(scale=5, min_width=320):
                view = gr.Radio([("Your photo", "photo"), ("Model", "model")], value="photo",
                                label="View", elem_id="view",
                                info="Photo: the edit drawn on the photo itself. Model: the VAE's "
                                     "own decode, beside its reconstruction (all sliders at 0).")
                with gr.Row():
                    recon = gr.Image(label="Before", interactive=False, height=256,
                                     format=LIVE_FORMAT, elem_id="recon")
                    with gr.Column(min_width=160):
                        edited = gr.Image(label="After", interactive=False, height=256,
                                          format=LIVE_FORMAT, elem_id="edited")
                        live = _live_view(assets)
                identity = gr.Markdown(elem_id="identity")
                with gr.Row():
                    reset = gr.Button("Reset all", elem_id="reset")
                    random = gr.Button("Random face", elem_id="random")
                locks = gr.Dropdown(choices, multiselect=True, value=[], label="Lock attributes",
                                    info="Keep these fixed while moving others (e.g. lock Male, "
                                         "then add a beard)", elem_id="locks")
                ex = _export_panel(choices, studio)
            with gr.Column(scale=4, min_width=300):
                sliders = _slider_groups()
    ordered = [sliders[a] for a in ATTRIBUTES]
    return SimpleNamespace(**{k: v for k, v in locals().items() if k not in ("studio", "assets", "choices")})


def _wire_disguise(studio: Studio, face: gr.State, ui: SimpleNamespace) -> None:
    """The first tab's events.

    The view comes last in every event's inputs, so API clients may leave it out ("photo").
    After every picture, the identity line (its API endpoint is the edit's: /identity). While a
    slider is dragged the page draws the edit itself (web/live.js) and asks the server once, on
    release; the live view's "input" is its way of asking the server per move instead, when it
    cannot decode (no runtime, no decoder, an error)."""
    ordered, locks, view, live = ui.ordered, ui.locks, ui.view, ui.live
    state = [face, locks, *ordered, view]
    after = dict(fn=handler(studio, on_identity), inputs=state, outputs=ui.identity, show_progress="hidden")
    gr.on([ui.image.change, ui.aligned.change], handler(studio, on_upload),
          inputs=[ui.image, ui.aligned, locks, *ordered, view],
          outputs=[face, ui.preview, ui.recon, ui.edited, ui.notice, live], api_name="prepare"
          ).then(**after, api_visibility="private")
    gr.on([s.release for s in ordered] + [live.input, locks.change], handler(studio, on_edit),
          inputs=state, outputs=ui.edited, trigger_mode="always_last",
          show_progress="hidden", api_name="edit").then(**after, api_name="identity")
    locks.change(handler(studio, on_locks), inputs=state, outputs=live, show_progress="hidden",
                 api_visibility="private")
    view.change(handler(studio, on_view), inputs=state, outputs=[ui.recon, ui.edited, live],
                show_progress="hidden", api_name="view").then(**after, api_visibility="private")
    by_name = gr.JSON(visible=False)
    gr.Button(visible=False).click(handler(studio, on_edit_by_name), inputs=[face, by_name, locks, view],
                                   outputs=ui.edited, api_name="edit_by_name")
    ui.random.click(handler(studio, on_random), inputs=[locks, view],
                    outputs=[face, ui.preview, ui.recon, ui.edited, ui.notice, *ordered, live],
                    api_name="random_face").then(**after, api_visibility="private")
    ui.reset.click(handler(studio, on_reset), inputs=[face, locks, view], outputs=[ui.edited, *ordered, live],
                   api_name="reset").then(**after, api_visibility="private")
    ex = ui.ex
    shown = [ex.export_view, ex.export_file]
    ex.strip_btn.click(handler(studio, on_strip), inputs=[face, ex.strip_attr, ex.strip_alphas, locks, view],
                       outputs=shown, api_name="strip")
    ex.sheet_btn.click(handler(studio, on_sheet), inputs=[face, locks, view, ex.by_identity],
                       outputs=shown, api_name="sheet")
    ex.photo_btn.click(handler(studio, on_photo), inputs=[face, locks, *ordered],
                       outputs=ex.export_file, api_name="photo")
    ex.gif_btn.click(handler(studio, on_animation), inputs=[face, ex.strip_attr, ex.peak, ex.frames, locks, view],
                     outputs=shown, api_name="animation")


def build_demo(studio: Studio, assets: WebAssets | None = None, latent=_NO_SPACE) -> gr.Blocks:
    """The page, wired to ``studio``. Importable: tests launch it on a local port (``launch``).

    ``assets``: where the page gets its decoder and runtime (default: ``WebAssets.choose``);
    ``latent``: the Latent space tab's model (default: the bundled one; None: no model)."""
    assets = assets or WebAssets.choose(studio.decoder_file)
    latent = _latent_space() if latent is _NO_SPACE else latent
    with gr.Blocks(title="disguise", delete_cache=(600, 3600)) as demo:
        face = gr.State(None, time_to_live=3600, delete_callback=_drop_exports)
        gr.Markdown(INTRO)
        ui = _disguise_tab(studio, assets)
        _match_tab(studio)
        _latent_tab(latent)
        _wire_disguise(studio, face, ui)
    return demo


def asset_routes(assets: WebAssets, prefix: str = "") -> list:
    """``<root>/disguise-web/<version>/<file>``: the decoder and the runtime, cached for good
    (the version is in the URL), compressed once."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def serve(request):
        found = assets.find(request.path_params["version"], request.path_params["name"])
        if found is None:
            return PlainTextResponse("not found", status_code=404)
        path, media_type = found
        body, encoding = await run_in_threadpool(encoded, path, request.headers.get("accept-encoding", ""))
        headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
        if encoding:
            headers["Content-Encoding"] = encoding
        return Response(body, media_type=media_type, headers=headers)

    return [Route(f"{prefix}/{ROUTE}/{{version}}/{{name}}", serve, methods=["GET", "HEAD"])]


def launch(demo: gr.Blocks, assets: WebAssets, **kwargs):
    """``demo.launch(**kwargs)`` with the page's decoder and runtime files served beside it."""
    return demo.launch(app_kwargs={"routes": asset_routes(assets)}, max_file_size="25mb", **kwargs)


def mount(parent, demo: gr.Blocks, assets: WebAssets, path: str, **kwargs):
    """The app under ``path`` of an existing FastAPI app (``gr.mount_gradio_app``), with the
    page's files under the same path: the page finds them from its own root."""
    path = "/" + path.strip("/")
    parent.router.routes[:0] = asset_routes(assets, prefix=path)  # before the mount catches them
    return gr.mount_gradio_app(parent, demo, path=path, max_file_size="25mb", **kwargs)


def settle() -> None:
    """After loading: move every object alive now out of the garbage collector's sweeps, so
    a full collection does not stall a slider event (they cost tens of ms with torch and gradio
    loaded; measured in bench/app_latency.py)."""
    import gc

    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Serve the disguise web app.")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="folder or Hub repo id")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = p.parse_args(argv)
    try:
        studio = Studio.load(args.weights, device=args.device)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: cannot load the weights: {e}", file=sys.stderr)
        return 2
    print(f"disguise: {args.weights} loaded on {studio.editor.device} "
          f"({studio.editor.size} x {studio.editor.size}, z {studio.editor.model.config.z_dim})")
    try:
        assets = WebAssets.choose(studio.decoder_file)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"disguise: the page decodes in the browser: {_live_summary(studio, assets)}")
    demo = build_demo(studio, assets)
    settle()
    launch(demo, assets, server_name=args.host, server_port=args.port, theme=gr.themes.Soft(),
           footer_links=["api"])
    return 0


def _live_summary(studio: Studio, assets: WebAssets) -> str:
    if studio.decoder_file is None:
        return f"no ({studio.decoder_problem}); every edit goes through the server"
    if assets.runtime == "off":
        return "no (DISGUISE_RUNTIME=off)"
    source = ("web/node_modules" if assets.runtime == "local"
              else "the CDN (run `npm ci --prefix web` to serve it from here)")
    return f"yes, {studio.decoder_file.name} with onnxruntime-web from {source}"


if __name__ == "__main__":
    sys.exit(main())
