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


class Topic:
    def __init__(self) -> None:
        self.published = 0

    async def publish_message(self, fut: object, wait: bool = False) -> None:
        await asyncio.sleep(0.2)  # handing the message to the Kafka producer takes a while
        self.published += 1


async def test_flush_waits_for_every_buffered_message() -> None:
    unpatched = SlowBuffer(4)
    await unpatched.flush()
    assert unpatched.waiting == 3  # what Faust awaits before committing offsets

    buffer = SlowBuffer(4)
    drain_before_commit(buffer, Topic())
    drain_before_commit(buffer, Topic())  # idempotent
    await buffer.flush()
    assert buffer.waiting == 0


async def test_flush_waits_for_the_message_in_transit() -> None:
    buffer, topic = SlowBuffer(0), Topic()
    drain_before_commit(buffer, topic)
    sending = asyncio.ensure_future(topic.publish_message(object()))
    await asyncio.sleep(0.01)  # the buffer took it off its queue: size 0, not yet published
    await buffer.flush()
    assert topic.published == 1
    await sending
