"""The photo view: an edit drawn on the person's own photo, not on the model's blurry decode.

The model sees a small crop of the aligned face, and what it can tell is how an edit *changes* that
crop: ``decode(z + sum_i alpha_i v_i)`` against ``decode(z)``. ``photo_edit`` carries that change
back to the photo through the inverse of the alignment and applies it to the photo's own pixels:
resampled smoothly, ignoring changes of at most ``NEGLIGIBLE`` levels (up to full at ``FULL``),
moving colours by their share of the headroom so that nothing clips, under a mask that falls to 0
over the crop's outer ``FEATHER`` (docs/photo-view.md gives each step and why). Guaranteed and
tested bit-exactly: an edit that changes nothing gives the photo back unchanged, and a pixel whose
centre maps outside the model's crop never changes. Pixel centres sit at integer positions
(OpenCV's convention); ``PhotoFrame.to_frame`` takes a photo pixel to CelebA's 178 x 218 frame
(``disguise.frame``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .. import frame
from ..preprocess import Preprocess

NEGLIGIBLE = 1.0  # levels (of 255): a change this small leaves the pixel as it was
FULL = 4.0  # levels: from this change on, the pixel takes the whole edit
FEATHER = 0.12  # share of the crop's side over which the mask falls to 0 at its border
METHODS = ("ratio", "naive")
DISPLAY = 256  # pixels a face is shown at (the model view) and printed at (photo-view tiles, animations)


def _affine3(m: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(m, np.float64), [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class PhotoFrame:
    """A photo and the similarity transform that takes it to CelebA's aligned frame.

    Attributes:
        photo: ``(H, W, 3)`` uint8 RGB.
        to_frame: ``(2, 3)``: photo pixel ``(x, y, 1)`` -> frame pixel ``(u, v)``.
    """

    photo: np.ndarray
    to_frame: np.ndarray

    def __post_init__(self) -> None:
        if self.photo.ndim != 3 or self.photo.shape[2] != 3 or self.photo.dtype != np.uint8:
            raise ValueError(f"a photo must be (H, W, 3) uint8, got {self.photo.dtype} {self.photo.shape}")
        m = np.asarray(self.to_frame, np.float64)
        if m.shape != (2, 3) or not np.isfinite(m).all() or abs(np.linalg.det(m[:, :2])) < 1e-12:
            raise ValueError("to_frame must be an invertible, finite 2 x 3 transform")
        object.__setattr__(self, "to_frame", m)

    @classmethod
    def aligned(cls, image: np.ndarray) -> "PhotoFrame":
        """An image already in CelebA's frame is its own photo (scaled when of another size)."""
        h, w = image.shape[:2]
        return cls(np.ascontiguousarray(image), scale_transform(frame.WIDTH / w, frame.HEIGHT / h))

    @classmethod
    def of_crop(cls, image: np.ndarray, policy: Preprocess) -> "PhotoFrame":
        """An image that shows exactly the policy's crop of the frame (a decode, upscaled)."""
        h, w = image.shape[:2]
        return cls(np.ascontiguousarray(image), np.linalg.inv(_affine3(box_transform(policy.crop, (w, h))))[:2])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.photo.shape[1], self.photo.shape[0]

    def resized(self, long_side: int) -> "PhotoFrame":
        """The same photo with its long side at most ``long_side`` pixels (a display copy)."""
        w, h = self.size
        f = long_side / max(w, h)
        if f >= 1:
            return self
        size = (max(1, round(w * f)), max(1, round(h * f)))
        small = Image.fromarray(self.photo).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        # small pixel x' covers original pixels around (x' + 0.5) * w / w' - 0.5
        back = scale_transform(w / size[0], h / size[1])
        return PhotoFrame(np.asarray(small), self.to_frame @ _affine3(back))

    def at_resolution(self, photo: np.ndarray) -> "PhotoFrame":
        """The same picture at another resolution (e.g. the upload at full size, where this frame
        holds it at working size): the transform follows the scale."""
        w, h = self.size
        back = scale_transform(w / photo.shape[1], h / photo.shape[0])
        return PhotoFrame(np.ascontiguousarray(photo), self.to_frame @ _affine3(back))

    def to_model(self, policy: Preprocess) -> np.ndarray:
        """``(2, 3)``: photo pixel -> pixel of the model's input (the policy's crop at its size)."""
        left, top, right, bottom = policy.crop
        cx, cy = (right - left) / policy.size, (bottom - top) / policy.size
        # Preprocess.apply samples model pixel j at frame position left + (j + 0.5) * c - 0.5
        crop = np.array([[1 / cx, 0, (0.5 - left) / cx - 0.5], [0, 1 / cy, (0.5 - top) / cy - 0.5]])
        return crop @ _affine3(self.to_frame)

    def footprint(self, policy: Preprocess) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``, ends exclusive: the photo pixels whose centres can map into the
        model's crop (clipped to the photo; empty when the crop lies outside it)."""
        s = policy.size
        inv = np.linalg.inv(_affine3(self.to_model(policy)))
        corners = np.array([[-0.5, -0.5, 1], [s - 0.5, -0.5, 1], [-0.5, s - 0.5, 1], [s - 0.5, s - 0.5, 1]])
        pts = (inv @ corners.T)[:2]
        w, h = self.size
        x0, y0 = np.floor(pts.min(axis=1)).astype(int)
        x1, y1 = np.ceil(pts.max(axis=1)).astype(int) + 1
        return max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))


