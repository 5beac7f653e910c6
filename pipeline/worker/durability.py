"""Table writes reach Kafka before the input offsets that caused them are committed.

Faust commits input offsets after ``producer.flush()``, which first drains its ``ProducerBuffer``
(table changelog writes wait there, as ``table[key] = value`` cannot await). But the buffer's
``flush()`` gives up as soon as no message went out for 0.1 s and returns with messages still
waiting: under load (a busy or small machine) offsets are then committed ahead of the changelog
writes of the records they cover, and a crash at that moment loses state for good (the records
are not redelivered). The fault test with SIGKILLs shows it as tickets "never created".

``drain_before_commit`` makes that flush wait until the buffer is empty.
"""

from __future__ import annotations

from typing import Any

__all__ = ["drain_before_commit"]


def drain_before_commit(buffer: Any) -> None:
    """Patch one ``faust.transport.producer.ProducerBuffer`` so that ``flush()`` returns only
    when every buffered message has been handed to the Kafka producer (whose own flush, which
    Faust awaits next, then waits for the broker's acknowledgements)."""
    if getattr(buffer, "_drains_fully", False):
        return
    flush_some = buffer.flush_atmost

    async def flush() -> None:
        while buffer.size:
            await flush_some(None)

    buffer.flush = flush
    buffer._drains_fully = True
