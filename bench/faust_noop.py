"""A Faust agent that only decodes each record's JSON, on the bench's input topics: the ceiling of
Faust's stream path on this machine (``python -m bench.faust_noop``, configured by NOOP_*
variables; the bench starts it and times it from its committed offsets, as it does the worker).

Same consumer settings as the worker where they matter: raw bytes, ``take_events`` batches,
commits every second, no web server or table, the worker's collector setting
(pipeline.engine.gc_policy). ``NOOP_LOOP=uvloop`` runs it on uvloop; ``NOOP_DELIVERY=lean`` hands
records on as the worker does (pipeline.kafka.internals, ``lean_delivery``) rather than as Faust
does.
"""

from __future__ import annotations

import os
from typing import Any

import faust
import mode.loop
import orjson

from pipeline.engine.gc_policy import tune_collector
from pipeline.kafka import internals

__all__ = ["main"]


def main() -> None:
    if os.environ.get("NOOP_LOOP", "asyncio") == "uvloop":
        mode.loop.use("uvloop")
    app = faust.App(
        os.environ["NOOP_APP_ID"],
        broker=f"kafka://{os.environ['NOOP_BOOTSTRAP']}",
        autodiscover=False,
        web_enabled=False,
        store="memory://",
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        processing_guarantee="at_least_once",
    )
    topic = app.topic(
        *os.environ["NOOP_TOPICS"].split(","),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    if os.environ.get("NOOP_DELIVERY", "faust") == "lean":
        internals.lean_delivery(app.consumer)  # as the worker delivers

    @app.agent(topic, concurrency=1)
    async def decode(stream: Any) -> None:
        async for events in stream.take_events(500, 0.05):
            for event in events:
                try:  # noqa: SIM105 (a plain try costs less than contextlib.suppress)
                    orjson.loads(event.message.value)
                except orjson.JSONDecodeError:
                    pass  # the bad records of the stream

    worker = faust.Worker(app, loglevel="warning")
    worker.spinner = None
    tune_collector()
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
