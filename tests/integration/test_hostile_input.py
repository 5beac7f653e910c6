"""The hostile-input corpus through the real worker on a real broker: oversized records, invalid
UTF-8, deep nesting, huge numbers, NaN/Infinity, timestamps far in the future and before 1970,
unknown fields, reused event ids, binary garbage, empty values, tombstones and records without a
key, interleaved with a seeded valid stream. Each gets its defined outcome (docs/errors.md); the
worker keeps running, the valid events around them give exactly the reference KPIs, and the DLQ
and counters hold exactly the expected reasons."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from pipeline.kafka import LocalBroker
from pipeline.simulate import ProducerOptions, SimRecord, produce
from tests import reference as ref
from tests.integration.compare import assert_outputs_match, caught_up, expected_results, simulated
from tests.integration.harness import read_topic, running_worker, wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4
DUPLICATE = "duplicate"  # not a DLQ reason: counted in kpi_events_duplicate_total


def spliced(value: bytes, text: str) -> bytes:
    """A JSON object with ``text`` added as raw members (for NaN, 1e400, huge ints)."""
    return value[:-1] + b"," + text.encode() + b"}"


def with_fields(value: bytes, **fields: Any) -> bytes:
    return json.dumps({**json.loads(value), **fields}).encode()


def hostile_variants(r: SimRecord, rng: random.Random) -> list[SimRecord]:
    """Bad or odd records made from one valid ticket record, each with its expected outcome."""
    v, k = r.value, r.key
    in_two_days = (datetime.now(UTC) + timedelta(days=2)).isoformat()

    def bad(value: bytes, expect: str, key: bytes = k) -> SimRecord:
        return r._replace(key=key, value=value, expect=expect)

    return [
        bad(with_fields(v, padding="x" * 70_000), "record_too_large"),
        bad(v.replace(b'"ts"', b'"t\xffs"', 1), "invalid_encoding"),
        bad(b"\xff" + rng.randbytes(300), "invalid_encoding"),  # binary garbage
        bad(b"[" * 20_000 + b"]" * 20_000, "malformed_json"),  # nesting beyond the parser's limit
        bad(spliced(v, '"padding":' + "[" * 300 + "]" * 300), "malformed_json"),
        bad(b"", "empty_record"),
        bad(spliced(v, '"handle_seconds":1e400'), "invalid_field"),
        bad(spliced(v, '"handle_seconds":NaN'), "invalid_field"),
        bad(spliced(v, '"cost":Infinity'), "invalid_field"),
        bad(spliced(v, '"cost":18446744073709551617'), "invalid_field"),  # beyond 64 bits
        bad(with_fields(v, handle_seconds=1e30), "invalid_field"),
        bad(spliced(v, '"schema_version":18446744073709551617'), "unsupported_schema_version"),
        bad(with_fields(v, ts="9999-12-31T23:59:59Z"), "timestamp_in_future"),
        bad(with_fields(v, ts=in_two_days), "timestamp_in_future"),
        bad(with_fields(v, ts="1969-12-31T23:59:59Z"), "timestamp_before_1970"),
        bad(with_fields(v, ts="0001-01-01T00:00:00Z"), "timestamp_before_1970"),
        bad(v, "wrong_key", key=k + b"-elsewhere"),
        # The same event id again: a copy is a redelivery, other content a conflict.
        bad(v, DUPLICATE),
        bad(with_fields(v, service="phantom"), "conflicting_duplicate"),
    ]


def accepted_oddity(r: SimRecord) -> SimRecord:
    """The same event with unknown members (nested, huge, NaN): accepted and counted as is."""
    nested = "[" * 40 + "{}" + "]" * 40
    return r._replace(
        value=spliced(r.value, f'"x_nested":{nested},"x_big":{"9" * 40},"x_nan":NaN,"x_o":{{}}')
    )


def build_stream(seed: int) -> tuple[list[SimRecord], list[SimRecord]]:
    """The stream in two halves, valid records with the corpus interleaved."""
    valid = simulated(hours=10, tickets_per_hour=90, seed=seed)
    rng = random.Random(seed)
    out: list[SimRecord] = []
    for index, r in enumerate(valid):
        if r.expect is None and rng.random() < 0.03:
            r = accepted_oddity(r)
        out.append(r)
        # Hostile records right after their model, all through the stream but its last hour.
        if r.expect is None and r.topic == "tickets" and index % 400 == 17:
            out += hostile_variants(r, rng)
    half = len(out) // 2
    return out[:half], out[half:]


async def produce_keyless_and_tombstone(
    bootstrap: str, topic: str, model: SimRecord
) -> list[tuple[bytes | None, bytes | None, str]]:
    """Records the batching producer cannot make: no key, and no value (a tombstone)."""
    partition = (murmur2(model.key) & 0x7FFFFFFF) % PARTITIONS
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, model.value, key=None, partition=partition)
        await producer.send_and_wait(topic, None, key=model.key, partition=partition)
    finally:
        await producer.stop()
    return [(None, model.value, "wrong_key"), (model.key, b"", "empty_record")]


def test_hostile_corpus_never_stops_the_worker_nor_skews_a_kpi(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    prefix = "hostile"
    bootstrap = kafka_broker.bootstrap_servers
    topics = {"tickets": f"{prefix}-tickets", "surveys": f"{prefix}-surveys"}
    first, second = build_stream(seed=88)
    options = ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=PARTITIONS)
    asyncio.run(produce(first, options))
    model = next(r for r in reversed(first) if r.expect is None and r.topic == "tickets")
    specials = asyncio.run(produce_keyless_and_tombstone(bootstrap, topics["tickets"], model))
    asyncio.run(produce(second, options))
    records = first + second

    expected_dlq = Counter(
        (r.key, r.value, r.expect) for r in records if r.expect not in (None, DUPLICATE)
    )
    expected_dlq.update(specials)
    expected_reasons: Counter[str] = Counter()
    for (_, _, reason), n in expected_dlq.items():
        expected_reasons[reason] += n
    corpus_reasons = {
        "record_too_large",
        "invalid_encoding",
        "malformed_json",
        "empty_record",
        "invalid_field",
        "unsupported_schema_version",
        "timestamp_in_future",
        "timestamp_before_1970",
        "wrong_key",
        "conflicting_duplicate",
    }
    assert corpus_reasons <= set(expected_reasons)
    duplicates = sum(r.expect == DUPLICATE for r in records)
    assert duplicates >= 5

    produced = [ref.Produced(r.topic, r.key, r.value, r.expect) for r in records]
    expected = expected_results(produced, PARTITIONS)
    per_topic = Counter(r.topic for r in records)
    per_topic["tickets"] += len(specials)

    started = time.monotonic()
    with running_worker(bootstrap, prefix, tmp_path / "worker", PARTITIONS) as worker:
        wait_until(
            lambda: caught_up(worker, per_topic, expected),
            timeout=60 + len(records) / 100,
            what="the worker to process the corpus",
            worker=worker,
        )
        samples = worker.scrape()
        assert worker.process.poll() is None
    elapsed = time.monotonic() - started

    rejected = {
        dict(labels)["reason"]: value
        for (name, labels), value in samples.items()
        if name == "kpi_events_rejected_total"
    }
    assert rejected == dict(expected_reasons)
    assert samples[("kpi_events_duplicate_total", (("source", "tickets"),))] == duplicates

    dlq = read_topic(bootstrap, f"{prefix}-events-dlq")
    got_dlq = Counter((key, value, headers["dlq.reason"].decode()) for key, value, headers in dlq)
    assert got_dlq == expected_dlq

    compared, n_records = assert_outputs_match(
        bootstrap, prefix, samples, expected, min_compared=10_000
    )
    print(
        f"\n{len(records) + len(specials)} records, {sum(expected_dlq.values())} rejected "
        f"({len(expected_reasons)} reasons), {duplicates} duplicates; compared {compared} KPI "
        f"values in {n_records} window x scope records; worker {elapsed:.0f}s"
    )
