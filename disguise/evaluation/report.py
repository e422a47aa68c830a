"""The evaluation report: reconstruction, the quality bar, edit success and the judge's accuracy,
as JSON (``Report.to_json``) and as Markdown tables (``markdown``, e.g. ``weights/evaluation.md``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .. import backdrop
from ..sliders.measure import EditResult, QualityBar
from .diagnosis import Drawability, cause
from .identity_kept import IdentityResult
from .photo_view import PhotoViewResult

ALPHA = "\u03b1"
RELIABLE = 0.8  # the judge's balanced accuracy on reconstructions at which it reads an attribute


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
    identity: list[IdentityResult] = field(default_factory=list)
    identity_threshold: float | None = None
    identity_recogniser: str = "the identity model"
    drawability: list[Drawability] = field(default_factory=list)
    # {"method", "unit", "scales": {attribute: |v|}, "hair_rows": [...], "picture_rows": [...]}
    bank: dict = field(default_factory=dict)
    before: dict = field(default_factory=dict)  # another report's JSON (e.g. the seed's vectors)
    judge_reads: dict = field(default_factory=dict)  # the judge's balanced accuracy on reconstructions
    judge_thresholds: dict = field(default_factory=dict)  # labels it reads away from logit 0, and where
    chooser: list = field(default_factory=list)  # the chooser's reading of the same edits (EditResult dicts)
    baseline: list = field(default_factory=list)  # the effect method's edits, read by the judge (EditResult dicts)
    figures: dict = field(default_factory=dict)  # {"judge" | "chooser" | "baseline": bar_figures}

    def to_json(self) -> str:
        out = {"reconstruction": self.reconstruction, "classifier": self.classifier,
               "edits": [asdict(e) for e in self.edits], "bar": self.bar}
        if self.photo_view:
            out |= {"photo_view": [asdict(e) for e in self.photo_view], "photo_summary": self.photo_summary}
        if self.drawability:
            out["drawability"] = [asdict(d) for d in self.drawability]
        if self.bank:
            out["bank"] = self.bank
        for name in ("judge_reads", "judge_thresholds", "chooser", "baseline", "figures"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.identity:
            out |= {"identity": [asdict(e) for e in self.identity], "identity_threshold": self.identity_threshold,
                    "identity_recogniser": self.identity_recogniser}
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
                  f"{'met' if b['met'] else 'not met'}."]
        if b.get("backdrop_measured"):
            lines += ["", f"Of those passing, **{b['passing_backdrop_kept']} of {b['backdrop_measured']}** "
                          f"leave the background as it was there (mean change of the picture's top and side "
                          f"band at most {b['backdrop_limit']:g}, `disguise.backdrop`; the judge does not "
                          f"look at the background)."]
        if "below_floor" in b:
            weak = b["below_floor"]
            lines += ["", f"Adds reaching at least {b['floor']:.0%} at the slider's end ({ALPHA}={b['alpha']:g}): "
                          f"**{b['informative'] - len(weak)} of {b['informative']}**"
                          + (f" (below: {', '.join(weak)})" if weak else "") + "."]
        lines += [""]
    lines += _graders(report)
    lines += _sliders(report)

    def edit_row(e: EditResult) -> str:
        cells = " | ".join(f"{s:.0%} / {p:.0%}" for s, p in zip(e.success, e.preserved))
        verdict = (f"yes (\u03b1={e.best_alpha:g})" if e.passes else
                   "no" if e.informative else "n/a: seen at \u03b1=0")
        return f"| {e.attribute} | {e.faces} | {e.baseline:.0%} | {cells} | {verdict} |"

    lines += _per_direction(
        report.edits, lambda d, what: f"## Edit success: {d} ({what})",
        lambda alphas: [f"| attribute | faces | at {ALPHA}=0 | {' | '.join(f'{ALPHA}={a:g}' for a in alphas)} | passes |",
                        "| --- | ---: | ---: | " + " | ".join("---:" for _ in alphas) + " | :---: |"],
        edit_row)
    lines += _photo_view(report)
    lines += _identity(report)
    lines += ["## Attribute classifier (test split)", "",
              "| attribute | accuracy | balanced accuracy | majority baseline |",
              "| --- | ---: | ---: | ---: |"]
    for a, m in report.classifier.items():
        lines.append(f"| {a} | {m['accuracy']:.1%} | {m['balanced_accuracy']:.1%} | "
                     f"{m['majority_baseline']:.1%} |")
    return "\n".join(lines) + "\n"


def _graders(report: Report) -> list[str]:
    """The judge's figures beside the chooser's and the baseline's, and what the judge can read."""
    if not report.figures:
        return []
    names = {"judge": "the judge (chose nothing)", "chooser": "the chooser (picked the sliders)",
             "baseline": "the effect method, by the judge"}
    lines = ["## Who grades", "", "| read by | adds at the bar | adds at 50% at the end | removals at the bar |",
             "| --- | ---: | ---: | ---: |"]
    for key, f in report.figures.items():
        lines.append(f"| {names.get(key, key)} | {f['adds']} of {f['attributes']} | {f['floor']} of "
                     f"{f['informative']} | {f['removals']} |")
    reads = report.judge_reads
    if reads:
        weak = sorted(a for a, r in reads.items() if r < RELIABLE)
        passing = {e.attribute for e in report.edits if e.direction == "add" and e.passes}
        sure = [a for a in reads if a not in weak]
        lines += ["", f"The judge reads {len(sure)} of {len(reads)} attributes on the test faces' reconstructions "
                      f"with a balanced accuracy of at least {RELIABLE:.0%}; of those, "
                      f"**{len(passing & set(sure))}** pass"
                      + (f". It reads these less well, so its verdicts on them say little: "
                         f"{', '.join(f'{a} ({reads[a]:.0%})' for a in weak)}." if weak else ".")]
    if report.judge_thresholds:
        lines += ["", "The judge reads these above a logit other than 0, set on validation faces where that reads "
                      "them much better (`disguise.classifier.thresholds`): "
                      + ", ".join(f"{a} ({v:+.2f})" for a, v in report.judge_thresholds.items()) + "."]
    if report.chooser:
        chosen = {e["attribute"]: e for e in report.chooser if e["direction"] == "add"}
        lines += ["", "Per slider at its end (add, test faces): seen / kept by the judge, and by the chooser.", "",
                  "| attribute | judge | chooser |", "| --- | ---: | ---: |"]
        for e in (e for e in report.edits if e.direction == "add"):
            c = chosen.get(e.attribute)
            theirs = f"{c['success'][-1]:.0%} / {c['preserved'][-1]:.0%}" if c else ""
            lines.append(f"| {e.attribute} | {e.success[-1]:.0%} / {e.preserved[-1]:.0%} | {theirs} |")
    return lines + [""] + _removals_beside_baseline(report)


