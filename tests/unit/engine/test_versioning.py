"""A changed KPI formula must not mix with state computed by the old one: accumulator columns
carry the KPI's version, and stored panes name their columns."""

from __future__ import annotations

import dataclasses

from pipeline.core.kpis import catalogue
from pipeline.core.observations import Dims, Observation, ObsKind
from pipeline.engine import formats
from pipeline.engine.cells import Cells
from pipeline.engine.layout import Layout, values_of
from pipeline.engine.panes import PaneBuilder
from tests.unit.core.factories import T0


def _with_fcr_v2() -> tuple[Layout, Layout]:
    v1 = catalogue()
    v2 = tuple(dataclasses.replace(k, version=2) if k.name == "fcr_rate" else k for k in v1)
    return Layout.of(v1), Layout.of(v2)


HIT = Observation(ObsKind.RESOLVED, T0, Dims("email", "l1", "web", "P3"), 60.0, True, True)


def test_a_new_kpi_version_has_its_own_accumulators() -> None:
    old, new = _with_fcr_v2()
    assert "fcr_rate.v1.num" in old.columns and "fcr_rate.v1.num" not in new.columns
    assert values_of(old, [HIT])["fcr_rate"] == {"value": 1.0}
    miss = HIT._replace(fcr=False)
    assert values_of(new, [miss])["fcr_rate"] == {"value": 0.0}


def test_a_pane_stored_by_the_old_version_does_not_feed_the_new_one() -> None:
    old, new = _with_fcr_v2()
    cells = Cells(("all", "service"))
    builder = PaneBuilder(int(T0), old.width)
    row, samples = builder.cell(cells.cell(HIT.dims))
    old.observe(HIT, row, samples)
    stored = formats.encode_pane(builder.freeze(), old, cells)
    pane = formats.decode_pane(stored, new, cells)
    columns = dict(zip(new.columns, pane.counts[0].tolist(), strict=True))
    assert columns["fcr_rate.v2.num"] == 0 and columns["fcr_rate.v2.den"] == 0
    # KPIs whose version did not change keep their state.
    assert columns["tickets_resolved.v1.n"] == 1 and columns["resolution_time.v1.n"] == 1
    assert len(pane.sk_key) == 1  # the resolution time sample, still v1
