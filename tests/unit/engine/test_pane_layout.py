"""Panes are stored one record per pane (every cell in it), and restored from it."""

from __future__ import annotations

import orjson

from pipeline.core.store import DictStore
from pipeline.engine import formats
from tests.unit.core.factories import T0, context, ticket
from tests.unit.engine.cores import StoredCore


def _released_core(store: DictStore) -> StoredCore:
    core = StoredCore("tickets", 0, context(), store)
    core.accept(ticket("created", "a", T0))
    core.accept(ticket("created", "b", T0 + 60, service="network", team="net-l1"))
    core.accept(ticket("created", "c", T0 + 3600))
    core.release()
    return core


def _pane_keys(store: DictStore) -> list[str]:
    return [k for k in store if "|pane|" in k]


def test_one_record_per_pane_holds_every_cell() -> None:
    store = DictStore()
    core = _released_core(store)
    keys = _pane_keys(store)
    assert len(keys) == len(core.panes) == 1  # "a" and "b" share a pane; "c" is not released
    (value,) = (orjson.loads(store[k]) for k in keys)
    assert value["format"] == formats.PANE_FORMAT
    (pane,) = core.panes.values()
    assert len(value["cells"]) == len(pane.cells) == 2  # two dimension combinations
    assert value["columns"] == list(context().layout.columns)


def test_a_pane_record_restores_every_cell() -> None:
    store = DictStore()
    core = _released_core(store)
    restored = StoredCore("tickets", 0, context(), store)
    restored.restore_from(store)
    layout, cells = context().layout, restored.cells
    assert {
        s: formats.encode_pane(p, layout, cells)["cells"] for s, p in restored.panes.items()
    } == {s: formats.encode_pane(p, layout, cells)["cells"] for s, p in core.panes.items()}
    for start, pane in core.panes.items():
        assert (restored.panes[start].counts == pane.counts).all()
