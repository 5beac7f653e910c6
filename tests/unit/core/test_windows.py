from __future__ import annotations

import pytest

from pipeline.core.windows import PaneGrid, WindowSpec
from tests.unit.core.factories import T0


def test_panes_are_the_gcd_of_sizes_and_steps() -> None:
    grid = PaneGrid([WindowSpec("1h", 3600, 300), WindowSpec("24h", 86400, 3600)])
    assert grid.pane == 300
    assert grid.longest == 86400
    assert grid.pane_start(T0 + 299.9) == T0
    assert grid.pane_start(T0 + 300) == T0 + 300


def test_window_covers_size_over_pane_panes() -> None:
    grid = PaneGrid([WindowSpec("1h", 3600, 300)])
    panes = grid.panes_of_window(int(T0 + 3600), grid.spec("1h"))
    assert list(panes) == [int(T0) + 300 * i for i in range(12)]


def test_window_ends_are_step_aligned_and_half_open() -> None:
    spec = WindowSpec("1h", 3600, 300)
    ends = list(spec.ends_between(T0, T0 + 900))
    assert ends == [T0 + 300, T0 + 600, T0 + 900]
    assert list(spec.ends_between(T0 + 1, T0 + 299)) == []
    assert spec.last_end_at(T0 + 899) == T0 + 600


def test_invalid_windows_are_rejected() -> None:
    with pytest.raises(ValueError, match="multiple of step"):
        WindowSpec("bad", 3600, 700)
    with pytest.raises(ValueError, match="unique"):
        PaneGrid([WindowSpec("a", 60, 60), WindowSpec("a", 120, 60)])


def test_panes_needed_after_frontier_cover_every_open_window() -> None:
    grid = PaneGrid([WindowSpec("1h", 3600, 300)])
    # Frontier at T0+2h: the next window is [T0+1h05, T0+2h05); its first pane is still needed.
    assert grid.needed_after(T0 + 7200) == T0 + 3900
