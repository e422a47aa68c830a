"""The CelebA reader: layouts, validation messages, the preprocessing policy and the cache."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disguise.attributes import ATTRIBUTES
from disguise.data.batches import iterate_batches, resident_copy
from disguise.data.cache import load_split
from disguise.data.celeba import CelebAError, open_celeba
from disguise.preprocess import Preprocess, to_tensor


def test_reads_generated_set(synthetic_root):
    data = open_celeba(synthetic_root)
    assert len(data) == 600
    assert data.attributes.shape == (600, 40) and set(np.unique(data.attributes)) == {-1, 1}
    sizes = [len(data.indices(s)) for s in ("train", "valid", "test")]
    assert sum(sizes) == 600 and 440 < sizes[0] < 520 and sizes[1] > 30 and sizes[2] > 30
    assert data.landmarks.shape == (600, 10) and data.identity.shape == (600,)
    # No person appears in two splits (CelebA splits by identity too).
    ids = [set(data.identity[data.indices(s)].tolist()) for s in ("train", "valid", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_torchvision_root_and_csv_mirror(synthetic_root, tmp_path):
    ref = open_celeba(synthetic_root)
    # torchvision keeps everything under ROOT/celeba/.
    tv = tmp_path / "tv"
    tv.mkdir()
    os.symlink(synthetic_root, tv / "celeba")
    assert open_celeba(tv).names == ref.names
    # The CSV mirror: image_id columns, images nested one level deeper.
    mirror = tmp_path / "mirror"
    (mirror / "img_align_celeba").mkdir(parents=True)
    os.symlink(synthetic_root / "img_align_celeba", mirror / "img_align_celeba" / "img_align_celeba")
    with open(mirror / "list_attr_celeba.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", *ATTRIBUTES])
        for name, row in zip(ref.names, ref.attributes):
            w.writerow([name, *row.tolist()])
    with open(mirror / "list_eval_partition.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "partition"])
        for name, p in zip(ref.names, ref.partition):
            w.writerow([name, int(p)])
    got = open_celeba(mirror)
    assert got.names == ref.names
    np.testing.assert_array_equal(got.attributes, ref.attributes)
    np.testing.assert_array_equal(got.partition, ref.partition)
    assert got.image_dir.name == "img_align_celeba" and got.image_dir.parent.name == "img_align_celeba"


def _edit_line(path: Path, lineno: int, fn) -> None:
    lines = path.read_text().splitlines()
    lines[lineno - 1] = fn(lines[lineno - 1])
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("breakage, expected", [
    ("no_attr", r"list_attr_celeba\.txt: file not found"),
    ("no_partition", r"list_eval_partition\.txt: file not found"),
    ("no_images", r"img_align_celeba: folder not found"),
    ("bad_count", r"list_attr_celeba\.txt, line 1: expected the number of images"),
    ("bad_header", r"list_attr_celeba\.txt, line 2: attribute 16 should be 'Eyeglasses', found 'Glasses'"),
    ("short_row", r"list_attr_celeba\.txt, line 5: expected an image name and 40 values, found 39"),
    ("bad_value", r"list_attr_celeba\.txt, line 7: value '0' for 5_o_Clock_Shadow is not 1 or -1"),
    ("truncated_list", r"list_attr_celeba\.txt, line 1: says 600 images but 599 lines follow"),
    ("missing_image", r"list_attr_celeba\.txt, line 12: lists '000010\.jpg' but .* does not exist"),
    ("bad_partition", r"list_eval_partition\.txt, line 3: partition '7' is not 0, 1 or 2"),
    ("unknown_in_partition", r"list_eval_partition\.txt, line 4: image 'nope\.jpg' is not in"),
    ("bad_landmarks", r"list_landmarks_align_celeba\.txt, line 9: expected an image name and 10"),
])
def test_each_broken_copy_names_file_and_line(broken_copy, breakage, expected):
    root = broken_copy
    attr = root / "list_attr_celeba.txt"
    part = root / "list_eval_partition.txt"
    if breakage == "no_attr":
        attr.unlink()
    elif breakage == "no_partition":
        part.unlink()
    elif breakage == "no_images":
        shutil.rmtree(root / "img_align_celeba")
    elif breakage == "bad_count":
        _edit_line(attr, 1, lambda s: "six hundred")
    elif breakage == "bad_header":
        _edit_line(attr, 2, lambda s: s.replace("Eyeglasses", "Glasses"))
    elif breakage == "short_row":
        _edit_line(attr, 5, lambda s: s.rsplit(" ", 1)[0])
    elif breakage == "bad_value":
        _edit_line(attr, 7, lambda s: s.split()[0] + "  0 " + " ".join(s.split()[2:]))
    elif breakage == "truncated_list":
        attr.write_text("\n".join(attr.read_text().splitlines()[:-1]) + "\n")
    elif breakage == "missing_image":
        (root / "img_align_celeba" / "000010.jpg").unlink()
    elif breakage == "bad_partition":
        _edit_line(part, 3, lambda s: s.split()[0] + " 7")
    elif breakage == "unknown_in_partition":
        _edit_line(part, 4, lambda s: "nope.jpg 0")
    elif breakage == "bad_landmarks":
        _edit_line(root / "list_landmarks_align_celeba.txt", 9, lambda s: s + " 12")
    with pytest.raises(CelebAError, match=expected):
        open_celeba(root)


def test_wrong_path_and_not_a_dataset(tmp_path):
    with pytest.raises(CelebAError, match="no such folder"):
        open_celeba(tmp_path / "missing")
    with pytest.raises(CelebAError, match="is this a CelebA folder"):
        open_celeba(tmp_path)


def test_policy_round_trip_and_checks():
    p = Preprocess(crop=(25, 45, 153, 173), size=32, interpolation="box")
    assert Preprocess.from_dict(p.to_dict()) == p and p.key() != Preprocess().key()
    with pytest.raises(ValueError, match="left < right"):
        Preprocess(crop=(100, 0, 50, 10))
    with pytest.raises(ValueError, match="interpolation"):
        Preprocess(interpolation="magic")
    with pytest.raises(ValueError, match="unknown preprocessing keys"):
        Preprocess.from_dict({"crop": [0, 0, 10, 10], "colour": "yes"})
    img = Image.new("RGB", (178, 218), (10, 20, 30))
    out = p.apply(img)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8 and (out == [10, 20, 30]).all()


def test_cache_round_trip_and_invalidation(synthetic_root, tmp_path):
    data = open_celeba(synthetic_root)
    policy = Preprocess(size=16)
    a, la, rep = load_split(data, "valid", policy, cache_dir=tmp_path, progress=False)
    assert rep.built and a.shape == (len(data.indices("valid")), 16, 16, 3)
    # The cached pixels are the policy applied to the JPEG.
    first = data.indices("valid")[0]
    with Image.open(data.path(first)) as im:
        np.testing.assert_array_equal(a[0], policy.apply(im))
    np.testing.assert_array_equal(la, data.attributes[data.indices("valid")])
    b, _, rep2 = load_split(data, "valid", policy, cache_dir=tmp_path, progress=False)
    assert not rep2.built and isinstance(b, np.memmap)
    np.testing.assert_array_equal(a, b)
    # A new policy gets its own cache; a changed source file rebuilds.
    _, _, rep3 = load_split(data, "valid", Preprocess(size=24), cache_dir=tmp_path, progress=False)
    assert rep3.built
    os.utime(data.path(first), ns=(1, 1))
    # A CelebA is a snapshot of the folder: the change shows once the folder is opened again.
    _, _, rep4 = load_split(open_celeba(synthetic_root), "valid", policy, cache_dir=tmp_path,
                            progress=False)
    assert rep4.built and len(rep4.replaced) == 2  # the stale data + mask of this folder went
    assert len(list(tmp_path.glob("valid-*.npy"))) == 4  # two policies, data + mask each


def test_caches_of_other_folders_are_kept(synthetic_root, broken_copy, tmp_path):
    """Switching between data folders never deletes the other folder's cache."""
    policy = Preprocess(size=16)
    _, _, a = load_split(open_celeba(synthetic_root), "test", policy, cache_dir=tmp_path, progress=False)
    _, _, b = load_split(open_celeba(broken_copy), "test", policy, cache_dir=tmp_path, progress=False)
    assert a.built and b.built and a.path != b.path and not b.replaced and a.path.is_file()
    _, _, again = load_split(open_celeba(synthetic_root), "test", policy, cache_dir=tmp_path,
                             progress=False)
    assert not again.built and again.path == a.path


