"""Pictures of a 2-D latent space: coloured scatters of codes, their animation, the decoded plane.

* ``scatter_image``: the test set's codes coloured by label (the dense-VAE note's picture), on
  axes the caller fixes, so frames taken during training line up into one GIF
  (``write_animation``, through ``disguise.files.write_gif``).
* ``manifold_image``: decodes over the latent plane at N(0, 1)'s quantiles 0.05 .. 0.95, 15 x 15
  (Chollet's ch. 8 figure), tiles side by side without gaps.

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

from ..files import write_gif
from ..pretrained import evaluating

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


def write_animation(path: str | os.PathLike, codes: Sequence[np.ndarray], after: Sequence[int],
                    labels: np.ndarray, class_names: Sequence[str], title: str, size: int = 320,
                    fps: float = 12.0, hold_last: float = 2.0) -> None:
    """The test codes after each of ``after`` batches as a looping GIF, every frame on the axes
    of the last (the most spread out), which is also held ``hold_last`` seconds."""
    limit = symmetric_limit(codes[-1])
    images = [scatter_image(c, labels, limit, class_names, f"{title}, batch {b}", size)
              for c, b in zip(codes, after)]
    ms = max(20, int(round(1000 / fps)))
    write_gif(path, images, [ms] * (len(images) - 1) + [max(ms, int(hold_last * 1000))])


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
    """ch. 8's figure: an ``n`` x ``n`` mosaic of decodes, tiles of exactly H x W side by side
    (no gaps, so a reshape rather than a grid), grey, enlarged ``scale`` times."""
    tiles = manifold_tiles(model, n)[:, 0].clamp(0, 1)                       # (n * n, H, W)
    _, h, w = tiles.shape
    mosaic = tiles.reshape(n, n, h, w).permute(0, 2, 1, 3).reshape(n * h, n * w)
    img = Image.fromarray((mosaic.numpy() * 255 + 0.5).astype(np.uint8), mode="L")
    return img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST) if scale > 1 else img
