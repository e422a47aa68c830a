"""The recipe's stages, each a function of the run's context that makes its files in the run folder.

A stage keeps its work in ``RUN/work/<stage>/`` as it goes (the VAE's and the classifiers' run
checkpoints, the sliders' steps), so that called again after a stop it picks up there; what the
app and ``train.evaluate`` read it writes at the run folder's top, atomically, when it has it.
Each returns a ``Made``: a line for the summary, and the figures the model card quotes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..attributes import DRAWN
from ..classifier.model import (
    CLASSIFIER_CONFIG,
    CLASSIFIER_NAME,
    AttributeClassifier,
    classifier_accuracy,
    classifier_policy,
    face_logits,
)
from ..classifier.model import load_classifier as _load_classifier
from ..classifier.thresholds import fit_thresholds
from ..classifier.training import CHECKPOINT_NAME as CLASSIFIER_CHECKPOINT
from ..classifier.training import ClassifierTrainConfig, train_classifier
from ..compose.face_space import FACE_SPACE_NAME, fit_face_space
from ..data.cache import load_split
from ..data.celeba import CelebA
from ..data.people import split_people
from ..evaluation.grading import grade, reconstructions
from ..evaluation.report import markdown
from ..files import atomic_write, write_json, write_png
from ..identity.model import CONFIG_NAME as IDENTITY_CONFIG
from ..identity.model import WEIGHTS_NAME as IDENTITY_WEIGHTS
from ..identity.model import IdentityConfig
from ..identity.training import CHECKPOINT_NAME as IDENTITY_CHECKPOINT
from ..identity.training import VERIFICATION_NAME, IdentityTrainConfig, load_people, train_identity
from ..identity.verification import verify
from ..preprocess import Preprocess
from ..sliders.bank import BANK_NAME, SEED_BANK_NAME, AttributeBank
from ..sliders.editor import Editor
from ..sliders.effects import effect_bank, effects_of
from ..sliders.measure import QualityBar
from ..sliders.recipe import Faces, finished_steps, make_sliders, saved_moments
from ..training.driver import CHECKPOINT, RunFolderError, checkpoint_meta
from ..training.figures import line_chart
from ..vae.model import CONFIG_NAME, VAE, WEIGHTS_NAME, VAEConfig
from ..vae.onnx_decoder import DECODER_NAME, export_decoder, weights_digest
from ..vae.training import TrainConfig, train
from .progress import StageBar
from .settings import RecipeSettings

ROLES = ("guide", "chooser", "judge")
"""The three attribute classifiers, each trained on other people: the guide learned edits are
fitted to, the chooser that picks the sliders, the judge that grades them and chooses nothing."""
BAR = QualityBar(target=20)  # the recipe's bar: 20 of 39 adds, graded by a judge that chose nothing


@dataclass
class Made:
    """What a stage made: a line for the summary and the figures the model card quotes."""

    summary: str
    figures: dict = field(default_factory=dict)


@dataclass
class Context:
    """What every stage reads: the run folder, the data, the settings, the device, and where it
    reports (``log``: the run's log file; ``bar``: the stage's progress bar)."""

    run: Path
    data_root: Path
    data: CelebA
    settings: RecipeSettings
    device: torch.device
    progress: bool = True
    log: Callable[[str], None] = print
    bar: StageBar = field(default_factory=StageBar)
    from_model: Path | None = None
    vae_trainer: "VAETrainer | None" = None  # how a VAE phase is trained (default: here, ``in_process``)
    _faces: dict = field(default_factory=dict)

    @property
    def work(self) -> Path:
        return self.run / "work"

    def faces(self, split: str, policy: Preprocess) -> Faces:
        """The split's faces under ``policy``, at most ``settings.faces`` of them."""
        key = (split, policy.key())
        if key not in self._faces:
            images, labels, report = load_split(self.data, split, policy, progress=self.progress)
            if report.corrupt:
                self.log(report.summary())
            limit = self.settings.faces or len(images)
            self._faces[key] = Faces(images[:limit], labels[:limit])
        return self._faces[key]

    def model(self) -> VAE:
        return VAE.from_pretrained(self.run, device=self.device)

    def classifier(self, role: str) -> AttributeClassifier:
        return _load_classifier(classifier_folder(self.run, role), self.device)


