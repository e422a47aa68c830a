"""The gallery of known faces (disguise.gallery, train.gallery), on small galleries built here from
real photos (the fixtures' portraits, scikit-image's astronaut, matplotlib's Grace Hopper) and
drawn faces: adding (files, folders, CSVs; skips, failures), searching, info, removal, a kill -9
during an ingest then a rerun, bad galleries and descriptors, concurrent searches during an
ingest, the Milvus engine (through Milvus Lite) and the HNSW index past its exact size."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from disguise.gallery import index as index_module
from disguise.gallery.collection import EmptyGallery, Gallery, GalleryMismatch
from disguise.gallery.descriptors import DRAWN, REAL, DescriptorError, fingerprint
from disguise.gallery.store import DB_NAME, GalleryError, NewFace

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "real_faces"
WEIGHTS = ROOT / "weights"
FAKE = {"recogniser": "a test recogniser", "model": "test:1", "threshold": 0.4, "dim": 128}
PEOPLE = ("obama", "obama2", "obama3", "biden", "collins", "hopper")


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "train.gallery", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _sources(astronaut) -> dict[str, Path]:
    from matplotlib import cbook

    return {"obama": FIXTURES / "obama.jpg", "obama2": FIXTURES / "obama2.jpg", "obama3": FIXTURES / "obama3.jpg",
            "biden": FIXTURES / "biden.jpg", "collins": astronaut,
            "hopper": Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))}


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut) -> Path:
    """A folder of 12 real portraits (six photos of four people, each also mirrored) and three
    that must fail: a photo without a face, one with two faces, a text file."""
    import skimage.data

    folder = tmp_path_factory.mktemp("photos")
    for name, path in _sources(astronaut).items():
        im = Image.open(path).convert("RGB")
        im.save(folder / f"{name}.jpg", quality=92)
        ImageOps.mirror(im).save(folder / f"{name}_m.jpg", quality=92)
    a, b = Image.open(FIXTURES / "obama2.jpg").convert("RGB"), Image.open(FIXTURES / "biden.jpg").convert("RGB")
    two = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), "white")
    two.paste(a, (0, 0))
    two.paste(b, (a.width, 0))
    two.save(folder / "two_people.jpg", quality=92)
    Image.fromarray(skimage.data.coffee()).save(folder / "coffee.jpg")
    (folder / "notes.txt").write_text("not a photo")
    return folder


@pytest.fixture(scope="module")
def many(tmp_path_factory, astronaut) -> Path:
    """30 real photos (the six portraits, each saved at five JPEG qualities: 30 different files
    with one face each): enough for an ingest to be caught mid-way."""
    folder = tmp_path_factory.mktemp("many")
    for name, path in _sources(astronaut).items():
        im = Image.open(path).convert("RGB")
        for k, quality in enumerate((95, 90, 85, 80, 75)):
            im.save(folder / f"{name}_{k}.jpg", quality=quality)
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory, photos) -> tuple[Path, dict]:
    """A gallery of ``photos`` made by the command line, and its report."""
    gallery = tmp_path_factory.mktemp("built") / "gallery"
    report = gallery.parent / "report.json"
    r = _cli("add", str(gallery), str(photos), "--json", str(report), "--no-progress")
    assert r.returncode == 0, r.stderr
    return gallery, json.loads(report.read_text())


def _unit(rng, n: int) -> np.ndarray:
    x = rng.standard_normal((n, 128)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _real_like(rng, n: int) -> np.ndarray:
    return (rng.standard_normal((n, 128)) * 0.12 + 0.02).astype(np.float32)


def _fill(folder: Path, vectors: np.ndarray, kind: str = REAL, prefix: str = "p", recogniser=FAKE) -> list[int]:
    with Gallery(folder, writer=True, create=True) as g:
        ids = g.add_faces(kind, [NewFace(f"{prefix}{i}", f"{prefix}{i}.jpg", f"{prefix}-{i}", v)
                                 for i, v in enumerate(vectors)], recogniser)
    return ids


# ----------------------------------------------------------------------------------------------
# Adding, searching, info, removal: the command line on real photos


def test_kinds_agree_with_the_recognisers():
    from disguise.identity import recognisers

    assert (REAL, DRAWN) == (recognisers.REAL, recognisers.DRAWN)


def test_add_reports_each_failure_and_keeps_the_rest(built):
    gallery, report = built
    assert len(report["added"]) == 12 and report["count"] == 12
    failed = {Path(f["source"]).name: f["reason"] for f in report["failures"]}
    assert set(failed) == {"coffee.jpg", "two_people.jpg", "notes.txt"}
    assert failed["coffee.jpg"] == "no face found"
    assert failed["two_people.jpg"].startswith("2 faces found")
    assert failed["notes.txt"].startswith("unreadable")
    assert {a["name"] for a in report["added"]} == {n + m for n in PEOPLE for m in ("", "_m")}
    assert report["workers"] >= 1


def test_search_finds_the_person_first(built, tmp_path, astronaut):
    gallery, _ = built
    out = tmp_path / "search.json"
    r = _cli("search", str(gallery), "--sighting", str(FIXTURES / "obama3.jpg"), "--top", "4", "--json", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    names = [x["name"] for x in data["results"]]
    assert data["matched"] is True and len(names) == 4
    assert names[0].startswith("obama3") and all(n.startswith("obama") for n in names)
    dists = [x["distance"] for x in data["results"]]
    assert dists == sorted(dists) and dists[0] < 0.2
    assert "best match: obama3" in r.stdout
    # in painted sunglasses, still him
    from disguise.gallery.search import GallerySearch

    with GallerySearch(gallery) as s:
        painted = _painted(FIXTURES / "obama.jpg")
        hits = s.search(painted, REAL, top=3)
        assert hits.best.name.startswith("obama") and hits.matched
        thumb = s.thumbnail(hits.best)
        assert thumb.shape == (88, 72, 3) and thumb.dtype == np.uint8


def _painted(path: Path) -> Image.Image:
    from disguise.data.scenes import paint_glasses
    from disguise.photo.alignment import prepare_face
    from disguise.preprocess import Preprocess

    im = Image.open(path).convert("RGB")
    prep = prepare_face(im, Preprocess())
    eyes = np.array([prep.landmarks[2:4].mean(0), prep.landmarks[0:2].mean(0)])
    inv = np.linalg.inv(np.vstack([prep.photo.to_frame, [0, 0, 1]]))
    eyes = eyes @ inv[:2, :2].T + inv[:2, 2]
    return paint_glasses(im, eyes, np.random.default_rng(0), dark=True)


def test_info_and_rerun_skips_what_is_in(built, photos, tmp_path):
    gallery, _ = built
    out = tmp_path / "info.json"
    r = _cli("info", str(gallery), "--json", str(out))
    assert r.returncode == 0, r.stderr
    info = json.loads(out.read_text())
    assert info["count"] == 12 and info["counts"] == {"real": 12, "drawn": 0}
    assert info["engine"]["name"] == "faiss" and info["indexes"]["real"]["count"] == 12
    assert info["recognisers"]["real"]["model"].startswith("dlib:")
    # the same photos again (one file, a folder, in one command): nothing twice
    report = tmp_path / "again.json"
    r = _cli("add", str(gallery), str(photos / "obama.jpg"), str(photos), "--json", str(report), "--no-progress")
    assert r.returncode == 0, r.stderr
    again = json.loads(report.read_text())
    assert again["added"] == [] and len(again["already"]) == 13 and again["count"] == 12
    assert "13 already in" in r.stdout


def test_remove_is_real(tmp_path, photos):
    gallery = tmp_path / "g"
    r = _cli("add", str(gallery), str(photos / "biden.jpg"), str(photos / "hopper.jpg"),
             str(photos / "hopper_m.jpg"), "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    with Gallery(gallery) as g:
        hopper = [x.id for x in g.store.by_name("hopper")]
        biden = g.store.by_name("biden")[0].id
        ids, vecs = g.store.descriptors(hopper)
    blob = vecs[0].astype("<f4").tobytes()
    r = _cli("remove", str(gallery), "--name", "hopper", "--json", str(tmp_path / "rm.json"))
    assert r.returncode == 0, r.stderr
    gone = json.loads((tmp_path / "rm.json").read_text())
    assert [x["name"] for x in gone["removed"]] == ["hopper"] and gone["count"] == 2
    with Gallery(gallery) as g:
        hits = g.search(vecs[0], REAL, top=5, recogniser=None)[0]
        assert "hopper" not in [h.name for h in hits.hits] and len(hits.hits) == 2
        assert g.index(REAL).count == 2 and g.thumbnail(hopper[0]) is None
    for f in gallery.iterdir():  # neither the store nor the index keeps its bytes
        assert blob not in f.read_bytes(), f.name
    r = _cli("remove", str(gallery), "--name", "nobody")
    assert r.returncode == 2 and "nothing removed: no face named 'nobody'" in r.stderr
    r = _cli("remove", str(gallery), "--id", "99")
    assert r.returncode == 2 and "no face with id 99" in r.stderr
    r = _cli("remove", str(gallery), "--id", str(biden))
    assert r.returncode == 0 and f"removed {biden}: biden" in r.stdout


def test_csv_with_missing_files(tmp_path, photos):
    sheet = tmp_path / "people.csv"
    sheet.write_text("path,name\n"
                     f"{photos / 'obama.jpg'},Barack Obama\n"
                     "missing.jpg,Nobody\n"
                     ",No Path\n"
                     f"{os.path.relpath(photos / 'biden.jpg', tmp_path)},\n")
    out = tmp_path / "r.json"
    r = _cli("add", str(tmp_path / "g"), str(sheet), "--json", str(out), "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert sorted(a["name"] for a in rep["added"]) == ["Barack Obama", "biden"]
    reasons = sorted(f["reason"] for f in rep["failures"])
    assert len(reasons) == 2 and reasons[0].startswith("no such file") and reasons[1] == "the row has no path"
    assert "not added: " in r.stdout and "missing.jpg" in r.stdout


# ----------------------------------------------------------------------------------------------
# Killed mid-ingest, then run again


def test_kill_9_during_add_then_rerun(tmp_path, many):
    gallery = tmp_path / "g"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "train.gallery", "add", str(gallery), str(many), "--no-progress", "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    seen, deadline = 0, time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if (gallery / DB_NAME).is_file():
                try:
                    with sqlite3.connect(gallery / DB_NAME, timeout=5) as con:
                        seen = con.execute("SELECT count(*) FROM faces").fetchone()[0]
                except sqlite3.Error:
                    seen = 0
            if seen >= 1:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the command and its workers, mid-ingest
        proc.wait(10)
    assert seen >= 1
    with sqlite3.connect(gallery / DB_NAME) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = con.execute("SELECT count(*) FROM faces").fetchone()[0]
    assert 1 <= kept < 30
    (gallery / "index-real.faiss.999999999.tmp").write_bytes(b"half a snapshot")  # as a kill mid-write leaves
    out = tmp_path / "rerun.json"
    r = _cli("add", str(gallery), str(many), "--no-progress", "--workers", "2", "--json", str(out))
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert len(rep["already"]) == kept and len(rep["added"]) == 30 - kept and not rep["failures"]
    with sqlite3.connect(gallery / DB_NAME) as con:
        assert con.execute("SELECT count(*), count(DISTINCT sha256) FROM faces").fetchone() == (30, 30)
        sources = {Path(s).name for (s,) in con.execute("SELECT source FROM faces")}
    assert sources == {p.name for p in many.iterdir()}
    assert not list(gallery.glob("*.tmp"))  # a snapshot half-written when killed is swept
    with Gallery(gallery) as g:  # the index agrees with the store, face by face
        ids, vecs = g.store.descriptors([r.id for r in g.store.listing()])
        assert g.index(REAL).count == 30
        found = g.search(vecs, REAL, top=1)
        assert [h.hits[0].id for h in found] == ids.tolist()


# ----------------------------------------------------------------------------------------------
# Bad input and load


def test_bad_gallery_folders(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (("info", str(empty)), ("search", str(empty), "--sighting", str(FIXTURES / "obama.jpg"))):
        r = _cli(*args)
        assert r.returncode == 2 and "not a gallery (it has no gallery.sqlite)" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    r = _cli("info", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "no such gallery" in r.stderr
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / DB_NAME).write_bytes(b"this is not a database, only bytes" * 200)
    r = _cli("info", str(corrupt))
    assert r.returncode == 2 and "not a readable gallery database" in r.stderr
    r = _cli("add", str(corrupt), str(FIXTURES / "obama.jpg"))
    assert r.returncode == 2 and "not a readable gallery database" in r.stderr
    assert (corrupt / DB_NAME).read_bytes().startswith(b"this is not")  # left as it was
    other = tmp_path / "other"
    other.mkdir()
    with sqlite3.connect(other / DB_NAME) as con:
        con.execute("CREATE TABLE meta(key TEXT, value TEXT)")
    with pytest.raises(GalleryError, match="not a disguise gallery"):
        Gallery(other)
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(GalleryError, match="not a folder"):
        Gallery(afile, writer=True, create=True)


def test_a_damaged_index_is_rebuilt_from_the_store(tmp_path):
    rng = np.random.default_rng(1)
    vecs = _real_like(rng, 40)
    _fill(tmp_path / "g", vecs)
    path = tmp_path / "g" / "index-real.faiss"
    for damage in (b"junk", path.read_bytes()[: len(path.read_bytes()) // 2]):
        path.write_bytes(damage)
        with Gallery(tmp_path / "g", writer=True) as g:
            hits = g.search(vecs[7], REAL, top=1)[0]
            assert hits.best.name == "p7" and g.index(REAL).count == 40
            assert any("rebuilt from the store, nothing lost" in n for n in g.notices)
    path.unlink()
    with Gallery(tmp_path / "g") as g:
        assert g.search(vecs[3], REAL, top=1)[0].best.name == "p3"


def test_descriptors_of_the_wrong_kind_or_size(tmp_path):
    rng = np.random.default_rng(2)
    _fill(tmp_path / "g", _real_like(rng, 5))
    _fill(tmp_path / "g", _unit(rng, 5), kind=DRAWN, prefix="d", recogniser={**FAKE, "model": "test:drawn"})
    with Gallery(tmp_path / "g") as g:
        with pytest.raises(DescriptorError, match="has 128 numbers, got shape \\(64,\\)"):
            g.search(np.zeros(64), REAL)
        with pytest.raises(DescriptorError, match="not finite"):
            g.search(np.full(128, np.nan), REAL)
        with pytest.raises(DescriptorError, match="unit vector, as the identity model gives"):
            g.search(_unit(rng, 1)[0], REAL)
        with pytest.raises(DescriptorError, match="drawn face's descriptor .* is a unit vector"):
            g.search(_real_like(rng, 1)[0], DRAWN)
        with pytest.raises(DescriptorError, match="'real' \\(a photo\\) or 'drawn'"):
            g.search(_real_like(rng, 1)[0], "cartoon")
        assert g.search(_unit(rng, 1)[0], DRAWN, top=3)[0].best.name.startswith("d")
    with Gallery(tmp_path / "g", writer=True) as g:
        with pytest.raises(DescriptorError):
            g.add_faces(REAL, [NewFace("x", "x", "x", np.ones(12))], FAKE)
        assert g.count() == 10


def test_a_gallery_made_by_another_recogniser(built, tmp_path):
    import shutil

    gallery = tmp_path / "copy"
    shutil.copytree(built[0], gallery)
    with Gallery(gallery, writer=True) as g:
        g.store.set_meta("recogniser:real", {**g.recogniser(REAL), "model": "dlib:another-model", "recogniser": "X"})
    r = _cli("search", str(gallery), "--sighting", str(FIXTURES / "obama.jpg"))
    assert r.returncode == 2 and "indexed by X (dlib:another-model)" in r.stderr
    assert "descriptors of two models cannot be compared" in r.stderr
    r = _cli("add", str(gallery), str(FIXTURES / "biden.jpg"), "--workers", "1")
    assert r.returncode == 2 and "cannot be compared" in r.stderr
    with Gallery(gallery, writer=True) as g:
        with pytest.raises(GalleryMismatch):
            g.add_faces(REAL, [NewFace("x", "x", "x", _real_like(np.random.default_rng(0), 1)[0])], FAKE)
        assert g.count() == 12


def test_search_of_an_empty_gallery(tmp_path):
    with Gallery(tmp_path / "g", writer=True, create=True):
        pass
    with Gallery(tmp_path / "g") as g:
        with pytest.raises(EmptyGallery, match="the gallery is empty; add photos with python -m train.gallery add"):
            g.search(_real_like(np.random.default_rng(0), 1)[0], REAL)
    r = _cli("search", str(tmp_path / "g"), "--sighting", str(FIXTURES / "obama.jpg"), "--json", str(tmp_path / "s.json"))
    assert r.returncode == 2 and "the gallery is empty" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    _fill(tmp_path / "g", _unit(np.random.default_rng(0), 3), kind=DRAWN, recogniser={**FAKE, "model": "test:drawn"})
    with Gallery(tmp_path / "g") as g:
        with pytest.raises(EmptyGallery, match="no real faces \\(it has 3 drawn ones\\)"):
            g.search(_real_like(np.random.default_rng(0), 1)[0], REAL)


def test_sixteen_searches_while_an_ingest_runs(tmp_path, many):
    gallery = tmp_path / "g"
    r = _cli("add", str(gallery), str(many / "biden_0.jpg"), str(many / "hopper_0.jpg"), "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    with Gallery(gallery) as g:
        ids, probes = g.store.descriptors([x.id for x in g.store.listing()])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    ingest = subprocess.Popen([sys.executable, "-m", "train.gallery", "add", str(gallery), str(many), "--no-progress",
                               "--workers", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    errors: list[str] = []
    counts: list[list[int]] = [[] for _ in range(16)]
    from disguise.gallery.search import GallerySearch

    searcher = GallerySearch(gallery)  # one app process: its threads share the gallery

    def search(k: int) -> None:
        try:
            while ingest.poll() is None:
                if k == 0:  # one of them searches by photo, the whole way
                    hits = searcher.search(FIXTURES / "obama.jpg", REAL, top=3)
                    # him, or (before his photos are in) nobody within the threshold
                    assert hits.best.name.startswith("obama") or not hits.matched
                else:
                    hits = searcher.gallery.search(probes[k % 2], REAL, top=5)[0]
                    assert hits.best.id == ids[k % 2] and hits.best.distance < 1e-3
                counts[k].append(hits.searched)
                time.sleep(0.01)
        except Exception as e:  # noqa: BLE001
            errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=search, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    out, err = ingest.communicate(timeout=200)
    for t in threads:
        t.join(60)
    assert ingest.returncode == 0, err
    assert not errors, errors[:3]
    assert all(c == sorted(c) for c in counts)  # each search sees no fewer faces than the one before
    assert max(max(c) for c in counts if c) > 2 and sum(len(c) for c in counts) > 16
    hits = searcher.gallery.search(probes[0], REAL, top=3)[0]
    assert hits.searched == 30  # biden_0 and hopper_0 were already in
    searcher.close()


# ----------------------------------------------------------------------------------------------
# Drawn faces (the identity model), the HNSW index, the Milvus engine


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> tuple[Path, Path]:
    """Six drawn people (two images each, without glasses) and a sighting of the first in glasses."""
    from disguise.data.synthetic import item_labels, make_plan, render

    plan = make_plan(3000, seed=3)
    test = np.flatnonzero(plan.partition == 2)
    people = list(dict.fromkeys(plan.person_of[test].tolist()))[:6]
    folder = tmp_path_factory.mktemp("drawn")
    (folder / "known").mkdir()

    def draw(index: int, glasses: bool) -> Image.Image:
        person = plan.persons[plan.person_of[index]]
        lab, rng = item_labels(plan.seed, person, index)
        lab["Eyeglasses"] = glasses
        return render(person, lab, rng)[0]

    for k, pid in enumerate(people):
        mine = test[plan.person_of[test] == pid][:2]
        (folder / "known" / f"person{k}").mkdir()
        for j, index in enumerate(mine):
            draw(int(index), False).save(folder / "known" / f"person{k}" / f"{j}.png")
    draw(int(test[plan.person_of[test] == people[0]][0]), True).save(folder / "sighting.png")
    return folder / "known", folder / "sighting.png"


def test_drawn_faces_by_the_identity_model(drawn, tmp_path):
    known, sighting = drawn
    gallery = tmp_path / "g"
    r = _cli("add", str(gallery), str(known), "--drawn", "--weights", str(WEIGHTS), "--workers", "1",
             "--json", str(tmp_path / "a.json"), "--no-progress")
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "a.json").read_text())
    assert len(rep["added"]) == 12 and {a["name"] for a in rep["added"]} == {f"person{k}" for k in range(6)}
    out = tmp_path / "s.json"
    r = _cli("search", str(gallery), "--sighting", str(sighting), "--drawn", "--weights", str(WEIGHTS),
             "--json", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["results"][0]["name"] == "person0" and data["kind"] == "drawn"
    assert data["matched"] == (data["results"][0]["distance"] < data["distance_threshold"])
    r = _cli("search", str(gallery), "--sighting", str(sighting))  # no real faces in it
    assert r.returncode == 2 and "no real faces (it has 12 drawn ones)" in r.stderr


def test_the_hnsw_index_past_exact_size(tmp_path, monkeypatch):
    monkeypatch.setattr(index_module, "EXACT_BELOW", 500)
    monkeypatch.setattr(index_module, "SMALL", 100)
    rng = np.random.default_rng(3)
    vecs = _real_like(rng, 3000)
    _fill(tmp_path / "g", vecs)
    queries = vecs[:50] + rng.normal(0, 0.01, (50, 128)).astype(np.float32)
    with Gallery(tmp_path / "g", writer=True) as g:
        assert g.index(REAL).info()["method"].startswith("HNSW")
        hits = g.search(queries, REAL, top=10)
        assert [h.best.name for h in hits] == [f"p{i}" for i in range(50)]
        exact = np.argsort(((vecs[None] - queries[:, None]) ** 2).sum(-1), axis=1)[:, :10]
        recall = np.mean([len({f"p{j}" for j in e} & {x.name for x in h.hits}) / 10 for e, h in zip(exact, hits)])
        assert recall >= 0.95
        removed, _ = g.remove(names=["p3", "p9"])
        assert len(removed) == 2 and g.index(REAL).count == 2998 and g.index(REAL).deleted == 2
        assert {h.best.name for h in g.search(vecs[[3, 9]], REAL, top=3)}.isdisjoint({"p3", "p9"})
    with Gallery(tmp_path / "g") as g:  # from its snapshot: the removed stay out
        ix = g.index(REAL)
        assert ix.count == 2998 and not g.notices
        assert "p3" not in {x.name for x in g.search(vecs[3], REAL, top=10)[0].hits}
        assert g.search(vecs[4], REAL, top=1)[0].best.name == "p4"


def test_a_reader_follows_a_writer(tmp_path):
    rng = np.random.default_rng(4)
    vecs = _real_like(rng, 20)
    _fill(tmp_path / "g", vecs[:10])
    reader = Gallery(tmp_path / "g")
    assert reader.search(vecs[0], REAL, top=1)[0].searched == 10
    with Gallery(tmp_path / "g", writer=True) as w:
        w.add_faces(REAL, [NewFace(f"q{i}", "", f"q-{i}", vecs[i]) for i in range(10, 20)], FAKE)
        assert reader.search(vecs[15], REAL, top=1)[0].best.name == "q15"  # before any snapshot
        w.remove(names=["p2"])
    assert reader.search(vecs[2], REAL, top=1)[0].best.name != "p2"
    reader.close()


def test_the_milvus_engine(tmp_path):
    rng = np.random.default_rng(5)
    vecs = _real_like(rng, 50)
    uri = str(tmp_path / "milvus.db")  # Milvus Lite: the same client and calls as a server's
    with Gallery(tmp_path / "g", writer=True, create=True, engine="milvus", milvus_uri=uri) as g:
        ids = g.add_faces(REAL, [NewFace(f"p{i}", "", f"h{i}", v) for i, v in enumerate(vecs)], FAKE)
        assert len(ids) == 50
        hits = g.search(vecs[7], REAL, top=3)[0]
        assert hits.best.name == "p7" and hits.best.distance < 1e-3
        exact = np.sqrt(((vecs - vecs[7]) ** 2).sum(1))
        assert [h.name for h in hits.hits] == [f"p{j}" for j in np.argsort(exact)[:3]]
        assert np.allclose([h.distance for h in hits.hits], np.sort(exact)[:3], atol=1e-4)
        g.remove(names=["p7"])
        assert g.search(vecs[7], REAL, top=1)[0].best.name != "p7"
        # the store ahead of Milvus (a push cut short): the next open pushes the rest
        g.store.add(REAL, [NewFace("late", "", "late", vecs[7] + 0.001)])
    with Gallery(tmp_path / "g", engine="milvus") as g:
        info = g.info()
        assert info["engine"]["name"] == "milvus" and info["count"] == 50
        assert g.search(vecs[7], REAL, top=1)[0].best.name == "late"
        assert info["indexes"]["real"]["milvus_rows"] in (50, -1)
    with pytest.raises(GalleryError, match="a gallery on milvus, not faiss"):
        Gallery(tmp_path / "g", engine="faiss")
    with pytest.raises(GalleryError, match="needs its URI"):
        Gallery(tmp_path / "h", writer=True, create=True, engine="milvus")


def test_fingerprints_tell_the_models_apart():
    from disguise.identity.recognisers import DlibRecogniser, LearnedRecogniser

    dlib_fp = fingerprint(DlibRecogniser())
    learned = fingerprint(LearnedRecogniser.from_folder(WEIGHTS))
    assert dlib_fp["model"].startswith("dlib:") and learned["model"].startswith("identity:")
    assert dlib_fp["dim"] == learned["dim"] == 128 and dlib_fp["threshold"] == pytest.approx(0.4)
