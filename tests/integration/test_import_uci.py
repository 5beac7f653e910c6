"""The ServiceNow importer on the real UCI incident log (a subset of its incidents by default;
all of it with KPI_TEST_UCI_FULL=1, see `make test-uci`).

- Into a real broker, twice: every event arrives, keyed by ticket, with its event time as the
  record timestamp, and the second import carries exactly the same event ids.
- Through the live worker's runtime: the KPIs equal an independent computation written on the CSV.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.importers import map_file
from pipeline.importers.produce import to_records
from pipeline.kafka import LocalBroker, internals
from pipeline.schemas.decode import decode_ticket
from tests.uci_pipeline import MONTH_LIKE, assert_same_kpis, pipeline_values, run_runtime
from tests.uci_reference import fixed_window, log_for_tests, uci_kpis

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def uci_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return log_for_tests(tmp_path_factory.mktemp("uci"))


async def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes, bytes, int, int]]:
    """Every record of the topic: key, value, timestamp, timestamp type."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not tps:
            await internals.refresh_metadata(consumer)
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[tuple[bytes, bytes, int, int]] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + 300
        while remaining and time.monotonic() < deadline:
            for tp, messages in (await consumer.getmany(timeout_ms=1000, max_records=5000)).items():
                for m in messages:
                    out.append((m.key, m.value, m.timestamp, m.timestamp_type))
                    if m.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        assert not remaining, f"could not read {topic} to its end"
        return out
    finally:
        await consumer.stop()


def test_importing_twice_gives_the_same_events_with_event_time_timestamps(
    kafka_broker: LocalBroker, uci_log: Path
) -> None:
    expected = map_file(uci_log)
    args = ["import", "servicenow", str(uci_log), "--no-progress"]
    args += [
        "--bootstrap",
        kafka_broker.bootstrap_servers,
        "--topic-prefix",
        "uci-",
        "--partitions",
        "3",
    ]
    for _ in range(2):
        started = time.monotonic()
        outcome = CliRunner().invoke(main, args)
        assert outcome.exit_code == 0, outcome.output
        assert f"produced {len(expected.events):,} records to uci-tickets" in outcome.output
        print(f"imported {uci_log.name} in {time.monotonic() - started:.1f}s")

    records = asyncio.run(read_topic(kafka_broker.bootstrap_servers, "uci-tickets"))

    assert len(records) == 2 * len(expected.events)
    ids: Counter[str] = Counter()
    values: dict[str, bytes] = {}
    for offset, (key, value, timestamp, timestamp_type) in enumerate(records):
        event = decode_ticket(value, offset)  # valid for the worker
        assert timestamp_type == 0  # CreateTime: the producer's timestamp
        assert timestamp == round(event.ts * 1000)  # record timestamp = event time
        assert key == event.ticket_id.encode() if event.ticket_id else False
        ids[event.event_id] += 1
        # The second import is byte for byte the first.
        assert values.setdefault(event.event_id, value) == value
    assert set(ids.values()) == {2}
    assert set(ids) == {e.event.event_id for e in expected.events}
    by_type = Counter(orjson.loads(v)["type"] for _, v, _, _ in records)
    assert by_type == Counter({k: 2 * n for k, n in expected.events_by_type().items()})


def test_the_runtime_computes_what_an_independent_computation_finds_in_the_csv(
    uci_log: Path,
) -> None:
    result = map_file(uci_log)
    run = run_runtime(to_records(result.events))
    # Every imported event fits its ticket's lifecycle and comes in time.
    assert run.rejected == {}
    assert run.duplicates == 0

    reference = uci_kpis(uci_log, window_of=fixed_window(MONTH_LIKE))
    compared = assert_same_kpis(reference, pipeline_values(run.results))

    resolved = sum(k.tickets_resolved for (_, service), k in reference.items() if service is None)
    assert resolved == result.events_by_type()["resolved"] > 1000
    assert compared > 500
