"""Deterministic service-desk traffic in event time: ticket lifecycles, surveys and bad input.

Everything here is framework-free and reproducible: the same :class:`SimConfig` (seed included)
gives byte-identical records. Randomness comes from private ``random.Random`` instances seeded
from the config, never from the global generator, and each concern (traffic, delivery disorder,
late records, invalid records, status moves) has its own stream, so turning on invalid records
does not change the valid ones.

The stream is built in stages:

1. arrivals: a Poisson process with a daily profile (busier in office hours, UTC); each arrival
   is a ticket whose whole lifecycle (created ... closed, plus its surveys) is planned at once,
   or, rarely, a survey that belongs to no ticket; with ``statuses``, the lifecycle carries
   status moves too (``statuses.py``);
2. an event-time merge of the lifecycles of the open tickets (a heap of one cursor per ticket,
   so memory grows with the open tickets, not with the length of the run);
3. delivery: bounded reordering (``disorder_seconds``), deliberately late surveys
   (``late_fraction``) and interleaved invalid records (``invalid_fraction``), each marked with
   what the pipeline must make of it (``SimRecord.expect``).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import zlib
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate, chain, islice
from typing import Any, Final, NamedTuple

import orjson

from pipeline.core.durations import parse_duration
from pipeline.simulate.statuses import StatusPlanner

__all__ = [
    "CHANNEL_SHARES",
    "DEFAULT_SERVICES",
    "PRIORITY_SHARES",
    "SLA_SECONDS",
    "Regression",
    "SimConfig",
    "SimImprovement",
    "SimRecord",
    "format_ts",
    "generate",
    "parse_time",
    "teams_for",
]

DEFAULT_SERVICES: Final = ("email", "network", "payroll", "access", "hardware")
CHANNEL_SHARES: Final = (
    ("phone", 0.30),
    ("email", 0.25),
    ("chat", 0.15),
    ("web", 0.13),
    ("self_service", 0.12),
    ("social", 0.05),
)
PRIORITY_SHARES: Final = (("P1", 0.03), ("P2", 0.12), ("P3", 0.35), ("P4", 0.50))
# The pipeline's default SLA (SPEC section 4); resolution times are drawn relative to it.
SLA_SECONDS: Final = {"P1": 4 * 3600, "P2": 8 * 3600, "P3": 24 * 3600, "P4": 72 * 3600}

TICKETS: Final = "tickets"
SURVEYS: Final = "surveys"
LATE: Final = "late"

_HOUR = 3600
_TEAM_LEVELS = ("l1", "l2", "l3", "l4")
_AGENTS_PER_TEAM = 8
# Relative ticket arrival rate per UTC hour of the day (normalised to a mean of 1 below).
_DAILY_PROFILE_RAW = (
    0.25, 0.2, 0.2, 0.2, 0.25, 0.35, 0.6, 1.1, 1.8, 2.0, 2.0, 1.9,
    1.4, 1.8, 1.9, 1.8, 1.6, 1.2, 0.8, 0.6, 0.5, 0.4, 0.35, 0.3,
)  # fmt: skip
_DAILY_PROFILE = tuple(v * 24 / sum(_DAILY_PROFILE_RAW) for v in _DAILY_PROFILE_RAW)
_PROFILE_MAX = max(_DAILY_PROFILE)
# Median resolution time as a share of the SLA, and the lognormal spread: with these about 90%
# of first-contact resolutions and about 75% of the others meet their SLA.
_RESOLUTION_MEDIAN_SHARE = 0.35
_RESOLUTION_SIGMA = 0.8
_NON_FCR_SLOWDOWN = 1.6
_LOG_RESOLUTION_MEDIAN = {p: math.log(s * _RESOLUTION_MEDIAN_SHARE) for p, s in SLA_SECONDS.items()}
_LOG_NON_FCR_SLOWDOWN = math.log(_NON_FCR_SLOWDOWN)
_LOG_REOPEN_SHARE = math.log(0.25 / _RESOLUTION_MEDIAN_SHARE)  # re-resolution: 25% of the SLA
_LOG_HANDLE_MEDIAN = math.log(420)
_ASSIGN_MEAN = {"P1": 120, "P2": 300, "P3": 600, "P4": 1200}
_FIRST_REPLY_MEAN = {"P1": 300, "P2": 900, "P3": 2700, "P4": 7200}
_HOURLY_RATE = {
    "phone": 40.0,
    "email": 30.0,
    "chat": 32.0,
    "web": 30.0,
    "self_service": 15.0,
    "social": 35.0,
}
# Satisfaction per outcome: a quick first-contact resolution pleases, a slow or bounced one less.
_CSAT_GOOD = (0.02, 0.03, 0.10, 0.35, 0.50)
_CSAT_BAD = (0.12, 0.13, 0.20, 0.30, 0.25)
_NPS_GOOD = (0.01, 0.01, 0.01, 0.02, 0.02, 0.04, 0.04, 0.10, 0.20, 0.25, 0.30)
_NPS_BAD = (0.05, 0.04, 0.05, 0.06, 0.07, 0.09, 0.09, 0.15, 0.15, 0.12, 0.13)
_COMMENTS = ("quick and friendly", "took too long", "had to explain twice", "solved, thanks")

_TICKET_KINDS: Final = (
    "created",
    "assigned",
    "reassigned",
    "agent_reply",
    "customer_reply",
    "escalated",
    "resolved",
    "reopened",
    "closed",
)
_INVALID_KINDS: Final = (
    "malformed_json",
    "invalid_encoding",
    "not_an_object",
    "unsupported_schema_version",
    "unknown_type",
    "missing_field",
    "invalid_field",
)


# -- configuration -------------------------------------------------------------------------------


def parse_time(text: str, base: datetime | None = None) -> datetime:
    """An absolute ISO 8601 time, or ``+3h``-style offset from ``base``; naive times are UTC."""
    text = text.strip()
    if text.startswith("+"):
        if base is None:
            raise ValueError(f"{text!r} is relative, but there is no start time to add it to")
        return base + timedelta(seconds=parse_duration(text[1:]))
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO time (2026-03-02T09:00:00Z) nor an offset (+3h)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Regression:
    """A deliberate change in one service's behaviour, for tickets created in [start, end).

    ``fcr_rate`` replaces the share of first-contact resolutions; ``resolution_factor``
    multiplies resolution times (2.0 = twice as slow). With ``ramp``, the change comes in
    gradually: linearly from none at ``start`` to all of it ``ramp`` later (a slow drift).
    """

    service: str
    start: datetime
    end: datetime | None = None
    fcr_rate: float | None = None
    resolution_factor: float | None = None
    ramp: timedelta | None = None

    def __post_init__(self) -> None:
        if self.fcr_rate is None and self.resolution_factor is None:
            raise ValueError("a regression needs fcr_rate and/or resolution_factor")
        if self.fcr_rate is not None and not 0.0 <= self.fcr_rate <= 1.0:
            raise ValueError(f"fcr_rate must be within 0..1, not {self.fcr_rate}")
        if self.resolution_factor is not None and not self.resolution_factor > 0:
            raise ValueError(f"resolution_factor must be > 0, not {self.resolution_factor}")
        if self.start.tzinfo is None or (self.end is not None and self.end.tzinfo is None):
            raise ValueError("regression start and end must be timezone-aware")
        if self.end is not None and self.end <= self.start:
            raise ValueError("regression end must be after its start")
        if self.ramp is not None and self.ramp <= timedelta(0):
            raise ValueError("regression ramp must be a positive duration")

    @classmethod
    def parse(cls, text: str, base: datetime | None = None) -> Regression:
        """``service=network,start=+3h,fcr=0.5[,end=+5h][,resolution_factor=2][,ramp=2d]``.

        ``start``/``end`` are ISO times or offsets from ``base`` (the simulation start, which is
        also the default start).
        """
        fields: dict[str, str] = {}
        for part in text.split(","):
            name, sep, value = part.partition("=")
            if not sep or not value.strip():
                raise ValueError(f"{part!r} in {text!r} is not name=value")
            fields[name.strip().lower()] = value.strip()
        aliases = {"fcr_rate": "fcr", "factor": "resolution_factor", "rf": "resolution_factor"}
        fields = {aliases.get(k, k): v for k, v in fields.items()}
        unknown = set(fields) - {"service", "start", "end", "fcr", "resolution_factor", "ramp"}
        if unknown:
            raise ValueError(f"unknown regression field(s) {sorted(unknown)} in {text!r}")
        if "service" not in fields:
            raise ValueError(f"{text!r} names no service (service=...)")
        start = parse_time(fields["start"], base) if "start" in fields else base
        if start is None:
            raise ValueError(f"{text!r} has no start=...")
        return cls(
            service=fields["service"],
            start=start,
            end=parse_time(fields["end"], base) if "end" in fields else None,
            fcr_rate=_parse_float(fields, "fcr"),
            resolution_factor=_parse_float(fields, "resolution_factor"),
            ramp=timedelta(seconds=parse_duration(fields["ramp"])) if "ramp" in fields else None,
        )

    def applies(self, service: str, ts: float) -> bool:
        if service != self.service or ts < self.start.timestamp():
            return False
        return self.end is None or ts < self.end.timestamp()

    def share(self, ts: float) -> float:
        """How much of the change is in force at ``ts`` (while it applies): 1 without a ramp."""
        if self.ramp is None:
            return 1.0
        return min(1.0, (ts - self.start.timestamp()) / self.ramp.total_seconds())

    def effect(self, fcr: float, factor: float, ts: float) -> tuple[float, float]:
        """The FCR probability and resolution-time factor with this change, at ``ts``."""
        share = self.share(ts)
        if self.fcr_rate is not None:
            fcr += (self.fcr_rate - fcr) * share
        if self.resolution_factor is not None:
            factor *= 1.0 + (self.resolution_factor - 1.0) * share
        return fcr, factor


@dataclass(frozen=True, slots=True)
class SimImprovement:
    """A deliberate improvement (or any known change) of one service, for tickets created in
    [start, end): effects relative to what the service would otherwise do, so tests and demos
    know the true effect.

    ``fcr`` is added to the first-contact resolution probability, ``reopen`` to the reopen
    probability, ``csat`` to the share of CSAT scores of 4 or 5 (scores move across that line);
    ``resolution_factor`` multiplies resolution times (0.8 = 20% faster).
    """

    service: str
    start: datetime
    end: datetime | None = None
    fcr: float = 0.0
    reopen: float = 0.0
    csat: float = 0.0
    resolution_factor: float = 1.0

    def __post_init__(self) -> None:
        if not (self.fcr or self.reopen or self.csat or self.resolution_factor != 1.0):
            raise ValueError("an improvement needs fcr, reopen, csat and/or resolution_factor")
        for name in ("fcr", "reopen", "csat"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a change within -1..+1")
        if not self.resolution_factor > 0:
            raise ValueError(f"resolution_factor must be > 0, not {self.resolution_factor}")
        if self.start.tzinfo is None or (self.end is not None and self.end.tzinfo is None):
            raise ValueError("improvement start and end must be timezone-aware")
        if self.end is not None and self.end <= self.start:
            raise ValueError("improvement end must be after its start")

    @classmethod
    def parse(cls, text: str, base: datetime | None = None) -> SimImprovement:
        """``service=network,start=+14d,fcr=+0.10[,csat=-0.05][,reopen=-0.02]
        [,resolution_factor=0.8][,end=...]``; times as for ``Regression.parse``."""
        fields: dict[str, str] = {}
        for part in text.split(","):
            name, sep, value = part.partition("=")
            if not sep or not value.strip():
                raise ValueError(f"{part!r} in {text!r} is not name=value")
            fields[name.strip().lower()] = value.strip()
        aliases = {"fcr_rate": "fcr", "factor": "resolution_factor", "rf": "resolution_factor"}
        fields = {aliases.get(k, k): v for k, v in fields.items()}
        known = {"service", "start", "end", "fcr", "reopen", "csat", "resolution_factor"}
        unknown = set(fields) - known
        if unknown:
            raise ValueError(f"unknown improvement field(s) {sorted(unknown)} in {text!r}")
        if "service" not in fields:
            raise ValueError(f"{text!r} names no service (service=...)")
        start = parse_time(fields["start"], base) if "start" in fields else base
        if start is None:
            raise ValueError(f"{text!r} has no start=...")
        return cls(
            service=fields["service"],
            start=start,
            end=parse_time(fields["end"], base) if "end" in fields else None,
            fcr=_parse_float(fields, "fcr") or 0.0,
            reopen=_parse_float(fields, "reopen") or 0.0,
            csat=_parse_float(fields, "csat") or 0.0,
            resolution_factor=_parse_float(fields, "resolution_factor") or 1.0,
        )

    def applies(self, service: str, ts: float) -> bool:
        if service != self.service or ts < self.start.timestamp():
            return False
        return self.end is None or ts < self.end.timestamp()


def _parse_float(fields: dict[str, str], name: str) -> float | None:
    if name not in fields:
        return None
    try:
        return float(fields[name])
    except ValueError:
        raise ValueError(f"{name}={fields[name]!r} is not a number") from None


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate. Rates and shares are in event time.

    The run ends at ``start + duration`` (events after it are cut, except with ``drain``, where
    no ticket arrives after the end but open lifecycles run to their close), or after
    ``n_events`` records (valid, invalid and late alike), whichever comes first; with neither
    it never ends.
    """

    seed: int = 0
    start: datetime = datetime(2026, 3, 2, tzinfo=UTC)
    duration: timedelta | None = timedelta(hours=6)
    n_events: int | None = None
    tickets_per_hour: float = 120.0  # the daily mean; office hours get about twice that
    services: tuple[str, ...] = DEFAULT_SERVICES
    regressions: tuple[Regression, ...] = ()
    improvements: tuple[SimImprovement, ...] = ()
    fcr_rate: float = 0.75
    reopen_rate: float = 0.065
    csat_share: float = 0.30  # of resolved tickets
    nps_share: float = 0.15  # of resolved tickets
    untracked_survey_share: float = 0.02  # surveys without a ticket, per ticket
    # Delivery: each record may arrive up to disorder_seconds after later-timestamped ones.
    disorder_seconds: float = 0.0
    late_fraction: float = 0.0  # share of valid surveys delivered far too late
    late_delay: tuple[float, float] = (2 * _HOUR, 3 * _HOUR)  # behind the stream, seconds
    invalid_fraction: float = 0.0  # share of all records that are invalid
    drain: bool = False
    # Status moves (status_changed) in every lifecycle, for time in status and SLA pauses. Off
    # here so that a seeded stream stays what it was; the simulate command and the demo turn
    # them on.
    statuses: bool = False
    # The desk's history before ``start``: tickets arriving in it that still have an event at or
    # after ``start`` are part of the run, with their earlier events too (a complete lifecycle),
    # so the run begins with the backlog of a desk that has been running this long, and
    # resolutions keep pace with new tickets from the start, instead of a backlog that grows
    # from empty for as long as the slowest resolutions take (days). 0: an empty desk.
    warm_start: timedelta = timedelta(0)

    def __post_init__(self) -> None:  # noqa: C901 (one check per field, each with its own message)
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        if self.start.timestamp() < 0:
            raise ValueError("start must be after 1970-01-01 (event times are epoch seconds)")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        if self.warm_start < timedelta(0):
            raise ValueError("warm_start must be >= 0")
        if self.duration is not None and self.duration <= timedelta(0):
            raise ValueError("duration must be positive")
        if self.n_events is not None and self.n_events < 0:
            raise ValueError("n_events must be >= 0")
        if not self.tickets_per_hour > 0:
            raise ValueError("tickets_per_hour must be > 0")
        if not self.services or len(set(self.services)) != len(self.services):
            raise ValueError("services must be a non-empty list of distinct names")
        for name in ("fcr_rate", "reopen_rate", "csat_share", "nps_share", "late_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if not 0.0 <= self.invalid_fraction < 0.5:
            raise ValueError("invalid_fraction must be within 0..0.5")
        if self.untracked_survey_share < 0 or self.disorder_seconds < 0:
            raise ValueError("untracked_survey_share and disorder_seconds must be >= 0")
        if not 0 < self.late_delay[0] <= self.late_delay[1]:
            raise ValueError("late_delay must be (min, max) seconds with 0 < min <= max")

    @property
    def end(self) -> datetime | None:
        return None if self.duration is None else self.start + self.duration

    @property
    def run_tag(self) -> str:
        """A short tag in every id: runs with other seeds or start times do not collide."""
        digest = hashlib.sha256(f"{self.seed}|{self.start.isoformat()}".encode()).hexdigest()
        return digest[:8]


class SimRecord(NamedTuple):
    """One record to produce. ``expect`` is None for a valid event, else the DLQ reason the
    pipeline must give it (``malformed_json``, ...) or ``late``."""

    topic: str  # logical stream: "tickets" or "surveys"
    key: bytes  # ticket_id, else survey_id (invalid records: their own id)
    value: bytes  # compact UTF-8 JSON (invalid records: whatever they are)
    ts_ms: int  # event time, also the Kafka record timestamp
    expect: str | None = None


# -- small helpers -------------------------------------------------------------------------------


def teams_for(service: str) -> tuple[str, ...]:
    """The 2-4 teams of a service, first-line first; stable across runs (crc32, not hash())."""
    count = 2 + zlib.crc32(service.encode()) % 3
    return tuple(f"{service}-{level}" for level in _TEAM_LEVELS[:count])


_minute_prefix: dict[int, bytes] = {}


def _ts_bytes(epoch_seconds: int) -> bytes:
    # Cached per minute: formatting a datetime for every event would dominate the run time.
    minute, second = divmod(epoch_seconds, 60)
    prefix = _minute_prefix.get(minute)
    if prefix is None:
        prefix = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:").encode()
        if len(_minute_prefix) >= 100_000:  # bounded: a long run must not grow it forever
            _minute_prefix.clear()
        _minute_prefix[minute] = prefix
    return b"%s%02dZ" % (prefix, second)


def format_ts(epoch_seconds: int) -> str:
    """RFC 3339 in UTC with a ``Z`` offset, whole seconds: ``2026-03-02T10:15:00Z``."""
    return _ts_bytes(epoch_seconds).decode()


def _fields(values: dict[str, Any]) -> bytes:
    """``,"a":1,"b":"x"``: JSON members to append to an object that already has some."""
    return b"," + orjson.dumps(values)[1:-1]


class _Picker:
    """Weighted choice via bisect on cumulative weights: much cheaper than Random.choices."""

    __slots__ = ("_cum", "_total", "_values")

    def __init__(self, values: Sequence[Any], weights: Sequence[float]) -> None:
        self._values = tuple(values)
        self._cum = tuple(accumulate(weights))
        self._total = self._cum[-1]

    def __call__(self, rng: random.Random) -> Any:
        # random() < 1, so the point is below the last cumulative weight: index <= len - 1.
        return self._values[bisect(self._cum, rng.random() * self._total)]


def _sub_rng(config: SimConfig, purpose: str) -> random.Random:
    # String seeds are hashed with SHA-512 by Random, so this is stable across processes.
    return random.Random(f"{config.seed}/{purpose}")


# -- ticket lifecycles ---------------------------------------------------------------------------

# A planned event: (ts, kind, JSON members beyond the common ones, e.g. b',"agent_id":"x"').
# Pre-encoded bytes keep open tickets small and out of the garbage collector's way (a tuple of
# atomic values is untracked), and make encoding at emit time a single bytes format.
_Planned = tuple[int, str, bytes]


# A planned item: (key, events, survey_only). The key is the ticket_id, or the survey_id of a
# survey without a ticket. A plain tuple of atomic values and tuples of them: the garbage
# collector untracks those, and there are as many as there are open tickets.
_Ticket = tuple[bytes, tuple[_Planned, ...], bool]


@dataclass(slots=True)
class _Plan:
    """A lifecycle under construction: appends keep event times strictly increasing."""

    events: list[_Planned] = field(default_factory=list)
    last: int = -1

    def add(self, ts: float, kind: str, members: bytes = b"") -> int:
        # Strictly increasing times: same-second events of a ticket would be reordered by the
        # pipeline's same-timestamp rule, which could change what the simulator intended.
        at = int(ts)
        if at <= self.last:
            at = self.last + 1
        self.events.append((at, kind, members))
        self.last = at
        return at


def _by_time(event: _Planned) -> int:
    return event[0]


class _TrafficModel:
    """Plans ticket lifecycles; all draws come from one rng, so the plan is reproducible."""

    def __init__(self, config: SimConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.teams = {service: teams_for(service) for service in config.services}
        all_teams = [team for teams in self.teams.values() for team in teams]
        self.agents = {
            team: tuple(_fields({"agent_id": f"{team}-a{n}"}) for n in range(_AGENTS_PER_TEAM))
            for team in all_teams
        }
        self.team_fields = {team: _fields({"team": team}) for team in all_teams}
        self.pick_service = _Picker(config.services, [1.0] * len(config.services))
        self.pick_channel = _Picker([c for c, _ in CHANNEL_SHARES], [w for _, w in CHANNEL_SHARES])
        self.pick_priority = _Picker(
            [p for p, _ in PRIORITY_SHARES], [w for _, w in PRIORITY_SHARES]
        )
        self.pick_csat = _Picker(range(1, 6), _CSAT_GOOD), _Picker(range(1, 6), _CSAT_BAD)
        self.pick_nps = _Picker(range(11), _NPS_GOOD), _Picker(range(11), _NPS_BAD)
        # Its own stream: the lifecycles' other draws are the same with statuses on or off.
        self.statuses = StatusPlanner(_sub_rng(config, "statuses")) if config.statuses else None

    def _agent(self, team: str) -> bytes:
        return self.agents[team][int(self.rng.random() * _AGENTS_PER_TEAM)]

    def _effort(self, channel: str) -> bytes:
        """The effort of an agent reply, sometimes with an explicit cost."""
        rng = self.rng
        handle = int(math.exp(rng.gauss(_LOG_HANDLE_MEDIAN, 0.6))) + 30
        if rng.random() < 0.1:  # e.g. a billed vendor intervention, dearer than agent time
            cost = round(handle / _HOUR * _HOURLY_RATE[channel] * 1.2, 2)
            return b',"handle_seconds":%d,"cost":%s' % (handle, orjson.dumps(cost))
        return b',"handle_seconds":%d' % handle

    def _resolution_seconds(self, priority: str, fcr: bool, factor: float) -> float:
        log_median = _LOG_RESOLUTION_MEDIAN[priority] + (0.0 if fcr else _LOG_NON_FCR_SLOWDOWN)
        return math.exp(self.rng.gauss(log_median, _RESOLUTION_SIGMA)) * factor

    def _effect(self, service: str, ts: float) -> tuple[float, float]:
        """FCR probability and resolution-time factor, after any regression in force."""
        fcr, factor = self.config.fcr_rate, 1.0
        for regression in self.config.regressions:
            if regression.applies(service, ts):
                fcr, factor = regression.effect(fcr, factor, ts)
        for change in self.config.improvements:
            if change.applies(service, ts):
                fcr += change.fcr
                factor *= change.resolution_factor
        return min(max(fcr, 0.0), 1.0), factor

    def _changes(self, service: str, ts: float) -> tuple[float, float]:
        """Reopen probability and CSAT shift of the improvements in force."""
        reopen, csat = self.config.reopen_rate, 0.0
        for change in self.config.improvements:
            if change.applies(service, ts):
                reopen += change.reopen
                csat += change.csat
        return min(max(reopen, 0.0), 1.0), csat

    def ticket(self, ticket_id: str, t0: int) -> _Ticket:
        rng = self.rng
        service = self.pick_service(rng)
        teams = self.teams[service]
        level = 0 if rng.random() < 0.75 else 1 + int(rng.random() * (len(teams) - 1))
        team, channel, priority = teams[level], self.pick_channel(rng), self.pick_priority(rng)
        fcr_rate, factor = self._effect(service, t0)
        fcr = rng.random() < fcr_rate
        resolve_in = max(self._resolution_seconds(priority, fcr, factor), 120.0)
        customer = f"C{int(rng.random() * 200_000):06d}"

        plan = _Plan()
        created = {
            "service": service,
            "team": team,
            "channel": channel,
            "priority": priority,
            "customer_id": customer,
        }
        plan.add(t0, "created", _fields(created))
        agent = self._agent(team)
        wait = min(rng.expovariate(1 / _ASSIGN_MEAN[priority]), 0.1 * resolve_in)
        plan.add(t0 + wait + 1, "assigned", agent)
        wait = min(rng.expovariate(1 / _FIRST_REPLY_MEAN[priority]), 0.3 * resolve_in)
        plan.add(plan.last + wait + 1, "agent_reply", agent + self._effort(channel))
        resolve_at = t0 + resolve_in
        if fcr:
            if rng.random() < 0.4:  # the customer confirms; no second agent reply is needed
                plan.add(rng.uniform(plan.last, resolve_at), "customer_reply")
        else:
            team, agent = self._complications(plan, service, level, agent, channel, resolve_at)
        resolved_at = plan.add(resolve_at, "resolved", agent)
        good = fcr and resolve_in <= SLA_SECONDS[priority]
        reopen_rate, csat_shift = self.config.reopen_rate, 0.0
        if self.config.improvements:
            reopen_rate, csat_shift = self._changes(service, t0)
        if rng.random() < reopen_rate:
            good = False
            resolved_at = self._reopen(plan, channel, priority, agent)
        plan.add(plan.last + _HOUR + rng.expovariate(1 / (20 * _HOUR)), "closed", agent)
        if self._surveys(plan.events, resolved_at, service, team, channel, good, csat_shift):
            plan.events.sort(key=_by_time)  # stable: a same-second survey stays after
        events = plan.events
        if self.statuses is not None:
            events = self.statuses.add_moves(events, service, SLA_SECONDS[priority], fcr, factor)
        return ticket_id.encode(), tuple(events), False

    def _complications(
        self, plan: _Plan, service: str, level: int, agent: bytes, channel: str, resolve_at: float
    ) -> tuple[str, bytes]:
        """What makes a ticket miss first-contact resolution: at least one of more replies,
        a reassignment, an escalation, all before the first resolution. Returns the team and
        agent that end up with the ticket."""
        rng = self.rng
        teams = self.teams[service]
        team = teams[level]
        steps: list[tuple[str, bytes]] = []
        more_replies = rng.random() < 0.6
        reassign = rng.random() < 0.35
        escalate = rng.random() < 0.25
        if not (more_replies or reassign or escalate):
            more_replies = True
        if reassign:
            others = [t for t in teams if t != team]
            team = others[int(rng.random() * len(others))]
            level = teams.index(team)
            agent = self._agent(team)
            steps.append(("reassigned", agent + self.team_fields[team]))
        if escalate:
            level = min(level + 1, len(teams) - 1)
            team = teams[level]
            agent = self._agent(team)
            steps.append(("escalated", agent + self.team_fields[team]))
        for _ in range(rng.randint(1, 3) if more_replies else 1):
            steps.append(("customer_reply", b""))
            steps.append(("agent_reply", agent + self._effort(channel)))
        times = sorted(rng.uniform(plan.last, resolve_at) for _ in steps)
        for at, (kind, members) in zip(times, steps, strict=True):
            plan.add(at, kind, members)
        return team, agent

    def _reopen(self, plan: _Plan, channel: str, priority: str, agent: bytes) -> int:
        """Reopened by the customer, answered, resolved again; returns the new resolution time."""
        rng = self.rng
        reopened = plan.add(plan.last + 600 + rng.expovariate(1 / (12 * _HOUR)), "reopened")
        wait = rng.expovariate(1 / _FIRST_REPLY_MEAN[priority])
        plan.add(reopened + wait + 1, "agent_reply", agent + self._effort(channel))
        log_median = _LOG_RESOLUTION_MEDIAN[priority] + _LOG_REOPEN_SHARE
        again = math.exp(rng.gauss(log_median, _RESOLUTION_SIGMA))
        return plan.add(reopened + again, "resolved", agent)

    def _surveys(
        self,
        events: list[_Planned],
        resolved_at: int,
        service: str,
        team: str,
        channel: str,
        good: bool,
        csat_shift: float = 0.0,
    ) -> bool:
        """Maybe a csat and/or an nps survey some hours after the last resolution."""
        rng = self.rng
        added = False
        for kind, share, pickers in (
            ("csat", self.config.csat_share, self.pick_csat),
            ("nps", self.config.nps_share, self.pick_nps),
        ):
            if rng.random() < share:
                score = pickers[0 if good else 1](rng)
                if kind == "csat" and csat_shift:
                    score = self._shift_csat(score, good, csat_shift)
                survey = {
                    "kind": kind,
                    "score": score,
                    "service": service,
                    "team": team,
                    "channel": channel,
                }
                if rng.random() < 0.05:
                    survey["comment"] = _COMMENTS[int(rng.random() * len(_COMMENTS))]
                at = int(resolved_at + 60 + rng.expovariate(1 / (3 * _HOUR)))
                events.append((at, kind, _fields(survey)))
                added = True
        return added

    def _shift_csat(self, score: int, good: bool, shift: float) -> int:
        """Move a score across the 4-or-better line with the probability that shifts the share
        of such scores by ``shift`` (exactly, in expectation)."""
        share = sum((_CSAT_GOOD if good else _CSAT_BAD)[3:])
        rng = self.rng
        if shift > 0 and score < 4 and rng.random() < min(1.0, shift / (1 - share)):
            return 4 + int(rng.random() * 2)
        if shift < 0 and score >= 4 and rng.random() < min(1.0, -shift / share):
            return 2 + int(rng.random() * 2)
        return score

    def untracked_survey(self, survey_id: str, t0: int) -> _Ticket:
        """A survey that belongs to no ticket (e.g. a periodic relationship survey)."""
        rng = self.rng
        kind = "csat" if rng.random() < 0.6 else "nps"
        score = (self.pick_csat if kind == "csat" else self.pick_nps)[rng.random() < 0.5](rng)
        survey: dict[str, Any] = {
            "kind": kind,
            "score": score,
            "service": self.pick_service(rng),
            "survey_id": survey_id,
        }
        if rng.random() < 0.5:
            survey["channel"] = self.pick_channel(rng)
        return survey_id.encode(), ((t0, kind, _fields(survey)),), True


# -- the event-time stream -----------------------------------------------------------------------


def _arrivals(config: SimConfig, rng: random.Random) -> Iterator[float]:
    """Arrival times (epoch seconds) of a Poisson process with the daily profile (thinning)."""
    per_second = config.tickets_per_hour * (1 + config.untracked_survey_share) / _HOUR
    peak = per_second * _PROFILE_MAX
    t = (config.start - config.warm_start).timestamp()
    end = math.inf if config.end is None else config.end.timestamp()
    while True:
        t += rng.expovariate(peak)
        if t >= end:
            return
        if rng.random() * _PROFILE_MAX < _DAILY_PROFILE[int(t // _HOUR) % 24]:
            yield t


_KIND_BYTES = {kind: kind.encode() for kind in (*_TICKET_KINDS, "status_changed", "csat", "nps")}
# Keys and ids are generated here from [A-Za-z0-9-], so they are safe inside JSON strings; every
# other value went through orjson when the lifecycle was planned.
_TICKET_EVENT = (
    b'{"schema_version":1,"event_id":"%s-%02d","ts":"%s","type":"%s","ticket_id":"%s"%s}'
)
_TICKET_SURVEY = b'{"schema_version":1,"event_id":"%s-%s","ts":"%s","ticket_id":"%s"%s}'
_OWN_SURVEY = b'{"schema_version":1,"event_id":"%s","ts":"%s"%s}'


def _encode(item: _Ticket, index: int) -> SimRecord:
    key, events, survey_only = item
    ts, kind, members = events[index]
    if survey_only:
        value = _OWN_SURVEY % (key, _ts_bytes(ts), members)
        return SimRecord(SURVEYS, key, value, ts * 1000)
    if kind in {"csat", "nps"}:
        value = _TICKET_SURVEY % (key, _KIND_BYTES[kind], _ts_bytes(ts), key, members)
        return SimRecord(SURVEYS, key, value, ts * 1000)
    value = _TICKET_EVENT % (key, index, _ts_bytes(ts), _KIND_BYTES[kind], key, members)
    return SimRecord(TICKETS, key, value, ts * 1000)


# Heap keys are plain ints (ts, arrival number, event index packed together): comparing ints is
# several times cheaper than comparing tuples, and the merge heap holds every open ticket.
_SEQ_SHIFT = 8
_TS_SHIFT = 40
_INDEX_MASK = (1 << _SEQ_SHIFT) - 1
_SEQ_MASK = ((1 << _TS_SHIFT) - 1) & ~_INDEX_MASK  # the arrival number, still shifted


def _ordered(config: SimConfig) -> Iterator[SimRecord]:
    """All valid records in event-time order (ties: by ticket arrival, then lifecycle order)."""
    rng = _sub_rng(config, "traffic")
    model = _TrafficModel(config, rng)
    tag = config.run_tag
    untracked_share = config.untracked_survey_share / (1 + config.untracked_survey_share)
    cutoff = math.inf if config.end is None or config.drain else config.end.timestamp()
    heap: list[int] = []
    open_items: dict[int, _Ticket] = {}
    push, pop, replace_top = heapq.heappush, heapq.heappop, heapq.heapreplace
    tickets = surveys = seq = 0
    arrivals = _arrivals(config, rng)
    next_arrival = next(arrivals, math.inf)
    start = config.start.timestamp()
    while True:
        top = heap[0] >> _TS_SHIFT if heap else math.inf
        if next_arrival <= top:
            if next_arrival == math.inf:
                return
            t0 = int(next_arrival)
            if rng.random() < untracked_share:
                surveys += 1
                item = model.untracked_survey(f"S-{tag}-{surveys:06d}", t0)
            else:
                tickets += 1
                item = model.ticket(f"T-{tag}-{tickets:06d}", t0)
            next_arrival = next(arrivals, math.inf)
            if t0 < start and max(e[0] for e in item[1]) < start:
                continue  # over before the run starts (see SimConfig.warm_start)
            seq += 1
            assert len(item[1]) <= _INDEX_MASK, "the event index must fit its heap-key bits"
            open_items[seq] = item
            push(heap, (item[1][0][0] << _TS_SHIFT) | (seq << _SEQ_SHIFT))
            continue
        if top >= cutoff:
            return
        key = heap[0]
        index = key & _INDEX_MASK
        seq_bits = key & _SEQ_MASK
        order = seq_bits >> _SEQ_SHIFT
        item = open_items[order]
        events = item[1]
        if index + 1 < len(events):
            replace_top(heap, (events[index + 1][0] << _TS_SHIFT) | seq_bits | (index + 1))
        else:
            pop(heap)
            del open_items[order]
        yield _encode(item, index)


# -- delivery: disorder, late records, invalid records -------------------------------------------


class _InvalidRecords:
    """Invalid records of every kind, each with its own ids so it never shadows a valid event."""

    def __init__(self, config: SimConfig, rng: random.Random) -> None:
        self.rng = rng
        self.services = config.services
        self.tag = config.run_tag
        self.count = 0
        self.builders: dict[str, Callable[[str, str], tuple[str, bytes]]] = {
            "malformed_json": self._malformed_json,
            "invalid_encoding": self._invalid_encoding,
            "not_an_object": self._not_an_object,
            "unsupported_schema_version": self._unsupported_version,
            "unknown_type": self._unknown_type,
            "missing_field": self._missing_field,
            "invalid_field": self._invalid_field,
        }

    def make(self, ts_ms: int) -> SimRecord:
        self.count += 1
        key = f"X-{self.tag}-{self.count:06d}"
        reason = _INVALID_KINDS[self.rng.randrange(len(_INVALID_KINDS))]
        topic, value = self.builders[reason](key, format_ts(ts_ms // 1000))
        return SimRecord(topic, key.encode(), value, ts_ms, reason)

    def _created(self, key: str, ts: str) -> dict[str, Any]:
        service = self.services[self.rng.randrange(len(self.services))]
        return {
            "schema_version": 1,
            "event_id": f"{key}-00",
            "ts": ts,
            "type": "created",
            "ticket_id": key,
            "service": service,
            "team": teams_for(service)[0],
            "channel": "web",
            "priority": "P3",
        }

    def _survey(self, key: str, ts: str) -> dict[str, Any]:
        service = self.services[self.rng.randrange(len(self.services))]
        return {
            "schema_version": 1,
            "event_id": key,
            "ts": ts,
            "kind": "csat",
            "score": 4,
            "service": service,
            "survey_id": key,
        }

    def _malformed_json(self, key: str, ts: str) -> tuple[str, bytes]:
        full = orjson.dumps(self._created(key, ts))
        # A JSON object cut before its closing brace can never parse.
        return TICKETS, full[: self.rng.randrange(1, len(full) - 1)]

    def _invalid_encoding(self, key: str, ts: str) -> tuple[str, bytes]:
        event = self._created(key, ts)
        event["team"] = "caf\u00e9"
        # Latin-1 where UTF-8 is required: a lone 0xE9 byte.
        return TICKETS, orjson.dumps(event).replace("caf\u00e9".encode(), b"caf\xe9")

    def _not_an_object(self, key: str, ts: str) -> tuple[str, bytes]:
        if self.rng.random() < 0.5:
            return SURVEYS, orjson.dumps([self._survey(key, ts)])
        return TICKETS, orjson.dumps([self._created(key, ts)])

    def _unsupported_version(self, key: str, ts: str) -> tuple[str, bytes]:
        if self.rng.random() < 0.5:
            return SURVEYS, orjson.dumps({**self._survey(key, ts), "schema_version": 2})
        return TICKETS, orjson.dumps({**self._created(key, ts), "schema_version": 2})

    def _unknown_type(self, key: str, ts: str) -> tuple[str, bytes]:
        if self.rng.random() < 0.5:
            return SURVEYS, orjson.dumps({**self._survey(key, ts), "kind": "ces"})
        return TICKETS, orjson.dumps({**self._created(key, ts), "type": "merged"})

    def _missing_field(self, key: str, ts: str) -> tuple[str, bytes]:
        if self.rng.random() < 0.5:
            survey = self._survey(key, ts)
            del survey["score"]
            return SURVEYS, orjson.dumps(survey)
        created = self._created(key, ts)
        del created["priority"]
        return TICKETS, orjson.dumps(created)

    def _invalid_field(self, key: str, ts: str) -> tuple[str, bytes]:
        variant = self.rng.randrange(4)
        if variant == 0:
            return SURVEYS, orjson.dumps({**self._survey(key, ts), "score": 7})
        if variant == 1:
            return SURVEYS, orjson.dumps({**self._survey(key, ts), "score": "5"})
        if variant == 2:
            return TICKETS, orjson.dumps({**self._created(key, ts), "ts": ts.removesuffix("Z")})
        return TICKETS, orjson.dumps({**self._created(key, ts), "channel": "fax"})


def _deliver(config: SimConfig, ordered: Iterator[SimRecord]) -> Iterator[SimRecord]:
    """Delivery order: bounded disorder, late surveys held back, invalid records interleaved.

    Disorder: a record waits in a buffer until the stream reaches ``ts + U(0, disorder)``. The
    buffer releases records in order of that deadline, so every record already delivered has
    ``ts <= its deadline <= this deadline``: no record trails the delivered maximum by more than
    ``disorder_seconds``.
    Late: a chosen survey is held until the delivered maximum is ``late_delay`` past it; ones
    still held when the stream ends are dropped (they would not be late enough).
    """
    disorder_ms = config.disorder_seconds * 1000
    late_fraction, invalid_fraction = config.late_fraction, config.invalid_fraction
    late_rng, disorder_rng = _sub_rng(config, "late"), _sub_rng(config, "disorder")
    invalid_rng = _sub_rng(config, "invalid")
    invalid = _InvalidRecords(config, invalid_rng)
    # invalid_fraction is the share of all records: after each valid record, an invalid one
    # follows with probability f / (1 - f). The gaps between them are drawn geometrically,
    # which is the same process but costs a draw per invalid record, not per valid one.
    insert_p = invalid_fraction / (1 - invalid_fraction)  # < 1: the config keeps f < 0.5
    log_miss = math.log1p(-insert_p)

    def gap() -> float:
        if not insert_p:
            return math.inf
        return math.floor(math.log(1.0 - invalid_rng.random()) / log_miss)

    until_invalid = gap()
    delay_lo, delay_hi = (d * 1000 for d in config.late_delay)
    held: list[tuple[float, int, SimRecord]] = []  # disorder buffer
    late: list[tuple[float, int, SimRecord]] = []
    push, pop = heapq.heappush, heapq.heappop
    max_ms = -1
    seq = 0
    ready: Sequence[SimRecord]
    # One loop with an end marker rather than helper generators: this runs for every record.
    for record in chain(ordered, (None,)):
        if record is None:  # the end: release the disorder buffer
            ready = [pop(held)[2] for _ in range(len(held))]
        else:
            seq += 1
            if late_fraction and record.topic == SURVEYS and late_rng.random() < late_fraction:
                due = record.ts_ms + late_rng.uniform(delay_lo, delay_hi)
                push(late, (due, seq, record._replace(expect=LATE)))
                continue
            if disorder_ms:
                push(held, (record.ts_ms + disorder_rng.random() * disorder_ms, seq, record))
                if held[0][0] > record.ts_ms:
                    continue
                ready = []
                while held and held[0][0] <= record.ts_ms:
                    ready.append(pop(held)[2])
            else:
                ready = (record,)
        for out in ready:
            max_ms = max(max_ms, out.ts_ms)
            yield out
            while late and late[0][0] <= max_ms:
                yield pop(late)[2]
            until_invalid -= 1
            if until_invalid < 0:
                yield invalid.make(max_ms)
                until_invalid = gap()


def generate(config: SimConfig) -> Iterator[SimRecord]:
    """The simulated records in delivery order (see the module docstring); lazy and bounded."""
    stream = _deliver(config, _ordered(config))
    if config.n_events is not None:
        return islice(stream, config.n_events)
    return stream
