"""A key's stored value is written by ``_KeyState.encode``, which must give the bytes of
``orjson.dumps(to_json())``, the documented format, for every state a stream leaves a key in
(pending events, an open or closed ticket, ids kept for de-duplication, a horizon)."""

from __future__ import annotations

import orjson

from pipeline.core.store import DictStore
from pipeline.engine.admission import Admission
from pipeline.engine.progress import NEVER
from pipeline.engine.runtime import Engine
from tests.unit.core.factories import context
from tests.unit.engine.test_handoff import PARTITIONS, TOPICS, records


def test_every_key_is_encoded_as_its_json_document() -> None:
    stream = [(source, p, offset, r.key, r.value) for source, p, offset, r in records()]
    engine = Engine(context(), TOPICS, store=DictStore(), admission=Admission())
    engine.assign([(t, p) for t in TOPICS for p in range(PARTITIONS)])
    seen = {"pending": 0, "ticket": 0, "closed": 0, "until": 0}
    for i in range(0, len(stream), 50):
        engine.handle_batch(stream[i : i + 50])
        for state in (s for core in engine.cores.values() for s in core.keys.values()):
            assert state.encode() == orjson.dumps(state.to_json())
            seen["pending"] += bool(state.pending)
            seen["ticket"] += state.ticket is not None
            seen["closed"] += bool(state.done) and state.ticket is None
            seen["until"] += state.until != NEVER
        engine.write_state()
    assert all(n > 0 for n in seen.values()), seen
