"""Running a worker process: make sure the topics exist, then hand over to Faust's worker
(which installs signal handlers and runs until stopped).

Creating the topics doubles as the start-up check of the Kafka connection: unreachable brokers,
refused credentials or a TLS mismatch end the process with one clear line and a non-zero exit
within ``kafka.connect_timeout``, instead of a worker that retries forever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import faust
import mode.loop
from aiokafka.errors import KafkaError

from pipeline.config import Settings
from pipeline.engine.gc_policy import tune_collector
from pipeline.kafka.local_broker import BrokerError, ensure_topics
from pipeline.kafka.security import client_options, describe
from pipeline.worker.app import MERGE_TABLE, create_app
from pipeline.worker.memory import limit_malloc_arenas
from pipeline.worker.stores import StoreUnavailable, table_options

__all__ = ["KafkaStartupError", "run_worker"]

log = logging.getLogger(__name__)

EXIT_STORE_UNAVAILABLE = 2
EXIT_KAFKA_UNAVAILABLE = 3


class KafkaStartupError(RuntimeError):
    """The worker could not reach, authenticate to, or create its topics on Kafka."""


async def _ensure_topics(settings: Settings) -> None:
    topics, kafka = settings.topics, settings.kafka
    client = client_options(kafka)
    timeout = kafka.connect_timeout
    await ensure_topics(
        kafka.bootstrap_servers,
        [topics.tickets, topics.surveys],
        topics.partitions,
        topics.replication_factor,
        timeout=timeout,
        configs=topics.input_topic_configs(),
        client=client,
    )
    await ensure_topics(
        kafka.bootstrap_servers,
        [topics.dlq, topics.windows, topics.alerts],
        topics.partitions,
        topics.replication_factor,
        timeout=timeout,
        client=client,
    )
    # One partition: the worker that owns it closes windows over every input partition. Its
    # table's changelog is made here too: Faust creates changelogs itself, but a worker whose
    # metadata does not list the new topic yet when the first pane record comes finds the
    # table and topic "not co-partitioned", and the record is lost with the crashed agent.
    await ensure_topics(
        kafka.bootstrap_servers,
        [topics.panes],
        1,
        topics.replication_factor,
        timeout=timeout,
        client=client,
    )
    await ensure_topics(
        kafka.bootstrap_servers,
        [f"{settings.app_id}-{MERGE_TABLE}-changelog"],
        1,
        topics.replication_factor,
        timeout=timeout,
        configs={"cleanup.policy": "compact"},
        client=client,
    )


def check_kafka(settings: Settings) -> None:
    """Connect, authenticate and create the topics, within ``kafka.connect_timeout``."""
    timeout = settings.kafka.connect_timeout

    async def bounded() -> None:
        await asyncio.wait_for(_ensure_topics(settings), timeout)

    try:
        asyncio.run(bounded())
    except (KafkaError, BrokerError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout:g}s"
        raise KafkaStartupError(
            f"cannot use Kafka at {describe(settings.kafka)}: {type(exc).__name__}: {reason}"
        ) from exc


def run_worker(settings: Settings, exit_when_caught_up: bool = False) -> int:
    try:
        table_options(settings.store)
        check_kafka(settings)
    except (StoreUnavailable, KafkaStartupError) as exc:
        log.error("%s", exc)
        # Logging may not be configured yet (Faust sets it up): say it on stderr as well.
        print(f"error: {exc}", file=sys.stderr, flush=True)
        if isinstance(exc, StoreUnavailable):
            return EXIT_STORE_UNAVAILABLE
        return EXIT_KAFKA_UNAVAILABLE
    log.info("Kafka at %s", describe(settings.kafka))
    # Before Faust's consumer thread and RocksDB's background threads exist.
    limit_malloc_arenas(settings.worker.malloc_arenas)
    if settings.worker.event_loop == "uvloop":
        # Before the app and worker exist: they take the loop the policy gives.
        mode.loop.use("uvloop")
    worker_app = create_app(settings)
    # Web bind/port come from the app's settings (127.0.0.1 unless configured).
    worker = faust.Worker(worker_app.app, loglevel=settings.log_level)
    # Faust's terminal spinner sets the root logger to DEBUG (and spins on every record), so
    # every debug call of Faust and aiokafka on the hot path builds a log record: off.
    worker.spinner = None
    if exit_when_caught_up:
        # The same orderly stop as SIGTERM: commits, closes the tables, leaves the group.
        worker_app.on_caught_up = lambda: os.kill(os.getpid(), signal.SIGTERM)
    tune_collector()
    worker.execute_from_commandline()
    return 0
