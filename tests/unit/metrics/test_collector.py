"""The /metrics collector: worker health read from the runtime at scrape time, per input
partition, gone as soon as a partition is handed over, and clean for `promtool check metrics`."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pipeline.engine.runtime import Engine
from pipeline.metrics.collector import PipelineCollector
from pipeline.metrics.page import MetricsPage
from tests.unit.core.factories import context
from tests.unit.engine.test_runtime import created

TOPICS = {"tickets": "t-topic", "surveys": "s-topic"}
PROMTOOL = shutil.which("promtool")


def scraped(rt: Engine) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(PipelineCollector(rt))
    return registry


def tp(source: str, partition: int) -> dict[str, str]:
    return {"source": source, "topic": TOPICS[source], "partition": str(partition)}


@pytest.fixture
def runtime() -> Engine:
    rt = Engine(context(), TOPICS)
    rt.assign([("tickets", 0), ("tickets", 1), ("surveys", 0)])
    # Partition 0: three tickets, one of them far enough ahead to release the first two.
    for offset, (ticket, ts) in enumerate(
        [
            ("a", "2026-03-02T10:00:00Z"),
            ("b", "2026-03-02T10:01:00Z"),
            ("c", "2026-03-02T11:00:00Z"),
        ]
    ):
        rt.handle("tickets", 0, offset, ticket.encode(), created(ticket, ts, f"c-{ticket}"))
    rt.handle("tickets", 1, 7, b"d", created("d", "2026-03-02T10:30:00Z", "c-d"))
    rt.handle("tickets", 1, 8, b"x", b"{broken")
    rt.end_offsets = {("tickets", 0): 10, ("tickets", 1): 9, ("surveys", 0): 4}
    return rt


def test_lag_is_end_offset_minus_next_offset_per_partition(runtime: Engine) -> None:
    registry = scraped(runtime)
    lag = "kpi_consumer_lag_records"
    assert registry.get_sample_value(lag, tp("tickets", 0)) == 10 - 3
    assert registry.get_sample_value(lag, tp("tickets", 1)) == 0
    # Nothing read from surveys/0 yet: all four records are behind.
    assert registry.get_sample_value(lag, tp("surveys", 0)) == 4


def test_state_sizes_per_partition(runtime: Engine) -> None:
    registry = scraped(runtime)
    core = runtime.cores[("tickets", 0)]
    # a and b were released into lifecycles (and panes); c still waits for the watermark.
    assert registry.get_sample_value("kpi_pending_events", tp("tickets", 0)) == 1
    assert registry.get_sample_value("kpi_state_keys", tp("tickets", 0)) == 3
    assert registry.get_sample_value("kpi_tickets_tracked", tp("tickets", 0)) == 2
    panes = sum(len(pane.cells) for pane in core.panes.values())
    assert panes > 0
    assert registry.get_sample_value("kpi_state_panes", tp("tickets", 0)) == panes
    assert registry.get_sample_value("kpi_pending_events", tp("tickets", 1)) == 1
    assert registry.get_sample_value("kpi_tickets_tracked", tp("tickets", 1)) == 0


def test_events_in_rejected_and_out(runtime: Engine) -> None:
    runtime.produced.update({"windows": 5, "dlq": 1})
    registry = scraped(runtime)
    assert registry.get_sample_value("kpi_events_received_total", {"source": "tickets"}) == 5
    assert registry.get_sample_value("kpi_events_received_total", {"source": "surveys"}) == 0
    assert registry.get_sample_value("kpi_events_duplicate_total", {"source": "tickets"}) == 0
    assert registry.get_sample_value("kpi_events_rejected_total", {"reason": "malformed_json"}) == 1
    produced = "kpi_records_produced_total"
    assert registry.get_sample_value(produced, {"output": "windows"}) == 5
    assert registry.get_sample_value(produced, {"output": "dlq"}) == 1
    # Every output is exported from the start, so a rate over it is 0 rather than absent.
    assert registry.get_sample_value(produced, {"output": "alerts"}) == 0


def test_a_partition_handed_over_disappears_at_once(runtime: Engine) -> None:
    registry = scraped(runtime)
    assert registry.get_sample_value("kpi_state_keys", tp("tickets", 1)) == 1
    runtime.assign([("tickets", 0), ("surveys", 0)])
    for name in ("kpi_consumer_lag_records", "kpi_state_keys", "kpi_watermark_timestamp_seconds"):
        assert registry.get_sample_value(name, tp("tickets", 1)) is None, name
        assert registry.get_sample_value(name, tp("tickets", 0)) is not None, name


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_promtool_finds_nothing_to_complain_about(runtime: Engine) -> None:
    assert PROMTOOL is not None
    text = generate_latest(scraped(runtime))
    assert b"kpi_consumer_lag_records{" in text
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    # ... and it does complain about a badly named counter, so the check is not vacuous.
    bad = b"# HELP kpi_things Things\n# TYPE kpi_things counter\nkpi_things 1\n"
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=bad, capture_output=True, timeout=30, check=False
    )
    assert result.returncode != 0


def test_the_page_renders_kpi_values_once_per_closed_window(runtime: Engine) -> None:
    # surveys/0 holds nothing back; both ticket partitions move far enough to close windows.
    runtime.end_offsets[("surveys", 0)] = 0
    runtime.handle("tickets", 0, 3, b"e", created("e", "2026-03-02T14:00:00Z", "c-e"))
    runtime.handle("tickets", 1, 9, b"g", created("g", "2026-03-02T14:00:00Z", "c-g"))
    live = CollectorRegistry()
    live.register(PipelineCollector(runtime, windows=False))
    page = MetricsPage(runtime, live)
    first = page.render()
    assert b"kpi_value{" in first and b"kpi_backlog_tickets{" in first
    # The same lines as one registry with everything renders.
    assert sorted(first.splitlines()) == sorted(generate_latest(scraped(runtime)).splitlines())
    renders = page.window_renders
    runtime.handle("tickets", 1, 10, b"h", created("h", "2026-03-02T14:01:00Z", "c-h"))
    second = page.render()
    assert page.window_renders == renders  # no window closed: KPI values not rendered again ...
    assert second != first  # ... while the live part (received, lag, state) is
    # The closer replaces a spec's newest results when it closes a window.
    newest = runtime.closer.latest["1h"]
    runtime.closer.latest["1h"] = dataclasses.replace(
        newest, scopes=newest.scopes[:1], values=newest.values[:1], samples=newest.samples[:1]
    )
    third = page.render()
    assert page.window_renders == renders + 1
    assert sorted(third.splitlines()) == sorted(generate_latest(scraped(runtime)).splitlines())


def test_benchmarks_are_exported_with_source_year_and_peer_group() -> None:
    from pipeline.alerts.engine import AlertEngine
    from pipeline.targets import parse_targets

    targets, _ = parse_targets(
        "version: targets/v1\n"
        "benchmarks:\n"
        "  - {id: hdi, kpi: fcr_rate, value: 0.641, source: HDI brief, year: 2013,"
        " peer_group: phone}\n"
        "  - {kpi: first_response_time, stat: p50, value: 2h, source: Survey X, year: 2020,"
        " peer_group: email}\n"
    )
    rt = Engine(context(), TOPICS, alerts=AlertEngine(targets))
    registry = scraped(rt)
    labels = {"benchmark": "hdi", "kpi": "fcr_rate", "stat": "value", "source": "HDI brief",
              "year": "2013", "peer_group": "phone"}  # fmt: skip
    assert registry.get_sample_value("kpi_benchmark", labels) == 0.641
    frt = {"benchmark": "first_response_time:p50:Survey-X:2020", "kpi": "first_response_time",
           "stat": "p50", "source": "Survey X", "year": "2020", "peer_group": "email"}  # fmt: skip
    assert registry.get_sample_value("kpi_benchmark", frt) == 7200.0
    # No targets file: no benchmark series.
    assert "kpi_benchmark{" not in generate_latest(scraped(Engine(context(), TOPICS))).decode()
