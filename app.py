"""disguise: upload a face, move one slider per CelebA attribute, export strips and disguise sheets.

    python app.py [--weights weights/] [--port 7860]

Weights come from --weights or DISGUISE_WEIGHTS: a local folder or a Hugging Face Hub repo id with
config.json, model.safetensors and attribute_vectors.safetensors. This file only lays out the page
and wires its events; what each event does is ``disguise.serving.events`` (plain functions).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import sys
from functools import partial

import gradio as gr
from PIL import Image

from disguise.attributes import ATTRIBUTES, GROUPS, pretty
from disguise.classic.space import BUNDLED_CLASSIC, MAX_ABS, LatentSpace
from disguise.classic.space import load_latent_space as load_space
from disguise.files import BUNDLED_WEIGHTS, WEB_DIR
from disguise.identity.match import LABELS, MAX_SUSPECTS
from disguise.photo.exports import MAX_FRAMES, SWEEP_FRAMES, SWEEP_PEAK
from disguise.serving import events, text
from disguise.serving.server import asset_routes, settle
from disguise.serving.studio import SLIDER_LIMIT, Studio
from disguise.serving.web_assets import WebAssets

DEFAULT_WEIGHTS = os.environ.get("DISGUISE_WEIGHTS", str(BUNDLED_WEIGHTS))
EXAMPLES = BUNDLED_WEIGHTS.parent / "examples"
OPEN_GROUPS = ("Hair", "Facial hair", "Accessories")
LIVE_FORMAT = "jpeg"  # the live pictures: as PNG a photo-view event costs 1.55x (bench/app_latency.py)
MAX_UPLOAD = "25mb"

try:  # On a ZeroGPU Space the `spaces` package lends a GPU per call; elsewhere nothing changes.
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn):
        return fn


class FaceImage(gr.Image):
    """An image input that hands undecodable uploads to our loader, which says what is wrong."""

    is_template = True  # rendered by the frontend as a plain Image

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except (OSError, ValueError, Image.DecompressionBombError):
            return getattr(payload, "path", None)  # not an image, truncated, a bomb: the loader says which


class AlphaSlider(gr.Slider):
    """A slider whose value reaches ``sanitize_sliders`` as sent (null, NaN, out of range), so a
    bad value from an API client gets a fallback and a note rather than an error."""

    is_template = True

    def preprocess(self, payload):
        return payload


def handler(loaded: Studio | LatentSpace, fn):
    """``fn`` (an event of ``disguise.serving.events``) bound to what it works with, run under
    ``spaces.GPU`` on a ZeroGPU Space: its ``ValueError`` becomes a message in the page, its notes
    warnings, ``KEEP`` a skipped output. A function rather than a ``partial``: Gradio reads the
    parameters' annotations to hand over event data (``gr.SelectData``)."""
    run = gpu(fn)
    warns = "warn" in inspect.signature(fn).parameters

    @functools.wraps(fn)
    def bound(*args):
        try:
            out = run(loaded, *args, **({"warn": gr.Warning} if warns else {}))
        except ValueError as e:  # ImageError included: what was wrong, in the page
            raise gr.Error(str(e)) from None
        if isinstance(out, tuple):
            return tuple(gr.skip() if o is events.KEEP else o for o in out)
        return gr.skip() if out is events.KEEP else out

    sig = inspect.signature(partial(fn, loaded))
    bound.__signature__ = sig.replace(parameters=[p for p in sig.parameters.values() if p.name != "warn"])
    bound.func = fn  # what it runs (the tests check every event goes through here)
    return bound


def plane_click(space: LatentSpace, evt: gr.SelectData):
    """A click on the latent plane, at the pixel Gradio reports."""
    return events.plane_click(space, evt.index)


# ----------------------------------------------------------------------------------------------
# Layout


def examples() -> list[str]:
    """A real photo (aligned on upload) and synthetic faces (178 x 218: taken as aligned)."""
    return [str(p) for p in sorted(EXAMPLES.glob("astronaut.jpg")) + sorted(EXAMPLES.glob("face_*.jpg"))]


def slider_column(sliders: dict[str, gr.Slider]) -> None:
    """The forty sliders (made unrendered, so events can be wired before they are placed), in
    the app's groups, the first few open."""
    for group, names in GROUPS.items():
        with gr.Accordion(group, open=group in OPEN_GROUPS):
            for name in names:
                sliders[name].render()


