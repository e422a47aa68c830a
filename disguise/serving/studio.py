"""What the web app does, as plain functions: no Gradio here, so every handler is testable alone.

A ``Studio`` holds the loaded ``Editor``. An ``EditedFace`` is one session's state: the code of the face
being edited (encoded once per upload), the model-sized original and reconstruction, the aligned
preview, and the photo with its transform to the model's frame. Slider moves only decode:
``Studio.render(face, alphas, locked, view)``. Two views: ``photo`` (the edit drawn on the
person's photo, ``disguise.photo``; the default) and ``model`` (the model's decode, upscaled).
"""

from __future__ import annotations

import collections
import json
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from .. import frame
from ..attributes import ATTRIBUTES, check_names, pretty
from ..classifier.model import load_reader
from ..compose.face_space import FACE_SPACE_NAME, FaceSpace
from ..compose.pictures import aligned_composite, composite_picture, contact_sheet, describe_png
from ..compose.session import Composite
from ..files import EXAMPLES, write_gif, write_png
from ..gallery.collection import Hits
from ..gallery.search import GallerySearch
from ..identity.match import Matcher, MatchResult, match_sheet
from ..identity.recognisers import DRAWN, REAL, FaceShot, Recognisers
from ..photo.alignment import prepare_face
from ..photo.exports import (
    FRAME_MS,
    SWEEP_FRAMES,
    SWEEP_PEAK,
    alpha_strip,
    animation_comment,
    check_view,
    disguise_sheet,
    edited_photo,
    sweep_animation,
    view_tiles,
)
from ..photo.loading import ImageError, load_image
from ..photo.view import DISPLAY, PhotoCanvas, PhotoFrame, face_region
from ..pretrained import resolve_folder
from ..sliders.editor import Editor, check_alphas, parse_alphas
from ..vae.model import CONFIG_NAME, WEIGHTS_NAME
from ..vae.onnx_decoder import decoder_for
from .live import live_document

SLIDER_LIMIT = 4.0  # the sliders' range: -4 .. 4, as the seed's strips
DRAWN_EXAMPLES = "face_*.jpg"  # the bundled examples that are drawn faces (examples/)
LIVE_SIDE = 1024  # the live photo copy's long side until the page says how large it shows it
MAX_LIVE_SIDE = 1600  # ... and at most, whatever the page says (the working copy is at most 1024)
LIVE_STEP = 64  # live sizes are rounded up to a multiple of this (a resize by a few px changes nothing)
DRAWN_SOURCES = ("random", "composite")  # faces the model drew: no person to compare an edit with
# Export folders kept on disk, across all sessions. Gradio copies a returned file into its own
# cache, so an older export is no longer needed here; the cap bounds what any client can pile up.
KEPT_EXPORTS = 64


@dataclass
class EditedFace:
    """One session's face: its code, the model-sized original and reconstruction, the aligned
    178 x 218 preview, and the photo the photo view draws on."""

    z: torch.Tensor  # (z_dim,) on the CPU
    original: np.ndarray  # (S, S, 3) uint8
    aligned: np.ndarray  # (218, 178, 3) uint8
    source: str  # "upload", "example", or one the model drew: "random", "composite"
    photo: PhotoFrame  # at working resolution (an upload's long side <= 1024 px)
    recon: np.ndarray  # (S, S, 3) uint8, decode(z)
    path: str | None = None  # the upload itself, for the full-resolution download
    kind: str = REAL  # what the face is: a photo of a real person, or a drawn face (its judge)
    landmarks: np.ndarray | None = None  # dlib's five points in the aligned frame, when detected
    framed: bool = True  # False: no face was found (a centred crop): nobody to recognise
    person: np.ndarray | None = None  # the person's embedding, by the recogniser for ``kind`` (made once)
    notice: str = ""
    face_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    exports: list[Path] = field(default_factory=list)  # deleted with the session
    live_side: int = LIVE_SIDE  # the live copy's long side: as large as the page shows the photo
    _live: PhotoCanvas | None = field(default=None, repr=False)

    def live(self, policy) -> PhotoCanvas:
        """The canvas the live photo view is drawn on, ``live_side`` on its long side (at most the
        working copy's), made once per size."""
        if self._live is None:
            self._live = PhotoCanvas(self.photo.resized(self.live_side), policy)
        return self._live


