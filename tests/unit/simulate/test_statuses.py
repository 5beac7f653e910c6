"""Status moves of simulated tickets: well-formed, from their own random stream, agreeing with
the independent reference, and with network as the desk's vendor bottleneck."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from pipeline.core.lifecycle import TicketState, apply_ticket_event
from pipeline.core.observations import STATUS_VISITS
from pipeline.schemas.decode import decode_ticket
from pipeline.simulate import SimConfig, SimRecord, generate
from pipeline.simulate.statuses import StatusPlanner
from tests import reference as ref

START = datetime(2026, 3, 2, tzinfo=UTC)
WAITS = {"awaiting_vendor", "awaiting_other"}


def config(statuses: bool, **overrides: Any) -> SimConfig:
    values: dict[str, Any] = {
        "seed": 21,
        "start": START,
        "duration": timedelta(days=2),
        "tickets_per_hour": 60,
        "drain": True,
        "statuses": statuses,
    }
    return SimConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def with_statuses() -> list[SimRecord]:
    return list(generate(config(True)))


def lifecycles(records: list[SimRecord]) -> dict[str, list[dict[str, Any]]]:
    tickets: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.topic == "tickets":
            event = json.loads(r.value)
            tickets[event["ticket_id"]].append(event)
    return tickets


def test_the_other_events_keep_their_content_and_move_only_by_the_waits(
    with_statuses: list[SimRecord],
) -> None:
    plain = lifecycles(list(generate(config(False))))
    moved = lifecycles(with_statuses)
    assert plain.keys() == moved.keys()
    shifted = 0
    for ticket_id, events in plain.items():
        others = [e for e in moved[ticket_id] if e["type"] != "status_changed"]
        # The same events in the same order, the same fields but for the time and the id.
        strip = ("ts", "event_id")
        assert [{k: v for k, v in e.items() if k not in strip} for e in events] == [
            {k: v for k, v in e.items() if k not in strip} for e in others
        ], ticket_id
        pairs = zip(events, others, strict=True)
        delays = [ref.epoch(b["ts"]) - ref.epoch(a["ts"]) for a, b in pairs]
        assert delays == sorted(delays) and delays[0] == 0, ticket_id  # waits only add time
        statuses = {e["status"] for e in moved[ticket_id] if e["type"] == "status_changed"}
        assert (delays[-1] > 0) == bool(statuses & WAITS), ticket_id
        shifted += delays[-1] > 0
    assert 0.02 * len(plain) < shifted < 0.2 * len(plain)


def test_every_ticket_moves_from_new_through_the_queue_into_progress_before_it_resolves(
    with_statuses: list[SimRecord],
) -> None:
    for ticket_id, events in lifecycles(with_statuses).items():
        moves = [(e["ts"], e["status"]) for e in events if e["type"] == "status_changed"]
        statuses = [status for _, status in moves]
        assert statuses[:2] == ["new", "queued"], ticket_id
        assert statuses[2] in ("in_progress", "awaiting_customer"), ticket_id
        assert all(a != b for a, b in pairwise(statuses)), ticket_id  # real moves only
        for wait, after in pairwise(statuses):
            if wait in WAITS:
                assert after == "in_progress", ticket_id
        resolved = next(e["ts"] for e in events if e["type"] == "resolved")
        assert all(ts <= resolved for ts, _ in moves), ticket_id
        assert statuses[-1] == "in_progress", f"{ticket_id}: resolved while waiting"


def test_the_pipeline_and_the_reference_agree_on_the_time_in_each_status(
    with_statuses: list[SimRecord],
) -> None:
    events, _ = ref.counted_events(
        (ref.Produced(r.topic, r.key, r.value, r.expect) for r in with_statuses), 1, 1e12
    )
    want: dict[str, list[float]] = defaultdict(list)
    for obs in ref.observations(events):
        if obs.kind.startswith("time_in:"):
            want[obs.kind.removeprefix("time_in:")].append(obs.values["seconds"])
    got: dict[str, list[float]] = defaultdict(list)
    per_ticket = defaultdict(list)
    for r in with_statuses:
        if r.topic == "tickets":
            event = decode_ticket(r.value)
            per_ticket[event.key].append(event)
    kinds = {kind: status for status, kind in STATUS_VISITS.items()}
    for history in per_ticket.values():
        state: TicketState | None = None
        for event in sorted(history, key=lambda e: e.sort_key):
            state, observations = apply_ticket_event(state, event)
            for obs in observations:
                if obs.kind in kinds:
                    got[kinds[obs.kind]].append(obs.value)
    assert set(want) == set(STATUS_VISITS)  # every status of the vocabulary is visited
    assert {s: sorted(v) for s, v in got.items()} == {s: sorted(v) for s, v in want.items()}


def test_network_waits_on_vendors_most(with_statuses: list[SimRecord]) -> None:
    vendor: dict[str, float] = defaultdict(float)
    resolved: dict[str, int] = defaultdict(int)
    for events in lifecycles(with_statuses).values():
        service = events[0]["service"]
        resolved[service] += 1
        since = None
        for e in events:
            if e["type"] == "status_changed" and e["status"] == "awaiting_vendor":
                since = ref.epoch(e["ts"])
            elif since is not None and e["type"] == "status_changed":
                vendor[service] += ref.epoch(e["ts"]) - since
                since = None
    per_ticket = {s: vendor[s] / resolved[s] for s in resolved}
    ranked = sorted(per_ticket, key=lambda s: -per_ticket[s])
    assert ranked[0] == "network"
    assert per_ticket["network"] > 3 * per_ticket[ranked[1]]


def test_a_wait_starts_inside_a_stretch_in_progress_and_holds_everything_after_it() -> None:
    created = [
        (0, "created", b""),
        (10, "assigned", b""),
        (20, "agent_reply", b""),
        (30, "customer_reply", b""),
        (40, "resolved", b""),
        (100, "closed", b""),
    ]

    class Always(random.Random):
        def random(self) -> float:
            return 0.0  # every chance taken, the first second of the stretches chosen

        def gauss(self, mu: float, sigma: float) -> float:
            return mu

    planner = StatusPlanner(Always())
    out = planner.add_moves(list(created), "email", 1000.0, False, 1.0)
    statuses = [(ts, m.decode()) for ts, kind, m in out if kind == "status_changed"]
    # Customer wait 20-30; the vendor wait (median 0.15 x 1000 s + 60 s = 210 s) starts in the
    # first second of progress after it (31), the other wait (0.1 x 1000 + 60 = 160 s) in the
    # first second of progress then (32), and everything later moves by both.
    assert statuses == [
        (0, ',"status":"new"'),
        (10, ',"status":"queued"'),
        (20, ',"status":"awaiting_customer"'),
        (30, ',"status":"in_progress"'),
        (31, ',"status":"awaiting_vendor"'),
        (241, ',"status":"in_progress"'),
        (242, ',"status":"awaiting_other"'),
        (402, ',"status":"in_progress"'),
    ]
    lifecycle = [(ts, kind) for ts, kind, _ in out if kind != "status_changed"]
    assert lifecycle == [
        (0, "created"),
        (10, "assigned"),
        (20, "agent_reply"),
        (30, "customer_reply"),
        (410, "resolved"),
        (470, "closed"),
    ]
