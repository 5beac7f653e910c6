"""The garbage collector, set for a process whose heap is mostly long-lived engine state.

The engine keeps an object graph per open ticket and per pane alive for hours of event time, and
allocates a few short-lived containers per record, almost none of them in reference cycles
(reference counting frees them). CPython's default thresholds (700, 10, 10) collect the young
generation every 700 allocations and walk the older ones again and again as the state grows:
on the bench's event path, collections that freed about a thousand objects took 2.2 of 13.5 CPU
seconds. Collecting the young generation every 50,000 allocations, the middle one every 20 of
those and the oldest every 100 of those (CPython also waits until the oldest generation's new
survivors reach a quarter of it) keeps the few cycles there are bounded, at a few percent of the
time. What exists when the process starts to work (modules, settings, KPI definitions) is moved
out of the collector's reach for good (``gc.freeze``).

Worker and replay apply it once set up, before the first record.
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "tune_collector"]

THRESHOLDS = (50_000, 20, 100)


def tune_collector() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
