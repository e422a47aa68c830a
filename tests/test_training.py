"""Training: a tiny run learns, resume is exact, DDP runs on two CPU processes, bad input is refused."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from disguise.preprocess import Preprocess
from disguise.vae.model import VAE, VAEConfig
from disguise.vae.training import RunFolderError, TrainConfig, train

TINY = dict(image_size=32, z_dim=16, encoder_filters=(16, 32, 32), encoder_kernels=(3, 3, 3),
            encoder_strides=(2, 2, 2), decoder_filters=(32, 16, 3), decoder_kernels=(3, 3, 3),
            decoder_strides=(2, 2, 2))


def tiny_config(**kw) -> VAEConfig:
    return VAEConfig(**{**TINY, **kw}, preprocess=Preprocess(size=32).to_dict())


def quiet(_msg: str) -> None:
    pass


def test_tiny_run_learns_and_writes_everything(synthetic_root, tmp_path):
    run = tmp_path / "run"
    res = train(run, synthetic_root, tiny_config(), TrainConfig(epochs=3, batch_size=32, lr=2e-3),
                progress=False, log=quiet)
    assert res.status == "finished"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    val = [float(r["val_total"]) for r in rows]
    assert val[-1] < val[0] * 0.9, val
    for r in rows:  # the terms are logged separately and add up
        assert float(r["train_total"]) == pytest.approx(float(r["train_recon"]) + float(r["train_kl"]),
                                                        rel=1e-6)
    for name in ("config.json", "model.safetensors", "checkpoint.safetensors", "training.json",
                 "loss_curve.png", "samples/epoch_003_recon.png", "samples/epoch_003_prior.png"):
        assert (run / name).is_file(), name
    model = VAE.from_pretrained(run)  # what the app loads
    assert model.config.policy == Preprocess(size=32)
    from PIL import Image

    grid = Image.open(run / "samples/epoch_003_recon.png")
    assert grid.size == (8 * 34 + 2, 2 * 34 + 2)  # 8 faces above their 8 reconstructions


def _weights(run):
    return load_file(run / "model.safetensors")


def test_resume_matches_an_uninterrupted_run(synthetic_root, tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=32, seed=5)
    train(tmp_path / "a", synthetic_root, tiny_config(), cfg, progress=False, log=quiet)

    # Stopped at an epoch boundary, then resumed.
    train(tmp_path / "b", synthetic_root, tiny_config(), TrainConfig(epochs=1, batch_size=32, seed=5),
          progress=False, log=quiet)
    train(tmp_path / "b", synthetic_root, tiny_config(), cfg, resume=True, progress=False, log=quiet)

    # Ctrl-C in the middle of the first epoch, then resumed.
    def interrupt(epoch, batch):
        if (epoch, batch) == (0, 4):
            raise KeyboardInterrupt

    res = train(tmp_path / "c", synthetic_root, tiny_config(), cfg, progress=False, log=quiet,
                on_batch=interrupt)
    assert res.status == "interrupted"
    train(tmp_path / "c", synthetic_root, tiny_config(), cfg, resume=True, progress=False, log=quiet)

    a = _weights(tmp_path / "a")
    for other in ("b", "c"):
        b = _weights(tmp_path / other)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (other, k)
    ma = list(csv.DictReader(open(tmp_path / "a" / "metrics.csv")))
    mc = list(csv.DictReader(open(tmp_path / "c" / "metrics.csv")))
    assert [r["val_total"] for r in ma] == [r["val_total"] for r in mc]


def test_run_folder_is_never_overwritten(synthetic_root, tmp_path):
    run = tmp_path / "run"
    train(run, synthetic_root, tiny_config(), TrainConfig(epochs=1), progress=False, log=quiet)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()}
    with pytest.raises(RunFolderError, match="already holds a run"):
        train(run, synthetic_root, tiny_config(), TrainConfig(epochs=1), progress=False, log=quiet)
    with pytest.raises(RunFolderError, match="holds another architecture: z_dim: 16 != 24"):
        train(run, synthetic_root, tiny_config(z_dim=24), TrainConfig(epochs=2), resume=True,
              progress=False, log=quiet)
    with pytest.raises(RunFolderError, match="nothing to resume"):
        train(tmp_path / "empty", synthetic_root, tiny_config(), TrainConfig(epochs=1), resume=True,
              progress=False, log=quiet)
    assert before == {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()}


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "train.vae", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--data", "{tmp}/nope"], "no such folder"),
    (["--image-size", "100"], "not divisible by the encoder's total stride 16"),
    (["--z-dim", "0"], "z_dim must be positive"),
    (["--epochs", "0"], "epochs must be at least 1"),
    (["--crop", "1,2,3"], "left < right"),
    (["--encoder-filters", "64,wide"], "argument --encoder-filters: must be integers like 32,64,64,64"),
    (["--decoder-filters", "128,128,64"], "one entry per stage"),
    (["--decoder-filters", "128,128,64,4"], "must equal in_channels (3)"),
    (["--resume"], "nothing to resume"),
    (["--attribute-weight", "1"], "needs both --attribute-classifier"),
    (["--attribute-classifier", "{tmp}", "--attribute-weight", "-1"], "attribute_weight must be 0 or more"),
    (["--attribute-classifier", "{tmp}", "--attribute-weight", "1"], "holds no attribute classifier"),
])
def test_cli_bad_input_exits_non_zero_before_work(synthetic_root, tmp_path, args, message):
    argv = ["--data", str(synthetic_root), "--out", str(tmp_path / "run"), "--quiet"]
    argv += [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = _cli(*argv)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_cli_resume_refuses_another_architecture(synthetic_root, tmp_path):
    run = tmp_path / "run"
    base = ["--data", str(synthetic_root), "--out", str(run), "--quiet", "--image-size", "32",
            "--z-dim", "8", "--epochs", "1", "--r-loss-factor", "20000", "--lr", "0.001"]
    assert _cli(*base).returncode == 0
    r = _cli(*base, "--resume", "--arch", "resnet")
    assert r.returncode == 2 and "holds another architecture: arch: conv != resnet" in r.stderr
    # Resume takes the model and training options from the checkpoint, unless given.
    r = _cli("--data", str(synthetic_root), "--out", str(run), "--quiet", "--resume", "--epochs", "2")
    assert r.returncode == 0, r.stderr
    assert len(list(csv.DictReader(open(run / "metrics.csv")))) == 2
    train_cfg = json.loads((run / "training.json").read_text())["train"]
    assert train_cfg["r_loss_factor"] == 20000 and train_cfg["lr"] == 0.001
    r = _cli("--data", str(synthetic_root), "--out", str(run), "--quiet", "--resume", "--epochs", "3",
             "--lr", "0.0002")
    assert r.returncode == 0 and "note: lr changes from 0.001 to 0.0002" in r.stderr
    assert json.loads((run / "training.json").read_text())["train"]["lr"] == 0.0002


def test_ddp_on_two_cpu_processes(synthetic_root, tmp_path):
    run = tmp_path / "ddp"
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
         "29533", "-m", "train.vae", "--data", str(synthetic_root), "--out", str(run),
         "--image-size", "32", "--z-dim", "8", "--epochs", "2", "--device", "cpu", "--quiet"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((run / "training.json").read_text())["world_size"] == 2
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert len(rows) == 2 and float(rows[1]["val_total"]) < float(rows[0]["val_total"])
    VAE.from_pretrained(run)


def test_cosine_schedule_is_a_function_of_the_step():
    cfg = TrainConfig(lr=1e-3, lr_schedule="cosine")
    lrs = [cfg.lr_at(s, 101) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[50] == pytest.approx(0.505e-3)
    assert lrs[-1] == pytest.approx(1e-5)  # COSINE_FLOOR of the peak at the last step
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert TrainConfig(lr=1e-3).lr_at(77, 101) == 1e-3  # constant: the seed's
    with pytest.raises(ValueError, match="schedule must be one of constant, cosine"):
        TrainConfig(lr_schedule="step")
    # One cycle (the classifiers'): up from a 25th of the peak over the first 30%, then down.
    cycle = [TrainConfig(lr=1e-3, lr_schedule="one-cycle").lr_at(s, 101) for s in range(101)]
    assert cycle[0] == pytest.approx(4e-5) and cycle[30] == pytest.approx(1e-3) and cycle[-1] == pytest.approx(1e-7)
    assert all(a < b for a, b in zip(cycle[:30], cycle[1:31])) and all(a > b for a, b in zip(cycle[30:], cycle[31:]))


def test_a_classifier_run_resumes_exactly(synthetic_root, tmp_path):
    """An attribute classifier trains through the run driver: stopped mid-epoch and resumed, it
    ends bit-identical to a run that was never stopped, and a resume with other faces is refused."""
    from disguise.classifier.training import CHECKPOINT_NAME, train_classifier
    from disguise.data.cache import load_split
    from disguise.data.celeba import open_celeba
    from disguise.preprocess import Preprocess
    from disguise.training.driver import RunFolderError

    policy = Preprocess(size=32)
    x, y, _ = load_split(open_celeba(synthetic_root), "train", policy, progress=False)
    x, y = np.asarray(x[:200]), y[:200]
    whole = train_classifier(x, y, epochs=2, batch_size=32, policy=policy, widths=(8, 16), progress=False)

    def stop(epoch, batch):
        if epoch == 1 and batch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_classifier(x, y, epochs=2, batch_size=32, policy=policy, widths=(8, 16), progress=False,
                         run_dir=tmp_path, on_batch=stop)
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    resumed = train_classifier(x, y, epochs=2, batch_size=32, policy=policy, widths=(8, 16), progress=False,
                               run_dir=tmp_path, resume=True)
    for k, v in whole.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    with pytest.raises(RunFolderError, match="faces: 200 != 100"):
        train_classifier(x[:100], y[:100], epochs=2, batch_size=32, policy=policy, widths=(8, 16), progress=False,
                         run_dir=tmp_path, resume=True)


def test_balanced_labels_weigh_a_labels_faces_with_it_as_much_as_those_without(synthetic_root, tmp_path):
    """``label_weights``: the faces without a label over those with it (bounded); a classifier
    trained ``balanced`` records it, and its run is not resumed unbalanced (or the other way)."""
    from disguise.classifier.training import MAX_LABEL_WEIGHT, label_weights, train_classifier
    from disguise.data.cache import load_split
    from disguise.data.celeba import open_celeba
    from disguise.preprocess import Preprocess
    from disguise.training.driver import RunFolderError

    labels = -np.ones((100, 40), dtype=np.int64)
    labels[:5, 0] = 1  # 5 of 100: a face with it weighs 95 / 5
    labels[:50, 1] = 1  # half: alike
    labels[:, 2] = 1  # all: bounded below
    w = label_weights(labels)
    assert w[0] == pytest.approx(19.0) and w[1] == pytest.approx(1.0)
    assert w[2] == pytest.approx(1 / MAX_LABEL_WEIGHT) and w[3] == pytest.approx(MAX_LABEL_WEIGHT)  # none: bounded
    policy = Preprocess(size=32)
    x, y, _ = load_split(open_celeba(synthetic_root), "train", policy, progress=False)
    x, y = np.asarray(x[:64]), y[:64]

    def stop(epoch, batch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_classifier(x, y, epochs=1, batch_size=32, policy=policy, widths=(8, 16), progress=False,
                         run_dir=tmp_path, on_batch=stop, balanced=True)
    with pytest.raises(RunFolderError, match="balanced: True != False"):
        train_classifier(x, y, epochs=1, batch_size=32, policy=policy, widths=(8, 16), progress=False,
                         run_dir=tmp_path, resume=True)
    balanced = train_classifier(x, y, epochs=1, batch_size=32, policy=policy, widths=(8, 16), progress=False,
                                run_dir=tmp_path, resume=True, balanced=True)
    assert balanced.training is False


def test_init_fine_tunes_from_a_model_and_the_schedule_resumes_exactly(synthetic_root, tmp_path):
    """--init starts from a model's weights (not random ones); under the cosine schedule a run
    interrupted mid-epoch and resumed ends bit-identical to an uninterrupted one, and the
    learning rate of each epoch is logged."""
    base = tmp_path / "base"
    train(base, synthetic_root, tiny_config(), TrainConfig(epochs=1, lr=2e-3), progress=False, log=quiet)
    val_base = float(list(csv.DictReader(open(base / "metrics.csv")))[0]["val_total"])
    cfg = TrainConfig(epochs=2, lr=1e-3, lr_schedule="cosine", init=str(base), seed=3)
    train(tmp_path / "a", synthetic_root, tiny_config(), cfg, progress=False, log=quiet)
    rows = list(csv.DictReader(open(tmp_path / "a" / "metrics.csv")))
    assert float(rows[0]["lr"]) < 1e-3 and float(rows[1]["lr"]) == pytest.approx(1e-5)
    # Continues from the base model: already at its loss after one epoch, unlike a fresh start.
    fresh = tmp_path / "fresh"
    train(fresh, synthetic_root, tiny_config(), TrainConfig(epochs=1, lr=1e-3, seed=3), progress=False,
          log=quiet)
    val_fresh = float(list(csv.DictReader(open(fresh / "metrics.csv")))[0]["val_total"])
    assert float(rows[0]["val_total"]) < min(val_base, val_fresh)

    def interrupt(epoch, batch):
        if (epoch, batch) == (0, 5):
            raise KeyboardInterrupt

    assert train(tmp_path / "b", synthetic_root, tiny_config(), cfg, progress=False, log=quiet,
                 on_batch=interrupt).status == "interrupted"
    train(tmp_path / "b", synthetic_root, tiny_config(), cfg, resume=True, progress=False, log=quiet)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="holds another architecture than this run's: z_dim: 16 != 24"):
        train(tmp_path / "c", synthetic_root, tiny_config(z_dim=24), cfg, progress=False, log=quiet)
    assert not (tmp_path / "c").exists()


def test_cli_init_takes_the_architecture_and_refuses_a_conflict(synthetic_root, tmp_path):
    base = tmp_path / "base"
    common = ["--data", str(synthetic_root), "--quiet", "--epochs", "1"]
    assert _cli(*common, "--out", str(base), "--image-size", "32", "--z-dim", "8").returncode == 0
    r = _cli(*common, "--out", str(tmp_path / "ft"), "--init", str(base), "--lr-schedule", "cosine",
             "--lr", "0.0002")
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "ft" / "training.json").read_text())
    assert saved["model"]["z_dim"] == 8 and saved["model"]["image_size"] == 32
    assert saved["train"]["init"] == str(base) and saved["train"]["lr_schedule"] == "cosine"
    r = _cli(*common, "--out", str(tmp_path / "bad"), "--init", str(base), "--z-dim", "16")
    assert r.returncode == 2 and "--init" in r.stderr and "z_dim: 8 != 16" in r.stderr
    r = _cli(*common, "--out", str(tmp_path / "bad"), "--init", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "no such folder" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "bad").exists()


def test_a_non_finite_loss_stops_before_the_step_with_a_message():
    """One rule: train_step refuses a NaN loss before touching the weights, and says where."""
    from disguise.vae.losses import LossConfig
    from disguise.vae.training import train_step

    model = VAE(tiny_config())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = {k: v.clone() for k, v in model.named_parameters()}
    x = torch.rand(4, 3, 32, 32)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="the loss became nan at epoch 2, batch 7; try a lower --lr"):
        train_step(model, opt, x, LossConfig(), where="epoch 2, batch 7")
    assert all(torch.equal(before[k], v) for k, v in model.named_parameters())
    assert not opt.state  # no step was taken
    train_step(model, opt, torch.rand(4, 3, 32, 32), LossConfig())
    assert opt.state


@pytest.mark.parametrize("training", [True, False])
def test_helpers_give_the_model_back_in_its_mode(training):
    """evaluate_loss and the vector encoder switch to eval mode and restore the caller's mode."""
    import numpy as np

    from disguise.sliders.means import build_bank
    from disguise.vae.losses import LossConfig
    from disguise.vae.training import evaluate_loss

    model = VAE(tiny_config()).train(training)
    faces = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    evaluate_loss(model, faces, LossConfig(), torch.device("cpu"))
    assert model.training is training and all(m.training is training for m in model.modules())
    labels = np.where(np.random.default_rng(1).random((6, 40)) < 0.5, 1, -1).astype(np.int8)
    build_bank(model, [(faces, labels)], progress=False)
    assert model.training is training


