"""What each event of the page does, as plain functions: the page's inputs in, its outputs out.

``app.py`` wires these to Gradio's components one to one and does nothing else with them, which
keeps Gradio out of here: a problem the user should read is a ``ValueError`` with the message to
show (the app shows it in the page, never crashes); a note that does not stop the event goes to
the ``warn`` callback; ``KEEP`` as an output leaves that component as it is, and ``Update``
changes a component's properties instead of its value; pictures are returned as pixels, and the
app hands each over as a file of its own (``disguise.serving.pictures``). The last inputs of the
Disguise tab's picture events are the 40 sliders, then the view (``"photo"`` or ``"model"``), then
how large the page shows the picture (``screen``, web/screen.js), so API clients may leave the
view and the screen out; ``api_signature`` names each input for them.
"""

from __future__ import annotations

import inspect
import json
import math
from typing import Callable, Sequence

import torch

from ..attributes import ATTRIBUTES
from ..classic.space import LatentSpace
from ..compose.breeding import MAX_PICKS
from ..compose.form import description_of
from ..compose.pictures import screen_pictures
from ..compose.session import Composite
from ..identity.recognisers import DRAWN, REAL
from ..photo.exports import VIEWS
from ..photo.loading import ImageError
from . import text
from .studio import GALLERY_TOP, EditedFace, NoSuchFace, Studio, sanitize_sliders

KEEP = object()  # "leave this output as it is"


class Update(dict):
    """New properties for an output component (``Update(open=False)`` folds an accordion)."""
Warn = Callable[[str], None]
NO_FACE = "Upload a face (or press Random face) first."


def _quiet(_message: str) -> None:
    pass


def need(face: EditedFace | None) -> EditedFace:
    if face is None:
        raise ValueError(NO_FACE)
    return face


def split(values: Sequence) -> tuple[list, str]:
    """A picture event's last inputs: the 40 sliders, then the view (then, from the page, how
    large it shows the picture: see ``screen_of``)."""
    sliders, view = list(values[:len(ATTRIBUTES)]), values[len(ATTRIBUTES)] if len(values) > len(ATTRIBUTES) else "photo"
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    return sliders, view


def screen_of(values: Sequence) -> str:
    """The page's report of its picture's size, after the sliders and the view ("" if none)."""
    return values[len(ATTRIBUTES) + 1] if len(values) > len(ATTRIBUTES) + 1 else ""


SLIDER_NAMES = tuple(f"alpha_{a}" for a in ATTRIBUTES)  # the sliders, as an API client names them
AFTER_SLIDERS = {"view": "photo", "screen": ""}  # what ``*values`` holds after them, with its defaults


def api_signature(fn: Callable) -> inspect.Signature:
    """``fn``'s inputs, one parameter each, as the page sends them and an API client names them:
    its parameters but the first (what the app binds it to: the studio) and ``warn``, with
    ``*sliders`` one parameter per slider (``alpha_Eyeglasses``, ... in CelebA's order) and
    ``*values`` the same, then ``view`` and ``screen`` (those ``fn`` does not name itself)."""
    params = [p for p in list(inspect.signature(fn).parameters.values())[1:] if p.name != "warn"]
    named, out = {p.name for p in params}, []
    for p in params:
        if p.kind is not p.VAR_POSITIONAL or p.name not in ("sliders", "values"):
            out.append(p)
            continue
        names = dict.fromkeys(SLIDER_NAMES, 0.0) | (AFTER_SLIDERS if p.name == "values" else {})
        out += [inspect.Parameter(n, p.POSITIONAL_OR_KEYWORD, default=d) for n, d in names.items() if n not in named]
    return inspect.Signature(out)


def live_document(studio: Studio, face: EditedFace | None, locked, sliders, view: str) -> str:
    """What the page decodes edits from, in the browser ("" without a face or a decoder)."""
    if face is None or studio.decoder_file is None:
        return ""
    alphas, _ = sanitize_sliders(sliders)
    return studio.live(face, [alphas.get(a, 0.0) for a in ATTRIBUTES], locked or [], view)


# ----------------------------------------------------------------------------------------------
# The Disguise tab


