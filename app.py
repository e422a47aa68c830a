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
from disguise.classic.space import MAX_ABS, LatentSpace, load_latent_space_or_none
from disguise.compose.breeding import MAX_PICKS, SCREEN
from disguise.compose.form import ALSO, NOT_SURE, QUESTIONS, choices
from disguise.compose.pictures import BLUR_SCREENS
from disguise.files import BUNDLED_WEIGHTS, WEB_DIR, example_photos
from disguise.identity.match import LABELS, MAX_SUSPECTS
from disguise.photo.exports import MAX_FRAMES, SWEEP_FRAMES, SWEEP_PEAK
from disguise.serving import events, text
from disguise.serving.pictures import PictureFiles
from disguise.serving.server import asset_routes, settle
from disguise.serving.studio import SLIDER_LIMIT, Studio
from disguise.serving.web_assets import WebAssets

DEFAULT_WEIGHTS = os.environ.get("DISGUISE_WEIGHTS", str(BUNDLED_WEIGHTS))
OPEN_GROUPS = ("Hair", "Facial hair", "Accessories")
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


class AsSent:
    """A component whose value reaches its event as sent (null, NaN, out of range, not a choice),
    so that a bad value from an API client gets our fallback or our message, not Gradio's."""

    is_template = True  # rendered by the frontend as the Gradio component it extends (named here:
    # Gradio would take the first base class, this one)

    def preprocess(self, payload):
        return payload

    def get_block_name(self) -> str:
        return next(c for c in type(self).__mro__ if c.__module__.startswith("gradio.")).__name__.lower()

    get_block_class = get_block_name


class AlphaSlider(AsSent, gr.Slider):
    """A slider whose value reaches ``sanitize_sliders`` as sent."""


class Picks(AsSent, gr.CheckboxGroup):
    """The witness's picks, checked by ``disguise.compose.breeding.check_picks``."""


class BestPick(AsSent, gr.Dropdown):
    """The best of the picks (optional), checked with them."""


class ScreenNumber(AsSent, gr.Number):
    """The screen the picks were made on: the session says when it is not the one showing."""


def handler(loaded: Studio | LatentSpace, fn, files: PictureFiles | None = None):
    """``fn`` (an event of ``disguise.serving.events``) bound to what it works with, run under
    ``spaces.GPU`` on a ZeroGPU Space: its ``ValueError`` becomes a message in the page, its notes
    warnings, ``KEEP`` a skipped output, ``Update`` new properties, and every picture a file of its
    own (``files``), so that it arrives whole. A function rather than a ``partial``: Gradio reads
    the parameters' annotations to hand over event data (``gr.SelectData``)."""
    run, files = gpu(fn), files or PictureFiles()
    warns = "warn" in inspect.signature(fn).parameters

    def hand_over(out):
        return gr.skip() if out is events.KEEP else gr.update(**out) if isinstance(out, events.Update) \
            else files.hand_over(out)

    @functools.wraps(fn)
    def bound(*args):
        try:
            out = run(loaded, *args, **({"warn": gr.Warning} if warns else {}))
        except ValueError as e:  # ImageError included: what was wrong, in the page
            raise gr.Error(str(e)) from None
        return tuple(map(hand_over, out)) if isinstance(out, tuple) else hand_over(out)

    sig = inspect.signature(partial(fn, loaded))
    bound.__signature__ = sig.replace(parameters=[p for p in sig.parameters.values() if p.name != "warn"])
    bound.func = fn  # what it runs (the tests check every event goes through here)
    return bound


def plane_click(space: LatentSpace, evt: gr.SelectData):
    """A click on the latent plane, at the pixel Gradio reports."""
    return events.plane_click(space, evt.index)


# ----------------------------------------------------------------------------------------------
# Layout


def web(name: str) -> str:
    return (WEB_DIR / name).read_text()


