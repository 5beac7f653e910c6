"""The alert engine: closed windows in, alert lifecycle events out (SPEC section 6).

Each target runs one small state machine per concrete scope it matches (a ``"*"`` dimension gives
one per value seen):

- OK -> PENDING on the first *breaching* window: the value is on the wrong side of the objective,
  the sample reaches ``min_sample`` and, for ratio KPIs, the breach is credible (the Wilson
  interval of the rate at ``confidence`` lies wholly on the wrong side). The episode starts at
  that window's end.
- PENDING -> FIRING once breaching windows have lasted ``hold_seconds`` of event time
  (window end - start of episode >= hold); PENDING -> RESOLVED on the first window that is not a
  breach (a short breach never fires). A scope that has no result at a window end for which its
  KPI had results elsewhere had no data in that window: not a breach either.
- FIRING -> RESOLVED only once the value is on the right side by ``clear_margin`` with enough
  sample (hysteresis); windows in the margin band, below the sample minimum or without a credible
  breach keep it firing, so it does not flap.

Event time only: every decision uses window ends, never the wall clock, so a replay of the same
windows gives the same events, and episode ids (hash of kind, rule, scope and start) are the same
on every replay and restart. A window end at or before the last one processed for a rule and
scope is ignored, which makes re-delivery after a restart harmless.

The engine also owns the drift detectors of the target set, so the worker makes one call per
batch of closed windows. Non-matching results cost one dict lookup on (kpi, stat, window).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from pipeline.alerts.drift import DriftDetector
from pipeline.alerts.forecast import ForecastDetector
from pipeline.alerts.model import (
    AlertEvent,
    AlertKind,
    AlertState,
    DriftCheck,
    Forecast,
    Objective,
    ScopeMatch,
    Severity,
    Target,
    TargetSet,
)
from pipeline.alerts.stats import (
    AlertStatus,
    ScopeFilter,
    episode_id,
    relative_gap,
    severity_for,
    wilson_interval,
)
from pipeline.core.results import WindowResult
from pipeline.core.scopes import Scope


class _Detector(Protocol):
    def close_all(self) -> list[AlertEvent]: ...


class _Spec(Protocol):
    @property
    def id(self) -> str: ...


_D = TypeVar("_D", bound=_Detector)
_S = TypeVar("_S", bound=_Spec)

__all__ = ["STATE_FORMAT", "AlertEngine", "AlertStatus"]

STATE_FORMAT = "kpi-alert-engine/v1"

_Key = tuple[str, str, str]  # (kpi, stat, window)


class _Track:
    """One target in one concrete scope: its alert state and newest window."""

    __slots__ = (
        "episode",
        "gap",
        "last_end",
        "sample_size",
        "scope",
        "severity",
        "started_at",
        "state",
        "value",
    )

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.state = AlertState.OK
        self.started_at: int | None = None
        self.episode: str | None = None
        self.severity: str | None = None
        self.last_end: int | None = None  # newest window end processed (also the row's time)
        self.value: float | None = None
        self.sample_size = 0
        self.gap: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _Track.__slots__ if name != "scope"}
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, scope: Scope, data: dict[str, Any]) -> _Track:
        track = cls(scope)
        for name, value in data.items():
            setattr(track, name, value)
        track.state = AlertState(data["state"])
        return track


class _TargetRule:
    """The state machines of one target, one per concrete scope."""

    def __init__(self, target: Target) -> None:
        objective = target.objective
        if objective.op not in (">=", "<="):
            raise ValueError(f"target {target.id}: objective op must be >= or <=")
        if not 0.0 < target.confidence < 1.0:
            raise ValueError(f"target {target.id}: confidence must be in (0, 1)")
        self.target = target
        self.matches = ScopeFilter(target.scope, f"target {target.id}")
        self.severities = tuple(sorted(target.severities, key=lambda s: s.min_gap))
        self.tracks: dict[Scope, _Track] = {}

    def observe(self, r: WindowResult) -> list[AlertEvent]:
        if not self.matches(r.scope):
            return []
        track = self.tracks.get(r.scope)
        if track is None:
            track = self.tracks[r.scope] = _Track(r.scope)
        if track.last_end is not None and r.end <= track.last_end:
            return []  # re-delivered or replayed: already decided
        t = self.target
        value = r.value
        track.last_end, track.value, track.sample_size = r.end, value, r.sample_size
        track.gap = None if value is None else t.objective.gap(value)
        enough = value is not None and r.sample_size >= t.min_sample
        breach = enough and track.gap is not None and track.gap > 0 and self._credible(r)

        events: list[AlertEvent] = []
        if breach:
            assert track.gap is not None
            track.severity = severity_for(self.severities, track.gap)
            if track.state is AlertState.OK:
                track.state = AlertState.PENDING
                track.started_at = r.end
                track.episode = episode_id(AlertKind.TARGET, t.id, r.scope.encode(), r.end)
                events.append(self._event(track, AlertState.PENDING))
            assert track.started_at is not None
            if track.state is AlertState.PENDING and r.end - track.started_at >= t.hold_seconds:
                track.state = AlertState.FIRING
                events.append(self._event(track, AlertState.FIRING))
        elif track.state is AlertState.PENDING or (
            track.state is AlertState.FIRING and enough and self._cleared(value)
        ):
            events.append(self._event(track, AlertState.RESOLVED))
            self._reset(track)
        return events

    def _credible(self, r: WindowResult) -> bool:
        """Whether a wrong-side value is a credible breach: always for non-rate KPIs; for
        ratios, when the Wilson interval lies wholly on the wrong side of the objective."""
        if r.unit != "ratio":
            return True
        assert r.value is not None
        objective = self.target.objective
        low, high = wilson_interval(r.value * r.sample_size, r.sample_size, self.target.confidence)
        return high < objective.value if objective.op == ">=" else low > objective.value

    def _cleared(self, value: float | None) -> bool:
        if value is None:
            return False
        objective, margin = self.target.objective, self.target.clear_margin
        if objective.op == ">=":
            return value >= objective.value + margin
        return value <= objective.value - margin

    def prime(self, r: WindowResult) -> None:
        """Show a new or changed target against an already closed window without deciding on
        it: the scope appears with its value and the new gap at once (OK state), and the state
        machine starts with the next window."""
        if not self.matches(r.scope) or r.scope in self.tracks:
            return
        track = self.tracks[r.scope] = _Track(r.scope)
        track.last_end, track.value, track.sample_size = r.end, r.value, r.sample_size
        track.gap = None if r.value is None else self.target.objective.gap(r.value)

    def sweep(self, missed_end: int) -> list[AlertEvent]:
        """Pending episodes of scopes without a result at ``missed_end`` (a window end for which
        the KPI had results in other scopes) end there: no data in the window is no breach.
        Firing ones stay firing, as for any window below the sample minimum."""
        events = []
        for track in self.tracks.values():
            if track.state is AlertState.PENDING and (track.last_end or 0) < missed_end:
                track.last_end, track.value, track.gap = missed_end, None, None
                track.sample_size = 0
                events.append(self._event(track, AlertState.RESOLVED))
                self._reset(track)
        return events

    def close_all(self) -> list[AlertEvent]:
        """RESOLVED events for every open episode (the target was removed or changed)."""
        events = [
            self._event(track, AlertState.RESOLVED)
            for track in self.tracks.values()
            if track.state is not AlertState.OK
        ]
        self.tracks.clear()
        return events

    @staticmethod
    def _reset(track: _Track) -> None:
        track.state = AlertState.OK
        track.started_at = None
        track.episode = None
        track.severity = None

    def _event(self, track: _Track, state: AlertState) -> AlertEvent:
        t = self.target
        assert track.episode is not None and track.started_at is not None
        assert track.last_end is not None
        return AlertEvent(
            episode_id=track.episode,
            kind=AlertKind.TARGET,
            rule_id=t.id,
            state=state,
            at=track.last_end,
            started_at=track.started_at,
            kpi=t.kpi,
            stat=t.stat,
            window=t.window,
            labels=track.scope.labels(),
            value=track.value,
            objective=t.objective,
            gap=track.gap,
            gap_relative=relative_gap(track.gap, t.objective.value),
            sample_size=track.sample_size,
            severity=track.severity,
        )

    def status(self) -> list[AlertStatus]:
        t = self.target
        return [
            AlertStatus(
                kind=AlertKind.TARGET,
                rule_id=t.id,
                kpi=t.kpi,
                stat=t.stat,
                window=t.window,
                scope=track.scope,
                state=track.state,
                severity=track.severity,
                value=track.value,
                objective=t.objective,
                gap=track.gap,
                gap_relative=relative_gap(track.gap, t.objective.value),
                sample_size=track.sample_size,
                window_end=track.last_end,
                started_at=track.started_at,
                episode_id=track.episode,
                labels=track.scope.labels(),
            )
            for track in sorted(self.tracks.values(), key=lambda tr: tr.scope.encode())
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            scope.encode(): track.to_json()
            for scope, track in sorted(self.tracks.items(), key=lambda kv: kv[0].encode())
        }

    def load(self, data: dict[str, Any]) -> None:
        for key, track in data.items():
            scope = Scope.decode(key)
            self.tracks[scope] = _Track.from_json(scope, track)


class _Rules:
    """Everything that listens to one (kpi, stat, window)."""

    __slots__ = ("drift", "forecasts", "targets")

    def __init__(self) -> None:
        self.targets: list[_TargetRule] = []
        self.drift: list[DriftDetector] = []
        self.forecasts: list[ForecastDetector] = []


class AlertEngine:
    """Targets and drift checks of one targets file, evaluated on closed windows."""

    def __init__(self, targets: TargetSet) -> None:
        _check_unique(targets)
        self._targets = targets
        self._rules = [_TargetRule(t) for t in targets.targets]
        self._drift = [DriftDetector(d) for d in targets.drift]
        self._forecasts = [ForecastDetector(f) for f in targets.forecasts]
        self._key_end: dict[_Key, int] = {}  # newest window end seen per (kpi, stat, window)
        self._index: dict[_Key, _Rules] = {}
        self._reindex()

    @property
    def targets(self) -> TargetSet:
        return self._targets

    def _reindex(self) -> None:
        index: dict[_Key, _Rules] = {}
        for rule in self._rules:
            t = rule.target
            index.setdefault((t.kpi, t.stat, t.window), _Rules()).targets.append(rule)
        for detector in self._drift:
            d = detector.check
            index.setdefault((d.kpi, d.stat, d.window), _Rules()).drift.append(detector)
        for forecaster in self._forecasts:
            t = forecaster.forecast.target
            index.setdefault((t.kpi, t.stat, t.window), _Rules()).forecasts.append(forecaster)
        self._index = index
        self._key_end = {k: v for k, v in self._key_end.items() if k in index}

    @property
    def watched(self) -> frozenset[tuple[str, str, str]]:
        """The (kpi, stat, window) triples some rule evaluates: other results are ignored."""
        return frozenset(self._index)

    def observe(self, results: Iterable[WindowResult]) -> list[AlertEvent]:
        """Evaluate the results of newly closed windows (any number of windows and specs) and
        return the lifecycle transitions they cause, in order of window end."""
        index = self._index
        matched: list[tuple[WindowResult, _Key, _Rules]] = []
        for r in results:
            key = (r.kpi, r.stat, r.window)
            rules = index.get(key)
            if rules is not None:
                matched.append((r, key, rules))
        matched.sort(key=lambda m: m[0].end)  # stable: keeps the closer's order within an end

        events: list[AlertEvent] = []
        for r, key, rules in matched:
            last = self._key_end.get(key)
            if last is None or r.end > last:
                # The previous window end of this KPI is complete now: scopes that were pending
                # and had no result there had no data. (Done on the next end, not at the end of
                # the batch, so a window's results may come in several calls.)
                if last is not None:
                    for rule in rules.targets:
                        events.extend(rule.sweep(last))
                self._key_end[key] = r.end
            for rule in rules.targets:
                events.extend(rule.observe(r))
            for detector in rules.drift:
                events.extend(detector.observe(r))
            for forecaster in rules.forecasts:
                events.extend(forecaster.observe(r))
        return events

    def status(self) -> list[AlertStatus]:
        """Current state of every target and drift check in every concrete scope seen."""
        rows: list[AlertStatus] = []
        for rule in self._rules:
            rows.extend(rule.status())
        for detector in self._drift:
            rows.extend(detector.status())
        for forecaster in self._forecasts:
            rows.extend(forecaster.status())
        return rows

    def replace_targets(
        self, targets: TargetSet, latest: Iterable[WindowResult] = ()
    ) -> list[AlertEvent]:
        """Switch to a reloaded targets file. Rules whose id and definition are unchanged (the
        line they are written on may move) keep their state; removed or changed ones end their
        open episodes (the returned RESOLVED events); new or changed ones start fresh, primed
        with ``latest`` (the newest closed windows) so that their objective and gap show at
        once instead of after the next window closes."""
        _check_unique(targets)
        events: list[AlertEvent] = []
        old_rules = {rule.target.id: rule for rule in self._rules}
        rules: list[_TargetRule] = []
        fresh: list[_TargetRule] = []
        for t in targets.targets:
            old = old_rules.pop(t.id, None)
            if old is not None and _definition(old.target) == _definition(t):
                old.target = t
                rules.append(old)
            else:
                if old is not None:
                    events.extend(old.close_all())
                fresh.append(_TargetRule(t))
                rules.append(fresh[-1])
        for old in old_rules.values():
            events.extend(old.close_all())

        drift = _carried_over(
            {d.check.id: d for d in self._drift},
            targets.drift,
            lambda d: _definition(d.check),
            _definition,
            DriftDetector,
            _rebind_check,
            events,
        )
        forecasts = _carried_over(
            {f.forecast.id: f for f in self._forecasts},
            targets.forecasts,
            lambda f: _forecast_definition(f.forecast),
            _forecast_definition,
            ForecastDetector,
            _rebind_forecast,
            events,
        )

        self._targets, self._rules, self._drift = targets, rules, drift
        self._forecasts = forecasts
        self._reindex()
        for r in latest:
            for rule in fresh:
                t = rule.target
                if (t.kpi, t.stat, t.window) == (r.kpi, r.stat, r.window):
                    rule.prime(r)
        return events

    def to_json(self) -> dict[str, Any]:
        """The whole engine as plain JSON types: the rule definitions it runs and their state."""
        return {
            "format": STATE_FORMAT,
            "version": self._targets.version,
            "source": self._targets.source,
            "targets": [_target_to_json(t) for t in self._targets.targets],
            "drift": [_drift_to_json(d) for d in self._targets.drift],
            "key_ends": [[*key, end] for key, end in sorted(self._key_end.items())],
            "target_state": {rule.target.id: rule.to_json() for rule in self._rules},
            "drift_state": {d.check.id: d.to_json() for d in self._drift},
            "forecasts": [_forecast_to_json(f) for f in self._targets.forecasts],
            "forecast_state": {f.forecast.id: f.to_json() for f in self._forecasts},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertEngine:
        """Restore an engine saved by ``to_json``, with the rule definitions it had. To apply a
        targets file that may have changed since, call ``replace_targets`` next and publish the
        events it returns."""
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"not an alert engine state: format {data.get('format')!r}")
        targets = TargetSet(
            version=data["version"],
            targets=tuple(_target_from_json(t) for t in data["targets"]),
            drift=tuple(_drift_from_json(d) for d in data["drift"]),
            source=data["source"],
            # States saved before forecasts existed have none.
            forecasts=tuple(_forecast_from_json(f) for f in data.get("forecasts", [])),
        )
        engine = cls(targets)
        for rule in engine._rules:
            rule.load(data["target_state"].get(rule.target.id, {}))
        engine._drift = [
            DriftDetector.from_json(d.check, data["drift_state"][d.check.id])
            if d.check.id in data["drift_state"]
            else d
            for d in engine._drift
        ]
        saved = data.get("forecast_state", {})
        engine._forecasts = [
            ForecastDetector.from_json(f.forecast, saved[f.forecast.id])
            if f.forecast.id in saved
            else f
            for f in engine._forecasts
        ]
        engine._key_end = {(k, s, w): end for k, s, w, end in data["key_ends"]}
        engine._reindex()
        return engine


def _check_unique(targets: TargetSet) -> None:
    for kind, ids in (
        ("target", [t.id for t in targets.targets]),
        ("drift check", [d.id for d in targets.drift]),
        ("forecast", [f.id for f in targets.forecasts]),
    ):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate {kind} ids: {duplicates}")


def _definition(rule: Target | DriftCheck) -> Target | DriftCheck:
    """A rule without where it is written, for comparing definitions across reloads."""
    return dataclasses.replace(rule, line=None)


def _scope_to_json(scope: ScopeMatch) -> dict[str, Any]:
    return dataclasses.asdict(scope)


def _target_to_json(t: Target) -> dict[str, Any]:
    data = {f.name: getattr(t, f.name) for f in dataclasses.fields(t)}
    data["scope"] = _scope_to_json(t.scope)
    data["objective"] = {"op": t.objective.op, "value": t.objective.value}
    data["severities"] = [[s.name, s.min_gap] for s in t.severities]
    return data


def _target_from_json(data: dict[str, Any]) -> Target:
    return Target(
        **{
            **data,
            "scope": ScopeMatch(**data["scope"]),
            "objective": Objective(**data["objective"]),
            "severities": tuple(Severity(name, min_gap) for name, min_gap in data["severities"]),
        }
    )


def _drift_to_json(d: DriftCheck) -> dict[str, Any]:
    data = {f.name: getattr(d, f.name) for f in dataclasses.fields(d)}
    data["scope"] = _scope_to_json(d.scope)
    return data


def _drift_from_json(data: dict[str, Any]) -> DriftCheck:
    return DriftCheck(**{**data, "scope": ScopeMatch(**data["scope"])})


def _carried_over(
    old: dict[str, _D],
    specs: Iterable[_S],
    definition_of: Callable[[_D], object],
    definition: Callable[[_S], object],
    make: Callable[[_S], _D],
    rebind: Callable[[_D, _S], None],
    events: list[AlertEvent],
) -> list[_D]:
    """The detectors of ``specs`` after a reload: one whose definition is unchanged is kept with
    the new spec (its state and episodes go on); a changed one starts afresh; a changed or
    dropped one closes its open episodes (their transitions go to ``events``)."""
    kept: list[_D] = []
    for spec in specs:
        previous = old.pop(spec.id, None)
        if previous is not None and definition_of(previous) == definition(spec):
            rebind(previous, spec)
            kept.append(previous)
            continue
        if previous is not None:
            events.extend(previous.close_all())
        kept.append(make(spec))
    for previous in old.values():
        events.extend(previous.close_all())
    return kept


def _rebind_check(detector: DriftDetector, check: DriftCheck) -> None:
    detector.check = check


def _rebind_forecast(detector: ForecastDetector, forecast: Forecast) -> None:
    detector.forecast = forecast


def _forecast_definition(f: Forecast) -> Forecast:
    return dataclasses.replace(f, line=None, target=dataclasses.replace(f.target, line=None))


def _forecast_to_json(f: Forecast) -> dict[str, Any]:
    data = {field.name: getattr(f, field.name) for field in dataclasses.fields(f)}
    data["target"] = _target_to_json(f.target)
    return data


def _forecast_from_json(data: dict[str, Any]) -> Forecast:
    return Forecast(**{**data, "target": _target_from_json(data["target"])})
