"""atomic_write: all or nothing, no temporary left behind, ordinary permissions."""

import os
import stat

import pytest

from disguise import files
from disguise.files import atomic_write


def test_replaces_the_file_whole(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    atomic_write(path, lambda p: p.write_text("new"))
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")

    def half_then_crash(p):
        p.write_text("ha")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, half_then_crash)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_permissions_follow_the_umask_not_the_writer(tmp_path, monkeypatch):
    """Some writers (safetensors among them) create private 0600 files; weights and exports are
    meant to be shared like any other file."""
    path = tmp_path / "out.bin"

    def private(p):
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"x")
        os.close(fd)

    monkeypatch.setattr(files, "_UMASK", 0o022)  # the umask the process started with
    atomic_write(path, private)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
