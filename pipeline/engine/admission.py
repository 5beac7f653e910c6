"""Admission of one input record: the checks around decoding that need more than the record
itself (its size and key, the wall clock, the worker's event-time progress).

Reasons added to the decoder's (see ``pipeline.schemas.decode`` and docs/errors.md):
``empty_record`` (no value, or zero bytes), ``record_too_large`` (over ``max_record_bytes``,
refused before parsing), ``wrong_key`` (the record key is not the event's key: a ticket's events
must share one partition, so a record keyed otherwise, or not at all, could split its ticket),
``timestamp_before_1970`` (Kafka record timestamps cannot be negative, and no service desk event
is that old: a zeroed or defaulted clock) and ``timestamp_in_future``.

The future guard: an event more than ``max_future`` ahead of *both* the wall clock and the newest
event time accepted on the worker's partitions is refused. A single such event would move its
partition's watermark far ahead and make every later event of the partition late.

- Live streams: event times are close to the wall clock, so any sane producer passes, also after
  a long silence (a weekend) when the partition's own newest event is days old.
- Replays of history and imports: the events lie in the past of the wall clock and always pass.
  A glitch that is ahead of its stream but still in the past is not caught (nothing tells it from
  a genuine gap without looking ahead).
- Simulations faster than real time run ahead of the wall clock: they pass because each event is
  close to the newest event time already accepted (restored from state after a restart). A
  fresh worker with no state on a stream already more than ``max_future`` ahead of the clock
  refuses it: raise ``max_future`` (or set it to none) for such a setup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.core.events import Event
from pipeline.schemas.decode import DECODERS, DecodeError

__all__ = ["Admission"]


@dataclass
class Admission:
    max_record_bytes: int = 64 * 1024
    max_future: float | None = 3600.0
    clock: Callable[[], float] = field(default=time.time)

    def decode(
        self,
        source: str,
        key: bytes | None,
        raw: bytes | None,
        offset: int,
        newest: Callable[[], float],
    ) -> Event:
        """The event of one record, or DecodeError with the reason. ``newest`` gives the newest
        event time accepted so far (only asked for events ahead of the wall clock)."""
        if not raw:
            raise DecodeError("empty_record", "the record has no value")
        if len(raw) > self.max_record_bytes:
            raise DecodeError(
                "record_too_large",
                f"{len(raw)} bytes, more than the limit of {self.max_record_bytes}",
            )
        fast, by_model = DECODERS[source]
        event = fast(raw, offset) or by_model(raw, offset)
        if key is None or key != event.key.encode():
            got = "no key" if key is None else f"key {key[:100]!r}"
            raise DecodeError("wrong_key", f"{got}; the event's key is {event.key!r}")
        if event.ts < 0:
            raise DecodeError("timestamp_before_1970", f"event time {event.ts:.0f} is before 1970")
        if self.max_future is not None and event.ts > self.clock() + self.max_future:
            reference = max(self.clock(), newest())
            if event.ts > reference + self.max_future:
                raise DecodeError(
                    "timestamp_in_future",
                    f"event time {event.ts:.0f} is more than {self.max_future:.0f}s ahead of "
                    f"both the wall clock and the newest event time {reference:.0f}",
                )
        return event
