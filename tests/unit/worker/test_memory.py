"""The worker's memory settings: the consumer's fetch size reaches Faust, and glibc takes the
malloc arena limit."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.worker.app import create_app
from pipeline.worker.memory import limit_malloc_arenas


def test_the_fetch_size_reaches_the_consumer(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, store="memory://")
    assert create_app(settings).app.conf.consumer_max_fetch_size == 256 * 1024
    settings = Settings(
        data_dir=tmp_path, store="memory://", worker={"fetch_partition_bytes": 4096}
    )
    assert create_app(settings).app.conf.consumer_max_fetch_size == 4096


def test_no_limit_changes_nothing() -> None:
    assert limit_malloc_arenas(0) is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_glibc_takes_the_arena_limit() -> None:
    # In a process of its own: an arena limit, once set, stays for the process.
    code = "from pipeline.worker.memory import limit_malloc_arenas; print(limit_malloc_arenas(1))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
