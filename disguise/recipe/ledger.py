"""The run folder's record of the recipe: which stages are done, with what, and when.

``recipe.json`` holds the data the run was made from (its folder and a digest of its lists and
files), the settings, and per stage a *key*: a digest of the settings that shape it, of the keys
of the stages it is made from, and of the data. A stage is done while its key is the one recorded
with it; a changed setting changes its key and the keys of everything made from it, and those
stages are named, with the settings that changed, before anything is redone. The record is
rewritten atomically at each stage's start and end, so a run killed at any moment leaves a
record that says which stage it was in.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data.celeba import CelebA
from ..files import atomic_write

RECORD = "recipe.json"
FORMAT = "disguise-recipe-1"


class RecipeError(ValueError):
    """The recipe cannot go on as asked; the message says why and what to do. Nothing was changed."""


def digest(obj) -> str:
    """A short digest of a JSON-able object (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def data_digest(data: CelebA) -> str:
    """The data folder's lists and files (names, labels, splits, identities, file sizes): what the
    recipe learns from, whatever the folder is called or when it was copied."""
    h = hashlib.sha256()
    for array in (data.attributes, data.partition, data.file_stats()[:, 0],
                  data.identity if data.identity is not None else np.zeros(0)):
        h.update(np.ascontiguousarray(array).tobytes())
    h.update("\n".join(data.names).encode())
    return h.hexdigest()[:16]


@dataclass
class StageRecord:
    """One stage's record: ``status`` is ``running`` or ``done``; ``settings`` the settings that
    shape it; ``summary`` a line of what it made."""

    key: str
    status: str
    settings: dict
    started: str = ""
    seconds: float = 0.0
    summary: str = ""
    figures: dict = field(default_factory=dict)

    @property
    def time(self) -> float:
        """The stage's time: its last pass, or where the stage kept each step's own time in its
        figures (the sliders' ``seconds``: a step finished in an earlier pass keeps its time), their
        sum if that is longer."""
        steps = self.figures.get("seconds") if isinstance(self.figures, dict) else None
        kept = sum(float(v) for v in steps.values()) if isinstance(steps, dict) else 0.0
        return max(float(self.seconds), kept)


@dataclass
class Ledger:
    """``recipe.json``: the data, the command that last ran, and each stage's record."""

    folder: Path
    data: dict
    stages: dict[str, StageRecord] = field(default_factory=dict)
    command: str = ""

    @property
    def path(self) -> Path:
        return self.folder / RECORD

    @classmethod
    def open(cls, folder: Path, data: dict) -> "Ledger":
        """The record in ``folder``, or a new one; refuse a folder that holds something else, or
        another data set's run."""
        folder = Path(folder)
        path = folder / RECORD
        if not path.is_file():
            if folder.exists() and not folder.is_dir():
                raise RecipeError(f"--out {folder} is a file; give a folder (new, empty, or an earlier recipe run)")
            others = sorted(p.name for p in folder.iterdir() if p.name != ".recipe.lock") if folder.is_dir() else []
            if others:
                raise RecipeError(f"--out {folder} holds files that are not a recipe run ({', '.join(others[:4])}"
                                  f"{' ...' if len(others) > 4 else ''}); choose a new or empty folder. Nothing was "
                                  f"changed.")
            return cls(folder, data)
        try:
            raw = json.loads(path.read_text())
            if raw.get("format") != FORMAT:
                raise ValueError(f"format {raw.get('format')!r}, not {FORMAT!r}")
            stages = {k: StageRecord(**v) for k, v in raw["stages"].items()}
        except (ValueError, TypeError, KeyError) as e:
            raise RecipeError(f"{path}: not a readable recipe record ({e}); choose a new --out, or move the folder "
                              f"away. Nothing was changed.") from None
        if raw["data"].get("digest") != data["digest"]:
            raise RecipeError(f"--out {folder} holds a recipe run made from other data ({raw['data'].get('path')}, "
                              f"{raw['data'].get('faces')} faces; --data now has {data['faces']}); choose a new --out. "
                              f"Nothing was changed.")
        return cls(folder, data, stages, raw.get("command", ""))  # the data as it is named now

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        raw = {"format": FORMAT, "data": self.data, "command": self.command,
               "stages": {k: asdict(v) for k, v in self.stages.items()}}
        atomic_write(self.path, lambda p: p.write_text(json.dumps(raw, indent=1) + "\n"))

    def done(self, stage: str, key: str) -> bool:
        rec = self.stages.get(stage)
        return rec is not None and rec.status == "done" and rec.key == key

    def start(self, stage: str, key: str, settings: dict) -> None:
        self.stages[stage] = StageRecord(key, "running", settings, started=time.strftime("%Y-%m-%d %H:%M:%S"))
        self.save()

    def finish(self, stage: str, seconds: float, summary: str, figures: dict | None = None) -> None:
        rec = self.stages[stage]
        rec.status, rec.seconds, rec.summary, rec.figures = "done", round(seconds, 1), summary, figures or {}
        self.save()

    def forget(self, stage: str) -> None:
        if self.stages.pop(stage, None) is not None:
            self.save()


def changed(old: dict, new: dict) -> list[str]:
    """``name: old -> new`` for each setting that differs."""
    return [f"{k}: {old.get(k)} -> {new.get(k)}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
