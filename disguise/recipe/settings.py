"""Every setting of the recipe, with the project's best as defaults, and which stage each one
shapes (a changed setting makes that stage, and those made from it, out of date).

The defaults are the bundled model's: the taller crop (rows 40 to 200, where a necktie is in
the picture) at 64 px, the seed's conv stack at twice its width without dropout, trained in
three phases that weigh the pixels ever more (README, "Training"). ``smoke`` scales every stage
down to its smallest, to see the whole path work in minutes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from ..classifier.model import ARCHITECTURES
from ..sliders.recipe import SliderSettings

VIEWS = ("reconstructions", "originals", "both")
DEFAULT_PHASES = ("20:0.001:400000", "10:0.0005:400000", "6:0.0003:800000")


@dataclass(frozen=True)
class Phase:
    """One phase of the VAE's training: ``epochs`` with the learning rate annealed along a cosine
    from ``lr``, the loss ``r_loss_factor`` x MSE + KL; written ``EPOCHS:LR:R_LOSS_FACTOR``."""

    epochs: int
    lr: float
    r_loss_factor: float

    @classmethod
    def parse(cls, text: str) -> "Phase":
        try:
            epochs, lr, r = str(text).split(":")
            phase = cls(int(epochs), float(lr), float(r))
        except ValueError:
            raise ValueError(f"a VAE phase is EPOCHS:LR:R_LOSS_FACTOR, like 20:0.001:400000; got {text!r}") from None
        if phase.epochs < 1 or not (phase.lr > 0 and math.isfinite(phase.lr)) or not phase.r_loss_factor > 0:
            raise ValueError(f"a VAE phase needs at least one epoch, a positive learning rate and a positive "
                             f"pixel weight; got {text!r}")
        return phase

    def __str__(self) -> str:
        return f"{self.epochs}:{self.lr:g}:{self.r_loss_factor:g}"


@dataclass
class RecipeSettings:
    """What the recipe does at each stage (``train.recipe --help`` shows each as an option).

    Attributes:
        image_size: the model's input side in pixels (64 here; 128 on a GPU).
        crop: left,top,right,bottom box of the 178 x 218 aligned face the model sees.
        z_dim: latent dimensions.
        encoder_filters: channels per encoder stage.
        decoder_filters: channels per decoder stage (the last is 3).
        dropout: dropout after each hidden convolution (0: none, which drew better here).
        vae_phases: the VAE's training, phase after phase, each EPOCHS:LR:R_LOSS_FACTOR (a cosine
            from LR, the loss R_LOSS_FACTOR x MSE + KL), each starting where the one before ended.
        vae_batch_size: faces per VAE step.
        classifier_epochs: epochs of the guide and the chooser.
        classifier_arch: the guide's and the chooser's network.
        judge_epochs: epochs of the judge.
        judge_arch: the judge's network (by default one this project did not write).
        classifier_blur: the largest blur (px) of the classifiers' augmentation.
        classifier_balanced: each label's faces that have it weighed as much, in all, as those
            without, in the three classifiers' training (``disguise.classifier.training.label_weights``).
        classifier_threshold_gain: the chooser's and the judge's threshold for a label moves from
            logit 0 where that reads the label at least this much better (balanced accuracy) on
            the validation faces' reconstructions (``disguise.classifier.thresholds``; 1: never).
        classifier_views: what the classifiers learn from: each face as the VAE draws it
            (reconstructions), as it is (originals), or both (each face twice).
        identity_epochs: epochs of the identity model (where the data says who is who).
        eval_faces: test faces per attribute and direction the judge grades.
        photo_faces: test photos per attribute and direction edited in the photo view (on photos
            of real people only; 0: skip).
        atlas_faces: test faces in the model card's atlas.
        faces: at most this many faces of each split (0: all of them).
        seed: seeds every stage (the people's split, the weights, the faces the sliders draw).
    """

    image_size: int = 64
    crop: tuple[int, ...] = (9, 40, 169, 200)
    z_dim: int = 200
    encoder_filters: tuple[int, ...] = (64, 128, 128, 128)
    decoder_filters: tuple[int, ...] = (128, 128, 64, 3)
    dropout: float = 0.0
    vae_phases: tuple[str, ...] = DEFAULT_PHASES
    vae_batch_size: int = 64
    classifier_epochs: int = 8
    classifier_arch: str = field(default="convnet", metadata={"choices": ARCHITECTURES})
    judge_epochs: int = 6
    judge_arch: str = field(default="resnet18", metadata={"choices": ARCHITECTURES})
    classifier_blur: float = 1.5
    classifier_balanced: bool = False
    classifier_threshold_gain: float = 0.2
    classifier_views: str = field(default="both", metadata={"choices": VIEWS})
    identity_epochs: int = 8
    eval_faces: int = 200
    photo_faces: int = 20
    atlas_faces: int = 4
    faces: int = 0
    seed: int = 0
    sliders: SliderSettings = field(default_factory=SliderSettings)

    def __post_init__(self) -> None:
        self.crop = tuple(int(v) for v in self.crop)
        self.encoder_filters = tuple(int(v) for v in self.encoder_filters)
        self.decoder_filters = tuple(int(v) for v in self.decoder_filters)
        self.vae_phases = tuple(str(Phase.parse(p)) for p in self.vae_phases)
        if not self.vae_phases:
            raise ValueError("the VAE needs at least one phase (--vae-phases 20:0.001:400000)")
        counts = (self.image_size, self.z_dim, self.vae_batch_size, self.classifier_epochs, self.judge_epochs,
                  self.identity_epochs, self.eval_faces, self.atlas_faces)
        if min(counts) < 1 or min(self.photo_faces, self.faces) < 0:
            raise ValueError("sizes, epochs and face counts must be at least 1 (photo_faces and faces at least 0)")
        if not 0.0 <= self.classifier_threshold_gain <= 1.0:
            raise ValueError(f"classifier_threshold_gain is a share of balanced accuracy from 0 (every label at its "
                             f"best threshold) to 1 (all at 0), got {self.classifier_threshold_gain}")
        if len(self.crop) != 4:
            raise ValueError(f"crop is left,top,right,bottom, got {self.crop}")
        if self.sliders.seed != self.seed:  # one seed for the whole recipe
            self.sliders = replace(self.sliders, seed=self.seed)

    @property
    def phases(self) -> list[Phase]:
        return [Phase.parse(p) for p in self.vae_phases]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RecipeSettings":
        d = dict(d)
        return cls(**{**d, "sliders": SliderSettings(**d.get("sliders", {}))})

    def for_stage(self, stage: str) -> dict:
        """The settings that shape ``stage`` (what its record keeps, to tell when it is out of date)."""
        d = self.to_dict()
        mine = {k: d[k] for k in STAGE_SETTINGS[stage] if not (k in ADDED_SINCE and d[k] == ADDED_SINCE[k])}
        return {**mine, **(d["sliders"] if stage == "sliders" else {})}


STAGE_SETTINGS = {
    "vae": ("image_size", "crop", "z_dim", "encoder_filters", "decoder_filters", "dropout", "vae_phases",
            "vae_batch_size", "faces", "seed"),
    "classifiers": ("classifier_epochs", "classifier_arch", "judge_epochs", "judge_arch", "classifier_blur",
                    "classifier_balanced", "classifier_threshold_gain", "classifier_views", "faces", "seed"),
    "identity": ("identity_epochs", "image_size", "crop", "faces", "seed"),
    "sliders": ("faces",),
    "evaluation": ("eval_faces", "photo_faces", "faces"),
    "app_files": (),
    "card": ("atlas_faces",),
}
"""The settings each stage is made with (the sliders' are ``SliderSettings``' too)."""

ADDED_SINCE = {"classifier_balanced": False, "classifier_threshold_gain": 1.0}
"""Settings added after runs were made, with the value those runs were made with: a stage records
one only where it differs, so an earlier run stays current."""


def made_before(recorded: dict[str, dict]) -> dict[str, object]:
    """The settings added since a run was made (``ADDED_SINCE``) whose default has changed from the
    value the run was made with, by name, with that value; ``recorded``: each made stage's settings
    as its record keeps them. The run's command needs them to make it again."""
    defaults = RecipeSettings().to_dict()
    return {name: old for name, old in ADDED_SINCE.items()
            if defaults[name] != old
            and any(stage in recorded and name not in recorded[stage]
                    for stage, names in STAGE_SETTINGS.items() if name in names)}


def as_options(values: dict[str, object]) -> list[str]:
    """Settings as ``train.recipe`` options (``--name value``; a boolean as its flag)."""
    out = []
    for name, value in values.items():
        flag = name.replace("_", "-")
        if isinstance(value, bool):
            out.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            shown = ",".join(map(str, value)) if isinstance(value, tuple) else \
                f"{value:g}" if isinstance(value, float) else str(value)
            out.append(f"--{flag} {shown}")
    return out


SMOKE = {"vae_phases": ("1:0.001:400000",), "vae_batch_size": 32, "classifier_epochs": 1, "judge_epochs": 1,
         "identity_epochs": 1, "eval_faces": 4, "photo_faces": 2, "atlas_faces": 2, "faces": 240}
SMOKE_SLIDERS = {"calibration_faces": 6, "ladder": (1.0, 2.0), "hold_rounds": 1, "hold_faces": 6,
                 "learn_keeps": (1.0,), "learn_steps": 2, "learn_faces": 16, "hair_keeps": (), "blurs": (2.0,),
                 "scales": (0.8, 1.0), "removal_scales": (0.8, 1.0), "batch_size": 64}


def smoke(settings: RecipeSettings, given: set[str] = frozenset()) -> RecipeSettings:
    """``settings`` at every stage's smallest (a few hundred faces, one epoch, a few slider steps),
    except the options the user gave (``given``, by field name)."""
    top = {k: v for k, v in SMOKE.items() if k not in given}
    sliders = {k: v for k, v in SMOKE_SLIDERS.items() if k not in given}
    return replace(settings, **top, sliders=replace(settings.sliders, **sliders))


def field_names(cls: type) -> list[str]:
    """A settings class's option fields (``sliders`` is a group of its own)."""
    return [f.name for f in fields(cls) if f.name != "sliders"]