def test_landmark_header_is_checked(broken_copy):
    path = broken_copy / "list_landmarks_align_celeba.txt"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace("nose_x nose_y", "nose_y nose_x")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CelebAError, match=r"list_landmarks_align_celeba.txt, line 2: expected the "
                                          r"columns lefteye_x lefteye_y"):
        open_celeba(broken_copy)


def test_half_written_cache_is_never_used(synthetic_root, tmp_path, monkeypatch):
    import disguise.data.cache as D

    data = open_celeba(synthetic_root)
    calls = {"n": 0}
    real = D._decode

    def dying(path, policy):
        calls["n"] += 1
        if calls["n"] == 20:
            raise RuntimeError("power cut")
        return real(path, policy)

    monkeypatch.setattr(D, "_decode", dying)
    with pytest.raises(RuntimeError, match="power cut"):
        load_split(data, "test", Preprocess(size=16), cache_dir=tmp_path, progress=False)
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".npy" and ".part" not in p.name]
    monkeypatch.setattr(D, "_decode", real)
    imgs, _, rep = load_split(data, "test", Preprocess(size=16), cache_dir=tmp_path, progress=False)
    assert rep.built and imgs.shape[0] == len(data.indices("test")) and imgs[-1].any()


def test_corrupt_jpeg_is_skipped_and_reported(broken_copy, tmp_path):
    data = open_celeba(broken_copy)
    victim = data.indices("test")[3]
    path = data.path(victim)
    path.write_bytes(path.read_bytes()[:300])  # truncated mid-stream
    imgs, labels, rep = load_split(data, "test", Preprocess(size=16), cache_dir=tmp_path,
                                   progress=False)
    assert rep.corrupt == [data.names[victim]]
    assert imgs.shape[0] == len(data.indices("test")) - 1 == labels.shape[0]
    assert "skipped 1 unreadable image(s): " + data.names[victim] in rep.summary()