def upload(studio: Studio, image, already_aligned: bool, locked, *values, warn: Warn = _quiet):
    """A new photo: ``(face, aligned preview, before, after, notice, live document)``. An image
    that cannot be used keeps the face being edited and says why."""
    if image is None:  # the input was cleared: keep the face being edited
        return (KEEP,) * 6
    sliders, chosen = split(values)
    try:
        face = studio.prepare(image, already_aligned=True if already_aligned else None)
    except ImageError as e:
        warn(str(e))
        return (KEEP,) * 4 + (f"**Could not use that image:** {e}", KEEP)
    studio.show_at(face, screen_of(values))
    alphas, _ = sanitize_sliders(sliders)
    return (face, face.aligned, studio.before(face, chosen),
            studio.render(face, alphas, locked or [], chosen), face.notice,
            live_document(studio, face, locked, sliders, chosen))


def fold_once_loaded(studio: Studio, face: EditedFace | Composite | None):
    """Once a face is loaded, the upload and the examples fold away (the picture is the page);
    once a composite has started, the description form does (the screen of faces is the page)."""
    return Update(open=face is None)


def resize(studio: Studio, face: EditedFace | None, screen: str, locked, *values):
    """The page shows the picture at another size: a sharper (or lighter) live copy, when it
    changes the copy's size; otherwise nothing."""
    if face is None or not studio.show_at(face, screen):
        return KEEP
    sliders, chosen = split(values)
    return live_document(studio, face, locked, sliders, chosen)


def edit(studio: Studio, face: EditedFace | None, locked, *values, warn: Warn = _quiet):
    """The edited picture for the sliders (None without a face); bad values fall back, noted."""
    sliders, chosen = split(values)
    if face is None:
        return None
    alphas, notes = sanitize_sliders(sliders)
    for note in notes:
        warn(note)
    return studio.render(face, alphas, locked or [], chosen)


def change_view(studio: Studio, face: EditedFace | None, locked, *values, warn: Warn = _quiet):
    """The view switch: both pictures again, in the other view (and the page's document)."""
    if face is None:
        return None, None, ""
    sliders, chosen = split(values)
    studio.show_at(face, screen_of(values))
    return (studio.before(face, chosen), edit(studio, face, locked, *values, warn=warn),
            live_document(studio, face, locked, sliders, chosen))


def change_locks(studio: Studio, face: EditedFace | None, locked, *values):
    """New locks: the page gets the vectors as they now condition each other."""
    sliders, chosen = split(values)
    return live_document(studio, face, locked, sliders, chosen)


def identity_line(studio: Studio, face: EditedFace | None, locked, *values):
    """After each picture: the identity model's verdict on it (empty without one)."""
    sliders, chosen = split(values)
    if face is None:
        return ""
    alphas, _ = sanitize_sliders(sliders)
    return text.identity_line(studio.identity(face, alphas, locked or [], chosen))


def edit_by_name(studio: Studio, face: EditedFace | None, alphas: dict, locked, view: str = "photo"):
    """API: ``{"Eyeglasses": 2, "No_Beard": -3}`` -> the edited face (unknown names are errors)."""
    face = need(face)
    if not isinstance(alphas, dict):
        raise ValueError('alphas must be a JSON object like {"Eyeglasses": 2.0}')
    return studio.render(face, alphas, locked or [], view)


def random_face(studio: Studio, locked, view: str, screen: str = ""):
    """A random face (``Studio.random_face``): the face, its preview, both pictures, the notice, 40
    zeros, the page's document."""
    return _new_drawn_face(studio, studio.random_face(), locked, view, screen)


def _new_drawn_face(studio: Studio, face: EditedFace, locked, view: str, screen: str) -> tuple:
    """A face the model drew, as the Disguise tab's new face: the face, its preview, both
    pictures (the same: it is its own photo), the notice, 40 zeros, the page's document."""
    studio.show_at(face, screen)
    before = studio.before(face, view)
    zero = (0.0,) * len(ATTRIBUTES)
    return ((face, face.aligned, before, before, face.notice) + zero
            + (live_document(studio, face, locked, zero, view),))


