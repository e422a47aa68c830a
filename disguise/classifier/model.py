"""The attribute classifier: a network that reads CelebA's 40 attributes off a face.

The project uses it in three roles, each trained on other people (``disguise.data.people``): the
*guide* that learned edits are fitted to (``disguise.sliders.learned``), the *chooser* that picks
each slider on validation faces (``disguise.sliders.calibration``) and the *judge* that grades the
sliders on the test split (``disguise.evaluation``). Two architectures: the project's small CNN
(``disguise.classifier.convnet``) and torchvision's networks (``TORCHVISION``), so a judge can be
a network this project did not write. A classifier works at most at ``CLASSIFIER_SIZE`` pixels,
records the preprocessing it learned on and is refused for a model cropped differently; a label
is seen where its logit passes the label's threshold (0, or the one ``thresholds`` fitted). It is
saved like every model of the project (``disguise.pretrained.SavedModel``):
``attribute_classifier.json`` and ``attribute_classifier.safetensors``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..attributes import ATTRIBUTES
from ..data.batches import iterate_batches
from ..preprocess import Preprocess, to_tensor
from ..pretrained import SavedModel, evaluating
from .convnet import ConvNetConfig, conv_blocks

CLASSIFIER_NAME = "attribute_classifier.safetensors"
CLASSIFIER_CONFIG = "attribute_classifier.json"
CLASSIFIER_TYPE = "disguise-attribute-classifier"
CLASSIFIER_SIZE = 64  # pixels a classifier sees at most
TORCHVISION = ("resnet18", "shufflenet_v2_x1_0")  # torchvision's networks, as torchvision builds them
ARCHITECTURES = ("convnet", *TORCHVISION)


@dataclass
class ClassifierConfig(ConvNetConfig):
    """Everything needed to rebuild an attribute classifier.

    Attributes:
        widths: channels of each stride-2 conv block (``convnet``; one block per entry).
        preprocess: the preprocessing policy (``Preprocess.to_dict()``) of the faces it learned on.
        arch: convnet (the project's CNN), or one of torchvision's (resnet18, shufflenet_v2_x1_0) as
            torchvision builds it.
        thresholds: the logit above which a label is seen, by name, where it is not 0
            (``disguise.classifier.thresholds``).
    """

    arch: str = field(default="convnet", metadata={"choices": ARCHITECTURES})
    thresholds: dict = field(default_factory=dict)
    model_type: ClassVar[str] = CLASSIFIER_TYPE
    default_size: ClassVar[int] = CLASSIFIER_SIZE

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}, got {self.arch!r}")
        unknown = sorted(set(self.thresholds) - set(ATTRIBUTES))
        if unknown:
            raise ValueError(f"thresholds name labels that are not CelebA attributes: {', '.join(unknown)}")
        self.thresholds = {k: float(v) for k, v in self.thresholds.items()}
        if not all(np.isfinite(v) for v in self.thresholds.values()):
            raise ValueError(f"thresholds must be finite, got {self.thresholds}")


class AttributeClassifier(SavedModel):
    """``(B, 3, H, W)`` faces in [0, 1] -> ``(B, 40)`` logits. ``convnet``: stride-2 conv blocks
    (``config.widths``), global average pooling, a linear head; the others: torchvision's.

    ``policy`` is the preprocessing of the faces it is trained on; ``predict`` resizes other
    sizes (a 128 px model's decodes) to ``policy.size``.
    """

    config_class = ClassifierConfig
    config_name, weights_name = CLASSIFIER_CONFIG, CLASSIFIER_NAME

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else ClassifierConfig()
        if self.config.arch in TORCHVISION:
            import torchvision

            self.net = getattr(torchvision.models, self.config.arch)(weights=None, num_classes=len(ATTRIBUTES))
        else:
            self.features = conv_blocks(self.config.widths)
            self.head = nn.Linear(self.config.widths[-1], len(ATTRIBUTES))
        self.register_buffer("cuts", torch.zeros(len(ATTRIBUTES)), persistent=False)  # per label, ``seen``'s
        self.set_thresholds(self.config.thresholds)

    @property
    def policy(self) -> Preprocess:
        return self.config.policy

    def set_thresholds(self, thresholds: dict[str, float]) -> None:
        """Read each named label as seen above its logit (the others above 0); kept in the config."""
        self.config = dataclasses.replace(self.config, thresholds=dict(thresholds))
        cuts = torch.zeros(len(ATTRIBUTES))
        for name, cut in self.config.thresholds.items():
            cuts[ATTRIBUTES.index(name)] = cut
        self.cuts.copy_(cuts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> ``(B, 40)`` logits."""
        if self.config.arch in TORCHVISION:
            return self.net(x)
        return self.head(self.features(x).mean(dim=(2, 3)))


def classifier_policy(policy: Preprocess) -> Preprocess:
    """A classifier's preprocessing for a model trained with ``policy``: its crop, at most
    ``CLASSIFIER_SIZE`` px."""
    return dataclasses.replace(policy, size=min(int(policy.size), CLASSIFIER_SIZE))


@torch.no_grad()
def predict(classifier: AttributeClassifier, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Boolean ``(B, 40)`` predictions for float images ``(B, 3, H, W)`` of any size (``seen``).

    Runs the classifier in eval mode and leaves it in the mode it was in.
    """
    out = []
    with evaluating(classifier):
        for i in range(0, len(x), batch_size):
            out.append(seen(classifier, classifier(at_classifier_size(classifier, x[i:i + batch_size]))))
    return torch.cat(out)


def seen(classifier: nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """Boolean ``(B, 40)``: the labels ``(B, 40)`` logits say a face has, each above its threshold
    (a module without thresholds, such as a test's stand-in, reads every label at 0)."""
    cuts = getattr(classifier, "cuts", None)
    return logits > (0.0 if cuts is None else cuts.to(logits.device))


@torch.no_grad()
def face_logits(classifier: AttributeClassifier, images: np.ndarray, device: str | torch.device) -> np.ndarray:
    """``(N, 40)`` logits of uint8 faces ``(N, S, S, 3)``; the classifier's mode is kept."""
    with evaluating(classifier):
        out = [classifier(at_classifier_size(classifier, to_tensor(images[idx], device))).cpu()
               for idx in iterate_batches(len(images), 512, shuffle=False)]
    return torch.cat(out).numpy() if out else np.zeros((0, len(ATTRIBUTES)), np.float32)


def at_classifier_size(classifier: AttributeClassifier, x: torch.Tensor) -> torch.Tensor:
    """Float images ``(B, 3, H, W)`` at the size ``classifier`` learned on (bilinear with antialiasing;
    differentiable, so a loss can read a decoder's output through it)."""
    size = classifier.policy.size
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


@torch.no_grad()
def classifier_accuracy(classifier: AttributeClassifier, images: np.ndarray, labels: np.ndarray,
                        device: str | torch.device) -> dict[str, dict[str, float]]:
    """Per attribute: the classifier's accuracy on uint8 faces, its balanced accuracy (mean of the
    true positive and true negative rates) and the majority-class baseline. Its mode is kept."""
    preds = seen(classifier, torch.from_numpy(face_logits(classifier, images, device))).numpy()
    truth = np.asarray(labels) > 0
    out = {}
    for k, a in enumerate(ATTRIBUTES):
        acc = float((preds[:, k] == truth[:, k]).mean())
        tpr = float(preds[truth[:, k], k].mean()) if truth[:, k].any() else float("nan")
        tnr = float((~preds[~truth[:, k], k]).mean()) if (~truth[:, k]).any() else float("nan")
        out[a] = {"accuracy": acc, "balanced_accuracy": float(np.nanmean([tpr, tnr])),
                  "majority_baseline": float(max(truth[:, k].mean(), 1 - truth[:, k].mean()))}
    return out


def load_classifier(folder: str | os.PathLike, device: str | torch.device = "cpu",
                    policy: Preprocess | None = None) -> AttributeClassifier:
    """The classifier saved in ``folder`` (strictly, in eval mode). With ``policy``, refuse one
    trained on faces preprocessed otherwise."""
    folder = Path(folder)
    if not (folder / CLASSIFIER_NAME).is_file():
        raise FileNotFoundError(f"{folder} holds no attribute classifier ({CLASSIFIER_NAME}); train one with "
                                f"python -m train.attributes (or python -m train.recipe makes all three)")
    if not (folder / CLASSIFIER_CONFIG).is_file():
        raise ValueError(f"{folder / CLASSIFIER_NAME} has no config beside it ({CLASSIFIER_CONFIG}: its "
                         f"widths and preprocessing record); train a new one "
                         f"(train.evaluate --retrain-classifier)")
    classifier = AttributeClassifier.from_pretrained(folder, device)
    saved = classifier.config.policy
    if policy is not None and saved != policy:
        raise ValueError(f"{folder / CLASSIFIER_NAME} was trained on faces preprocessed as "
                         f"{saved.to_dict()}, but this model's classifier needs {policy.to_dict()}; pass "
                         f"--retrain-classifier")
    return classifier


READERS = ("", "chooser", "guide")  # where a weights folder may keep a classifier, the judge's place first


def load_reader(folder: str | os.PathLike, device: str | torch.device = "cpu") -> AttributeClassifier | None:
    """A classifier to read faces' attributes with (the Match tab's): the weights folder's judge, or
    where it does not ship one (``train.recipe``'s judge can be too big to bundle), its chooser or
    guide; ``None`` without any."""
    for place in READERS:
        where = Path(folder) / place
        if (where / CLASSIFIER_NAME).is_file():
            return load_classifier(where, device)
    return None
