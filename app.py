"""disguise: upload a face, move one slider per CelebA attribute, export strips and disguise sheets.

    python app.py [--weights weights/] [--port 7860]

Weights come from --weights or DISGUISE_WEIGHTS: a local folder or a Hugging Face Hub repo id with
config.json, model.safetensors and attribute_vectors.safetensors. This file only lays out the page
and wires its events: what each event does is ``disguise.serving.events`` (plain functions), and
the Gradio workarounds, the handler that wraps each event and the serving are app_gradio.py's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import partial

import gradio as gr

import app_gradio as ui
from app_gradio import gpu, handler, launch, mount
from disguise.attributes import ATTRIBUTES, pretty
from disguise.classic.space import MAX_ABS, LatentSpace, load_latent_space_or_none
from disguise.compose.breeding import MAX_PICKS, SCREEN
from disguise.compose.form import ALSO, NOT_SURE, QUESTIONS, choices
from disguise.compose.pictures import BLUR_SCREENS
from disguise.files import BUNDLED_WEIGHTS, example_photos
from disguise.identity.match import LABELS, MAX_SUSPECTS
from disguise.photo.exports import MAX_FRAMES, SWEEP_FRAMES, SWEEP_PEAK
from disguise.serving import events, text
from disguise.serving.pictures import PictureFiles
from disguise.serving.server import settle
from disguise.serving.studio import GALLERY_TOP, SLIDER_LIMIT, Studio
from disguise.serving.web_assets import WebAssets

__all__ = ["build_demo", "gpu", "handler", "launch", "main", "mount"]  # what tests, bench/ and docs/ use

DEFAULT_WEIGHTS = os.environ.get("DISGUISE_WEIGHTS", str(BUNDLED_WEIGHTS))
ATTRIBUTE_CHOICES = [(pretty(a), a) for a in ATTRIBUTES]
# After Start (pressed below the screen on a phone): the screen of faces in view, the side column at its top.
SHOW_SCREEN = ("() => { document.querySelector('#compose-screen')?.scrollIntoView({block: 'nearest'}); "
               "document.querySelector('#compose-side')?.scrollTo(0, 0); }")


def export_panel(studio: Studio, on: Callable, face: gr.State, locks, view, sliders: list) -> None:
    """Strip, sheet, full-size photo and animation, with their preview and download."""
    with gr.Accordion("Export", open=False, elem_id="export-panel"):
        with gr.Row():
            attribute = gr.Dropdown(ATTRIBUTE_CHOICES, value="Eyeglasses", label="Strip attribute",
                                    elem_id="strip-attr")
            alphas = gr.Textbox("0, 1, 2, 3, 4", label="Alphas", info="e.g. -4, -3, -2, -1, 0 to remove",
                                elem_id="strip-alphas")
        with gr.Row():
            peak = gr.Number(SWEEP_PEAK, label="Animation peak alpha", minimum=-20, maximum=20, elem_id="peak")
            frames = gr.Number(SWEEP_FRAMES, label="Animation frames", precision=0, minimum=3,
                               maximum=MAX_FRAMES, elem_id="frames")
        with gr.Row():
            strip = gr.Button("Alpha strip (PNG)", variant="primary", elem_id="strip")
            sheet = gr.Button("Disguise sheet (PNG)", variant="primary", elem_id="sheet")
        by_identity = gr.Checkbox(label="Order the disguise sheet by identity", visible=studio.matcher is not None,
                                  info="The disguises that hide the person best first", elem_id="by-identity")
        with gr.Row():
            photo = gr.Button("Edited photo, full size (PNG)", variant="primary", elem_id="photo")
            gif = gr.Button("Animation (GIF)", variant="primary", elem_id="animation")
        shown = [gr.Image(label="Export preview", interactive=False, elem_id="export-view"),
                 gr.File(label="Download", elem_id="export-file")]
    strip.click(on(events.strip), [face, attribute, alphas, locks, view], shown, api_name="strip")
    sheet.click(on(events.sheet), [face, locks, view, by_identity], shown, api_name="sheet")
    photo.click(on(events.full_photo), [face, locks, *sliders], shown[1], api_name="photo")
    gif.click(on(events.animation), [face, attribute, peak, frames, locks, view], shown, api_name="animation")


def disguise_tab(studio: Studio, on: Callable, assets: WebAssets, face: gr.State) -> dict:
    """The picture (web/live.js: before and after in one canvas, drawn by the page as a slider moves)
    beside the controls: photo, finder, locks, the forty sliders, exports. A slider asks the server on
    release (or per move when the page cannot decode); the identity line follows every picture."""
    with gr.Row(equal_height=False, elem_id="disguise-row"):
        with gr.Column(scale=3, min_width=320, elem_id="stage"):
            live = gr.HTML("", label="The page's live document", html_template=ui.web("live.html"),
                           css_template=ui.web("live.css"), js_on_load=ui.web("live.js"), elem_id="live",
                           apply_default_css=False, slider_limit=SLIDER_LIMIT, **assets.page_props())
            with gr.Row(elem_id="toolbar"):
                view = gr.Radio([("Your photo", "photo"), ("Model", "model")], value="photo", label="View",
                                show_label=False, container=False, elem_id="view")
                reset = gr.Button("Reset all", size="sm", elem_id="reset")
                random = gr.Button("Random face", size="sm", elem_id="random")
            identity = gr.Markdown(label="Identity", elem_id="identity")
            screen = gr.HTML("", label="How large the page shows the picture (JSON)", html_template="",
                             js_on_load=ui.web("screen.js"), apply_default_css=False, elem_id="screen")
            recon = gr.Image(label="Before", interactive=False, elem_id="recon", elem_classes="source-picture")
            edited = gr.Image(label="After", interactive=False, elem_id="edited", elem_classes="source-picture")
        with gr.Column(scale=2, min_width=320, elem_id="controls"):
            with gr.Accordion("Your photo", open=True, elem_id="photo-panel") as panel:
                image = ui.FaceImage(label="Face photo", sources=["upload", "webcam", "clipboard"], type="filepath",
                                  image_mode=None, height=180, elem_id="face-input")
                gr.Examples(example_photos(), inputs=[image], label="Or try one (the drawn faces are the demo "
                            "model's own kind)", examples_per_page=8)
                aligned = gr.Checkbox(label="Already aligned (skip face detection)", value=False,
                                      info="178 x 218 images, CelebA's size, are taken as aligned")
                preview = gr.Image(label="Aligned face", interactive=False, height=150, elem_id="aligned")
            notice = gr.Markdown(label="Notice", elem_id="notice")
            locks = gr.Dropdown(ATTRIBUTE_CHOICES, multiselect=True, value=[], label="Lock attributes", elem_id="locks",
                                info="Keep these fixed while moving others (e.g. lock Male, then add a beard)")
            gr.HTML("", html_template=ui.web("finder.html"), js_on_load=ui.web("sliders.js"), apply_default_css=False,
                    elem_id="finder")  # web/sliders.js: a filter box, "moved only", a mark on every moved slider
            sliders = ui.slider_groups("slider")
            export_panel(studio, on, face, locks, view, sliders)
    state, new_face = [face, locks, *sliders, view], [face, preview, recon, edited, notice, *sliders, live]
    after = dict(fn=on(events.identity_line), inputs=state, outputs=identity, show_progress="hidden")
    fold = dict(fn=on(events.fold_once_loaded), inputs=face, outputs=panel, api_visibility="private")
    gr.on([image.change, aligned.change], on(events.upload), [image, aligned, locks, *sliders, view, screen],
          [face, preview, recon, edited, notice, live], api_name="prepare"
          ).then(**fold).then(**after, api_visibility="private")
    gr.on([s.release for s in sliders] + [live.input, locks.change], on(events.edit), state, edited,
          trigger_mode="always_last", show_progress="hidden", api_name="edit").then(**after, api_name="identity")
    locks.change(on(events.change_locks), state, live, show_progress="hidden", api_visibility="private")
    view.change(on(events.change_view), [*state, screen], [recon, edited, live], show_progress="hidden",
                api_name="view").then(**after, api_visibility="private")
    screen.change(on(events.resize), [face, screen, locks, *sliders, view], live, show_progress="hidden",
                  api_visibility="private")
    by_name = gr.JSON(label='Alphas by attribute name, e.g. {"Eyeglasses": 2}', visible=False)
    gr.Button(visible=False).click(on(events.edit_by_name), [face, by_name, locks, view], edited,
                                   api_name="edit_by_name")
    random.click(on(events.random_face), [locks, view, screen], new_face, api_name="random_face"
                 ).then(**fold).then(**after, api_visibility="private")
    reset.click(on(events.reset), [face, locks, view], [edited, *sliders, live], api_name="reset"
                ).then(**after, api_visibility="private")
    return {"outputs": new_face, "view": view, "screen": screen, "fold": fold, "after": after}


def match_tab(studio: Studio, on: Callable) -> tuple[ui.FaceImage, gr.Checkbox]:
    """A sighting against the suspects' photos; the pictures side by side, the largest thing here.
    Returns the inputs "Match against suspects" (Compose) fills: the sighting, "drawn faces"."""
    gr.Markdown(text.MATCH_INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=280):
            sighting = ui.FaceImage(label="Sighting (a still of the disguised person)", sources=["upload", "clipboard"],
                                 type="filepath", image_mode=None, height=200, elem_id="sighting")
            suspects = gr.File(label=f"Suspects' photos (up to {MAX_SUSPECTS})", file_count="multiple",
                               type="filepath", elem_id="suspects")
            seen = gr.CheckboxGroup(list(LABELS.values()), label="Seen in the sighting", elem_id="seen",
                                    info="Each suspect is drawn in this disguise")
            drawn = gr.Checkbox(label="Drawn faces (judged by the learned identity model)", elem_id="match-drawn")
            match = gr.Button("Match", variant="primary", elem_id="match", interactive=studio.matcher is not None)
            with gr.Group(visible=studio.gallery is not None):  # an app with a gallery is behind a login
                top = gr.Slider(1, GALLERY_TOP, 5, step=1, label="Faces to show", elem_id="gallery-top")
                search = gr.Button("Search the gallery", elem_id="gallery-search")
        with gr.Column(scale=8, min_width=320):
            summary = gr.Markdown(label="Ranking", elem_id="match-summary")
            pictures = gr.Gallery(label="Sighting | suspect | suspect in the sighting's disguise", columns=3,
                                  height="auto", object_fit="contain", elem_id="match-gallery")
            report = gr.File(label="Report (PNG)", elem_id="match-file")
    shown = [summary, pictures, report]
    match.click(on(events.match), [sighting, suspects, seen, drawn], shown, api_name="match")
    if studio.gallery is not None:  # no endpoint at all without one; a click on a found face draws it alone
        search.click(on(events.gallery_search), [sighting, seen, drawn, top], shown, api_name="gallery_search")
        pictures.select(on(ui.gallery_pick), [sighting, seen, drawn, top], shown, api_visibility="private")
    return sighting, drawn


def description_form() -> tuple[gr.Accordion, list[gr.Dropdown], gr.Dropdown, gr.Checkbox, gr.Button]:
    """The witness's short form (``disguise.compose.form``): an answer per question, the rest, Start."""
    with gr.Accordion("Describe the person", open=True, elem_id="compose-form") as form:
        gr.Markdown(text.COMPOSE_INTRO, elem_classes="note")
        answers = [gr.Dropdown(choices(q), value=NOT_SURE, label=q, min_width=140,
                               elem_id=f"describe-{q.lower().replace(' ', '-')}") for q in QUESTIONS]
        also = gr.Dropdown([(pretty(a), a) for a in ALSO], multiselect=True, value=[], label="Also noticed",
                           elem_id="describe-also")
        blur = gr.Checkbox(label=f"Blur hair and background in the first {BLUR_SCREENS} screens", value=True,
                           info="Witnesses judge the inner face better without them", elem_id="compose-blur")
        start = gr.Button("Start (a new composite)", variant="primary", elem_id="compose-start")
    return form, answers, also, blur, start


