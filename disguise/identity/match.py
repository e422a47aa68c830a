"""Match a sighting: which of a gallery of suspects is the person in a (perhaps disguised) photo?

Every image is prepared like any upload (``prepare_face``) and judged by the recogniser for what
it is (``disguise.identity.recognisers``): photos of real people by dlib's, drawn faces by the
learned identity model. Suspects are ranked by their similarity to the sighting; one at or above
the recogniser's threshold is "recognised", and below it for all the answer is "no suspect
matches". Each suspect is then drawn in the sighting's disguise on their own photo (the photo
view), each disguise attribute pushed by ``DISGUISE_ALPHA``. The disguise is what the attribute
judge sees differ where it can read the faces; where it cannot (the bundled judge learned drawn
faces and reads no photo) it claims nothing, and the disguise is what the investigator ticked.
``Matcher.from_folder(weights)`` needs the VAE and its bank; the judge is used when the folder has
one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..attributes import INDEX
from ..classifier.model import AttributeClassifier, load_reader, predict
from ..photo.alignment import PreparedFace, prepare_face
from ..photo.loading import ImageError
from ..photo.view import DISPLAY, face_region, photo_edit
from ..preprocess import Preprocess, to_tensor
from ..sliders.editor import Editor
from .recognisers import REAL, FaceShot, Recognisers
from .verification import DISGUISE_ATTRIBUTES

MAX_SUSPECTS = 50  # images in one gallery: each is prepared, judged and rendered
DISGUISE_ALPHA = 3.0  # how far each differing attribute is pushed to dress a suspect up
NO_FACE = "no face found in the sighting"
# Held fixed while a suspect is dressed up: the make-up and hair vectors also carry sex (taking
# make-up off grows a beard), and a disguise does not change it.
LOCKED: tuple[str, ...] = ("Male",)
# How a disguise attribute is named to a person. No_Beard is named by what it takes away: a face
# with No_Beard has no beard, so its sign is turned round (NEGATED).
NEGATED = frozenset({"No_Beard"})
LABELS: dict[str, str] = {
    "Eyeglasses": "glasses", "Wearing_Hat": "hat", "No_Beard": "beard", "Goatee": "goatee",
    "Mustache": "moustache", "Black_Hair": "black hair", "Blond_Hair": "blond hair",
    "Brown_Hair": "brown hair", "Gray_Hair": "grey hair", "Bangs": "bangs",
    "Heavy_Makeup": "heavy make-up", "Wearing_Lipstick": "lipstick", "Bald": "bald"}
_COLUMNS = [INDEX[a] for a in DISGUISE_ATTRIBUTES]


def label(attribute: str) -> str:
    """The human name of a disguise attribute (``No_Beard`` -> ``beard``)."""
    return LABELS.get(attribute, attribute.replace("_", " ").lower())


def signed_label(attribute: str, has: bool) -> str:
    """``+glasses`` (the sighting has glasses), ``-beard`` (it has none, where the suspect has)."""
    return ("+" if has != (attribute in NEGATED) else "-") + label(attribute)


def seen_attributes(seen: Sequence[str]) -> dict[str, bool]:
    """What the investigator ticked as seen in the sighting (labels like ``glasses``, ``beard``,
    or CelebA names) -> ``{attribute: the sighting has it}`` in CelebA's terms."""
    by_label = {v: k for k, v in LABELS.items()}
    out = {}
    for item in seen:
        name = by_label.get(str(item).strip().lower(), str(item).strip())
        if name not in LABELS:
            raise ValueError(f"unknown disguise {item!r}; choose from {', '.join(LABELS.values())}")
        out[name] = name not in NEGATED  # a beard seen: No_Beard is false
    return out


@dataclass
class SuspectMatch:
    """One suspect against the sighting.

    Attributes:
        name: the suspect's name (its file name's stem, or as given).
        similarity: cosine similarity of the identity embeddings.
        recognised: ``similarity >= threshold``.
        differences: disguise attributes (CelebA names, ``DISGUISE_ATTRIBUTES`` order) in which
            the sighting differs from this suspect (as the judge reads them, or the disguise the
            investigator ticked).
        sighting_has: for each difference, whether the sighting has it (so its edit's sign).
        disguised: ``(256, 256, 3)`` uint8: the suspect in the sighting's disguise (photo view).
        face: ``(256, 256, 3)`` uint8: the suspect's own face region.
        notice: what to know about how the suspect's photo was framed, or ``""``.
    """

    name: str
    similarity: float
    recognised: bool
    differences: list[str]
    sighting_has: list[bool]
    disguised: np.ndarray = field(repr=False)
    face: np.ndarray = field(repr=False)
    notice: str = ""

    @property
    def difference_labels(self) -> list[str]:
        """The differences as a person reads them: ``+glasses`` (the sighting has them),
        ``-beard`` (the suspect has one, the sighting not)."""
        return [signed_label(a, has) for a, has in zip(self.differences, self.sighting_has)]

    @property
    def alphas(self) -> dict[str, float]:
        """The edit that dresses the suspect up as the sighting."""
        return {a: DISGUISE_ALPHA if has else -DISGUISE_ALPHA
                for a, has in zip(self.differences, self.sighting_has)}

    def to_dict(self) -> dict:
        return {"name": self.name, "similarity": round(self.similarity, 6), "recognised": self.recognised,
                "differences": list(self.differences), "labels": self.difference_labels,
                "alphas": self.alphas, "notice": self.notice}


