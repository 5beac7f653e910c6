"""A changed KPI formula must not mix with state computed by the old one."""

from __future__ import annotations

import dataclasses

from pipeline.core.aggregate import Aggregate
from pipeline.core.kpis import CATALOGUE_VERSION, catalogue
from pipeline.core.observations import Dims, Observation, ObsKind
from pipeline.core.source import SourceCore
from pipeline.core.store import DictStore
from tests.unit.core.factories import T0, context, ticket


def test_a_new_kpi_version_starts_from_fresh_accumulators() -> None:
    fcr_v1 = next(k for k in catalogue() if k.name == "fcr_rate")
    fcr_v2 = dataclasses.replace(fcr_v1, version=2)
    agg = Aggregate()
    hit = Observation(ObsKind.RESOLVED, T0, Dims("email"), first_resolution=True, fcr=True)
    fcr_v1.observe(hit, agg)  # state computed by the old definition
    assert fcr_v2.compute(agg).stats == {}  # the new one does not see it
    fcr_v2.observe(dataclasses.replace(hit, fcr=False), agg)
    assert fcr_v1.compute(agg).stats == {"value": 1.0}
    assert fcr_v2.compute(agg).stats == {"value": 0.0}


def test_panes_of_another_catalogue_version_are_not_restored() -> None:
    ctx = context()
    store = DictStore()
    core = SourceCore("tickets", 0, ctx, store)
    core.accept(ticket("created", "a", T0))
    core.accept(ticket("created", "b", T0 + 3600))
    core.release()
    ours = [k for k in store if f"|p{CATALOGUE_VERSION}|" in k]
    assert ours
    # the same panes as if written by an older catalogue
    for key in ours:
        store[key.replace(f"|p{CATALOGUE_VERSION}|", f"|p{CATALOGUE_VERSION - 1}|")] = store.pop(
            key
        )
    restored = SourceCore("tickets", 0, ctx, store)
    restored.restore(store.items())
    assert restored.panes == {}
    assert restored.released_through == core.released_through
