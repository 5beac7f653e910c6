"""The worker's improvements register (``KPI_IMPROVEMENTS_FILE``): loaded at start (an invalid
register stops the start with the errors), reloaded when it changes or on SIGHUP (an invalid
new version is logged and ignored: the running register stays). The closed windows the
register needs are kept as windows close here, and carried over to a new version of the
register."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.engine.frames import WindowFrame
from pipeline.improvements import Evaluation, ImprovementsError, Register, load_register
from pipeline.improvements.keeper import WindowKeeper

__all__ = ["ImprovementsFile"]

log = logging.getLogger(__name__)


class ImprovementsFile:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path: Path | None = settings.improvements_file
        self._mtime: float | None = None
        self._hangup = False
        self.keeper: WindowKeeper | None = None
        if self.path is not None:
            self.keeper = WindowKeeper(self._load())
            previous = signal.getsignal(signal.SIGHUP)

            def on_hangup(signum: int, frame: Any) -> None:
                self._hangup = True
                if callable(previous):
                    previous(signum, frame)  # the targets file reloads on SIGHUP too

            signal.signal(signal.SIGHUP, on_hangup)

    def _load(self) -> Register:
        assert self.path is not None
        self._mtime = self.path.stat().st_mtime
        register, warnings = load_register(
            self.path,
            windows={w.name for w in self.settings.time.windows},
            breakdowns=self.settings.breakdowns,
        )
        for warning in warnings:
            log.warning("improvements: %s", warning)
        log.info("improvements: %d improvements from %s", len(register.improvements), self.path)
        return register

    def add(self, frames: Iterable[WindowFrame]) -> None:
        """Keep the closed windows the register needs."""
        if self.keeper is None:
            return
        names = self.keeper.windows
        for frame in frames:
            size = frame.end - frame.start
            if frame.window in names and size > 0 and frame.start % size == 0:
                self.keeper.add(frame.results())

    def evaluations(self) -> list[Evaluation] | None:
        return None if self.keeper is None else self.keeper.evaluate()

    def reload_if_changed(self) -> bool:
        """True when a changed (or SIGHUP'd) register was valid and is now in force."""
        if self.path is None or self.keeper is None:
            return False
        try:
            changed = self.path.stat().st_mtime != self._mtime
        except OSError as exc:
            log.error("improvements: cannot read %s (%s); keeping the register", self.path, exc)
            return False
        if not (changed or self._hangup):
            return False
        self._hangup = False
        try:
            register = self._load()
        except (ImprovementsError, OSError) as exc:
            self._mtime = self.path.stat().st_mtime if self.path.exists() else None
            log.error("improvements: %s is invalid, keeping the register:\n%s", self.path, exc)
            return False
        keeper = WindowKeeper(register)
        keeper.adopt(self.keeper)
        self.keeper = keeper
        return True
