"""Producing imported events to the tickets topic, with the simulator's producer.

Same delivery as the simulator: idempotent producer with ``acks=all``, key = ticket id (murmur2
partitioning like the Java client), record timestamp = event time, input topics created with
the configured retention (-1 by default: imported history must not be deleted by time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pipeline.importers.servicenow import ImportedEvent
from pipeline.simulate.model import TICKETS, SimRecord
from pipeline.simulate.producer import ProducerOptions, ProduceStats, produce

__all__ = ["produce_events", "to_records"]


def to_records(events: Iterable[ImportedEvent]) -> Iterator[SimRecord]:
    """Kafka records of the events: compact contract JSON, keyed by ticket id."""
    for imported in events:
        event = imported.event
        value = event.model_dump_json(exclude_none=True).encode()
        yield SimRecord(TICKETS, event.ticket_id.encode(), value, imported.ts_ms)


async def produce_events(events: list[ImportedEvent], options: ProducerOptions) -> ProduceStats:
    """Produce ``events`` (in event-time order) and wait until the broker has them all."""
    window = (events[0].ts_ms, events[-1].ts_ms) if events else None
    return await produce(to_records(events), options, progress_window=window)
