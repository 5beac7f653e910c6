"""The alert episodes a replay would have raised, one row each in ``alerts.csv``.

The engine emits transitions (pending, firing, resolved); an episode row joins them and adds the
worst gap seen while the episode was open, from every window of its KPI and scope (with enough
sample) between its start and its end, not only from the windows that caused a transition.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.alerts.model import AlertEvent, AlertKind, AlertState, Target, TargetSet
from pipeline.core.results import WindowResult, iso
from pipeline.core.scopes import DIMENSIONS, Scope

__all__ = ["ALERT_COLUMNS", "Episode", "EpisodeLog"]

ALERT_COLUMNS = [
    "episode_id",
    "kind",
    "rule",
    "kpi",
    "stat",
    "window",
    "breakdown",
    *DIMENSIONS,
    "severity",
    "pending_at",
    "firing_at",
    "resolved_at",
    "state_at_end",
    "objective",
    "worst_value",
    "worst_gap",
]

_Key = tuple[str, str, str, Scope]  # kpi, stat, window, scope


@dataclass
class Episode:
    episode_id: str
    kind: AlertKind
    rule: str
    kpi: str
    stat: str
    window: str
    scope: Scope
    pending_at: float
    firing_at: float | None = None
    resolved_at: float | None = None
    state: AlertState = AlertState.PENDING
    severity: str | None = None
    objective: str = ""
    worst_gap: float | None = None
    worst_value: float | None = None

    @property
    def key(self) -> _Key:
        return (self.kpi, self.stat, self.window, self.scope)

    def covers(self, end: int) -> bool:
        return self.pending_at <= end and (self.resolved_at is None or end < self.resolved_at)

    def note_gap(self, value: float | None, gap: float | None) -> None:
        if gap is not None and (self.worst_gap is None or gap > self.worst_gap):
            self.worst_gap, self.worst_value = gap, value


class EpisodeLog:
    def __init__(self, targets: TargetSet | None) -> None:
        self.targets: dict[str, Target] = {t.id: t for t in (targets.targets if targets else ())}
        self.episodes: dict[str, Episode] = {}
        # Episodes to update from windows: open ones, and those that ended in this batch.
        self._watch: dict[_Key, list[Episode]] = {}

    def add(self, windows: Iterable[WindowResult], events: Iterable[AlertEvent]) -> None:
        for event in events:
            self._transition(event)
        if self._watch:
            for r in windows:
                for episode in self._watch.get((r.kpi, r.stat, r.window, r.scope), ()):
                    self._window(episode, r)
        self._watch = {
            key: kept
            for key, episodes in self._watch.items()
            if (kept := [e for e in episodes if e.state is not AlertState.RESOLVED])
        }

    def _transition(self, event: AlertEvent) -> None:
        episode = self.episodes.get(event.episode_id)
        if episode is None:
            labels = event.labels
            scope = Scope(
                labels.get("breakdown", "all"), **{d: labels.get(d) or None for d in DIMENSIONS}
            )
            objective = f"{event.objective.op} {event.objective.value:g}" if event.objective else ""
            episode = self.episodes[event.episode_id] = Episode(
                event.episode_id,
                event.kind,
                event.rule_id,
                event.kpi,
                event.stat,
                event.window,
                scope,
                event.started_at,
                objective=objective,
            )
            self._watch.setdefault(episode.key, []).append(episode)
        if event.severity is not None:
            episode.severity = event.severity
        if event.state is AlertState.FIRING:
            episode.firing_at = event.at
        elif event.state is AlertState.RESOLVED:
            episode.resolved_at = event.at
        episode.state = event.state
        episode.note_gap(event.value, event.gap)

    def _window(self, episode: Episode, r: WindowResult) -> None:
        if not episode.covers(r.end) or r.value is None:
            return
        target = self.targets.get(episode.rule)
        if target is None or r.sample_size < target.min_sample:
            return  # drift checks report their own distance; thin windows prove nothing
        episode.note_gap(r.value, target.objective.gap(r.value))

    def write(self, path: Path) -> int:
        episodes = sorted(self.episodes.values(), key=lambda e: (e.pending_at, e.episode_id))
        with path.open("w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(ALERT_COLUMNS)
            for e in episodes:
                labels = e.scope.labels()
                out.writerow(
                    [
                        e.episode_id,
                        e.kind.value,
                        e.rule,
                        e.kpi,
                        e.stat,
                        e.window,
                        labels["breakdown"],
                        *(labels[d] for d in DIMENSIONS),
                        e.severity or "",
                        iso(e.pending_at),
                        iso(e.firing_at) if e.firing_at is not None else "",
                        iso(e.resolved_at) if e.resolved_at is not None else "",
                        e.state.value,
                        e.objective,
                        _num(e.worst_value),
                        _num(e.worst_gap),
                    ]
                )
        return len(episodes)


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))
