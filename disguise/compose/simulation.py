"""How well a witness's composite names the culprit: a simulated witness (``disguise.compose.witness``)
composes each target from the test split, and the judge (the bundled identity model) ranks the
composite among a gallery of 100 faces (the target and 99 other people of the same sex).

For every target and generation it records the target's rank by its similarity to the composite
(1: named first), and the same for two baselines that show the witness as many faces: the
description alone (its face space's centre) and random faces of the description (the witness's
favourite among all seen so far). How human the witness is is measured as eyewitness research
measures people: how often it names the culprit from a line-up (``Simulation.lineup``). The
composite is what the Compose tab shows, the breeder's estimate from every pick
(``Composite.code``); the rank of the witness's favourite on each screen is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attributes import INDEX
from ..identity.match import LABELS
from ..identity.recognisers import DRAWN
from .breeding import SPREAD, TAU, Breeder
from .face_space import Description, FaceSpace
from .pictures import aligned_composite
from .witness import Perceiver, Witness

# What a witness describes: what a person notices at a glance (the Compose tab's form).
DESCRIBED = ("Male", "Young", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Bald", "Bangs",
             "No_Beard", "Mustache", "Goatee", "Eyeglasses", "Wearing_Hat")
GALLERY = 100
LINEUP = 6  # faces in a line-up: the culprit's photo and five fillers who fit the description
Decode = Callable[[torch.Tensor], np.ndarray]  # (n, z) codes -> (n, S, S, 3) uint8
Embed = Callable[[np.ndarray], np.ndarray]  # the judge: faces -> unit embeddings


# A witness who saw the person disguised: the remembered image has one of these that the
# person's photo in the gallery lacks (``make_cases(disguised=True)``).
DISGUISES = ("Eyeglasses", "Wearing_Hat")


@dataclass
class Case:
    """One target: the face the witness remembers, its description, and the gallery the judge
    ranks it in (the target's photo first: the remembered face itself, or for a disguised case
    another image of the person without the disguise)."""

    target: int  # row of the split's faces: what the witness remembers
    gallery: np.ndarray  # rows: the target's photo first, then same-sex faces of other people
    description: dict[str, bool]
    lineup: np.ndarray  # rows: the target's photo, then the gallery's people who fit the description best

    @property
    def disguised(self) -> bool:
        return int(self.gallery[0]) != self.target


def _disguised_image(rows: np.ndarray, labels: np.ndarray, photo: int) -> int | None:
    """Another image of the person wearing a disguise its photo lacks (None if there is none)."""
    cols = [INDEX[a] for a in DISGUISES]
    for r in rows:
        if r != photo and ((labels[r, cols] > 0) & (labels[photo, cols] < 0)).any():
            return int(r)
    return None


def make_cases(people: np.ndarray, labels: np.ndarray, targets: int, gallery: int = GALLERY,
               seed: int = 0, described: Sequence[str] = DESCRIBED, disguised: bool = False,
               strict: bool = True) -> list[Case]:
    """``targets`` cases from one split: each a different person's first face (``disguised``: a
    person's image in a disguise, their first image without it in the gallery), among the first
    faces of ``gallery - 1`` other people of the same sex, drawn at random. Fewer people than
    ``targets`` is a ``ValueError``, or (``strict=False``) as many cases as there are."""
    rng = np.random.default_rng(seed)
    cols = [INDEX[a] for a in described]
    ids, first = np.unique(people, return_index=True)  # one face per person
    order = rng.permutation(len(first))
    ids, first = ids[order], first[order]
    male = labels[first, INDEX["Male"]] > 0
    cases = []
    for pid, row, is_male in zip(ids, first, male):
        if len(cases) == targets:
            break
        memory = _disguised_image(np.flatnonzero(people == pid), labels, row) if disguised else int(row)
        if memory is None:
            continue
        others = [r for r, m in zip(first, male) if m == is_male and r != row]
        if len(others) < gallery - 1:
            raise ValueError(f"{len(others) + 1} people of the target's sex in the split, a gallery needs {gallery}")
        pick = np.array([others[i] for i in rng.choice(len(others), gallery - 1, replace=False)], dtype=int)
        remembered = labels[memory, cols] > 0
        fit = ((labels[pick][:, cols] > 0) == remembered).sum(1)  # answers of the description each shares
        fillers = pick[np.argsort(-fit, kind="stable")[:LINEUP - 1]]
        cases.append(Case(memory, np.r_[row, pick], dict(zip(described, remembered.tolist())), np.r_[row, fillers]))
    if len(cases) < targets and strict:
        raise ValueError(f"the split has {len(cases)} {'disguised ' if disguised else ''}people; asked for "
                         f"{targets} targets")
    return cases


@dataclass
class Ranking:
    """The judge's view of one case: the gallery's embeddings."""

    gallery: np.ndarray  # (G, e), the target first

    def rank(self, embedding: np.ndarray) -> tuple[int, float]:
        """The target's rank among the gallery for a composite (1 = first) and its similarity."""
        s = self.gallery @ embedding
        return int((s > s[0]).sum()) + 1, float(s[0])