@dataclass
class MatchResult:
    """The ranking (best first) and its summary.

    Attributes:
        suspects: ``SuspectMatch`` per readable gallery image, by similarity, best first.
        threshold: the recogniser's threshold; ``far``: its false-accept rate (None: not known).
        sighting: ``(256, 256, 3)`` uint8, the sighting's face region.
        sighting_attributes: the disguise attributes of the sighting (``disguise_from`` says who
            read them: ``"judge"``, ``"investigator"``, or ``""``: nobody, none shown).
        skipped: ``"name: why"`` for each gallery file that could not be read as an image.
        recogniser: which recogniser judged; ``kind``: what the faces are (real or drawn).
    """

    suspects: list[SuspectMatch]
    threshold: float
    far: float | None
    sighting: np.ndarray = field(repr=False)
    sighting_attributes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    sighting_notice: str = ""
    recogniser: str = ""
    kind: str = REAL
    disguise_from: str = "judge"

    @property
    def best(self) -> SuspectMatch:
        return self.suspects[0]

    @property
    def best_similarity(self) -> float:
        return self.suspects[0].similarity

    @property
    def matched(self) -> bool:
        """Whether any suspect clears the threshold."""
        return any(s.recognised for s in self.suspects)

    @property
    def summary(self) -> str:
        if not self.matched:
            text = (f"no suspect matches: the best, {self.best.name}, scores {self.best_similarity:.3f} "
                    f"(threshold {self.threshold:.3f})")
        else:
            hits = [s.name for s in self.suspects if s.recognised]
            text = (f"best match: {self.best.name}, similarity {self.best_similarity:.3f} (threshold "
                    f"{self.threshold:.3f}); {len(hits)} of {len(self.suspects)} suspect"
                    f"{'s' if len(self.suspects) != 1 else ''} clear{'s' if len(hits) == 1 else ''} it")
        if self.recogniser:
            text += f"; judged by {self.recogniser}"
        if self.skipped:
            text += f"; skipped {len(self.skipped)} unreadable file{'s' if len(self.skipped) != 1 else ''}"
        return text

    def to_dict(self) -> dict:
        return {"summary": self.summary, "matched": self.matched,
                "best_similarity": round(self.best_similarity, 6), "threshold": self.threshold,
                "far": self.far, "sighting_attributes": list(self.sighting_attributes),
                "disguise_from": self.disguise_from, "recogniser": self.recogniser, "kind": self.kind,
                "sighting_notice": self.sighting_notice,
                "suspects": [s.to_dict() for s in self.suspects], "skipped": list(self.skipped)}


def _name_of(item: object, k: int) -> str:
    if isinstance(item, (str, os.PathLike)):
        return Path(item).stem or f"suspect {k + 1}"
    return f"suspect {k + 1}"


class Matcher:
    """The VAE editor, the recognisers and (when the weights have one) the judge, loaded once."""

    def __init__(self, editor: Editor, recognisers: Recognisers, judge: AttributeClassifier | None) -> None:
        self.editor, self.recognisers, self.judge = editor, recognisers, judge

    @classmethod
    def from_folder(cls, weights: str | os.PathLike, device: str | torch.device = "cpu") -> "Matcher":
        """The VAE and its vector bank, the recognisers and the judge from one weights folder."""
        folder = Path(weights)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such weights folder")
        judge = load_reader(folder, device)
        return cls(Editor.from_pretrained(folder, device=device), Recognisers.load(folder, device), judge)

    @property
    def policy(self) -> Preprocess:
        return self.editor.policy

    def judge_reads(self, kind: str) -> bool:
        """Whether the judge can read faces of ``kind``: it learned faces of that kind."""
        if self.judge is None:
            return False
        learned = self.judge.config.trained_on or "synthetic"  # unrecorded: the demo's drawn faces
        return (learned == "celeba") == (kind == REAL)

    # ------------------------------------------------------------------------------------------
    # The pieces (also used by bench/match.py on many faces at once)

    def recogniser(self, kind: str):
        found = self.recognisers.for_kind(kind)
        if found is None:
            why = self.recognisers.missing.get(kind, "none is loaded")
            raise ValueError(f"matching {kind} faces needs a recogniser for them: {why}")
        return found

    def embed(self, faces: Sequence[PreparedFace], kind: str = REAL) -> np.ndarray:
        """Embeddings of prepared faces by the recogniser for ``kind``, in one batch."""
        return self.recogniser(kind).embed([FaceShot.of(f.photo, landmarks=f.landmarks) for f in faces])

    @torch.no_grad()
    def attributes(self, faces: Sequence[PreparedFace]) -> np.ndarray:
        """Bool ``(N, len(DISGUISE_ATTRIBUTES))``: which disguise attributes the judge sees."""
        device = next(self.judge.parameters()).device
        policy = self.judge.policy
        crops = np.stack([f.crop if policy == self.policy else policy.apply(f.aligned) for f in faces])
        return predict(self.judge, to_tensor(crops, device)).cpu().numpy()[:, _COLUMNS]

    @staticmethod
    def differences(sighting: np.ndarray, suspect: np.ndarray) -> tuple[list[str], list[bool]]:
        """Disguise attributes where two rows of ``attributes`` differ, and the sighting's side."""
        diff = np.flatnonzero(np.asarray(sighting) != np.asarray(suspect))
        return [DISGUISE_ATTRIBUTES[i] for i in diff], [bool(sighting[i]) for i in diff]

    def disguise(self, suspect: PreparedFace, alphas: dict[str, float], size: int = DISPLAY,
                 locked: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(disguised, face)``: the suspect's face region with ``alphas`` drawn on its photo,
        and without; both ``(size, size, 3)`` uint8. ``locked`` (default ``LOCKED``, less
        what is edited) are held fixed while the others move (``Editor.direction``)."""
        view = suspect.photo
        face = face_region(view, self.policy, view.photo, size)
        if not alphas:
            return face.copy(), face
        z = self.editor.encode(suspect.crop)
        recon = self.editor.decode(z)[0]
        if locked is None:
            locked = [a for a in LOCKED if a not in alphas]
        edited = self.editor.render(z, alphas, locked)
        return face_region(view, self.policy, photo_edit(view, self.policy, recon, edited), size), face

    # ------------------------------------------------------------------------------------------

    def prepare_sighting(self, sighting, already_aligned: bool | None = None) -> PreparedFace:
        """The sighting, prepared; a photo in which no face is found is a ``ValueError``."""
        try:
            prep = prepare_face(sighting, self.policy, already_aligned)
        except ImageError as e:
            raise ValueError(f"the sighting: {e}") from None
        if prep.method == "centred crop":
            raise ValueError(f"{NO_FACE}; upload a photo with the face clearly visible")
        return prep

    def prepare_gallery(self, gallery: Sequence, names: Sequence[str] | None = None,
                        limit: int = MAX_SUSPECTS, already_aligned: bool | None = None
                        ) -> tuple[list[str], list[PreparedFace], list[str]]:
        """``(names, prepared faces, skipped)`` of the readable gallery images."""
        if isinstance(gallery, (str, bytes, os.PathLike, Image.Image, np.ndarray)):
            gallery = [gallery]  # one suspect given alone
        gallery = list(gallery)
        if not gallery:
            raise ValueError("the gallery is empty: give at least one suspect's photo")
        if len(gallery) > limit:
            raise ValueError(f"the gallery has {len(gallery)} images; the limit is {limit} suspects")
        if names is not None:
            names = [str(n) for n in names]
            if len(names) != len(gallery):
                raise ValueError(f"{len(names)} names for {len(gallery)} gallery images")
        else:
            names = [_name_of(item, k) for k, item in enumerate(gallery)]
        kept_names, faces, skipped = [], [], []
        for name, item in zip(names, gallery):
            try:
                faces.append(prepare_face(item, self.policy, already_aligned))
                kept_names.append(name)
            except ImageError as e:
                skipped.append(f"{name}: {e}")
        if not faces:
            raise ValueError("no file in the gallery is an image we can read ("
                             + "; ".join(skipped) + ")")
        return kept_names, faces, skipped

    def match(self, sighting, gallery: Sequence, names: Sequence[str] | None = None,
              limit: int = MAX_SUSPECTS, already_aligned: bool | None = None, kind: str = REAL,
              seen: Sequence[str] | None = None) -> MatchResult:
        """Rank the gallery's suspects against the sighting (see the module docstring).

        ``sighting`` and each gallery item: a path, bytes, a PIL image or an array; ``kind``:
        what the faces are (``"real"`` photos, or ``"drawn"``); ``seen``: the disguise the
        investigator saw in the sighting (labels such as ``glasses``, ``beard``), which replaces
        the judge's reading. ``names``: one per gallery item (default: file stems, else
        ``suspect 1``, ...). Raises ``ValueError`` for an empty gallery, one over ``limit``, one
        with no readable image (unreadable files among readable ones are skipped and listed in
        ``skipped``), and a sighting that is not an image or shows no face.
        """
        recogniser = self.recogniser(kind)
        ticked = seen_attributes(seen or [])
        prep = self.prepare_sighting(sighting, already_aligned)
        kept, faces, skipped = self.prepare_gallery(gallery, names, limit, already_aligned)
        emb = self.embed([prep, *faces], kind)
        sims = np.array([recogniser.compare(emb[0], e)["similarity"] for e in emb[1:]])
        attrs = self.attributes([prep, *faces]) if self.judge_reads(kind) and not ticked else None
        out = []
        for k in np.argsort(-sims, kind="stable"):
            if attrs is not None:
                diffs, has = self.differences(attrs[0], attrs[1 + k])
            else:
                diffs, has = list(ticked), list(ticked.values())
            alphas = {a: DISGUISE_ALPHA if h else -DISGUISE_ALPHA for a, h in zip(diffs, has)}
            disguised, face = self.disguise(faces[k], alphas)
            sim = float(sims[k])
            out.append(SuspectMatch(kept[k], sim, sim >= recogniser.threshold, diffs, has, disguised, face,
                                    faces[k].notice))
        if attrs is not None:
            seen_list, source = [a for a, v in zip(DISGUISE_ATTRIBUTES, attrs[0]) if v], "judge"
        else:
            seen_list, source = [a for a, h in ticked.items() if h], "investigator" if ticked else ""
        sighting_face = face_region(prep.photo, self.policy, prep.photo.photo, DISPLAY)
        return MatchResult(out, recogniser.threshold, getattr(recogniser, "far", None), sighting_face, seen_list,
                           skipped, prep.notice, recogniser.name, kind, source)


# ----------------------------------------------------------------------------------------------
# The picture


def match_sheet(result: MatchResult, top: int = 5, tile: int = 160) -> Image.Image:
    """One row per suspect (the best ``top``): the sighting, the suspect, the suspect in the
    sighting's disguise, and a caption (name, similarity, verdict, differences)."""
    from ..photo.exports import font

    rows = result.suspects[:max(1, top)]
    pad, text_w, head = 8, 300, 44
    width = 3 * tile + 4 * pad + text_w
    height = head + len(rows) * (tile + pad) + pad
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    f, small = font(14), font(12)
    draw.text((pad, 6), result.summary[:110], fill="black", font=small)
    for c, title in enumerate(("sighting", "suspect", "in the disguise")):
        draw.text((pad + c * (tile + pad), head - 18), title, fill="gray", font=small)
    sighting = Image.fromarray(result.sighting).resize((tile, tile), Image.Resampling.LANCZOS)
    for r, s in enumerate(rows):
        y = head + r * (tile + pad)
        for c, img in enumerate((sighting, Image.fromarray(s.face), Image.fromarray(s.disguised))):
            if not isinstance(img, Image.Image) or img.size != (tile, tile):
                img = img.resize((tile, tile), Image.Resampling.LANCZOS)
            sheet.paste(img, (pad + c * (tile + pad), y))
        x = 3 * (tile + pad) + pad
        verdict = "recognised" if s.recognised else "not recognised"
        draw.text((x, y + 4), f"{r + 1}. {s.name}"[:34], fill="black", font=f)
        draw.text((x, y + 24), f"similarity {s.similarity:.3f}", fill="black", font=small)
        draw.text((x, y + 40), verdict, fill=(0, 120, 0) if s.recognised else (170, 0, 0), font=small)
        labels = s.difference_labels or ["no disguise difference"]
        line, yy = "", y + 60
        for lab in labels:
            piece = (", " if line else "") + lab
            if len(line + piece) > 38:
                draw.text((x, yy), line + ",", fill="black", font=small)
                line, yy = lab, yy + 16
            else:
                line += piece
        if line:
            draw.text((x, yy), line, fill="black", font=small)
    return sheet
