"""How long each stage will take here: a few seconds of probes on this device (a VAE step, a step of
each classifier, a batch of decodes read by a classifier), scaled by how much of each a stage does.
The figures are estimates for the plan the recipe prints, not promises: the learned edits, for one,
depend on how many sliders miss the bar."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..classifier.model import AttributeClassifier, ClassifierConfig
from ..preprocess import Preprocess
from ..vae.model import VAE
from .settings import RecipeSettings


@dataclass
class Speeds:
    """Seconds per face: a VAE training step, a guide/chooser step, a judge step, a decode read by
    a classifier (no gradient), and a decode and read with gradients (a learned edit's step)."""

    vae: float
    classifier: float
    judge: float
    read: float
    learn: float


def _time(fn, repeats: int = 2) -> float:
    fn()  # warm up
    began = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - began) / repeats


def probe(settings: RecipeSettings, device: torch.device, config=None) -> Speeds:
    """Time each kind of work once on ``device`` (a few seconds on 2 CPU cores)."""
    from .stages import vae_config

    config = config or vae_config(settings)
    model = VAE(config).to(device)
    size = min(config.image_size, 64)
    policy = Preprocess(crop=config.policy.crop, size=size).to_dict()
    classifiers = {arch: AttributeClassifier(ClassifierConfig(preprocess=policy, arch=arch)).to(device)
                   for arch in {settings.classifier_arch, settings.judge_arch}}
    b = 16
    x = torch.rand(b, 3, config.image_size, config.image_size, device=device)
    opt = torch.optim.Adam(model.parameters())

    def vae_step():
        recon, mu, log_var = model(x)
        loss = F.mse_loss(recon, x) + 1e-3 * mu.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def classifier_step(classifier):
        def step():
            loss = classifier(x[:, :, :size, :size]).mean()
            loss.backward()
        return step

    z = torch.randn(b, config.z_dim, device=device)
    classifier = classifiers[settings.classifier_arch]

    def read():
        with torch.no_grad():
            pictures = model.decode(z)
            classifier(F.interpolate(pictures, size=(size, size)) if pictures.shape[-1] != size else pictures)

    def learn():
        w = z.clone().requires_grad_(True)
        pictures = model.decode(w)
        picture = F.interpolate(pictures, size=(size, size)) if pictures.shape[-1] != size else pictures
        classifier(picture).mean().backward()

    model.train()
    return Speeds(vae=_time(vae_step) / b, classifier=_time(classifier_step(classifiers[settings.classifier_arch])) / b,
                  judge=_time(classifier_step(classifiers[settings.judge_arch])) / b, read=_time(read) / b,
                  learn=_time(learn) / b)


def stage_seconds(settings: RecipeSettings, speeds: Speeds, counts: dict[str, int], identities: bool) -> dict[str, float]:
    """Seconds per stage for ``counts`` faces per split (``train``, ``valid``, ``test``)."""
    s, sl = settings, settings.sliders
    train = min(counts["train"], s.faces or counts["train"])
    attributes = 39
    third = train / 3 * (2 if s.classifier_views == "both" else 1)
    vae = sum(p.epochs for p in s.phases) * train * speeds.vae
    classifiers = (train * speeds.read + third * s.classifier_epochs * 2 * speeds.classifier
                   + third * s.judge_epochs * speeds.judge)
    identity = s.identity_epochs * train * speeds.classifier if identities else 0.0
    calibration = 2 * attributes * len(sl.ladder) * sl.calibration_faces * speeds.read
    holding = sl.hold_rounds * attributes * 11 * sl.hold_faces * speeds.read
    misses = attributes // 2  # what half the sliders missing the bar costs
    learned = misses * len(sl.learn_keeps) * sl.learn_steps * 64 * speeds.learn
    recalibration = misses * (3 + len(sl.learn_keeps)) * len(sl.ladder) * sl.calibration_faces * speeds.read
    hair = 5 * 4 * (2 + len(sl.hair_keeps)) * len(sl.ladder) * sl.calibration_faces * speeds.read \
        + 5 * 4 * len(sl.hair_keeps) * sl.learn_steps * 64 * speeds.learn
    scaling = attributes * 2 * (4 * len(sl.scales) + 1) * sl.calibration_faces * speeds.read
    removals = attributes * 2 * (4 * len(sl.removal_scales) + 1) * sl.calibration_faces * speeds.read  # 2 kinds of row
    sliders = 2 * train * speeds.read + calibration + holding + learned + recalibration + hair + scaling + removals \
        + (len(sl.blurs) + 1) * sl.calibration_faces * 3 * speeds.read
    judge_read = speeds.read + speeds.judge / 3  # a decode, then the judge's forward pass (a third of a step)
    edits = 2 * attributes * 5 * s.eval_faces  # per bank: both directions, the alphas and 0
    evaluation = (3 * edits * judge_read + edits * speeds.classifier  # three banks; identity kept
                  + 3 * counts["test"] * judge_read)  # reconstructions, the judge's accuracy, what is drawn
    return {"vae": vae, "classifiers": classifiers, "identity": identity, "sliders": sliders,
            "evaluation": evaluation, "app_files": train * speeds.read + 10, "card": 20.0}
