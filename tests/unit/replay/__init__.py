"""Replay tests; ``engine_frames`` runs a simulated stream through the engine in one process."""

from __future__ import annotations

from collections import Counter

from aiokafka.partitioner import murmur2

from pipeline.core.context import CoreContext
from pipeline.engine.frames import WindowFrame
from pipeline.engine.runtime import Engine
from pipeline.simulate import SimConfig, generate


def engine_frames(ctx: CoreContext, config: SimConfig) -> list[WindowFrame]:
    """Every window the engine closes over the simulated records (two partitions per topic,
    keyed as the producer keys them), up to the end of the stream."""
    engine = Engine(ctx, {"tickets": "tickets", "surveys": "surveys"})
    offsets: Counter[tuple[str, int]] = Counter()
    records = []
    for r in generate(config):
        tp = (r.topic, (murmur2(r.key) & 0x7FFFFFFF) % 2)
        records.append((tp[0], tp[1], offsets[tp], r.key, r.value))
        offsets[tp] += 1
    engine.assign(offsets)
    engine.end_offsets = dict(offsets)
    return engine.handle_batch(records).windows + engine.close_windows()
