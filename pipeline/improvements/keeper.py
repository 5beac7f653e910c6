"""The closed windows an improvements register needs, and how far the data reaches.

Only the register's windows, scopes and KPI statistics are kept, and only the non-overlapping
windows the evaluation compares (those that start a whole number of window sizes from the
epoch), so the memory is a few rows per improvement, KPI and day. The windows of every other
scope still count for ``since`` and ``through``: where an improvement's scope was quiet the
data still covers that time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pipeline.core.scopes import Scope
from pipeline.improvements.evaluate import Evaluation, WindowValue, evaluate_register
from pipeline.improvements.model import Register

__all__ = ["WindowKeeper"]


class WindowKeeper:
    def __init__(self, register: Register) -> None:
        self.register = register
        self._wanted: dict[tuple[str, Scope], set[tuple[str, str]]] = {}
        for i in register.improvements:
            self._wanted.setdefault((i.window, i.scope), set()).update(
                (c.kpi, c.stat) for c in i.checks
            )
        self._windows = {w for w, _ in self._wanted}
        # by (window, scope, kpi, stat, start): a window delivered twice counts once
        self._rows: dict[tuple[str, Scope, str, str, int], WindowValue] = {}
        self.since = math.inf
        self.through = -math.inf
        self._evaluations: list[Evaluation] | None = None

    def adopt(self, old: WindowKeeper) -> None:
        """Take over what an earlier keeper (of a previous version of the register) kept."""
        self.add(old._rows.values())
        self.since = min(self.since, old.since)
        self.through = max(self.through, old.through)
        self._evaluations = None

    @property
    def watched(self) -> frozenset[tuple[str, str, str]]:
        """The (kpi, stat, window) triples the register evaluates."""
        return frozenset(
            (kpi, stat, window) for (window, _), kpis in self._wanted.items() for kpi, stat in kpis
        )

    @property
    def windows(self) -> set[str]:
        return set(self._windows)

    @property
    def rows(self) -> list[WindowValue]:
        return list(self._rows.values())

    def add(self, results: Iterable[WindowValue]) -> int:
        """Keep what the register needs; returns how many rows were kept."""
        wanted, windows, kept = self._wanted, self._windows, 0
        for r in results:
            if r.window not in windows:
                continue
            width = r.end - r.start
            if width <= 0 or r.start % width:
                continue
            self.since = min(self.since, r.start)
            self.through = max(self.through, r.end)
            self._evaluations = None
            kpis = wanted.get((r.window, r.scope))
            if kpis is not None and (r.kpi, r.stat) in kpis:
                self._rows[(r.window, r.scope, r.kpi, r.stat, r.start)] = r
                kept += 1
        return kept

    def evaluate(self) -> list[Evaluation]:
        """The register's evaluations on the windows so far (computed again only after new
        windows arrived)."""
        if self._evaluations is None:
            known = math.isfinite(self.through)
            self._evaluations = evaluate_register(
                self.register,
                self._rows.values(),
                through=self.through if known else None,
                since=self.since if known else None,
            )
        return self._evaluations
