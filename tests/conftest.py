"""Shared fixtures: a small synthetic CelebA made once per test session, offline settings."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.tools import is_missing_tool

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory) -> Path:
    """Keep every preprocessed cache of the test session in one throw-away folder."""
    path = tmp_path_factory.mktemp("cache")
    os.environ["DISGUISE_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """600 synthetic faces in CelebA's layout (seed 7). Treat as read-only: copy before breaking."""
    from disguise.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("synthetic")
    write_dataset(str(root), 600, seed=7, workers=2)
    return root


@pytest.fixture
def broken_copy(synthetic_root, tmp_path) -> Path:
    """A private copy of the synthetic set to break by hand (images linked, lists copied)."""
    dst = tmp_path / "copy"
    dst.mkdir()
    (dst / "img_align_celeba").mkdir()
    for p in (synthetic_root / "img_align_celeba").iterdir():
        shutil.copyfile(p, dst / "img_align_celeba" / p.name)
    for p in synthetic_root.glob("*.txt"):
        shutil.copyfile(p, dst / p.name)
    return dst


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (DISGUISE_REQUIRE_TOOLS=1) a skip for a missing system tool (``tests.tools.missing``)
    is a failure; other skips stay skips."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("DISGUISE_REQUIRE_TOOLS") == "1" and is_missing_tool(str(report.longrepr)):
        report.outcome = "failed"
        report.longrepr = f"skipped, but CI requires every tool: {report.longrepr}"


@pytest.fixture(scope="session")
def tiny_run(synthetic_root, tmp_path_factory) -> Path:
    """A 32 x 32 VAE trained for 3 epochs on the synthetic set, with its vector bank and face space."""
    from disguise.compose.face_space import FACE_SPACE_NAME, fit_face_space
    from disguise.data.cache import load_split
    from disguise.data.celeba import open_celeba
    from disguise.preprocess import Preprocess
    from disguise.sliders.bank import BANK_NAME
    from disguise.sliders.means import build_bank, labelled_batches
    from disguise.vae.model import VAE, VAEConfig
    from disguise.vae.training import TrainConfig, train

    run = tmp_path_factory.mktemp("tiny_run")
    cfg = VAEConfig(image_size=32, z_dim=16, encoder_filters=(16, 32, 32), encoder_kernels=(3, 3, 3),
                    encoder_strides=(2, 2, 2), decoder_filters=(32, 16, 3),
                    decoder_kernels=(3, 3, 3), decoder_strides=(2, 2, 2),
                    preprocess=Preprocess(size=32).to_dict())
    train(run, synthetic_root, cfg, TrainConfig(epochs=3, lr=2e-3), progress=False, log=lambda m: None)
    model = VAE.from_pretrained(run)
    images, labels, _ = load_split(open_celeba(synthetic_root), "train", cfg.policy, progress=False)
    build_bank(model, labelled_batches(images, labels, 64), progress=False).save(run / BANK_NAME)
    fit_face_space(model, labelled_batches(images, labels, 64), progress=False).save(run / FACE_SPACE_NAME)
    return run


@pytest.fixture(scope="session")
def astronaut() -> Path:
    """scikit-image's portrait photo (a real face, 512 x 512 PNG)."""
    import skimage

    return Path(skimage.__file__).parent / "data" / "astronaut.png"


@pytest.fixture(scope="module")
def server(tiny_run):
    """The real app on the tiny run, served on a local port for one test module: (url, studio)."""
    from tests.appserver import serve

    with serve(tiny_run) as (url, studio):
        yield url, studio
