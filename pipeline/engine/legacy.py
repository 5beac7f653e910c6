"""Reading state written in format 1 (before the columnar engine), so that a worker upgraded in
place continues where the old one stopped instead of losing its open tickets and panes.

Format 1 kept, per input partition: ``<tag>|k|<key>`` with positional lists (pending events,
ticket lifecycle), ``<tag>|p1|<start>`` with named counters and sparse sketches per *scope*,
and ``<tag>|m`` with the progress. Keys convert one to one. A format-1 pane is already rolled
up to scopes, so it becomes a scope-level pane (``Pane.scoped``); it ages out of the windows
like any other. Counters are matched to columns by name; float sums become the engine's
integer sums (durations in microseconds, costs in fixed point).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.core.events import Event
from pipeline.core.lifecycle import TicketState
from pipeline.core.observations import Dims
from pipeline.core.scopes import Scope
from pipeline.engine.cells import Cells
from pipeline.engine.layout import OBSERVATIONS, Layout
from pipeline.engine.panes import Pane

__all__ = ["Converted", "convert"]

log = logging.getLogger(__name__)

_COST_SCALE = 2.0**40
_LOW_BITS = 30

KeyState = tuple[list[Event], TicketState | None, dict[str, int], float]


@dataclass
class Converted:
    keys: dict[str, KeyState] = field(default_factory=dict)
    panes: dict[int, Pane] = field(default_factory=dict)
    meta: tuple[float, float] | None = None
    old_keys: list[str] = field(default_factory=list)


def convert(tag: str, items: list[tuple[str, Any]], layout: Layout, cells: Cells) -> Converted:
    out = Converted()
    prefix = tag + "|"
    for key, value in items:
        kind, _, rest = key[len(prefix) :].partition("|")
        if kind == "k":
            out.keys[rest] = _key_state(value)
        elif kind == "p1":
            out.panes[int(rest)] = _pane(int(rest), value, layout, cells)
        elif kind == "m":
            out.meta = (float(value["max_ts"]), float(value["released"]))
        else:
            continue  # another catalogue version's panes: never mixed with these
        out.old_keys.append(key)
    if out.old_keys:
        log.warning(
            "%s: state of format 1 found (%d keys, %d panes); converted, and written again in "
            "the current format with the next batch",
            tag,
            len(out.keys),
            len(out.panes),
        )
    return out


def _key_state(data: dict[str, Any]) -> KeyState:
    pending = [Event(*record) for record in data["p"]]
    ticket = _ticket(data["t"]) if data["t"] else None
    until = data.get("u")
    # Format-1 fingerprints were computed otherwise: content unknown (0), matching any copy.
    return (
        pending,
        ticket,
        dict.fromkeys(data.get("d") or {}, 0),
        -np.inf if until is None else float(until),
    )


def _ticket(values: list[Any]) -> TicketState:
    (created, service, team, channel, priority, is_open, resolutions, reopened, replies,
     reassignments, escalated, replied, ids) = values  # fmt: skip
    state = TicketState(float(created), Dims(service, team, channel, priority))
    state.open, state.resolutions, state.reopened = bool(is_open), int(resolutions), bool(reopened)
    state.agent_replies, state.reassignments = int(replies), int(reassignments)
    state.escalated, state.first_reply_seen = bool(escalated), bool(replied)
    # Format-1 fingerprints (or none, in older state) were computed otherwise: content unknown
    # (0), which matches any copy.
    state.event_ids = dict.fromkeys(ids, 0)
    return state


def _pane(start: int, scopes: dict[str, Any], layout: Layout, cells: Cells) -> Pane:
    column = {name: i for i, name in enumerate(layout.columns)}
    slot = {name: i for i, name in enumerate(layout.sketches)}
    rows, counts = [], []
    sk_cell: list[int] = []
    sk_slot: list[int] = []
    sk_key: list[int] = []
    sk_n: list[int] = []
    for i, (text, agg) in enumerate(scopes.items()):
        rows.append(cells.scopes.row(Scope.decode(text)))
        row = [0] * layout.width
        row[OBSERVATIONS] = 1  # the scope saw data in this pane
        for name, amount in agg["c"].items():
            if name.startswith("cost_per_interaction.") and name.endswith(".num"):
                fixed = int(float(amount) * _COST_SCALE)
                _add(row, column, name + "_high", fixed >> _LOW_BITS)
                _add(row, column, name + "_low", fixed & ((1 << _LOW_BITS) - 1))
            else:
                _add(row, column, name, int(amount))
        for name, sketch in agg["s"].items():
            base = name.rsplit(".", 1)[0] + "."
            _add(row, column, base + "n", int(sketch["n"]))
            _add(row, column, base + "zeros", int(sketch["z"]))
            _add(row, column, base + "total_us", round(float(sketch["s"]) * 1e6))
            s = slot.get(name)
            if s is None:
                continue
            for key, n in sketch["b"].items():
                sk_cell.append(i)
                sk_slot.append(s)
                sk_key.append(int(key))
                sk_n.append(int(n))
        counts.append(row)
    return Pane.of(
        start,
        np.array(rows, dtype=np.int64),
        np.array(counts, dtype=np.int64).reshape(len(rows), layout.width),
        np.array(sk_cell, dtype=np.int64),
        np.array(sk_slot, dtype=np.int64),
        np.array(sk_key, dtype=np.int64),
        np.array(sk_n, dtype=np.int64),
        scoped=True,
    )


def _add(row: list[int], column: dict[str, int], name: str, amount: int) -> None:
    i = column.get(name)
    if i is not None:
        row[i] += amount
