"""Faust's producer buffer flush, as patched: it returns only once the buffer is empty, even when
sending stalls for longer than the 0.1 s after which Faust's own flush gives up."""

from __future__ import annotations

import asyncio

from faust.transport.producer import ProducerBuffer

from pipeline.worker.durability import drain_before_commit


class SlowBuffer(ProducerBuffer):
    def __init__(self, messages: int) -> None:
        super().__init__()
        self.waiting = messages

    @property
    def size(self) -> int:
        return self.waiting

    async def flush_atmost(self, max_messages: int | None) -> int:
        # Faust's version: gives up once nothing was sent for 0.1 s (here after one message).
        await asyncio.sleep(0.15)
        self.waiting -= 1
        return 1


async def test_flush_waits_for_every_buffered_message() -> None:
    unpatched = SlowBuffer(4)
    await unpatched.flush()
    assert unpatched.waiting == 3  # what Faust awaits before committing offsets

    buffer = SlowBuffer(4)
    drain_before_commit(buffer)
    drain_before_commit(buffer)  # idempotent
    await buffer.flush()
    assert buffer.waiting == 0
