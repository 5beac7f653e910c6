"""The Faust ceiling: the no-op agent of ``bench.faust_noop`` timed like the worker (from its first
committed offset to every record committed), on the default event loop and on uvloop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bench.live import cpu_seconds
from tests.integration.harness import stop

__all__ = ["run_ceiling"]

_ROOT = Path(__file__).resolve().parents[1]


def run_ceiling(
    bootstrap: str,
    topics: dict[str, str],
    total: int,
    loop: str,
    log: Path,
    timeout: float,
    delivery: str = "faust",
) -> dict[str, Any]:
    """``delivery``: ``faust`` (Faust's own) or ``lean`` (as the worker hands records on)."""
    group = f"bench-noop-{loop}-{delivery}"
    env = dict(os.environ)
    env.update(
        NOOP_APP_ID=group,
        NOOP_BOOTSTRAP=bootstrap,
        NOOP_TOPICS=",".join(topics.values()),
        NOOP_LOOP=loop,
        NOOP_DELIVERY=delivery,
        # ``bench`` is not an installed package: the agent imports it from the checkout.
        PYTHONPATH=os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p),
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.faust_noop", "worker", "-l", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
        )
    try:
        seconds, cpu = asyncio.run(
            _watch(process, bootstrap, group, set(topics.values()), total, timeout)
        )
    finally:
        stop(process)
    return {
        "loop": loop,
        "delivery": delivery,
        "records": total,
        "seconds": seconds,
        "rate": total / seconds,
        "cpu_seconds": cpu,
        "cpu_rate": total / cpu,
    }


async def _watch(
    process: subprocess.Popen[bytes],
    bootstrap: str,
    group: str,
    names: set[str],
    total: int,
    timeout: float,
) -> tuple[float, float]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    deadline = time.monotonic() + timeout
    first: float | None = None
    cpu_first = 0.0
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the no-op agent exited with {process.returncode}")
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"the no-op agent did not finish within {timeout}s")
            try:
                offsets = await admin.list_consumer_group_offsets(group)
            except KafkaError:
                offsets = {}
            committed = sum(
                meta.offset for tp, meta in offsets.items() if tp.topic in names and meta.offset > 0
            )
            if first is None and committed > 0:
                first, cpu_first = now, cpu_seconds(process.pid)
            if committed >= total and first is not None:
                return now - first, cpu_seconds(process.pid) - cpu_first
            await asyncio.sleep(0.25)
    finally:
        await admin.close()
