"""The slider recipe: every step from a trained VAE to its bank, with no person in the loop.

1. the seed's bank (difference of means) and the effects, from the training faces;
2. each slider's direction and strength calibrated by the *chooser* on validation faces, within
   reach and leaving the background be, then each slider held by the others;
3. learned edits for the sliders that still miss the bar, fitted to the *guide*'s reading and
   adopted only where they improve the slider on validation faces, then held;
4. rows per hair state and Blurry's row from each face's picture, where they beat the shared row;
5. each slider's length, so that its range reads well both ways (``disguise.sliders.scale``);
6. a row below 0 where the effect row takes the attribute away better (``removal_choice``).

The guide and the chooser are trained on different people (``disguise.data.people``); the judge
takes no part. Each step's result is written into a work folder as it is made, so a stopped run
picks up where it was. ``train.vectors`` runs single steps; ``train.recipe`` all.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from ..attributes import DRAWN
from ..classifier.model import AttributeClassifier
from ..files import atomic_write, read_safetensors, write_safetensors
from ..vae.model import VAE
from .bank import AttributeBank
from .calibration import (
    BLURS,
    END,
    LADDER,
    REACH,
    Choice,
    calibrate,
    calibrate_pictures,
    typical_distance,
    within_limits,
)
from .editor import Editor
from .effects import RIDGE, CodeMoments, EffectFit, code_moments, effect_bank, effects_of
from .hair_choice import choose_hair_rows
from .hair_rows import STATES, HairRows
from .holding import Compensation, compensate, seen_by
from .learned import BACKDROP, FACES, LEARN_STEPS, learn_directions
from .means import BATCH_SIZE, MAX_POSITIVES, THRESHOLD, build_bank, labelled_batches
from .measure import QualityBar, edit_success
from .picture_rows import PICTURE_SLIDERS
from .removal_choice import choose_removal_rows
from .scale import SCALES, choose_scales

Log = Callable[[str], None]


@dataclass
class SliderSettings:
    """How the sliders are made (the recipe records them with the run).

    Attributes:
        calibration_faces: validation faces per attribute the chooser reads at each strength.
        ladder: the strengths tried, in multiples of a direction's natural length.
        reach: the longest end edit, in median distances between two faces' codes.
        hold_rounds: rounds in which each slider learns to hold what it flips (0: none).
        hold_faces: validation faces per attribute for holding.
        learn_keeps: the weight of keeping the other attributes, one learned candidate each, for
            the sliders that miss the bar on validation faces (empty: no learned edits).
        learn_backdrop: the weight of keeping the background in a learned edit.
        learn_steps: optimiser steps per learned edit.
        learn_faces: training faces a learned edit is fitted on.
        hair_keeps: the keep weights of the learned candidates for the rows per hair state
            (empty: those rows are chosen among the shared row and the link alone).
        blurs: Blurry's blurs at the slider's end, px of the aligned frame.
        scales: the multiples of each slider's length tried for its range, adding and removing
            (empty: each keeps the length calibration gave it).
        removal_scales: the multiples of a slider's own rows and of its effect row tried as its
            row below 0 (empty: one row serves both halves of every slider).
        batch_size: faces encoded at once; it also sets how many faces each of the seed's means
            averages before its stopping rule looks.
        seed: which faces are drawn where a step samples them.
    """

    calibration_faces: int = 200
    ladder: tuple[float, ...] = LADDER
    reach: float = REACH
    hold_rounds: int = 3
    hold_faces: int = 150
    learn_keeps: tuple[float, ...] = (1.0, 4.0)
    learn_backdrop: float = BACKDROP
    learn_steps: int = LEARN_STEPS
    learn_faces: int = FACES
    hair_keeps: tuple[float, ...] = (2.0,)
    blurs: tuple[float, ...] = BLURS
    scales: tuple[float, ...] = SCALES
    removal_scales: tuple[float, ...] = SCALES
    batch_size: int = BATCH_SIZE
    seed: int = 0

    def __post_init__(self) -> None:
        self.ladder, self.learn_keeps, self.hair_keeps, self.blurs, self.scales, self.removal_scales = (
            tuple(float(v) for v in values)
            for values in (self.ladder, self.learn_keeps, self.hair_keeps, self.blurs, self.scales,
                           self.removal_scales))
        counts = (self.calibration_faces, self.hold_faces, self.learn_steps, self.learn_faces, self.batch_size)
        if min(counts) < 1 or self.hold_rounds < 0:
            raise ValueError("the sliders' face counts, steps and batch size must be at least 1, and hold_rounds "
                             "not negative")
        for name, scales in (("scales", self.scales), ("removal_scales", self.removal_scales)):
            if min(scales, default=1.0) <= 0 or (scales and 1.0 not in scales):
                raise ValueError(f"{name} are positive multiples that include 1, got {list(scales)}")
        if not self.ladder or min(self.ladder) <= 0 or not self.reach > 0:
            raise ValueError("the ladder needs positive strengths and the reach must be positive")
        if min((*self.learn_keeps, *self.hair_keeps, self.learn_backdrop), default=0) < 0:
            raise ValueError("the learned edits' keep and backdrop weights must not be negative")


@dataclass
class Faces:
    """Model-sized uint8 faces ``(N, S, S, 3)`` and their +1/-1 labels ``(N, 40)``."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


