"""Replay on the real broker: a seeded simulated stream is consumed by the real worker process,
then ``kpi-pipeline replay`` recomputes a range of it. Every window the live worker closed inside
the range must be in the replay's report with the same value and sample size for every KPI,
statistic and breakdown; the replay must leave the live consumer group, its offsets and every
output topic as they were; and its OpenMetrics export, backfilled with promtool into a real
Prometheus, must answer a historical query with the replayed value."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.kafka import LocalBroker, free_port
from pipeline.replay.reader import open_consumer
from pipeline.simulate import ProducerOptions, SimConfig, generate, produce
from tests import reference as ref
from tests.integration.harness import read_topic, running_worker, wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 3
LATENESS = 600.0
START = datetime(2026, 3, 2, 6, tzinfo=UTC)  # morning: a busy desk
# Two window specs, both with several windows inside the replayed range.
WINDOWS = [
    {"name": "1h", "size": "1h", "step": "5m"},
    {"name": "3h", "size": "3h", "step": "30m"},
]
RANGE_FROM = START + timedelta(hours=1)  # the stream starts before: warm-up is exercised
RANGE_TO = START + timedelta(hours=5)  # and goes on after: replay must stop by itself
PREFIX = "rp"
# A change of the whole desk at 09:00, judged on the hourly windows from 07:00 to 11:00 (a
# small sample: the minimums are lowered so that verdicts are given): the live worker (/metrics)
# and the replay (improvements.csv) must say the same.
IMPROVEMENTS = """
version: improvements/v1
improvements:
  - id: desk-change
    title: A change to the desk
    owner: desk
    scope: all
    implemented: 2026-03-02T09:00:00Z
    window: 1h
    before: 2h
    min_sample: 1
    min_windows: 2
    expect:
      - {kpi: fcr_rate, direction: higher}
    guards: [{kpi: sla_compliance}, {kpi: resolution_time, stat: mean}]
"""


@dataclass
class Replayed:
    bootstrap: str
    report: Path
    openmetrics: Path
    live_windows: dict[tuple[str, int, str], dict[str, Any]]
    before: dict[str, Any]
    after: dict[str, Any]
    elapsed: float
    records: int
    # The live worker's running evaluation of IMPROVEMENTS: kpi -> (effect, lower, upper,
    # verdict), from its /metrics once it had closed every window of the range.
    live_improvement: dict[str, tuple[float, float, float, str]]


def _env(bootstrap: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KPI_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
        KPI_TOPICS__TICKETS=f"{PREFIX}-tickets",
        KPI_TOPICS__SURVEYS=f"{PREFIX}-surveys",
        KPI_TOPICS__PARTITIONS=str(PARTITIONS),
        KPI_TIME__WINDOWS=json.dumps(WINDOWS),
    )
    return env


async def _cluster_state(bootstrap: str, group: str) -> dict[str, Any]:
    """Consumer groups, the live group's committed offsets, and the end offset of every
    partition of every topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = sorted(g[0] for g in await admin.list_consumer_groups())
        committed = {
            (tp.topic, tp.partition): meta.offset
            for tp, meta in (await admin.list_consumer_group_offsets(group)).items()
        }
        described = await admin.describe_topics(sorted(await admin.list_topics()))
    finally:
        await admin.close()
    tps = [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if not t["topic"].startswith("__")
        for p in t["partitions"]
    ]
    consumer = await open_consumer(bootstrap, {})
    try:
        ends = {
            (tp.topic, tp.partition): off for tp, off in (await consumer.end_offsets(tps)).items()
        }
    finally:
        await consumer.stop()
    return {"groups": groups, "committed": committed, "ends": ends}


def _windows_of(bootstrap: str) -> dict[tuple[str, int, str], dict[str, Any]]:
    """The live worker's kpi-windows records: (window, end, scope) -> kpis."""
    got = {}
    for _, value, _ in read_topic(bootstrap, f"{PREFIX}-kpi-windows"):
        rec = orjson.loads(value)
        end = int(datetime.fromisoformat(rec["window_end"]).timestamp())
        scope = "/".join(
            [rec["breakdown"], *(rec[d] for d in ("service", "team", "channel", "priority"))]
        )
        got[(rec["window"], end, scope)] = rec
    return got