def reset(studio: Studio, face: EditedFace | None, locked, view: str):
    """Every slider back to 0: the unedited picture, 40 zeros, the page's document."""
    zero = (0.0,) * len(ATTRIBUTES)
    return ((studio.before(face, view) if face is not None else None,) + zero
            + (live_document(studio, face, locked, zero, view),))


def _export(face: EditedFace, make) -> tuple[str, str]:
    """Run an export; its file goes with the session. ``(preview, download)``."""
    path, _ = make()
    face.exports.append(path)
    return str(path), str(path)


def strip(studio: Studio, face: EditedFace | None, attribute: str, alphas_text: str, locked,
          view: str = "photo"):
    """One attribute at several alphas (``"0, 1, 2, 3, 4"``; negative ones remove it), after the
    input: a PNG to preview and download."""
    face = need(face)
    return _export(face, lambda: studio.export_strip(face, attribute, alphas_text, locked=locked or [],
                                                     view=view))


def sheet(studio: Studio, face: EditedFace | None, locked, view: str = "photo", by_identity: bool = False):
    """The disguise sheet: the face in a set of disguises (ordered by identity, the one that hides
    the person best first, when asked): a PNG to preview and download."""
    face = need(face)
    return _export(face, lambda: studio.export_sheet(face, locked=locked or [], view=view,
                                                     by_identity=bool(by_identity)))


def full_photo(studio: Studio, face: EditedFace | None, locked, *sliders):
    """The edited photo at the upload's full resolution, as a PNG download."""
    face = need(face)
    alphas, _ = sanitize_sliders(sliders)
    return _export(face, lambda: studio.export_photo(face, alphas, locked or []))[1]


def animation(studio: Studio, face: EditedFace | None, attribute: str, peak, frames, locked,
              view: str = "photo"):
    """An animated GIF of one attribute sweeping 0 -> peak -> 0."""
    face = need(face)
    try:
        frames = int(frames)
    except (TypeError, ValueError):
        raise ValueError(f"frames must be a whole number, got {frames!r}") from None
    return _export(face, lambda: studio.export_animation(face, attribute, peak, frames,
                                                         locked=locked or [], view=view))


