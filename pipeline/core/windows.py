"""Event-time windows on one pane grid.

Every window's size and step are multiples of one pane length (the greatest common divisor of all
sizes and steps), so an event is aggregated once, into its pane, and a window's value is the merge
of the panes it covers: no event is re-aggregated once per overlapping window. Windows are aligned
to the Unix epoch (UTC): a 1h window starts on the hour.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["PaneGrid", "WindowSpec"]


@dataclass(frozen=True, slots=True)
class WindowSpec:
    name: str
    size: int  # seconds
    step: int  # seconds; step == size is a tumbling window

    def __post_init__(self) -> None:
        if self.size <= 0 or self.step <= 0:
            raise ValueError(f"window {self.name!r}: size and step must be positive")
        if self.size % self.step:
            raise ValueError(f"window {self.name!r}: size must be a whole multiple of step")

    def ends_between(self, after: float, up_to: float) -> Iterator[int]:
        """Ends of the windows with ``after < end <= up_to``, oldest first."""
        first = (math.floor(after / self.step) + 1) * self.step
        end = first
        while end <= up_to:
            yield end
            end += self.step

    def last_end_at(self, watermark: float) -> int:
        """End of the newest window that is closed at ``watermark``."""
        return math.floor(watermark / self.step) * self.step


class PaneGrid:
    """The pane length shared by a set of windows, and pane arithmetic."""

    def __init__(self, specs: Sequence[WindowSpec]) -> None:
        if not specs:
            raise ValueError("at least one window is needed")
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"window names must be unique, got {names}")
        self.specs = tuple(specs)
        self.pane = math.gcd(*(n for spec in specs for n in (spec.size, spec.step)))
        self.longest = max(spec.size for spec in specs)

    def pane_start(self, ts: float) -> int:
        return math.floor(ts / self.pane) * self.pane

    def panes_of_window(self, end: int, spec: WindowSpec) -> range:
        return range(end - spec.size, end, self.pane)

    def spec(self, name: str) -> WindowSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def needed_after(self, frontier: float) -> int:
        """Oldest pane start still needed once every window ending at or before ``frontier``
        has been closed."""
        return math.floor(frontier / self.pane) * self.pane - self.longest + self.pane