def alpha_sliders(prefix: str) -> dict[str, AlphaSlider]:
    """The forty sliders, -4 .. 4, ids ``prefix-NAME``, made unrendered (so events can be wired
    before ``grouped`` places them)."""
    return {a: AlphaSlider(-SLIDER_LIMIT, SLIDER_LIMIT, value=0.0, step=0.1, label=pretty(a),
                           elem_id=f"{prefix}-{a}", render=False) for a in ATTRIBUTES}


def grouped(sliders: dict[str, gr.Slider]) -> None:
    """The sliders placed in their groups (hair, facial hair, accessories, ...)."""
    for group, names in GROUPS.items():
        with gr.Column(elem_classes="slider-group", min_width=0):
            gr.Markdown(group, elem_classes="group-title")
            for name in names:
                sliders[name].render()


def slider_column(sliders: dict[str, gr.Slider]) -> None:
    """The Disguise tab's forty sliders under a finder (web/sliders.js: a filter box, "moved
    only", a mark on every moved slider)."""
    gr.HTML("", html_template=web("finder.html"), js_on_load=web("sliders.js"), apply_default_css=False,
            elem_id="finder")
    grouped(sliders)


def export_panel(studio: Studio, on, face: gr.State, locks, view, sliders: list) -> None:
    """Strip, sheet, full-size photo and animation, with their preview and download."""
    with gr.Accordion("Export", open=False, elem_id="export-panel"):
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
    strip.click(on(studio, events.strip), [face, attribute, alphas, locks, view], shown, api_name="strip")
    sheet.click(on(studio, events.sheet), [face, locks, view, by_identity], shown, api_name="sheet")
    photo.click(on(studio, events.full_photo), [face, locks, *sliders], shown[1], api_name="photo")
    gif.click(on(studio, events.animation), [face, attribute, peak, frames, locks, view], shown, api_name="animation")


def disguise_tab(studio: Studio, assets: WebAssets, face: gr.State, on) -> None:
    """The picture (web/live.js: before and after in one canvas, drawn by the page while a slider
    moves) beside the controls: the photo, the finder, locks, the forty sliders, exports. After
    every picture, the identity line (its API endpoint is the edit's: /identity); a slider asks the
    server once, on release (the live view's "input" asks per move when it cannot decode)."""
    named = alpha_sliders("slider")
    sliders = list(named.values())
    with gr.Row(equal_height=False, elem_id="disguise-row"):
        with gr.Column(scale=3, min_width=320, elem_id="stage"):
            live = gr.HTML("", html_template=web("live.html"), css_template=web("live.css"), js_on_load=web("live.js"),
                           elem_id="live", apply_default_css=False, slider_limit=SLIDER_LIMIT, **assets.page_props())
            with gr.Row(elem_id="toolbar"):
                view = gr.Radio([("Your photo", "photo"), ("Model", "model")], value="photo", show_label=False,
                                container=False, elem_id="view")
                reset = gr.Button("Reset all", size="sm", elem_id="reset")
                random = gr.Button("Random face", size="sm", elem_id="random")
            identity = gr.Markdown(elem_id="identity")
            screen = gr.HTML("", html_template="", js_on_load=web("screen.js"), apply_default_css=False,
                             elem_id="screen")
            recon = gr.Image(label="Before", interactive=False, elem_id="recon", elem_classes="source-picture")
            edited = gr.Image(label="After", interactive=False, elem_id="edited", elem_classes="source-picture")
        with gr.Column(scale=2, min_width=320, elem_id="controls"):
            with gr.Accordion("Your photo", open=True, elem_id="photo-panel") as panel:
                image = FaceImage(label="Face photo", sources=["upload", "webcam", "clipboard"], type="filepath",
                                  image_mode=None, height=180, elem_id="face-input")
                gr.Examples(example_photos(), inputs=[image], label="Or try one (the drawn faces are the demo "
                            "model's own kind)", examples_per_page=8)
                aligned = gr.Checkbox(label="Already aligned (skip face detection)", value=False,
                                      info="178 x 218 images, CelebA's size, are taken as aligned")
                preview = gr.Image(label="Aligned face", interactive=False, height=150, elem_id="aligned")
            notice = gr.Markdown(elem_id="notice")
            locks = gr.Dropdown([(pretty(a), a) for a in ATTRIBUTES], multiselect=True, value=[],
                                label="Lock attributes", elem_id="locks",
                                info="Keep these fixed while moving others (e.g. lock Male, then add a beard)")
            slider_column(named)
            export_panel(studio, on, face, locks, view, sliders)
    state = [face, locks, *sliders, view]
    after = dict(fn=on(studio, events.identity_line), inputs=state, outputs=identity, show_progress="hidden")
    fold = dict(fn=on(studio, events.fold_once_loaded), inputs=face, outputs=panel, api_visibility="private")
    gr.on([image.change, aligned.change], on(studio, events.upload), [image, aligned, locks, *sliders, view, screen],
          [face, preview, recon, edited, notice, live], api_name="prepare"
          ).then(**fold).then(**after, api_visibility="private")
    gr.on([s.release for s in sliders] + [live.input, locks.change], on(studio, events.edit), state, edited,
          trigger_mode="always_last", show_progress="hidden", api_name="edit").then(**after, api_name="identity")
    locks.change(on(studio, events.change_locks), state, live, show_progress="hidden", api_visibility="private")
    view.change(on(studio, events.change_view), [*state, screen], [recon, edited, live], show_progress="hidden",
                api_name="view").then(**after, api_visibility="private")
    screen.change(on(studio, events.resize), [face, screen, locks, *sliders, view], live, show_progress="hidden",
                  api_visibility="private")
    by_name = gr.JSON(visible=False)
    gr.Button(visible=False).click(on(studio, events.edit_by_name), [face, by_name, locks, view], edited,
                                   api_name="edit_by_name")
    random.click(on(studio, events.random_face), [locks, view, screen],
                 [face, preview, recon, edited, notice, *sliders, live], api_name="random_face"
                 ).then(**fold).then(**after, api_visibility="private")
    reset.click(on(studio, events.reset), [face, locks, view], [edited, *sliders, live], api_name="reset"
                ).then(**after, api_visibility="private")
    return {"outputs": [face, preview, recon, edited, notice, *sliders, live], "view": view, "screen": screen,
            "fold": fold, "after": after}


