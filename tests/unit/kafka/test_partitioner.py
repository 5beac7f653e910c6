"""The worker's murmur2 must choose the partitions Kafka's default partitioner (the Java client,
aiokafka) chooses: consumers and other producers of the same keys rely on it."""

from __future__ import annotations

import random

from aiokafka.partitioner import murmur2 as reference

from pipeline.kafka.partitioner import murmur2, partition_for_key


def test_murmur2_is_the_clients_hash_for_every_length_and_byte() -> None:
    rng = random.Random(3)
    for length in range(70):
        for _ in range(20):
            data = bytes(rng.randrange(256) for _ in range(length))
            assert murmur2(data) == reference(data), data


def test_a_window_key_lands_where_the_default_partitioner_puts_it() -> None:
    key = b"1h|1767606000|service\x1fnetwork|v3"
    for partitions in (1, 3, 8, 12):
        assert partition_for_key(key, partitions) == (reference(key) & 0x7FFFFFFF) % partitions
