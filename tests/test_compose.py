"""Composing a witness's face: the face space, the picks, breeding, the session, its pictures, the
simulated witness, and the Compose tab through the real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from disguise.attributes import ATTRIBUTES, INDEX
from disguise.compose.breeding import MAX_PICKS, Breeder, Screen, check_picks
from disguise.compose.face_space import FACE_SPACE_NAME, FaceSpace, check_description, describe
from disguise.compose.form import ALSO, NOT_SURE, QUESTIONS, description_of
from disguise.compose.pictures import aligned_composite, blur_external, contact_sheet, internal_mask
from disguise.compose.session import MAX_GENERATIONS, Composite
from disguise.compose.witness import Witness, pixel_perceiver
from disguise.preprocess import Preprocess
from disguise.sliders.effects import CodeMoments
from tests.appserver import at_once, client, serve

ZERO = [0.0] * len(ATTRIBUTES)


def linear_codes(n: int = 4000, z: int = 6, seed: int = 0):
    """Labels with one strong correlation (Male and No_Beard opposed) and codes linear in them."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random((n, 40)) < 0.3, 1.0, -1.0)
    beard = rng.random(n) < 0.8
    y[:, INDEX["No_Beard"]] = np.where((y[:, INDEX["Male"]] > 0) & beard, -1.0, 1.0)
    beta = rng.normal(0, 1, (40, z))
    b = rng.normal(0, 1, z)
    noise = rng.normal(0, 0.5, (n, z))
    codes = b + y @ beta + noise
    return y, codes, beta, b


def moments_of(y, codes) -> CodeMoments:
    x = torch.cat([torch.ones(len(y), 1, dtype=torch.float64), torch.as_tensor(y)], 1)
    z = torch.as_tensor(codes)
    return CodeMoments(x.T @ x, x.T @ z, z.T @ z)


@pytest.fixture(scope="module")
def space() -> FaceSpace:
    y, codes, _, _ = linear_codes()
    return FaceSpace.from_moments(moments_of(y, codes), ridge=0.0)


def test_the_face_space_recovers_the_labels_effects_and_what_is_left(space):
    y, codes, beta, b = linear_codes()
    assert torch.allclose(space.beta.double(), torch.as_tensor(beta), atol=0.06)
    assert torch.allclose(space.intercept.double(), torch.as_tensor(b), atol=0.06)
    # the residual is the noise: 0.5^2 on the diagonal
    assert torch.allclose(space.residual.diagonal(), torch.full((6,), 0.25), atol=0.03)


def test_a_description_fixes_its_labels_and_infers_the_others(space):
    man = space.description({"Male": True})
    woman = space.description({"Male": False})
    assert man.labels[INDEX["Male"]] == 1 and woman.labels[INDEX["Male"]] == -1
    # men in this data mostly have beards: No_Beard is inferred low for a man, high for a woman
    assert man.labels[INDEX["No_Beard"]] < -0.3 < 0.9 < woman.labels[INDEX["No_Beard"]]
    # the mean is the linear model at the inferred labels
    want = space.intercept + man.labels @ space.beta
    assert torch.allclose(man.mean, want, atol=1e-4)
    # knowing more leaves less spread: the described face space is narrower than the prior
    assert (man.basis ** 2).sum() < (space.description({}).basis ** 2).sum()
    samples = man.sample(20000, torch.Generator().manual_seed(0)).double()
    spread = (man.basis.double() @ man.basis.double().T).diagonal().sqrt()
    assert ((samples.mean(0) - man.mean) / spread).abs().max() < 0.05  # 7 standard errors
    assert torch.allclose(samples.T.cov(), man.basis.double() @ man.basis.double().T, rtol=0.1, atol=0.5)
    u = man.coordinates(samples[:5])
    assert torch.allclose(man.codes(u).double(), samples[:5], atol=1e-3)