@pytest.fixture(scope="module")
def replayed(
    kafka_broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replayed]:
    bootstrap = kafka_broker.bootstrap_servers
    tmp = tmp_path_factory.mktemp("replay")
    config = SimConfig(
        seed=20261130,
        start=START,
        duration=timedelta(hours=7),
        tickets_per_hour=40,
        disorder_seconds=240,
        late_fraction=0.02,
        invalid_fraction=0.02,
    )
    simulated = list(generate(config))
    topics = {"tickets": f"{PREFIX}-tickets", "surveys": f"{PREFIX}-surveys"}
    asyncio.run(
        produce(
            simulated,
            ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=PARTITIONS),
        )
    )
    per_topic = Counter(r.topic for r in simulated)
    produced = [ref.Produced(r.topic, r.key, r.value, r.expect) for r in simulated]
    _, highest = ref.counted_events(produced, PARTITIONS, LATENESS)
    frontier = ref.frontier(highest, LATENESS, 300.0)
    assert frontier > RANGE_TO.timestamp(), "the live worker must close every window of the range"

    register = tmp / "improvements.yaml"
    register.write_text(IMPROVEMENTS)
    extra = {"KPI_TIME__WINDOWS": json.dumps(WINDOWS), "KPI_IMPROVEMENTS_FILE": str(register)}
    live_improvement: dict[str, tuple[float, float, float, str]] = {}
    with running_worker(bootstrap, PREFIX, tmp / "worker", PARTITIONS, **extra) as worker:

        def caught_up() -> bool:
            s = worker.scrape()
            got = {
                src: s.get(("kpi_events_received_total", (("source", src),)), 0)
                for src in ("tickets", "surveys")
            }
            closed = s.get(("kpi_windows_closed_through_timestamp_seconds", (("window", "1h"),)))
            return got == per_topic and closed == float(int(frontier // 300) * 300)

        wait_until(caught_up, timeout=120, what="the live worker to catch up", worker=worker)
        live_improvement.update(_improvement_metrics(worker.scrape()))
    # The worker has stopped (its last commit is in): from here on nothing but the replay runs.
    group = f"{PREFIX}-worker"
    before = asyncio.run(_cluster_state(bootstrap, group))
    live_windows = _windows_of(bootstrap)

    report = tmp / "report"
    openmetrics = tmp / "replay.om"
    started = time.monotonic()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "replay",
            "--from",
            RANGE_FROM.isoformat(),
            "--to",
            RANGE_TO.isoformat(),
            "--warm-up",
            "1h",
            "--out",
            str(report),
            "--openmetrics",
            str(openmetrics),
            "--no-progress",
            "--improvements",
            str(register),
            "--plot-services",
            "1",  # plots are checked by the unit tests; fewer panels, a faster test
        ],
        env=_env(bootstrap),
        capture_output=True,
        timeout=300,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout.decode() + run.stderr.decode()
    after = asyncio.run(_cluster_state(bootstrap, group))
    yield Replayed(
        bootstrap,
        report,
        openmetrics,
        live_windows,
        before,
        after,
        elapsed,
        len(simulated),
        live_improvement,
    )


def _improvement_metrics(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float],
) -> dict[str, tuple[float, float, float, str]]:
    values: dict[tuple[str, str], dict[str, Any]] = {}
    for (name, labels), value in samples.items():
        label = dict(labels)
        if not name.startswith("kpi_improvement_") or "kpi" not in label:
            continue
        got = values.setdefault((label["kpi"], label["stat"]), {})
        if name == "kpi_improvement_kpi_verdict":
            if value == 1:
                got["verdict"] = label["verdict"]
        else:
            got[name] = value
    return {
        kpi: (
            v["kpi_improvement_effect"],
            v["kpi_improvement_effect_lower"],
            v["kpi_improvement_effect_upper"],
            v["verdict"],
        )
        for (kpi, _), v in values.items()
    }


