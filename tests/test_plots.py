"""Training charts: what a reader sees in the picture, not only that a file appeared."""

from __future__ import annotations

import numpy as np

from disguise.training.figures import line_chart

# matplotlib's default colour cycle: the first two series are drawn in these.
BLUE, ORANGE = (31, 119, 180), (255, 127, 14)


def _has(img: np.ndarray, colour, tol: int = 12) -> int:
    return int((np.abs(img.astype(int) - colour).max(axis=-1) <= tol).sum())


def test_each_series_is_drawn_in_its_colour_at_the_asked_size():
    img = line_chart({"train": [5.0, 3.0, 2.0, 1.5], "val": [6.0, 4.0, 3.5, 3.0]}, title="loss",
                     size=(640, 400))
    arr = np.asarray(img)
    assert img.size == (640, 400) and img.mode == "RGB"
    assert _has(arr, BLUE) > 100 and _has(arr, ORANGE) > 100


def test_values_a_log_scale_cannot_show_are_left_out_and_an_empty_chart_says_so():
    only_bad = np.asarray(line_chart({"train": [0.0, -1.0, float("nan")], "val": [1.0, 2.0, 3.0]},
                                     log_y=True))
    assert _has(only_bad, BLUE) == 0 and _has(only_bad, ORANGE) > 100  # the first series drew nothing
    empty = np.asarray(line_chart({"train": [float("nan")]}))
    full = np.asarray(line_chart({"train": [1.0, 2.0]}))
    assert _has(empty, BLUE) == 0 and _has(full, BLUE) > 100
    assert (empty < 200).any()  # "no data yet" is written in the plot