# ----------------------------------------------------------------------------------------------
# The steps, each on its own (``train.vectors`` runs them one at a time)


def seed_bank(model: VAE, train: Faces, settings: SliderSettings, device: torch.device, progress: bool = True
              ) -> AttributeBank:
    """The seed's bank: difference of means, unit rows, one pass over ``train``
    (``disguise.sliders.means``)."""
    batches = labelled_batches(train.images, train.labels, settings.batch_size, settings.seed)
    return build_bank(model, batches, threshold=THRESHOLD, max_positives=MAX_POSITIVES, device=device,
                      progress=progress, total=-(-len(train) // settings.batch_size))


def moments(model: VAE, train: Faces, settings: SliderSettings, device: torch.device, progress: bool = True
            ) -> CodeMoments:
    """The sums the effects are solved from (``disguise.sliders.effects``), one pass over ``train``."""
    batches = labelled_batches(train.images, train.labels, settings.batch_size, settings.seed)
    return code_moments(model, batches, device, progress, total=-(-len(train) // settings.batch_size))


def calibrated(editor: Editor, chooser: AttributeClassifier, candidates: dict[str, AttributeBank], valid: Faces,
               attributes: Sequence[str], settings: SliderSettings, progress: bool = True, log: Log = print
               ) -> tuple[AttributeBank, list[Choice]]:
    """``calibrate`` with the settings, a line per slider in ``log``."""
    bank, choices = calibrate(editor, chooser, candidates, valid.images, valid.labels, attributes,
                              ladder=settings.ladder, max_faces=settings.calibration_faces, reach=settings.reach,
                              progress=progress)
    for c in choices:
        log(f"  {c.attribute:20s} {c.describe()}")
        if c.refused:
            log(f"  {'':20s} refused (too long, or repaints the background): {c.refused.describe()}")
    return bank, choices


def held(bank: AttributeBank, editor: Editor, chooser: AttributeClassifier, valid: Faces, attributes: Sequence[str],
         settings: SliderSettings, progress: bool = True, log: Log = print
         ) -> tuple[AttributeBank, list[Compensation]]:
    """Each of ``attributes`` held by the other sliders against what it flips, on validation faces
    (``disguise.sliders.holding``), within the calibration's limits."""
    if settings.hold_rounds == 0:
        return bank, []
    allowed = within_limits(editor, settings.reach * typical_distance(editor, valid.images))
    bank, holds = compensate(bank, seen_by(editor, chooser), lambda rows: editor.encode(valid.images[rows]),
                             valid.labels, attributes, rounds=settings.hold_rounds, faces=settings.hold_faces,
                             seed=settings.seed, progress=progress, allowed=allowed)
    for h in holds:
        if h.steps:
            log(f"  {h.attribute:20s} {h.describe()}")
    return bank, holds


def at_the_bar(measured: Sequence[tuple[str, float, float]], bar: QualityBar | None = None) -> tuple[list[str], str]:
    """Of ``(attribute, success, kept)`` on validation faces, those that miss ``bar`` (the demo
    weights' bar), and a line saying how many reach it."""
    bar = bar or QualityBar()
    misses = [a for a, s, k in measured if not bar.reached(s, k)]
    return misses, (f"{len(measured) - len(misses)} of {len(measured)} reach {bar.success:.0%} seen with "
                    f"{bar.preserve:.0%} kept at their end on the validation faces")


def learned(model: VAE, guide: AttributeClassifier, codes: torch.Tensor, labels: np.ndarray, start: AttributeBank,
            attributes: Sequence[str], keeps: Sequence[float], backdrop: float, settings: SliderSettings,
            checkpoints: Path | None, progress: bool = True, log: Log = print) -> Iterator[tuple[str, AttributeBank]]:
    """``(name, bank)`` per keep weight: ``attributes``' edits learned through the decoder on up to
    ``learn_faces`` of the faces ``codes`` from ``start``'s rows (``disguise.sliders.learned``),
    each kept in ``checkpoints`` as soon as it is learned."""
    rows = np.sort(np.random.default_rng(settings.seed).permutation(len(codes))[:settings.learn_faces])
    for keep in keeps:
        began = time.perf_counter()
        bank, edits = learn_directions(model, guide, codes[rows].clone(), np.asarray(labels)[rows], start, attributes,
                                       steps=settings.learn_steps, keep=keep, backdrop=backdrop, seed=settings.seed,
                                       progress=progress, checkpoints=checkpoints)
        resumed = sum(g.resumed for g in edits)
        setting = f"keep {keep:g}" + (f", backdrop {backdrop:g}" if backdrop else "")
        log(f"learned {len(edits) - resumed} edits through the decoder ({setting}; {resumed} more from the cache) "
            f"in {time.perf_counter() - began:.0f} s")
        yield f"learned (keep {keep:g}" + (f", backdrop {backdrop:g})" if backdrop else ")"), bank


def hair_rows(editor: Editor, chooser: AttributeClassifier, guide: AttributeClassifier | None, base: AttributeBank,
              fit: EffectFit, valid: Faces, codes: torch.Tensor, train_labels: np.ndarray, attributes: Sequence[str],
              settings: SliderSettings, checkpoints: Path | None, progress: bool = True, log: Log = print
              ) -> AttributeBank:
    """``base`` with rows per hair state for ``attributes`` where they beat the shared row on
    validation faces in that state (``disguise.sliders.hair_choice``); the base's rows of other
    sliders stay."""
    plain = Editor(editor.model, replace(base, hair_rows=None), editor.device)
    learn = None
    if guide is not None and settings.hair_keeps:
        def learn(state_codes, state_labels, start, names):
            return dict(learned(editor.model, guide, state_codes, state_labels, start, names, settings.hair_keeps,
                                settings.learn_backdrop, settings, checkpoints, progress, log))
    chosen, measured, accuracy = choose_hair_rows(plain, chooser, base, fit, valid.images, valid.labels, codes,
                                                  train_labels, attributes, learn, max_faces=settings.calibration_faces,
                                                  reach=settings.reach, progress=progress)
    log(f"the gate reads the hair state of {accuracy:.1%} of the validation faces from their codes")
    for v in measured:
        log(f"  {v.describe()}")
    log(f"{len(chosen.by_state)} hair rows adopted")
    if base.hair_rows is not None:  # the base's hair rows of the sliders not asked for stay
        chosen = base.hair_rows.updated(chosen, attributes)
    return replace(base, hair_rows=chosen)


def picture_rows(editor: Editor, chooser: AttributeClassifier, base: AttributeBank, valid: Faces,
                 attributes: Sequence[str], settings: SliderSettings, progress: bool = True, log: Log = print
                 ) -> AttributeBank:
    """``base`` with its picture sliders made from each face's picture where that beats the
    shared row on validation faces (``disguise.sliders.calibration.calibrate_pictures``)."""
    plain = Editor(editor.model, replace(base, picture_rows=None), editor.device)
    chosen, measured = calibrate_pictures(plain, chooser, valid.images, valid.labels, attributes, settings.blurs,
                                          max_faces=settings.calibration_faces, reach=settings.reach,
                                          progress=progress)
    for m in measured:
        for sigma, c in m.ladder.items():
            log(f"  {m.attribute:20s} blurred by {sigma:g} px {c.measures()}")
        log(f"  {m.describe()}")
    log(f"{len(chosen.blur) if chosen else 0} picture sliders adopted")
    return replace(base, picture_rows=chosen)


def scaled_rows(bank: AttributeBank, editor: Editor, chooser: AttributeClassifier, valid: Faces,
                attributes: Sequence[str], settings: SliderSettings, progress: bool = True, log: Log = print
                ) -> AttributeBank:
    """``bank`` with each slider's length chosen for its range both ways (``disguise.sliders.scale``)."""
    if not settings.scales:
        return bank
    trial = Editor(editor.model, bank, editor.device)
    limit = settings.reach * typical_distance(trial, valid.images)
    bank, chosen = choose_scales(trial, chooser, valid.images, valid.labels, attributes, limit,
                                 scales=settings.scales, max_faces=settings.calibration_faces, progress=progress)
    for c in chosen:
        log(f"  {c.attribute:20s} range {c.describe()}")
    log(f"{sum(c.scale != 1.0 for c in chosen)} sliders rescaled for their range")
    return bank


def removal_rows(bank: AttributeBank, editor: Editor, chooser: AttributeClassifier, effect: AttributeBank,
                 valid: Faces, attributes: Sequence[str], settings: SliderSettings, progress: bool = True,
                 log: Log = print) -> AttributeBank:
    """``bank`` with a row below 0 for each of ``attributes`` whose own rows take it away worse
    than its effect row does on validation faces (``disguise.sliders.removal_choice``)."""
    if not settings.removal_scales:
        return bank
    trial = Editor(editor.model, bank, editor.device)
    limit = settings.reach * typical_distance(trial, valid.images)
    bank, chosen = choose_removal_rows(trial, chooser, effect, valid.images, valid.labels, attributes, limit,
                                       scales=settings.removal_scales, max_faces=settings.calibration_faces,
                                       progress=progress)
    for c in chosen:
        log(f"  {c.attribute:20s} below 0: {c.describe()}")
    log(f"{sum(not c.own for c in chosen)} sliders given a row of their own below 0")
    return bank


def encode_all(editor: Editor, faces: Faces, batch_size: int) -> torch.Tensor:
    """The codes of every face, ``(N, z)``."""
    return torch.cat([editor.encode(np.asarray(faces.images[i:i + batch_size]))
                      for i in range(0, len(faces), batch_size)])


# ----------------------------------------------------------------------------------------------
# All of it, resumable


@dataclass
class SliderReport:
    """What the recipe made and measured: per slider the chooser's validation reading at its end
    after each step (``(success, kept)``), the sliders rebuilt with learned edits, and the time
    of each step."""

    calibrated: dict[str, tuple[float, float]] = field(default_factory=dict)
    rebuilt: list[str] = field(default_factory=list)
    final: dict[str, tuple[float, float]] = field(default_factory=dict)
    hair_rows: list[str] = field(default_factory=list)
    picture_rows: list[str] = field(default_factory=list)
    removal_rows: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


STEPS = ("seed", "effects", "calibrated", "rebuilt", "hair", "pictured", "scaled", "removals")
"""``make_sliders``' steps, in order; each keeps its result in the work folder (``_file``)."""


def _file(step: str) -> str:
    return f"{'moments' if step == 'effects' else step}.safetensors"  # the effects: the sums they are solved from


def finished_steps(work: str | Path) -> list[str]:
    """The steps whose results the work folder ``work`` holds (a later call reads them back)."""
    return [s for s in STEPS if (Path(work) / _file(s)).is_file()]


def saved_moments(work: str | Path) -> CodeMoments | None:
    """The training codes' moments the effects were solved from, as the work folder ``work``
    keeps them (None before that step)."""
    path = Path(work) / _file("effects")
    if not path.is_file():
        return None
    tensors = read_safetensors(path)[0]
    return CodeMoments(tensors["xtx"], tensors["xtz"], None)


class _Work:
    """The work folder: each step's bank and report, written as it is finished."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def bank(self, name: str, z_dim: int) -> AttributeBank | None:
        path = self.folder / _file(name)
        return AttributeBank.load(path, z_dim=z_dim) if path.is_file() else None

    def report(self) -> SliderReport:
        path = self.folder / "report.json"
        if not path.is_file():
            return SliderReport()
        raw = json.loads(path.read_text())
        if "pictured" in raw:  # a report.json written before the picture rows had that name
            raw["picture_rows"] = raw.pop("pictured")
        return SliderReport(**{k: ({a: tuple(v) for a, v in raw[k].items()} if k in ("calibrated", "final") else raw[k])
                               for k in raw})

    def made(self, name: str, z_dim: int, make: Callable[[], AttributeBank], report: SliderReport
             ) -> tuple[AttributeBank, bool]:
        """Step ``name``'s bank and whether it was made now: read back when it was made already,
        else made, kept and timed."""
        done = self.bank(name, z_dim)
        if done is not None:
            return done, False
        began = time.perf_counter()
        bank = make()
        bank.save(self.folder / _file(name))
        report.seconds[name] = round(time.perf_counter() - began, 1)
        self.save_report(report)
        return bank, True

    def moments(self, make: Callable[[], CodeMoments], report: SliderReport) -> tuple[CodeMoments, bool]:
        """The training codes' moments the effects are fitted from, and whether they were made
        now: read back, or made and kept."""
        saved = saved_moments(self.folder)
        if saved is not None:
            return saved, False
        began = time.perf_counter()
        m = make()
        write_safetensors(self.folder / _file("effects"), {"xtx": m.xtx, "xtz": m.xtz})
        report.seconds["effects"] = round(time.perf_counter() - began, 1)
        self.save_report(report)
        return m, True

    def save_report(self, report: SliderReport) -> None:
        atomic_write(self.folder / "report.json", lambda p: p.write_text(json.dumps(asdict(report), indent=1)))


def make_sliders(model: VAE, guide: AttributeClassifier, chooser: AttributeClassifier, train: Faces, valid: Faces,
                 work: str | Path, settings: SliderSettings | None = None, device: str | torch.device = "cpu",
                 progress: bool = True, log: Log = print,
                 step: Callable[[str, bool], None] = lambda name, now: None
                 ) -> tuple[AttributeBank, AttributeBank, SliderReport]:
    """The whole recipe (module docstring): ``(bank, seed's bank, report)``. Each step's result
    is kept in ``work``; called again with the same inputs, finished steps are read back, not
    redone. ``step(name, now)`` is called as each step finishes, ``now`` false where it was
    read back (for a progress bar)."""
    settings = settings or SliderSettings()
    device = torch.device(device)
    work_ = _Work(Path(work))
    z_dim = model.config.z_dim
    report = work_.report()
    attributes = list(DRAWN)
    bar = QualityBar()

    def timed(name: str, make: Callable[[], AttributeBank]) -> AttributeBank:
        bank, now = work_.made(name, z_dim, make, report)
        step(name, now)
        return bank

    seed = timed("seed", lambda: seed_bank(model, train, settings, device, progress))
    sums, now = work_.moments(lambda: moments(model, train, settings, device, progress), report)
    fit = effects_of(sums, RIDGE)
    step("effects", now)
    effect = effect_bank(fit, batches=-(-len(train) // settings.batch_size))
    editor = Editor(model, seed, device)

    def first_pass() -> AttributeBank:
        log("calibration: the effect and the seed's row, chosen by the chooser on validation faces")
        bank, choices = calibrated(editor, chooser, {"effect": effect, "seed": seed}, valid, attributes, settings,
                                   progress, log)
        bank, holds = held(bank, editor, chooser, valid, attributes, settings, progress, log)
        report.calibrated = _after(choices, holds)
        return bank

    base = timed("calibrated", first_pass)
    misses, line = at_the_bar([(a, *report.calibrated[a]) for a in attributes], bar)
    log(line + (f"; the others: {', '.join(misses)}" if misses else ""))
    codes = None

    def train_codes() -> torch.Tensor:
        nonlocal codes
        if codes is None:
            codes = encode_all(editor, train, settings.batch_size).to(device)
        return codes

    def second_pass() -> AttributeBank:
        if not misses or not settings.learn_keeps:
            return base
        log(f"learned edits for the {len(misses)} sliders that miss the bar on validation faces")
        candidates = {"effect": effect, "seed": seed, "base": base}
        candidates.update(learned(model, guide, train_codes(), train.labels, effect, misses, settings.learn_keeps,
                                  settings.learn_backdrop, settings, work_.folder / "learned", progress, log))
        bank, choices = calibrated(editor, chooser, candidates, valid, misses, settings, progress, log)
        bank = base.with_rows(bank, misses)
        bank, holds = held(bank, editor, chooser, valid, misses, settings, progress, log)
        report.rebuilt = misses
        report.calibrated.update({f"{a} (rebuilt)": v for a, v in _after(choices, holds).items()})
        return bank

    rebuilt = timed("rebuilt", second_pass)
    hair = [a for a in STATES if a in attributes]
    with_hair = timed("hair", lambda: hair_rows(editor, chooser, guide, rebuilt, fit, valid, train_codes(),
                                                train.labels, hair, settings, work_.folder / "learned",
                                                progress, log))
    # The steps' names are the work folder's file names (hair.safetensors, pictured.safetensors, ...):
    # they stay as they are, so that a work folder already begun resumes.
    with_pictures = timed("pictured", lambda: picture_rows(editor, chooser, with_hair, valid,
                                                           [a for a in PICTURE_SLIDERS if a in attributes], settings,
                                                           progress, log))
    scaled = timed("scaled", lambda: scaled_rows(with_pictures, editor, chooser, valid, attributes, settings,
                                                 progress, log))
    final = timed("removals", lambda: removal_rows(scaled, editor, chooser, effect, valid, attributes, settings,
                                                   progress, log))
    _close(report, final, editor, chooser, valid, attributes, settings)
    work_.save_report(report)
    return final, seed, report


def _close(report: SliderReport, final: AttributeBank, editor: Editor, chooser: AttributeClassifier, valid: Faces,
           attributes: Sequence[str], settings: SliderSettings) -> None:
    """``report`` with the final bank's reading and the rows it holds: the adds' reading once (the
    rows below 0 do not change it), the rows below 0 always (a step added after a run finished)."""
    if not report.final:
        report.final = _validation_reading(final, editor, chooser, valid, attributes, settings)
        report.hair_rows = final.hair_rows.describe() if isinstance(final.hair_rows, HairRows) else []
        report.picture_rows = final.picture_rows.describe() if final.picture_rows else []
    report.removal_rows = final.removal_rows.describe() if final.removal_rows else []


def _after(choices: Sequence[Choice], holds: Sequence[Compensation]) -> dict[str, tuple[float, float]]:
    """Each slider's validation (success, kept) at its end: after holding where it was held."""
    out = {c.attribute: (c.success, c.kept) for c in choices}
    out.update({h.attribute: h.after for h in holds})
    return out


def _validation_reading(bank: AttributeBank, editor: Editor, chooser: AttributeClassifier, valid: Faces,
                        attributes: Sequence[str], settings: SliderSettings) -> dict[str, tuple[float, float]]:
    """The chooser's reading of the final bank's adds at the slider's end on validation faces."""
    final = Editor(editor.model, bank, editor.device)
    edits = edit_success(final, chooser, valid.images, valid.labels, attributes, (END,),
                         max_faces=settings.calibration_faces, progress=False, directions=("add",))
    return {e.attribute: (e.success[-1], e.preserved[-1]) for e in edits}
