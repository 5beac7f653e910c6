"""The /metrics page of the worker: KPI values rendered once per closed window, the rest at
every scrape.

Rendering every KPI series (every KPI, statistic and scope of two window specs) took tens
of milliseconds of the worker's only thread through ``generate_latest``; they change only when a
window closes, while Prometheus (or a dashboard poller) may scrape many times in between. They
are written directly (pipeline.metrics.kpi_text), a few milliseconds, and only after a close.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from pipeline.engine.runtime import Engine
from pipeline.metrics.collector import ClosingLookup
from pipeline.metrics.kpi_text import render_windows

__all__ = ["MetricsPage"]


class MetricsPage:
    def __init__(
        self,
        runtime: Engine,
        live: CollectorRegistry,
        closing: ClosingLookup | None = None,
    ) -> None:
        self.closing: ClosingLookup = closing or (lambda: runtime)
        self.live = live  # everything but the KPI values: rendered at every scrape
        # The window frames the cached text was made from: the closer replaces a spec's frame
        # when it closes a window, so identity tells whether the text is current (the frames
        # are held here, so their ids cannot be reused).
        self._made_from: tuple[object, ...] = ()
        self._text = b""
        self.window_renders = 0  # how often the KPI values were rendered (not taken as cached)

    def render(self) -> bytes:
        closing = self.closing()
        if closing is None:  # windows close on another worker: no KPI values here
            return generate_latest(self.live)
        latest = tuple(closing.closer.latest.values())
        if len(latest) != len(self._made_from) or any(
            a is not b for a, b in zip(latest, self._made_from, strict=False)
        ):
            self._text = render_windows(closing.closer.latest.items())
            self._made_from = latest
            self.window_renders += 1
        return self._text + generate_latest(self.live)
