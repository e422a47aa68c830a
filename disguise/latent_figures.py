"""Pictures of a 2-D latent space: coloured scatters of codes, their animation, the decoded plane.

* ``scatter_image``: the test set's codes coloured by label (the dense-VAE note's picture), on
  axes the caller fixes, so frames taken during training line up into ``write_gif``.
* ``manifold_image``: decodes over the latent plane at N(0, 1)'s quantiles 0.05 .. 0.95, 15 x 15
  (Chollet's ch. 8 figure).
* ``image_grid``: images as one grey picture (prior samples, originals above reconstructions).

matplotlib (its object API, no pyplot state) is imported when a chart is drawn, so importing this
module stays cheap.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from .files import atomic_write
from .model import evaluating

CLASS_COLOURS = "tab10"  # ten distinct colours, one per class of MNIST and Fashion-MNIST
ORDER_COLOURS = "viridis"  # for labels that are an order (Frey's frame index), not classes


def normal_quantiles(n: int = 15, low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """``n`` quantiles of N(0, 1) at probabilities evenly spaced over [low, high]: scipy's
    ``norm.ppf(np.linspace(low, high, n))`` as ch. 8 draws its grid, computed as
    Phi^-1(p) = sqrt(2) * erfinv(2p - 1)."""
    if not (0 < low < high < 1) or n < 2:
        raise ValueError(f"need 0 < low < high < 1 and n >= 2, got low {low}, high {high}, n {n}")
    p = torch.linspace(low, high, n, dtype=torch.float64)
    return (math.sqrt(2) * torch.special.erfinv(2 * p - 1)).float()


def symmetric_limit(codes: np.ndarray, quantile: float = 0.995, floor: float = 1.0) -> float:
    """A half-width for square axes that hold nearly all ``codes`` (outliers may fall outside)."""
    finite = np.abs(codes[np.isfinite(codes)])
    if finite.size == 0:
        return floor
    return max(floor, float(np.quantile(finite, quantile)) * 1.05)


def scatter_figure(codes: np.ndarray, labels: np.ndarray, limit: float, class_names: Sequence[str] = (),
                   title: str = "", size: int = 360):
    """A matplotlib ``Figure`` (Agg canvas attached) of ``codes`` ``(N, 2)`` coloured by ``labels``.

    With ``class_names`` the colours are classes (a legend names them); without, the labels are an
    order (a colour bar). Axes span [-limit, limit] on both sides.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(size / dpi, size / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if class_names:
        points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap=CLASS_COLOURS, vmin=-0.5,
                            vmax=9.5, s=3, linewidths=0, alpha=0.8)
        handles = [ax.scatter([], [], color=points.cmap(points.norm(k)), s=12, label=name)
                   for k, name in enumerate(class_names)]
        ax.legend(handles=handles, fontsize=6, loc="upper right", markerscale=1, framealpha=0.7,
                  handletextpad=0.1, borderpad=0.3, labelspacing=0.2)
    else:
        points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap=ORDER_COLOURS, s=3, linewidths=0)
        fig.colorbar(points, ax=ax, label="frame", shrink=0.8)
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal", xlabel="z[0]", ylabel="z[1]")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    return fig


def figure_image(fig) -> Image.Image:
    """Draw a figure and return it as an RGB image."""
    fig.canvas.draw()
    return Image.frombuffer("RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba()).convert("RGB")


def scatter_image(codes: np.ndarray, labels: np.ndarray, limit: float, class_names: Sequence[str] = (),
                  title: str = "", size: int = 360) -> Image.Image:
    """``scatter_figure`` drawn as an RGB image of ``size`` x ``size`` pixels."""
    return figure_image(scatter_figure(codes, labels, limit, class_names, title, size))


def write_gif(path: str | os.PathLike, frames: Sequence[Image.Image], fps: float = 10.0,
              hold_last: float = 2.0) -> None:
    """An animated GIF of ``frames`` (all one size), looping, the last frame held ``hold_last`` s.

    Colours are reduced to one palette shared by every frame (made from the last, the most
    spread out), so the class colours stay steady from frame to frame.
    """
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    palette = frames[-1].quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    quantised = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    ms = max(20, int(round(1000 / fps)))
    durations = [ms] * (len(frames) - 1) + [max(ms, int(hold_last * 1000))]
    atomic_write(path, lambda p: quantised[0].save(p, format="GIF", save_all=True,
                                                   append_images=quantised[1:], duration=durations,
                                                   loop=0, optimize=False, disposal=1))


def image_grid(images: torch.Tensor, nrow: int, pad: int = 2, scale: int = 1) -> Image.Image:
    """``(N, 1, H, W)`` images in [0, 1] as one grey picture, ``nrow`` per row, white between them."""
    tiles = (images.detach().float().cpu().clamp(0, 1)[:, 0].numpy() * 255 + 0.5).astype(np.uint8)
    n, h, w = tiles.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    # as torchvision's make_grid lays it out: padding around and between the tiles
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 255, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = tile
    img = Image.fromarray(grid, mode="L")
    return img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST) if scale > 1 else img


@torch.no_grad()
def manifold_tiles(model: torch.nn.Module, n: int = 15, low: float = 0.05, high: float = 0.95
                   ) -> torch.Tensor:
    """The decodes over the latent plane at N(0, 1)'s quantiles: ``(n * n, 1, H, W)``, row by row
    from the top (largest z[1]) with z[0] increasing to the right, as the plane is drawn."""
    q = normal_quantiles(n, low, high)
    zy, zx = torch.meshgrid(q.flip(0), q, indexing="ij")
    z = torch.stack([zx.reshape(-1), zy.reshape(-1)], dim=1)
    device = next(model.parameters()).device
    with evaluating(model):
        return model.decode(z.to(device)).cpu()


def manifold_image(model: torch.nn.Module, n: int = 15, scale: int = 1) -> Image.Image:
    """ch. 8's figure: an ``n`` x ``n`` mosaic of decodes (no gaps: tiles of exactly H x W)."""
    return image_grid(manifold_tiles(model, n), nrow=n, pad=0, scale=scale)
