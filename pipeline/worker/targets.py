"""The worker's targets file: loaded at start (an invalid file stops the start with the errors),
reloaded when it changes or on SIGHUP (an invalid new version is logged and ignored: the
running targets stay)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import TargetSet
from pipeline.config import Settings
from pipeline.targets import TargetsError, configured_windows, load_targets

__all__ = ["TargetsFile"]

log = logging.getLogger(__name__)


class TargetsFile:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path: Path | None = settings.targets_file
        self._mtime: float | None = None
        self._hangup = False
        self.current: TargetSet | None = self._load() if self.path else None
        if self.path is not None:
            signal.signal(signal.SIGHUP, self._on_hangup)

    def engine(self) -> AlertEngine | None:
        return AlertEngine(self.current) if self.current is not None else None

    def _on_hangup(self, signum: int, frame: object) -> None:
        self._hangup = True

    def _load(self) -> TargetSet:
        assert self.path is not None
        self._mtime = self.path.stat().st_mtime
        targets, warnings = load_targets(
            self.path,
            windows=configured_windows(self.settings),
            breakdowns=self.settings.breakdowns,
        )
        for warning in warnings:
            log.warning("targets: %s", warning)
        log.info(
            "targets: %d targets, %d drift checks from %s",
            len(targets.targets),
            len(targets.drift),
            self.path,
        )
        return targets

    def reload_if_changed(self) -> TargetSet | None:
        """The new targets when the file changed (or SIGHUP arrived) and is valid, else None."""
        if self.path is None:
            return None
        try:
            changed = self.path.stat().st_mtime != self._mtime
        except OSError as exc:
            log.error("targets: cannot read %s (%s); keeping the running targets", self.path, exc)
            return None
        if not (changed or self._hangup):
            return None
        self._hangup = False
        try:
            self.current = self._load()
        except (TargetsError, OSError) as exc:
            self._mtime = self.path.stat().st_mtime if self.path.exists() else None
            log.error("targets: %s is invalid, keeping the running targets:\n%s", self.path, exc)
            return None
        return self.current
