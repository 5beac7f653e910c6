"""Alert evaluation where windows close (one engine, or the closer of several workers)."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import AlertEvent, TargetSet
from pipeline.engine.closing import WindowCloser
from pipeline.engine.frames import WindowFrame

__all__ = ["ClosesWithAlerts"]


class ClosesWithAlerts:
    """Mixin: ``alerts`` (None: no targets), transitions queued by a reload, and the closer
    whose newest windows a reloaded rule is shown against."""

    alerts: AlertEngine | None
    pending_alerts: list[AlertEvent]
    closer: WindowCloser

    def evaluate(self, frames: Iterable[WindowFrame]) -> list[AlertEvent]:
        """Alert transitions caused by newly closed windows (and any queued by a reload)."""
        events, self.pending_alerts = self.pending_alerts, []
        if self.alerts is not None:
            watched = self.alerts.watched
            results = [r for f in frames for r in f.results(watched)]
            if results:
                events += self.alerts.observe(results)
        return events

    def reload_targets(self, targets: TargetSet) -> list[AlertEvent]:
        """Apply a reloaded targets file: alert state of unchanged rules is kept, and new or
        changed rules show against the newest closed windows at once. Returns the transitions
        to publish (open episodes of removed or changed rules end)."""
        if self.alerts is None:
            self.alerts = AlertEngine(targets)
        latest = [r for frame in self.closer.latest.values() for r in frame.results()]
        # Not saved here (table writes belong to stream iteration): the next closed window
        # saves it, and a restart before that reads the same file again.
        self.pending_alerts += self.alerts.replace_targets(targets, latest)
        return self.evaluate([])
