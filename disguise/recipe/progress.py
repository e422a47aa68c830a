"""A stage's progress bar that knows a resumed run: work done now moves it and sets its rate;
work an earlier process had done moves it without a rate, so the ETA is the time left, not the
whole stage's time again.
"""

from __future__ import annotations

from typing import Callable

from tqdm.auto import tqdm


class StageBar:
    """``tick(n)``: ``n`` units done now; ``skip(n)``: ``n`` units an earlier run had done;
    ``reach(n)``: the stage is ``n`` units along (a step of one is work done now, the rest of a
    longer step was done before); ``along(before, per_epoch)``: an ``on_batch(epoch, batch)``
    for a training run that begins ``before`` units into the stage. Without a bar, all do nothing."""

    def __init__(self, bar: tqdm | None = None) -> None:
        self.bar = None if bar is None or bar.disable else bar

    def tick(self, n: float = 1) -> None:
        if self.bar is not None and n > 0:
            self.bar.update(n)

    def skip(self, n: float) -> None:
        if self.bar is not None and n > 0:
            self.bar.n += n
            self.bar.last_print_n += n  # the rate is measured from here on
            self.bar.initial += n
            self.bar.refresh()

    def reach(self, n: float) -> None:
        if self.bar is None:
            return
        gap = n - self.bar.n
        if gap > 1:
            self.skip(gap - 1)
        self.tick(min(gap, 1))

    def along(self, before: int, per_epoch: int) -> Callable[[int, int], None]:
        return lambda epoch, batch: self.reach(before + epoch * per_epoch + batch + 1)