def compose_tab(studio: Studio, on: Callable, tabs: gr.Tabs, disguise: dict, match: tuple) -> None:
    """A witness's composite: describe, then pick and breed screens of faces (the screen is the
    largest thing here), the composite beside it; refine, see in disguise, match, export."""
    gr.Markdown(text.COMPOSE_LINE, elem_id="compose-line")
    if studio.face_space is None:
        gr.Markdown(f"*{text.NO_FACE_SPACE}*")
        return
    composite = gr.State(None, time_to_live=3600, delete_callback=events.drop_exports)
    faces = [str(i) for i in range(1, SCREEN + 1)]
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320, elem_id="compose-stage"):
            with gr.Row(equal_height=True, elem_id="compose-toolbar"):
                status = gr.Markdown(text.COMPOSE_WAITING, label="Status", elem_id="compose-status")
                breed = gr.Button("Breed the next screen", variant="primary", elem_id="compose-breed", scale=0,
                                  min_width=200)
                undo = gr.Button("Undo", elem_id="compose-undo", scale=0, min_width=80)
            screen = gr.Gallery(label="The screen of faces", columns=4, height="auto", allow_preview=False,
                                object_fit="contain", show_label=False, elem_id="compose-screen", preview=False)
            with gr.Row(equal_height=True):
                picks = ui.Picks(faces, value=[], type="value", elem_id="compose-picks", scale=4,
                              label=f"Most like the person (1 to {MAX_PICKS}: click the faces, or tick here)")
                best = ui.BestPick(faces, value=None, label="The best (optional)", elem_id="compose-best", scale=1,
                                min_width=120)
        with gr.Column(scale=3, min_width=300, elem_id="compose-side"):
            form, answers, also, blur, start = description_form()
            portrait = gr.Image(label="Composite: what your picks agree on", interactive=False, height=320,
                                elem_id="compose-composite")
            with gr.Row():
                to_disguise = gr.Button("See in disguise", elem_id="compose-to-disguise")
                to_match = gr.Button("Match against suspects", elem_id="compose-to-match")
            with gr.Accordion("Refine the composite", open=False, elem_id="compose-refine"):
                locks = gr.Dropdown(ATTRIBUTE_CHOICES, multiselect=True, value=[], label="Lock attributes",
                                    elem_id="compose-locks")
                sliders = ui.slider_groups("compose-slider")
            export = gr.Button("Export the composite and its screens (PNG)", elem_id="compose-export")
            files = gr.File(label="Download", file_count="multiple", height=100, elem_id="compose-files")
    generation = ui.ScreenNumber(label="Screen number (the screen the picks were made on)", visible=False, precision=0)
    description = gr.JSON(label='Description, e.g. {"Male": true, "Eyeglasses": false}', visible=False)
    seed = ui.ScreenNumber(None, label="Seed (None: a new one)", visible=False, precision=0)
    shown, refined = [composite, screen, picks, best, generation, status, portrait], [composite, locks, *sliders]
    start.click(on(events.compose_form), [*answers, also], description, api_visibility="private"
                ).then(on(events.compose_start), [description, blur, seed], shown, api_name="compose_start"
                       ).then(on(events.fold_once_loaded), composite, form, api_visibility="private"
                              ).then(None, js=SHOW_SCREEN)
    breed.click(on(events.compose_pick), [composite, generation, picks, best, blur], shown, api_name="compose_pick")
    undo.click(on(events.compose_undo), [composite, blur], shown, api_name="compose_undo")
    blur.change(on(events.compose_redraw), [composite, blur], shown, api_visibility="private")
    screen.select(on(ui.toggle_pick), picks, picks, show_progress="hidden", api_visibility="private")
    picks.change(None, picks, None, js=ui.web("compose_picks.js"))  # the picked faces framed on the screen
    gr.on([s.release for s in sliders] + [locks.change], on(events.compose_refine), refined, portrait,
          trigger_mode="always_last", show_progress="hidden", api_name="compose_refine")
    to_disguise.click(on(events.compose_to_disguise), [*refined, disguise["view"], disguise["screen"]],
                      [*disguise["outputs"], tabs], api_name="compose_to_disguise"
                      ).then(**disguise["fold"]).then(**disguise["after"], api_visibility="private")
    to_match.click(on(events.compose_to_match), refined, [*match, tabs], api_name="compose_to_match")
    export.click(on(events.compose_export), refined, files, api_name="compose_export")


