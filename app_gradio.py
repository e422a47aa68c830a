"""The app's Gradio plumbing, beside app.py so that app.py is the page's layout and wiring alone
(the library never imports gradio): every workaround for Gradio, each saying why it exists;
``handler``, which makes an event of ``disguise.serving.events`` (a plain function) what Gradio
calls; the forty sliders in their groups; the page's own files (``web``); the command line, the
logins (``credentials``: a gallery is served only behind one) and starting (``start``,
``launch``, ``mount``).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
from PIL import Image

from disguise.attributes import ATTRIBUTES, GROUPS, pretty
from disguise.classic.space import LatentSpace
from disguise.files import WEB_DIR
from disguise.gallery.search import GALLERY_ENV, GallerySearch, gallery_path
from disguise.serving import events
from disguise.serving.pictures import PictureFiles
from disguise.serving.server import asset_routes
from disguise.serving.studio import SLIDER_LIMIT, Studio
from disguise.serving.web_assets import WebAssets

if TYPE_CHECKING:
    from fastapi import FastAPI

MAX_UPLOAD = "25mb"

try:  # a ZeroGPU Space lends a GPU per call to a function wrapped in `spaces.GPU`; elsewhere a no-op
    from spaces import GPU as gpu
except ImportError:
    def gpu(fn: Callable) -> Callable:
        return fn


class FaceImage(gr.Image):
    """An image input that hands an undecodable upload to our loader: Gradio's own error says
    nothing useful, the loader says what is wrong."""

    is_template = True  # rendered by the frontend as a plain Image

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except (OSError, ValueError, Image.DecompressionBombError):
            return getattr(payload, "path", None)  # not an image, truncated, a bomb: the loader says which


class AsSent:
    """A component whose value reaches its event as sent (null, NaN, out of range, not a choice):
    Gradio would refuse a bad value from an API client with its own message, not our fallback or
    our message."""

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


def handler(loaded: Studio | LatentSpace, fn: Callable, files: PictureFiles | None = None,
            gpu: Callable = gpu) -> Callable:
    """``fn`` (an event of ``disguise.serving.events``, which knows no Gradio) as Gradio calls it:
    bound to what it works with and run under ``gpu``; its ``ValueError`` becomes a message in the
    page, its notes warnings, ``KEEP`` a skipped output, ``Update`` new properties, and every
    picture a file of its own (``files``), so that it arrives whole. Its signature is
    ``events.api_signature``'s: Gradio reads it for the API's parameter names and to hand over
    event data (``gr.SelectData``)."""
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

    bound.__signature__ = events.api_signature(fn)
    bound.func = fn  # what it runs (the tests check every event goes through here)
    return bound


def plane_click(space: LatentSpace, evt: gr.SelectData):
    """A click on the latent plane, at the pixel Gradio reports (only as event data, which it
    hands to the parameter annotated for it)."""
    return events.plane_click(space, evt.index)


def toggle_pick(studio: Studio, picks, evt: gr.SelectData):
    """A click on a face of the screen picks it, or unpicks it (which face: as ``plane_click``)."""
    return events.toggle_pick(picks, evt.index)


def gallery_pick(studio: Studio, sighting, seen, drawn, top, evt: gr.SelectData):
    """A click on a found face draws it in the sighting's disguise (which: as ``plane_click``)."""
    return events.gallery_pick(studio, sighting, seen, drawn, top, evt.index)


def slider_groups(prefix: str) -> list[AlphaSlider]:
    """The forty sliders, -4 .. 4, ids ``prefix-NAME``, placed in their groups (hair, facial hair,
    accessories, ...); returned in CelebA's order, as the events take them."""
    sliders = {a: AlphaSlider(-SLIDER_LIMIT, SLIDER_LIMIT, value=0.0, step=0.1, label=pretty(a),
                              elem_id=f"{prefix}-{a}", render=False) for a in ATTRIBUTES}
    for group, names in GROUPS.items():
        with gr.Column(elem_classes="slider-group", min_width=0):
            gr.Markdown(group, elem_classes="group-title")
            for name in names:
                sliders[name].render()
    return list(sliders.values())


def web(name: str) -> str:
    """One of the page's own files (web/), as text."""
    return (WEB_DIR / name).read_text()


AUTH_ENV, AUTH_FILE_ENV = "DISGUISE_AUTH", "DISGUISE_AUTH_FILE"


def credentials(environ=os.environ) -> list[tuple[str, str]]:
    """The logins the page asks for: ``DISGUISE_AUTH`` ("user:password", several separated by
    commas) or the file named by ``DISGUISE_AUTH_FILE`` (a "user:password" per line); never
    from the repository. An entry without a user or a password is an error, not a login."""
    lines = environ.get(AUTH_ENV, "").split(",")
    if environ.get(AUTH_FILE_ENV):
        try:
            lines += Path(environ[AUTH_FILE_ENV]).read_text().splitlines()
        except OSError as e:
            raise ValueError(f"{AUTH_FILE_ENV}: cannot read {environ[AUTH_FILE_ENV]}: {e.strerror}") from None
    found = []
    for line in (x.strip() for x in lines):
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not (sep and user.strip() and password):
            raise ValueError(f"a login must be user:password, got one without {'a user' if sep else 'a colon'}")
        found.append((user.strip(), password))
    return found


def parse_args(argv: list[str] | None, weights: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Serve the disguise web app.")
    p.add_argument("--weights", default=weights, help="folder or Hub repo id")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--gallery", default=None, help=f"known faces to search (python -m train.gallery; default: "
                   f"${GALLERY_ENV}); served only behind a login (${AUTH_ENV} or ${AUTH_FILE_ENV})")
    return p.parse_args(argv)


def start(args: argparse.Namespace) -> tuple[Studio, WebAssets, list[tuple[str, str]]]:
    """The models, the page's files and the logins; a gallery without a login is refused before
    anything is loaded (a ``ValueError`` saying how to give one)."""
    logins, gallery = credentials(), gallery_path(args.gallery)
    if gallery is not None and not logins:
        raise ValueError(f"a gallery holds people's faces and is served only behind a login: set {AUTH_ENV}="
                         f"user:password (or {AUTH_FILE_ENV}=a file of user:password lines) and start again")
    studio = Studio.load(args.weights, device=args.device)
    studio.gallery = GallerySearch(gallery, studio.recognisers, args.weights) if gallery is not None else None
    return studio, WebAssets.choose(studio.decoder_file), logins


def launch(demo: gr.Blocks, assets: WebAssets, **kwargs) -> tuple:
    """``demo.launch(**kwargs)`` with the page's layout and its decoder and runtime files."""
    return demo.launch(app_kwargs={"routes": asset_routes(assets)}, max_file_size=MAX_UPLOAD, css=web("page.css"),
                       **kwargs)


def mount(parent: FastAPI, demo: gr.Blocks, assets: WebAssets, path: str, **kwargs) -> FastAPI:
    """The app under ``path`` of an existing FastAPI app, with the page's files under the same
    path: the page finds them from its own root."""
    path = "/" + path.strip("/")
    parent.router.routes[:0] = asset_routes(assets, prefix=path)  # before the mount catches them
    return gr.mount_gradio_app(parent, demo, path=path, max_file_size=MAX_UPLOAD, css=web("page.css"), **kwargs)
