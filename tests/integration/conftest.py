"""Fixtures for the integration tests: one real local Kafka broker for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.kafka import LocalBroker, free_port


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A started single-node broker on free ports, in a fresh data dir, stopped at the end."""
    broker = LocalBroker(
        data_dir=tmp_path_factory.mktemp("kafka"),
        port=free_port(),
        controller_port=free_port(),
        # A test run killed hard must not leave a JVM behind.
        stop_with_parent=True,
    )
    try:
        broker.start(timeout=90)
        yield broker
    finally:
        broker.stop()