def latent_tab(space: LatentSpace | None, on: Callable) -> None:
    """A point moved over a 2-D VAE's latent plane (a click, a drag, or two sliders), decoded live:
    the plane and the decode side by side and large, the 15 x 15 grid below."""
    gr.Markdown(text.LATENT_INTRO)
    if space is None:
        gr.Markdown(text.NO_LATENT)
        return
    side = round(min(space.limit, MAX_ABS), 2)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=300):
            plane = gr.Image(space.scatter(0.0, 0.0), label="The latent plane", show_label=False, interactive=False,
                             format="png", elem_id="latent-plane")
            x = ui.AlphaSlider(-side, side, value=0.0, step=0.01, label="z[0]", elem_id="latent-x")
            y = ui.AlphaSlider(-side, side, value=0.0, step=0.01, label="z[1]", elem_id="latent-y")
            gr.HTML("", html_template="", js_on_load=ui.web("latent_drag.js"), apply_default_css=False,
                    elem_id="latent-drag", to_pixel=list(space.pixel_transform), limit=side)
        with gr.Column(scale=5, min_width=300):
            decoded = gr.Image(space.decode_point(0.0, 0.0), label="Decoded", interactive=False,
                               format="png", height=420, elem_id="latent-decoded")
    gr.Image(space.manifold(), label="Decodes over the plane (15 x 15)", show_label=False, interactive=False,
             format="png", elem_id="latent-manifold")
    gr.on([x.input, y.input], on(events.latent), [x, y], [decoded, plane], trigger_mode="always_last",
          show_progress="hidden", api_name="latent")
    plane.select(on(ui.plane_click), outputs=[x, y, decoded, plane], show_progress="hidden", api_visibility="private")


