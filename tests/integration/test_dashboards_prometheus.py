"""The Grafana boards and the recording rules, checked against a real Prometheus: it runs the
shipped config and rules (deploy/prometheus), scrapes the real worker every second while the
worker consumes a simulated stream (with invalid and late records, and targets that breach) from
the real broker; then every variable of every board must resolve to values, and every query of
every panel, and every recording rule, must be valid and return data."""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.kafka import LocalBroker
from pipeline.monitoring import Prometheus, QueryError, running_prometheus
from pipeline.monitoring.prometheus import RULE_FILES
from pipeline.simulate import (
    DEFAULT_SERVICES,
    ProducerOptions,
    Regression,
    SimConfig,
    SimRecord,
    generate,
    produce,
)
from tests.grafana import (
    BUILTINS,
    PanelQuery,
    load_boards,
    parse_label_values,
    queries,
    substitute,
    variable_query,
    variables,
)
from tests.integration.harness import running_worker, wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4
START = datetime(2026, 3, 2, 8, tzinfo=UTC)  # office hours: enough surveys per service-hour
FAST_DESK = tuple(Regression(s, START, None, resolution_factor=0.1) for s in DEFAULT_SERVICES)
# Targets that breach on this stream, so the target, gap and alert series exist: per service and
# organisation-wide (no service label), on a ratio KPI and a time KPI.
TARGETS = """
version: targets/v1
defaults: {min_sample: 3, hold: 30m, confidence: 0.9}
targets:
  - {id: csat-per-service, kpi: csat, window: 1h, scope: {service: "*"}, objective: ">= 0.99"}
  - {id: fcr-org-wide, kpi: fcr_rate, window: 1h, objective: ">= 0.95"}
  - id: resolution-p90
    kpi: resolution_time
    stat: p90
    window: 24h
    scope: {service: "*"}
    objective: "<= 1m"
    hold: 1h
benchmarks:
  - {kpi: fcr_rate, value: 0.641, source: HDI research brief, year: 2013, peer_group: phone}
"""
# An improvement of network an hour into the stream, judged on 1h windows: its evaluation
# series (effect, interval, verdicts, implementation time) exist for the Improvements board.
IMPROVEMENTS = """
version: improvements/v1
improvements:
  - id: network-kb
    title: Knowledge base for network
    owner: desk
    scope: {service: network}
    implemented: 2026-03-02T09:00:00Z
    window: 1h
    before: 2h
    expect:
      - {kpi: fcr_rate, direction: higher}
      - {kpi: resolution_time, stat: p50, direction: lower}
"""
# Grafana's $__rate_interval is a few scrape intervals on a live stream; here the stream is
# consumed in a burst, so rates are taken over a window that spans the whole run.
RATE_INTERVAL = "10m"


def simulated_records() -> list[SimRecord]:
    config = SimConfig(
        seed=505,
        start=START,
        duration=timedelta(hours=3),
        tickets_per_hour=120,
        regressions=FAST_DESK,
        disorder_seconds=120,
        # Late surveys: held back until the stream is 30-40 min past them, well behind their
        # partition's watermark (10 min lateness).
        late_fraction=0.3,
        late_delay=(1800.0, 2400.0),
        invalid_fraction=0.01,
        statuses=True,  # the time-in-status series of the Bottlenecks board
    )
    return list(generate(config))


def produce_records(bootstrap: str, topics: dict[str, str], records: list[SimRecord]) -> None:
    options = ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=PARTITIONS)
    asyncio.run(produce(records, options))


def scraped_moving(prom: Prometheus) -> bool:
    """Prometheus has scraped the worker with some records read: the rest of the stream, read
    after this, moves every counter between two scrapes, so rates have data."""
    result = prom.query("sum(kpi_events_received_total) > 0")
    return bool(result)


def caught_up(prom: Prometheus, expected: int, progress: list[str]) -> bool:
    """Asked of Prometheus, which scrapes the worker anyway: every record read and no lag on
    any input partition. (Polling /metrics too would slow the worker down: a scrape renders
    every KPI series.)"""

    def value(expr: str) -> float:
        result = prom.query(expr)
        return float(result[0]["value"][1]) if result else -1.0

    received = value("sum(kpi_events_received_total)")
    lag = value("sum(kpi_consumer_lag_records)")
    partitions = value("count(kpi_consumer_lag_records)")
    progress.append(f"{time.strftime('%H:%M:%S')} received {received:.0f}, lag {lag:.0f}")
    return received == expected and partitions == 2 * PARTITIONS and lag == 0


def resolve_variables(prom: Prometheus, board: dict[str, Any]) -> dict[str, str]:
    """What Grafana substitutes on first load: "All" (the variable's all-value regex) where
    it is the default, else the first value in sorted order. Each variable's query runs with
    the variables before it substituted, as Grafana chains them; each must find values."""
    values = {name: RATE_INTERVAL for name in BUILTINS}
    for variable in variables(board):
        query = substitute(variable_query(variable), values)
        selector, label = parse_label_values(query)
        found = prom.label_values(label, selector)
        assert found, f"variable {variable['name']}: {query} finds no values"
        default_all = variable.get("current", {}).get("value") == ["$__all"]
        values[variable["name"]] = variable["allValue"] if default_all else sorted(found)[0]
    return values


def evaluate(prom: Prometheus, query: PanelQuery, values: dict[str, str]) -> str | None:
    """None when the query is valid and returns at least one finite sample, else why not."""
    expr = substitute(query.expr, values)
    try:
        result = prom.query(expr)
    except QueryError as err:
        return f"{query.board} / {query.panel} [{query.ref}]: invalid: {err}"
    if not any(math.isfinite(float(sample["value"][1])) for sample in result):
        return f"{query.board} / {query.panel} [{query.ref}]: no data: {expr}"
    return None