def match_tab(studio: Studio, on) -> None:
    """A sighting against the suspects' photos; the pictures side by side, the largest thing here."""
    gr.Markdown(text.MATCH_INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=280):
            sighting = FaceImage(label="Sighting (a still of the disguised person)", sources=["upload", "clipboard"],
                                 type="filepath", image_mode=None, height=200, elem_id="sighting")
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
                                  height="auto", object_fit="contain", elem_id="match-gallery")
            report = gr.File(label="Report (PNG)", elem_id="match-file")
    match.click(on(studio, events.match), [sighting, suspects, seen, drawn], [summary, pictures, report],
                api_name="match")
    return sighting, drawn


def description_form():
    """The witness's short form (``disguise.compose.form``): one answer per question, and the rest."""
    answers = [gr.Dropdown(choices(q), value=NOT_SURE, label=q, elem_id=f"describe-{q.lower().replace(' ', '-')}",
                           min_width=140) for q in QUESTIONS]
    also = gr.Dropdown([(pretty(a), a) for a in ALSO], multiselect=True, value=[], label="Also noticed",
                       elem_id="describe-also")
    return answers, also


# After Start (pressed below the screen on a phone): the screen of faces scrolled into view, and
# the side column (the form folded) back to its top, the composite first.
SHOW_SCREEN = ("() => { document.querySelector('#compose-screen')?.scrollIntoView({block: 'nearest'}); "
               "document.querySelector('#compose-side')?.scrollTo(0, 0); }")