def test_the_attribute_loss_reads_reconstructions_through_a_frozen_classifier():
    from disguise.attributes import DRAWN, INDEX
    from disguise.classifier.consistency import AttributeConsistency, attributes_for
    from disguise.classifier.model import AttributeClassifier, ClassifierConfig

    assert attributes_for("synthetic") == DRAWN and len(attributes_for("celeba")) == 40
    torch.manual_seed(0)
    classifier = AttributeClassifier(ClassifierConfig(widths=(8, 8), preprocess=Preprocess(size=16).to_dict()))
    labels = np.where(np.random.default_rng(0).random((6, 40)) < 0.5, 1, -1)
    loss = AttributeConsistency(classifier, labels, ["Eyeglasses", "Male"], weight=2.0)
    recon = torch.rand(2, 3, 32, 32, requires_grad=True)  # read at the classifier's 16 px
    value = loss.term(np.array([4, 1]))(recon)
    small = torch.nn.functional.interpolate(recon, size=(16, 16), mode="bilinear", antialias=True,
                                            align_corners=False)
    logits = classifier(small)[:, [INDEX["Eyeglasses"], INDEX["Male"]]]
    truth = torch.tensor(labels[[4, 1]][:, [INDEX["Eyeglasses"], INDEX["Male"]]] > 0).float()
    by_hand = 2.0 * torch.nn.functional.binary_cross_entropy_with_logits(logits, truth, reduction="none").sum(1).mean()
    assert float(value.detach()) == pytest.approx(float(by_hand.detach()), rel=1e-5)
    value.backward()
    assert recon.grad is not None and recon.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in classifier.parameters())  # the classifier is frozen
    with pytest.raises(ValueError, match="weight must be positive"):
        AttributeConsistency(classifier, labels, ["Male"], weight=0.0)


