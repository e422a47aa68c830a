"""The README's Python example runs as written, on the bundled weights and a real photo."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def test_readme_python_example_runs(tmp_path):
    blocks = [b for b in python_blocks((ROOT / "README.md").read_text()) if "from disguise." in b]
    assert blocks, "the README has no Python example using the library"
    script = "\n".join(blocks) + "\nprint(edited.shape, edited.dtype)\nprint(photo.shape == face.photo.photo.shape, (photo != face.photo.photo).any())\n"
    shutil.copyfile(ROOT / "examples" / "astronaut.jpg", tmp_path / "face.jpg")
    (tmp_path / "weights").symlink_to(ROOT / "weights", target_is_directory=True)
    (tmp_path / "example.py").write_text(script)
    r = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300, env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                                         "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-2:] == ["(64, 64, 3) uint8", "True True"]
    with Image.open(tmp_path / "hat.png") as im:
        assert im.text["attribute"] == json.dumps("Wearing_Hat")
        assert json.loads(im.text["labels"]) == ["input"] + [f"alpha = {a}" for a in ("0", "+1", "+2", "+3", "+4")]
        assert im.size == (6 + 6 * (256 + 6), 54 + 256 + 22 + 6 + 6)  # photo-view tiles


def test_readme_api_examples_run_against_the_server(tmp_path):
    """The README's gradio_client example (the Disguise tab's) and the API page's Compose example,
    against the real server on the bundled weights."""
    from tests.appserver import serve

    readme = [b for b in python_blocks((ROOT / "README.md").read_text()) if "gradio_client" in b]
    api_page = [b for b in python_blocks((ROOT / "docs" / "api.md").read_text()) if "gradio_client" in b]
    edit = next(b for b in readme if "/prepare" in b)
    compose = next(b for b in api_page if "/compose_start" in b)
    shutil.copyfile(ROOT / "examples" / "astronaut.jpg", tmp_path / "face.jpg")
    checks = {
        "edit": (edit, "\nfrom PIL import Image\nprint(Image.open(after).size, Image.open(decode).size, "
                       "Image.open(photo).text['edits'], Image.open(gif).n_frames)\n"),
        "compose": (compose, "\nimport json\nfrom PIL import Image\nprint(n, len(screen), "
                             "json.loads(Image.open(portrait).text['composite'])['picks'])\n"),
    }
    out = {}
    with serve(ROOT / "weights") as (url, _):
        for name, (block, tail) in checks.items():
            (tmp_path / f"{name}.py").write_text(block.replace("http://127.0.0.1:7860/", url) + tail)
            r = subprocess.run([sys.executable, f"{name}.py"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "NO_PROXY": "*"})
            assert r.returncode == 0, r.stderr[-3000:]
            out[name] = r.stdout.strip().splitlines()[-1]
    assert out["edit"] == '(512, 512) (256, 256) {"Eyeglasses": 3.0} 17'
    assert out["compose"] == "2 12 [{'screen': 1, 'picked': [2, 6], 'best': 6}]"


def test_readme_is_short():
    """A newcomer reads the README in five minutes: 300 lines at most, front matter included."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_layout_table_matches_the_folders():
    """Every wing and module of the library is in docs/layout.md's table, and nothing else."""
    table = (ROOT / "docs" / "layout.md").read_text()
    named: set[str] = set()
    for path, what in re.findall(r"^\| `(disguise/[^`]*)` \| (.*) \|$", table, flags=re.M):
        if path.endswith(".py"):
            named.add(path)
        else:
            named.update(f"{path}{m}.py" for m in re.findall(r"`(\w+)`", what))
    actual = {str(p.relative_to(ROOT)) for p in (ROOT / "disguise").rglob("*.py") if p.name != "__init__.py"}
    assert named == actual, (sorted(named - actual), sorted(actual - named))
