"""The Bottlenecks board's queries: every status lands in a part, and the contributions read
only the targets a status can explain, against the organisation-wide scope."""

from __future__ import annotations

import re

from pipeline.core.bottlenecks import ATTRIBUTED_KPIS
from pipeline.core.observations import STATUS_VISITS
from pipeline.dashboards.bottleneck_board import bottlenecks, per_resolved_ticket
from tests.grafana import queries


def test_time_per_resolved_ticket_divides_status_time_by_the_scopes_resolutions() -> None:
    expr = per_resolved_ticket('window="24h"')
    # mean x visits = the status's seconds, over tickets_resolved of the same scope and window
    assert expr.startswith('(kpi_value{kpi=~"time_in_status_.*", stat="mean", window="24h"}')
    assert "* on (kpi, window, breakdown, service, team, channel, priority) kpi_sample_size" in expr
    assert expr.endswith(
        "/ on (window, breakdown, service, team, channel, priority) group_left "
        'kpi_value{kpi="tickets_resolved", stat="value", window="24h"}'
    )


def test_every_status_is_labelled_with_its_part_on_the_ranked_panels() -> None:
    found = {q.panel: q.expr for q in queries("b", bottlenecks())}
    ranked = found["Time per resolved ticket, by part, ranked"]
    assert ranked.startswith("sort_desc(sum by (service, part) (")
    labelled = set(re.findall(r'"kpi", "time_in_status_(\w+)"\)', ranked))
    assert labelled == set(STATUS_VISITS)
    assert '"part", "desk queue", "kpi", "time_in_status_queued"' in ranked


def test_contributions_read_missed_resolution_and_sla_targets_against_the_desk() -> None:
    found = {q.panel: q.expr for q in queries("b", bottlenecks())}
    top = found["Largest contributor to each missed target"]
    gaps = f'kpi_target_gap{{kpi=~"{"|".join(ATTRIBUTED_KPIS)}"}} > 0'
    assert top.startswith("topk by (window, breakdown, service, team, channel, priority) (1, ")
    assert top.endswith(f"({gaps})) > 0)")
    desk = 'kpi_value{kpi=~"time_in_status_.*", stat="mean", breakdown="all"}'
    assert f") - on (kpi, window) group_left () (({desk}" in top
    assert "first_response" not in top