def _removals_beside_baseline(report: Report) -> list[str]:
    """The removals on which the sliders and the effect method differ, by the judge: each one's
    best (seen removed / kept) over the alphas, so a near miss shows as one."""
    theirs = {e["attribute"]: e for e in report.baseline if e["direction"] == "remove"}
    differ = [(e, theirs[e.attribute]) for e in report.edits
              if e.direction == "remove" and e.attribute in theirs and e.passes != theirs[e.attribute]["passes"]]
    if not differ:
        return []

    def at_best(passes: bool, success, kept) -> str:
        s, k = max(zip(success, kept), key=lambda p: min(p))
        return f"{'passes' if passes else 'misses'}: {s:.0%} / {k:.0%}"

    lines = [("Removals on which the sliders and the effect method differ (by the judge; each one's best "
              "alpha, seen removed / kept):"), "", "| attribute | the sliders | the effect method |",
             "| --- | --- | --- |"]
    for ours, base in differ:
        lines.append(f"| {ours.attribute} | {at_best(ours.passes, ours.success, ours.preserved)} | "
                     f"{at_best(base['passes'], base['success'], base['preserved'])} |")
    return lines + [""]


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
    def photo_row(e: PhotoViewResult) -> str:
        cells = " | ".join(f"{ms:.0%} / {mk:.0%} | {ps:.0%} / {pk:.0%}" for ms, mk, ps, pk in
                           zip(e.model_success, e.model_kept, e.photo_success, e.photo_kept))
        return f"| {e.attribute} | {e.faces} | {cells} |"

    def mean_row(rows: list[PhotoViewResult]) -> str:
        def m(field: str, i: int) -> str:
            return f"{sum(getattr(e, field)[i] for e in rows) / len(rows):.0%}"
        cells = " | ".join(f"{m('model_success', i)} / {m('model_kept', i)} | {m('photo_success', i)} / "
                           f"{m('photo_kept', i)}" for i in range(len(rows[0].alphas)))
        return f"| **mean** | | {cells} |"

    return lines + _per_direction(
        report.photo_view, lambda d, what: f"### {d} ({what})",
        lambda alphas: [f"| attribute | faces | {' | '.join(f'{ALPHA}={a:g} model | {ALPHA}={a:g} photo' for a in alphas)} |",
                        "| --- | ---: | " + " | ".join("---: | ---:" for _ in alphas) + " |"],
        photo_row, mean_row)


