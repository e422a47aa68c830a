"""Small pictures without a plotting library: line charts of training curves."""

from __future__ import annotations

from PIL import Image, ImageDraw

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75)]


def line_chart(series: dict[str, list[float]], title: str = "", xlabel: str = "epoch",
               size: tuple[int, int] = (640, 400), log_y: bool = False) -> Image.Image:
    """A line chart of ``{name: values}`` (x = 1, 2, ...), with axes, ticks and a legend."""
    import math

    w, h = size
    left, right, top, bottom = 64, 16, 28, 40
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    vals = [v for ys in series.values() for v in ys if v == v and (v > 0 or not log_y)]
    n = max((len(ys) for ys in series.values()), default=0)
    d.text((left, 8), title, fill="black")
    if not vals or n == 0:
        d.text((w // 2 - 30, h // 2), "no data yet", fill="gray")
        return img
    f = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    lo, hi = f(min(vals)), f(max(vals))
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    x0, x1, y0, y1 = left, w - right, h - bottom, top

    def pt(i: int, v: float) -> tuple[float, float]:
        x = x0 + (x1 - x0) * (i / max(n - 1, 1))
        return x, y0 + (y1 - y0) * (f(v) - lo) / (hi - lo)

    d.rectangle([x0, y1, x1, y0], outline=(160, 160, 160))
    for k in range(5):
        t = lo + (hi - lo) * k / 4
        y = y0 + (y1 - y0) * k / 4
        d.line([x0 - 4, y, x0, y], fill="gray")
        label = 10 ** t if log_y else t
        d.text((4, y - 6), f"{label:.4g}", fill="black")
    for i in range(n):
        if n <= 12 or i % max(1, n // 10) == 0 or i == n - 1:
            x = pt(i, vals[0])[0]
            d.line([x, y0, x, y0 + 4], fill="gray")
            d.text((x - 4, y0 + 6), str(i + 1), fill="black")
    d.text(((x0 + x1) // 2 - 16, h - 16), xlabel, fill="black")
    for k, (name, ys) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        pts = [pt(i, v) for i, v in enumerate(ys) if v == v and (v > 0 or not log_y)]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        for x, y in pts:
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        d.line([x1 - 150, y1 + 10 + 14 * k, x1 - 130, y1 + 10 + 14 * k], fill=colour, width=2)
        d.text((x1 - 125, y1 + 4 + 14 * k), name, fill="black")
    return img