def live_view(assets: WebAssets) -> gr.HTML:
    """The canvas the page draws edits on itself while a slider moves (web/live.js)."""
    return gr.HTML("", html_template=(WEB_DIR / "live.html").read_text(),
                   css_template=(WEB_DIR / "live.css").read_text(),
                   js_on_load=(WEB_DIR / "live.js").read_text(), elem_id="live", apply_default_css=False,
                   slider_limit=SLIDER_LIMIT, **assets.page_props())


def export_panel(studio: Studio, face: gr.State, locks, view, sliders: list) -> None:
    """Strip, sheet, full-size photo and animation, with their preview and download."""
    with gr.Accordion("Export", open=True):
        with gr.Row():
            attribute = gr.Dropdown([(pretty(a), a) for a in ATTRIBUTES], value="Eyeglasses",
                                    label="Strip attribute", elem_id="strip-attr")
            alphas = gr.Textbox("0, 1, 2, 3, 4", label="Alphas", info="e.g. -4, -3, -2, -1, 0 to remove",
                                elem_id="strip-alphas")
        with gr.Row():
            peak = gr.Number(SWEEP_PEAK, label="Animation peak alpha", minimum=-20, maximum=20, elem_id="peak")
            frames = gr.Number(SWEEP_FRAMES, label="Animation frames", precision=0, minimum=3,
                               maximum=MAX_FRAMES, elem_id="frames")
        with gr.Row():
            strip = gr.Button("Alpha strip (PNG)", variant="primary", elem_id="strip")
            sheet = gr.Button("Disguise sheet (PNG)", variant="primary", elem_id="sheet")
        by_identity = gr.Checkbox(label="Order the disguise sheet by identity", value=False,
                                  info="The disguises that hide the person best first", elem_id="by-identity",
                                  visible=studio.matcher is not None)
        with gr.Row():
            photo = gr.Button("Edited photo, full size (PNG)", variant="primary", elem_id="photo")
            gif = gr.Button("Animation (GIF)", variant="primary", elem_id="animation")
        shown = [gr.Image(label="Export preview", interactive=False, elem_id="export-view"),
                 gr.File(label="Download", elem_id="export-file")]
    strip.click(handler(studio, events.strip), [face, attribute, alphas, locks, view], shown, api_name="strip")
    sheet.click(handler(studio, events.sheet), [face, locks, view, by_identity], shown, api_name="sheet")
    photo.click(handler(studio, events.full_photo), [face, locks, *sliders], shown[1], api_name="photo")
    gif.click(handler(studio, events.animation), [face, attribute, peak, frames, locks, view], shown,
              api_name="animation")


