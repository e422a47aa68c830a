"""The evaluation report: reconstruction, the quality bar, edit success and the judge's accuracy,
as JSON (``Report.to_json``) and as Markdown tables (``markdown``, e.g. ``weights/evaluation.md``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .metrics import EditResult, PhotoViewResult


@dataclass
class Report:
    """What ``train.evaluate`` measured: ``reconstruction_metrics``, ``classifier_accuracy``,
    ``edit_success`` and ``QualityBar.summary`` of those edits."""

    reconstruction: dict
    classifier: dict
    edits: list[EditResult] = field(default_factory=list)
    bar: dict = field(default_factory=dict)
    photo_view: list[PhotoViewResult] = field(default_factory=list)
    photo_summary: dict = field(default_factory=dict)

    def to_json(self) -> str:
        out = {"reconstruction": self.reconstruction, "classifier": self.classifier,
               "edits": [asdict(e) for e in self.edits], "bar": self.bar}
        if self.photo_view:
            out |= {"photo_view": [asdict(e) for e in self.photo_view], "photo_summary": self.photo_summary}
        return json.dumps(out, indent=2)


def markdown(report: Report) -> str:
    """The report as Markdown tables (reconstruction, the bar, edits, classifier accuracy)."""
    r = report.reconstruction
    lines = ["## Reconstruction (test split)", "",
             "| images | MSE | PSNR (dB) | SSIM |", "| ---: | ---: | ---: | ---: |",
             f"| {r['images']} | {r['mse']:.5f} | {r['psnr']:.2f} | {r['ssim']:.3f} |", ""]
    b = report.bar
    if b:
        lines += ["## Quality bar", "",
                  f"Attributes whose added vector makes the classifier see them for at least "
                  f"{b['success']:.0%} of faces at some alpha <= {b['alpha']:g}, while at least "
                  f"{b['preserve']:.0%} of the other drawn attributes stay as they were "
                  f"(and the plain reconstruction is seen with it for under half of them): "
                  f"**{b['passing']} of {b['attributes']}** (target {b['target']}): "
                  f"{'met' if b['met'] else 'not met'}.", ""]
    for direction in ("add", "remove"):
        rows = [e for e in report.edits if e.direction == direction]
        if not rows:
            continue
        alphas = rows[0].alphas
        head = " | ".join(f"\u03b1={a:g}" for a in alphas)
        lines += [f"## Edit success: {direction} (share with the attribute{'' if direction == 'add' else ' removed'}"
                  f" / share of other attributes unchanged)", "",
                  f"| attribute | faces | at \u03b1=0 | {head} | passes |",
                  "| --- | ---: | ---: | " + " | ".join("---:" for _ in alphas) + " | :---: |"]
        for e in rows:
            cells = " | ".join(f"{s:.0%} / {p:.0%}" for s, p in zip(e.success, e.preserved))
            verdict = (f"yes (\u03b1={e.best_alpha:g})" if e.passes else
                       "no" if e.informative else "n/a: seen at \u03b1=0")
            lines.append(f"| {e.attribute} | {e.faces} | {e.baseline:.0%} | {cells} | {verdict} |")
        lines.append("")
    lines += _photo_view(report)
    lines += ["## Attribute classifier (test split)", "",
              "| attribute | accuracy | balanced accuracy | majority baseline |",
              "| --- | ---: | ---: | ---: |"]
    for a, m in report.classifier.items():
        lines.append(f"| {a} | {m['accuracy']:.1%} | {m['balanced_accuracy']:.1%} | "
                     f"{m['majority_baseline']:.1%} |")
    return "\n".join(lines) + "\n"


def _photo_view(report: Report) -> list[str]:
    """The photo view against the model view, per attribute and alpha (when it was measured)."""
    if not report.photo_view:
        return []
    s = report.photo_summary
    worst = max(e.outside_change for e in report.photo_view)
    lines = ["## Photo view against model view", "",
             f"{s['faces']} test faces placed into photo-like scenes (150-400 px wide, rolled up to "
             f"20 degrees, JPEG) and prepared by the app's path: {s['framed_by_eyes']:.0%} framed by "
             f"the eyes (the others are left out). Each edit in the photo view is drawn on the scene, "
             f"prepared again as a new upload ({s['edited_reframed_by_eyes']:.0%} framed by the eyes "
             f"again) and its crop judged; the model view judges the decodes of the same faces. "
             f"Mean change of the pixels outside the crop's footprint: largest {worst:g} levels.", ""]
    for direction in ("add", "remove"):
        rows = [e for e in report.photo_view if e.direction == direction]
        if not rows:
            continue
        alphas = rows[0].alphas
        head = " | ".join(f"\u03b1={a:g} model | \u03b1={a:g} photo" for a in alphas)
        lines += [f"### {direction} (share with the attribute{'' if direction == 'add' else ' removed'} / "
                  f"share of other attributes unchanged)", "",
                  f"| attribute | faces | {head} |",
                  "| --- | ---: | " + " | ".join("---: | ---:" for _ in alphas) + " |"]
        for e in rows:
            cells = " | ".join(f"{ms:.0%} / {mk:.0%} | {ps:.0%} / {pk:.0%}" for ms, mk, ps, pk in
                               zip(e.model_success, e.model_kept, e.photo_success, e.photo_kept))
            lines.append(f"| {e.attribute} | {e.faces} | {cells} |")
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        cells = " | ".join(
            f"{mean([e.model_success[i] for e in rows]):.0%} / {mean([e.model_kept[i] for e in rows]):.0%} | "
            f"{mean([e.photo_success[i] for e in rows]):.0%} / {mean([e.photo_kept[i] for e in rows]):.0%}"
            for i in range(len(alphas)))
        lines += [f"| **mean** | | {cells} |", ""]
    return lines
