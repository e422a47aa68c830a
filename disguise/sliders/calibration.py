"""Each slider's direction and scale, chosen on validation faces: where its end should be.

A linear edit has a best strength: too little and the attribute does not show; too much and the
code leaves the region the decoder learned, the other attributes drift, some attributes even fade
again. That strength differs from attribute to attribute, so one shared range cannot suit all.
For each attribute, on *validation* faces that lack it (the test split stays unseen), the chooser
measures candidate directions at a ladder of strengths, scored ``min(success, kept)``. An edit
must stay within ``REACH`` times the median distance between two faces' codes (further, the
decoder draws a stranger or no face) and must leave the background be (``disguise.backdrop``):
the chooser looks at neither. The best edit within both becomes the slider, scaled so that alpha =
``END`` is that strength. ``calibrate_pictures`` does the same for a slider of the picture
(Blurry, ``disguise.sliders.picture_rows``) over a ladder of blurs (``BLURS``), adopted where it
beats the shared row by ``GAIN``. How and why, with figures: docs/sliders.md ("Calibration").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import backdrop
from ..attributes import ATTRIBUTES, DRAWN, INDEX
from ..classifier.model import AttributeClassifier
from .bank import AttributeBank
from .editor import Editor
from .measure import edit_success
from .picture_rows import PICTURE_SLIDERS, PictureRows

END = 4.0  # the sliders span -END .. END
REACH = 2.0  # an end edit at most this many typical distances between two faces' codes long
LADDER = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)  # multiples of the natural length
BLURS = (2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0)  # a picture slider's blurs at its end, px of the aligned
# frame (the synthetic set's Blurry photos: 1.8 to 2.6)
GAIN = 0.05  # how much better than the shared row (min of success and kept) a face's own row must score


@dataclass
class Choice:
    """One attribute's slider: ``source`` bank, ``multiple`` of its natural length at the end, and
    the validation ``success`` / ``kept`` there."""

    attribute: str
    source: str
    multiple: float
    success: float
    kept: float
    refused: "Choice | None" = None  # a better-scoring edit refused (beyond reach or repainting), if any
    length: float = 0.0  # the end edit's length in code units
    backdrop: float = 0.0  # the end edit's mean change of the backdrop (disguise.backdrop)

    def allowed(self, reach: float, wall: float) -> bool:
        """Whether this edit is at most ``reach`` code units long and changes the backdrop by at
        most ``wall``."""
        return self.length <= reach and self.backdrop <= wall

    def describe(self) -> str:
        """Its source and scale and how it fared, for a log line."""
        return f"{self.source} x{self.multiple:g} {self.measures()}"

    def measures(self) -> str:
        """How it fared, in brackets."""
        return (f"({self.success:.0%} seen, {self.kept:.0%} kept, {self.length:.1f} code units, "
                f"backdrop {self.backdrop:.3f})")


def natural(bank: AttributeBank) -> torch.Tensor:
    """``bank``'s rows at their natural length: the effect as fitted, the seed's unit vectors
    times the distance between the class means (``raw_norm``)."""
    if bank.method == "seed":
        return bank.vectors * torch.tensor([r.raw_norm for r in bank.records])[:, None]
    return bank.vectors.clone()


def calibrate(editor: Editor, chooser: AttributeClassifier, candidates: dict[str, AttributeBank],
              images: np.ndarray, labels: np.ndarray, attributes: Sequence[str] = DRAWN,
              ladder: Sequence[float] = LADDER, max_faces: int = 100, reach: float = REACH,
              wall: float = backdrop.LIMIT, progress: bool = True, distance: float | None = None
              ) -> tuple[AttributeBank, list[Choice]]:
    """Measure every candidate bank's add at each multiple of ``ladder`` on ``images`` (validation
    faces) and build the bank of the best choices within ``reach`` that change the backdrop by at
    most ``wall`` (see the module docstring; ``distance``: the typical distance between two faces'
    codes, when ``images`` are a few alike faces and it was measured on all).
    Attributes outside ``attributes`` (not drawn, so not judged) keep the first candidate's row at
    its natural length. The candidates' rows are measured as they are, without hair rows or
    picture rows."""
    lengths = {source: natural(bank) for source, bank in candidates.items()}
    first = next(iter(candidates))
    limit = reach * (distance if distance is not None else typical_distance(editor, images))
    best: dict[str, Choice] = {}
    beyond: dict[str, Choice] = {}
    for source, bank in candidates.items():
        trial = Editor(editor.model, replace(bank, vectors=lengths[source], hair_rows=None, picture_rows=None),
                       editor.device)
        for e in edit_success(trial, chooser, images, labels, attributes, ladder, max_faces=max_faces,
                              progress=progress, directions=("add",)):
            norm = float(lengths[source][INDEX[e.attribute]].norm())
            for m, s, p, b in zip(e.alphas, e.success, e.preserved, e.backdrop):
                here = Choice(e.attribute, source, m, s, p, length=m * norm, backdrop=b)
                pool = best if here.allowed(limit, wall) else beyond
                if e.attribute not in pool or _better(here, pool[e.attribute]):
                    pool[e.attribute] = here
    for name, far in beyond.items():
        if name not in best:  # nothing allowed at all (its note gives the length and the backdrop)
            best[name] = far
        elif _better(far, best[name]):
            best[name] = replace(best[name], refused=far)
    vectors, records = [], []
    for i, name in enumerate(ATTRIBUTES):
        c = best.get(name)
        if c is None:
            v, rec = lengths[first][i], candidates[first].records[i]
        else:
            v, rec = lengths[c.source][i] * (c.multiple / END), candidates[c.source].records[i]
        vectors.append(v)
        records.append(replace(rec, method="calibrated", scale=float(v.norm()),
                               note=_note(c) if c else "not judged: natural length"))
    return AttributeBank(ATTRIBUTES, torch.stack(vectors).float(), records), [best[a] for a in attributes if a in best]


@dataclass
class PictureChoice:
    """A picture slider's best blur on validation faces (``choice``; ``None`` when every blur was
    too long or repainted the background), the shared row's success and kept at the slider's end
    on the same faces, and whether the blur became the slider."""

    attribute: str
    blur: float
    choice: Choice | None
    shared: tuple[float, float]
    adopted: bool
    ladder: dict[float, Choice] = field(default_factory=dict)  # every blur measured

    def describe(self) -> str:
        verdict = "adopted" if self.adopted else "not adopted"
        best = (f"its picture blurred by {self.blur:g} px {self.choice.measures()}" if self.choice
                else "no blur within the limits")
        return (f"{self.attribute}: {best}; the shared row {self.shared[0]:.0%} seen, "
                f"{self.shared[1]:.0%} kept: {verdict}")


def calibrate_pictures(editor: Editor, chooser: AttributeClassifier, images: np.ndarray, labels: np.ndarray,
                       attributes: Sequence[str] = PICTURE_SLIDERS, ladder: Sequence[float] = BLURS,
                       max_faces: int = 100, reach: float = REACH, wall: float = backdrop.LIMIT,
                       gain: float = GAIN, progress: bool = True
                       ) -> tuple[PictureRows | None, list[PictureChoice]]:
    """The picture sliders (module docstring) for ``editor``'s bank, measured at the slider's end
    on ``images`` (validation faces) at each blur of ``ladder``: the ones adopted (``None`` if
    none) and every slider's measurements."""
    unknown = [a for a in attributes if a not in PICTURE_SLIDERS]
    if unknown:
        raise ValueError(f"only {', '.join(PICTURE_SLIDERS)} can be made from the picture, not {', '.join(unknown)}")
    labels = np.asarray(labels)
    plain = Editor(editor.model, replace(editor.bank, picture_rows=None), editor.device)
    limit = reach * typical_distance(plain, images)

    def at_end(trial: Editor, name: str):
        return edit_success(trial, chooser, images, labels, [name], (END,), max_faces=max_faces, progress=False,
                            directions=("add",))[0]

    blurs, notes, measured = {}, {}, []
    for name in attributes:
        today = at_end(plain, name)
        lacking = np.flatnonzero(labels[:, INDEX[name]] != 1)[:max_faces]
        z = plain.encode(images[lacking])
        best, blur, ladder_measured = None, float("nan"), {}
        for sigma in tqdm(ladder, desc=f"{name}: blurs", leave=False, disable=not progress):
            picture_rows = PictureRows({name: float(sigma)}, END)
            trial = Editor(editor.model, replace(editor.bank, picture_rows=picture_rows), editor.device)
            e = at_end(trial, name)
            length = float((END * picture_rows.rows(z, editor.model)[:, 0]).norm(dim=1).mean())
            here = Choice(name, "picture", 1.0, e.success[0], e.preserved[0],
                          length=length, backdrop=e.backdrop[0])
            ladder_measured[float(sigma)] = here
            if here.allowed(limit, wall) and (best is None or _better(here, best)):
                best, blur = here, float(sigma)
        shared = (today.success[0], today.preserved[0])
        adopted = best is not None and min(best.success, best.kept) >= min(shared) + gain
        measured.append(PictureChoice(name, blur, best, shared, adopted, ladder_measured))
        if adopted:
            blurs[name] = blur
            notes[name] = (f"validation: {best.success:.0%} seen, {best.kept:.0%} kept, {best.length:.1f} code "
                           f"units, backdrop changed {best.backdrop:.3f}; the shared row {shared[0]:.0%} seen")
    return (PictureRows(blurs, END, notes) if blurs else None), measured


