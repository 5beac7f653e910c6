"""The worker produces kpi-windows records with ``WindowFrame.record_bytes``, which must give
the bytes ``orjson.dumps`` gives for ``records`` (the documented record), statistics without a
value (null) included."""

from __future__ import annotations

import orjson

from pipeline.engine.admission import Admission
from pipeline.engine.frames import WindowFrame
from pipeline.engine.runtime import Engine
from tests.unit.core.factories import context
from tests.unit.engine.test_handoff import PARTITIONS, TOPICS, records


def test_record_bytes_are_the_encoded_records() -> None:
    stream = [(source, p, offset, r.key, r.value) for source, p, offset, r in records()]
    engine = Engine(context(), TOPICS, admission=Admission())
    engine.assign([(t, p) for t in TOPICS for p in range(PARTITIONS)])
    engine.end_offsets = {(t, p): 0 for t in TOPICS for p in range(PARTITIONS)}
    frames: list[WindowFrame] = []
    for i in range(0, len(stream), 100):
        frames += engine.handle_batch(stream[i : i + 100]).windows
    frames += engine.close_windows()
    encoded = [(key, orjson.dumps(record)) for frame in frames for key, record in frame.records()]
    assert len(encoded) > 100 and any(b"null" in value for _, value in encoded)
    assert [kv for frame in frames for kv in frame.record_bytes()] == encoded
