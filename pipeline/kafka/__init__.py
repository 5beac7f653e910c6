"""Kafka plumbing: a local single-node broker for the demo and tests, and topic set-up."""

from pipeline.kafka.local_broker import (
    BrokerError,
    JavaNotFoundError,
    KafkaJarsNotFoundError,
    LocalBroker,
    default_libs_dir,
    ensure_topics,
    free_port,
)

__all__ = [
    "BrokerError",
    "JavaNotFoundError",
    "KafkaJarsNotFoundError",
    "LocalBroker",
    "default_libs_dir",
    "ensure_topics",
    "free_port",
]