def test_batches_cover_once_and_shard(synthetic_root):
    import torch

    seen = np.concatenate(list(iterate_batches(103, 10, True, torch.Generator().manual_seed(0))))
    assert sorted(seen.tolist()) == list(range(103))
    shards = [np.concatenate(list(iterate_batches(103, 8, True, torch.Generator().manual_seed(1),
                                                  rank=r, world=2))) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 51 and not set(shards[0]) & set(shards[1])
    x = to_tensor(np.full((2, 4, 4, 3), 255, np.uint8))
    assert x.shape == (2, 3, 4, 4) and float(x.max()) == 1.0


def test_resident_copy_reads_a_read_only_map_in_chunks(tmp_path):
    """The trainer's GPU copy of the faces (here onto the CPU): exact, from a read-only memory
    map, in chunks that need not divide the set, without PyTorch's non-writable-array warning."""
    import warnings

    import torch

    faces = np.random.default_rng(0).integers(0, 256, (11, 4, 4, 3), dtype=np.uint8)
    np.save(tmp_path / "faces.npy", faces)
    mapped = np.load(tmp_path / "faces.npy", mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        copy = resident_copy(mapped, torch.device("cpu"), chunk=4)
    assert copy.dtype == torch.uint8 and np.array_equal(copy.numpy(), faces)
