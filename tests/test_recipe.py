"""train.recipe: one command from a data folder to the folder the app serves, resumable, refusing
what it cannot do. The runs here are --smoke at 32 px on the session's small synthetic set."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from disguise.data.people import split_people
from disguise.recipe.ledger import RecipeError
from disguise.recipe.settings import Phase, RecipeSettings, as_options, made_before, smoke
from train.recipe import main as recipe_main

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--smoke", "--image-size", "32", "--z-dim", "16", "--encoder-filters", "16,32,32",
         "--decoder-filters", "32,16,3", "--quiet"]


def recipe(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "train.recipe", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=kw.pop("timeout", 85), env=env, **kw)


def stages(run: Path) -> dict:
    return json.loads((run / "recipe.json").read_text())["stages"]


@pytest.fixture(scope="module")
def smoke_run(synthetic_root, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("recipe") / "run"
    r = recipe("--data", str(synthetic_root), "--out", str(run), *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    (run / "stdout.txt").write_text(r.stdout)
    return run


def test_smoke_makes_every_file_the_app_and_the_evaluation_read(smoke_run):
    out = (smoke_run / "stdout.txt").read_text()
    # The plan: every stage, its status and an estimate; the summary: a line per stage with its time.
    for name in ("vae", "classifiers", "identity", "sliders", "evaluation", "app_files", "card"):
        assert f". {name}" in out and f"\n  {name}" in out, name
    assert "about" in out and "python app.py --weights" in out
    record = stages(smoke_run)
    assert all(r["status"] == "done" and r["seconds"] >= 0 for r in record.values())
    for name in ("config.json", "model.safetensors", "attribute_vectors.safetensors", "attribute_vectors_seed.safetensors",
                 "attribute_classifier.json", "guide/attribute_classifier.json", "chooser/attribute_classifier.json",
                 "identity.safetensors", "identity_verification.json", "evaluation.md", "face_space.safetensors",
                 "decoder.onnx", "atlas.png", "README.md", "loss_curve.png"):
        assert (smoke_run / name).is_file(), name
    judge = json.loads((smoke_run / "attribute_classifier.json").read_text())
    guide = json.loads((smoke_run / "guide" / "attribute_classifier.json").read_text())
    assert judge["arch"] == "resnet18" and guide["arch"] == "convnet"  # the judge: a network we did not write
    split = json.loads((smoke_run / "classifiers.json").read_text())
    assert not split["by_image"] and sum(g["faces"] for g in split["split"].values()) == 240
    report = json.loads((smoke_run / "evaluation.json").read_text())
    assert set(report["figures"]) == {"judge", "chooser", "baseline"}  # the chooser's and the effects' beside
    assert "## Who grades" in (smoke_run / "evaluation.md").read_text()


def test_the_model_card_has_hub_metadata_and_the_command(smoke_run):
    card = (smoke_run / "README.md").read_text()
    head, body = card.split("---\n", 2)[1:]
    assert "license: mit" in head and "library_name: pytorch" in head and "model-index:" in head
    assert "python -m train.recipe" in body and "--smoke" in body
    assert "learned drawn faces" in body  # said plainly where a photo's edit could be taken for a fact
    assert "![atlas](atlas.png)" in body


def test_the_app_serves_the_run_folder(smoke_run, astronaut):
    from gradio_client import handle_file

    from tests.appserver import client, serve

    with serve(smoke_run) as (url, studio):
        c = client(url)
        zero = [0.0] * 40
        prepared = c.predict(handle_file(str(astronaut)), False, [], *zero, api_name="/prepare")
        assert Path(prepared[2]).is_file()
        edited = c.predict([], *[3.0 if i == 15 else 0.0 for i in range(40)], "model", api_name="/edit")
        assert Path(edited).is_file()
        assert studio.editor.bank.method in ("calibrated", "mixed")


def test_the_benchmark_reads_a_runs_stage_times_and_its_epochs_back(smoke_run):
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "recipe.py"), "--report", str(smoke_run)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    for name in ("vae", "classifiers", "identity", "sliders", "evaluation", "app_files", "card"):
        assert f"  {name} " in r.stdout, name
    assert "target on 2 CPU cores: 3 h" in r.stdout and "judge     adds at 90/90:" in r.stdout
    assert "vae          1 epochs in 1 runs" in r.stdout and "classifiers  3 epochs in 3 runs" in r.stdout


def test_the_upload_set_leaves_the_work_behind(smoke_run, monkeypatch):
    from disguise.recipe import runner
    from disguise.recipe.card import upload_set

    files = {str(p) for p in upload_set(smoke_run)}
    assert {"README.md", "model.safetensors", "atlas.png", "guide/attribute_classifier.safetensors",
            "recipe.json"} <= files
    assert not any(f.startswith("work/") or f.endswith(".log") for f in files)
    calls = {}

    class FakeApi:
        def create_repo(self, repo_id, exist_ok):
            calls["repo"] = repo_id

        def upload_folder(self, repo_id, folder_path, allow_patterns, commit_message):
            calls.update(folder=folder_path, files=set(allow_patterns))
            return "https://huggingface.co/user/name/commit/0"

    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert runner.push_folder(smoke_run, "user/name").endswith("/commit/0")
    assert calls["repo"] == "user/name" and calls["files"] == files


def test_evaluating_a_run_shipped_without_its_judge_is_refused(smoke_run, synthetic_root, tmp_path):
    """A bundle made by the recipe leaves its judge behind (too big to ship); train.evaluate then
    refuses to train a stand-in that has seen the chooser's people, and says how to remake it."""
    shipped = tmp_path / "shipped"
    shutil.copytree(smoke_run, shipped, ignore=shutil.ignore_patterns("work", "attribute_classifier.*"))
    r = subprocess.run([sys.executable, "-m", "train.evaluate", "--model", str(shipped), "--data",
                        str(synthetic_root), "--faces", "2", "--quiet"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "ships without its judge" in r.stderr and "--until classifiers" in r.stderr
    assert "Traceback" not in r.stderr
    assert (shipped / "evaluation.json").read_bytes() == (smoke_run / "evaluation.json").read_bytes()  # untouched


def test_a_bundle_leaves_the_judge_behind_and_says_where_it_went(smoke_run, tmp_path):
    from disguise.recipe.card import NO_JUDGE_ROW, bundle
    from disguise.sliders.editor import Editor

    dest = tmp_path / "weights"
    (dest / "classic").mkdir(parents=True)
    (dest / "classic" / "config.json").write_text("{}")
    (dest / "attribute_classifier.safetensors").write_bytes(b"an earlier bundle's judge")
    copied = {str(p) for p in bundle(smoke_run, dest)}
    assert "model.safetensors" in copied and "chooser/attribute_classifier.safetensors" in copied
    assert not (dest / "attribute_classifier.safetensors").exists() and not (dest / "attribute_classifier.json").exists()
    assert (dest / "classic" / "config.json").read_text() == "{}"  # the folder's other parts stay
    assert NO_JUDGE_ROW in (dest / "README.md").read_text()
    editor = Editor.from_pretrained(dest)
    assert editor.render(editor.encode(np.zeros((1, 32, 32, 3), np.uint8))[0], {"Eyeglasses": 2}).shape == (32, 32, 3)


def test_a_second_run_redoes_nothing_and_a_changed_setting_is_named(smoke_run, synthetic_root, capsys):
    r = recipe("--data", str(synthetic_root), "--out", str(smoke_run), *SMALL)
    assert r.returncode == 0 and "every stage is done" in r.stdout, r.stderr[-2000:]
    before = stages(smoke_run)
    with pytest.raises(SystemExit) as e:
        recipe_main(["--data", str(synthetic_root), "--out", str(smoke_run), *SMALL, "--eval-faces", "6"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "evaluation: eval_faces: 4 -> 6" in err and "--redo" in err
    assert "card: made from evaluation" in err and "sliders" not in err  # what depends on it, and nothing else
    assert stages(smoke_run) == before  # nothing was changed
    r = recipe("--data", str(synthetic_root), "--out", str(smoke_run), *SMALL, "--redo")
    record = json.loads((smoke_run / "recipe.json").read_text())
    assert r.returncode == 0 and "--redo" not in record["command"]  # what makes the run from nothing
    assert record["command"].startswith("python -m train.recipe --data ")


def test_killed_during_a_stage_it_resumes_without_redoing_the_stages_before(synthetic_root, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "train.recipe", "--data", str(synthetic_root), "--out", str(run), *SMALL]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 80
    try:
        while time.time() < deadline:  # kill -9 once the sliders stage is under way
            if (run / "recipe.json").is_file() and stages(run).get("sliders", {}).get("status") == "running" \
                    and (run / "work" / "sliders" / "seed.safetensors").is_file():
                break
            time.sleep(0.05)
        else:
            pytest.fail("the sliders stage never started")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    before = stages(run)
    assert [k for k, v in before.items() if v["status"] == "done"] == ["vae", "classifiers", "identity"]
    assert before["sliders"]["status"] == "running"
    weights = (run / "model.safetensors").stat().st_mtime_ns
    seed_bank = (run / "work" / "sliders" / "seed.safetensors").stat().st_mtime_ns
    r = recipe("--data", str(synthetic_root), "--out", str(run), *SMALL, "--until", "sliders")  # the rest: the smoke run
    assert r.returncode == 0, r.stderr[-3000:]
    assert "sliders      resume" in r.stdout
    plan = next(line for line in r.stdout.splitlines() if "sliders      resume" in line)
    assert plan.endswith("% done before)")  # the seed's bank at least: its estimate is of what is left
    assert "evaluation   not now (--until)" in r.stdout  # and the total leaves it out
    after = stages(run)
    for name in ("vae", "classifiers", "identity"):  # not redone
        assert after[name] == before[name], name
    assert (run / "model.safetensors").stat().st_mtime_ns == weights
    assert (run / "work" / "sliders" / "seed.safetensors").stat().st_mtime_ns == seed_bank  # its finished step kept
    assert after["sliders"]["status"] == "done" and (run / "attribute_vectors.safetensors").is_file()
    assert "evaluation" not in after


def test_a_resumed_stage_bar_starts_where_the_run_was_and_times_only_what_is_left():
    import io

    from tqdm import tqdm

    from disguise.recipe.progress import StageBar

    bar = tqdm(total=1000, file=io.StringIO(), mininterval=0)
    on_batch = StageBar(bar).along(500, 100)  # the second pass of a run begun 500 units in
    on_batch(1, 9)  # resumed at its 10th batch: the 609 units before were done in another process
    assert bar.n == 610
    for batch in range(10, 20):
        time.sleep(0.01)
        on_batch(1, batch)
    assert bar.n == 620
    assert bar.format_dict["rate"] < 1000  # ten steps in 0.1 s or more, not 620 (an ETA of the whole stage)
    bar.close()


def _copy_set(src: Path, dst: Path, images: int | None = None) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_refusals_say_what_is_wrong_and_change_nothing(synthetic_root, tmp_path, capsys):
    def refused(*args: str) -> str:
        with pytest.raises(SystemExit) as e:
            recipe_main(list(args))
        assert e.value.code == 2
        return capsys.readouterr().err

    out = str(tmp_path / "run")
    assert "list_attr_celeba.txt" in refused("--data", str(tmp_path), "--out", out, *SMALL)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())
    # Lists that disagree: the partition names an image the attribute list does not have.
    bad = _copy_set(synthetic_root, tmp_path / "bad")
    lines = (bad / "list_eval_partition.txt").read_text().splitlines()
    (bad / "list_eval_partition.txt").write_text("\n".join(lines + ["999999.jpg 0"]) + "\n")
    assert "list_eval_partition.txt, line" in refused("--data", str(bad), "--out", out, *SMALL)
    # Too few faces for a stage: how many it needs.
    err = refused("--data", str(synthetic_root), "--out", out, *SMALL, "--faces", "40")
    assert "needs at least 96" in err
    # --out holding something else, or another data set's run.
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert "not a recipe run" in refused("--data", str(synthetic_root), "--out", str(other), *SMALL)
    assert (other / "notes.txt").read_text() == "mine"
    ran = tmp_path / "ran"
    ran.mkdir()
    (ran / "recipe.json").write_text(json.dumps({"format": "disguise-recipe-1", "command": "",
                                                 "data": {"digest": "0", "path": "/elsewhere", "faces": 9},
                                                 "stages": {}}))
    assert "made from other data (/elsewhere" in refused("--data", str(synthetic_root), "--out", str(ran), *SMALL)
    # A full disk, before anything starts.
    import disguise.recipe.runner as runner

    class Usage:
        free = 10_000_000

    real = runner.shutil.disk_usage
    runner.shutil.disk_usage = lambda path: Usage()
    try:
        err = refused("--data", str(synthetic_root), "--out", out, *SMALL)
    finally:
        runner.shutil.disk_usage = real
    assert "GB free; the recipe needs about" in err


def test_no_identities_splits_by_image_and_says_so(synthetic_root, tmp_path):
    data = _copy_set(synthetic_root, tmp_path / "anon")
    (data / "identity_CelebA.txt").unlink()
    run = tmp_path / "run"
    r = recipe("--data", str(data), "--out", str(run), *SMALL, "--until", "identity")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "no identities: split by image" in r.stdout
    record = stages(run)
    assert record["identity"]["summary"].startswith("skipped: the data has no identity_CelebA.txt")
    assert "sliders" not in record  # --until stops there


def test_a_full_disk_during_a_stage_keeps_what_was_finished(synthetic_root, tmp_path, monkeypatch, capsys):
    import errno

    from disguise.recipe import stages as stage_functions

    run = tmp_path / "run"
    def full(ctx):
        raise OSError(errno.ENOSPC, "No space left on device", str(ctx.run / "work"))
    monkeypatch.setattr(stage_functions, "train_identity_model", full)
    import disguise.recipe.runner as runner
    monkeypatch.setattr(runner, "STAGES", tuple(s if s.name != "identity" else
                                                runner.Stage(s.name, s.title, s.after, full, s.units)
                                                for s in runner.STAGES))
    with pytest.raises(SystemExit) as e:
        recipe_main(["--data", str(synthetic_root), "--out", str(run), *SMALL, "--until", "identity"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "the disk is full" in err and "run the same command again" in err
    record = stages(run)
    assert record["vae"]["status"] == "done" and record["classifiers"]["status"] == "done"
    assert record["identity"]["status"] == "running"


def test_a_setting_added_since_leaves_earlier_runs_current():
    """``classifier_balanced`` came after runs were made: at its old value a stage does not record
    it (so those runs are not stale); turned on, the classifiers' stage is out of date."""
    assert "classifier_balanced" not in RecipeSettings().for_stage("classifiers")
    assert RecipeSettings(classifier_balanced=True).for_stage("classifiers")["classifier_balanced"] is True
    assert RecipeSettings(classifier_balanced=True).for_stage("sliders") == RecipeSettings().for_stage("sliders")


def test_a_runs_command_names_the_settings_whose_default_changed_since_it_was_made():
    """A run made before the thresholds (its classifiers' record has no gain) was made with a gain of
    1; the default is now 0.2, so the card's command says ``--classifier-threshold-gain 1``. A run
    that recorded the gain, or never made the classifiers, needs nothing added."""
    old = {"vae": {}, "classifiers": {"classifier_epochs": 8}}
    assert made_before(old) == {"classifier_threshold_gain": 1.0}
    assert made_before({"classifiers": {"classifier_threshold_gain": 0.2}}) == {}
    assert made_before({"vae": {}}) == {}
    assert as_options({"classifier_threshold_gain": 1.0, "classifier_balanced": True, "dropout": 0.25,
                       "crop": (9, 40, 169, 200), "judge_arch": "resnet18"}) == [
        "--classifier-threshold-gain 1", "--classifier-balanced", "--dropout 0.25", "--crop 9,40,169,200",
        "--judge-arch resnet18"]
    assert as_options({"classifier_balanced": False}) == ["--no-classifier-balanced"]


def test_a_stage_counts_the_time_of_steps_finished_in_earlier_passes():
    """The sliders keep each step's own time as it finishes: resumed, or redone from kept steps, the
    stage's time is their sum, not only the last pass's."""
    from disguise.recipe.ledger import StageRecord

    resumed = StageRecord("k", "done", {}, seconds=480.0, figures={"seconds": {"seed": 11.0, "rebuilt": 5900.0,
                                                                               "removals": 470.0}})
    assert resumed.time == 6381.0
    assert StageRecord("k", "done", {}, seconds=600.0).time == 600.0  # no steps kept: the pass's own time
    assert StageRecord("k", "done", {}, seconds=600.0, figures={"seconds": {"seed": 5.0}}).time == 600.0


def test_settings_split_phases_and_smoke():
    assert str(Phase.parse("20:0.001:400000")) == "20:0.001:400000"
    with pytest.raises(ValueError, match="EPOCHS:LR:R_LOSS_FACTOR"):
        Phase.parse("20:fast")
    with pytest.raises(ValueError, match="at least one epoch"):
        Phase.parse("0:0.001:400000")
    s = smoke(RecipeSettings(eval_faces=50), {"eval_faces"})
    assert s.eval_faces == 50 and s.faces == 240 and s.sliders.learn_steps == 2  # what was given stays
    assert s.sliders.seed == s.seed
    assert RecipeSettings(seed=3).sliders.seed == 3
    # People are never in two groups, and each group gets about its share of the faces.
    ids = np.repeat(np.arange(300), np.random.default_rng(0).integers(1, 8, 300))
    split = split_people(ids, len(ids), (1, 1, 1), seed=0)
    people = [set(ids[g]) for g in split.groups]
    assert not (people[0] & people[1] or people[0] & people[2] or people[1] & people[2])
    assert sum(len(g) for g in split.groups) == len(ids)
    assert all(abs(len(g) - len(ids) / 3) < 0.05 * len(ids) for g in split.groups)
    by_image = split_people(None, 100, (1, 1, 2))
    assert by_image.by_image and [len(g) for g in by_image.groups] == [25, 25, 50]
    with pytest.raises(ValueError, match="2 people cannot be divided into 3 groups"):
        split_people(np.array([1, 1, 2]), 3, (1, 1, 1))
    with pytest.raises(RecipeError, match="--until takes one of"):
        from disguise.recipe.runner import run_recipe
        run_recipe(".", ".", RecipeSettings(), until="nothing")