def compose_tab(studio: Studio, on, tabs: gr.Tabs, disguise: dict, match: tuple) -> None:
    """A witness's composite: describe, then pick and breed screens of faces (the screen is the
    largest thing here), the composite beside it; refine, see in disguise, match, export."""
    gr.Markdown(text.COMPOSE_LINE, elem_id="compose-line")
    if studio.face_space is None:
        gr.Markdown(f"*{text.NO_FACE_SPACE}*")
        return
    composite = gr.State(None, time_to_live=3600, delete_callback=events.drop_exports)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320, elem_id="compose-stage"):
            with gr.Row(equal_height=True, elem_id="compose-toolbar"):
                status = gr.Markdown(text.COMPOSE_WAITING, elem_id="compose-status")
                breed = gr.Button("Breed the next screen", variant="primary", elem_id="compose-breed", scale=0,
                                  min_width=200)
                undo = gr.Button("Undo", elem_id="compose-undo", scale=0, min_width=80)
            screen = gr.Gallery(columns=4, height="auto", allow_preview=False, object_fit="contain",
                                show_label=False, elem_id="compose-screen", preview=False)
            with gr.Row(equal_height=True):
                picks = Picks([str(i) for i in range(1, SCREEN + 1)], value=[], type="value",
                              label=f"Most like the person (1 to {MAX_PICKS}: click the faces, or tick here)",
                              elem_id="compose-picks", scale=4)
                best = BestPick([str(i) for i in range(1, SCREEN + 1)], value=None, label="The best (optional)",
                                elem_id="compose-best", scale=1, min_width=120)
        with gr.Column(scale=3, min_width=300, elem_id="compose-side"):
            with gr.Accordion("Describe the person", open=True, elem_id="compose-form") as form:
                gr.Markdown(text.COMPOSE_INTRO, elem_classes="note")
                answers, also = description_form()
                blur = gr.Checkbox(label=f"Blur hair and background in the first {BLUR_SCREENS} screens", value=True,
                                   info="Witnesses judge the inner face better without them", elem_id="compose-blur")
                start = gr.Button("Start (a new composite)", variant="primary", elem_id="compose-start")
            portrait = gr.Image(label="Composite: what your picks agree on", interactive=False, height=320,
                                elem_id="compose-composite")
            with gr.Row():
                to_disguise = gr.Button("See in disguise", elem_id="compose-to-disguise")
                to_match = gr.Button("Match against suspects", elem_id="compose-to-match")
            with gr.Accordion("Refine the composite", open=False, elem_id="compose-refine"):
                locks = gr.Dropdown([(pretty(a), a) for a in ATTRIBUTES], multiselect=True, value=[],
                                    label="Lock attributes", elem_id="compose-locks")
                named = alpha_sliders("compose-slider")
                grouped(named)
                sliders = list(named.values())
            export = gr.Button("Export the composite and its screens (PNG)", elem_id="compose-export")
            files = gr.File(label="Download", file_count="multiple", height=100, elem_id="compose-files")
    generation = ScreenNumber(visible=False, precision=0)
    description = gr.JSON(visible=False)
    seed = ScreenNumber(None, visible=False, precision=0)
    shown = [composite, screen, picks, best, generation, status, portrait]
    start.click(on(studio, events.compose_form), [*answers, also], description, api_visibility="private"
                ).then(on(studio, events.compose_start), [description, blur, seed], shown, api_name="compose_start"
                       ).then(on(studio, events.fold_once_loaded), composite, form, api_visibility="private"
                              ).then(None, js=SHOW_SCREEN)
    breed.click(on(studio, events.compose_pick), [composite, generation, picks, best, blur], shown,
                api_name="compose_pick")
    undo.click(on(studio, events.compose_undo), [composite, blur], shown, api_name="compose_undo")
    blur.change(on(studio, events.compose_redraw), [composite, blur], shown, api_visibility="private")
    screen.select(on(studio, toggle_pick), picks, picks, show_progress="hidden", api_visibility="private")
    picks.change(None, picks, None, js=web("compose_picks.js"))  # the picked faces framed on the screen
    refined = [composite, locks, *sliders]
    gr.on([s.release for s in sliders] + [locks.change], on(studio, events.compose_refine), refined, portrait,
          trigger_mode="always_last", show_progress="hidden", api_name="compose_refine")
    to_disguise.click(on(studio, events.compose_to_disguise), [*refined, disguise["view"], disguise["screen"]],
                      [*disguise["outputs"], tabs], api_name="compose_to_disguise"
                      ).then(**disguise["fold"]).then(**disguise["after"], api_visibility="private")
    to_match.click(on(studio, events.compose_to_match), refined, [*match, tabs], api_name="compose_to_match")
    export.click(on(studio, events.compose_export), refined, files, api_name="compose_export")