def disguise_tab(studio: Studio, assets: WebAssets, face: gr.State) -> None:
    """The photo and its preview; the pictures, locks and exports; the forty sliders. After every
    picture, the identity line (its API endpoint is the edit's: /identity). While a slider is
    dragged the page draws the edit itself (web/live.js) and asks the server once, on release;
    the live view's "input" asks per move when it cannot decode."""
    named = {a: AlphaSlider(-SLIDER_LIMIT, SLIDER_LIMIT, value=0.0, step=0.1, label=pretty(a),
                            elem_id=f"slider-{a}", render=False) for a in ATTRIBUTES}
    sliders = list(named.values())
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=300):
            image = FaceImage(label="Face photo", sources=["upload", "webcam", "clipboard"], type="filepath",
                              image_mode=None, height=300, elem_id="face-input")
            aligned = gr.Checkbox(label="Already aligned (skip face detection)", value=False,
                                  info="178 x 218 images, CelebA's size, are taken as aligned")
            notice = gr.Markdown(elem_id="notice")
            gr.Examples(examples(), inputs=[image], label="Try one: faces the demo model knows", examples_per_page=8)
            preview = gr.Image(label="Aligned face", interactive=False, height=220, elem_id="aligned")
        with gr.Column(scale=5, min_width=320):
            view = gr.Radio([("Your photo", "photo"), ("Model", "model")], value="photo", label="View",
                            elem_id="view", info="Photo: the edit drawn on the photo itself. Model: the "
                                                 "VAE's own decode, beside its reconstruction (all sliders at 0).")
            with gr.Row():
                recon = gr.Image(label="Before", interactive=False, height=256, format=LIVE_FORMAT, elem_id="recon")
                with gr.Column(min_width=160):
                    edited = gr.Image(label="After", interactive=False, height=256, format=LIVE_FORMAT,
                                      elem_id="edited")
                    live = live_view(assets)
            identity = gr.Markdown(elem_id="identity")
            with gr.Row():
                reset = gr.Button("Reset all", elem_id="reset")
                random = gr.Button("Random face", elem_id="random")
            locks = gr.Dropdown([(pretty(a), a) for a in ATTRIBUTES], multiselect=True, value=[],
                                label="Lock attributes", elem_id="locks",
                                info="Keep these fixed while moving others (e.g. lock Male, then add a beard)")
            export_panel(studio, face, locks, view, sliders)
        with gr.Column(scale=4, min_width=300):
            slider_column(named)
    state = [face, locks, *sliders, view]
    after = dict(fn=handler(studio, events.identity_line), inputs=state, outputs=identity, show_progress="hidden")
    gr.on([image.change, aligned.change], handler(studio, events.upload), [image, aligned, locks, *sliders, view],
          [face, preview, recon, edited, notice, live], api_name="prepare").then(**after, api_visibility="private")
    gr.on([s.release for s in sliders] + [live.input, locks.change], handler(studio, events.edit), state, edited,
          trigger_mode="always_last", show_progress="hidden", api_name="edit").then(**after, api_name="identity")
    locks.change(handler(studio, events.change_locks), state, live, show_progress="hidden", api_visibility="private")
    view.change(handler(studio, events.change_view), state, [recon, edited, live], show_progress="hidden",
                api_name="view").then(**after, api_visibility="private")
    by_name = gr.JSON(visible=False)
    gr.Button(visible=False).click(handler(studio, events.edit_by_name), [face, by_name, locks, view], edited,
                                   api_name="edit_by_name")
    random.click(handler(studio, events.random_face), [locks, view],
                 [face, preview, recon, edited, notice, *sliders, live], api_name="random_face"
                 ).then(**after, api_visibility="private")
    reset.click(handler(studio, events.reset), [face, locks, view], [edited, *sliders, live], api_name="reset"
                ).then(**after, api_visibility="private")


def match_tab(studio: Studio) -> None:
    """A sighting against the suspects' photos."""
    gr.Markdown(text.MATCH_INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=300):
            sighting = FaceImage(label="Sighting (a still of the disguised person)", sources=["upload", "clipboard"],
                                 type="filepath", image_mode=None, height=260, elem_id="sighting")
            suspects = gr.File(label=f"Suspects' photos (up to {MAX_SUSPECTS})", file_count="multiple",
                               type="filepath", elem_id="suspects")
            seen = gr.CheckboxGroup(list(LABELS.values()), label="Seen in the sighting", elem_id="seen",
                                    info="Each suspect is drawn in this disguise")
            drawn = gr.Checkbox(label="Drawn faces (judged by the learned identity model)", value=False,
                                elem_id="match-drawn")
            match = gr.Button("Match", variant="primary", elem_id="match", interactive=studio.matcher is not None)
        with gr.Column(scale=8, min_width=320):
            summary = gr.Markdown(elem_id="match-summary")
            pictures = gr.Gallery(label="Sighting | suspect | suspect in the sighting's disguise", columns=3,
                                  height="auto", elem_id="match-gallery")
            report = gr.File(label="Report (PNG)", elem_id="match-file")
    match.click(handler(studio, events.match), [sighting, suspects, seen, drawn], [summary, pictures, report],
                api_name="match")


