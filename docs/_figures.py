"""What the docs' figures of the sliders share: their command line; the bundled model, its judge and
the test faces; and a sheet of captioned faces (a heading per column, a caption under each face)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from disguise.classifier.model import AttributeClassifier, classifier_policy, load_classifier
from disguise.data.cache import load_split
from disguise.data.celeba import open_celeba
from disguise.photo.exports import font
from disguise.sliders.editor import Editor

ROOT = Path(__file__).resolve().parent.parent


def figure_inputs(doc: str, out: str) -> tuple[argparse.Namespace, Editor, AttributeClassifier, np.ndarray, np.ndarray]:
    """``--weights``, ``--data`` and ``--out`` (default ``docs/OUT``) read from the command line
    (``doc``: the script's docstring), then the editor of the weights, their judge, and the test
    split's faces and labels."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--weights", default=str(ROOT / "weights"))
    p.add_argument("--data", default=str(ROOT / "data" / "synthetic"))
    p.add_argument("--out", default=str(ROOT / "docs" / out))
    args = p.parse_args()
    editor = Editor.from_pretrained(args.weights)
    judge = load_classifier(args.weights, "cpu", classifier_policy(editor.policy))
    images, labels, _ = load_split(open_celeba(args.data), "test", editor.policy, progress=False)
    return args, editor, judge, images, labels


def captioned_sheet(columns: Sequence[str], rows: Sequence[Sequence[tuple[np.ndarray, str]]], size: int = 160,
                    gap: int = 8, head: int = 30, label: int = 20) -> Image.Image:
    """``rows`` of ``(face, caption)`` under the ``columns``' headings, each face ``size`` px."""
    sheet = Image.new("RGB", (gap + len(columns) * (size + gap), head + len(rows) * (size + label + gap)), "white")
    d = ImageDraw.Draw(sheet)
    for c, name in enumerate(columns):
        d.text((gap + c * (size + gap) + 2, 8), name, fill=(20, 20, 20), font=font(13))
    for r, row in enumerate(rows):
        y = head + r * (size + label + gap)
        for c, (face, caption) in enumerate(row):
            x = gap + c * (size + gap)
            sheet.paste(Image.fromarray(face).resize((size, size), Image.Resampling.LANCZOS), (x, y))
            d.text((x + 2, y + size + 3), caption, fill=(90, 90, 90), font=font(13))
    return sheet
