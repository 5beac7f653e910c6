"""The walking skeleton end to end, on a real broker: a seeded simulated stream (with disorder,
late events and invalid records of every kind) goes through the real worker process; every KPI of
every closed window on ``kpi-windows`` and on /metrics must equal the independent reference, and
every bad record must be in the DLQ with the right reason."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.kafka import LocalBroker
from pipeline.simulate import ProducerOptions, SimConfig, generate, produce
from tests import reference as ref
from tests.integration.harness import read_topic, running_worker, wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4
LATENESS = 600.0
TICK = 300.0  # the default release tick: one pane
WINDOWS = {"1h": (3600, 300), "24h": (86400, 3600)}
BREAKDOWNS = ("all", "service", "service_team", "service_channel", "service_priority")
QUANTILE_ERROR = 0.01  # the sketch's relative accuracy


def simulate(hours: int, tickets_per_hour: float, seed: int) -> list[Any]:
    config = SimConfig(
        seed=seed,
        start=datetime(2026, 3, 2, tzinfo=UTC),
        duration=timedelta(hours=hours),
        tickets_per_hour=tickets_per_hour,
        disorder_seconds=240,  # shuffled arrival inside the 10 min allowed lateness
        late_fraction=0.02,
        invalid_fraction=0.02,
    )
    return list(generate(config))


def test_stream_through_real_worker_matches_reference(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    """Thousands of events: every KPI value, the DLQ, the health counters, /metrics."""
    simulated = simulate(hours=14, tickets_per_hour=110, seed=20261121)
    assert len(simulated) > 5000
    run_and_compare(kafka_broker, simulated, "e2e", tmp_path)


def test_hundred_thousand_events_every_window_kpi_and_breakdown(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    """The full catalogue at scale: three days of traffic, over 100,000 events."""
    simulated = simulate(hours=72, tickets_per_hour=330, seed=7)
    assert len(simulated) >= 100_000
    run_and_compare(kafka_broker, simulated, "e2e100k", tmp_path, min_compared=500_000)


def run_and_compare(
    kafka_broker: LocalBroker,
    simulated: list[Any],
    prefix: str,
    tmp_path: Path,
    min_compared: int = 100_000,
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topics = {"tickets": f"{prefix}-tickets", "surveys": f"{prefix}-surveys"}
    stats = asyncio.run(
        produce(
            simulated,
            ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=PARTITIONS),
        )
    )
    expected_reasons = Counter(r.expect for r in simulated if r.expect is not None)
    assert stats.total == len(simulated)
    assert len(expected_reasons) >= 7, expected_reasons  # late + six kinds of invalid record

    # --- the reference ------------------------------------------------------------------------
    produced = [ref.Produced(r.topic, r.key, r.value, r.expect) for r in simulated]
    events, highest = ref.counted_events(produced, PARTITIONS, LATENESS)
    observations = ref.observations(events)
    frontier = ref.frontier(highest, LATENESS, TICK)
    expected = {
        name: ref.closed_windows(observations, size, step, frontier, BREAKDOWNS)
        for name, (size, step) in WINDOWS.items()
    }
    per_topic = Counter(r.topic for r in simulated)

    with running_worker(bootstrap, prefix, tmp_path / "worker", PARTITIONS) as worker:

        def caught_up() -> bool:
            s = worker.scrape()
            got = {
                src: s.get(("kpi_events_received_total", (("source", src),)), 0)
                for src in ("tickets", "surveys")
            }
            closed = s.get(("kpi_windows_closed_through_timestamp_seconds", (("window", "1h"),)))
            return got == per_topic and closed == ref_last_end(frontier, 300)

        wait_until(
            caught_up,
            timeout=60 + len(simulated) / 200,
            what="the worker to process every record",
            worker=worker,
        )
        metrics_text = worker.scrape_text()
        samples = worker.scrape()

    # --- health counters ------------------------------------------------------------------------
    for reason, count in expected_reasons.items():
        key = ("kpi_events_rejected_total", (("reason", reason),))
        assert samples.get(key) == count, reason
    rejected = {k[1][0][1] for k in samples if k[0] == "kpi_events_rejected_total"}
    assert rejected == set(expected_reasons), "no other rejections (unknown_ticket, ...)"

    # --- every invalid or late record is in the DLQ with its reason and original bytes ----------
    dlq = read_topic(bootstrap, f"{prefix}-events-dlq")
    got_dlq = Counter((key, value, headers["dlq.reason"].decode()) for key, value, headers in dlq)
    want_dlq = Counter((r.key, r.value, r.expect) for r in simulated if r.expect is not None)
    assert got_dlq == want_dlq

    # --- every closed window on kpi-windows equals the reference --------------------------------
    records = [
        orjson.loads(value) for _, value, _ in read_topic(bootstrap, f"{prefix}-kpi-windows")
    ]
    got_windows = {}
    for rec in records:
        scope = ref.scope_key(
            rec["breakdown"],
            {d: rec[d] or None for d in ("service", "team", "channel", "priority")},
        )
        end = int(datetime.fromisoformat(rec["window_end"]).timestamp())
        got_windows[(rec["window"], end, scope)] = rec["kpis"]
    want_keys = {(w, end, scope) for w, closed in expected.items() for end, scope in closed}
    assert set(got_windows) == want_keys
    compared = 0
    for (window, end, scope), kpis in got_windows.items():
        for name, (stats, sample_size) in expected[window][(end, scope)].items():
            entry = kpis[name]
            assert entry["sample_size"] == sample_size, (window, end, scope, name)
            for stat, want in stats.items():
                assert_close(stat, entry["stats"][stat], want, (window, end, scope, name))
                compared += 1
    assert compared > min_compared
    n_windows = len({(w, e) for w, e, _ in got_windows})
    print(
        f"\n{len(simulated)} records ({len(events)} counted): compared {compared} KPI values "
        f"in {len(got_windows)} window x scope records ({n_windows} windows)"
    )

    # --- /metrics shows the newest closed window of each spec -----------------------------------
    for window, (_size, step) in WINDOWS.items():
        last_end = ref_last_end(frontier, step)
        assert samples[("kpi_window_end_timestamp_seconds", (("window", window),))] == last_end
        for (end, scope), kpis in expected[window].items():
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

    # --- the backlog (a level at the watermark, not windowed) -----------------------------------
    want_backlog = ref.backlog(events, PARTITIONS, highest, LATENESS, TICK, BREAKDOWNS)
    got_backlog = {}
    for (name, labels), value in samples.items():
        if name == "kpi_backlog_tickets" and value:
            d = dict(labels)
            got_backlog[
                ref.scope_key(
                    d["breakdown"],
                    {k: d[k] or None for k in ("service", "team", "channel", "priority")},
                )
            ] = value
    assert got_backlog == want_backlog

    # --- the exposition passes promtool's lint --------------------------------------------------
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by `make setup`"
    lint = subprocess.run(
        [promtool, "check", "metrics"],
        input=metrics_text.encode(),
        capture_output=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def ref_last_end(frontier: float, step: int) -> float:
    return float(int(frontier // step) * step)


def assert_close(stat: str, got: float | None, want: float, where: object) -> None:
    assert got is not None, where
    if stat in ("p50", "p90"):
        assert abs(got - want) <= QUANTILE_ERROR * want + 1e-9, (where, stat, got, want)
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (where, stat, got, want)
