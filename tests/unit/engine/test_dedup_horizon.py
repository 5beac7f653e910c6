"""Bounded de-duplication: a finished key (closed ticket, survey) keeps its event ids for the
horizon, so a copy redelivered after it left the lifecycle is a duplicate, not a late event; past
the horizon the key is forgotten and a copy is late. Counted twice it never is."""

from __future__ import annotations

import orjson

from pipeline.core.events import Event
from pipeline.core.store import DictStore
from pipeline.engine.partition import Accepted, PartitionCore
from tests.unit.core.factories import HOUR, MIN, T0, context, ticket
from tests.unit.engine.cores import StoredCore


def advance(core: PartitionCore, ts: float, n: int) -> None:
    """Move the watermark with an unrelated ticket and release."""
    assert core.accept(ticket("created", f"other-{n}", ts)) is Accepted.ACCEPTED
    core.release()


def test_a_closed_ticket_is_remembered_for_the_horizon_then_forgotten() -> None:
    store = DictStore()
    core = StoredCore("tickets", 0, context(dedup_horizon=2 * HOUR), store)
    created = ticket("created", "T1", T0)
    closed = ticket("closed", "T1", T0 + 5 * MIN)
    assert core.accept(created) is Accepted.ACCEPTED
    assert core.accept(closed) is Accepted.ACCEPTED
    advance(core, T0 + 30 * MIN, 1)
    state = core.keys["T1"]
    assert state.ticket is None and set(state.done) == {created.event_id, closed.event_id}
    # The ticket left the lifecycle: a redelivered copy is still recognised.
    assert core.accept(created) is Accepted.DUPLICATE
    other = Event(**vars_of(created, team="l2"))  # type: ignore[arg-type]
    assert core.accept(other) is Accepted.CONFLICT
    # Restored from the store (after a crash), the same holds.
    restored = StoredCore("tickets", 0, context(dedup_horizon=2 * HOUR), store)
    restored.restore_from(store)
    assert restored.accept(closed) is Accepted.DUPLICATE
    # Past the horizon the key is gone, from memory and from the store: a copy is late.
    advance(restored, T0 + 3 * HOUR, 2)
    assert "T1" not in restored.keys and "tickets:0|key|T1" not in store
    assert restored.accept(created) is Accepted.LATE


def test_surveys_are_remembered_too() -> None:
    core = StoredCore("surveys", 0, context(), DictStore())
    survey = Event("s1", T0, "csat", "S1", service="email", score=5)
    assert core.accept(survey) is Accepted.ACCEPTED
    advance(core, T0 + HOUR, 1)
    assert core.keys["S1"].finished
    assert core.accept(survey) is Accepted.DUPLICATE


def test_without_a_horizon_a_finished_key_is_dropped_at_once() -> None:
    core = StoredCore("tickets", 0, context(dedup_horizon=0.0), DictStore())
    created, closed = ticket("created", "T1", T0), ticket("closed", "T1", T0 + MIN)
    core.accept(created)
    core.accept(closed)
    advance(core, T0 + HOUR, 1)
    assert "T1" not in core.keys
    assert core.accept(created) is Accepted.LATE


def vars_of(event: Event, **changes: object) -> dict[str, object]:
    names = list(Event._fields)
    values = {name: getattr(event, name) for name in names}
    values.update(changes)
    return values


def test_a_key_with_kept_ids_and_events_still_pending_survives_a_json_store() -> None:
    # Closed, then one more event for the same ticket that is not released yet: the key keeps
    # the closed ticket's ids but has no horizon yet (-inf, which JSON stores as null).
    store = DictStore()
    core = StoredCore("tickets", 0, context(dedup_horizon=2 * HOUR), store)
    assert core.accept(ticket("created", "T1", T0)) is Accepted.ACCEPTED
    assert core.accept(ticket("closed", "T1", T0 + 5 * MIN)) is Accepted.ACCEPTED
    assert core.accept(ticket("reopened", "T1", T0 + 50 * MIN)) is Accepted.ACCEPTED
    core.release()  # the watermark (the reopen, less the lateness) passes the close only
    state = core.keys["T1"]
    assert state.done and state.pending and state.until == float("-inf")
    assert orjson.loads(store["tickets:0|key|T1"])["until"] is None
    restored = StoredCore("tickets", 0, context(dedup_horizon=2 * HOUR), store)
    restored.restore_from(store)
    assert restored.keys["T1"].until == float("-inf")
    assert set(restored.keys["T1"].done) == set(state.done)
