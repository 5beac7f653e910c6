"""Panes are stored one record per pane (every scope in it), and restored from it."""

from __future__ import annotations

from pipeline.core.kpis import CATALOGUE_VERSION
from pipeline.core.source import SourceCore
from pipeline.core.store import DictStore
from tests.unit.core.factories import T0, context, ticket


def _released_core(store: DictStore) -> SourceCore:
    core = SourceCore("tickets", 0, context(), store)
    core.accept(ticket("created", "a", T0))
    core.accept(ticket("created", "b", T0 + 60))
    core.accept(ticket("created", "c", T0 + 3600))
    core.release()
    return core


def _pane_keys(store: DictStore) -> list[str]:
    return [k for k in store if f"|p{CATALOGUE_VERSION}|" in k]


def test_one_record_per_pane_holds_every_scope() -> None:
    store = DictStore()
    core = _released_core(store)
    keys = _pane_keys(store)
    assert len(keys) == len(core.panes) == 1  # "a" and "b" share a pane; "c" is not released
    (value,) = (store[k] for k in keys)
    assert len(value) == len(next(iter(core.panes.values()))) > 1  # several scopes


def test_a_pane_record_restores_every_scope() -> None:
    store = DictStore()
    core = _released_core(store)
    restored = SourceCore("tickets", 0, context(), store)
    restored.restore(list(store.items()))
    assert {
        start: {s: a.to_json() for s, a in by.items()} for start, by in restored.panes.items()
    } == {start: {s: a.to_json() for s, a in by.items()} for start, by in core.panes.items()}
