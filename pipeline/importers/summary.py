"""The account of an import for people: what was read, what became events, what did not."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from pipeline.importers.bpic2013 import AMBIGUOUS_LEVEL, NOT_OPEN
from pipeline.importers.bpic2013 import EARLIER_CLOSURE as CLOSURE_GOES_ON
from pipeline.importers.servicenow import (
    CONTRADICTS_LIFECYCLE,
    EARLIER_CLOSURE,
    MOVED_FORWARD,
    SAME_MINUTE,
    MappingResult,
)

__all__ = ["summary_lines"]

_TYPE_ORDER = ("created", "reassigned", "resolved", "reopened", "closed")
_ADJUSTMENTS = {
    MOVED_FORWARD: "dated before the incident's previous event, moved forward to it",
    SAME_MINUTE: "same-minute events kept in the log's order (1 ms apart)",
    EARLIER_CLOSURE: "closures followed by a reopen (only the final closure is 'closed')",
    CONTRADICTS_LIFECYCLE: "not emitted: would contradict the ticket's lifecycle",
    AMBIGUOUS_LEVEL: "support line L2/L3 is not one line: the level is left as it was",
    CLOSURE_GOES_ON: "closures the request went on after (only the final one is 'closed')",
    NOT_OPEN: "not emitted: a resolution of a request already resolved",
}
_SHOWN_LINES = 5


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:_SHOWN_LINES])
    more = len(numbers) - _SHOWN_LINES
    return f"line {shown}" + (f" and {more:,} more" if more > 0 else "")


def _time(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M}"


def summary_lines(path: Path, result: MappingResult, seconds: float) -> list[str]:
    rate = result.rows / seconds if seconds > 0 else 0.0
    lines = [
        f"read {result.rows:,} rows of {result.incidents:,} incidents from {path.name} "
        f"in {seconds:.1f}s ({rate:,.0f} rows/s)"
    ]
    by_type = result.events_by_type()
    kinds = [k for k in _TYPE_ORDER if k in by_type] + sorted(set(by_type) - set(_TYPE_ORDER))
    counts = ", ".join(f"{k} {by_type[k]:,}" for k in kinds)
    lines.append(f"events: {len(result.events):,}" + (f" ({counts})" if counts else ""))
    moves = Counter(
        getattr(e.event, "status_detail", None) or "" for e in result.events
        if e.event.type.value == "status_changed"
    )  # fmt: skip
    if moves:
        shown = ", ".join(f"{detail} {n:,}" for detail, n in moves.most_common())
        lines.append(f"status moves by the tool's status: {shown}")
    if result.events:
        first, last = result.events[0].ts_ms, result.events[-1].ts_ms
        lines.append(f"event time: {_time(first)} .. {_time(last)} UTC")
    skipped = result.skipped_by_reason()
    lines.append(f"rows skipped: {len(result.skipped):,}")
    for reason, numbers in sorted(skipped.items(), key=lambda item: -len(item[1])):
        lines.append(f"  {reason}: {len(numbers):,} ({_lines(numbers)})")
    for kind, label in _ADJUSTMENTS.items():
        numbers = result.adjusted.get(kind, [])
        if numbers:
            lines.append(f"adjusted: {label}: {len(numbers):,} ({_lines(numbers)})")
    return lines