@dataclass
class Trial:
    """Per generation: ranks and similarities of the composite (and of the witness's favourite)."""

    ranks: list[int] = field(default_factory=list)
    similarity: list[float] = field(default_factory=list)
    favourite_ranks: list[int] = field(default_factory=list)  # the witness's favourite on each screen
    final: np.ndarray | None = None  # the last composite


def summary(trials: Sequence[Trial], which: str = "ranks") -> list[dict]:
    """Per generation over the targets: ``top1``, ``top5`` (shares) and ``median_rank``."""
    table = np.array([getattr(t, which) for t in trials])  # (targets, generations)
    sims = np.array([t.similarity for t in trials]) if which == "ranks" else None
    out = []
    for g in range(table.shape[1]):
        r = table[:, g]
        row = {"generation": g + 1, "top1": float((r == 1).mean()), "top5": float((r <= 5).mean()),
               "median_rank": float(np.median(r))}
        if sims is not None:
            row["similarity"] = float(sims[:, g].mean())
        out.append(row)
    return out


@dataclass
class Simulation:
    """Everything a run needs: the face space, the decoder, the judge and the witness's eyes."""

    space: FaceSpace
    decode: Decode
    judge: Embed
    perceive: Perceiver
    faces: np.ndarray  # the split's faces at the model's size
    generations: int = 8
    size: int = 12
    picks: int = 3
    noise: float = 0.5
    wrong: float = 0.2
    dims: int = 40
    method: str = "estimate"
    seed: int = 0
    tau: float = TAU
    spread: float = SPREAD
    _rankings: dict = field(default_factory=dict, repr=False)  # per case: its gallery, embedded once

    def ranking(self, case: Case) -> Ranking:
        """The judge's embeddings of ``case``'s gallery (made once, whichever runs ask)."""
        key = (case.target, case.gallery.tobytes())
        if key not in self._rankings:
            self._rankings[key] = Ranking(self.judge(np.ascontiguousarray(self.faces[case.gallery])))
        return self._rankings[key]

    def _setup(self, case: Case, k: int) -> tuple[Description, Witness, Ranking]:
        return (*self._witness(case, k), self.ranking(case))

    def _witness(self, case: Case, k: int) -> tuple[Description, Witness]:
        """``case``'s description and its witness, its noise's unit set on faces of the description."""
        desc = self.space.description(case.description)
        gen = torch.Generator().manual_seed(self.seed * 7919 + k)
        witness = Witness(self.perceive, self.faces[case.target], picks=self.picks, noise=self.noise,
                          wrong=self.wrong, seed=self.seed * 7919 + k)
        witness.calibrate(self.decode(desc.sample(48, gen)))
        return desc, witness

    def _score(self, trial: Trial, ranking: Ranking, face: np.ndarray) -> None:
        rank, sim = ranking.rank(self.judge(face[None])[0])
        trial.ranks.append(rank)
        trial.similarity.append(sim)
        trial.final = face

    def search(self, case: Case, k: int) -> Trial:
        """The witness breeds ``generations`` screens; scored after each pick."""
        desc, witness, ranking = self._setup(case, k)
        breeder = Breeder(self.size, min(self.dims, desc.dims), seed=self.seed * 7919 + k, method=self.method,
                          tau=self.tau, spread=self.spread)
        history = [breeder.first()]
        trial = Trial()
        for g in range(self.generations):
            screen = history[-1]
            faces = self.decode(desc.codes(screen.u))
            screen.picks = witness.choose(faces)
            screen.best = screen.picks[0]
            trial.favourite_ranks.append(ranking.rank(self.judge(faces[screen.best][None])[0])[0])
            self._score(trial, ranking, self.decode(desc.codes(breeder.estimate(history)[None]))[0])
            if g + 1 < self.generations:
                history.append(breeder.next(history))
        return trial

    def random(self, case: Case, k: int) -> Trial:
        """Screens drawn within the description; the favourite of everything seen so far."""
        desc, witness, ranking = self._setup(case, k)
        gen = torch.Generator().manual_seed(self.seed * 7919 + k + 1)
        kept: list[np.ndarray] = []
        trial = Trial()
        for _ in range(self.generations):
            faces = self.decode(desc.sample(self.size, gen, min(self.dims, desc.dims)))
            kept.append(faces[witness.choose(faces, 1)[0]])
            favourites = np.stack(kept)
            self._score(trial, ranking, favourites[witness.choose(favourites, 1)[0]])
        return trial

    def description_only(self, case: Case, k: int) -> Trial:
        """The description's centre face, the same at every generation."""
        desc, _, ranking = self._setup(case, k)
        trial = Trial()
        self._score(trial, ranking, self.decode(desc.mean[None])[0])
        trial.ranks *= self.generations
        trial.similarity *= self.generations
        return trial

    def lineup(self, cases: Sequence[Case], trials: int = 200) -> float:
        """The share of line-ups (``Case.lineup``, ``trials`` viewings each) in which the witness,
        as it is in the search, names the culprit: how human its noise and lapses are."""
        hits = [self._witness(case, k)[1].lineup(np.ascontiguousarray(self.faces[case.lineup]), trials)
                for k, case in enumerate(cases)]
        return float(np.mean(hits)) if hits else 0.0

    def ceiling(self, case: Case, code: Callable[[np.ndarray], torch.Tensor]) -> int:
        """The rank of the target's own reconstruction: the best a composite of this model can do."""
        return self.ranking(case).rank(self.judge(self.decode(code(self.faces[case.target][None])))[0])[0]

    def run(self, cases: Sequence[Case], kinds: Sequence[str] = ("search", "random", "description"),
            progress: bool = True) -> dict[str, list[Trial]]:
        runners = {"search": self.search, "random": self.random, "description": self.description_only}
        out: dict[str, list[Trial]] = {kind: [] for kind in kinds}
        for k, case in enumerate(tqdm(cases, desc="targets", unit="target", disable=not progress, leave=False)):
            for kind in kinds:
                out[kind].append(runners[kind](case, k))
        return out


def match_first(matcher, cases: Sequence[Case], trials: Sequence[Trial], aligned: Callable[[int], np.ndarray],
                suspects: int = 20) -> float:
    """How often the Match tab names the target first when the sighting is the final composite
    (in the aligned frame, as "Match against suspects" sends it) and the suspects are the first
    ``suspects`` of the case's gallery (``aligned(row)``: a face's 178 x 218 image), judged as
    drawn faces. A disguised case ticks the disguise the witness described as seen."""
    first = []
    for case, trial in zip(cases, trials):
        seen = [LABELS[a] for a in DISGUISES if case.description.get(a)] if case.disguised else []
        rows = case.gallery[:suspects]
        result = matcher.match(aligned_composite(trial.final, matcher.policy), [aligned(r) for r in rows],
                               names=[str(r) for r in rows], already_aligned=True, kind=DRAWN, seen=seen)
        first.append(result.best.name == str(rows[0]))
    return float(np.mean(first)) if first else 0.0
