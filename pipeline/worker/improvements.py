"""The worker's improvements register (``KPI_IMPROVEMENTS_FILE``): loaded at start (an invalid
register stops the start with the errors), reloaded when it changes or on SIGHUP (an invalid
new version is logged and ignored: the running register stays). The closed windows the
register needs are kept as windows close here, carried over to a new version of the register,
and read back from the windows topic when the worker starts closing windows (those closed
before it ran, or before a KPI entered the register)."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.core.durations import parse_duration
from pipeline.engine.frames import WindowFrame
from pipeline.improvements import Evaluation, ImprovementsError, Register, load_register
from pipeline.improvements.history import window_results
from pipeline.improvements.keeper import WindowKeeper
from pipeline.kafka.security import client_options

__all__ = ["ImprovementsFile"]

log = logging.getLogger(__name__)


class ImprovementsFile:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path: Path | None = settings.improvements_file
        self._mtime: float | None = None
        self._hangup = False
        self.keeper: WindowKeeper | None = None
        # The windows closed before this process (or before a new KPI entered the register)
        # are on kpi-windows: read them back once this worker closes windows.
        self.needs_history = self.path is not None
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
        self.needs_history = True
        return True

    async def read_history(self) -> int:
        """Read the closed windows the register needs back from the windows topic (every
        record still there; the key filters before a value is parsed). Returns the rows kept."""
        from pipeline.replay.reader import open_consumer, plan_ranges, read_ranges

        self.needs_history = False
        keeper = self.keeper
        if keeper is None:
            return 0
        sizes = {
            w.name: parse_duration(w.size)
            for w in self.settings.time.windows
            if w.name in keeper.windows
        }
        kafka = self.settings.kafka
        consumer = await open_consumer(kafka.bootstrap_servers, client_options(kafka))
        kept = 0
        try:
            topic = {"windows": self.settings.topics.windows}
            ranges = await plan_ranges(consumer, topic, 0, int(time.time() * 1000) + 60_000)
            async for batch in read_ranges(consumer, ranges):
                for record in batch:
                    kept += keeper.add(window_results(record.key, record.value, sizes))
        finally:
            await consumer.stop()
        log.info("improvements: %d window values read back from %s", kept, topic["windows"])
        return kept
