"""The README and the pages under docs/: every relative link and #anchor resolves, and every
benchmark command in docs/benchmarks.md names a script in bench/. Fast, offline, no imports of the
library."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
HTML_REF = re.compile(r"""<(?:a|img|source)\b[^>]*?\s(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
HTML_ID = re.compile(r"""<[a-z][^>]*?\s(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
INLINE_CODE = re.compile(r"(`+)(.+?)\1")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks and the YAML front matter, numbered from 1."""
    lines = text.splitlines()
    out, fence, start = [], None, 0
    if lines and lines[0].strip() == "---":  # front matter (the Space's configuration)
        for i in range(1, len(lines)):
            if lines[i].strip() == "---":
                start = i + 1
                break
    for i in range(start, len(lines)):
        line = lines[i]
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            continue
        if fence is not None:
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and not line.strip()[len(m.group(1)) :]
            ):
                fence = None
            continue
        out.append((i + 1, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without markup, lowercased, every character other
    than a letter, digit, space, hyphen or underscore removed, spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every anchor a Markdown file's headings (and HTML ids) produce; repeated headings get -1, -2."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        m = HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
        out.update(HTML_ID.findall(line))
    return frozenset(out)


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link and image in a Markdown file's prose (not in code)."""
    out = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        line = INLINE_CODE.sub("", line)
        out += [(number, t) for t in LINK.findall(line)]
        out += [(number, t) for t in HTML_REF.findall(line)]
    return out


def broken(path: Path) -> list[str]:
    """What is wrong with each relative link of a file: a missing target or an anchor no heading makes."""
    problems = []
    for number, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("//"):
            continue  # http(s), mailto: not checked here
        where, _, anchor = target.partition("#")
        where = unquote(where.split("?")[0])
        dest = (path.parent / where).resolve() if where else path
        rel = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not dest.exists():
            problems.append(f"{rel}: no such file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix.lower() == ".md" and unquote(anchor).lower() not in anchors(dest):
            problems.append(f"{rel}: no heading in {dest.relative_to(ROOT)} makes #{anchor}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_anchors_resolve(page):
    problems = broken(page)
    assert not problems, "\n".join(problems)


def test_every_docs_page_is_in_the_index():
    index = DOCS / "README.md"
    linked = {(DOCS / t.partition("#")[0]).resolve() for _, t in links(index) if t.partition("#")[0]}
    missing = [p.name for p in DOCS.glob("*.md") if p != index and p.resolve() not in linked]
    assert not missing, f"docs pages not linked from docs/README.md: {missing}"


def test_benchmark_commands_name_scripts_that_exist():
    text = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    named = set(re.findall(r"python bench/([\w.-]+?\.py)\b", text))
    assert named, "docs/benchmarks.md gives no `python bench/NAME.py` command"
    missing = sorted(n for n in named if not (ROOT / "bench" / n).is_file())
    assert not missing, f"docs/benchmarks.md runs scripts that are not in bench/: {missing}"
    # and the other way round: every benchmark script (not the shared helpers) has its command
    scripts = {p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_")}
    unlisted = sorted(scripts - named)
    assert not unlisted, f"bench/ scripts without a command in docs/benchmarks.md: {unlisted}"


def test_slug_follows_github():
    assert slug("The seeds' classic VAEs (a 2-D latent)") == "the-seeds-classic-vaes-a-2-d-latent"
    assert slug("Identity: is the face still this person?") == "identity-is-the-face-still-this-person"
    assert slug("The `train.vae` options") == "the-trainvae-options"
    assert slug("Blurry: a slider of the picture") == "blurry-a-slider-of-the-picture"
