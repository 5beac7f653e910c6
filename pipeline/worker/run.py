"""Running a worker process: make sure the topics exist, then hand over to Faust's worker
(which installs signal handlers and runs until stopped)."""

from __future__ import annotations

import asyncio
import logging

import faust

from pipeline.config import Settings
from pipeline.kafka.local_broker import ensure_topics
from pipeline.worker.app import create_app

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


async def _ensure_topics(settings: Settings) -> None:
    topics, bootstrap = settings.topics, settings.kafka.bootstrap_servers
    await ensure_topics(
        bootstrap,
        [topics.tickets, topics.surveys],
        topics.partitions,
        topics.replication_factor,
        configs=topics.input_topic_configs(),
    )
    await ensure_topics(
        bootstrap,
        [topics.dlq, topics.windows, topics.alerts],
        topics.partitions,
        topics.replication_factor,
    )


def run_worker(settings: Settings) -> int:
    asyncio.run(_ensure_topics(settings))
    worker_app = create_app(settings)
    # Web bind/port come from the app's settings (127.0.0.1 unless configured).
    worker = faust.Worker(worker_app.app, loglevel=settings.log_level)
    # Faust's terminal spinner sets the root logger to DEBUG (and spins on every record), so
    # every debug call of Faust and aiokafka on the hot path builds a log record: off.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0
