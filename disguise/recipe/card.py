"""The model card: ``README.md`` in the run folder, in Hugging Face's format (YAML metadata, then
what the model learned, the one command that made it, its settings, figures and limits)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..classifier.model import CLASSIFIER_CONFIG, CLASSIFIER_NAME
from .ledger import Ledger
from .settings import RecipeSettings, as_options, made_before

STAGE_TITLES = {"vae": "the VAE", "classifiers": "the guide, the chooser and the judge", "identity": "the identity model",
                "sliders": "the sliders", "evaluation": "the evaluation", "app_files": "the face space and the page's decoder",
                "card": "the atlas and this card"}


def _yaml_list(items: list[str]) -> str:
    return "".join(f"\n  - {i}" for i in items)


def metadata(kind: str, figures: dict, name: str) -> str:
    """The card's YAML front matter (licence, library, tags, data set, the evaluation as a
    ``model-index``)."""
    judge = figures.get("judge", {})
    dataset = ("  dataset:\n    name: CelebA (aligned)\n    type: celeba\n    split: test" if kind == "celeba" else
               "  dataset:\n    name: synthetic CelebA (drawn faces, disguise.data.synthetic)\n    type: synthetic\n"
               "    split: test")
    metrics = [("psnr", figures.get("psnr"), "reconstruction PSNR (dB)"),
               ("ssim", figures.get("ssim"), "reconstruction SSIM"),
               ("accuracy", judge.get("adds"), "sliders passing 90% seen / 90% kept, by a judge that chose none"),
               ("accuracy", judge.get("removals"), "removals passing the same bar")]
    rows = "".join(f"\n      - type: {t}\n        value: {v:.4g}\n        name: {n}" for t, v, n in metrics
                   if v is not None)
    datasets = "\ndatasets:\n  - celeba" if kind == "celeba" else ""
    return (f"---\nlicense: mit\nlibrary_name: pytorch\npipeline_tag: image-to-image\ntags:"
            f"{_yaml_list(['vae', 'celeba', 'face-editing', 'attribute-editing', 'disguise'])}{datasets}\n"
            f"model-index:\n- name: {name}\n  results:\n  - task:\n      type: image-to-image\n"
            f"      name: face attribute editing\n  {dataset.replace(chr(10), chr(10) + '  ')}\n    metrics:{rows}\n---\n")


def model_card(run: Path, ledger: Ledger, settings: RecipeSettings, name: str) -> str:
    """The whole card for the run in ``run`` (read from its record and evaluation)."""
    kind = ledger.data.get("kind", "")
    ev = ledger.stages.get("evaluation")
    figures = ev.figures if ev else {}
    lines = [metadata(kind, figures, name), f"# {name}", ""]
    if kind == "synthetic":
        lines += ["**These weights learned drawn faces** (the project's synthetic CelebA), not photographs. On a real "
                  "photo their edits are rough smears of a drawn face: what they show of a real person is a sketch of "
                  "the idea, not a prediction. Train on CelebA (the command below, `--data` your copy) for photos.", ""]
    else:
        lines += ["Trained on CelebA's aligned photos. An edit is the model's guess at the attribute, drawn on the "
                  "person's photo; it is not a fact about how the person looks in disguise.", ""]
    lines += ["A convolutional VAE and its bank of 40 attribute sliders for the `disguise` app "
              "(`python app.py --weights FOLDER`): each slider moves a face's code, `z + sum_i alpha_i v_i`.", "",
              "## How it was made", "", "```bash", *_data_command(ledger.data),
              remake_command(ledger), "```", "",
              "| stage | what it made | time |", "| --- | --- | ---: |"]
    for stage, rec in sorted(ledger.stages.items(), key=lambda kv: list(STAGE_TITLES).index(kv[0])
                             if kv[0] in STAGE_TITLES else len(STAGE_TITLES)):
        if rec.status == "done":
            lines.append(f"| {STAGE_TITLES.get(stage, stage)} | {rec.summary} | {_minutes(rec.time)} |")
    total = sum(r.time for r in ledger.stages.values())
    lines += [f"| **all** | | **{_minutes(total)}** |", "", "Settings (`recipe.json` holds them all):", "",
              "| setting | value |", "| --- | --- |"]
    for k, v in settings.to_dict().items():
        if k == "sliders":
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        lines.append(f"| {k} | {v if not isinstance(v, (list, tuple)) else ', '.join(map(str, v))} |")
    lines += ["", "## Data", "", _data_line(ledger.data), ""]
    lines += _evaluation(figures, ev.summary if ev else "")
    if (run / "atlas.png").is_file():
        lines += ["## Atlas", "", "Every slider on the same test faces at alpha -4 (on faces that have the attribute), "
                  "0, 2 and 4, with the judge's reading at +4 beside it: the figures above can be checked against "
                  "the pictures.", "", "![atlas](atlas.png)", ""]
    lines += ["## Files", "", "| file | what |", "| --- | --- |",
              "| `config.json`, `model.safetensors` | the VAE (every constructor argument, the crop and size) |",
              "| `attribute_vectors.safetensors` | the 40 sliders (and their rows below 0, where a slider has one), each "
              "row's record (how it was chosen) in its metadata |",
              "| `attribute_vectors_seed.safetensors` | the seed's difference-of-means bank, for comparison |",
              JUDGE_ROW,
              "| `guide/`, `chooser/` | the classifier learned edits were fitted to, and the one that chose |",
              "| `identity*` | the identity model and its verification (where the data says who is who) |",
              "| `face_space.safetensors`, `decoder.onnx` | the Compose tab's face space, the page's decoder |",
              "| `evaluation.md`, `evaluation.json` | the whole evaluation |",
              "| `recipe.json` | the settings and each stage's record |", "",
              "## Limits", "",
              "- The sliders were chosen by one classifier and graded by another trained on other people; both read "
              "what the VAE draws, so an attribute the VAE cannot draw small enough (a necklace, narrow eyes) is "
              "weak whatever the slider.",
              "- A slider moves one attribute and holds the others as the chooser sees them; correlated attributes "
              "can still move together (the atlas shows where).",
              "- Edits on a photo are drawn through the model's decode of the face: they are predictions of a "
              "look, not evidence of one.", ""]
    return "\n".join(lines)


JUDGE_ROW = "| `attribute_classifier.*` | the judge (graded the sliders, chose none of them) |"
NO_JUDGE_ROW = ("| (the judge) | not in this folder (too big to bundle); `python -m train.recipe --data DATA --out RUN "
                "--from FOLDER --until classifiers` remakes it on the same people, and `python -m train.evaluate "
                "--judge RUN` grades with it |")

CLASSIC_ROW = ("\n| `classic/` | the Latent space tab's model (not made by the recipe): the seeds' convolutional VAE "
               "with a 2-D latent, trained on Fashion-MNIST by `python -m train.classic`, with its stored test codes |")


def bundle(run: Path, dest: Path) -> list[Path]:
    """Copy the run's upload set into ``dest`` without the judge (a weights folder kept in a
    repository, where 45 MB of ResNet-18 would not fit), the card saying where the judge went;
    ``dest``'s other folders (``classic/``) stay. Returns the files copied."""
    run, dest = Path(run), Path(dest)
    files = [p for p in upload_set(run) if p.name not in (CLASSIFIER_NAME, CLASSIFIER_CONFIG) or len(p.parts) > 1]
    dest.mkdir(parents=True, exist_ok=True)
    for name in (CLASSIFIER_NAME, CLASSIFIER_CONFIG):  # an earlier bundle's judge is not this run's
        (dest / name).unlink(missing_ok=True)
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(run / rel, dest / rel)
    card = (dest / "README.md").read_text().replace(JUDGE_ROW, NO_JUDGE_ROW + (CLASSIC_ROW if (dest / "classic").is_dir()
                                                                                 else ""))
    write_card(dest, card)
    return files


