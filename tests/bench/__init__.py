"""Benchmarks run by make targets (`make bench-replay`, `make bench-uci`), not by pytest."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipeline.kafka import LocalBroker, free_port

__all__ = ["scratch_broker"]


@contextlib.contextmanager
def scratch_broker() -> Iterator[tuple[str, Path]]:
    """A local broker on free ports in a temporary directory, stopped and removed at the end:
    its bootstrap servers and the directory (for other scratch files)."""
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(
            data_dir=Path(tmp) / "kafka",
            port=free_port(),
            controller_port=free_port(),
            stop_with_parent=True,
        )
        broker.start(timeout=90)
        try:
            yield broker.bootstrap_servers, Path(tmp)
        finally:
            broker.stop()
