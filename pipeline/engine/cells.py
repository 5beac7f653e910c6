"""Cells and scopes as integers.

A *cell* is one combination of dimension values (service, team, channel, priority) that
observations count in; a *scope* is one breakdown with its values (the organisation, a service,
a service x team, ...). Panes keep their accumulators per cell, so an observation is counted
once, not once per breakdown; a cell rolls up into its scopes (up to one per breakdown) when a
pane enters or leaves a window. Both are numbered in the order first seen, per process, so
stored state names cells by their values, never by these numbers.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt

from pipeline.core.observations import Dims
from pipeline.core.scopes import BREAKDOWNS, Scope, validate_breakdowns

__all__ = ["Cells", "Scopes"]


class Scopes:
    """Scope <-> row number, and the order scopes are reported in (by encoded name)."""

    def __init__(self) -> None:
        self.rows: dict[Scope, int] = {}
        self.scopes: list[Scope] = []
        self._rank: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.scopes)

    def row(self, scope: Scope) -> int:
        row = self.rows.get(scope)
        if row is None:
            row = self.rows[scope] = len(self.scopes)
            self.scopes.append(scope)
        return row

    def counted(self, per_row: npt.NDArray[np.int64]) -> Counter[Scope]:
        """A count per scope row (as many rows as there were scopes when counted), as a
        Counter of the scopes with any."""
        return Counter({self.scopes[r]: int(per_row[r]) for r in np.flatnonzero(per_row).tolist()})

    def in_report_order(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """``rows`` sorted by their scopes' encoded names (the order of every output)."""
        if len(self._rank) != len(self.scopes):
            order = sorted(range(len(self.scopes)), key=lambda r: self.scopes[r].encode())
            rank = np.empty(len(self.scopes), dtype=np.int64)
            rank[order] = np.arange(len(self.scopes))
            self._rank = rank
        return rows[np.argsort(self._rank[rows], kind="stable")]


class Cells:
    """Dims <-> cell number, each cell with the scope rows it rolls up into."""

    def __init__(self, breakdowns: tuple[str, ...], scopes: Scopes | None = None) -> None:
        self.breakdowns = validate_breakdowns(breakdowns)
        self.scopes = scopes or Scopes()
        self.ids: dict[Dims, int] = {}
        self.dims: list[Dims] = []
        self.scope_rows: list[npt.NDArray[np.int64]] = []

    def __len__(self) -> int:
        return len(self.dims)

    def cell(self, dims: Dims) -> int:
        cell = self.ids.get(dims)
        if cell is None:
            cell = self.ids[dims] = len(self.dims)
            self.dims.append(dims)
            self.scope_rows.append(
                np.array([self.scopes.row(s) for s in self._scopes_of(dims)], dtype=np.int64)
            )
        return cell

    def shared(self, dims: Dims) -> Dims:
        """The cell's own ``Dims``, equal to ``dims``: a ticket holds it rather than a copy
        made of its own event's strings (four strings and a tuple less per ticket)."""
        return self.dims[self.cell(dims)]

    def _scopes_of(self, dims: Dims) -> list[Scope]:
        """The scopes a cell counts in. A breakdown whose dimension is unknown in this cell (a
        survey without a team) is skipped, not guessed."""
        found = []
        for name in self.breakdowns:
            values = {d: getattr(dims, d) for d in BREAKDOWNS[name]}
            if all(v is not None for v in values.values()):
                found.append(Scope(name, **values))
        return found

    def expand(
        self, cells: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """For cells, the scope rows they roll up into and, for each, the index of its cell in
        ``cells``."""
        parts = [self.scope_rows[c] for c in cells.tolist()]
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
        return np.concatenate(parts), np.repeat(np.arange(len(parts)), lengths)
