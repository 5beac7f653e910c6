"""What an input partition's log really holds from an offset on, read by a consumer of its own.

After a seek back, the first record the worker's consumer delivers can lie beyond the offset
sought to for two reasons that look the same from the stream: the offsets between hold no
record (transaction markers, retention), or Faust's fetch loop dropped the re-fetched records
again (a seek made while the partition was not yet active after a table recovery: seen in a
SIGKILL run, where treating 74 dropped records as a hole lost them). A consumer outside
Faust, outside any group, tells the two apart: it fetches from the offset and reports the first
record there is.

It reads as the worker's consumer does: at-least-once processing reads uncommitted records
(aiokafka's default isolation), so both see the records of aborted transactions and skip the
markers alike; and an offset that retention deleted reads from the log's start, as Faust's
consumer resets it (``auto_offset_reset="earliest"``), not from its end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

__all__ = ["LogProbe"]

log = logging.getLogger(__name__)

# A fetch from an offset with records behind it answers at once; this bounds a broker that
# does not answer (the seek back is then tried again, never taken for a hole).
_PROBE_TIMEOUT_S = 5.0
_POLL_MS = 200


class LogProbe:
    """Opened at the first question, kept for the next (transactional inputs ask once per
    marker); ``close`` when the worker stops."""

    def __init__(self, bootstrap_servers: str, client: Mapping[str, Any]) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client = client  # security options (pipeline.kafka.security.client_options)
        self._consumer: AIOKafkaConsumer | None = None

    async def first_offset(self, topic: str, partition: int, offset: int) -> int | None:
        """The offset of the first record at or after ``offset``; None when the broker did not
        say (unreachable, or no record within the timeout)."""
        tp = TopicPartition(topic, partition)
        try:
            consumer = self._consumer = self._consumer or await self._open()
            consumer.assign([tp])
            consumer.seek(tp, offset)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + _PROBE_TIMEOUT_S
            while loop.time() < deadline:
                fetched = await consumer.getmany(tp, timeout_ms=_POLL_MS, max_records=1)
                records = fetched.get(tp)
                if records:
                    return int(records[0].offset)
        except (KafkaError, OSError) as exc:
            log.warning("%s/%d: could not read the log from offset %d: %s", *tp, offset, exc)
            await self.close()
        return None

    async def _open(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            group_id=None,  # joins no group, commits nothing
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="kpi-pipeline-log-probe",
            **self._client,
        )
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        # A consumer without a group starts a helper task that ``stop()`` cancels and awaits;
        # one that never ran re-raises the cancellation from ``stop()``. Let it start.
        await asyncio.sleep(0)
        return consumer

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