def toggle_pick(studio: Studio, picks, evt: gr.SelectData):
    """A click on a face of the screen picks it, or unpicks it."""
    return events.toggle_pick(picks, evt.index)


def latent_tab(space: LatentSpace | None, on) -> None:
    """A point moved over a 2-D VAE's latent plane (a click, a drag, or two sliders), decoded live:
    the plane and the decode side by side and large, the 15 x 15 grid below."""
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
            gr.HTML("", html_template="", js_on_load=web("latent_drag.js"), apply_default_css=False,
                    elem_id="latent-drag", to_pixel=list(space.pixel_transform), limit=side)
        with gr.Column(scale=5, min_width=300):
            decoded = gr.Image(space.decode_point(0.0, 0.0), label="Decoded", interactive=False,
                               format="png", height=420, elem_id="latent-decoded")
    gr.Image(space.manifold(), label="Decodes over the plane (15 x 15)", show_label=False, interactive=False,
             format="png", elem_id="latent-manifold")
    gr.on([x.input, y.input], on(space, events.latent), [x, y], [decoded, plane], trigger_mode="always_last",
          show_progress="hidden", api_name="latent")
    plane.select(on(space, plane_click), outputs=[x, y, decoded, plane], show_progress="hidden",
                 api_visibility="private")


_BUNDLED = object()


def build_demo(studio: Studio, assets: WebAssets | None = None, latent=_BUNDLED) -> gr.Blocks:
    """The page, wired to ``studio``. Importable: tests launch it on a local port (``launch``).

    ``assets``: where the page gets its decoder and runtime (default: ``WebAssets.choose``);
    ``latent``: the Latent space tab's model (default: the bundled one; None: no model)."""
    assets = assets or WebAssets.choose(studio.decoder_file)
    latent = load_latent_space_or_none() if latent is _BUNDLED else latent
    on = partial(handler, files=PictureFiles())
    with gr.Blocks(title="disguise", delete_cache=(600, 3600)) as demo:
        face = gr.State(None, time_to_live=3600, delete_callback=events.drop_exports)
        gr.Markdown(text.header(studio.editor.model.config.trained_on), elem_id="header")
        with gr.Tabs() as tabs:
            with gr.Tab("Disguise", id="disguise-tab"):
                disguise = disguise_tab(studio, assets, face, on)
            with gr.Tab("Compose", id="compose-tab"):
                compose = gr.Column()  # filled below, once the Match tab's inputs exist
            with gr.Tab("Match a sighting", id="match-tab"):
                match = match_tab(studio, on)
            with gr.Tab("Latent space", id="latent-tab"):
                latent_tab(latent, on)
        with compose:
            compose_tab(studio, on, tabs, disguise, match)
    return demo


def launch(demo: gr.Blocks, assets: WebAssets, **kwargs):
    """``demo.launch(**kwargs)`` with the page's layout and its decoder and runtime files."""
    return demo.launch(app_kwargs={"routes": asset_routes(assets)}, max_file_size=MAX_UPLOAD, css=web("page.css"),
                       **kwargs)


def mount(parent, demo: gr.Blocks, assets: WebAssets, path: str, **kwargs):
    """The app under ``path`` of an existing FastAPI app, with the page's files under the same
    path: the page finds them from its own root."""
    path = "/" + path.strip("/")
    parent.router.routes[:0] = asset_routes(assets, prefix=path)  # before the mount catches them
    return gr.mount_gradio_app(parent, demo, path=path, max_file_size=MAX_UPLOAD, css=web("page.css"), **kwargs)


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
    print(text.started(args.weights, studio, assets.runtime))
    demo = build_demo(studio, assets)
    settle()
    launch(demo, assets, server_name=args.host, server_port=args.port, theme=gr.themes.Soft(),
           footer_links=["api"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
