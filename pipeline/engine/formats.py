"""Every state key and wire record the engine writes, named, typed and versioned in one place.

State lives in a key-value store (a changelog-backed Faust table in the worker) under string
keys; values are JSON objects with named fields (bytes when stored). Keys of one input
partition's core start with its tag, ``<source>:<partition>``, so they land in that
partition's changelog partition:

- ``<tag>|key|<record key>``: the key's ticket lifecycle and the event ids kept for
  de-duplication (``{"ticket", "done", "until"}``); written by each batch that released events
  of the key or forgot it;
- ``<tag>|accepted|<n>``: the events one batch accepted into the reorder buffer and did not
  release in the same batch (format ``accepted/1``, see ``encode_accepted``); a key's pending
  events are those of these records at or after ``released_through``. A record is deleted
  once every event in it is released. Keeping them apart from the keys writes each key once
  per release instead of once more per accepted event (a key's state is about 450 bytes);
- ``<tag>|pane|<start>``: a pane's accumulators per cell (format ``pane/2``, see
  ``encode_pane``); written once per release of the pane;
- ``<tag>|meta``: ``{"max_ts", "released_through"}``, the partition's progress;
- ``offsets|<partition>|<source>``: the next input offset the state covers (an integer);
- ``closing|0`` (in the closer's store): windows closed and delivered through, alert state.

Key states written before the ``accepted`` records held their pending events themselves
(``"pending"``); they are read, and the events written again as an ``accepted`` record.

Format 1 (the keys ``<tag>|k|``, ``<tag>|p1|`` and ``<tag>|m`` with positional lists) is read
and converted on restore (see ``legacy``).

The pane topic's records (several workers) carry the same ``PaneRecord`` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from pipeline.core.events import Event
from pipeline.core.observations import Dims
from pipeline.core.scopes import Scope
from pipeline.engine.cells import Cells
from pipeline.engine.layout import Layout
from pipeline.engine.panes import Pane

__all__ = [
    "ACCEPTED_FORMAT",
    "OFFSETS",
    "PANE_FORMAT",
    "accepted_key",
    "decode_accepted",
    "decode_event",
    "decode_pane",
    "encode_accepted",
    "encode_pane",
    "key_key",
    "meta_key",
    "offset_key",
    "pane_bytes",
    "pane_key",
    "parse_offset_key",
]

PANE_FORMAT = "pane/2"
ACCEPTED_FORMAT = "accepted/1"
OFFSETS = "offsets|"
_EVENT_FIELDS = Event._fields


def key_key(tag: str, record_key: str) -> str:
    return f"{tag}|key|{record_key}"


def pane_key(tag: str, start: int) -> str:
    return f"{tag}|pane|{start}"


def accepted_key(tag: str, number: int) -> str:
    return f"{tag}|accepted|{number}"


def meta_key(tag: str) -> str:
    return f"{tag}|meta"


def offset_key(source: str, partition: int) -> str:
    return f"{OFFSETS}{partition}|{source}"


def parse_offset_key(key: str) -> tuple[str, int]:
    partition, _, source = key[len(OFFSETS) :].partition("|")
    return source, int(partition)


def decode_event(data: dict[str, Any]) -> Event:
    """A pending event as keys held it before ``accepted`` records: every field by name."""
    return Event(**data)


def encode_accepted(events: Sequence[Event]) -> bytes:
    """The events a batch accepted and left pending, in the order they were accepted: the
    field names once, then one row of values per event (about a sixth of the time of an object
    per event, and a sixth fewer bytes on the bench's stream)."""
    return orjson.dumps(
        {"format": ACCEPTED_FORMAT, "fields": _EVENT_FIELDS, "events": [tuple(e) for e in events]}
    )


def decode_accepted(data: dict[str, Any]) -> list[Event]:
    if data.get("format") != ACCEPTED_FORMAT:
        raise ValueError(f"accepted events of format {data.get('format')!r}, not {ACCEPTED_FORMAT}")
    fields = data["fields"]
    return [Event(**dict(zip(fields, row, strict=True))) for row in data["events"]]


def encode_pane(pane: Pane, layout: Layout, cells: Cells) -> dict[str, Any]:
    """A pane with its column and sketch names (so a changed catalogue never mixes with it)
    and its cells by their dimension values."""
    return {
        "format": PANE_FORMAT,
        "start": pane.start,
        "columns": layout.columns,
        "sketches": layout.sketches,
        **(
            {"scopes": [cells.scopes.scopes[r].encode() for r in pane.cells.tolist()]}
            if pane.scoped
            else {"cells": [list(cells.dims[c]) for c in pane.cells.tolist()]}
        ),
        "counts": pane.counts,
        "samples": {
            "cell": pane.sk_cell,
            "slot": pane.sk_slot,
            "key": pane.sk_key,
            "n": pane.sk_n,
        },
    }


def pane_bytes(pane: Pane, layout: Layout, cells: Cells) -> bytes:
    return orjson.dumps(encode_pane(pane, layout, cells), option=orjson.OPT_SERIALIZE_NUMPY)


def decode_pane(data: dict[str, Any], layout: Layout, cells: Cells) -> Pane:
    """A stored pane in this process's layout: columns matched by name; columns of other KPI
    versions are left out, columns it did not have are zero."""
    scoped = "scopes" in data
    if scoped:
        names = data["scopes"]
        cell_ids = np.array([cells.scopes.row(Scope.decode(t)) for t in names], dtype=np.int64)
    else:
        cell_ids = np.array([cells.cell(Dims(*d)) for d in data["cells"]], dtype=np.int64)
    stored = np.array(data["counts"], dtype=np.int64).reshape(len(cell_ids), len(data["columns"]))
    counts = np.zeros((len(cell_ids), layout.width), dtype=np.int64)
    _copy_columns(stored, data["columns"], counts, layout.columns)
    samples = data["samples"]
    slot_map = {name: i for i, name in enumerate(layout.sketches)}
    stored_slots = np.array(
        [slot_map.get(name, -1) for name in data["sketches"]] or [-1], dtype=np.int64
    )
    slots = stored_slots[np.array(samples["slot"], dtype=np.int64)]
    keep = slots >= 0
    return Pane.of(
        int(data["start"]),
        cell_ids,
        counts,
        np.array(samples["cell"], dtype=np.int64)[keep],
        slots[keep],
        np.array(samples["key"], dtype=np.int64)[keep],
        np.array(samples["n"], dtype=np.int64)[keep],
        scoped,
    )


def _copy_columns(
    source: np.ndarray, source_names: Sequence[str], target: np.ndarray, names: Sequence[str]
) -> None:
    index = {name: i for i, name in enumerate(source_names)}
    for j, name in enumerate(names):
        i = index.get(name)
        if i is not None:
            target[:, j] = source[:, i]
