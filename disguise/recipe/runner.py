"""The recipe, start to end: check the data, print the plan, run each stage not yet done with a
progress bar, record it, and sum up.

Stages run in order; each records a key (``disguise.recipe.ledger``) made of the settings that
shape it and the keys of the stages it is made from. Run again, the recipe skips the stages whose
key is the one recorded, resumes the one it was in (its own checkpoints), and refuses, naming
them, to redo finished stages whose settings changed unless asked to (``redo``). One recipe at a
time may use a run folder (a lock held while it runs, let go however the process ends).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.celeba import open_celeba
from ..files import cache_root
from ..vae.model import VAE
from ..vae.onnx_decoder import weights_digest
from . import stages as S
from .card import model_card, upload_set, write_card
from .estimate import probe, stage_seconds
from .ledger import Ledger, RecipeError, changed, data_digest, digest
from .progress import StageBar
from .settings import RecipeSettings


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    after: tuple[str, ...]  # the stages it is made from
    make: Callable[[S.Context], S.Made]
    units: Callable[[S.Context], int]  # its progress bar's length
    done: Callable[[S.Context], int] = lambda ctx: 0  # of those, what an earlier run had done


STAGES = (
    Stage("vae", "the VAE", (), S.train_vae, S.vae_steps, S.vae_done),
    Stage("classifiers", "the guide, the chooser and the judge (on different people)", ("vae",), S.train_classifiers,
          S.classifier_steps, S.classifiers_done),
    Stage("identity", "the identity model", (), S.train_identity_model, S.identity_steps, S.identity_done),
    Stage("sliders", "the sliders (chosen on validation faces)", ("vae", "classifiers"), S.make_bank,
          lambda ctx: sum(S.SLIDER_STEPS.values()), S.sliders_done),
    Stage("evaluation", "the evaluation by the judge", ("vae", "classifiers", "identity", "sliders"), S.evaluate,
          lambda ctx: 1),
    Stage("app_files", "the face space and the page's decoder", ("vae",), S.app_files, lambda ctx: 2),
    Stage("card", "the atlas and the model card", ("vae", "classifiers", "identity", "sliders", "evaluation",
                                                    "app_files"), None, lambda ctx: 1),  # type: ignore[arg-type]
)
NAMES = tuple(s.name for s in STAGES)
LOCK = ".recipe.lock"
MIN_FACES = {"train": 96, "valid": 16, "test": 16}  # the VAE's batches, three classifiers, the sliders' choice


@dataclass
class Plan:
    """Each stage's key and where it stands: ``done``, ``stale`` (done with other settings, or
    from a stage that is), ``resume`` (was running) or ``to do``; and the reasons for the stale."""

    keys: dict[str, str]
    status: dict[str, str]
    reasons: dict[str, list[str]]


def data_summary(data, root: Path) -> dict:
    counts = {split: int(len(data.indices(split))) for split in ("train", "valid", "test")}
    people = int(len(np.unique(data.identity))) if data.identity is not None else 0
    return {"path": str(root), "kind": data.kind, "faces": int(len(data)), **counts, "people": people,
            "digest": data_digest(data)}


def check_counts(data: dict, settings: RecipeSettings) -> None:
    """Refuse data too small for a stage, saying how many faces it needs."""
    for split, need in MIN_FACES.items():
        have = min(data[split], settings.faces or data[split])
        if have < need:
            raise RecipeError(f"the {split} split has {have} faces; the recipe needs at least {need} there (the VAE's "
                              f"batches and three classifiers on the training faces, the sliders' choice on the "
                              f"validation faces, the judge's grades on the test faces). Nothing was changed.")
    if data["people"] and data["people"] < 3:
        raise RecipeError(f"the data shows {data['people']} people; the guide, the chooser and the judge need three "
                          f"groups of different people. Nothing was changed.")


def plan(ledger: Ledger, settings: RecipeSettings, extra: dict) -> Plan:
    """Keys, statuses and reasons (module docstring); ``extra``: what else shapes a stage (the
    ``--from`` model's digest for the VAE)."""
    keys, status, reasons = {}, {}, {}
    for stage in STAGES:
        mine = {"settings": shaped_by(stage.name, settings, extra), "after": [keys[a] for a in stage.after],
                "data": ledger.data["digest"]}
        keys[stage.name] = digest(mine)
        rec = ledger.stages.get(stage.name)
        if rec is None:
            status[stage.name] = "to do"
        elif rec.key == keys[stage.name]:
            status[stage.name] = "done" if rec.status == "done" else "resume"
        else:
            why = changed(rec.settings, mine["settings"])
            why += [f"made from {a}, which is out of date" for a in stage.after if status[a] in ("stale", "redo")]
            status[stage.name] = "stale" if rec.status == "done" else "redo"
            reasons[stage.name] = why or ["made from another version of a stage before it"]
    return Plan(keys, status, reasons)


def shaped_by(stage: str, settings: RecipeSettings, extra: dict) -> dict:
    """What makes ``stage`` what it is: its settings, or for a VAE taken ``--from`` a model, that
    model's digest (its architecture then is the model's)."""
    shaped = dict(extra[stage]) if stage in extra else settings.for_stage(stage)
    return json.loads(json.dumps(shaped))  # as the record keeps it: lists, not tuples


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the run folder's lock: a second recipe on it is refused while this one runs."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RecipeError(f"another train.recipe is running on {folder}; wait for it, or stop it first") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def check_disk(run: Path, data: dict, settings: RecipeSettings, size: int) -> None:
    """Refuse to start without room for the faces' caches, the reconstructions and the models."""
    faces = min(data["faces"], 3 * settings.faces) if settings.faces else data["faces"]
    side = min(size, 64)
    need_cache = faces * 3 * (size * size + 2 * side * side)  # the model's faces, the classifiers' and identity's
    need_run = data["train"] * 3 * side * side + 200e6  # the reconstructions, checkpoints and models
    for where, need in ((cache_root(), need_cache), (run, need_run)):
        probe_at = Path(where)
        while not probe_at.exists():
            probe_at = probe_at.parent
        free = shutil.disk_usage(probe_at).free
        if free < need:
            raise RecipeError(f"{where} has {free / 1e9:.1f} GB free; the recipe needs about {need / 1e9:.1f} GB there "
                              f"(the decoded faces' caches, the reconstructions, the checkpoints). Free some room and "
                              f"run the same command again. Nothing was changed.")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    return f"cpu ({torch.get_num_threads()} threads)"


def pick(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RecipeError("--device cuda asked for, but no CUDA device is available")
    return torch.device(device)


def run_recipe(data_root: str | os.PathLike, out: str | os.PathLike, settings: RecipeSettings,
               from_model: str | os.PathLike | None = None, device: str = "auto", redo: bool = False,
               push: str | None = None, progress: bool = True, say: Callable[[str], None] = print,
               command: str = "", estimate: bool = True, until: str | None = None,
               vae_trainer: S.VAETrainer | None = None) -> Ledger:
    """Run the recipe from ``data_root`` into ``out`` (module docstring), up to the stage
    ``until`` (default: all); ``vae_trainer``: how a VAE phase is trained (``stages.VAETrainer``).
    Raises ``RecipeError`` (and the data's ``CelebAError``) with what to
    do; nothing finished is lost on any error."""
    if until is not None and until not in NAMES:
        raise RecipeError(f"--until takes one of {', '.join(NAMES)}, not {until!r}")
    run = Path(out)
    dev = pick(device)
    data = open_celeba(data_root)
    info = data_summary(data, Path(data_root))
    check_counts(info, settings)
    extra = {}
    source = Path(from_model) if from_model else None
    if source is not None:
        config = VAE.read_config(source)
        settings = replace(settings, image_size=config.image_size, crop=tuple(config.policy.crop), z_dim=config.z_dim,
                           encoder_filters=tuple(config.encoder_filters), decoder_filters=tuple(config.decoder_filters),
                           dropout=config.dropout)
        extra["vae"] = {"from": weights_digest(source / S.WEIGHTS_NAME)}
    with locked(run):
        ledger = Ledger.open(run, info)
        todo = plan(ledger, settings, extra)
        stale = {k: v for k, v in todo.reasons.items() if todo.status[k] == "stale"}
        if stale and not redo:
            lines = [f"  {k}: {'; '.join(v)}" for k, v in stale.items()]
            raise RecipeError("these finished stages were made with other settings:\n" + "\n".join(lines) +
                              "\npass --redo to make them (and the stages made from them) again, or choose another "
                              "--out. Nothing was changed.")
        check_disk(run, info, settings, settings.image_size)
        busy = any(todo.status[s.name] != "done" for s in STAGES)
        seconds = (stage_seconds(settings, probe(settings, dev), info, data.identity is not None)
                   if estimate and busy else {})
        if source is not None and seconds:
            seconds["vae"] = 0.0
        ctx = S.Context(run, Path(data_root), data, settings, dev, progress, _logger(run), from_model=source,
                        vae_trainer=vae_trainer)
        done = {s.name: min(s.done(ctx) / max(s.units(ctx), 1), 1.0) for s in STAGES if todo.status[s.name] == "resume"}
        seconds = {k: v * (1 - done.get(k, 0.0)) for k, v in seconds.items()}
        last = NAMES.index(until) if until else len(STAGES) - 1
        _say_plan(say, info, run, dev, todo, seconds, source, done, last)
        ledger.command = command or ledger.command
        ledger.save()
        began = time.perf_counter()
        for stage in STAGES[:last + 1]:
            if todo.status[stage.name] == "done":
                continue
            if todo.status[stage.name] in ("stale", "redo"):
                _clear(run, stage.name)
                ledger.forget(stage.name)
            _run_stage(ctx, ledger, stage, todo.keys[stage.name], shaped_by(stage.name, settings, extra), say)
        if push and last == len(STAGES) - 1:
            say(f"pushing {len(upload_set(run))} files to the Hugging Face Hub: {push}")
            say(f"  {push_folder(run, push)}")
        _say_summary(say, ledger, time.perf_counter() - began)
        return ledger


def _run_stage(ctx: S.Context, ledger: Ledger, stage: Stage, key: str, shaped: dict,
               say: Callable[[str], None]) -> None:
    rec = ledger.stages.get(stage.name)
    resuming = rec is not None and rec.status == "running"
    ledger.start(stage.name, key, shaped)
    ctx.log(f"== {stage.name}: {stage.title}" + (" (resumed)" if resuming else ""))
    began = time.perf_counter()
    with tqdm(total=stage.units(ctx), desc=f"{NAMES.index(stage.name) + 1}/{len(STAGES)} {stage.name}",
              unit="step", disable=not ctx.progress, dynamic_ncols=True) as bar:
        ctx.bar = StageBar(bar)
        made = stage.make(ctx) if stage.make is not None else _card(ctx, ledger)
        bar.update(max(bar.total - bar.n, 0))
    ledger.finish(stage.name, time.perf_counter() - began, made.summary, made.figures)
    ctx.log(f"   {made.summary}")
    say(f"{stage.name}: {made.summary} ({_clock(time.perf_counter() - began)})")


def _card(ctx: S.Context, ledger: Ledger) -> S.Made:
    """The atlas and the model card (from the record and the evaluation)."""
    import json

    from ..files import write_png
    from ..sliders.editor import Editor
    from ..sliders.measure import EditResult
    from .atlas import atlas, pick_faces

    editor = Editor.from_pretrained(ctx.run, device=ctx.device)
    test = ctx.faces("test", editor.policy)
    rows = pick_faces(test.labels, ctx.settings.atlas_faces, ctx.settings.seed)
    report = json.loads((ctx.run / "evaluation.json").read_text())
    verdicts = [S.BAR.judge(EditResult(**e)) for e in report.get("edits", [])]
    attributes = [e.attribute for e in verdicts if e.direction == "add"]
    write_png(ctx.run / "atlas.png", atlas(editor, test.images[rows], test.labels[rows], attributes, verdicts, S.BAR,
                                           title=f"every slider of {ctx.run.name} on {len(rows)} test faces"))
    write_card(ctx.run, model_card(ctx.run, ledger, ctx.settings, f"disguise {ctx.run.name}"))
    return S.Made("atlas.png and README.md")


def push_folder(run: Path, repo_id: str) -> str:
    """Upload the run folder's upload set (``card.upload_set``) to a Hub model repo."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    files = [str(p) for p in upload_set(run)]
    return str(api.upload_folder(repo_id=repo_id, folder_path=str(run), allow_patterns=files,
                                 commit_message="disguise: train.recipe"))


def _clear(run: Path, stage: str) -> None:
    """A stage's files and work, before it is made again."""
    for name in S.OUTPUTS.get(stage, ()):
        path = run / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    shutil.rmtree(run / "work" / stage, ignore_errors=True)


def _logger(run: Path) -> Callable[[str], None]:
    path = run / "recipe.log"

    def log(message: str) -> None:
        with open(path, "a") as f:
            f.write(message.rstrip() + "\n")
    return log


def _say_plan(say, info: dict, run: Path, device: torch.device, todo: Plan, seconds: dict, source,
              done: dict[str, float], last: int) -> None:
    people = f" of {info['people']:,} people" if info["people"] else " (no identities)"
    say(f"disguise recipe: {info['path']} ({info['kind']}, {info['faces']:,} faces{people}; train "
        f"{info['train']:,} / valid {info['valid']:,} / test {info['test']:,}) -> {run}")
    say(f"device: {describe_device(device)}" + (f"; the VAE from {source}" if source else ""))
    total = 0.0
    for i, stage in enumerate(STAGES, 1):
        status = todo.status[stage.name]
        if i - 1 > last and status != "done":
            say(f"  {i}. {stage.name:12s} {'not now':7s} {'(--until)':16s} {stage.title}")
            continue
        est = seconds.get(stage.name)
        if status != "done" and est is not None:
            total += est
        when = f"about {_clock(est)}" if est is not None and status != "done" else ""
        say(f"  {i}. {stage.name:12s} {status:7s} {when:16s} {stage.title}"
            + (f" ({done[stage.name]:.0%} done before)" if done.get(stage.name, 0) > 0 else ""))
        for why in todo.reasons.get(stage.name, []):
            say(f"       {why}")
    if seconds:
        say(f"  all to do: about {_clock(total)} (estimated from a few seconds of probes on this device)")
    elif all(s == "done" for s in todo.status.values()):
        say("  every stage is done")


def _say_summary(say, ledger: Ledger, seconds: float) -> None:
    say(f"done in {_clock(seconds)} this time; the run folder {ledger.folder} is what the app serves:")
    say(f"  python app.py --weights {ledger.folder}")
    for name, rec in ledger.stages.items():
        say(f"  {name:12s} {_clock(rec.time):>8s}  {rec.summary}")


def _clock(seconds: float) -> str:
    seconds = float(seconds)
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def disk_full(error: OSError) -> bool:
    return getattr(error, "errno", None) == errno.ENOSPC
