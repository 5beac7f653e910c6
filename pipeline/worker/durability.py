"""Table writes reach Kafka before the input offsets that caused them are committed.

Faust commits input offsets after ``producer.flush()``, which first drains its ``ProducerBuffer``
(table changelog writes wait there, as ``table[key] = value`` cannot await) and then flushes the
Kafka producer. Two gaps let a commit overtake changelog writes, and a crash at that moment loses
state for good (the records are not redelivered); the fault test with SIGKILLs shows both:

- the buffer's ``flush()`` gives up as soon as no message went out for 0.1 s, with messages still
  waiting (under load, on a busy or small machine);
- the message the buffer has just taken off its queue is not counted in its size while it is on
  its way into the Kafka producer, so "empty" can be one message short.

``drain_before_commit`` closes both: its flush returns only when the queue is empty and no
message of the table's changelog topic is in transit.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["drain_before_commit"]


def drain_before_commit(buffer: Any, changelog_topic: Any) -> None:
    """Patch one ``faust.transport.producer.ProducerBuffer`` (and the changelog topic whose
    writes go through it) so that ``flush()`` returns only when every buffered changelog write
    has been handed to the Kafka producer, whose own flush Faust awaits next."""
    if getattr(buffer, "_drains_fully", False):
        return
    flush_some = buffer.flush_atmost
    publish = changelog_topic.publish_message
    in_transit = [0]

    async def counted_publish(fut: Any, wait: bool = False) -> Any:
        in_transit[0] += 1
        try:
            return await publish(fut, wait=wait)
        finally:
            in_transit[0] -= 1

    async def flush() -> None:
        while buffer.size or in_transit[0]:
            if buffer.size:
                await flush_some(None)
            else:
                await asyncio.sleep(0.001)

    changelog_topic.publish_message = counted_publish
    buffer.flush = flush
    buffer._drains_fully = True