def latent_tab(space: LatentSpace | None) -> None:
    """A point moved over a 2-D VAE's latent plane (a click, a drag, or two sliders), decoded live."""
    gr.Markdown(text.LATENT_INTRO)
    if space is None:
        gr.Markdown(text.NO_LATENT)
        return
    side = round(min(space.limit, MAX_ABS), 2)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=300):
            plane = gr.Image(space.scatter(0.0, 0.0), show_label=False, interactive=False, format="png",
                             elem_id="latent-plane")
            x = AlphaSlider(-side, side, value=0.0, step=0.01, label="z[0]", elem_id="latent-x")
            y = AlphaSlider(-side, side, value=0.0, step=0.01, label="z[1]", elem_id="latent-y")
            gr.HTML("", html_template="", js_on_load=(WEB_DIR / "latent_drag.js").read_text(),
                    apply_default_css=False, elem_id="latent-drag", to_pixel=list(space.pixel_transform), limit=side)
        with gr.Column(scale=3, min_width=240):
            decoded = gr.Image(space.decode_point(0.0, 0.0), label="Decoded", interactive=False, format="png",
                               elem_id="latent-decoded")
        with gr.Column(scale=5, min_width=300):
            gr.Image(space.manifold(), label="Decodes over the plane (15 x 15)", show_label=False,
                     interactive=False, format="png", elem_id="latent-manifold")
    gr.on([x.input, y.input], handler(space, events.latent), [x, y], [decoded, plane], trigger_mode="always_last",
          show_progress="hidden", api_name="latent")
    plane.select(handler(space, plane_click), outputs=[x, y, decoded, plane], show_progress="hidden",
                 api_visibility="private")


def load_latent_space() -> LatentSpace | None:
    """The Latent space tab's model (``DISGUISE_CLASSIC`` or the bundled weights/classic); None,
    with a message, when it cannot be loaded: the face editor runs without the tab."""
    try:
        space = load_space(os.environ.get("DISGUISE_CLASSIC") or str(BUNDLED_CLASSIC))
    except (FileNotFoundError, ValueError) as e:
        print(f"disguise: no Latent space tab: {e}", file=sys.stderr)
        return None
    space.scatter()  # draws the scatter once, here rather than on the first visitor's move
    return space


_BUNDLED = object()


def build_demo(studio: Studio, assets: WebAssets | None = None, latent=_BUNDLED) -> gr.Blocks:
    """The page, wired to ``studio``. Importable: tests launch it on a local port (``launch``).

    ``assets``: where the page gets its decoder and runtime (default: ``WebAssets.choose``);
    ``latent``: the Latent space tab's model (default: the bundled one; None: no model)."""
    assets = assets or WebAssets.choose(studio.decoder_file)
    latent = load_latent_space() if latent is _BUNDLED else latent
    with gr.Blocks(title="disguise", delete_cache=(600, 3600)) as demo:
        face = gr.State(None, time_to_live=3600, delete_callback=events.drop_exports)
        gr.Markdown(text.INTRO + "\n\n" + text.model_note(studio.editor.model.config.trained_on))
        with gr.Tab("Disguise", id="disguise-tab"):
            disguise_tab(studio, assets, face)
        with gr.Tab("Match a sighting", id="match-tab"):
            match_tab(studio)
        with gr.Tab("Latent space", id="latent-tab"):
            latent_tab(latent)
    return demo


def launch(demo: gr.Blocks, assets: WebAssets, **kwargs):
    """``demo.launch(**kwargs)`` with the page's decoder and runtime files served beside it."""
    return demo.launch(app_kwargs={"routes": asset_routes(assets)}, max_file_size=MAX_UPLOAD, **kwargs)


def mount(parent, demo: gr.Blocks, assets: WebAssets, path: str, **kwargs):
    """The app under ``path`` of an existing FastAPI app, with the page's files under the same
    path: the page finds them from its own root."""
    path = "/" + path.strip("/")
    parent.router.routes[:0] = asset_routes(assets, prefix=path)  # before the mount catches them
    return gr.mount_gradio_app(parent, demo, path=path, max_file_size=MAX_UPLOAD, **kwargs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Serve the disguise web app.")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="folder or Hub repo id")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = p.parse_args(argv)
    try:
        studio = Studio.load(args.weights, device=args.device)
        assets = WebAssets.choose(studio.decoder_file)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: cannot load the weights: {e}", file=sys.stderr)
        return 2
    size, z = studio.editor.size, studio.editor.model.config.z_dim
    print(f"disguise: {args.weights} loaded on {studio.editor.device} ({size} x {size}, z {z})")
    print("disguise: the page decodes in the browser: "
          + text.live_summary(studio.decoder_file, studio.decoder_problem, assets.runtime))
    demo = build_demo(studio, assets)
    settle()
    launch(demo, assets, server_name=args.host, server_port=args.port, theme=gr.themes.Soft(),
           footer_links=["api"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