def sanitize_sliders(values: Sequence[object], limit: float = SLIDER_LIMIT) -> tuple[dict[str, float], list[str]]:
    """The forty slider values as ``{attribute: alpha}``; bad values fall back with a note.

    Non-numbers and NaN become 0, values beyond the range are clamped: a live slider event never
    fails, it says what it changed.
    """
    if len(values) != len(ATTRIBUTES):
        raise ValueError(f"expected {len(ATTRIBUTES)} slider values, got {len(values)}")
    out, notes = {}, []
    for name, v in zip(ATTRIBUTES, values):
        try:
            a = float(v) if v is not None else 0.0
        except (TypeError, ValueError):
            notes.append(f"{pretty(name)}: {v!r} is not a number, used 0")
            a = 0.0
        if math.isnan(a):
            notes.append(f"{pretty(name)}: NaN is not a position, used 0")
            a = 0.0
        elif abs(a) > limit:
            clamped = math.copysign(limit, a)
            notes.append(f"{pretty(name)}: {a:g} is outside -{limit:g}..{limit:g}, used {clamped:g}")
            a = clamped
        if a:
            out[name] = a
    return out, notes


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def live_side(photo_size: tuple[int, int], screen: object) -> int:
    """How large the page shows a photo of ``photo_size`` (w, h), in device pixels on its long side,
    from the page's report ``screen`` (``{"w", "h", "dpr"}``, CSS pixels of the picture's box, as
    JSON; web/screen.js): the photo fitted into the box, times the pixel ratio (at most 2.5),
    rounded up to ``LIVE_STEP`` and kept within 256 .. ``MAX_LIVE_SIDE``. Anything else a client
    sends (nothing, not JSON, absurd numbers) gives ``LIVE_SIDE``."""
    try:
        box = json.loads(screen) if isinstance(screen, str) else screen
        w, h, dpr = (float(box[k]) for k in ("w", "h", "dpr"))
    except (TypeError, ValueError, KeyError, json.JSONDecodeError):
        return LIVE_SIDE
    if not all(math.isfinite(v) and v > 0 for v in (w, h, dpr)):
        return LIVE_SIDE
    pw, ph = photo_size
    shown = min(w / pw, h / ph) * max(pw, ph) * min(dpr, 2.5)
    side = LIVE_STEP * math.ceil(min(shown, MAX_LIVE_SIDE) / LIVE_STEP)
    return int(min(max(side, 256), MAX_LIVE_SIDE))


GALLERY_TOP = 20  # the most known faces one gallery search shows
DISGUISED = 3  # of those, how many are drawn in the sighting's disguise (each a full match)


class NoSuchFace(ValueError):
    """A gallery search's face chosen by a number past those found."""


