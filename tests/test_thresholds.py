"""A classifier's decision thresholds: fitted only where they read a label much better, kept
with the classifier, and used wherever it reads faces."""

import numpy as np
import pytest
import torch

from disguise.attributes import ATTRIBUTES, INDEX
from disguise.classifier.model import (
    AttributeClassifier,
    ClassifierConfig,
    classifier_accuracy,
    face_logits,
    load_classifier,
    predict,
)
from disguise.classifier.thresholds import balanced_accuracies, fit_thresholds
from disguise.recipe.settings import RecipeSettings


def _faces(n=400, seed=0):
    """Logits of a classifier that ranks every label well; Blurry (5%) sits under 0 on every
    face, Male (50%) is read right at 0."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n, len(ATTRIBUTES))) < 0.5
    truth[:, INDEX["Blurry"]] = rng.random(n) < 0.05
    logits = np.where(truth, 2.0, -2.0) + rng.normal(0, 0.5, truth.shape)
    logits[:, INDEX["Blurry"]] = np.where(truth[:, INDEX["Blurry"]], -2.0, -5.0) + rng.normal(0, 0.5, n)
    return logits, truth


def test_balanced_accuracy_matches_counting_by_hand():
    rng = np.random.default_rng(1)
    logits, truth = rng.normal(size=50), rng.random(50) < 0.3
    cuts = np.array([-1.0, 0.0, 0.7])
    by_hand = [0.5 * ((logits[truth] > c).mean() + (logits[~truth] <= c).mean()) for c in cuts]
    np.testing.assert_allclose(balanced_accuracies(logits, truth, cuts), by_hand)


def test_a_label_ranked_well_but_never_called_gets_its_threshold_and_others_stay_at_0():
    logits, truth = _faces()
    moved = fit_thresholds(logits, truth)
    assert set(moved) == {"Blurry"}
    assert -5.0 < moved["Blurry"] < -2.0
    cut = np.array([moved["Blurry"]])
    k = INDEX["Blurry"]
    assert balanced_accuracies(logits[:, k], truth[:, k], cut)[0] > 0.95
    assert fit_thresholds(logits, truth, min_gain=1.0) == {}  # a gain no threshold can give: never


def test_too_few_faces_with_a_label_leave_it_at_0_and_bad_shapes_are_refused():
    logits, truth = _faces(n=60)
    truth[:, INDEX["Blurry"]] = False
    truth[:3, INDEX["Blurry"]] = True
    assert "Blurry" not in fit_thresholds(logits, truth)
    with pytest.raises(ValueError, match="must both be"):
        fit_thresholds(logits[:, :5], truth[:, :5])


def test_a_classifier_keeps_its_thresholds_and_reads_with_them(tmp_path):
    torch.manual_seed(0)
    classifier = AttributeClassifier(ClassifierConfig(widths=(4,))).eval()
    faces = np.random.default_rng(0).integers(0, 255, (8, 64, 64, 3), dtype=np.uint8)
    logits = face_logits(classifier, faces, "cpu")
    k = INDEX["Smiling"]
    cut = float(np.median(logits[:, k]))
    classifier.set_thresholds({"Smiling": cut})
    classifier.save_pretrained(tmp_path)
    again = load_classifier(tmp_path)
    assert again.config.thresholds == {"Smiling": cut}
    seen = predict(again, torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255).numpy()
    np.testing.assert_array_equal(seen[:, k], logits[:, k] > cut)
    np.testing.assert_array_equal(np.delete(seen, k, 1), np.delete(logits, k, 1) > 0)
    labels = np.where(logits > cut, 1, -1)
    assert classifier_accuracy(again, faces, labels, "cpu")["Smiling"]["balanced_accuracy"] == 1.0


def test_thresholds_name_real_labels_and_are_finite():
    with pytest.raises(ValueError, match="not CelebA attributes: Tattoo"):
        ClassifierConfig(thresholds={"Tattoo": 1.0})
    with pytest.raises(ValueError, match="finite"):
        ClassifierConfig(thresholds={"Blurry": float("nan")})


def test_the_recipe_records_the_gain_so_runs_made_before_it_are_out_of_date():
    """Runs made before thresholds read every label at 0 (a gain of 1: never moved); the default
    moves them, so their classifiers' stage, and those made from it, are made again."""
    assert RecipeSettings().for_stage("classifiers")["classifier_threshold_gain"] == 0.2
    assert "classifier_threshold_gain" not in RecipeSettings(classifier_threshold_gain=1.0).for_stage("classifiers")


@pytest.mark.parametrize("gain", [-0.1, 1.5, float("nan")])
def test_a_gain_outside_0_to_1_is_refused(gain):
    with pytest.raises(ValueError, match="classifier_threshold_gain is a share"):
        RecipeSettings(classifier_threshold_gain=gain)


def test_the_evaluation_says_where_the_judge_reads_away_from_0():
    from disguise.evaluation.report import Report, markdown

    figures = {"judge": {"adds": 1, "attributes": 2, "floor": 2, "informative": 2, "removals": 1}}
    base = dict(reconstruction={"images": 4, "mse": 0.001, "psnr": 30.0, "ssim": 0.9}, classifier={},
                judge_reads={"Blurry": 0.9, "Smiling": 0.95}, figures=figures)
    said = markdown(Report(**base, judge_thresholds={"Blurry": -3.691}))
    assert "above a logit other than 0" in said and "Blurry (-3.69)" in said
    assert "above a logit other than 0" not in markdown(Report(**base))
    assert '"judge_thresholds"' in Report(**base, judge_thresholds={"Blurry": -3.691}).to_json()