def test_face_space_files_load_strictly(space, tmp_path):
    path = tmp_path / FACE_SPACE_NAME
    space.save(path)
    again = FaceSpace.load(path, z_dim=6)
    assert torch.equal(again.beta, space.beta) and again.faces == space.faces
    with pytest.raises(ValueError, match="different runs"):
        FaceSpace.load(path, z_dim=200)
    from disguise.files import write_safetensors

    bad = tmp_path / "bad.safetensors"
    write_safetensors(bad, {"x": torch.zeros(2)}, metadata={"format": "something"})
    with pytest.raises(ValueError, match="not a face space"):
        FaceSpace.load(bad)
    tensors = {"intercept": space.intercept, "beta": space.beta, "residual": space.residual * float("nan"),
               "label_mean": space.label_mean, "label_cov": space.label_cov}
    write_safetensors(bad, tensors, metadata={"format": "disguise-face-space-1", "attributes": ",".join(ATTRIBUTES)})
    with pytest.raises(ValueError, match="non-finite"):
        FaceSpace.load(bad)
    with pytest.raises(FileNotFoundError):
        FaceSpace.load(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("description, message", [
    ({"Eyglasses": True}, "Did you mean Eyeglasses"),
    ({"Male": "maybe"}, "not yes or no"),
    ({"Male": None}, "not yes or no"),
    ({"Male": float("nan")}, "not yes or no"),
    (["Male"], "a mapping"),
])
def test_bad_descriptions_say_what_is_wrong(description, message):
    with pytest.raises(ValueError, match=message):
        check_description(description)


def test_descriptions_from_the_form():
    assert check_description({"Male": "yes", "Eyeglasses": -1, "Bald": 1}) == {"Male": True, "Eyeglasses": False,
                                                                             "Bald": True}
    answers = ["Man", "Older", "Grey", "Moustache", "Yes", NOT_SURE]
    d = description_of(answers, ["Smiling"])
    assert d["Male"] and not d["Young"] and d["Gray_Hair"] and not d["Black_Hair"] and not d["Bald"]
    assert d["Mustache"] and not d["No_Beard"] and d["Eyeglasses"] and "Wearing_Hat" not in d and d["Smiling"]
    assert description_of([NOT_SURE] * len(QUESTIONS)) == {}
    assert describe(d).startswith("Eyeglasses") and "not Black hair" in describe(d)
    with pytest.raises(ValueError, match="Sex: 'Robot' is not one of"):
        description_of(["Robot"] + [NOT_SURE] * (len(QUESTIONS) - 1))
    with pytest.raises(ValueError, match="answered by the questions above"):
        description_of([NOT_SURE] * len(QUESTIONS), ["Male"])
    with pytest.raises(ValueError, match="expected 6 answers"):
        description_of(["Man"])
    assert "Attractive" not in ALSO and "Male" not in ALSO and "Smiling" in ALSO


# ----------------------------------------------------------------------------------------------
# Picks and breeding


@pytest.mark.parametrize("picks, best, message", [
    ([], None, "pick at least one"),
    (None, None, "a list of face numbers"),
    ("3", None, "a list of face numbers"),
    ([12], None, "not on the screen"),
    ([-1], None, "not on the screen"),
    ([float("nan")], None, "not a face number"),
    ([1.5], None, "not a face number"),
    ([True], None, "not a face number"),
    ([0, 1, 2, 3, 4], None, f"at most {MAX_PICKS}"),
    ([0, 1], 5, "must be one of the picks"),
    ([0, 1], "best", "must be one of the picks"),
])
def test_bad_picks_say_what_is_wrong(picks, best, message):
    with pytest.raises(ValueError, match=message):
        check_picks(picks, best, 12)


def test_good_picks():
    assert check_picks([3, 3.0, 5], 5, 12) == ([3, 5], 5)
    assert check_picks((0,), None, 12) == ([0], None)
    assert check_picks([2, 7], float("nan"), 12) == ([2, 7], None)


def oracle_search(breeder: Breeder, target: torch.Tensor, generations: int, rng: np.random.Generator,
                  wrong: float = 0.0, picks: int = 3) -> list[Screen]:
    """A witness in the face space itself: picks the faces nearest the target (some at random)."""
    history = [breeder.first()]
    for g in range(generations):
        screen = history[-1]
        order = torch.argsort(((screen.u - target) ** 2).sum(1)).tolist()
        chosen = []
        for i in order:
            i = int(rng.integers(screen.size)) if rng.random() < wrong else i
            if i not in chosen:
                chosen.append(i)
            if len(chosen) == picks:
                break
        screen.picks, screen.best = chosen, chosen[0]
        if g + 1 < generations:
            history.append(breeder.next(history))
    return history


@pytest.mark.parametrize("method", ["estimate", "genetic"])
def test_breeding_closes_in_on_the_remembered_face(method):
    """Over 20 remembered faces in a 12-dimensional face space, 8 screens of 12 with 20% wrong
    picks bring the composite much nearer than the best of the first screen; the estimate
    search nearer than the genetic one."""
    gains = []
    for k in range(20):
        target = torch.randn(12, generator=torch.Generator().manual_seed(1000 + k))
        breeder = Breeder(12, 12, seed=k, method=method)
        history = oracle_search(breeder, target, 8, np.random.default_rng(k), wrong=0.2)
        first = ((history[0].u - target) ** 2).sum(1).min().sqrt()
        final = breeder.estimate(history) if method == "estimate" else Breeder.best(history)
        gains.append(float((final - target).norm() / first))
    assert np.median(gains) < (0.6 if method == "estimate" else 0.95), gains


def test_the_choice_model_s_gradient_and_curvature_are_its_objective_s():
    """The closed-form gradient and Hessian against autograd's, on three picked screens."""
    breeder = Breeder(12, 6, seed=1)
    history = [breeder.first()]
    for picks, best in (([3, 1], 1), ([0], None), ([2, 5, 7], 5)):
        history[-1].picks, history[-1].best = picks, best
        history.append(breeder.next(history))
    terms = breeder.choices(history)
    t = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    _, gradient, hessian = breeder._terms(t, *terms)
    assert torch.allclose(gradient, torch.autograd.functional.jacobian(lambda x: breeder._terms(x, *terms)[0], t))
    assert torch.allclose(hessian, torch.autograd.functional.hessian(lambda x: breeder._terms(x, *terms)[0], t))
    estimate = breeder.estimate(history).double()
    assert breeder._terms(estimate, *terms)[1].norm() < 1e-5  # the estimate is the optimum


def test_breeding_is_deterministic_and_carries_the_best_over():
    a, b = Breeder(12, 8, seed=3), Breeder(12, 8, seed=3)
    ha, hb = [a.first()], [b.first()]
    assert torch.equal(ha[0].u, hb[0].u)
    for h in (ha, hb):
        h[0].picks, h[0].best = [4, 2], 2
    na, nb = a.next(ha), b.next(hb)
    assert torch.equal(na.u, nb.u)
    assert torch.equal(na.u[0], ha[0].u[2])  # the best so far, carried over as face 1
    assert torch.allclose(na.u[1], a.estimate(ha))  # what the picks agree on, as face 2
    assert not torch.equal(Breeder(12, 8, seed=4).first().u, ha[0].u)
    g = Breeder(12, 8, seed=3, method="genetic")
    hg = [g.first()]
    hg[0].picks, hg[0].best = [4, 2], 2
    assert torch.equal(g.next(hg).u[0], hg[0].u[2])
    with pytest.raises(ValueError, match="no picks"):
        a.next([a.first()])
    with pytest.raises(ValueError, match="method must be"):
        Breeder(method="magic")


# ----------------------------------------------------------------------------------------------
# The session


def decode_stub(z: torch.Tensor) -> np.ndarray:
    """Faces standing for codes: each code's first three numbers as a flat colour."""
    z = torch.as_tensor(z).reshape(-1, z.shape[-1])
    colour = ((torch.tanh(z[:, :3]) + 1) * 127).to(torch.uint8).numpy()
    return np.broadcast_to(colour[:, None, None, :], (len(z), 16, 16, 3)).copy()


def test_a_composite_picks_undoes_and_refuses_stale_picks(space):
    c = Composite.start(space, {"Male": True}, decode_stub, seed=5)
    assert c.generation == 1 and c.code() is None and len(c.screen) == 12
    c.pick([1, 4], 4, generation=1)
    assert c.generation == 2 and c.code() is not None
    first_code = c.code().clone()
    with pytest.raises(ValueError, match="for screen 1, but screen 2 is showing"):
        c.pick([0], generation=1)
    with pytest.raises(ValueError, match="screen number"):
        c.pick([0], generation=float("nan"))
    c.pick([0, 2], generation=2)
    assert c.generation == 3
    assert c.record()["picks"] == [{"screen": 1, "picked": [1, 4], "best": 4},
                                   {"screen": 2, "picked": [0, 2], "best": 0}]
    assert c.undo() and c.generation == 2 and c.screens[-1].picks == []
    assert torch.equal(c.code(), first_code)  # back where the first picks left it
    assert c.undo() and not c.undo() and c.generation == 1 and c.code() is None
    again = Composite.start(space, {"Male": True}, decode_stub, seed=5)
    assert np.array_equal(again.screen, Composite.start(space, {"Male": True}, decode_stub, seed=5).screen)
    other = Composite.start(space, {"Male": True}, decode_stub)
    assert other.composite_id != c.composite_id
    with pytest.raises(ValueError, match="seed must be"):
        Composite.start(space, {}, decode_stub, seed=-1)


def test_a_composite_stops_at_the_generation_limit(space):
    c = Composite.start(space, {}, decode_stub, seed=1)
    for g in range(1, MAX_GENERATIONS):
        c.pick([0], generation=g)
    assert c.generation == MAX_GENERATIONS
    with pytest.raises(ValueError, match=f"reached {MAX_GENERATIONS} screens, the limit"):
        c.pick([0])
    assert len(c.faces) == MAX_GENERATIONS  # bounded: nothing more was decoded or kept


def test_the_pictures(space):
    policy = Preprocess(size=64)
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    blurred = blur_external(face, policy)
    mask = internal_mask(64, policy)
    assert mask[32, 32] == 1.0 and mask[0, 0] == 0.0 and mask[63, 63] == 0.0
    inner = mask == 1.0
    assert np.array_equal(blurred[inner], face[inner])
    assert np.abs(blurred[0:6, 0:6].astype(int) - face[0:6, 0:6]).mean() > 20
    aligned = aligned_composite(face, policy)
    assert aligned.shape == (218, 178, 3)
    left, top, right, bottom = policy.crop
    centre = np.asarray(Image.fromarray(face).resize((right - left, bottom - top), Image.Resampling.BICUBIC))
    assert np.array_equal(aligned[top:bottom, left:right], centre)
    c = Composite.start(space, {"Eyeglasses": True}, decode_stub, seed=2)
    c.pick([3, 5], 5)
    sheet = contact_sheet(c)
    record = json.loads(sheet.info["composite"])
    assert record["picks"] == [{"screen": 1, "picked": [3, 5], "best": 5}]
    assert record["description"] == {"Eyeglasses": True} and "Eyeglasses" in sheet.info["Description"]
    assert "drawn faces" in sheet.info["note"]
    # the best is framed in orange, a pick in blue, in the first row
    px = np.asarray(sheet)
    assert (px == [230, 140, 20]).all(-1).sum() > 100 and (px == [40, 110, 220]).all(-1).sum() > 100


def test_the_witness_picks_what_it_remembers():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    honest = Witness(pixel_perceiver(), faces[7], picks=3, noise=0.0, wrong=0.0)
    assert honest.choose(faces)[0] == 7
    careless = Witness(pixel_perceiver(), faces[7], picks=1, noise=0.0, wrong=1.0, seed=3)
    picks = [careless.choose(faces)[0] for _ in range(40)]
    assert len(set(picks)) > 5  # every pick a random face
    assert len(set(honest.choose(faces, 4))) == 4


def test_the_witness_in_a_line_up():
    """The line-up measures the witness's noise and lapses: an honest witness always names the
    culprit, one who only guesses does so one time in six, and more noise names it less often."""
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    faces[1:] = np.clip(faces[0].astype(int) + rng.normal(0, 60, faces[1:].shape), 0, 255)  # fillers alike
    assert Witness(pixel_perceiver(), faces[0], noise=0.0, wrong=0.0).lineup(faces) == 1.0
    guessing = Witness(pixel_perceiver(), faces[0], noise=0.0, wrong=1.0, seed=2).lineup(faces, trials=600)
    assert 0.1 < guessing < 0.25
    rates = []
    for noise in (4.0, 12.0, 48.0):
        w = Witness(pixel_perceiver(), faces[0], noise=noise, wrong=0.0, seed=3).calibrate(faces[1:])
        rates.append(w.lineup(faces, trials=600))
    assert rates[0] > rates[1] > rates[2] > 0.1, rates


def test_a_case_s_line_up_is_its_photo_and_the_people_who_fit_the_description_best():
    from disguise.compose.simulation import LINEUP, make_cases

    rng = np.random.default_rng(0)
    people = np.arange(300)
    labels = np.where(rng.random((300, 40)) < 0.5, 1, -1).astype(np.int8)
    described = ("Male", "Eyeglasses", "Bald", "Smiling")
    for case in make_cases(people, labels, 5, gallery=40, described=described):
        assert case.lineup[0] == case.gallery[0] == case.target and len(case.lineup) == LINEUP
        assert set(case.lineup[1:]) <= set(case.gallery[1:])
        cols = [INDEX[a] for a in described]
        fit = {int(r): int((labels[r, cols] == labels[case.target, cols]).sum()) for r in case.gallery[1:]}
        left = [fit[int(r)] for r in case.gallery[1:] if r not in case.lineup]
        assert min(fit[int(r)] for r in case.lineup[1:]) >= max(left)
        assert all(fit[int(r)] >= 1 for r in case.lineup[1:])  # same sex at least


# ----------------------------------------------------------------------------------------------
# Through the real server


def _picture(item) -> np.ndarray:
    path = item["image"] if isinstance(item, dict) and "image" in item else item[0]
    path = path["path"] if isinstance(path, dict) else path
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_compose_start_pick_undo_and_export_through_the_server(server):
    url, studio = server
    assert studio.face_space is not None
    c = client(url)
    out = c.predict({"Male": True, "Eyeglasses": True}, True, 11, api_name="/compose_start")
    screen, picks, best, generation, status, composite = out  # (the session's state is not sent)
    assert len(screen) == 12 and generation == 1 and picks == [] and composite is None
    assert "Screen 1" in status and "Eyeglasses" in status
    out = c.predict(1, ["3", "7"], "7", True, api_name="/compose_pick")
    assert out[3] == 2 and out[5] is not None and "Screen 2" in out[4]
    second = [_picture(x) for x in out[0]]
    out = c.predict(2, [1], None, False, api_name="/compose_pick")
    assert out[3] == 3
    out = c.predict(True, api_name="/compose_undo")  # drawn as it was shown, blurred
    assert out[3] == 2 and np.abs(_picture(out[0][2]).astype(int) - second[2]).mean() < 1  # screen 2 again
    files = c.predict([], *ZERO, api_name="/compose_export")
    assert len(files) == 2
    with Image.open(files[0]) as portrait, Image.open(files[1]) as sheet:
        record = json.loads(portrait.info["composite"])
        assert record["picks"][0] == {"screen": 1, "picked": [2, 6], "best": 6}  # face numbers 3, 7
        assert record["description"] == {"Male": True, "Eyeglasses": True}
        assert json.loads(sheet.info["composite"]) == record and sheet.height > portrait.height // 2
    refined = c.predict([], *[2.0 if a == "Wearing_Hat" else 0.0 for a in ATTRIBUTES], api_name="/compose_refine")
    assert refined is not None


@pytest.mark.parametrize("generation, picks, best, message", [
    (1, [], None, "pick at least one"),
    (1, ["13"], None, "not on the screen"),
    (1, ["0"], None, r"face 0 is not on the screen \(it shows faces 1 .. 12\)"),
    (1, ["nan"], None, "not a face number"),
    (1, ["1", "2", "3", "4", "5"], None, "at most 4"),
    (1, ["1"], "5", "must be one of the picks"),
    (4, ["1"], None, "for screen 4, but screen 1 is showing"),
])
def test_bad_picks_through_the_server_keep_the_work(server, generation, picks, best, message):
    from gradio_client.exceptions import AppError

    url, _ = server
    c = client(url)
    first = c.predict({}, False, 3, api_name="/compose_start")
    with pytest.raises(AppError, match=message):
        c.predict(generation, picks, best, False, api_name="/compose_pick")
    out = c.predict(1, ["2"], None, False, api_name="/compose_pick")  # nothing was lost
    carried = np.abs(_picture(out[0][0]).astype(int) - _picture(first[0][1])).mean()
    assert out[3] == 2 and carried < 1  # face 2 of the first screen, carried over as face 1


def test_compose_without_a_composite_or_with_a_bad_description(server):
    from gradio_client.exceptions import AppError

    url, _ = server
    c = client(url)
    with pytest.raises(AppError, match="Start a composite first"):
        c.predict(1, ["1"], None, False, api_name="/compose_pick")
    with pytest.raises(AppError, match="Did you mean Eyeglasses"):
        c.predict({"Eyglasses": True}, False, None, api_name="/compose_start")
    with pytest.raises(AppError, match="not yes or no"):
        c.predict({"Male": "perhaps"}, False, None, api_name="/compose_start")
    with pytest.raises(AppError, match="Start a composite first"):
        c.predict([], *ZERO, api_name="/compose_export")


def test_concurrent_witnesses_never_see_each_others_faces(server):
    """Eight sessions compose at once from the same description and seed; each breeds from its
    own picks, and sees exactly the screens its own picks give."""
    url, _ = server
    screens = {}

    def session(k: int) -> None:
        c = client(url)
        c.predict({"Male": False}, False, 5, api_name="/compose_start")
        seen = []
        for g in range(1, 4):
            out = c.predict(g, [str(1 + (k + g) % 12)], None, False, api_name="/compose_pick")
            assert out[3] == g + 1, f"screen {out[3]} after {g} picks"
            seen.append(_picture(out[0][0]))
        screens[k] = seen

    errors = at_once(8, session, timeout=300)
    assert not errors, errors
    for k in range(8):  # the same picks alone in one session give the same screens
        c = client(url)
        c.predict({"Male": False}, False, 5, api_name="/compose_start")
        for g in range(1, 4):
            out = c.predict(g, [str(1 + (k + g) % 12)], None, False, api_name="/compose_pick")
            assert np.abs(_picture(out[0][0]).astype(int) - screens[k][g - 1]).mean() < 3
        if k == 1:
            break
    assert np.abs(screens[0][0].astype(int) - screens[1][0]).mean() > 1  # other picks, other faces


def test_see_in_disguise_and_match_against_suspects(synthetic_root):
    """On the bundled weights (the Match tab needs their identity model): the composite goes to the
    Disguise tab as its face, and to the Match tab as a drawn, aligned sighting."""
    from gradio_client import handle_file

    from disguise.files import BUNDLED_WEIGHTS

    with serve(BUNDLED_WEIGHTS) as (url, _):
        hand_over(client(url), synthetic_root, handle_file)


def hand_over(c, synthetic_root, handle_file) -> None:
    c.predict({"Male": True}, False, 2, api_name="/compose_start")
    c.predict(1, ["2"], None, False, api_name="/compose_pick")
    out = c.predict([], *ZERO, "model", "", api_name="/compose_to_disguise")
    assert "composite" in out[3]  # the notice (the face, a state, is not sent)
    edited = c.predict([], *[3.0 if a == "Eyeglasses" else 0.0 for a in ATTRIBUTES], "model", api_name="/edit")
    assert edited is not None  # the Disguise tab now edits the composite
    sighting, drawn = c.predict([], *ZERO, api_name="/compose_to_match")[:2]
    assert drawn is True
    with Image.open(sighting) as im:
        assert im.size == (178, 218) and "composite" in im.info
    suspects = sorted((synthetic_root / "img_align_celeba").glob("*.jpg"))[:3]
    summary, pictures, _ = c.predict(handle_file(sighting), [handle_file(str(p)) for p in suspects], [], True,
                                     api_name="/match")
    assert len(pictures) == 9 and summary


def test_a_click_on_a_face_picks_or_unpicks_it():
    from disguise.serving.events import toggle_pick

    assert toggle_pick([], 2) == ["3"]
    assert toggle_pick(["3"], 5) == ["3", "6"]
    assert toggle_pick(["3", "6"], 2) == ["6"]
    assert toggle_pick(["1", "2", "3", "4"], 8) == ["1", "2", "3", "4"]  # four at most
    assert toggle_pick(None, 0) == ["1"] and toggle_pick(["x"], 0) == ["1"]


# ----------------------------------------------------------------------------------------------
# The command line


def compose_cli(*args) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, "-m", "train.compose", *map(str, args)], cwd=root, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True)


