"""Pending events are stored with the batch that accepted them, apart from their keys: a key is
written when its events are released, and the state restores to the same core either way,
including state whose keys still hold their pending events (written before)."""

from __future__ import annotations

import orjson

from pipeline.core.events import Event
from pipeline.core.store import DictStore
from pipeline.engine import formats
from pipeline.engine.partition import PartitionCore
from tests.unit.core.factories import MIN, T0, context, ticket
from tests.unit.engine.cores import StoredCore, cells_for


def _kinds(writes: list[tuple[str, bytes | None]]) -> list[tuple[str, bool]]:
    """(kind of key, written rather than deleted) of each write, in order."""
    return [(key.split("|")[1], value is not None) for key, value in writes]


def test_a_key_is_written_when_its_events_are_released_not_when_accepted() -> None:
    ctx = context()
    core = PartitionCore("tickets", 0, ctx, cells_for(ctx), persist=True)
    batches: list[list[tuple[str, bool]]] = []
    for minute in (1, 2, 3):  # within the allowed lateness (10 minutes): nothing released
        core.accept(ticket("agent_reply" if minute > 1 else "created", "t1", T0 + minute * MIN))
        core.release()
        batches.append(_kinds(core.drain_writes()))
    assert batches[0] == [("accepted", True), ("meta", True)]
    assert batches[1:] == [[("accepted", True), ("meta", True)]] * 2

    core.accept(ticket("created", "t2", T0 + 20 * MIN))  # the watermark passes t1's events
    core.release()
    assert core.keys["t1"].ticket is not None and not core.keys["t1"].pending
    released = _kinds(core.drain_writes())
    assert sorted(released) == sorted(
        [("key", True), ("pane", True), ("accepted", True), ("meta", True)]
        + [("accepted", False)] * 3
    )


def test_state_restores_to_the_same_pending_events_released_or_not() -> None:
    ctx = context()
    store = DictStore()
    core = StoredCore("tickets", 0, ctx, store)
    events = [
        ticket("created", "t1", T0 + 1 * MIN),
        ticket("agent_reply", "t1", T0 + 5 * MIN),
        ticket("created", "t2", T0 + 8 * MIN),
        ticket("agent_reply", "t1", T0 + 16 * MIN),  # releases t1's first two events
        ticket("resolved", "t2", T0 + 13 * MIN),  # out of order, within lateness
    ]
    for event in events:
        core.accept(event)
        core.release()
    assert core.pending_count == 3 and core.tickets == 1

    restored = StoredCore("tickets", 0, ctx, store)
    restored.restore_from(store)
    assert _pending(restored) == _pending(core)
    assert restored.pending_count == 3 and restored.tickets == 1
    # The stored records of released events were deleted: one record holds all that pends.
    held = [k for k in store if "|accepted|" in k]
    assert sorted(e.event_id for k in held for e in _stored_events(store, k)) == sorted(
        e.event_id for e in events[2:]
    )


def test_keys_stored_with_their_pending_events_are_read_and_stored_apart() -> None:
    ctx = context()
    store = DictStore()
    core = StoredCore("tickets", 0, ctx, store)
    for event in (
        ticket("created", "t1", T0 + 1 * MIN),
        ticket("created", "t2", T0 + 12 * MIN),  # releases t1's created
        ticket("agent_reply", "t1", T0 + 13 * MIN),
    ):
        core.accept(event)
        core.release()
    # As written before: each key's pending events inside it, no accepted records (t2 had
    # nothing stored but its pending event).
    old = DictStore({k: v for k, v in store.items() if "|accepted|" not in k})
    for record_key, state in core.keys.items():
        key = formats.key_key(core.tag, record_key)
        data = orjson.loads(old[key]) if key in old else {"ticket": None, "done": {}, "until": None}
        old[key] = orjson.dumps({"pending": [_as_before(e) for e in state.pending], **data})

    converted = StoredCore("tickets", 0, ctx, old)
    converted.restore_from(old)
    assert _pending(converted) == _pending(core)
    old.write(converted.drain_writes())  # the next batch writes them apart
    assert all("pending" not in orjson.loads(v) for k, v in old.items() if "|key|" in k)
    assert formats.key_key(core.tag, "t2") not in old  # nothing left to store under it

    again = StoredCore("tickets", 0, ctx, old)
    again.restore_from(old)
    assert _pending(again) == _pending(core)


def _as_before(event: Event) -> dict[str, object]:
    """A pending event as keys held it before: every field by name, None fields left out."""
    return {name: v for name, v in event._asdict().items() if v is not None}


def _pending(core: PartitionCore) -> dict[str, list[str]]:
    return {k: [e.event_id for e in s.pending] for k, s in core.keys.items() if s.pending}


def _stored_events(store: DictStore, key: str) -> list[Event]:
    return formats.decode_accepted(orjson.loads(store[key]))


def test_accepted_events_are_read_by_their_field_names() -> None:
    events = [ticket("created", "t1", T0 + MIN), ticket("agent_reply", "t1", T0 + 2 * MIN)]
    stored = orjson.loads(formats.encode_accepted(events))
    assert stored["format"] == formats.ACCEPTED_FORMAT
    assert formats.decode_accepted(stored) == events
    # Fields in another order (a later version may add or move some): read by name.
    stored["fields"] = stored["fields"][::-1]
    stored["events"] = [row[::-1] for row in stored["events"]]
    assert formats.decode_accepted(stored) == events