def _evaluation(figures: dict, summary: str) -> list[str]:
    if not figures:
        return []
    lines = ["## Evaluation (test split)", "", summary, "",
             "| read by | adds at 90% / 90% | adds at 50% at the end | removals |", "| --- | ---: | ---: | ---: |"]
    names = {"judge": "the judge (chose nothing)", "chooser": "the chooser (picked the sliders)",
             "baseline": "the effect method, by the judge"}
    for key in ("judge", "chooser", "baseline"):
        f = figures.get(key)
        if f:
            lines.append(f"| {names[key]} | {f['adds']} of {f['attributes']} | {f['floor']} of {f['informative']} | "
                         f"{f['removals']} |")
    psnr, ssim = figures.get("psnr"), figures.get("ssim")
    if psnr is not None:
        lines += ["", f"Reconstruction: PSNR {psnr:.2f} dB, SSIM {ssim:.3f}. Per slider: `evaluation.md`.", ""]
    return lines


def remake_command(ledger: Ledger) -> str:
    """The command that made the run, with the settings whose default has changed since
    (``settings.made_before``), so that it still makes this run."""
    command = ledger.command or "python -m train.recipe --data DATA --out RUN"
    since = made_before({stage: rec.settings for stage, rec in ledger.stages.items()})
    return " ".join([command, *as_options(since)])


def _data_command(data: dict) -> list[str]:
    """The command that drew a synthetic set (from its ``synthetic.json``), or nothing."""
    mark = Path(data.get("path", "")) / "synthetic.json"
    if data.get("kind") != "synthetic" or not mark.is_file():
        return []
    drawn = json.loads(mark.read_text())
    return [f"python -m train.synthetic --out {data['path']} --count {drawn.get('count')} --seed {drawn.get('seed')}"]


def _data_line(data: dict) -> str:
    return (f"{data.get('faces', 0):,} faces ({data.get('kind', '')}): train {data.get('train', 0):,}, validation "
            f"{data.get('valid', 0):,}, test {data.get('test', 0):,}; "
            + (f"{data['people']:,} people (identity_CelebA.txt)." if data.get("people") else "no identities.")
            + f" Digest of the lists and files: {data.get('digest', '')}.")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def write_card(run: Path, text: str) -> None:
    from ..files import atomic_write

    atomic_write(run / "README.md", lambda p: p.write_text(text))


def upload_set(run: Path) -> list[Path]:
    """The files ``--push`` uploads: everything at the run folder's top and in its classifiers'
    folders, none of its work (checkpoints, caches) or its log."""
    keep = []
    for p in sorted(Path(run).rglob("*")):
        rel = p.relative_to(run)
        if p.is_file() and rel.parts[0] not in ("work",) and not p.name.endswith((".tmp", ".lock", ".log")):
            keep.append(rel)
    return keep


def describe_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}