def test_train_compose_fits_and_simulates_a_witness(tiny_run, synthetic_root, tmp_path):
    """The tiny model with the bundled identity model as judge, a pixel witness, two targets in a
    gallery of four, two screens: every figure the report promises, per generation."""
    import shutil

    from disguise.files import BUNDLED_WEIGHTS

    weights = tmp_path / "weights"
    shutil.copytree(tiny_run, weights)
    for name in ("identity.json", "identity.safetensors", "identity_verification.json"):
        shutil.copyfile(BUNDLED_WEIGHTS / name, weights / name)
    r = compose_cli("fit", "--model", weights, "--data", synthetic_root, "--quiet")
    assert r.returncode == 2 and "exists; pass --force" in r.stderr
    r = compose_cli("fit", "--model", weights, "--data", synthetic_root, "--quiet", "--force")
    assert r.returncode == 0 and "components hold" in r.stdout, r.stderr[-2000:]
    out = tmp_path / "report.json"
    r = compose_cli("simulate", "--model", weights, "--data", synthetic_root, "--witness", "pixels", "--split", "test",
                    "--targets", 2, "--generations", 2, "--gallery", 4, "--match-suspects", 3, "--json", out, "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(out.read_text())
    for kind in ("search", "random", "description", "favourite"):
        assert [g["generation"] for g in report[kind]] == [1, 2]
        for g in report[kind]:
            assert 0 <= g["top1"] <= g["top5"] <= 1 and 1 <= g["median_rank"] <= 4
    lineup = report["witness"].pop("lineup")
    assert report["witness"] == {"perceives": "pixels", "picks": 3, "noise": 0.5, "wrong": 0.2}
    assert 0 <= lineup <= 1 and "names the culprit from a line-up" in r.stdout
    assert 0 <= report["ceiling"]["top5"] <= 1 and 0 <= report["match"]["first_undisguised"] <= 1
    assert "search top1/top5/median" in r.stdout and "Match tab" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["--witness", "weights"], "must not perceive with the judge's own identity model"),
    (["--witness", "no-such-folder"], "no identity.safetensors there"),
    (["--witness", "pixels", "--kinds", "search,guess"], "--kinds takes"),
    (["--witness", "pixels", "--targets", "0"], "must be at least 1"),
    (["--witness", "pixels", "--wrong", "1.5"], "--wrong must lie in 0..1"),
])
def test_train_compose_refuses_bad_options(args, message):
    r = compose_cli("simulate", "--model", "weights", "--data", "data", *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_the_compose_events_keep_the_work(tiny_run):
    """The blur toggle redraws the screen and keeps the picks made on it; without a face space
    the tab says how to make one; nothing to refine before the first pick."""
    from disguise.serving import events
    from disguise.serving.studio import Studio

    studio = Studio.load(tiny_run)
    c, screen, picks, best, n, status, composite = events.compose_start(studio, '{"Male": true}', True, 4)
    assert n == 1 and composite is None and len(screen) == 12
    redrawn = events.compose_redraw(studio, c, False)
    assert redrawn[2] is events.KEEP and redrawn[3] is events.KEEP and redrawn[4] == 1
    assert events.compose_redraw(studio, None, False) == (events.KEEP,) * 7
    assert events.compose_refine(studio, c, [], *ZERO) is None
    with pytest.raises(ValueError, match="Pick at least once"):
        events.compose_to_match(studio, c, [], *ZERO)
    with pytest.raises(ValueError, match="must be JSON"):
        events.compose_start(studio, "{Male", True, 4)
    with pytest.raises(ValueError, match="seed must be"):
        events.compose_start(studio, {}, True, 2.5)
    assert events.compose_undo(studio, c, True, warn=lambda m: None)[4] == 1
    studio.face_space = None
    with pytest.raises(ValueError, match="face_space.safetensors"):
        events.compose_start(studio, {}, True, None)