def build_demo(studio: Studio, assets: WebAssets | None = None, latent: LatentSpace | str | None = "") -> gr.Blocks:
    """The page, wired to ``studio`` (tests ``launch`` it). ``assets``: where the page gets its decoder and
    runtime (default: ``WebAssets.choose``); ``latent``: the Latent space tab's model, or its folder ("":
    ``DISGUISE_CLASSIC``, else the bundled one; None: no model)."""
    assets = assets or WebAssets.choose(studio.decoder_file)
    latent = load_latent_space_or_none(latent) if isinstance(latent, str) else latent
    files = PictureFiles()
    on = partial(handler, studio, files=files, gpu=gpu)  # `gpu` looked up now: the tests replace it
    with gr.Blocks(title="disguise", delete_cache=(600, 3600)) as demo:
        face = gr.State(None, time_to_live=3600, delete_callback=events.drop_exports)
        gr.Markdown(text.header(studio.editor.model.config.trained_on), elem_id="header")
        with gr.Tabs() as tabs:
            with gr.Tab("Disguise", id="disguise-tab"):
                disguise = disguise_tab(studio, on, assets, face)
            with gr.Tab("Compose", id="compose-tab"):
                compose = gr.Column()  # filled below, once the Match tab's inputs exist
            with gr.Tab("Match a sighting", id="match-tab"):
                match = match_tab(studio, on)
            with gr.Tab("Latent space", id="latent-tab"):
                latent_tab(latent, partial(handler, latent, files=files, gpu=gpu))
        with compose:
            compose_tab(studio, on, tabs, disguise, match)
    return demo


def main(argv: list[str] | None = None) -> int:
    args = ui.parse_args(argv, DEFAULT_WEIGHTS)
    try:
        studio, assets, logins = ui.start(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: cannot start: {e}", file=sys.stderr)
        return 2
    print(text.started(args.weights, studio, assets.runtime))
    demo = build_demo(studio, assets)
    settle()
    launch(demo, assets, server_name=args.host, server_port=args.port, theme=gr.themes.Soft(), footer_links=["api"],
           auth=logins or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