class Studio:
    """The loaded model, bank and defaults behind the app."""

    def __init__(self, editor: Editor, display: int = DISPLAY, export_dir: str | os.PathLike | None = None,
                 recognisers: Recognisers | None = None, matcher: Matcher | None = None,
                 drawn_examples: Sequence[str | os.PathLike] = (), face_space: FaceSpace | None = None,
                 gallery: GallerySearch | None = None) -> None:
        self.editor = editor
        self.gallery = gallery  # known faces to search (``--gallery``; served only behind a login)
        self.face_space = face_space  # the Compose tab's (None: the tab says how to make one)
        self.recognisers = recognisers or Recognisers(None, None, {REAL: "none loaded", DRAWN: "none loaded"})
        self.matcher = matcher  # sightings against suspects (needs a recogniser)
        # The bundled drawn faces (by size and content): an upload of one is judged as drawn.
        self.drawn_examples = {(p.stat().st_size, _digest(p)) for p in map(Path, drawn_examples)}
        self.display = display
        # The ONNX decoder the page runs (``Studio.load`` finds or exports it); None: the page
        # edits through the server, and ``decoder_problem`` says why.
        self.decoder_file: Path | None = None
        self.decoder_problem = "no ONNX decoder was asked for"
        self.export_dir = Path(export_dir or tempfile.mkdtemp(prefix="disguise-exports-"))
        self.export_dir.mkdir(parents=True, exist_ok=True)
        self._exports: collections.deque[Path] = collections.deque()
        self._exports_lock = threading.Lock()

    @classmethod
    def load(cls, source: str | os.PathLike, device: str | None = None) -> "Studio":
        """Load once at start, on the GPU when there is one, and warm up (first call is slow)."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        editor = Editor.from_pretrained(source, device=device)
        folder = resolve_folder(source, (CONFIG_NAME, WEIGHTS_NAME))  # a Hub id: its local copy
        recognisers = Recognisers.load(folder, device)  # dlib for photos, the weights' own for drawn faces
        judge = load_reader(folder, device)
        matcher = Matcher(editor, recognisers, judge) if recognisers.real or recognisers.drawn else None
        space = folder / FACE_SPACE_NAME
        face_space = FaceSpace.load(space, editor.model.config.z_dim) if space.is_file() else None
        studio = cls(editor, recognisers=recognisers, matcher=matcher,
                     drawn_examples=sorted(EXAMPLES.glob(DRAWN_EXAMPLES)), face_space=face_space)
        studio.find_decoder(folder)
        studio.warm_up()
        return studio

    def find_decoder(self, folder: str | os.PathLike, cache: str | os.PathLike | None = None) -> None:
        """The ONNX decoder for the page: the folder's own, or exported now into ``cache``.
        Failing is not fatal: the page then edits through the server, as without one."""
        try:
            self.decoder_file, self.decoder_problem = decoder_for(folder, self.editor.model, cache), ""
        except Exception as e:  # noqa: BLE001 - any failure (no onnx, read-only cache) means no file
            self.decoder_file, self.decoder_problem = None, f"{type(e).__name__}: {e}"

    def warm_up(self) -> None:
        s = self.editor.size
        z = self.editor.encode(np.zeros((1, s, s, 3), np.uint8))
        for _ in range(3):
            self.editor.render(z[0], {"Eyeglasses": 1.0})

    # ------------------------------------------------------------------------------------------

    def upscale(self, img: np.ndarray) -> np.ndarray:
        if img.shape[0] == self.display:
            return img
        return np.asarray(Image.fromarray(img).resize((self.display, self.display),
                                                      Image.Resampling.BICUBIC))

    def kind_of(self, image) -> str:
        """What an upload is: ``"drawn"`` for one of the bundled drawn examples (the same bytes),
        else ``"real"``: a photo someone uploaded is judged as a photo of a real person."""
        if isinstance(image, (str, os.PathLike)) and os.path.isfile(image):
            size = os.path.getsize(image)
            if any(size == s for s, _ in self.drawn_examples) and (size, _digest(Path(image))) in self.drawn_examples:
                return DRAWN
        return REAL

    def prepare(self, image, already_aligned: bool | None = None, source: str = "upload",
                kind: str | None = None) -> EditedFace:
        """Align, crop and encode an uploaded photo (path, bytes, PIL or array); ``kind`` (default
        ``kind_of``) says which recogniser judges it. Raises ImageError."""
        prep = prepare_face(image, self.editor.policy, already_aligned=already_aligned)
        z = self.editor.encode(prep.crop)[0].detach().cpu()
        path = str(image) if isinstance(image, (str, os.PathLike)) else None
        notice = prep.notice or (f"Face framed by its {prep.method}." if prep.method == "eyes" else "")
        return EditedFace(z=z, original=prep.crop, aligned=np.asarray(prep.aligned), source=source,
                          photo=prep.photo, recon=self.editor.render(z, {}), path=path,
                          kind=kind or self.kind_of(image), landmarks=prep.landmarks,
                          framed=prep.method != "centred crop", notice=notice)

    def random_face(self, seed: int | None = None) -> EditedFace:
        """A random face; its 'original' and its photo are its own decoding. Drawn where the training
        faces' codes lie (the face space with no description) when the weights have one: a model whose
        latent holds much (a high KL) leaves parts of the prior N(0, I) empty, and a code from there
        is a blur of no one. Without a face space, from the prior."""
        if self.face_space is None:
            return self.drawn_face(self.editor.random_codes(1, seed)[0], "random", "A random face from the model's prior.")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = self.face_space.anyone.sample(1, gen)[0]
        return self.drawn_face(z, "random", "A random face, drawn where the training faces' codes lie.")

    def drawn_face(self, z: torch.Tensor, source: str, notice: str) -> EditedFace:
        """A face the model draws from the code ``z`` (a random face, a witness's composite): its
        'original' and its photo are its own decoding; no person to compare an edit with."""
        z = torch.as_tensor(z, dtype=torch.float32).reshape(-1).cpu()
        img = self.editor.decode(z)[0]
        aligned = np.asarray(Image.fromarray(img).resize(frame.SIZE, Image.Resampling.BICUBIC))
        photo = PhotoFrame.of_crop(self.upscale(img), self.editor.policy)
        return EditedFace(z=z, original=img, aligned=aligned, source=source, photo=photo, recon=img,
                          kind=DRAWN, notice=notice)

    def render(self, face: EditedFace, alphas: Mapping[str, float], locked: Sequence[str] = (),
               view: str = "photo") -> np.ndarray:
        """The edited picture; ``alphas`` are validated (unknown names, non-finite).

        ``photo``: the edit drawn on a display copy of the photo; ``model``: the decode, upscaled.
        """
        edited = self.editor.render(face.z.to(self.editor.device), alphas, locked)
        if check_view(view) == "model":
            return self.upscale(edited)
        return face.live(self.editor.policy).apply(face.recon, edited)

    def recogniser(self, face: EditedFace):
        """The recogniser that judges ``face``: dlib's for a photo, the learned one for a drawn
        face (None when none is loaded; ``recognisers.missing`` says why)."""
        return self.recognisers.for_kind(face.kind)

    def person(self, face: EditedFace) -> np.ndarray:
        """The person's embedding (the unedited photo), made once per face."""
        if face.person is None:
            face.person = self.recogniser(face).embed([FaceShot.of(face.photo, landmarks=face.landmarks)])[0]
        return face.person

    def identity(self, face: EditedFace, alphas: Mapping[str, float], locked: Sequence[str] = (),
                 view: str = "photo") -> dict | None:
        """Is the edited face still this person? The similarity between the person (the uploaded
        photo) and the edited face, by the recogniser for what the face is, against its threshold
        (``Recogniser.compare``; ``recogniser`` names it); None for a random face (no person to
        compare with); a ``note`` instead of a verdict where there is no recogniser, or no face.

        The photo view's edited face is the edited photo; the model view's is the decode."""
        if face.source in DRAWN_SOURCES:
            return None
        recogniser = self.recogniser(face)
        if recogniser is None:
            return {"note": f"not judged: no recogniser for {face.kind} faces "
                            f"({self.recognisers.missing.get(face.kind, 'none loaded')})"}
        if not face.framed:
            return {"note": "not judged: no face was found in the photo", "recogniser": recogniser.name}
        edited = self.editor.render(face.z.to(self.editor.device), alphas, locked)
        if check_view(view) == "photo":
            canvas = face.live(self.editor.policy)
            shot = FaceShot.of(canvas.view, canvas.apply(face.recon, edited), face.landmarks)
        else:
            shot = FaceShot.of(PhotoFrame.of_crop(self.upscale(edited), self.editor.policy), landmarks=face.landmarks)
        return recogniser.compare(self.person(face), recogniser.embed([shot])[0])

    def show_at(self, face: EditedFace, screen: object) -> bool:
        """The page shows the picture in the box ``screen`` (web/screen.js's report): the live
        copy follows its size (``live_side``). Whether it changed."""
        side = live_side(face.photo.size, screen)
        if side == face.live_side:
            return False
        face.live_side, face._live = side, None
        return True

    def live(self, face: EditedFace, alphas: Sequence[float], locked: Sequence[str] = (), view: str = "photo") -> str:
        """The JSON document the page decodes edits of ``face`` from (``disguise.serving.live``):
        its code, its vectors (``Editor.rows``, and the rows below 0 where the model has removal
        rows) as ``locked`` conditions them, and the photo view's data."""
        canvas = face.live(self.editor.policy) if check_view(view) == "photo" else None
        removal = (self.editor.conditioned_bank(locked, face.z, removing=True)
                   if self.editor.removal_rows is not None else None)
        return live_document(face.face_id, face.z, self.editor.conditioned_bank(locked, face.z), face.recon,
                             canvas, alphas, view, self.display, removal)

    def before(self, face: EditedFace, view: str = "photo") -> np.ndarray:
        """What an edit is compared with: the photo itself, or the model's reconstruction."""
        if check_view(view) == "model":
            return self.upscale(face.recon)
        return face.live(self.editor.policy).view.photo

    def reconstruction(self, face: EditedFace) -> np.ndarray:
        return self.upscale(face.recon)

    def _tiles(self, face: EditedFace, view: str):
        return view_tiles(view, face.photo, self.editor.policy, face.recon, face.original)

    def _tile_identity(self, face: EditedFace):
        """For exports: tiles (each the face's crop region at ``DISPLAY`` px) -> whether each is
        still the person, compared with the photo's own region cut the same way (so an unedited
        tile is the person exactly); None without a recogniser or a person."""
        recogniser = self.recogniser(face)
        if recogniser is None or face.source in DRAWN_SOURCES or not face.framed:
            return None
        policy = self.editor.policy

        def shot(tile: np.ndarray) -> FaceShot:
            return FaceShot.of(PhotoFrame.of_crop(tile, policy), landmarks=face.landmarks)

        person = recogniser.embed([shot(face_region(face.photo, policy, face.photo.photo, DISPLAY))])[0]

        def judge(tiles: list[np.ndarray]) -> list[dict]:
            return [recogniser.compare(person, e) for e in recogniser.embed([shot(t) for t in tiles])]
        return judge

    def export_strip(self, face: EditedFace, attribute: str, alphas_text: str,
                     base: Mapping[str, float] | None = None, locked: Sequence[str] = (),
                     view: str = "photo") -> tuple[Path, Image.Image]:
        check_names([attribute])
        alphas = parse_alphas(alphas_text)
        tiles, original = self._tiles(face, view)
        img = alpha_strip(self.editor, face.z.to(self.editor.device), attribute, alphas,
                          original=original, base=base, locked=locked, tiles=tiles,
                          identity=self._tile_identity(face))
        return self._save(img, f"strip-{attribute}"), img

    def export_sheet(self, face: EditedFace, locked: Sequence[str] = (), view: str = "photo",
                     by_identity: bool = False) -> tuple[Path, Image.Image]:
        """The disguise sheet; ``by_identity``: the disguises that hide the person best first."""
        tiles, original = self._tiles(face, view)
        img = disguise_sheet(self.editor, face.z.to(self.editor.device), original=original,
                             locked=locked, tiles=tiles, identity=self._tile_identity(face),
                             by_identity=by_identity)
        return self._save(img, "disguise-sheet"), img

    def export_photo(self, face: EditedFace, alphas: Mapping[str, float], locked: Sequence[str] = ()
                     ) -> tuple[Path, Image.Image]:
        """The whole photo with the edit, at the upload's full resolution, as PNG (its edits in the
        text chunks). Falls back to the working copy when the upload is gone."""
        alphas = check_alphas(alphas)
        edited = self.editor.render(face.z.to(self.editor.device), alphas, locked)
        view = face.photo
        if face.path is not None and os.path.isfile(face.path):
            try:
                view = face.photo.at_resolution(np.asarray(load_image(face.path, work_side=None)))
            except ImageError:
                pass  # the working copy was made from it, so this is not expected; keep that copy
        img = edited_photo(view, self.editor.policy, face.recon, edited, alphas, locked)
        return self._save(img, "edited-photo", compress_level=1), img

    def export_animation(self, face: EditedFace, attribute: str, peak: float = SWEEP_PEAK,
                         frames: int = SWEEP_FRAMES,
                         locked: Sequence[str] = (), view: str = "photo") -> tuple[Path, list[Image.Image]]:
        """An animated GIF of ``attribute`` sweeping 0 -> ``peak`` -> 0."""
        check_names([attribute])
        tiles, _ = self._tiles(face, view)
        pictures = sweep_animation(self.editor, face.z.to(self.editor.device), attribute, peak,
                                   frames, locked=locked, tiles=tiles)
        comment = animation_comment(attribute, peak, len(pictures), view, locked)
        return self._save(pictures, f"sweep-{attribute}", comment=comment), pictures

    def export_composite(self, composite: Composite, face: np.ndarray, aligned: bool = False
                         ) -> tuple[Path, Image.Image]:
        """The witness's composite (``face``, as refined) as PNG, its description and picks in the
        text; ``aligned``: in CelebA's 178 x 218 frame, as the Match tab takes a sighting."""
        if aligned:
            img = describe_png(Image.fromarray(aligned_composite(face, self.editor.policy)), composite,
                               "disguise: the witness's composite, aligned")
        else:
            img = composite_picture(face, composite)
        return self._save(img, "composite-aligned" if aligned else "composite"), img

    def export_contact_sheet(self, composite: Composite) -> tuple[Path, Image.Image]:
        """Every screen of a composite, the picks marked, as PNG."""
        img = contact_sheet(composite)
        return self._save(img, "composite-screens"), img

    def match(self, sighting, gallery: Sequence, kind: str = REAL, seen: Sequence[str] = ()
              ) -> tuple[MatchResult, Path]:
        """Rank ``gallery`` (image paths, at most ``MAX_SUSPECTS``) against ``sighting``, judged
        as ``kind`` faces, each suspect drawn in the disguise ``seen`` (or, where the judge can
        read them, in the differences it sees); the result and its picture (sighting, suspect,
        suspect in the disguise) as PNG."""
        if self.matcher is None:
            raise ValueError("matching needs a recogniser: " + "; ".join(self.recognisers.missing.values()))
        result = self.matcher.match(sighting, list(gallery), kind=kind, seen=list(seen or []))
        img = match_sheet(result)
        img.info.update({"Title": "disguise: sighting against suspects", "Software": "disguise",
                         "summary": result.summary})
        return result, self._save(img, "match")

    def search_gallery(self, sighting, kind: str = REAL, top: int = 5, seen: Sequence[str] = (),
                       chosen: int | None = None) -> tuple[Hits, list[tuple[np.ndarray, str]], Path | None]:
        """``sighting`` against the gallery: the ``top`` (1 .. ``GALLERY_TOP``) nearest known faces,
        their thumbnails captioned with name and distance, then the best ``DISGUISED`` whose photos
        are still on disk (or only the ``chosen``-th found, from 0) drawn in the sighting's disguise
        (``seen``) beside it, as ``match`` draws suspects; that picture as PNG (None when none
        could be drawn)."""
        if self.gallery is None:
            raise ValueError("this app was started without a gallery (--gallery PATH or DISGUISE_GALLERY)")
        top = int(min(max(int(top or 1), 1), GALLERY_TOP))
        hits = self.gallery.search(sighting, kind, top)
        pictures = []
        for k, h in enumerate(hits.hits, 1):
            thumb = self.gallery.thumbnail(h)
            if thumb is not None:
                pictures.append((thumb, f"{k}. {h.name}: distance {h.distance:.3f}"
                                        + (" (the same person)" if h.recognised else "")))
        names = {}
        if chosen is not None and not 0 <= chosen < len(hits.hits):
            raise NoSuchFace(f"there is no face {chosen + 1} among the {len(hits.hits)} found")
        for h in hits.hits if chosen is None else hits.hits[chosen:chosen + 1]:
            if Path(h.source).is_file() and h.source not in names and len(names) < DISGUISED:
                names[h.source] = h.name
        if not names or self.matcher is None:
            return hits, pictures, None
        result, path = self.match(sighting, list(names), kind, seen)
        by_stem = {Path(source).stem: name for source, name in names.items()}
        for m in result.suspects:
            name = by_stem.get(m.name, m.name)
            pictures += [(result.sighting, "sighting"), (m.disguised, f"{name}, in the sighting's disguise")]
        return hits, pictures, path

    def _save(self, img: Image.Image | list[Image.Image], stem: str, compress_level: int = 6,
              comment: str = "") -> Path:
        """Write an export (a PNG, or a GIF for a list of frames) into a folder of its own;
        beyond ``KEPT_EXPORTS`` the oldest go."""
        folder = self.export_dir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime('%Y%m%d-%H%M%S')
        if isinstance(img, list):
            path = folder / f"{stem}-{stamp}.gif"
            write_gif(path, img, FRAME_MS, comment)
        else:
            path = folder / f"{stem}-{stamp}.png"
            write_png(path, img, compress_level=compress_level)
        with self._exports_lock:
            self._exports.append(folder)
            while len(self._exports) > KEPT_EXPORTS:
                shutil.rmtree(self._exports.popleft(), ignore_errors=True)
        return path
