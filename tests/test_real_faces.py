"""Real photos are judged by models trained on real people (dlib): the same person is matched,
different people kept apart, a painted disguise still matched, an absent person not claimed; a
missing model or a face nobody can see is a clear message, never a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disguise.data.scenes import paint_glasses
from disguise.identity.match import Matcher
from disguise.identity.recognisers import (
    DLIB_DISTANCE,
    DRAWN,
    REAL,
    DlibRecogniser,
    FaceShot,
    LearnedRecogniser,
    Recognisers,
)
from disguise.photo.alignment import prepare_face
from disguise.preprocess import Preprocess

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "real_faces"
WEIGHTS = ROOT / "weights"
POLICY = Preprocess(size=64)


@pytest.fixture(scope="module")
def people(astronaut) -> dict[str, Path]:
    from matplotlib import cbook

    return {"obama": FIXTURES / "obama.jpg", "obama2": FIXTURES / "obama2.jpg", "obama3": FIXTURES / "obama3.jpg",
            "biden": FIXTURES / "biden.jpg", "collins": astronaut,
            "hopper": Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))}


@pytest.fixture(scope="module")
def dlib_recogniser() -> DlibRecogniser:
    return DlibRecogniser()


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.from_folder(WEIGHTS)


def _shot(path) -> FaceShot:
    prep = prepare_face(path, POLICY)
    assert prep.method == "eyes", path
    return FaceShot.of(prep.photo, landmarks=prep.landmarks)


def test_the_same_person_is_near_and_different_people_far(people, dlib_recogniser):
    names = list(people)
    emb = dlib_recogniser.embed([_shot(people[n]) for n in names])
    assert emb.shape == (6, 128)
    for i, a in enumerate(names):
        for j, b in enumerate(names[i + 1:], i + 1):
            result = dlib_recogniser.compare(emb[i], emb[j])
            same = a.startswith("obama") and b.startswith("obama")
            assert result["recognised"] == same, (a, b, result["distance"])
            assert (result["distance"] < 0.5) if same else (result["distance"] > 0.65), (a, b, result["distance"])
            assert result["similarity"] == pytest.approx(1 - result["distance"])
            assert result["threshold"] == pytest.approx(1 - DLIB_DISTANCE)


def test_a_sighting_is_matched_to_its_suspect_and_a_painted_disguise_still_is(people, matcher, tmp_path):
    """Obama in painted sunglasses against five suspects (his other photo among them): he ranks
    first, recognised; the others are below the threshold."""
    prep = prepare_face(people["obama"], POLICY)
    inv = np.linalg.inv(np.vstack([prep.photo.to_frame, [0, 0, 1]]))[:2]
    eyes = np.array([prep.landmarks[2:4].mean(0), prep.landmarks[0:2].mean(0)]) @ inv[:, :2].T + inv[:, 2]
    painted = paint_glasses(Image.fromarray(prep.photo.photo), eyes, np.random.default_rng(0), dark=True)
    painted.save(tmp_path / "sighting.jpg", quality=92)
    gallery = [people[n] for n in ("biden", "obama2", "collins", "hopper")]
    result = matcher.match(tmp_path / "sighting.jpg", gallery)
    assert [s.name for s in result.suspects][0] == "obama2" and result.best.recognised and result.matched
    assert [s.recognised for s in result.suspects[1:]] == [False] * 3
    assert result.recogniser.startswith("dlib") and result.kind == REAL
    assert result.summary.startswith("best match: obama2") and "judged by dlib's face recogniser" in result.summary
    # The bundled judge learned drawn faces: it claims nothing about the photos.
    assert result.disguise_from == "" and result.sighting_attributes == []
    assert all(s.differences == [] for s in result.suspects)
    d = result.to_dict()
    assert {"summary", "matched", "threshold", "suspects"} <= set(d) and d["suspects"][0]["name"] == "obama2"


def test_an_absent_person_is_not_claimed(people, matcher):
    result = matcher.match(people["obama3"], [people[n] for n in ("biden", "collins", "hopper")])
    assert not result.matched and result.summary.startswith("no suspect matches")


def test_the_investigators_disguise_is_drawn_on_every_suspect(people, matcher):
    result = matcher.match(people["obama3"], [people["obama"], people["biden"]], seen=["glasses", "beard"])
    assert result.disguise_from == "investigator" and result.sighting_attributes == ["Eyeglasses"]
    for s in result.suspects:
        assert s.difference_labels == ["+glasses", "+beard"] and s.alphas == {"Eyeglasses": 3.0, "No_Beard": -3.0}
        assert np.abs(s.disguised.astype(int) - s.face.astype(int)).mean() > 1  # drawn in it
    with pytest.raises(ValueError, match="unknown disguise 'cape'"):
        matcher.match(people["obama3"], [people["obama"]], seen=["cape"])


def test_drawn_faces_are_judged_by_the_learned_model():
    recognisers = Recognisers.load(WEIGHTS)
    assert isinstance(recognisers.for_kind(DRAWN), LearnedRecogniser)
    assert isinstance(recognisers.for_kind(REAL), DlibRecogniser)
    with pytest.raises(ValueError, match="a face is 'real' or 'drawn'"):
        recognisers.for_kind("painted")


def test_a_missing_model_is_a_clear_message_never_a_crash(people, monkeypatch, tmp_path):
    """Without dlib's model files: no real-face recogniser, and each place that needs one says
    why (the match, the identity line), while drawn faces are still judged."""
    import disguise.photo.detection as D
    from disguise.serving.studio import Studio

    monkeypatch.setattr(D, "RECOGNITION_MODEL", "missing_resnet.dat")
    recognisers = Recognisers.load(WEIGHTS)
    assert recognisers.real is None and "missing_resnet.dat" in recognisers.missing[REAL]
    assert recognisers.drawn is not None
    matcher = Matcher.from_folder(WEIGHTS)
    matcher.recognisers = recognisers
    with pytest.raises(ValueError, match="matching real faces needs a recogniser for them: .*missing_resnet.dat"):
        matcher.match(people["obama"], [people["obama2"]])
    studio = Studio(matcher.editor, recognisers=recognisers, export_dir=tmp_path)
    result = studio.identity(studio.prepare(people["obama"]), {})
    assert result["note"].startswith("not judged: no recogniser for real faces") and "missing_resnet.dat" in result["note"]


def test_a_face_nobody_can_see_is_said_so(matcher, dlib_recogniser, tmp_path):
    import skimage

    from disguise.serving import text
    from disguise.serving.studio import Studio

    with pytest.raises(ValueError, match="no face found in the sighting"):
        matcher.match(skimage.data.coffee(), [FIXTURES / "obama.jpg"])
    studio = Studio(matcher.editor, recognisers=Recognisers(dlib_recogniser, None, {}), export_dir=tmp_path)
    face = studio.prepare(skimage.data.coffee())
    assert not face.framed and "No face found" in face.notice
    line = text.identity_line(studio.identity(face, {"Eyeglasses": 2.0}))
    assert line == "Identity: not judged: no face was found in the photo."