def recording_rules() -> list[tuple[str, str]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules += [(r["record"], r["expr"]) for r in group["rules"] if "record" in r]
    return rules


def test_every_board_query_and_recording_rule_returns_data(  # noqa: PLR0915 (one end-to-end scenario, step by step)
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    started = time.monotonic()
    bootstrap = kafka_broker.bootstrap_servers
    prefix = "boards"
    topics = {"tickets": f"{prefix}-tickets", "surveys": f"{prefix}-surveys"}
    records = simulated_records()
    expected = len(records)
    # A first part before the worker starts, the rest once Prometheus has seen it reading.
    first = len(records) // 3
    produce_records(bootstrap, topics, records[:first])
    print(f"\nproduced {first} records in {time.monotonic() - started:.0f}s")
    targets = tmp_path / "targets.yaml"
    targets.write_text(TARGETS)
    register = tmp_path / "improvements.yaml"
    register.write_text(IMPROVEMENTS)
    env = {
        "KPI_TARGETS_FILE": str(targets),
        "KPI_IMPROVEMENTS_FILE": str(register),
        "KPI_TOPICS__ALERTS": f"{prefix}-kpi-alerts",
        # The stream is history (March): inputs that go idle would move the watermark to the
        # wall clock and close empty windows after the last ones with data, which the boards
        # would then show. Idle inputs have their own test (test_quiet_desk.py).
        "KPI_TIME__IDLE_TIMEOUT": "off",
    }
    boards = load_boards()
    assert len(boards) == 8
    with (
        running_worker(bootstrap, prefix, tmp_path / "worker", PARTITIONS, **env) as worker,
        running_prometheus(tmp_path / "prometheus", worker.port) as prom,
    ):
        wait_until(lambda: scraped_moving(prom), timeout=120, what="a scrape of a reading worker")
        produce_records(bootstrap, topics, records[first:])
        progress: list[str] = []
        try:
            wait_until(
                lambda: caught_up(prom, expected, progress),
                timeout=300,
                what="the worker to catch up",
                worker=worker,
            )
        finally:
            print("\n".join(progress[::10]))
        consumed = time.monotonic()
        print(f"worker caught up after {consumed - started:.0f}s")
        # The worker's own exposition, as Prometheus reads it, passes promtool's lint.
        # (Retried: right after catching up, the worker may be busy closing windows.)
        scraped: list[str] = []
        wait_until(lambda: bool(scraped.append(worker.scrape_text()) or scraped), 60, "/metrics")
        promtool = shutil.which("promtool") or "/usr/bin/promtool"
        lint = subprocess.run(
            [promtool, "check", "metrics"],
            input=scraped[0].encode(),
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr

        # Closing, alert evaluation and rule evaluation take a few more seconds after the last
        # record: poll until nothing is missing, then report what still is.
        problems: list[str] = ["not evaluated yet"]

        def everything_has_data() -> bool:
            problems.clear()
            for name, board in boards.items():
                try:
                    values = resolve_variables(prom, board)
                except AssertionError as err:
                    problems.append(f"{name}: {err}")
                    continue
                for query in queries(name, board):
                    problem = evaluate(prom, query, values)
                    if problem:
                        problems.append(problem)
            for record, expr in recording_rules():
                for what in (record, expr):
                    problem = evaluate(prom, PanelQuery("rules", record, "", what), {})
                    if problem:
                        problems.append(problem)
            return not problems

        try:
            wait_until(everything_has_data, timeout=90, what="every query to return data")
        except AssertionError:
            pytest.fail("\n".join(problems))
        # Every rule of deploy/prometheus/rules was loaded and evaluates without error.
        groups = prom.api("rules")["groups"]
        loaded = [rule for group in groups for rule in group["rules"]]
        assert len(loaded) == sum(
            len(group["rules"])
            for path in RULE_FILES
            for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        )
        assert [(r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"] == []
        # The check itself tells a broken query and an empty one from a good one.
        broken = PanelQuery("b", "p", "A", 'sum(kpi_value{window="$window"}')
        assert "invalid" in (evaluate(prom, broken, {"window": "1h"}) or "")
        misspelt = PanelQuery("b", "p", "A", 'kpi_valu{window="$window"}')
        assert "no data" in (evaluate(prom, misspelt, {"window": "1h"}) or "")
        # The breaching targets fire, and Prometheus turns them into routed alerts.
        # (Polled: the worker decides as windows close, and Prometheus evaluates the rules on
        # its own interval after the next scrape.)
        firing: set[str] = set()

        def breaching_targets_fire() -> bool:
            alerts = prom.query('ALERTS{alertname="KpiTargetBreached", alertstate="firing"}')
            firing.update(a["metric"]["rule"] for a in alerts)
            return firing >= {"csat-per-service", "fcr-org-wide"}

        try:
            wait_until(breaching_targets_fire, timeout=120, what="the breaching targets to fire")
        except AssertionError:
            pytest.fail(f"firing: {sorted(firing)}; expected csat-per-service and fcr-org-wide")
    n_queries = sum(len(queries(name, board)) for name, board in boards.items())
    print(
        f"\n{expected} records; worker caught up after {consumed - started:.0f}s; "
        f"{n_queries} panel queries and {len(recording_rules())} recording rules returned data "
        f"after {time.monotonic() - started:.0f}s"
    )
