"""The figures a training run writes: curves of its metrics and grids of images.

matplotlib (its object API: no pyplot state, thread-safe) and torchvision are imported when a
figure is drawn, so importing this module stays cheap.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from PIL import Image


def line_chart(series: Mapping[str, Sequence[float]], title: str = "", xlabel: str = "epoch",
               ylabel: str = "", size: tuple[int, int] = (640, 400), log_y: bool = False) -> Image.Image:
    """A line chart of ``{name: values}`` against x = 1, 2, ... as an RGB image of ``size`` pixels.

    NaN values (and, on a log scale, values <= 0) are left out; a chart without any value says so.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    dpi = 100
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    drawn = 0
    for k, (name, values) in enumerate(series.items()):
        points = [(i + 1, v) for i, v in enumerate(values)
                  if math.isfinite(v) and (v > 0 or not log_y)]
        if points:
            xs, ys = zip(*points)
            # colour by position, so a series keeps its colour when another has nothing to show
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label=name, color=f"C{k % 10}")
            drawn += 1
    if drawn:
        if log_y:
            ax.set_yscale("log")
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", color="gray",
                transform=ax.transAxes)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, alpha=0.3)
    canvas.draw()
    return Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")


def image_grid(images: torch.Tensor, nrow: int, pad: int = 2, scale: int = 1) -> Image.Image:
    """``(N, C, H, W)`` images in [0, 1] as one picture (grey for one channel, else RGB), ``nrow``
    per row, white between and around them: torchvision's ``make_grid``, enlarged ``scale`` times
    (nearest neighbour)."""
    from torchvision.utils import make_grid

    images = images.detach().float().cpu().clamp(0, 1)
    grid = make_grid(images, nrow=min(nrow, len(images)), padding=pad, pad_value=1.0)   # (3, H', W')
    pixels = grid.mul(255).add_(0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    img = Image.fromarray(pixels[..., 0] if images.shape[1] == 1 else pixels)
    return img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST) if scale > 1 else img
