"""What the pipeline must output for a produced stream (from the independent reference), and the
assertions that compare the worker's kpi-windows, /metrics and backlog with it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from pipeline.simulate import SimConfig, SimRecord, generate
from tests import reference as ref
from tests.integration.harness import WorkerProcess, read_topic

LATENESS = 600.0
TICK = 300.0  # the default release tick: one pane
WINDOWS = {"1h": (3600, 300), "24h": (86400, 3600)}
BREAKDOWNS = ("all", "service", "service_team", "service_channel", "service_priority")
QUANTILE_ERROR = 0.01  # the sketch's relative accuracy

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
WindowKey = tuple[int, tuple[str, ...]]


@dataclass
class Expected:
    events: list[dict[str, Any]]  # the events the pipeline must count
    highest: dict[tuple[str, int], float]
    frontier: float
    windows: dict[str, dict[WindowKey, dict[str, tuple[dict[str, float], int]]]]
    partitions: int

    def last_end(self, step: int = 300) -> float:
        return float(int(self.frontier // step) * step)


def simulated(hours: int, tickets_per_hour: float, seed: int) -> list[SimRecord]:
    """A seeded stream from 2026-03-02 with disorder inside the allowed lateness, 1% late and
    1% invalid records."""
    config = SimConfig(
        seed=seed,
        start=datetime(2026, 3, 2, tzinfo=UTC),
        duration=timedelta(hours=hours),
        tickets_per_hour=tickets_per_hour,
        disorder_seconds=240,
        late_fraction=0.01,
        invalid_fraction=0.01,
    )
    return list(generate(config))


def expected_results(produced: Iterable[ref.Produced], partitions: int) -> Expected:
    """Records with ``expect`` None or ``late`` are judged by the reference; anything else
    (rejected before lateness, or a duplicate) must leave no trace in the KPIs."""
    events, highest = ref.counted_events(produced, partitions, LATENESS)
    observations = ref.observations(events)
    frontier = ref.frontier(highest, LATENESS, TICK)
    windows = {
        name: ref.closed_windows(observations, size, step, frontier, BREAKDOWNS)
        for name, (size, step) in WINDOWS.items()
    }
    return Expected(events, highest, frontier, windows, partitions)


def caught_up(worker: WorkerProcess, per_source: dict[str, int], expected: Expected) -> bool:
    """Every record read, the 1h windows closed as far as the reference closes them, and every
    closed window acknowledged by the broker (kpi-windows is read next)."""
    s = worker.scrape()
    got = {
        src: s.get(("kpi_events_received_total", (("source", src),)), 0)
        for src in ("tickets", "surveys")
    }
    closed = {
        window: s.get(("kpi_windows_closed_through_timestamp_seconds", (("window", window),)))
        for window in WINDOWS
    }
    delivered = s.get(("kpi_windows_delivered_through_timestamp_seconds", ()))
    return (
        got == per_source
        and closed["1h"] == expected.last_end()
        and delivered == min(v or 0.0 for v in closed.values())
    )


def assert_windows_match(
    bootstrap: str, topic: str, expected: Expected, min_compared: int = 1
) -> tuple[int, int]:
    """Every closed window on ``topic`` equals the reference, and none is missing. Returns the
    number of KPI values compared and of window x scope records."""
    records = [orjson.loads(value) for _, value, _ in read_topic(bootstrap, topic)]
    got_windows = {}
    for rec in records:
        scope = ref.scope_key(
            rec["breakdown"],
            {d: rec[d] or None for d in ("service", "team", "channel", "priority")},
        )
        end = int(datetime.fromisoformat(rec["window_end"]).timestamp())
        key = (rec["window"], end, scope)
        # A window re-sent after a restart must carry the same values as the first copy.
        assert got_windows.setdefault(key, rec["kpis"]) == rec["kpis"], key
    want_keys = {(w, end, scope) for w, closed in expected.windows.items() for end, scope in closed}
    missing, extra = sorted(want_keys - set(got_windows)), sorted(set(got_windows) - want_keys)
    assert not missing and not extra, (
        f"{len(missing)} windows missing, e.g. {missing[:5]}; {len(extra)} extra, e.g. {extra[:5]}"
    )
    compared = 0
    for (window, end, scope), kpis in got_windows.items():
        for name, (stats, sample_size) in expected.windows[window][(end, scope)].items():
            entry = kpis[name]
            assert entry["sample_size"] == sample_size, (window, end, scope, name)
            for stat, want in stats.items():
                assert_close(stat, entry["stats"][stat], want, (window, end, scope, name))
                compared += 1
    assert compared >= min_compared
    return compared, len(got_windows)


def assert_outputs_match(
    bootstrap: str, prefix: str, samples: Samples, expected: Expected, min_compared: int
) -> tuple[int, int]:
    """kpi-windows, /metrics and the backlog all equal the reference."""
    compared = assert_windows_match(bootstrap, f"{prefix}-kpi-windows", expected, min_compared)
    assert_metrics_match(samples, expected)
    assert_backlog_match(samples, expected)
    return compared


def assert_metrics_match(samples: Samples, expected: Expected) -> None:
    """/metrics shows the newest closed window of each spec, equal to the reference."""
    for window, (_size, step) in WINDOWS.items():
        last_end = expected.last_end(step)
        assert samples[("kpi_window_end_timestamp_seconds", (("window", window),))] == last_end
        for (end, scope), kpis in expected.windows[window].items():
            if end != last_end:
                continue
            labels = dict(zip(("breakdown", *ref.BREAKDOWNS[scope[0]]), scope, strict=True))
            for name, (stats, _) in kpis.items():
                for stat, want in stats.items():
                    key_labels = {
                        "kpi": name,
                        "stat": stat,
                        "window": window,
                        "service": "",
                        "team": "",
                        "channel": "",
                        "priority": "",
                        **labels,
                    }
                    got = samples[("kpi_value", tuple(sorted(key_labels.items())))]
                    assert_close(stat, got, want, (window, scope, name))


def assert_backlog_match(samples: Samples, expected: Expected) -> None:
    """The backlog (a level at the watermark, not windowed) equals the reference."""
    want = ref.backlog(
        expected.events, expected.partitions, expected.highest, LATENESS, TICK, BREAKDOWNS
    )
    got = {}
    for (name, labels), value in samples.items():
        if name == "kpi_backlog_tickets" and value:
            d = dict(labels)
            got[
                ref.scope_key(
                    d["breakdown"],
                    {k: d[k] or None for k in ("service", "team", "channel", "priority")},
                )
            ] = value
    assert got == want


def assert_close(stat: str, got: float | None, want: float, where: object) -> None:
    assert got is not None, where
    if stat in ("p50", "p90"):
        assert abs(got - want) <= QUANTILE_ERROR * want + 1e-9, (where, stat, got, want)
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (where, stat, got, want)
