"""Which status contributes most to a missed resolution-time or SLA target, in the replay
summary: figures computed by hand."""

from __future__ import annotations

from pipeline.alerts.model import Objective, ScopeMatch
from pipeline.core.results import WindowResult
from pipeline.core.scopes import Scope
from pipeline.replay.gap_attribution import GapAttribution
from tests.unit.alerts import target

HOUR = 3600.0
DAY = 24 * HOUR
UNITS = {"resolution_time": "seconds", "sla_compliance": "ratio", "fcr_rate": "ratio"}


def result(kpi: str, stat: str, value: float, n: int, service: str | None, start: int = 0,
           window: str = "1d") -> WindowResult:  # fmt: skip
    scope = Scope("all") if service is None else Scope("service", service=service)
    return WindowResult(window, start, start + int(DAY), scope, kpi, 1, "process", "seconds",
                        stat, value, n)  # fmt: skip


def status(name: str, mean_hours: float, visits: int, service: str | None,
           start: int = 0) -> WindowResult:  # fmt: skip
    return result(f"time_in_status_{name}", "mean", mean_hours * HOUR, visits, service, start)


def resolved(n: int, service: str | None, start: int = 0) -> WindowResult:
    return result("tickets_resolved", "value", float(n), n, service, start)


P90 = target(
    id="resolution-p90",
    kpi="resolution_time",
    stat="p90",
    window="1d",
    scope=ScopeMatch("service", service="*"),
    objective=Objective("<=", 24 * HOUR),
    min_sample=5,
)


def attribution() -> GapAttribution:
    section = GapAttribution([P90], "1d")
    # Two days. network: 10 resolved; in progress 10 x 15 h, awaiting a vendor 4 x 20 h,
    # awaiting the customer 5 x 2 h. Per resolved ticket: 15 h, 8 h, 1 h (total 24 h).
    # The desk: 40 resolved; in progress 40 x 14 h, vendor 5 x 16 h, customer 20 x 4 h: 14 h,
    # 2 h, 2 h per resolved ticket. network's vendor wait is 6 h above the desk's, its time in
    # progress 1 h: the vendor wait is the largest contributor, 8 of 24 h = 33%.
    section.add(
        [
            status("in_progress", 15, 6, "network"),
            status("in_progress", 15, 4, "network", start=int(DAY)),
            status("awaiting_vendor", 20, 4, "network"),
            status("awaiting_customer", 2, 5, "network", start=int(DAY)),
            resolved(6, "network"),
            resolved(4, "network", start=int(DAY)),
            status("in_progress", 14, 40, None),
            status("awaiting_vendor", 16, 5, None),
            status("awaiting_customer", 4, 20, None),
            resolved(40, None),
            # another window spec: not summed
            result("time_in_status_awaiting_vendor", "mean", 99 * HOUR, 9, "network", window="1h"),
        ]
    )
    section.judge(
        [
            result("resolution_time", "p90", 31 * HOUR, 6, "network"),
            result("resolution_time", "p90", 28 * HOUR, 4, "network", start=int(DAY)),  # < 5
            result("resolution_time", "p90", 20 * HOUR, 9, "email"),  # met
            result("resolution_time", "p50", 99 * HOUR, 9, "email"),  # another stat
        ]
    )
    return section


def test_a_missed_target_names_the_status_above_the_desk_with_its_figures() -> None:
    section = attribution()
    assert section.per_ticket(Scope("service", service="network")) == {
        "in_progress": 15 * HOUR,
        "awaiting_vendor": 8 * HOUR,
        "awaiting_customer": 1 * HOUR,
    }
    lines = section.lines(UNITS)
    assert lines[0] == "## Which status contributes most to missed resolution and SLA targets"
    items = [line for line in lines if line.startswith("- ")]
    assert items == [
        "- `resolution-p90`: resolution_time p90 on service=network: 31.0 h against <= 24.0 h "
        "(gap 7.0 h); awaiting_vendor takes 8.0 h per resolved ticket (33%), 6.0 h more than "
        "across the desk — the largest contributor."
    ]


def test_an_organisation_wide_target_names_its_largest_status_and_rates_read_as_ratios() -> None:
    sla = target(
        id="sla-desk",
        kpi="sla_compliance",
        window="1d",
        scope=ScopeMatch("all"),
        objective=Objective(">=", 0.9),
        min_sample=5,
    )
    section = GapAttribution([sla, target(window="1d")], "1d")  # fcr_rate: not attributed
    section.add([status("in_progress", 14, 40, None), status("queued", 2, 40, None)])
    section.add([resolved(40, None)])
    section.judge(
        [
            result("sla_compliance", "value", 0.8, 40, None),
            result("fcr_rate", "value", 0.1, 40, "billing"),
        ]
    )
    items = [line for line in section.lines(UNITS) if line.startswith("- ")]
    assert items == [
        "- `sla-desk`: sla_compliance value on the whole desk: 0.8 against >= 0.9 (gap 0.1); "
        "in_progress takes 14.0 h per resolved ticket (88%) — the largest contributor."
    ]


def test_nothing_to_say_without_a_missed_target_or_a_tumbling_window() -> None:
    section = attribution()
    section.misses.clear()
    assert section.lines(UNITS) == []
    assert GapAttribution([P90], None).watched(["time_in_status_new"]) == frozenset()
    assert GapAttribution([P90], "1d").watched(["time_in_status_new", "csat"]) == {
        ("time_in_status_new", "mean", "1d"),
        ("tickets_resolved", "value", "1d"),
    }