def _identity(report: Report) -> list[str]:
    """Which disguises hide the person: the share still recognised after each edit."""
    if not report.identity:
        return []
    lines = ["## Identity kept (which disguises hide the person)", "",
             f"Each edit drawn on the aligned test face (the photo view's way), its face compared "
             f"with the unedited one by {report.identity_recogniser}; recognised: similarity at least "
             f"{report.identity_threshold:.3f} (its threshold). Lower is a better disguise.", ""]

    def row(e: IdentityResult) -> str:
        cells = " | ".join(f"{r:.0%} ({s:.2f})" for r, s in zip(e.recognised, e.similarity))
        return f"| {e.attribute} | {e.faces} | {cells} |"

    return lines + _per_direction(
        report.identity, lambda d, what: f"### {d} (share still recognised (mean similarity))",
        lambda alphas: [f"| attribute | faces | {' | '.join(f'{ALPHA}={a:g}' for a in alphas)} |",
                        "| --- | ---: | " + " | ".join("---:" for _ in alphas) + " |"],
        row)


def _per_direction(items: list, title, header, row, footer=None) -> list[str]:
    """One table per direction (add, remove): ``title(direction, what the cells hold)``, the
    ``header(alphas)`` lines, a ``row(item)`` per item and an optional ``footer(items)``."""
    lines: list[str] = []
    for direction in ("add", "remove"):
        rows = [e for e in items if e.direction == direction]
        if not rows:
            continue
        what = (f"share with the attribute{'' if direction == 'add' else ' removed'} / share of other "
                f"attributes unchanged")
        lines += [title(direction, what), "", *header(rows[0].alphas), *map(row, rows)]
        lines += ([footer(rows)] if footer else []) + [""]
    return lines


CAUSES = {"judge": "the judge does not see it", "capacity": "the model does not draw it",
          "entangled": "changes other attributes", "scale": "too weak in range"}


