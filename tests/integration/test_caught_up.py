"""A finite stream: the worker says when everything it read is in delivered windows, and
``--exit-when-caught-up`` stops it there."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from pipeline.kafka import LocalBroker, free_port
from pipeline.simulate import ProducerOptions, SimConfig, generate, produce
from tests.integration.harness import read_topic, worker_env

pytestmark = pytest.mark.integration

PREFIX = "caught"
START = datetime(2026, 3, 2, 8, tzinfo=UTC)


def test_the_worker_exits_once_every_window_is_delivered(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    records = list(generate(SimConfig(seed=5, start=START, duration=timedelta(hours=3))))
    topics = {"tickets": f"{PREFIX}-tickets", "surveys": f"{PREFIX}-surveys"}
    asyncio.run(
        produce(records, ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=2))
    )
    newest = max(r.ts_ms for r in records)
    env = worker_env(
        bootstrap,
        PREFIX,
        tmp_path,
        free_port(),
        2,
        KPI_TIME__IDLE_TIMEOUT="2s",
        KPI_LOG_LEVEL="info",
        KPI_TOPICS__ALERTS=f"{PREFIX}-kpi-alerts",
    )
    log = tmp_path / "worker.log"
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "worker", "--exit-when-caught-up"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            code = process.wait(timeout=150)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(log.read_text(errors="replace")[-4000:]) from None
    text = log.read_text(errors="replace")
    assert code == 0, text[-4000:]
    assert f"caught up: {len(records)} input records read" in text, text[-4000:]
    # Every window holding an event was closed and delivered before the exit: the last 24h
    # window to start before the newest event is on kpi-windows.
    ends = {
        (w["window"], w["window_end"])
        for w in (orjson.loads(v) for _, v, _ in read_topic(bootstrap, f"{PREFIX}-kpi-windows"))
    }
    last_24h = max(end for name, end in ends if name == "24h")
    assert datetime.fromisoformat(last_24h).timestamp() > newest / 1000 + 23 * 3600
    print(f"worker exited {time.monotonic() - started:.1f}s after its start")


def test_replay_reads_an_imports_prefixed_topics(
    kafka_broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``import --topic-prefix uci-`` writes uci-tickets; ``replay`` must be able to read it
    back with the same option, and without it say which option and topics to use."""
    from click.testing import CliRunner

    from pipeline.cli import main

    bootstrap = kafka_broker.bootstrap_servers
    records = list(generate(SimConfig(seed=9, start=START, duration=timedelta(hours=2))))
    topics = {"tickets": "imp-tickets", "surveys": "imp-surveys"}
    asyncio.run(
        produce(records, ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=1))
    )
    monkeypatch.setenv("KPI_KAFKA__BOOTSTRAP_SERVERS", bootstrap)
    monkeypatch.delenv("KPI_TARGETS_FILE", raising=False)
    base = ["replay", "--from", "2026-03-02T08:00:00Z", "--to", "2026-03-02T10:00:00Z"]
    base += ["--windows", "1h", "--breakdowns", "all", "--no-progress"]
    missing = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "a")])
    assert missing.exit_code == 1
    assert "input topic 'tickets' does not exist" in missing.output
    assert "imp-tickets" in missing.output and "--topic-prefix 'imp-'" in missing.output
    found = CliRunner().invoke(
        main, [*base, "--topic-prefix", "imp-", "--out", str(tmp_path / "b")]
    )
    assert found.exit_code == 0, found.output
    # Every record lies inside the range (the simulation stops at its end).
    assert f"replayed {len(records)} records" in found.output, found.output
    assert (tmp_path / "b" / "kpis.csv").stat().st_size > 0