def drop_exports(face: EditedFace | None) -> None:
    """When a session's state expires: its exported files go too."""
    import shutil
    from pathlib import Path

    for path in getattr(face, "exports", []) or []:
        shutil.rmtree(Path(path).parent, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# The Match tab


def match(studio: Studio, sighting, suspects, seen=None, drawn: bool = False):
    """A sighting against the suspects' photos: a ranked table, the pictures side by side, a PNG.

    ``seen``: the disguise the investigator saw in the sighting (each suspect is drawn in it);
    ``drawn``: the faces are drawn ones (the learned identity model judges), not photos."""
    if sighting is None:
        raise ValueError("Upload the sighting (a photo of the disguised person) first.")
    paths = [getattr(s, "name", s) for s in (suspects or [])]
    result, path = studio.match(sighting, paths, DRAWN if drawn else REAL, seen or [])
    pictures = []  # a row per suspect, the best five: the sighting, the suspect, in its disguise
    for m in result.suspects[:5]:
        pictures += [(result.sighting, "sighting"), (m.face, f"{m.name}: {m.similarity:.2f}"),
                     (m.disguised, f"{m.name}, in the sighting's disguise")]
    return text.match_table(result), pictures, str(path)


def gallery_search(studio: Studio, sighting, seen=None, drawn: bool = False, top: float = 5):
    """The sighting against the gallery of known faces (an app started with one, behind a login):
    the faces found with their distances, matched or not, and the best drawn in its disguise."""
    if sighting is None:
        raise ValueError("Upload the sighting (a photo of the disguised person) first.")
    if top is None or not math.isfinite(float(top)):
        raise ValueError("How many faces to show must be a number from 1 to 20.")
    hits, pictures, path = studio.search_gallery(sighting, DRAWN if drawn else REAL, int(top), seen or [])
    return text.gallery_table(hits), pictures, str(path) if path else None


def gallery_pick(studio: Studio, sighting, seen, drawn: bool, top: float, index: int):
    """A click on the ``index``-th picture of a gallery search: a found face is drawn alone in the
    sighting's disguise beside it (the analyst's choice); a click on a drawn row changes nothing."""
    if sighting is None or top is None or not math.isfinite(float(top)):
        return KEEP, KEEP, KEEP
    if not 0 <= int(index) < int(min(max(int(top), 1), GALLERY_TOP)):
        return KEEP, KEEP, KEEP
    try:
        hits, pictures, path = studio.search_gallery(sighting, DRAWN if drawn else REAL, int(top), seen or [],
                                                     chosen=int(index))
    except NoSuchFace:  # a click on a drawn row, where fewer faces were found than asked for
        return KEEP, KEEP, KEEP
    return text.gallery_table(hits), pictures, str(path) if path else None


# ----------------------------------------------------------------------------------------------
# The Latent space tab


def latent(space: LatentSpace, x, y):
    """A point of the latent plane -> its decode, and the plane with the point marked."""
    return space.decode_point(x, y), space.scatter(x, y)


def plane_click(space: LatentSpace, index: Sequence[float]):
    """A click on the plane at pixel ``index`` moves the point there (both sliders follow)."""
    x, y = space.point_at(*index)
    x, y = round(x, 2), round(y, 2)
    return (x, y) + latent(space, x, y)



# ----------------------------------------------------------------------------------------------
# The Compose tab
#
# Face numbers are the ones the screen shows, 1 .. 12. A screen event's outputs: the composite
# (the session's state), the screen's faces, the picks cleared, the best cleared, the screen's
# number, the status line, and the composite so far.

NO_COMPOSITE = "Start a composite first: describe the person and press Start."


def _composite(composite) -> Composite:
    if not isinstance(composite, Composite):
        raise ValueError(NO_COMPOSITE)
    return composite


def _screen(studio: Studio, composite: Composite, blur: bool, keep_picks: bool = False) -> tuple:
    pictures = screen_pictures(composite, studio.editor.policy, bool(blur))
    carried = composite.generation > 1
    agreed = composite.screens[-1].bred_from is not None  # face 2 is the estimate it was bred from
    captions = [f"{i + 1}" + (" best so far" if carried and i == 0 else " agreed" if agreed and i == 1 else "")
                for i in range(len(pictures))]
    code = composite.code()
    face = studio.upscale(studio.editor.decode(code)[0]) if code is not None else None
    picks = (KEEP, KEEP) if keep_picks else ([], None)
    return (composite, list(zip(pictures, captions)), *picks, composite.generation,
            text.compose_status(composite), face)


def compose_form(studio: Studio, *answers):
    """The form's answers (``form.QUESTIONS`` in order, then the "also noticed" list) -> the
    description, as the JSON ``compose_start`` takes."""
    *questions, also = answers
    return description_of(questions, also)


def compose_start(studio: Studio, description, blur: bool = True, seed=None):
    """A new composite from a description (``{"Male": true, "Eyeglasses": false}``): its first screen."""
    if studio.face_space is None:
        raise ValueError(text.NO_FACE_SPACE)
    if description is None or description == "":
        description = {}
    if isinstance(description, str):
        try:
            description = json.loads(description)
        except json.JSONDecodeError:
            raise ValueError('the description must be JSON like {"Male": true, "Eyeglasses": false}') from None
    composite = Composite.start(studio.face_space, description, studio.editor.decode_batch, seed=whole(seed))
    return _screen(studio, composite, blur)


def whole(value) -> object:
    """A client's number as an int where it is a whole number (1.0 -> 1); None and "" -> None;
    anything else as sent, for the check that follows to name."""
    if value is None or value == "":
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    return int(f) if not isinstance(value, bool) and math.isfinite(f) and f == int(f) else value


def face_numbers(numbers) -> list[object]:
    """Face numbers as a client sends them (strings from the page's boxes, numbers from an API
    client, one number alone) as numbers; anything else is left for ``check_picks`` to name."""
    if numbers is None:
        return []
    if isinstance(numbers, (str, bytes)) or not isinstance(numbers, Sequence):
        numbers = [numbers]
    return [whole(n) for n in numbers]


def compose_pick(studio: Studio, composite, generation, picks, best=None, blur: bool = True):
    """The witness's picks (face numbers) on screen ``generation``: the next screen, bred from them."""
    composite = _composite(composite)
    best = None if best in (None, "", []) else whole(best)
    composite.pick(face_numbers(picks), best, whole(generation), first=1)
    return _screen(studio, composite, blur)


def compose_undo(studio: Studio, composite, blur: bool = True, warn: Warn = _quiet):
    """Back one screen (its picks cleared)."""
    composite = _composite(composite)
    if not composite.undo():
        warn("This is the first screen: there is nothing to undo.")
    return _screen(studio, composite, blur)


def compose_redraw(studio: Studio, composite, blur: bool = True):
    """The blur toggle: the same screen, drawn again, the picks made on it kept (nothing without
    a composite)."""
    if not isinstance(composite, Composite):
        return (KEEP,) * 7
    return _screen(studio, composite, blur, keep_picks=True)


def toggle_pick(picks, index) -> list[str]:
    """A click on face ``index`` (0-based, as the gallery reports it) picks or unpicks it: the
    picks box's new value, face numbers as its choices name them ("1" .. "12"), at most
    ``MAX_PICKS`` (a fifth click is ignored; the box says how many it takes)."""
    numbers = [n for n in face_numbers(picks) if isinstance(n, int)]
    number = whole(index)
    if not isinstance(number, int):
        return [str(n) for n in numbers]
    number += 1
    if number in numbers:
        numbers.remove(number)
    elif len(numbers) < MAX_PICKS:
        numbers.append(number)
    return [str(n) for n in sorted(numbers)]


def _refined(studio: Studio, composite: Composite, locked, sliders, warn: Warn = _quiet) -> torch.Tensor:
    """The composite's code with the refining sliders (bad values fall back, noted to ``warn``)."""
    code = composite.code()
    if code is None:
        raise ValueError("Pick at least once first: the composite comes from your picks.")
    alphas, notes = sanitize_sliders(sliders)
    for note in notes:
        warn(note)
    return studio.editor.edit(code.to(studio.editor.device), alphas, locked or []).cpu()


def _refined_face(studio: Studio, composite: Composite, locked, sliders, warn: Warn = _quiet):
    """The refined composite as the model draws it, ``(S, S, 3)``."""
    return studio.editor.decode(_refined(studio, composite, locked, sliders, warn))[0]


def compose_refine(studio: Studio, composite, locked, *sliders, warn: Warn = _quiet):
    """The composite with the refining sliders (bad values fall back, noted)."""
    if not isinstance(composite, Composite) or composite.code() is None:
        return None
    return studio.upscale(_refined_face(studio, composite, locked, sliders, warn))


def compose_to_disguise(studio: Studio, composite, locked, *values):
    """"See in disguise": the refined composite becomes the Disguise tab's face (its sliders at 0).
    Outputs as ``random_face``'s, then the tab to show."""
    code = _refined(studio, _composite(composite), locked, values[:len(ATTRIBUTES)])
    view, screen = (list(values[len(ATTRIBUTES):]) + ["photo", ""])[:2]
    face = studio.drawn_face(code, "composite", text.COMPOSITE_NOTICE)
    return _new_drawn_face(studio, face, [], view, screen) + (Update(selected="disguise-tab"),)


def compose_to_match(studio: Studio, composite, locked, *sliders):
    """"Match against suspects": the refined composite as the Match tab's sighting (drawn faces)."""
    composite = _composite(composite)
    path, _ = studio.export_composite(composite, _refined_face(studio, composite, locked, sliders), aligned=True)
    composite.exports.append(path)
    return str(path), True, Update(selected="match-tab")


def compose_export(studio: Studio, composite, locked, *sliders):
    """The refined composite (PNG) and the contact sheet of its screens: both as downloads."""
    composite = _composite(composite)
    portrait, _ = studio.export_composite(composite, _refined_face(studio, composite, locked, sliders))
    sheet, _ = studio.export_contact_sheet(composite)
    composite.exports.extend([portrait, sheet])
    return [str(portrait), str(sheet)]

