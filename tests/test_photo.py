"""The photo view: the edit drawn on the person's own photo (guarantees, geometry, bad input)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disguise import frame
from disguise.photo.alignment import prepare_face
from disguise.photo.view import PhotoCanvas, PhotoFrame, crop_mask, face_region, photo_edit
from disguise.preprocess import Preprocess

POLICY = Preprocess(size=64)
WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def placement(scale: float, degrees: float, shift: tuple[float, float]) -> np.ndarray:
    """2 x 3: frame pixel -> scene pixel (rotate and scale about the frame's centre, then shift)."""
    t = math.radians(degrees)
    r = scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    c = np.array([frame.WIDTH / 2, frame.HEIGHT / 2])
    return np.hstack([r, (np.array(shift) - r @ c)[:, None]])


def invert(m: np.ndarray) -> np.ndarray:
    return np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]


def scene_with(face: Image.Image, m: np.ndarray, size=(640, 520), seed=0) -> np.ndarray:
    """``face`` (178 x 218) drawn into a noisy scene by ``m`` (frame -> scene)."""
    import cv2

    rng = np.random.default_rng(seed)
    scene = rng.integers(40, 200, (size[1], size[0], 3), dtype=np.uint8)
    warped = cv2.warpAffine(np.asarray(face), m, size, flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(np.ones((frame.HEIGHT, frame.WIDTH), np.uint8), m, size, flags=cv2.INTER_NEAREST)
    return np.where(inside[..., None] > 0, warped, scene)


@pytest.fixture(scope="module")
def view() -> PhotoFrame:
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return PhotoFrame(photo, invert(placement(1.6, 17.0, (330, 250))))


def _decodes(seed: int = 2):
    rng = np.random.default_rng(seed)
    recon = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    edited = np.clip(recon.astype(int) + rng.integers(-90, 90, recon.shape), 0, 255).astype(np.uint8)
    return recon, edited


def test_no_change_gives_the_photo_back_bit_for_bit(view):
    recon, _ = _decodes()
    for method in ("ratio", "naive"):
        out = photo_edit(view, POLICY, recon, recon.copy(), method=method)
        assert out.dtype == np.uint8 and np.array_equal(out, view.photo)
    # Changes below the negligible level leave every pixel as it was, too.
    tiny = np.clip(recon.astype(int) + 1, 0, 255).astype(np.uint8)
    assert np.array_equal(photo_edit(view, POLICY, recon, tiny), view.photo)


def test_pixels_outside_the_crop_never_change(view):
    recon, edited = _decodes()
    out = photo_edit(view, POLICY, recon, edited)
    h, w = view.photo.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    m = view.to_model(POLICY)
    jx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    jy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    outside = (jx < -0.5) | (jx > 63.5) | (jy < -0.5) | (jy > 63.5)
    changed = (out != view.photo).any(axis=2)
    assert outside.mean() > 0.5 and changed.sum() > 5000
    assert not (changed & outside).any()
    x0, y0, x1, y1 = view.footprint(POLICY)
    assert not changed[:y0].any() and not changed[y1:].any() and not changed[:, :x0].any() and not changed[:, x1:].any()


def test_the_mask_is_soft_at_the_crop_border():
    j = np.linspace(-0.5, 63.5, 257)
    m = crop_mask(j, np.full_like(j, 31.5), 64)
    assert m[0] == 0 and m[-1] == 0 and m[128] == 1
    assert np.all(np.diff(m[:129]) >= 0) and np.abs(np.diff(m)).max() < 0.1  # no step: no seam


def test_colours_move_by_their_headroom_and_never_clip():
    """A pixel equal to the reconstruction becomes the edit; brighter or darker pixels move the
    same share of their own range, so white stays white under a lightening edit."""
    photo = np.zeros((218, 178, 3), np.uint8)
    photo[:, :60], photo[:, 60:120], photo[:, 120:] = 100, 255, 20
    view = PhotoFrame.aligned(photo)
    recon = np.full((64, 64, 3), 100, np.uint8)
    lighter = photo_edit(view, POLICY, recon, np.full((64, 64, 3), 180, np.uint8))
    darker = photo_edit(view, POLICY, recon, np.full((64, 64, 3), 50, np.uint8))
    centre = (109, slice(None))  # a row through the middle of the crop
    row_l, row_d = lighter[centre].astype(int), darker[centre].astype(int)
    assert row_l[40, 0] == 180 and row_d[40, 0] == 50  # the reconstruction's own value -> the edit
    assert row_l[90, 0] == 255 and row_d[90, 0] == 128  # white: no room up; half its range down
    assert row_l[140, 0] == 20 + round(235 * 80 / 155) and row_d[140, 0] == 10
    naive = photo_edit(view, POLICY, recon, np.full((64, 64, 3), 180, np.uint8), method="naive")
    assert naive[centre][140, 0] == 100 and naive[centre][90, 0] == 255  # +80 everywhere, clipped


def test_face_region_is_the_models_crop_of_the_photo():
    """Geometry: cutting the face region out of the photo lands on the same pixels as the
    alignment and crop the model saw (a smooth picture, so resampling differences stay small)."""
    yy, xx = np.mgrid[0:500, 0:700].astype(float)
    img = np.stack([xx / 700 * 255, yy / 500 * 255, (np.sin(xx / 40) + np.cos(yy / 30) + 2) * 60], -1)
    for kwargs in ({"already_aligned": True}, {}):
        prep = prepare_face(img.astype(np.uint8), POLICY, **kwargs)
        region = face_region(prep.photo, POLICY, prep.photo.photo, size=64)
        assert np.abs(region.astype(int) - prep.crop.astype(int)).mean() < 1.0, prep.method


def test_an_eyeglasses_edit_lands_on_the_eyes_of_a_face_in_a_scene():
    """A synthetic face placed into a bigger scene at a known rotation and scale: the change the
    Eyeglasses edit makes in the photo sits around the known eye positions."""
    from disguise.data import synthetic as S
    from disguise.sliders.editor import Editor

    editor = Editor.from_pretrained(WEIGHTS)
    plan = S.make_plan(40, seed=5)
    index = next(i for i in range(40) if not S.item_labels(5, plan.persons[plan.person_of[i]], i)[0]["Eyeglasses"])
    person = plan.persons[plan.person_of[index]]
    labels, rng = S.item_labels(5, person, index)
    face, marks = S.render(person, labels, rng)
    place = placement(2.2, -14.0, (300, 270))
    view = PhotoFrame(scene_with(face, place), invert(place))
    crop = POLICY.apply(face)
    z = editor.encode(crop)[0]
    out = photo_edit(view, editor.policy, editor.render(z, {}), editor.render(z, {"Eyeglasses": 3.0}))
    change = np.abs(out.astype(int) - view.photo).sum(axis=2).astype(float)
    eyes = np.hstack([marks[:2], np.ones((2, 1))]) @ place.T  # the eye landmarks in the scene
    ys, xs = np.mgrid[0:change.shape[0], 0:change.shape[1]]
    near = np.zeros(change.shape, bool)
    eye_gap = np.linalg.norm(eyes[1] - eyes[0])
    for ex, ey in eyes:
        near |= np.hypot(xs - ex, ys - ey) < 0.55 * eye_gap
    assert change.sum() > 0
    assert change[near].sum() / change.sum() > 0.5, change[near].sum() / change.sum()
    assert near.mean() < 0.05  # the eyes' neighbourhood is a small part of the scene


def test_bad_input_is_refused_with_a_message(view):
    recon, edited = _decodes()
    with pytest.raises(ValueError, match="method must be one of ratio, naive"):
        photo_edit(view, POLICY, recon, edited, method="blend")
    with pytest.raises(ValueError, match=r"edited must be uint8 \(64, 64, 3\)"):
        photo_edit(view, POLICY, recon, edited[:32])
    with pytest.raises(ValueError, match="invertible"):
        PhotoFrame(view.photo, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="invertible"):
        PhotoFrame(view.photo, np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        PhotoFrame(view.photo[..., 0], invert(placement(1, 0, (0, 0))))


def test_a_display_copy_draws_the_same_edit_smaller(view):
    """The live picture works on a smaller copy of the photo: its transform follows the scale,
    so the edit lands in the same place."""
    recon, edited = _decodes()
    small = view.resized(320)
    assert small.size == (320, 240)
    full = PhotoCanvas(view, POLICY).apply(recon, edited)
    mini = PhotoCanvas(small, POLICY).apply(recon, edited)
    shrunk = np.asarray(Image.fromarray(full).resize(small.size, Image.Resampling.BILINEAR, reducing_gap=2.0))
    assert np.abs(shrunk.astype(int) - mini.astype(int)).mean() < 4