def scale_transform(sx: float, sy: float) -> np.ndarray:
    """``(2, 3)`` resampling by ``(sx, sy)`` output pixels per input pixel, centres kept aligned."""
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def box_transform(box: tuple[float, float, float, float], size: tuple[int, int]) -> np.ndarray:
    """``(2, 3)`` of PIL's ``resize(size, box=box)``: image pixel -> output pixel."""
    left, top, right, bottom = box
    sx, sy = size[0] / (right - left), size[1] / (bottom - top)
    return np.array([[sx, 0.0, (0.5 - left) * sx - 0.5], [0.0, sy, (0.5 - top) * sy - 0.5]])


def change_shares(recon: np.ndarray, edited: np.ndarray) -> np.ndarray:
    """Per pixel and channel, the share of its headroom the edit moved it by: ``(e - r) / (255 - r)``
    when it lightens, ``(e - r) / r`` when it darkens; float32 in [-1, 1]."""
    r, e = recon.astype(np.float32), edited.astype(np.float32)
    d = e - r
    return np.where(d >= 0, d / np.maximum(255 - r, 1), d / np.maximum(r, 1))


def crop_mask(jx: np.ndarray, jy: np.ndarray, size: int, feather: float = FEATHER) -> np.ndarray:
    """The soft mask at model-pixel positions ``(jx, jy)``: 1 inside, falling to 0 at the crop's
    border over ``feather`` of its side (smoothstep), exactly 0 outside."""
    edge = np.minimum(np.minimum(jx + 0.5, size - 0.5 - jx), np.minimum(jy + 0.5, size - 0.5 - jy))
    t = np.clip(edge / (feather * size), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class PhotoCanvas:
    """What stays fixed while the sliders move, worked out once per photo: the footprint of the
    crop in the photo, the warp from it to the model's pixels and the soft mask.

    ``apply(recon, edited)`` then costs two small warps and a few array operations over the
    footprint (see ``bench/app_latency.py``).
    """

    def __init__(self, view: PhotoFrame, policy: Preprocess) -> None:
        self.view, self.policy = view, policy
        self.box = view.footprint(policy)
        x0, y0, x1, y1 = self.box
        self.empty = x1 <= x0 or y1 <= y0
        a = view.to_model(policy)
        a[:, 2] += a[:, :2] @ [x0, y0]  # footprint pixels -> model pixels
        self.warp_matrix = a
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) - np.array([y0, x0], np.float32)[:, None, None]
        self.jx = a[0, 0] * xs + a[0, 1] * ys + a[0, 2]
        self.jy = a[1, 0] * xs + a[1, 1] * ys + a[1, 2]
        self.mask = crop_mask(self.jx, self.jy, policy.size).astype(np.float32)

    def _warp(self, img: np.ndarray, interp: int) -> np.ndarray:
        import cv2

        x0, y0, x1, y1 = self.box
        return cv2.warpAffine(img, self.warp_matrix, (x1 - x0, y1 - y0), flags=interp | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def apply(self, recon: np.ndarray, edited: np.ndarray, method: str = "ratio") -> np.ndarray:
        """The photo with the change from ``recon`` to ``edited`` (model-sized uint8) drawn on it."""
        import cv2

        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        s = self.policy.size
        for name, img in (("recon", recon), ("edited", edited)):
            if img.shape != (s, s, 3) or img.dtype != np.uint8:
                raise ValueError(f"{name} must be uint8 ({s}, {s}, 3) like the model's input, "
                                 f"got {img.dtype} {img.shape}")
        out = self.view.photo.copy()
        if self.empty or np.array_equal(recon, edited):
            return out
        x0, y0, x1, y1 = self.box
        p = out[y0:y1, x0:x1].astype(np.float32)
        if method == "naive":
            d = self._warp(edited.astype(np.float32) - recon.astype(np.float32), cv2.INTER_LINEAR)
            inside = (self.jx >= -0.5) & (self.jx <= s - 0.5) & (self.jy >= -0.5) & (self.jy <= s - 0.5)
            new = p + d * inside[..., None]
        else:
            # Worked out at the model's size, then warped once: the signed share of its headroom
            # each model pixel moved by (in [-1, 1]) and how many levels it moved.
            field = np.empty((s, s, 4), np.float32)
            field[..., :3] = change_shares(recon, edited)
            field[..., 3] = np.abs(edited.astype(np.float32) - recon).max(axis=2)
            f = self._warp(field, cv2.INTER_CUBIC)
            share = np.clip(f[..., :3], -1, 1)
            weight = np.clip((f[..., 3] - NEGLIGIBLE) * (1 / (FULL - NEGLIGIBLE)), 0, 1)
            weight *= self.mask
            up = np.maximum(share, 0)
            # lighter: p + up (255 - p); darker: p + share p (share < 0); both never leave 0..255
            change = p * (share - 2 * up)
            change += 255 * up
            change *= weight[..., None]
            new = p + change
        out[y0:y1, x0:x1] = np.clip(np.rint(new), 0, 255).astype(np.uint8)
        return out


def photo_edit(view: PhotoFrame, policy: Preprocess, recon: np.ndarray, edited: np.ndarray,
               method: str = "ratio") -> np.ndarray:
    """The photo with the change from ``recon`` to ``edited`` (model-sized uint8 decodes) drawn on it.

    ``method``: ``ratio`` (see the module docstring) or ``naive``: the difference added as it is,
    bilinear, under a hard-edged mask, clipped (kept to show what the careful way buys). For many
    edits of one photo, keep a ``PhotoCanvas``.
    """
    return PhotoCanvas(view, policy).apply(recon, edited, method)


def face_region(view: PhotoFrame, policy: Preprocess, image: np.ndarray, size: int = DISPLAY) -> np.ndarray:
    """The model's crop of ``image`` (``view.photo``, or a photo edited from it), upright, at
    ``size`` pixels: the person's face, as the exports print it."""
    import cv2

    m = view.to_model(policy)
    scale = size / policy.size
    # model pixel j -> tile pixel (j + 0.5) * scale - 0.5
    to_tile = np.array([[scale, 0, 0.5 * scale - 0.5], [0, scale, 0.5 * scale - 0.5]]) @ _affine3(m)
    shrink = np.sqrt(abs(np.linalg.det(to_tile[:, :2])))
    return cv2.warpAffine(image, to_tile, (size, size), flags=cv2.INTER_AREA if shrink < 0.5 else cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)


class PhotoTiles:
    """The photo view for exports: each decode's change drawn on the person's photo, then the
    face region cut out upright at ``size`` pixels (``disguise.photo.exports.Tiles``)."""

    def __init__(self, view: PhotoFrame, policy: Preprocess, recon: np.ndarray, size: int = DISPLAY) -> None:
        self.view, self.policy, self.recon, self.size = view, policy, recon, size
        self.canvas = PhotoCanvas(view, policy)

    def __call__(self, decodes: np.ndarray) -> list[np.ndarray]:
        return [face_region(self.view, self.policy, self.canvas.apply(self.recon, d), self.size)
                for d in decodes]

    def original(self) -> np.ndarray:
        """The unedited face region, for the "input" tile."""
        return face_region(self.view, self.policy, self.view.photo, self.size)