def _sliders(report: Report) -> list[str]:
    """One row per added attribute: its unit, whether the judge sees it and the model draws it, the
    add's verdict (or why it fails), success at the slider's end, the identity kept there, and the
    same verdict for the ``before`` report when there is one."""
    if not report.bank and not report.drawability:
        return []
    bar = QualityBar(**{k: report.bar[k] for k in ("success", "preserve", "alpha", "target", "floor")
                        if k in report.bar})
    draw = {d.attribute: d for d in report.drawability}
    ident = {i.attribute: i for i in report.identity if i.direction == "add"}
    before = {e["attribute"]: bar.judge(EditResult(**e)) for e in report.before.get("edits", []) if e["direction"] == "add"}
    scales = report.bank.get("scales", {})

    def verdict(e: EditResult | None) -> str:
        if e is None:
            return ""
        if not e.informative:
            return "n/a"
        if e.passes:
            return f"yes ({ALPHA}={e.best_alpha:g})"
        return f"no: {CAUSES[cause(e, draw.get(e.attribute), bar)]}"

    head = ("| attribute | unit (code length) | judge sees / model draws | add | at the end | identity kept "
            "| backdrop changed |")
    rule = "| --- | ---: | ---: | --- | ---: | ---: | ---: |"
    if before:
        head += " before: add | before: at the end | before: backdrop |"
        rule += " --- | ---: | ---: |"
    lines = [f"## Sliders ({report.bank.get('method', '')} vectors: {report.bank.get('unit', '')})", "",
             "Per added attribute: the judge's share on test faces that have it, as they are and as "
             "the model reconstructs them; the add's verdict against the bar, or its first cause "
             f"(judge, model, entanglement, scale); success, identity kept and the mean change of the "
             f"background (the picture's top and side band, 0..1) at {ALPHA}={bar.alpha:g}.", "",
             head, rule]
    for e in (e for e in report.edits if e.direction == "add"):
        d = draw.get(e.attribute)
        seen = f"{d.seen:.0%} / {d.drawn:.0%}" if d else ""
        i = ident.get(e.attribute)
        kept = f"{i.recognised[-1]:.0%}" if i else ""
        row = (f"| {e.attribute} | {scales.get(e.attribute, 1.0):.2f} | {seen} | {verdict(e)} | "
               f"{bar.at_end(e):.0%} | {kept} | {_backdrop(bar, e)} |")
        if before:
            b = before.get(e.attribute)
            row += f" {verdict(b)} | {bar.at_end(b):.0%} | {_backdrop(bar, b)} |" if b else " | | |"
        lines.append(row)
    if before:
        passed = sum(b.passes for b in before.values())
        lines += ["", f"Before ({report.before.get('bank', {}).get('method', 'the other vectors')}): "
                      f"{passed} of {len(before)} pass the same bar."]
    # A report written before the hair rows and picture rows had those names calls them "variants"
    # and "pictured".
    hair_rows = report.bank.get("hair_rows", report.bank.get("variants", []))
    if hair_rows:
        lines += ["", f"{len(hair_rows)} rows of hair sliders are the face's own, chosen by its hair state as its "
                      "code reads (`disguise.sliders.hair_rows`); on other faces the slider is the row above:", ""]
        lines += [f"- {v}" for v in hair_rows]
    picture_rows = report.bank.get("picture_rows", report.bank.get("pictured", []))
    if picture_rows:
        lines += ["", "Sliders of the picture, whose row is made for each face from its own picture "
                      "(`disguise.sliders.picture_rows`; the unit above is the shared row's, used only where there is "
                      "no face):", ""]
        lines += [f"- {v}" for v in picture_rows]
    removal_rows = report.bank.get("removal_rows", [])
    if removal_rows:
        lines += ["", f"{len(removal_rows)} sliders move along a row of their own below 0, chosen for taking the "
                      "attribute away on validation faces (`disguise.sliders.removal_rows`):", ""]
        lines += [f"- {v}" for v in removal_rows]
    return lines + [""]


def _backdrop(bar: QualityBar, e: EditResult) -> str:
    """``e``'s mean change of the backdrop at the slider's end, flagged past the limit (blank
    where a report from before it was measured)."""
    b = bar.backdrop_at(e, bar.alpha) if e.backdrop else float("nan")
    if b != b:
        return ""
    return f"{b:.3f}" + (" (repainted)" if b > backdrop.LIMIT else "")
