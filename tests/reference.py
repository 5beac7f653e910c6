"""An independent batch computation of the KPI catalogue, for checking the streaming pipeline.

Written the plain way, from the SPEC's words, sharing no code with ``pipeline.core``: read every
record, decide which ones the pipeline must count (valid and not late in its partition), then for
each window and scope recompute every KPI from scratch over the events anchored in it.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka.partitioner import murmur2

LIFECYCLE_ORDER = [
    "created",
    "status_changed",
    "assigned",
    "reassigned",
    "agent_reply",
    "customer_reply",
    "escalated",
    "resolved",
    "reopened",
    "closed",
]
# The status vocabulary (docs/kpis.md, Statuses): one time-in-status KPI each.
STATUSES = (
    "new",
    "queued",
    "in_progress",
    "awaiting_customer",
    "awaiting_vendor",
    "awaiting_other",
)
SLA = {"P1": 4 * 3600, "P2": 8 * 3600, "P3": 24 * 3600, "P4": 72 * 3600}
RATES = {
    "phone": 40.0,
    "email": 30.0,
    "chat": 30.0,
    "web": 30.0,
    "self_service": 0.0,
    "social": 30.0,
}
BREAKDOWNS = {
    "all": (),
    "service": ("service",),
    "service_team": ("service", "team"),
    "service_channel": ("service", "channel"),
    "service_priority": ("service", "priority"),
}


@dataclass(frozen=True)
class Produced:
    topic: str  # logical: tickets or surveys
    key: bytes
    value: bytes
    expect: str | None  # None: valid; else the reason the pipeline must give


def partition_of(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Obs:
    """One anchor event: what happened, when, in which dimensions, with which numbers."""

    kind: str
    ts: float
    dims: dict[str, str | None]
    values: dict[str, Any] = field(default_factory=dict)


def counted_events(
    records: Iterable[Produced], partitions: int, lateness: float
) -> tuple[list[dict[str, Any]], dict[tuple[str, int], float]]:
    """The valid events the pipeline must count, and each partition's highest event time.
    Lateness is judged per input partition, in the order records were produced to it."""
    highest: dict[tuple[str, int], float] = {}
    kept = []
    for r in records:
        if r.expect not in (None, "late"):
            continue
        event = json.loads(r.value)
        ts = epoch(event["ts"])
        tp = (r.topic, partition_of(r.key, partitions))
        top = highest.get(tp, -math.inf)
        late = ts < top - lateness
        assert late == (r.expect == "late"), f"simulator and reference disagree on {event}"
        if not late:
            event["_ts"] = ts
            event["_topic"] = r.topic
            kept.append(event)
            highest[tp] = max(top, ts)
    return kept, highest


def observations(events: list[dict[str, Any]]) -> list[Obs]:  # noqa: C901, PLR0912 (the independent reference: one branch per event type, like the contract)
    """Walk every ticket's history in event-time order (lifecycle order on equal times)."""
    out: list[Obs] = []
    by_ticket: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["_topic"] == "surveys":
            dims = {
                "service": e["service"],
                "team": e.get("team"),
                "channel": e.get("channel"),
                "priority": None,
            }
            out.append(Obs(e["kind"], e["_ts"], dims, {"score": e["score"]}))
        else:
            by_ticket[e["ticket_id"]].append(e)
    for history in by_ticket.values():
        history.sort(key=lambda e: (e["_ts"], LIFECYCLE_ORDER.index(e["type"]), e["event_id"]))
        t: dict[str, Any] = {}
        for e in history:
            for d in ("service", "team", "channel", "priority"):
                if e.get(d) is not None:
                    t[d] = e[d]
            dims = {d: t.get(d) for d in ("service", "team", "channel", "priority")}
            kind, ts = e["type"], e["_ts"]
            if kind == "created":
                t.update(
                    created=ts,
                    replies=0,
                    reassigned=0,
                    escalated=False,
                    resolutions=0,
                    replied=False,
                    open=True,
                    status=None,
                    since=ts,
                )
                out.append(Obs("created", ts, dims))
            elif kind == "status_changed":
                # A visit ends when the open ticket moves into another status.
                if e["status"] != t["status"]:
                    if t["open"] and t["status"] is not None:
                        seconds = ts - t["since"]
                        out.append(Obs(f"time_in:{t['status']}", ts, dims, {"seconds": seconds}))
                    t["status"], t["since"] = e["status"], ts
            elif kind == "agent_reply":
                if not t["replied"]:
                    t["replied"] = True
                    out.append(Obs("first_reply", ts, dims, {"seconds": ts - t["created"]}))
                if t["resolutions"] == 0:
                    t["replies"] += 1
                cost = e.get("cost")
                if cost is None and e.get("handle_seconds") is not None:
                    cost = e["handle_seconds"] / 3600 * RATES[dims["channel"]]
                out.append(Obs("interaction", ts, dims, {"cost": cost}))
            elif kind == "reassigned" and t["resolutions"] == 0:
                t["reassigned"] += 1
            elif kind == "escalated" and not t["escalated"]:
                t["escalated"] = True
                out.append(Obs("first_escalated", ts, dims))
            elif kind == "resolved":
                # ... or when it is resolved.
                if t["status"] is not None:
                    seconds = ts - t["since"]
                    out.append(Obs(f"time_in:{t['status']}", ts, dims, {"seconds": seconds}))
                t["open"] = False
                first = t["resolutions"] == 0
                fcr = first and t["replies"] <= 1 and t["reassigned"] == 0 and not t["escalated"]
                t["resolutions"] += 1
                out.append(
                    Obs(
                        "resolved",
                        ts,
                        dims,
                        {"seconds": ts - t["created"], "first": first, "fcr": fcr},
                    )
                )
            elif kind == "reopened":
                # The status it was resolved in runs again from the reopen.
                t["open"], t["since"] = True, ts
                out.append(Obs("reopened", ts, dims))
    return out


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def kpis(obs: list[Obs]) -> dict[str, tuple[dict[str, float], int]]:
    """KPI name -> (stats, sample size) over one window and scope, straight from the SPEC."""

    def of(kind: str) -> list[Obs]:
        return [o for o in obs if o.kind == kind]

    def ratio(num: float, den: int, scale: float = 1.0) -> tuple[dict[str, float], int]:
        return ({"value": scale * num / den} if den else {}), den

    def times(values: list[float]) -> tuple[dict[str, float], int]:
        if not values:
            return {}, 0
        return {
            "mean": sum(values) / len(values),
            "p50": exact_quantile(values, 0.5),
            "p90": exact_quantile(values, 0.9),
        }, len(values)

    created, resolved, csat, nps = of("created"), of("resolved"), of("csat"), of("nps")
    first_res = [o for o in resolved if o.values["first"]]
    costs = [o.values["cost"] for o in of("interaction") if o.values["cost"] is not None]
    return {
        "tickets_created": ({"value": float(len(created))}, len(created)),
        "tickets_resolved": ({"value": float(len(resolved))}, len(resolved)),
        "first_response_time": times([o.values["seconds"] for o in of("first_reply")]),
        "resolution_time": times([o.values["seconds"] for o in resolved]),
        "fcr_rate": ratio(sum(o.values["fcr"] for o in first_res), len(first_res)),
        "reopen_rate": ratio(len(of("reopened")), len(resolved)),
        "escalation_rate": ratio(len(of("first_escalated")), len(created)),
        "sla_compliance": ratio(
            sum(o.values["seconds"] <= SLA[o.dims["priority"] or ""] for o in resolved),
            len(resolved),
        ),
        "csat": ratio(sum(o.values["score"] >= 4 for o in csat), len(csat)),
        "csat_mean": ratio(sum(o.values["score"] for o in csat), len(csat)),
        "nps": ratio(
            sum(o.values["score"] >= 9 for o in nps) - sum(o.values["score"] <= 6 for o in nps),
            len(nps),
            100.0,
        ),
        "cost_per_interaction": ratio(sum(costs), len(costs)),
        "self_service_rate": ratio(
            sum(o.dims["channel"] == "self_service" for o in resolved), len(resolved)
        ),
        **{
            f"time_in_status_{status}": times(
                [o.values["seconds"] for o in of(f"time_in:{status}")]
            )
            for status in STATUSES
        },
    }


