"""The seeds' classic VAEs: IDX and Frey readers, four models that learn, exact resume, the
figures, strict loading, the latent-space API and the bundled model."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from disguise.classic.codes import read_codes
from disguise.classic.data import ClassicData, load_frey_data, load_mnist_format, to_batch
from disguise.classic.figures import manifold_image, manifold_tiles, normal_quantiles
from disguise.classic.model import ClassicConfig, ClassicVAE
from disguise.classic.space import BUNDLED_CLASSIC, MAX_ABS, load_latent_space
from disguise.classic.training import ClassicTrainConfig, code_subset, encode_means, expected_frames, train_classic
from disguise.data.frey import read_frey, standin_faces, write_frey
from disguise.data.idx import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, IDXError, read_idx, read_split, write_idx
from disguise.vae.training import evaluate_loss
from tests.tools import missing

ROOT = Path(__file__).resolve().parent.parent
needs_fashion = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason=missing(f"Fashion-MNIST ({FASHION_MNIST_DIR})", "apt-get install -y dataset-fashion-mnist"))


def quiet(_msg: str) -> None:
    pass


# ----------------------------------------------------------------------------------------------
# IDX files


def _write_split(folder: Path, n: int, labels: int | None = None, gz: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n if labels is None else labels, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    for split, prefix in (("train", "train"), ("test", "t10k")):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", y)
    return images, y


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_plain_and_gzip(tmp_path, gz):
    images, labels = _write_split(tmp_path, 7, gz=gz)
    split = read_split(tmp_path, "test")
    assert np.array_equal(split.images, images) and np.array_equal(split.labels, labels)
    raw = (tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))).read_bytes()
    header = gzip.decompress(raw)[:16] if gz else raw[:16]
    assert header == bytes([0, 0, 8, 3]) + struct.pack(">3I", 7, 28, 28)  # the real format


def _idx_bytes(code: int, shape: tuple[int, ...], payload: int | None = None, magic0: int = 0) -> bytes:
    n = int(np.prod(shape)) if payload is None else payload
    return struct.pack(">HBB", magic0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + bytes(n)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("content, message", [
    (_idx_bytes(8, (3, 28, 28), magic0=0x1F8B), "bad magic number"),
    (_idx_bytes(0x0D, (3, 28, 28)), "element type code 0x0d, expected 0x08"),
    (_idx_bytes(8, (3, 784)), "2 dimensions, expected 3"),
    (_idx_bytes(8, (3, 28, 28), payload=3 * 784 - 5), "truncated"),
    (_idx_bytes(8, (3, 28, 28), payload=3 * 784 + 1), "too long"),
    (b"\x00\x00", "shorter than the 4-byte magic number"),
    (struct.pack(">HBB", 0, 8, 3) + b"\x00" * 6, "shorter than its 16-byte header"),
])
def test_malformed_idx_files_name_the_file_and_the_fault(tmp_path, content, message, gz):
    _write_split(tmp_path, 3)
    name = "t10k-images-idx3-ubyte"
    (tmp_path / name).unlink()
    path = tmp_path / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(IDXError, match=message) as e:
        read_split(tmp_path, "test")
    assert str(path) in str(e.value)


def test_idx_counts_must_pair_up_and_files_must_exist(tmp_path):
    _write_split(tmp_path, 5, labels=4)
    with pytest.raises(IDXError, match=r"holds 5 images but .*t10k-labels-idx1-ubyte holds 4 labels"):
        read_split(tmp_path, "test")
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte: file not found \(nor "):
        read_split(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        read_split(tmp_path / "nowhere", "train")
    (tmp_path / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    with pytest.raises(IDXError, match="broken.gz: cannot be read"):
        read_idx(tmp_path / "broken.gz")


@needs_fashion
def test_debian_fashion_mnist_reads():
    data = load_mnist_format(FASHION_MNIST_DIR)
    assert data.train_x.shape == (60000, 28, 28) and data.train_x.dtype == np.uint8
    assert data.test_x.shape == (10000, 28, 28) and data.test_y.shape == (10000,)
    assert set(np.unique(data.train_y)) == set(range(10)) == set(np.unique(data.test_y))
    assert np.bincount(data.train_y).tolist() == [6000] * 10  # Fashion-MNIST is balanced
    assert data.name == "Fashion-MNIST" and data.class_names == FASHION_MNIST_CLASSES


# ----------------------------------------------------------------------------------------------
# Frey faces


def test_frey_reader_reads_the_layout(tmp_path):
    from scipy.io import savemat

    faces = np.random.default_rng(0).integers(0, 256, (6, 28, 20), dtype=np.uint8)
    # Frey's layout, written by hand: ff is 560 x N, a row-major 28 x 20 face per column.
    savemat(tmp_path / "frey_rawface.mat", {"ff": faces.reshape(6, 560).T.copy()})
    assert np.array_equal(read_frey(tmp_path / "frey_rawface.mat"), faces)
    write_frey(tmp_path / "again.mat", faces)
    assert np.array_equal(read_frey(tmp_path / "again.mat"), faces)


@pytest.mark.parametrize("content, message", [
    ({"faces": np.zeros((560, 3), np.uint8)}, "no variable 'ff' \\(it holds \\['faces'\\]\\)"),
    ({"ff": np.zeros((28, 20), np.uint8)}, "'ff' has shape \\(28, 20\\), expected \\(560, N\\)"),
    ({"ff": np.zeros((560, 3), np.float64)}, "'ff' is float64, expected uint8"),
])
def test_frey_reader_refuses_other_files(tmp_path, content, message):
    from scipy.io import savemat

    path = tmp_path / "bad.mat"
    savemat(path, content)
    with pytest.raises(ValueError, match=message) as e:
        read_frey(path)
    assert str(path) in str(e.value)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(ValueError, match="junk.mat: not a readable MATLAB file"):
        read_frey(tmp_path / "junk.mat")
    with pytest.raises(FileNotFoundError, match="missing.mat: file not found"):
        read_frey(tmp_path / "missing.mat")


# ----------------------------------------------------------------------------------------------
# Training: every model learns; resume is exact; the figures


@pytest.fixture(scope="module")
def fashion_small() -> ClassicData:
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(missing(f"Fashion-MNIST ({FASHION_MNIST_DIR})", "apt-get install -y dataset-fashion-mnist"))
    d = load_mnist_format(FASHION_MNIST_DIR)
    return dataclasses.replace(d, train_x=d.train_x[:1600], train_y=d.train_y[:1600],
                               test_x=d.test_x[:300], test_y=d.test_y[:300])


@pytest.fixture(scope="module")
def frey_standin(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("frey") / "frey_standin.mat"
    write_frey(path, standin_faces(240, seed=3))
    return path


def _fast(kind: str, **kw) -> ClassicTrainConfig:
    return ClassicTrainConfig.for_kind(kind, **{"frames": 8, "frame_points": 200, "codes": 200, **kw})


@pytest.mark.parametrize("kind, epochs, batch", [("dense", 3, 50), ("linear", 3, 50),
                                                 ("conv2d", 2, 32), ("frey", 4, 16)])
def test_each_model_learns(kind, epochs, batch, fashion_small, frey_standin, tmp_path):
    data = load_frey_data(frey_standin) if kind == "frey" else fashion_small
    assert (data.name == "Frey stand-in (synthetic)") == (kind == "frey")
    h, w = data.image_hw
    mcfg = ClassicConfig.for_kind(kind, height=h, width=w, data=data.name, class_names=data.class_names)
    cfg = _fast(kind, epochs=epochs, batch_size=batch)
    torch.manual_seed(cfg.seed)
    before = evaluate_loss(ClassicVAE(mcfg), data.test_x, cfg.loss_config, torch.device("cpu"),
                           seed=cfg.seed, to_batch=to_batch)["total"]  # the untrained model
    res = train_classic(tmp_path, data, mcfg, cfg, progress=False, log=quiet)
    test = [h["test_total"] for h in res.history]
    assert res.status == "finished" and len(test) == epochs
    assert test[-1] < test[0] < before, (before, test)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert float(rows[-1]["test_total"]) == pytest.approx(test[-1])
    for r in rows:  # total = recon + kl_weight * kl
        assert float(r["train_total"]) == pytest.approx(
            float(r["train_recon"]) + cfg.kl_weight * float(r["train_kl"]), rel=1e-5)
    model = ClassicVAE.from_pretrained(tmp_path)
    assert model.config == mcfg
    codes, labels, names = read_codes(tmp_path / "codes.safetensors")
    keep = code_subset(data, cfg.codes)
    assert np.allclose(codes, encode_means(model, data.test_x[keep], torch.device("cpu")), atol=2e-2)
    assert np.array_equal(labels, data.test_y[keep]) and names == data.class_names


def test_resume_matches_an_uninterrupted_run_and_the_figures(fashion_small, tmp_path):
    """Ctrl-C mid first epoch (while the animation is being recorded), then --resume: the same
    weights, metrics and animation as a run never stopped."""
    mcfg = ClassicConfig.for_kind("dense", data="Fashion-MNIST", class_names=FASHION_MNIST_CLASSES)
    cfg = _fast("dense", epochs=2, batch_size=40, frames=10, seed=4)
    train_classic(tmp_path / "a", fashion_small, mcfg, cfg, progress=False, log=quiet)

    def interrupt(epoch, batch):
        if (epoch, batch) == (0, 13):
            raise KeyboardInterrupt

    assert train_classic(tmp_path / "b", fashion_small, mcfg, cfg, progress=False, log=quiet,
                         on_batch=interrupt).status == "interrupted"
    assert not (tmp_path / "b" / "latent_space.gif").exists()
    train_classic(tmp_path / "b", fashion_small, mcfg, cfg, resume=True, progress=False, log=quiet)
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ma, mb = (list(csv.DictReader(open(tmp_path / r / "metrics.csv"))) for r in "ab")
    assert [r["test_total"] for r in ma] == [r["test_total"] for r in mb]

    # The animation: the untrained start, then a frame every steps // frames batches.
    steps = len(fashion_small.train_x) // 40
    for run in "ab":
        gif = Image.open(tmp_path / run / "latent_space.gif")
        assert gif.n_frames == expected_frames(steps, 10) == 1 + 40 // 4
    frames_a = [np.asarray(f.convert("RGB")) for f in _frames(tmp_path / "a" / "latent_space.gif")]
    frames_b = [np.asarray(f.convert("RGB")) for f in _frames(tmp_path / "b" / "latent_space.gif")]
    assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b))
    assert not np.array_equal(frames_a[0], frames_a[-1])  # the codes moved
    assert Image.open(tmp_path / "a" / "manifold.png").size == (15 * 28 * 2, 15 * 28 * 2)
    for name in ("latent_scatter.png", "prior_samples.png", "reconstructions.png", "loss_curve.png"):
        assert Image.open(tmp_path / "a" / name).size[0] > 200, name


def _frames(path: Path):
    from PIL import ImageSequence

    return [f.copy() for f in ImageSequence.Iterator(Image.open(path))]


def test_manifold_is_15_by_15_decodes_at_normal_quantiles():
    from scipy.stats import norm

    q = normal_quantiles(15)
    assert np.allclose(q.numpy(), norm.ppf(np.linspace(0.05, 0.95, 15)), atol=1e-5)
    torch.manual_seed(0)
    model = ClassicVAE(ClassicConfig.for_kind("frey")).eval()
    tiles = manifold_tiles(model, 15)
    assert tiles.shape == (225, 1, 28, 20)
    with torch.no_grad():  # top-left: smallest z[0], largest z[1]; next to it: z[0] one step on
        assert torch.allclose(tiles[0], model.decode(torch.tensor([[q[0], q[-1]]]))[0], atol=1e-6)
        assert torch.allclose(tiles[1], model.decode(torch.tensor([[q[1], q[-1]]]))[0], atol=1e-6)
    image = manifold_image(model, 15)
    assert image.size == (15 * 20, 15 * 28)
    top_left = np.asarray(image)[:28, :20] / 255.0
    assert np.allclose(top_left, tiles[0, 0].numpy(), atol=1 / 255)


# ----------------------------------------------------------------------------------------------
# Saving and loading


def test_reload_is_strict_and_names_the_problem(tmp_path):
    model = ClassicVAE(ClassicConfig.for_kind("conv2d"))
    model.save_pretrained(tmp_path)
    again = ClassicVAE.from_pretrained(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    weights = load_file(tmp_path / "model.safetensors")

    def broken(tensors):
        save_file(tensors, tmp_path / "model.safetensors")
        with pytest.raises(ValueError) as e:
            ClassicVAE.from_pretrained(tmp_path)
        return str(e.value)

    first = "nets.encoder.0.weight"
    assert f"missing ['{first}']" in broken({k: v for k, v in weights.items() if k != first})
    assert "unexpected ['nets.extra']" in broken({**weights, "nets.extra": torch.zeros(1)})
    msg = broken({**weights, "nets.mu.weight": torch.zeros(3, 32)})
    assert "nets.mu.weight has shape (3, 32), the model expects (2, 32)" in msg
    assert str(tmp_path / "model.safetensors") in msg
    (tmp_path / "config.json").write_text('{"model_type": "disguise-vae", "kind": "dense"}')
    with pytest.raises(ValueError, match="config is for model_type 'disguise-vae'"):
        ClassicVAE.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="model kind must be one of dense, linear, conv2d, frey"):
        ClassicConfig(kind="resnet")


def test_half_precision_bundle_loads_into_float32(tmp_path):
    model = ClassicVAE(ClassicConfig.for_kind("dense"))
    model.save_pretrained(tmp_path, half=True)
    assert all(v.dtype == torch.float16 for v in load_file(tmp_path / "model.safetensors").values())
    again = ClassicVAE.from_pretrained(tmp_path)
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert b.dtype == torch.float32 and torch.allclose(a, b, atol=1e-3, rtol=1e-3), k


# ----------------------------------------------------------------------------------------------
# The app's latent-space API and the bundled model


@pytest.fixture(scope="module")
def space():
    return load_latent_space(BUNDLED_CLASSIC)


def test_bundled_classic_model_loads_and_decodes(space):
    assert space.model.config.kind == "conv2d" and space.model.config.z_dim == 2
    assert space.class_names == FASHION_MNIST_CLASSES
    assert 2000 <= len(space.codes) <= 5000 and space.codes.shape[1] == 2
    assert set(np.unique(space.labels)) == set(range(10))
    total = sum(p.stat().st_size for p in BUNDLED_CLASSIC.iterdir())
    assert total < 800_000, total  # small enough to commit
    # Decoding a class's mean code gives that class's look: trousers are darker between the legs
    # than a T-shirt's middle, so the two images differ clearly.
    means = {c: space.codes[space.labels == c].mean(0) for c in (0, 1)}
    shirt, trouser = (np.asarray(space.decode_point(*means[c], scale=1), dtype=float) for c in (0, 1))
    assert shirt.shape == (28, 28) and shirt.std() > 20
    assert np.abs(shirt - trouser).mean() > 15


@needs_fashion
def test_bundled_codes_are_the_bundled_models(space):
    """codes.safetensors holds what the bundled weights give for those test images."""
    data = load_mnist_format(FASHION_MNIST_DIR)
    keep = code_subset(data, len(space.codes))
    assert np.array_equal(space.labels, data.test_y[keep])
    fresh = encode_means(space.model, data.test_x[keep[:300]], torch.device("cpu"))
    assert np.abs(fresh - space.codes[:300]).max() < 0.02


def test_latent_space_point_in_image_out(space):
    img = space.decode_point(0.5, -1.0)
    assert img.size == (448, 448) and img.mode == "L"
    a, b = np.asarray(space.decode_point(-2, 0)), np.asarray(space.decode_point(2, 0))
    assert np.abs(a.astype(int) - b).mean() > 5  # the plane is not constant
    assert space.decode_point(MAX_ABS, -MAX_ABS).size == (448, 448)  # the edge is allowed
    for bad in [(float("nan"), 0), (0, float("inf")), (-float("inf"), 1)]:
        with pytest.raises(ValueError, match="the latent point must be finite"):
            space.decode_point(*bad)
    with pytest.raises(ValueError, match=r"beyond \+-6 on an axis"):
        space.decode_point(0, 6.5)
    with pytest.raises(ValueError, match="must be two numbers"):
        space.decode_point("left", 0)
    with pytest.raises(ValueError, match="must be finite"):
        space.scatter(float("nan"), 0)


def test_scatter_marker_is_drawn_where_the_point_is_on_a_plot_drawn_once(space, monkeypatch):
    import disguise.classic.space as latent_space

    background = np.asarray(space.scatter())

    def redraw(*args, **kwargs):
        raise AssertionError("the scatter is drawn once; a move only adds the marker")

    monkeypatch.setattr(latent_space, "scatter_figure", redraw)
    for x, y in [(0.0, 0.0), (1.0, 1.0), (-1.5, 0.5), (0.3, -0.7), (2.0, -2.0)]:
        img = space.scatter(x, y)
    ax, bx, ay, by = space._to_pixel
    changed = np.argwhere(np.any(np.asarray(img) != background, axis=2))
    centre = changed.mean(0)  # (row, col) of the marker drawn at (2, -2)
    assert abs(centre[1] - (ax * 2.0 + bx)) < 3 and abs(centre[0] - (ay * -2.0 + by)) < 3
    assert ay < 0 < ax  # z[1] grows upwards in the picture
    far = np.asarray(space.scatter(5.9, 0))  # outside the plotted square: marked at its edge
    assert np.any(far != background)
    assert space.manifold().size == (15 * 28 * 2, 15 * 28 * 2)


# ----------------------------------------------------------------------------------------------
# The command line


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "train.classic", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_cli_standin_then_a_short_frey_run_and_clear_errors(tmp_path):
    mat = tmp_path / "standin.mat"
    r = _cli("frey-standin", "--out", str(mat), "--count", "120")
    assert r.returncode == 0 and "not Frey's" in r.stdout, r.stderr
    assert read_frey(mat).shape == (120, 28, 20)
    r = _cli("--model", "frey", "--data", str(mat), "--out", str(tmp_path / "run"), "--epochs", "1",
             "--batch-size", "16", "--frames", "4", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "Frey stand-in (synthetic)" in r.stderr and "test loss" in r.stdout
    assert Image.open(tmp_path / "run" / "latent_space.gif").n_frames == 1 + 6 // 1
    r = _cli("--data", str(mat), "--out", str(tmp_path / "run"), "--resume", "--epochs", "2",
             "--lr", "0.01", "--quiet")
    assert r.returncode == 2 and "only --epochs may change (got lr)" in r.stderr
    r = _cli("--model", "dense", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "nowhere: no such folder" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()
