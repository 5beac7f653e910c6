"""The simulator's model: contract-valid events, exact DLQ reasons, well-formed lifecycles,
bounded disorder, really-late records, reproducibility and a measurable injected regression."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from pipeline.core.events import Event
from pipeline.core.lifecycle import TicketState, apply_ticket_event
from pipeline.core.observations import ObsKind
from pipeline.schemas.decode import DecodeError, decode_survey, decode_ticket
from pipeline.simulate import Regression, SimConfig, SimRecord, generate, parse_time, teams_for
from pipeline.simulate.cli import simulate

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, 00:00 UTC
LATENESS_S = 600  # the pipeline's default allowed lateness
SLA_S = {"P1": 4 * 3600, "P2": 8 * 3600, "P3": 24 * 3600, "P4": 72 * 3600}
DLQ_REASONS = {
    "malformed_json",
    "invalid_encoding",
    "not_an_object",
    "unsupported_schema_version",
    "unknown_type",
    "missing_field",
    "invalid_field",
}
DECODERS: dict[str, Callable[[bytes], Event]] = {"tickets": decode_ticket, "surveys": decode_survey}


def config(**overrides: Any) -> SimConfig:
    values: dict[str, Any] = {
        "seed": 7,
        "start": START,
        "duration": timedelta(hours=12),
        "tickets_per_hour": 200,
    }
    values.update(overrides)
    return SimConfig(**values)


def reason_of(record: SimRecord) -> str | None:
    try:
        DECODERS[record.topic](record.value)
    except DecodeError as exc:
        return exc.reason
    return None


def by_ticket(records: Iterable[SimRecord]) -> dict[str, list[dict[str, Any]]]:
    """Valid ticket events per ticket, in delivery order."""
    tickets: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.topic == "tickets" and record.expect is None:
            event = json.loads(record.value)
            tickets[event["ticket_id"]].append(event)
    return tickets


def ts_of(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()


def first_resolution_fcr(events: list[dict[str, Any]]) -> bool | None:
    """SPEC fcr_rate, written out independently: None when the ticket has no resolution."""
    replies = reassigned = 0
    escalated = False
    for event in events:
        kind = event["type"]
        if kind == "agent_reply":
            replies += 1
        elif kind == "reassigned":
            reassigned += 1
        elif kind == "escalated":
            escalated = True
        elif kind == "resolved":
            return replies <= 1 and reassigned == 0 and not escalated
    return None


@pytest.fixture(scope="module")
def noisy() -> list[SimRecord]:
    """Every kind of trouble at once: disorder, late surveys, invalid records."""
    cfg = config(disorder_seconds=240, late_fraction=0.1, invalid_fraction=0.05)
    return list(generate(cfg))


@pytest.fixture(scope="module")
def drained() -> list[SimRecord]:
    """In order, no trouble, every lifecycle run to its close."""
    return list(generate(config(duration=timedelta(hours=24), drain=True)))


# -- contract -------------------------------------------------------------------------------------


def test_valid_records_validate_against_the_contract(noisy: list[SimRecord]) -> None:
    valid = [r for r in noisy if r.expect in (None, "late")]
    assert len(valid) > 5000
    event_ids = set()
    for record in valid:
        event = DECODERS[record.topic](record.value)
        # The record key is what the pipeline keys by; the record timestamp is the event time.
        assert event.key == record.key.decode()
        assert event.ts * 1000 == record.ts_ms
        assert event.is_survey == (record.topic == "surveys")
        event_ids.add(event.event_id)
    assert len(event_ids) == len(valid), "event ids must be unique"
    assert {r.topic for r in valid} == {"tickets", "surveys"}


def test_invalid_records_fail_with_exactly_their_reason(noisy: list[SimRecord]) -> None:
    invalid = [r for r in noisy if r.expect not in (None, "late")]
    assert {r.expect for r in invalid} == DLQ_REASONS
    for record in invalid:
        assert reason_of(record) == record.expect, record
    # Both topics get bad input, and the invalid share is what was asked for.
    assert {r.topic for r in invalid} == {"tickets", "surveys"}
    assert len(invalid) / len(noisy) == pytest.approx(0.05, abs=0.01)


def test_invalid_records_never_shadow_valid_ones(noisy: list[SimRecord]) -> None:
    valid_keys = {r.key for r in noisy if r.expect in (None, "late")}
    valid_ids = {json.loads(r.value)["event_id"] for r in noisy if r.expect in (None, "late")}
    invalid = [r for r in noisy if r.expect not in (None, "late")]
    assert not valid_keys & {r.key for r in invalid}
    for record in invalid:
        assert record.key.decode() not in valid_ids
        # Its own ids throughout: no valid ticket or survey id is reused inside.
        assert b'"T-' not in record.value and b'"S-' not in record.value
    assert len({r.key for r in invalid}) == len(invalid)


def test_timestamps_are_rfc3339_with_offset(drained: list[SimRecord]) -> None:
    for record in islice(drained, 2000):
        ts = json.loads(record.value)["ts"]
        assert ts.endswith("Z") and datetime.fromisoformat(ts).tzinfo is not None


# -- reproducibility ------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    cfg = config(
        duration=timedelta(hours=3), disorder_seconds=60, invalid_fraction=0.02, late_fraction=0.1
    )
    first = list(generate(cfg))
    assert list(generate(cfg)) == first
    other = list(
        generate(
            config(
                seed=8,
                duration=timedelta(hours=3),
                disorder_seconds=60,
                invalid_fraction=0.02,
                late_fraction=0.1,
            )
        )
    )
    assert [r.value for r in other] != [r.value for r in first]
    # Ids of different runs do not collide, so two simulations can share the topics.
    assert not {r.key for r in first} & {r.key for r in other}


def test_bad_input_does_not_change_the_valid_stream() -> None:
    clean = list(generate(config(duration=timedelta(hours=4))))
    noisy = [r for r in generate(config(duration=timedelta(hours=4), invalid_fraction=0.1))]
    assert [r for r in noisy if r.expect is None] == clean
    assert len(noisy) > len(clean)


# -- lifecycles -----------------------------------------------------------------------------------


def test_stream_is_in_event_time_order_without_disorder(drained: list[SimRecord]) -> None:
    stamps = [r.ts_ms for r in drained]
    assert stamps == sorted(stamps)


def test_lifecycles_are_well_formed(drained: list[SimRecord]) -> None:
    tickets = by_ticket(drained)
    assert len(tickets) > 3000
    for ticket_id, events in tickets.items():
        times = [ts_of(e) for e in events]
        # Strictly increasing: same-second events would be reordered by the pipeline's tie rule.
        assert all(a < b for a, b in pairwise(times)), ticket_id
        assert events[0]["type"] == "created"
        assert events[-1]["type"] == "closed", "drain runs every lifecycle to its close"
        assert [e["type"] for e in events].count("created") == 1
        is_open = True
        for event in events[1:-1]:
            if event["type"] == "resolved":
                assert is_open, f"{ticket_id}: resolved while not open"
                is_open = False
            elif event["type"] == "reopened":
                assert not is_open, f"{ticket_id}: reopened while open"
                is_open = True
        assert not is_open, f"{ticket_id}: closed without being resolved"


def test_the_pipelines_lifecycle_accepts_every_ticket_and_agrees_on_fcr(
    drained: list[SimRecord],
) -> None:
    # The core's own state machine, fed each ticket's events in the pipeline's order: a
    # simulator that broke its rules (resolved twice, reopened while open, ...) raises here.
    per_ticket: dict[str, list[Event]] = defaultdict(list)
    for record in drained:
        if record.topic == "tickets":
            event = decode_ticket(record.value)
            per_ticket[event.key].append(event)
    tickets = by_ticket(drained)
    for ticket_id, events in islice(per_ticket.items(), 3000):
        state: TicketState | None = None
        first_fcr = None
        for event in sorted(events, key=lambda e: e.sort_key):
            state, observations = apply_ticket_event(state, event)
            for obs in observations:
                if obs.kind == ObsKind.RESOLVED and obs.first_resolution:
                    first_fcr = obs.fcr
        assert state is None, f"{ticket_id} is closed at the end"
        assert first_fcr == first_resolution_fcr(tickets[ticket_id])


def test_created_carries_every_dimension_and_updates_are_consistent(
    drained: list[SimRecord],
) -> None:
    for events in islice(by_ticket(drained).values(), 2000):
        created = events[0]
        teams = teams_for(created["service"])
        assert created["team"] in teams
        assert created["priority"] in SLA_S
        assert created["customer_id"]
        for event in events[1:]:
            assert "service" not in event and "priority" not in event
            if event["type"] in ("reassigned", "escalated"):
                assert event["team"] in teams and event["agent_id"].startswith(event["team"])
            if event["type"] == "agent_reply":
                assert event["handle_seconds"] >= 30 and event.get("cost", 0) >= 0


def test_surveys_follow_a_resolution_and_carry_the_tickets_dimensions(
    drained: list[SimRecord],
) -> None:
    tickets = by_ticket(drained)
    surveys = [json.loads(r.value) for r in drained if r.topic == "surveys"]
    tracked = [s for s in surveys if "ticket_id" in s]
    own = [s for s in surveys if "ticket_id" not in s]
    assert tracked and own
    for survey in tracked:
        events = tickets[survey["ticket_id"]]
        team = events[0]["team"]
        for event in events:
            team = event.get("team", team)
        assert (survey["service"], survey["team"], survey["channel"]) == (
            events[0]["service"],
            team,
            events[0]["channel"],
        )
        first_resolved = min(ts_of(e) for e in events if e["type"] == "resolved")
        assert ts_of(survey) > first_resolved
    for survey in own:
        assert survey["survey_id"] == survey["event_id"]
    keys = {r.key.decode() for r in drained if r.topic == "surveys"}
    assert {s["survey_id"] for s in own} <= keys


def test_traffic_mix_is_realistic(drained: list[SimRecord]) -> None:
    tickets = by_ticket(drained)
    created = [events[0] for events in tickets.values()]
    n = len(created)
    channels = Counter(c["channel"] for c in created)
    priorities = Counter(c["priority"] for c in created)
    assert set(channels) == {"phone", "email", "chat", "web", "self_service", "social"}
    assert 0.10 <= channels["self_service"] / n <= 0.15
    assert 0.015 <= priorities["P1"] / n <= 0.05
    assert priorities["P4"] == max(priorities.values())

    fcr = [first_resolution_fcr(events) for events in tickets.values()]
    assert 0.70 <= sum(1 for f in fcr if f) / len(fcr) <= 0.80

    resolved = [e for events in tickets.values() for e in events if e["type"] == "resolved"]
    reopened = [e for events in tickets.values() for e in events if e["type"] == "reopened"]
    assert 0.04 <= len(reopened) / n <= 0.09

    within_sla = 0
    for events in tickets.values():
        created_at, priority = ts_of(events[0]), events[0]["priority"]
        first = next(e for e in events if e["type"] == "resolved")
        within_sla += ts_of(first) - created_at <= SLA_S[priority]
    assert 0.75 <= within_sla / n <= 0.95, "mostly within SLA, but not always"

    surveys = Counter(
        json.loads(r.value)["kind"]
        for r in drained
        if r.topic == "surveys" and b'"ticket_id"' in r.value
    )
    assert surveys["csat"] / n == pytest.approx(0.30, abs=0.03)
    assert surveys["nps"] / n == pytest.approx(0.15, abs=0.03)
    assert len(resolved) > n  # reopened tickets are resolved again


def test_arrivals_follow_the_daily_profile(drained: list[SimRecord]) -> None:
    hours = Counter(
        datetime.fromisoformat(events[0]["ts"]).hour for events in by_ticket(drained).values()
    )
    office = sum(hours[h] for h in range(9, 17)) / 8
    night = sum(hours[h] for h in range(0, 6)) / 6
    assert office > 4 * night
    # tickets_per_hour is the daily mean.
    assert sum(hours.values()) / 24 == pytest.approx(200, rel=0.1)


# -- delivery -------------------------------------------------------------------------------------


def test_disorder_is_bounded_and_real(noisy: list[SimRecord]) -> None:
    max_ms = -1
    worst_lag = 0
    inversions = 0
    for record in noisy:
        if record.expect is not None:
            continue
        if record.ts_ms < max_ms:
            inversions += 1
        worst_lag = max(worst_lag, max_ms - record.ts_ms)
        max_ms = max(max_ms, record.ts_ms)
    assert worst_lag <= 240_000
    assert worst_lag > 120_000, "disorder should use most of its budget"
    assert inversions > 1000


def test_disorder_only_permutes() -> None:
    ordered = list(generate(config(duration=timedelta(hours=3))))
    shuffled = list(generate(config(duration=timedelta(hours=3), disorder_seconds=300)))
    assert shuffled != ordered
    assert sorted(shuffled) == sorted(ordered)


def test_late_records_are_really_late_and_only_surveys(noisy: list[SimRecord]) -> None:
    max_ms = -1
    late = 0
    for record in noisy:
        if record.expect == "late":
            late += 1
            assert record.topic == "surveys"
            assert max_ms - record.ts_ms > 2 * LATENESS_S * 1000
            assert reason_of(record) is None  # valid in itself: only its timing is wrong
        elif record.expect is None:
            max_ms = max(max_ms, record.ts_ms)
    surveys = sum(1 for r in noisy if r.topic == "surveys" and r.expect in (None, "late"))
    assert late / surveys == pytest.approx(0.1, abs=0.04)


def test_no_valid_ticket_event_is_ever_held_back_as_late(noisy: list[SimRecord]) -> None:
    # Lifecycles stay complete: ticket events only ever see bounded disorder.
    assert not [r for r in noisy if r.topic == "tickets" and r.expect == "late"]


# -- run length -----------------------------------------------------------------------------------


def test_duration_cuts_the_stream_and_drain_finishes_it() -> None:
    cfg = config(duration=timedelta(hours=2))
    end_ms = int(cfg.start.timestamp() * 1000) + 2 * 3600 * 1000
    cut = list(generate(cfg))
    assert cut and max(r.ts_ms for r in cut) < end_ms
    drained = list(generate(config(duration=timedelta(hours=2), drain=True)))
    assert max(r.ts_ms for r in drained) > end_ms
    created = [json.loads(r.value) for r in drained if b'"type":"created"' in r.value]
    assert max(ts_of(c) for c in created) * 1000 < end_ms
    assert drained[: len(cut)] == cut


def test_n_events_caps_an_endless_stream_lazily() -> None:
    # An endless run at a high rate: only a lazy generator returns here.
    records = list(generate(config(duration=None, n_events=5000, tickets_per_hour=1e6)))
    assert len(records) == 5000


# -- regressions ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regressed() -> list[SimRecord]:
    regression = Regression(
        "network", start=START + timedelta(hours=24), end=START + timedelta(hours=48), fcr_rate=0.5
    )
    cfg = config(
        duration=timedelta(hours=72),
        tickets_per_hour=300,
        drain=True,
        regressions=(regression,),
    )
    return list(generate(cfg))


def fcr_shares(records: list[SimRecord]) -> dict[tuple[str, str], tuple[float, int]]:
    """FCR share per (service group, period of ticket creation), with the sample size."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for events in by_ticket(records).values():
        fcr = first_resolution_fcr(events)
        if fcr is None:
            continue
        created = ts_of(events[0])
        day = int((created - START.timestamp()) // 86400)
        period = ("before", "during", "after")[day]
        group = "network" if events[0]["service"] == "network" else "others"
        counts[(group, period)][0] += fcr
        counts[(group, period)][1] += 1
    return {key: (hits / n, n) for key, (hits, n) in counts.items()}


def test_regression_lowers_fcr_of_its_service_in_its_interval(
    regressed: list[SimRecord],
) -> None:
    shares = fcr_shares(regressed)
    # About 1100 network tickets per day: the standard error of a share is about 0.015.
    assert shares[("network", "before")][1] > 900
    assert shares[("network", "before")][0] == pytest.approx(0.75, abs=0.05)
    assert shares[("network", "during")][0] == pytest.approx(0.50, abs=0.05)
    assert shares[("network", "after")][0] == pytest.approx(0.75, abs=0.05)
    for period in ("before", "during", "after"):
        assert shares[("others", period)][0] == pytest.approx(0.75, abs=0.03)


def test_regression_resolution_factor_slows_only_its_service() -> None:
    regression = Regression("email", start=START + timedelta(hours=12), resolution_factor=3.0)
    records = list(
        generate(
            config(
                duration=timedelta(hours=24),
                tickets_per_hour=300,
                drain=True,
                regressions=(regression,),
            )
        )
    )

    def median_hours(service: str, during: bool) -> float:
        values = []
        for events in by_ticket(records).values():
            created = ts_of(events[0])
            if events[0]["service"] != service or (created >= regression.start.timestamp()) != (
                during
            ):
                continue
            resolved = next(e for e in events if e["type"] == "resolved")
            values.append(ts_of(resolved) - created)
        values.sort()
        return values[len(values) // 2] / 3600

    assert median_hours("email", True) / median_hours("email", False) == pytest.approx(3, rel=0.3)
    assert median_hours("payroll", True) / median_hours("payroll", False) == pytest.approx(
        1, rel=0.3
    )


def test_regression_parse() -> None:
    parsed = Regression.parse("service=network,start=+3h,fcr=0.5,end=+5h", START)
    assert parsed == Regression(
        "network", START + timedelta(hours=3), START + timedelta(hours=5), 0.5, None
    )
    absolute = Regression.parse(
        "service=email, start=2026-03-02T06:00:00+01:00, resolution_factor=2", START
    )
    assert absolute.start == datetime(2026, 3, 2, 5, tzinfo=UTC)
    assert absolute.resolution_factor == 2 and absolute.fcr_rate is None
    assert Regression.parse("service=email,fcr=0.4", START).start == START
    for bad in (
        "service=email",
        "start=+1h,fcr=0.5",
        "service=email,fcr=1.5",
        "service=email,fcr=x",
        "service=email,fcr=0.5,colour=red",
        "service=email,start=+2h,end=+1h,fcr=0.5",
    ):
        with pytest.raises(ValueError):
            Regression.parse(bad, START)
    assert parse_time("2026-03-02T10:00:00") == datetime(2026, 3, 2, 10, tzinfo=UTC)


# -- the command ----------------------------------------------------------------------------------


def test_cli_dry_run_prints_the_models_records() -> None:
    args = [
        "--dry-run",
        "--seed",
        "3",
        "--start",
        "2026-03-02T08:00:00Z",
        "--duration",
        "1h",
        "--invalid-fraction",
        "0.05",
        "--regression",
        "service=network,start=+30m,fcr=0.2",
    ]
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    expected = list(
        generate(
            SimConfig(
                seed=3,
                start=datetime(2026, 3, 2, 8, tzinfo=UTC),
                duration=timedelta(hours=1),
                invalid_fraction=0.05,
                regressions=(
                    Regression("network", datetime(2026, 3, 2, 8, 30, tzinfo=UTC), fcr_rate=0.2),
                ),
                statuses=True,  # the command's default
            )
        )
    )
    assert len(lines) == len(expected) > 100
    for line, record in zip(lines, expected, strict=True):
        assert line["key"] == record.key.decode() and line["timestamp_ms"] == record.ts_ms
        assert line["expect"] == record.expect
        assert line["topic"] == record.topic
        if "value" in line:
            assert line["value"].encode() == record.value
        else:
            assert record.expect == "invalid_encoding"


def test_cli_rejects_a_regression_for_an_unknown_service() -> None:
    result = CliRunner().invoke(simulate, ["--dry-run", "--regression", "service=nope,fcr=0.5"])
    assert result.exit_code == 2
    assert "unknown service" in result.output


def _open_tickets_at(records: list[SimRecord], marks: list[float]) -> list[int]:
    """Tickets created (or reopened) and not resolved, at each mark (event time, seconds)."""
    ordered = sorted((r for r in records if r.expect is None and r.topic == "tickets"),
                     key=lambda r: r.ts_ms)  # fmt: skip
    open_now: set[str] = set()
    counts = []
    pending = iter(marks)
    mark = next(pending)
    for record in ordered:
        while record.ts_ms / 1000 >= mark:
            counts.append(len(open_now))
            mark = next(pending, math.inf)
        event = orjson.loads(record.value)
        if event["type"] in ("created", "reopened"):
            open_now.add(event["ticket_id"])
        elif event["type"] == "resolved":
            open_now.discard(event["ticket_id"])
    return counts


def test_a_warm_start_keeps_the_backlog_stationary() -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    marks = [start.timestamp() + h * 3600 for h in (0, 24, 48)]
    common: dict[str, Any] = {
        "seed": 4,
        "start": start,
        "duration": timedelta(hours=49),
        "tickets_per_hour": 60,
    }
    cold = _open_tickets_at(list(generate(SimConfig(**common))), marks)
    warm_records = list(generate(SimConfig(**common, warm_start=timedelta(days=7))))
    warm = _open_tickets_at(warm_records, marks)
    # From empty, the backlog is still growing two days in (the slowest resolutions take days).
    assert cold[0] == 0 and cold[2] > cold[1] * 1.1
    # Warm, it starts where it stays: the same day-start backlog, within noise.
    assert warm[0] > 0.9 * cold[2]
    assert max(warm) < 1.15 * min(warm)
    # The tickets brought in by the warm start arrive with their whole lifecycle.
    first: dict[bytes, str] = {}
    for r in warm_records:
        if r.expect is None and r.topic == "tickets":
            first.setdefault(r.key, orjson.loads(r.value)["type"])
    assert set(first.values()) == {"created"}
    assert min(r.ts_ms for r in warm_records) < start.timestamp() * 1000


def test_a_warm_start_is_produced_unpaced_and_pacing_counts_from_the_start() -> None:
    from pipeline.simulate.producer import _Pacer

    start_ms = int(START.timestamp() * 1000)
    pacer = _Pacer(speed=600, max_rate=None, pace_from_ms=start_ms)
    # Days of warm start before --start: no pause at all.
    assert [pacer.delay(start_ms - d * 86_400_000) for d in (3, 2, 1)] == [0.0, 0.0, 0.0]
    # The first paced record sets the clock, with the start as now: one event minute later is
    # a tenth of a wall second (600x) later; ten event minutes, one wall second.
    assert pacer.delay(start_ms + 60_000) == pytest.approx(0.1, abs=0.05)
    assert pacer.delay(start_ms + 600_000) == pytest.approx(1.0, abs=0.05)


def test_a_ramped_regression_comes_in_linearly() -> None:
    ramp = Regression(
        "network", start=START, fcr_rate=0.35, resolution_factor=3.0, ramp=timedelta(hours=48)
    )
    t0 = START.timestamp()
    assert ramp.effect(0.75, 1.0, t0) == pytest.approx((0.75, 1.0))
    assert ramp.effect(0.75, 1.0, t0 + 24 * 3600) == pytest.approx((0.55, 2.0))
    assert ramp.effect(0.75, 1.0, t0 + 72 * 3600) == pytest.approx((0.35, 3.0))
    assert Regression("network", start=START, fcr_rate=0.35).effect(0.75, 1.0, t0) == (0.35, 1.0)
    assert Regression.parse("service=network,fcr=0.35,ramp=2d", START).ramp == timedelta(days=2)
    with pytest.raises(ValueError):
        Regression("network", start=START, fcr_rate=0.35, ramp=timedelta(0))
    # Generated tickets follow it: the FCR of the first two days (fcr_shares calls the days
    # before, during, after) is the ramp at their midpoints, the third is the full change.
    records = generate(
        config(
            duration=timedelta(hours=72),
            tickets_per_hour=300,
            drain=True,
            regressions=(dataclasses.replace(ramp, resolution_factor=None),),
        )
    )
    shares = fcr_shares(list(records))
    assert shares[("network", "before")][0] == pytest.approx(0.65, abs=0.05)
    assert shares[("network", "during")][0] == pytest.approx(0.45, abs=0.05)
    assert shares[("network", "after")][0] == pytest.approx(0.35, abs=0.05)
    assert shares[("others", "during")][0] == pytest.approx(0.75, abs=0.03)
