"""Shared fixtures: a small synthetic CelebA made once per test session, offline settings."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

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
    from disguise.synthetic import write_dataset

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
    """Under CI (DISGUISE_REQUIRE_TOOLS=1) a skip for a missing system tool is a failure."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("DISGUISE_REQUIRE_TOOLS") == "1":
        report.outcome = "failed"
        report.longrepr = f"skipped, but CI requires every tool: {report.longrepr}"