def within_limits(editor: Editor, reach: float, wall: float = backdrop.LIMIT):
    """``allowed(z, u)``: whether the end edit ``u`` on codes ``z`` is at most ``reach`` code units
    long and changes the backdrop of their pictures by at most ``wall`` on average (the
    calibration's rule, for ``compensation.compensate``)."""
    def allowed(z: torch.Tensor, u: torch.Tensor) -> bool:
        if float(u.norm()) > reach:
            return False
        return float(backdrop.change(editor.decode_float(z), editor.decode_float(z + u)).mean()) <= wall
    return allowed


def typical_distance(editor: Editor, images: np.ndarray, faces: int = 500) -> float:
    """The median distance between the codes of two of ``images`` (the first ``faces``)."""
    z = editor.encode(images[:faces]).float()
    if len(z) < 2:
        raise ValueError("calibration needs at least two validation faces")
    d = torch.cdist(z, z)
    return float(d[torch.triu_indices(len(z), len(z), 1).unbind()].median())


def _better(a: Choice, b: Choice) -> bool:
    """Higher min(success, kept); on a tie, more success (so an attribute the chooser never sees at
    any strength is left at its strongest showing, not at its weakest)."""
    return (min(a.success, a.kept), a.success) > (min(b.success, b.kept), b.success)


def _note(c: Choice) -> str:
    return (f"{c.source} direction, alpha {END:g} = {c.multiple:g} x its natural length, "
            f"{c.length:.1f} code units (validation: {c.success:.0%} seen, {c.kept:.0%} kept, "
            f"backdrop changed {c.backdrop:.3f})")
