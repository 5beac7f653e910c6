"""Kafka with SASL on a real broker (a SASL_PLAINTEXT listener with PLAIN and SCRAM users):
every client the pipeline creates authenticates from the same settings, the worker processes a
stream with the right credentials, and with wrong ones it stops at once with a clear error and a
non-zero exit instead of retrying forever. The password never reaches the log."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from pipeline.config import KafkaSettings, Settings
from pipeline.kafka import LocalBroker, free_port
from pipeline.kafka.security import client_options
from pipeline.simulate import ProducerOptions, SimConfig, generate, produce
from pipeline.worker.run import KafkaStartupError, check_kafka
from tests.integration.harness import local_broker, running_worker, wait_until, worker_env

pytestmark = pytest.mark.integration

USER, PASSWORD = "kpi-worker", "s3cret-Pa55word"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    with local_broker(
        tmp_path_factory.mktemp("kafka-sasl"),
        sasl_port=free_port(),
        sasl_users={USER: PASSWORD, "admin": "admin-secret"},
    ) as broker:
        yield broker


def kafka_settings(broker: LocalBroker, mechanism: str, password: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=broker.sasl_bootstrap_servers,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,  # type: ignore[arg-type]
        sasl_username=USER,
        sasl_password=password,  # type: ignore[arg-type]
        connect_timeout=20,
    )


def sasl_env(mechanism: str, password: str) -> dict[str, str]:
    return {
        "KPI_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KPI_KAFKA__SASL_MECHANISM": mechanism,
        "KPI_KAFKA__SASL_USERNAME": USER,
        "KPI_KAFKA__SASL_PASSWORD": password,
        "KPI_KAFKA__CONNECT_TIMEOUT": "20",
        "KPI_LOG_LEVEL": "info",
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_every_mechanism_authenticates_and_a_wrong_password_is_refused(
    sasl_broker: LocalBroker, mechanism: str
) -> None:
    settings = Settings(
        kafka=kafka_settings(sasl_broker, mechanism, PASSWORD),
        topics={"tickets": f"m-{mechanism}-t", "surveys": f"m-{mechanism}-s"},  # type: ignore[arg-type]
    )
    check_kafka(settings)  # connects, authenticates, creates the topics
    wrong = settings.model_copy(
        update={"kafka": kafka_settings(sasl_broker, mechanism, "not-the-password")}
    )
    started = time.monotonic()
    with pytest.raises(KafkaStartupError) as refused:
        check_kafka(wrong)
    assert time.monotonic() - started < 25
    message = str(refused.value)
    assert f"SASL {mechanism} as '{USER}'" in message
    assert "not-the-password" not in message and PASSWORD not in message


def test_worker_processes_a_stream_over_sasl_and_never_logs_the_password(
    sasl_broker: LocalBroker, tmp_path: Path
) -> None:
    prefix = "sasl"
    records = list(
        generate(
            SimConfig(
                seed=5,
                start=datetime(2026, 3, 2, tzinfo=UTC),
                duration=timedelta(hours=3),
                tickets_per_hour=40,
            )
        )
    )
    bootstrap = sasl_broker.sasl_bootstrap_servers
    # The simulator's producer (and its topic creation) authenticate with PLAIN ...
    asyncio.run(
        produce(
            records,
            ProducerOptions(
                bootstrap_servers=bootstrap,
                topics={"tickets": f"{prefix}-tickets", "surveys": f"{prefix}-surveys"},
                client=client_options(kafka_settings(sasl_broker, "PLAIN", PASSWORD)),
            ),
        )
    )
    # ... and the worker with SCRAM-SHA-512, on the SASL listener only.
    env = sasl_env("SCRAM-SHA-512", PASSWORD)
    with running_worker(bootstrap, prefix, tmp_path / "worker", 4, **env) as worker:

        def processed() -> bool:
            s = worker.scrape()
            received = sum(
                s.get(("kpi_events_received_total", (("source", src),)), 0)
                for src in ("tickets", "surveys")
            )
            return received == len(records) and any(
                name == "kpi_windows_closed_through_timestamp_seconds" for name, _ in s
            )

        wait_until(processed, timeout=120, what="the stream over SASL", worker=worker)
    windows = asyncio.run(count_records(sasl_broker, f"{prefix}-kpi-windows"))
    assert windows > 0
    log = worker.log.read_text(errors="replace")
    assert PASSWORD not in log
    assert USER in log  # the connection line names the user, not the password


def test_worker_with_a_wrong_password_exits_with_a_clear_error(
    sasl_broker: LocalBroker, tmp_path: Path
) -> None:
    env = worker_env(
        sasl_broker.sasl_bootstrap_servers,
        "sasl-wrong",
        tmp_path,
        free_port(),
        4,
        **sasl_env("SCRAM-SHA-256", "wrong-password"),
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "cannot use Kafka at" in output and "SASL SCRAM-SHA-256 as 'kpi-worker'" in output
    assert "uthentication failed" in output, output
    assert "wrong-password" not in output
    assert elapsed < 60


async def count_records(broker: LocalBroker, topic: str) -> int:
    kafka = kafka_settings(broker, "SCRAM-SHA-256", PASSWORD)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_options(kafka),
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
        return sum(len(messages) for messages in batch.values())
    finally:
        await consumer.stop()
