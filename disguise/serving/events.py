"""What each event of the page does, as plain functions: the page's inputs in, its outputs out.

``app.py`` wires these to Gradio's components one to one and does nothing else with them. The
conventions that keep Gradio out of here:

* a problem the user should read is a ``ValueError`` (``ImageError`` included) with the message
  to show; the app turns it into an error message in the page, never a crash;
* a note that does not stop the event (a slider value replaced) goes to ``warn``;
* ``KEEP`` as an output leaves that component as it is (an upload that failed keeps the face
  being edited); ``Update(open=False)`` changes a component's properties instead of its value;
* pictures are returned as pixels (or PIL images); the app hands each over as a file of its own,
  so that it arrives whole (``disguise.serving.pictures``).

The last inputs of the Disguise tab's picture events are the 40 sliders, then the view
(``"photo"`` or ``"model"``), then how large the page shows the picture (``screen``,
web/screen.js), so API clients may leave the view and the screen out.
"""

from __future__ import annotations

from typing import Callable, Sequence

from ..attributes import ATTRIBUTES
from ..classic.space import LatentSpace
from ..identity.recognisers import DRAWN, REAL
from ..photo.exports import VIEWS
from ..photo.loading import ImageError
from . import text
from .studio import EditedFace, Studio, sanitize_sliders

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


def fold_photo_panel(studio: Studio, face: EditedFace | None):
    """Once a face is loaded, the upload and the examples fold away (the picture is the page)."""
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
    """A face from the prior: the face, its preview, both pictures, the notice, 40 zeros, the
    page's document."""
    face = studio.random_face()
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
    face = need(face)
    return _export(face, lambda: studio.export_strip(face, attribute, alphas_text, locked=locked or [],
                                                     view=view))


def sheet(studio: Studio, face: EditedFace | None, locked, view: str = "photo", by_identity: bool = False):
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