def classifier_folder(run: Path, role: str) -> Path:
    """Where a role's classifier is kept: the judge at the run folder's top (where
    ``train.evaluate`` and the app look for one), the others in folders of their own."""
    return run if role == "judge" else run / role


# ----------------------------------------------------------------------------------------------
# 1. The VAE


VAETrainer = Callable[..., str]
"""``trainer(folder, data_root, config, options, resume=, progress=, on_batch=, log=)`` trains one
VAE phase into ``folder`` and says ``"finished"`` or ``"interrupted"`` (``train.recipe --gpus``
hands one that runs it under torchrun)."""


def in_process(folder: Path, data_root: Path, config: VAEConfig, options: TrainConfig, resume: bool,
               progress: bool, on_batch: Callable[[int, int], None], log: Callable[[str], None]) -> str:
    """A VAE phase trained in this process (``disguise.vae.training.train``)."""
    return train(folder, data_root, config, options, resume=resume, progress=progress, on_batch=on_batch,
                 log=log).status


def metrics(folder: Path) -> list[dict]:
    """A run's ``metrics.csv`` rows, numbers as floats."""
    import csv

    with open(folder / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def vae_config(settings: RecipeSettings) -> VAEConfig:
    size, e, d = settings.image_size, len(settings.encoder_filters), len(settings.decoder_filters)
    return VAEConfig(image_size=size, z_dim=settings.z_dim, encoder_filters=settings.encoder_filters,
                     encoder_kernels=(3,) * e, encoder_strides=(2,) * e, decoder_filters=settings.decoder_filters,
                     decoder_kernels=(3,) * d, decoder_strides=(2,) * d, dropout=settings.dropout,
                     preprocess=Preprocess(crop=settings.crop, size=size).to_dict())


def _train_faces(ctx: Context) -> int:
    return min(len(ctx.data.indices("train")), ctx.settings.faces or 10**12)


def vae_steps(ctx: Context) -> int:
    """Optimisation steps of the whole VAE stage (for its progress bar)."""
    return sum(p.epochs for p in ctx.settings.phases) * _vae_epoch(ctx)


def _vae_epoch(ctx: Context) -> int:
    return max(_train_faces(ctx) // ctx.settings.vae_batch_size, 1)


def train_vae(ctx: Context) -> Made:
    """The VAE, phase after phase (each from the weights the one before ended with), or the
    ``--from`` model as it is; its config, weights, loss curve and reconstructions at the top."""
    if ctx.from_model is not None:
        return _copy_vae(ctx)
    s = ctx.settings
    config, previous, history, before = vae_config(s), None, [], 0
    for i, phase in enumerate(s.phases, 1):
        folder = ctx.work / "vae" / f"phase-{i}"
        options = TrainConfig(epochs=phase.epochs, batch_size=s.vae_batch_size, lr=phase.lr, lr_schedule="cosine",
                              r_loss_factor=phase.r_loss_factor, seed=s.seed, device=str(ctx.device),
                              init=str(previous) if previous else None, train_limit=s.faces,
                              val_limit=min(2000, s.faces) if s.faces else 2000)
        ctx.log(f"VAE phase {i} of {len(s.phases)}: {phase.epochs} epochs from lr {phase.lr:g}, "
                f"{phase.r_loss_factor:g} x MSE + KL")
        trainer = ctx.vae_trainer or in_process
        status = trainer(folder, ctx.data_root, config, options, resume=(folder / CHECKPOINT).is_file(),
                         progress=ctx.progress, on_batch=ctx.bar.along(before, _vae_epoch(ctx)), log=ctx.log)
        if status != "finished":
            raise KeyboardInterrupt
        history += [{**row, "phase": i} for row in metrics(folder)]
        previous, before = folder, before + phase.epochs * _vae_epoch(ctx)
        ctx.bar.reach(before)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        _copy(previous / name, ctx.run / name)
    last = history[-1]
    _loss_curve(ctx.run, history)
    recon = sorted((previous / "samples").glob("epoch_*_recon.png"))
    if recon:
        _copy(recon[-1], ctx.run / "reconstructions.png")
    figures = {"val_recon": last.get("val_recon"), "val_kl": last.get("val_kl"), "epochs": len(history),
               "phases": list(s.vae_phases)}
    return Made(f"{_count(len(history), 'epoch')} in {_count(len(s.phases), 'phase')}; validation reconstruction "
                f"{last.get('val_recon', float('nan')):.1f}, KL {last.get('val_kl', float('nan')):.1f} nats", figures)


def _copy_vae(ctx: Context) -> Made:
    """``--from``: the model's config and weights (and its pictures, when it has them)."""
    src = ctx.from_model
    config = VAE.read_config(src)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        _copy(src / name, ctx.run / name)
    for name in ("loss_curve.png", "reconstructions.png"):
        if (src / name).is_file():
            _copy(src / name, ctx.run / name)
    ctx.bar.tick(vae_steps(ctx))
    return Made(f"reused from {src} ({config.image_size} px, crop {list(config.policy.crop)})",
                {"from": str(src), "weights_sha256": weights_digest(src / WEIGHTS_NAME)})


def _loss_curve(run: Path, history: list[dict]) -> None:
    """The whole VAE stage's validation curves, all phases end to end."""
    series = {k: [h.get(k, float("nan")) for h in history] for k in ("val_recon", "val_kl", "train_recon")}
    write_png(run / "loss_curve.png", line_chart(series, title="VAE, all phases (per image)", ylabel="loss",
                                                 log_y=True))


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _copy(src: Path, dst: Path) -> None:
    atomic_write(dst, lambda p: shutil.copyfile(src, p))


# ----------------------------------------------------------------------------------------------
# 2. The three attribute classifiers, on different people


CLASSIFIER_BATCH = ClassifierTrainConfig.batch_size


def classifier_steps(ctx: Context) -> int:
    s = ctx.settings
    per = -(-_train_faces(ctx) * (2 if s.classifier_views == "both" else 1) // 3 // CLASSIFIER_BATCH)
    return per * (2 * s.classifier_epochs + s.judge_epochs)


def train_classifiers(ctx: Context) -> Made:
    """The training faces' people dealt into three groups; each group's faces as the VAE draws
    them teach one classifier: the guide, the chooser and the judge (``ROLES``)."""
    s = ctx.settings
    model = ctx.model()
    editor = Editor(model, AttributeBank.blank(model.config.z_dim), ctx.device)
    policy = classifier_policy(model.config.policy)
    faces, labels, people = _train_people(ctx, model.config.policy)
    split = split_people(people, len(faces), (1, 1, 1), seed=s.seed)
    ctx.log(split.describe(ROLES))
    drawn = _views(ctx, editor, faces, policy)
    test = ctx.faces("test", model.config.policy)
    test_drawn = reconstructions(editor, test.images, policy.size)
    valid = ctx.faces("valid", model.config.policy)
    valid_drawn = reconstructions(editor, valid.images, policy.size)
    figures = {"split": {r: {"faces": int(len(g)), "people": n} for r, g, n in zip(ROLES, split.groups, split.people)},
               "by_image": split.by_image, "reads": {}, "thresholds": {}}
    before = 0
    for role, group in zip(ROLES, split.groups):
        judge = role == "judge"
        folder = classifier_folder(ctx.run, role)
        epochs = s.judge_epochs if judge else s.classifier_epochs
        per_epoch = -(-len(group) * len(drawn) // CLASSIFIER_BATCH)
        if not (folder / CLASSIFIER_NAME).is_file():
            work = ctx.work / "classifiers" / role
            shown, their = _seen(drawn, labels, group)
            classifier = train_classifier(shown, their, epochs=epochs, seed=s.seed + ROLES.index(role),
                                          device=ctx.device, progress=ctx.progress, blur=s.classifier_blur,
                                          policy=policy, trained_on=ctx.data.kind,
                                          arch=s.judge_arch if judge else s.classifier_arch, run_dir=work,
                                          resume=(work / CLASSIFIER_CHECKPOINT).is_file(),
                                          batch_size=CLASSIFIER_BATCH, balanced=s.classifier_balanced, desc=role,
                                          on_batch=ctx.bar.along(before, per_epoch), log=ctx.log)
            if role != "guide":  # the guide is read through its logits, as a loss
                moved = fit_thresholds(face_logits(classifier, valid_drawn, ctx.device), valid.labels,
                                       s.classifier_threshold_gain)
                classifier.set_thresholds(moved)
            classifier.save_pretrained(folder)
        before += epochs * per_epoch
        ctx.bar.reach(before)
        classifier = ctx.classifier(role)
        if classifier.config.thresholds:
            ctx.log(f"{role}: thresholds moved on validation faces: "
                    + ", ".join(f"{a} {v:+.2f}" for a, v in classifier.config.thresholds.items()))
        figures["thresholds"][role] = classifier.config.thresholds
        accuracy = classifier_accuracy(classifier, test_drawn, test.labels, ctx.device)
        figures["reads"][role] = {a: round(accuracy[a]["balanced_accuracy"], 4) for a in DRAWN}
    write_json(ctx.run / "classifiers.json", figures)
    mean = {r: np.mean(list(v.values())) for r, v in figures["reads"].items()}
    return Made(split.describe(ROLES) + "; mean balanced accuracy on test reconstructions: "
                + ", ".join(f"{r} {m:.1%}" for r, m in mean.items()), figures)


def _train_people(ctx: Context, policy: Preprocess) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The training faces, their labels, and who each one is (``None`` without identities)."""
    if ctx.data.identity is None:
        f = ctx.faces("train", policy)
        return f.images, f.labels, None
    faces, ids, labels = load_people(ctx.data, "train", policy, progress=ctx.progress)
    limit = ctx.settings.faces or len(faces)
    return faces[:limit], labels[:limit], ids[:limit]


def _views(ctx: Context, editor: Editor, faces: np.ndarray, policy: Preprocess) -> list[np.ndarray]:
    """The training faces as the classifiers see them (``classifier_views``): as the VAE draws
    them, as they are (at the classifiers' size), or both."""
    views = []
    if ctx.settings.classifier_views in ("reconstructions", "both"):
        views.append(_reconstructed(ctx, editor, faces, policy.size))
    if ctx.settings.classifier_views in ("originals", "both"):
        views.append(faces if faces.shape[1] == policy.size else ctx.faces("train", policy).images)
    return views


def _seen(views: list[np.ndarray], labels: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A group's faces in every view, and their labels."""
    if len(views) == 1:
        return views[0][group], labels[group]
    return np.concatenate([v[group] for v in views]), np.concatenate([labels[group]] * len(views))


def _reconstructed(ctx: Context, editor: Editor, faces: np.ndarray, size: int) -> np.ndarray:
    """The training faces as the VAE draws them, kept in the work folder (a memory map)."""
    path = ctx.work / "classifiers" / f"reconstructions-{size}.npy"
    if path.is_file():
        drawn = np.load(path, mmap_mode="r")
        if len(drawn) == len(faces):
            return drawn
    path.parent.mkdir(parents=True, exist_ok=True)
    drawn = reconstructions(editor, faces, size)
    atomic_write(path, lambda p: np.save(open(p, "wb"), drawn))
    return np.load(path, mmap_mode="r")


# ----------------------------------------------------------------------------------------------
# 3. The identity model


def identity_config(ctx: Context) -> IdentityConfig:
    s = ctx.settings
    return IdentityConfig(preprocess=Preprocess(crop=s.crop, size=min(s.image_size, 64)).to_dict(),
                          trained_on=ctx.data.kind)


def identity_steps(ctx: Context) -> int:
    train_faces = min(len(ctx.data.indices("train")), ctx.settings.faces or 10**12)
    return ctx.settings.identity_epochs * max(train_faces // IdentityTrainConfig().batch_size, 1)


def train_identity_model(ctx: Context) -> Made:
    """The identity model on the training split's people, verified on the test split's; skipped
    where the data does not say who is who."""
    if ctx.data.identity is None:
        return Made("skipped: the data has no identity_CelebA.txt (the app judges photos with dlib's recogniser)",
                    {"skipped": True})
    config = identity_config(ctx)
    faces, ids, _ = load_people(ctx.data, "train", config.policy, progress=ctx.progress)
    limit = ctx.settings.faces or len(faces)
    faces, ids = faces[:limit], ids[:limit]
    options = IdentityTrainConfig(epochs=ctx.settings.identity_epochs, seed=ctx.settings.seed,
                                  batch_size=min(IdentityTrainConfig().batch_size, len(faces)), device=str(ctx.device))
    work = ctx.work / "identity"
    net = train_identity(faces, ids, config, options, run_dir=work, resume=(work / IDENTITY_CHECKPOINT).is_file(),
                         progress=ctx.progress, on_batch=ctx.bar.along(0, len(faces) // options.batch_size),
                         log=ctx.log)
    net.save_pretrained(ctx.run)
    test_faces, test_ids, test_attrs = load_people(ctx.data, "test", config.policy, progress=False)
    limit = ctx.settings.faces or len(test_faces)
    result = verify(net, test_faces[:limit], test_ids[:limit], test_attrs[:limit], seed=ctx.settings.seed)
    write_json(ctx.run / VERIFICATION_NAME, result)
    return Made(f"{len(faces):,} faces of {len(np.unique(ids)):,} people; on {result['people']} unseen people ROC AUC "
                f"{result['auc']:.3f}, {result['tar']:.1%} true accepts at {result['far']:.0%} false accepts",
                {"auc": result["auc"], "tar": result["tar"], "threshold": result["threshold"]})


# ----------------------------------------------------------------------------------------------
# 4. The sliders


def make_bank(ctx: Context) -> Made:
    """The slider recipe (``disguise.sliders.recipe``): the guide and the chooser make the bank
    and the seed's bank beside it."""
    model = ctx.model()
    policy = model.config.policy
    bank, seed, report = make_sliders(model, ctx.classifier("guide"), ctx.classifier("chooser"),
                                      ctx.faces("train", policy), ctx.faces("valid", policy), ctx.work / "sliders",
                                      ctx.settings.sliders, ctx.device, ctx.progress, ctx.log,
                                      step=lambda name, now: (ctx.bar.tick if now else ctx.bar.skip)(
                                          SLIDER_STEPS[name]))
    bank.save(ctx.run / BANK_NAME)
    seed.save(ctx.run / SEED_BANK_NAME)
    reached = sum(BAR.reached(*v) for v in report.final.values())
    return Made(f"{reached} of {len(report.final)} sliders at the bar on validation faces by the chooser; "
                f"{len(report.rebuilt)} rebuilt with learned edits, {len(report.hair_rows)} rows per hair state, "
                f"{len(report.picture_rows)} picture sliders, {len(report.removal_rows)} rows below 0",
                {"chooser_validation": {a: list(v) for a, v in report.final.items()}, "rebuilt": report.rebuilt,
                 "seconds": report.seconds})


SLIDER_STEPS = {"seed": 1, "effects": 1, "calibrated": 25, "rebuilt": 40, "hair": 20, "pictured": 2, "scaled": 11,
                "removals": 10}
"""The slider recipe's steps, weighed by about how long each takes (the stage's progress bar)."""


# ----------------------------------------------------------------------------------------------
# What an earlier run of a stage had done (in its progress bar's units), read from its work folder


def _steps_taken(checkpoint: Path) -> int:
    try:
        return int(checkpoint_meta(checkpoint).get("step", 0))
    except (RunFolderError, ValueError):
        return 0


def vae_done(ctx: Context) -> int:
    phases = range(1, len(ctx.settings.phases) + 1)
    return sum(_steps_taken(ctx.work / "vae" / f"phase-{i}" / CHECKPOINT) for i in phases)


def classifiers_done(ctx: Context) -> int:
    return sum(_steps_taken(ctx.work / "classifiers" / role / CLASSIFIER_CHECKPOINT) for role in ROLES)


def identity_done(ctx: Context) -> int:
    return _steps_taken(ctx.work / "identity" / IDENTITY_CHECKPOINT)


def sliders_done(ctx: Context) -> int:
    return sum(SLIDER_STEPS[name] for name in finished_steps(ctx.work / "sliders"))


# ----------------------------------------------------------------------------------------------
# 5. The evaluation


def evaluate(ctx: Context) -> Made:
    """The judge grades the sliders on the test split (the chooser's reading and the effect
    method's figures beside); ``evaluation.md`` and ``evaluation.json``."""
    editor = Editor.from_pretrained(ctx.run, device=ctx.device)
    moments = saved_moments(ctx.work / "sliders")
    baseline = effect_bank(effects_of(moments)) if moments is not None else None
    photo = ctx.settings.photo_faces if ctx.data.kind != "synthetic" else 0
    report = grade(editor, ctx.classifier("judge"), ctx.data, ctx.run, list(DRAWN), faces=ctx.settings.eval_faces,
                   photo_faces=photo, photo_scenes=max(300, 15 * photo), limit=ctx.settings.faces, device=ctx.device,
                   bar=BAR, chooser=ctx.classifier("chooser"), baseline=baseline, progress=ctx.progress, log=ctx.log)
    atomic_write(ctx.run / "evaluation.json", lambda p: p.write_text(report.to_json()))
    atomic_write(ctx.run / "evaluation.md", lambda p: p.write_text(markdown(report)))
    f = report.figures
    judge, psnr = f["judge"], report.reconstruction["psnr"]
    line = (f"judge: {judge['adds']} of {judge['attributes']} adds at the bar, {judge['floor']} of "
            f"{judge['informative']} at 50% at the end, {judge['removals']} removals; PSNR {psnr:.2f} dB")
    if "chooser" in f:
        c = f["chooser"]
        line += f" (the chooser: {c['adds']}, {c['floor']}, {c['removals']})"
    if "baseline" in f:
        line += f"; the effect method by the judge: {f['baseline']['adds']} adds, {f['baseline']['removals']} removals"
    return Made(line, {"psnr": psnr, "ssim": report.reconstruction["ssim"], **f,
                       "judge_reads": report.judge_reads})


# ----------------------------------------------------------------------------------------------
# 6. What the app loads besides


def app_files(ctx: Context) -> Made:
    """The Compose tab's face space and the page's ONNX decoder."""
    from ..sliders.means import labelled_batches

    model = ctx.model()
    train_faces = ctx.faces("train", model.config.policy)
    space = fit_face_space(model, labelled_batches(train_faces.images, train_faces.labels, 500), device=ctx.device,
                           progress=ctx.progress)
    space.save(ctx.run / FACE_SPACE_NAME)
    ctx.bar.tick(1)
    export_decoder(model.cpu(), ctx.run / DECODER_NAME, weights_digest(ctx.run / WEIGHTS_NAME))
    ctx.bar.tick(1)
    return Made(f"face space of {len(train_faces):,} training faces; {DECODER_NAME} "
                f"({(ctx.run / DECODER_NAME).stat().st_size / 1e6:.1f} MB)")


OUTPUTS = {
    "vae": (CONFIG_NAME, WEIGHTS_NAME, "loss_curve.png", "reconstructions.png"),
    "classifiers": (CLASSIFIER_NAME, CLASSIFIER_CONFIG, "guide", "chooser", "classifiers.json"),
    "identity": (IDENTITY_CONFIG, IDENTITY_WEIGHTS, VERIFICATION_NAME),
    "sliders": (BANK_NAME, SEED_BANK_NAME),
    "evaluation": ("evaluation.md", "evaluation.json"),
    "app_files": (FACE_SPACE_NAME, DECODER_NAME),
    "card": ("atlas.png", "README.md"),
}
"""What each stage writes at the run folder's top (removed with its work when it is redone)."""