def scope_key(breakdown: str, dims: dict[str, str | None]) -> tuple[str, ...] | None:
    values = [dims[d] for d in BREAKDOWNS[breakdown]]
    if any(v is None for v in values):
        return None
    return (breakdown, *[str(v) for v in values])


def closed_windows(
    obs: list[Obs], size: int, step: int, frontier: float, breakdowns: Iterable[str]
) -> dict[tuple[int, tuple[str, ...]], dict[str, tuple[dict[str, float], int]]]:
    """(window end, scope) -> KPIs, for every window ending at or before ``frontier`` in which
    the scope has at least one observation."""
    grouped: dict[tuple[int, tuple[str, ...]], list[Obs]] = defaultdict(list)
    for o in obs:
        first_end = (math.floor(o.ts / step) + 1) * step
        for end in range(first_end, first_end + size, step):
            if end > frontier:
                break
            if end - size <= o.ts < end:
                for b in breakdowns:
                    key = scope_key(b, o.dims)
                    if key is not None:
                        grouped[(end, key)].append(o)
    return {k: kpis(v) for k, v in grouped.items()}


def frontier(highest: dict[tuple[str, int], float], lateness: float, tick: float) -> float:
    return min(math.floor((ts - lateness) / tick) * tick for ts in highest.values())


def backlog(  # noqa: C901 (the independent reference, written plainly on purpose)
    events: list[dict[str, Any]],
    partitions: int,
    highest: dict[tuple[str, int], float],
    lateness: float,
    tick: float,
    breakdowns: Iterable[str],
) -> dict[tuple[str, ...], int]:
    """Open tickets per scope once each partition has applied the events before its released
    progress: created or reopened and not yet resolved or closed, in the ticket's current
    dimensions."""
    released = {tp: math.floor((ts - lateness) / tick) * tick for tp, ts in highest.items()}
    by_ticket: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["_topic"] == "tickets":
            by_ticket[e["ticket_id"]].append(e)
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for ticket_id, history in by_ticket.items():
        limit = released[("tickets", partition_of(ticket_id.encode(), partitions))]
        history.sort(key=lambda e: (e["_ts"], LIFECYCLE_ORDER.index(e["type"]), e["event_id"]))
        dims: dict[str, str | None] = {}
        is_open = False
        for e in history:
            if e["_ts"] >= limit:
                break
            for d in ("service", "team", "channel", "priority"):
                if e.get(d) is not None:
                    dims[d] = e[d]
            if e["type"] in ("created", "reopened"):
                is_open = True
            elif e["type"] in ("resolved", "closed"):
                is_open = False
        if is_open:
            for b in breakdowns:
                key = scope_key(
                    b, {d: dims.get(d) for d in ("service", "team", "channel", "priority")}
                )
                if key is not None:
                    counts[key] += 1
    return dict(counts)