def _report_windows(report: Path) -> dict[tuple[str, int, str], dict[str, Any]]:
    """The tidy CSV regrouped like kpi-windows records: (window, end, scope) -> kpi -> entry."""
    got: dict[tuple[str, int, str], dict[str, Any]] = {}
    with (report / "kpis.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            end = int(datetime.fromisoformat(row["window_end"]).timestamp())
            scope = "/".join(
                [row["breakdown"], *(row[d] for d in ("service", "team", "channel", "priority"))]
            )
            kpis = got.setdefault((row["window"], end, scope), {})
            entry = kpis.setdefault(
                row["kpi"],
                {"class": row["kpi_class"], "sample_size": int(row["sample_size"]), "stats": {}},
            )
            entry["stats"][row["stat"]] = float(row["value"]) if row["value"] else None
    return got


def test_replay_equals_the_live_worker_on_every_window_inside_the_range(
    replayed: Replayed,
) -> None:
    lo, hi = RANGE_FROM.timestamp(), RANGE_TO.timestamp()
    sizes = {"1h": 3600, "3h": 3 * 3600}
    live = {
        key: rec
        for key, rec in replayed.live_windows.items()
        if key[1] - sizes[key[0]] >= lo and key[1] <= hi
    }
    got = _report_windows(replayed.report)
    # Every window of the range, of both specs: 1h every 5 min, 3h every 30 min.
    ends = {(w, e) for w, e, _ in live}
    assert len([e for w, e in ends if w == "1h"]) == (hi - lo - 3600) // 300 + 1
    assert len([e for w, e in ends if w == "3h"]) == (hi - lo - 3 * 3600) // 1800 + 1
    assert set(got) == set(live)
    compared = 0
    for key, rec in live.items():
        for kpi, entry in rec["kpis"].items():
            mine = got[key][kpi]
            assert mine["sample_size"] == entry["sample_size"], (key, kpi)
            assert mine["class"] == entry["class"], (key, kpi)
            assert mine["stats"] == entry["stats"], (key, kpi)
            compared += len(entry["stats"])
    breakdowns = {key[2].split("/")[0] for key in live}
    assert breakdowns == {"all", "service", "service_team", "service_channel", "service_priority"}
    assert compared > 20_000
    print(
        f"\nreplay of {replayed.records} records took {replayed.elapsed:.1f} s (process "
        f"start included); {compared} KPI values in {len(live)} window x scope records equal"
    )


def test_live_and_replay_evaluate_an_improvement_the_same(replayed: Replayed) -> None:
    with (replayed.report / "improvements.csv").open(newline="", encoding="utf-8") as f:
        rows = {row["kpi"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"fcr_rate", "sla_compliance", "resolution_time"}
    assert set(replayed.live_improvement) == set(rows)
    for kpi, (effect, lower, upper, verdict) in replayed.live_improvement.items():
        row = rows[kpi]
        assert row["verdict"] == verdict, kpi
        assert verdict != "too_little_data", row["note"]  # both periods are complete
        got = (float(row["effect"]), float(row["ci_low"]), float(row["ci_high"]))
        assert got == pytest.approx((effect, lower, upper), rel=1e-12), kpi
    summary = (replayed.report / "summary.md").read_text(encoding="utf-8")
    assert "### desk-change:" in summary
    assert (replayed.report / "plots" / "improvement-desk-change.svg").exists()


def test_replay_leaves_the_live_group_offsets_and_outputs_untouched(replayed: Replayed) -> None:
    before, after = replayed.before, replayed.after
    assert f"{PREFIX}-worker" in before["groups"]
    assert after["groups"] == before["groups"], "the replay must not create or join a group"
    assert before["committed"], "the live worker committed offsets"
    assert after["committed"] == before["committed"]
    outputs = [t for t, _ in before["ends"] if t.startswith(f"{PREFIX}-") and "tickets" not in t]
    assert {f"{PREFIX}-kpi-windows", f"{PREFIX}-events-dlq"} <= set(outputs)
    assert any("changelog" in t for t in outputs), outputs
    assert after["ends"] == before["ends"], "no topic got a record (outputs, changelog, DLQ)"


@contextlib.contextmanager
def _prometheus(tsdb: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is installed by `make setup`"
    port = free_port()
    config = tsdb.parent / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\n", encoding="utf-8")
    log = (tsdb.parent / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tsdb}",
            # Backfilled history is months old: the default 15 d retention would delete it.
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)

        wait_until(ready, timeout=60, what="Prometheus to be ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _query(url: str, expr: str, at: int) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": expr, "time": str(at)})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_openmetrics_export_backfills_prometheus(replayed: Replayed, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by `make setup`"
    tsdb = tmp_path / "tsdb"
    created = subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=720h",  # as docs/replay.md says for long histories
            str(replayed.openmetrics),
            str(tsdb),
        ],
        capture_output=True,
        check=False,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert any(tsdb.iterdir()), "promtool wrote blocks"

    got = _report_windows(replayed.report)
    # A historical window in the middle of the range, organisation-wide and for one service.
    end = int((RANGE_FROM + timedelta(hours=3, minutes=25)).timestamp())
    org = got[("1h", end, "all////")]
    service_key = next(
        k for k in got if k[0] == "1h" and k[1] == end and k[2].startswith("service/")
    )
    service = service_key[2].split("/")[1]
    with _prometheus(tsdb) as url:
        rows = _query(
            url,
            'kpi_value{kpi="resolution_time",stat="p90",window="1h",breakdown="all",'
            'job="kpi-worker"}',
            end,
        )
        assert len(rows) == 1, rows
        assert float(rows[0]["value"][1]) == org["resolution_time"]["stats"]["p90"]
        assert rows[0]["value"][0] == end
        rows = _query(
            url,
            f'kpi_value{{kpi="tickets_created",stat="value",window="1h",breakdown="service",'
            f'service="{service}"}}',
            end,
        )
        assert float(rows[0]["value"][1]) == got[service_key]["tickets_created"]["stats"]["value"]
        rows = _query(url, 'kpi_sample_size{kpi="fcr_rate",window="1h",breakdown="all"}', end)
        assert int(rows[0]["value"][1]) == org["fcr_rate"]["sample_size"]