def test_a_run_with_the_attribute_loss(synthetic_root, tmp_path):
    """train.attributes trains the network for a model's crop; train.vae's loss then includes its
    reading of every reconstruction (logged as attr); a network of another crop is refused."""
    base = tmp_path / "base"
    train(base, synthetic_root, tiny_config(), TrainConfig(epochs=1), progress=False, log=quiet)
    folder = tmp_path / "classifier"
    cmd = [sys.executable, "-m", "train.attributes", "--data", str(synthetic_root), "--out", str(folder),
           "--model", str(base), "--epochs", "1", "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "wrote" in r.stdout, r.stderr
    assert json.loads((folder / "attribute_classifier.json").read_text())["preprocess"]["size"] == 32
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "pass --force" in r.stderr  # never overwritten silently
    run = tmp_path / "run"
    cfg = TrainConfig(epochs=1, init=str(base), attribute_classifier=str(folder), attribute_weight=0.5)
    assert train(run, synthetic_root, tiny_config(), cfg, progress=False, log=quiet).status == "finished"
    (row,) = list(csv.DictReader(open(run / "metrics.csv")))
    assert float(row["train_attr"]) > 0
    assert float(row["train_total"]) == pytest.approx(
        float(row["train_recon"]) + float(row["train_kl"]) + float(row["train_attr"]), rel=1e-6)
    assert float(row["val_attr"]) > 0  # validation measures the same loss as training
    assert float(row["val_total"]) == pytest.approx(
        float(row["val_recon"]) + float(row["val_kl"]) + float(row["val_attr"]), rel=1e-6)
    with pytest.raises(ValueError, match="was trained on faces preprocessed as"):
        other = VAEConfig(**{**TINY, "image_size": 64}, preprocess=Preprocess(size=64).to_dict())
        train(tmp_path / "other", synthetic_root, other, cfg, progress=False, log=quiet)
