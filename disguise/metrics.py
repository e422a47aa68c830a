"""How well the model reconstructs and how well its attribute edits work.

* Reconstruction on the test split: MSE, PSNR and SSIM (Wang et al. 2004: 11 x 11 Gaussian
  window, sigma 1.5, K1 = 0.01, K2 = 0.03, on [0, 1] images, averaged over channels).
* Edit success, the protocol of face-attribute-editing papers (e.g. AttGAN, STGAN): an attribute
  classifier trained independently of the VAE, on the training split's real images (the judge,
  ``disguise.judge``), judges edited faces. For test faces without attribute A we add
  ``alpha * v_A`` and report the share the classifier now calls A, and the share of the other
  drawn attributes whose prediction did not change from the plain reconstruction's; removal is
  the same for faces with A and ``-alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from .attributes import ATTRIBUTES, DRAWN
from .editing import Editor
from .judge import AttributeClassifier, predict

# ----------------------------------------------------------------------------------------------
# Reconstruction


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] @ g[None, :]).float()


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image SSIM of ``(B, C, H, W)`` batches (valid-region filtering, as in Wang et al.)."""
    c = x.shape[1]
    win = _gaussian_window().to(x)[None, None].repeat(c, 1, 1, 1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=c)

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx ** 2
    syy = filt(y * y) - my ** 2
    sxy = filt(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


@torch.no_grad()
def reconstruction_metrics(editor: Editor, images: np.ndarray, batch_size: int = 256,
                           progress: bool = True) -> dict[str, float]:
    """Mean MSE, PSNR (dB) and SSIM of plain reconstructions (decode of ``mu``) of uint8 faces."""
    mse, psnr, ss, n = 0.0, 0.0, 0.0, 0
    for start in tqdm(range(0, len(images), batch_size), desc="reconstruction", leave=False,
                      disable=not progress):
        faces = images[start:start + batch_size]
        x = editor.to_input(faces)
        r = editor.decode_float(editor.encode(faces), batch_size)
        per = (r - x).pow(2).flatten(1).mean(1)
        mse += float(per.sum())
        psnr += float((10 * torch.log10(1.0 / per.clamp(min=1e-10))).sum())
        ss += float(ssim(r, x).sum())
        n += len(x)
    return {"mse": mse / n, "psnr": psnr / n, "ssim": ss / n, "images": n}


# ----------------------------------------------------------------------------------------------
# Edit success


@dataclass
class EditResult:
    attribute: str
    direction: str  # "add" or "remove"
    faces: int
    alphas: list[float]
    success: list[float]  # share of faces the classifier sees with (add) / without (remove) A
    preserved: list[float]  # share of the other drawn attributes left as in the reconstruction
    baseline: float  # the same share at alpha 0 (reconstruction alone)
    best_alpha: float | None = None  # smallest alpha within the bar's alpha meeting it, if any
    passes: bool = False
    informative: bool = True  # False when the classifier already sees the result at alpha 0


@dataclass(frozen=True)
class QualityBar:
    """The bar the demo weights are held to: for at least ``target`` attributes, adding the
    vector at some alpha <= ``alpha`` makes the classifier see it for ``success`` of the faces
    while ``preserve`` of the other drawn attributes stay as they were."""

    success: float = 0.8
    preserve: float = 0.85
    alpha: float = 3.0
    target: int = 15

    def summary(self, edits: Sequence[EditResult]) -> dict:
        """The bar and how ``edits`` (from ``edit_success`` with this bar) fare against it."""
        added = [e for e in edits if e.direction == "add"]
        passing = sum(e.passes for e in added)
        return {"success": self.success, "preserve": self.preserve, "alpha": self.alpha,
                "passing": passing, "attributes": len(added), "target": self.target,
                "met": passing >= self.target}


@torch.no_grad()
def edit_success(editor: Editor, clf: AttributeClassifier, images: np.ndarray, labels: np.ndarray,
                 attributes: Sequence[str] = DRAWN, alphas: Sequence[float] = (1, 2, 3, 4),
                 max_faces: int = 200, bar: QualityBar = QualityBar(), progress: bool = True,
                 seed: int = 0) -> list[EditResult]:
    """Add and remove each attribute on test faces that lack / have it; see the module docstring.

    ``images`` are the model's uint8 test faces, ``labels`` their +1/-1 attributes; at most
    ``max_faces`` faces (drawn with ``seed``) per attribute and direction.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    drawn_idx = [ATTRIBUTES.index(a) for a in DRAWN]
    results = []
    pbar = tqdm(total=2 * len(attributes), desc="edit success", leave=False, disable=not progress)
    for name in attributes:
        k = ATTRIBUTES.index(name)
        others = [j for j in drawn_idx if j != k]
        for direction, sign, want in (("add", 1.0, -1), ("remove", -1.0, 1)):
            rows = np.flatnonzero(labels[:, k] == want)
            if len(rows) > max_faces:
                rows = np.sort(rng.choice(rows, max_faces, replace=False))
            pbar.update(1)
            if len(rows) == 0:
                continue
            z = editor.encode(images[rows])                                     # (F, z)
            steps = [0.0] + [float(a) for a in alphas]
            codes = editor.grid_codes(z, name, [sign * a for a in steps])     # (F, A, z)
            # Alphas-major, so that the reshape below gives each alpha's faces in one row.
            codes = codes.transpose(0, 1).reshape(-1, codes.shape[-1])         # (A*F, z)
            preds = predict(clf, editor.decode_float(codes)).reshape(len(steps), len(rows), -1).cpu()
            has = preds[:, :, k] if sign > 0 else ~preds[:, :, k]
            succ = has.float().mean(1).tolist()
            kept = (preds[:, :, others] == preds[0:1, :, others]).float().mean((1, 2)).tolist()
            res = EditResult(name, direction, len(rows), [sign * a for a in steps[1:]], succ[1:],
                             kept[1:], succ[0], informative=succ[0] < 0.5)
            for a, s, p in zip(steps[1:], succ[1:], kept[1:]):
                if res.informative and a <= bar.alpha and s >= bar.success and p >= bar.preserve:
                    res.best_alpha, res.passes = sign * a, True
                    break
            results.append(res)
    pbar.close()
    return results


# ----------------------------------------------------------------------------------------------
# The photo view, judged


@dataclass
class PhotoViewResult:
    """One attribute and direction on test faces placed into scenes, in both views.

    ``model_*``: the decodes judged (as ``edit_success`` does), ``photo_*``: the edited scene,
    prepared again by the app's path and its crop judged; both on the same faces, ``kept`` against
    each view's own alpha-0 picture. ``outside_change``: the mean absolute change, in levels, of
    the scene's pixels outside the crop's footprint (0 by construction)."""

    attribute: str
    direction: str
    faces: int
    alphas: list[float]
    model_success: list[float]
    model_kept: list[float]
    photo_success: list[float]
    photo_kept: list[float]
    outside_change: float


@dataclass
class _Placed:
    """A test face in a scene, as the app prepared it."""

    prep: object  # disguise.faces.PreparedFace
    z: torch.Tensor
    recon: np.ndarray
    canvas: object  # disguise.photo.PhotoCanvas
    outside: np.ndarray  # (H, W) bool: pixels outside the crop's footprint


def _place_faces(editor: Editor, faces: Sequence[np.ndarray], seed: int, spec) -> list[_Placed | None]:
    """Each aligned face put into its own scene (seeded by its index) and prepared like an
    upload; None where the app could not frame it by the eyes."""
    from .faces import prepare_face
    from .frame import LEFT_EYE, RIGHT_EYE
    from .photo import PhotoCanvas
    from .scenes import place

    eyes = np.array([LEFT_EYE, RIGHT_EYE])
    out: list[_Placed | None] = []
    for i, face in enumerate(faces):
        scene = place(np.asarray(face), eyes, 0.6 * face.shape[1], np.random.default_rng((seed, i)), spec)
        prep = prepare_face(scene.jpeg, editor.policy)
        if not prep.method.startswith("eyes"):
            out.append(None)
            continue
        canvas = PhotoCanvas(prep.photo, editor.policy)
        outside = np.ones(prep.photo.photo.shape[:2], bool)
        x0, y0, x1, y1 = canvas.box
        outside[y0:y1, x0:x1] = False
        z = editor.encode(prep.crop)
        out.append(_Placed(prep, z[0], editor.render(z[0], {}), canvas, outside))
    return out


@torch.no_grad()
def photo_view_success(editor: Editor, clf: AttributeClassifier, faces: Sequence[np.ndarray],
                       labels: np.ndarray, attributes: Sequence[str] = DRAWN,
                       alphas: Sequence[float] = (1, 2, 3, 4), max_faces: int = 20, seed: int = 0,
                       progress: bool = True) -> tuple[list[PhotoViewResult], dict]:
    """Edit success in the photo view against the model view, on the same faces.

    ``faces``: aligned 178 x 218 uint8 test images with their +1/-1 ``labels``. Each is placed
    into a photo-like scene (``disguise.scenes``: 150-400 px wide, rolled up to 20 degrees, JPEG)
    and prepared by the app's own path; faces it does not frame by the eyes are left out (their
    share is in the returned summary). For each attribute and direction, up to ``max_faces``
    framed faces lacking (adding) or having (removing) it are edited at each alpha in both views:
    the photo view's edited scene is prepared again, as a new upload would be, and its crop judged.
    """
    from .faces import prepare_face
    from .policy import to_tensor
    from .scenes import SceneSpec

    placed = _place_faces(editor, faces, seed, SceneSpec())
    framed = np.array([p is not None for p in placed])
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    drawn_idx = [ATTRIBUTES.index(a) for a in DRAWN]
    steps = [0.0] + [float(a) for a in alphas]
    results, reframed, tried = [], 0, 0
    bar = tqdm(total=2 * len(attributes), desc="photo view", leave=False, disable=not progress)
    for name in attributes:
        k = ATTRIBUTES.index(name)
        others = [j for j in drawn_idx if j != k]
        for direction, sign, want in (("add", 1.0, -1), ("remove", -1.0, 1)):
            bar.update(1)
            rows = np.flatnonzero((labels[:, k] == want) & framed)
            if len(rows) > max_faces:
                rows = np.sort(rng.choice(rows, max_faces, replace=False))
            if len(rows) == 0:
                continue
            model_preds, photo_preds, outside = [], [], []
            for r in rows:
                p = placed[r]
                decodes = editor.decode(editor.grid_codes(p.z[None], name, [sign * a for a in steps])[0])
                model_preds.append(predict(clf, to_tensor(decodes, editor.device)).cpu())
                crops = []
                for a, decode in zip(steps, decodes):
                    if a == 0:  # the photo is unchanged: the upload's own preparation
                        crops.append(p.prep.crop)
                        continue
                    photo = p.canvas.apply(p.recon, decode)
                    outside.append(np.abs(photo[p.outside].astype(np.int16) - p.prep.photo.photo[p.outside]).mean())
                    again = prepare_face(photo, editor.policy)
                    tried += 1
                    reframed += again.method.startswith("eyes")
                    crops.append(again.crop)
                photo_preds.append(predict(clf, to_tensor(np.stack(crops), editor.device)).cpu())
            shares = {}
            for view, preds in (("model", model_preds), ("photo", photo_preds)):
                pr = torch.stack(preds, 1)                                    # (A, F, 40)
                has = pr[:, :, k] if sign > 0 else ~pr[:, :, k]
                shares[view] = (has.float().mean(1).tolist()[1:],
                                (pr[:, :, others] == pr[0:1, :, others]).float().mean((1, 2)).tolist()[1:])
            results.append(PhotoViewResult(name, direction, len(rows), [sign * a for a in steps[1:]],
                                           *shares["model"], *shares["photo"],
                                           float(np.mean(outside)) if outside else 0.0))
    bar.close()
    summary = {"faces": len(faces), "framed_by_eyes": float(framed.mean()) if len(faces) else 0.0,
               "edited_reframed_by_eyes": reframed / max(tried, 1)}
    return results, summary


# ----------------------------------------------------------------------------------------------
# Which disguises hide the person


@dataclass
class IdentityResult:
    """One attribute and direction: after the edit (drawn on the aligned test face, as the photo
    view draws it), the share of faces the identity model still calls the same person, and the
    mean cosine similarity to the unedited face."""

    attribute: str
    direction: str
    faces: int
    alphas: list[float]
    recognised: list[float]
    similarity: list[float]


@torch.no_grad()
def identity_retention(editor: Editor, recogniser, faces: Sequence[np.ndarray], labels: np.ndarray,
                       attributes: Sequence[str] = DRAWN, alphas: Sequence[float] = (1, 2, 3, 4),
                       max_faces: int = 200, seed: int = 0, progress: bool = True) -> list[IdentityResult]:
    """Add (to faces without it) and remove (from faces with it) each attribute; see
    ``IdentityResult``. ``faces``: aligned 178 x 218 uint8 test images; ``recogniser``: a
    ``disguise.identity.Recogniser``."""
    from .photo import PhotoCanvas, PhotoFrame

    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    ipolicy = recogniser.policy
    crops = np.stack([editor.policy.apply(Image.fromarray(f)) for f in faces])
    person = recogniser.embed(np.stack([ipolicy.apply(Image.fromarray(f)) for f in faces]))
    codes = editor.encode(crops)
    recons = editor.decode(codes)
    results = []
    bar = tqdm(total=2 * len(attributes), desc="identity kept", leave=False, disable=not progress)
    for name in attributes:
        k = ATTRIBUTES.index(name)
        for direction, sign, want in (("add", 1.0, -1), ("remove", -1.0, 1)):
            bar.update(1)
            rows = np.flatnonzero(labels[:, k] == want)
            if len(rows) > max_faces:
                rows = np.sort(rng.choice(rows, max_faces, replace=False))
            if len(rows) == 0:
                continue
            signed = [sign * float(a) for a in alphas]
            grid = editor.grid(codes[rows], name, signed)                     # (F, A, S, S, 3)
            edited = []
            for r, decodes in zip(rows, grid):
                canvas = PhotoCanvas(PhotoFrame.aligned(np.asarray(faces[r])), editor.policy)
                edited += [ipolicy.apply(Image.fromarray(canvas.apply(recons[r], d))) for d in decodes]
            emb = recogniser.embed(np.stack(edited)).reshape(len(rows), len(signed), -1)
            sims = np.einsum("fad,fd->fa", emb, person[rows])                 # (F, A)
            results.append(IdentityResult(name, direction, len(rows), signed,
                                          (sims >= recogniser.threshold).mean(0).tolist(),
                                          sims.mean(0).tolist()))
    bar.close()
    return results
