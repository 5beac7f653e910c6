"""The fast decoding path against the contract's models: whatever it accepts, the models accept
with the same values; whatever the models refuse, it leaves to them."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.schemas.decode import DecodeError, survey_by_model, ticket_by_model
from pipeline.schemas.fast import fast_survey, fast_ticket
from pipeline.simulate import SimConfig, generate

ODD_VALUES: list[Any] = [
    None,
    "",
    "x",
    "x" * 200,
    "x" * 201,
    "é" * 200,
    True,
    False,
    0,
    1,
    -1,
    1.5,
    -0.0,
    86_400,
    86_400.5,
    1_000_000,
    1e300,
    "1",
    [],
    {},
    "P2",
    "p2",
    "chat",
    "CHAT",
    "nps",
    "csat",
    "resolved",
    "created",
    "status_changed",
    "awaiting_vendor",
    "Awaiting Vendor",
    2**63,
    "2026-01-05T00:00:00Z",
    "2026-01-05T00:00:00z",
    "2026-01-05 00:00:00Z",
    "2026-01-05T00:00:00",
    "2026-01-05T00:00:00.1234567Z",
    "2026-01-05T00:00:00.5+05:30",
    "2026-01-05T00:00:60Z",
    "2026-02-30T00:00:00Z",
    "2026-01-05T00:00:00+24:00",
    "2026-01-05T00:00:00-23:59",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999999Z",
    "2026-01-05",
    1767571200,
]
FIELDS = [
    "schema_version",
    "event_id",
    "ts",
    "type",
    "kind",
    "ticket_id",
    "survey_id",
    "service",
    "team",
    "channel",
    "priority",
    "handle_seconds",
    "cost",
    "score",
    "agent_id",
    "customer_id",
    "comment",
    "status",
    "status_detail",
]


def corpus(seed: int) -> list[tuple[str, bytes]]:
    config = SimConfig(
        seed=seed,
        start=datetime(2026, 1, 5, tzinfo=UTC),
        duration=None,
        n_events=1500,
        tickets_per_hour=300,
        invalid_fraction=0.05,
    )
    records = list(generate(config))
    rng = random.Random(seed)
    out = [(r.topic, r.value) for r in records]
    for r in records:
        try:
            data = json.loads(r.value)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        for _ in range(4):
            mutated = dict(data)
            field = rng.choice(FIELDS)
            if rng.random() < 0.15:
                mutated.pop(field, None)
            else:
                mutated[field] = rng.choice(ODD_VALUES)
            out.append((r.topic, json.dumps(mutated).encode()))
    # Forms JSON dumps never writes: duplicate members, NaN, numbers beyond a double.
    out.append(("tickets", records[0].value[:-1] + b',"handle_seconds":NaN}'))
    out.append(("tickets", records[0].value[:-1] + b',"cost":1e400}'))
    out.append(("tickets", records[0].value[:-1] + b',"x_nan":NaN}'))
    out.append(("tickets", records[0].value[:-1] + b',"ticket_id":"other"}'))
    # Status moves, valid and not.
    model = json.loads(records[0].value)
    for status in ("queued", "awaiting_customer", "waiting", None, 3):
        for detail in ("Awaiting User Info", None, "", 7):
            move = {**model, "type": "status_changed", "status": status, "status_detail": detail}
            out.append(("tickets", json.dumps(move).encode()))
    # Members the contract does not name, which both skip: at the edges of what they parse.
    for member in ("9" * 4300, "9" * 4301, "1e400", "NaN", '"\\ud800"', '"\\u0000"', "01"):
        out.append(("tickets", records[0].value[:-1] + b',"x":' + member.encode() + b"}"))
    for depth in (1, 100, 300, 2000):
        nested = b"[" * depth + b"]" * depth
        out.append(("tickets", records[0].value[:-1] + b',"x":' + nested + b"}"))
    for odd in (b"\xef\xbb\xbf", b"\x00", b"\t", b"\\ud800", b"\\u0000", b"\xc3\xa9"):
        out.append(("tickets", records[0].value.replace(b'"ticket_id":"', b'"ticket_id":"' + odd)))
        out.append(("tickets", odd + records[0].value))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_path_agrees_with_the_models(seed: int) -> None:
    fast_taken = refused = 0
    for topic, raw in corpus(seed):
        fast, model = (
            (fast_ticket, ticket_by_model) if topic == "tickets" else (fast_survey, survey_by_model)
        )
        quick = fast(raw, 7)
        try:
            expected = model(raw, 7)
        except DecodeError:
            assert quick is None, raw
            refused += 1
            continue
        if quick is not None:
            fast_taken += 1
            assert quick == expected, raw
            # Floats compare equal across int/float: the types must match too.
            assert [type(v) for v in quick] == [type(v) for v in expected], raw
    # The corpus exercises both sides: most valid records take the fast path.
    assert fast_taken > 1000
    assert refused > 500


def test_valid_simulated_records_all_take_the_fast_path() -> None:
    config = SimConfig(seed=5, start=datetime(2026, 1, 5, tzinfo=UTC), duration=None, n_events=800)
    for r in generate(config):
        fast = fast_ticket if r.topic == "tickets" else fast_survey
        assert fast(r.value, 0) is not None, r.value


# Timestamps of the common form and near it: valid days and times of day, days that do not
# exist, times out of range, other digits, other lengths.
TIMESTAMPS = [
    f"{day}T{time}{zone}"
    for day in (
        "2026-01-05",
        "2024-02-29",
        "2026-02-29",
        "2026-13-01",
        "2026-00-10",
        "0001-01-01",
        "9999-12-31",
        "1969-12-31",
        "2026-1-05x",
        "\u0662\u0660\u0662\u0666-01-05",
    )
    for time in (
        "00:00:00",
        "23:59:59",
        "12:34:56",
        "24:00:00",
        "23:60:00",
        "23:59:60",
        "\u0661\u0662:00:00",
        "12:34:56.5",
        "1:23:45",
    )
    for zone in ("Z", "z", "+00:00", "-05:30", "")
]


@pytest.mark.parametrize("order", ["as listed", "reversed", "shuffled"])
def test_timestamps_agree_with_the_models_whatever_was_read_before(order: str) -> None:
    # The fast path remembers the days of timestamps it read: whatever came before, a
    # timestamp is taken with the models' value or left to them.
    timestamps = list(TIMESTAMPS)
    if order == "reversed":
        timestamps.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(timestamps)
    record = json.loads(next(r for r in generate(SimConfig(seed=1, n_events=5))).value)
    taken = 0
    for ts in timestamps:
        raw = json.dumps({**record, "ts": ts}).encode()
        quick = fast_ticket(raw, 0)
        try:
            expected = ticket_by_model(raw, 0)
        except DecodeError:
            assert quick is None, ts
            continue
        if quick is not None:
            taken += 1
            assert quick == expected and type(quick.ts) is float, ts
    assert taken >= 5 * 3 * 3  # valid days x whole-second times x zones the fast path reads
