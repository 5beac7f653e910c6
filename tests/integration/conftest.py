"""Fixtures for the integration tests: one real local Kafka broker for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.kafka import LocalBroker
from tests.integration.harness import local_broker


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A started single-node broker on free ports, in a fresh data dir, stopped at the end."""
    with local_broker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker
