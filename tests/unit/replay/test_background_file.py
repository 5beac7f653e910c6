"""The report's background-written file holds every write, in order, once closed; a failed write
is raised to the replay rather than lost in the thread."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.replay.background_file import BackgroundFile


def written(path: Path, pieces: list[bytes]) -> bytes:
    """What the file holds once the pieces are written and it is closed."""
    out = BackgroundFile(path)
    for piece in pieces:
        out.write(piece)
    out.close()
    return path.read_bytes()


def test_writes_arrive_in_order_across_chunks(tmp_path: Path) -> None:
    # Pieces of uneven sizes, several chunks' worth in all.
    pieces = [f"{i},{'x' * (i % 5000)}\r\n".encode() for i in range(6000)]
    assert sum(map(len, pieces)) > 3 * (4 << 20)
    assert written(tmp_path / "kpis.csv", pieces) == b"".join(pieces)


def test_a_small_file_is_written_at_close(tmp_path: Path) -> None:
    assert written(tmp_path / "kpis.csv", [b"window,value\r\n"]) == b"window,value\r\n"


def test_short_writes_are_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The system may write less than asked (a signal, a pipe); the rest follows, in order."""
    whole = os.writev

    def at_most_333_bytes(fd: int, buffers: list[memoryview]) -> int:
        head, size = [], 0
        for b in buffers:
            head.append(b[: 333 - size])
            size += len(head[-1])
            if size == 333:
                break
        return whole(fd, head)

    monkeypatch.setattr(os, "writev", at_most_333_bytes)
    pieces = [f"{i}:{'y' * (i % 700)}\n".encode() for i in range(2000)]
    assert written(tmp_path / "kpis.csv", pieces) == b"".join(pieces)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs a device that is always full")
def test_a_full_disk_is_raised_at_the_latest_by_close() -> None:
    out = BackgroundFile(Path("/dev/full"))
    with pytest.raises(OSError, match="No space left"):
        for _ in range(10):
            out.write(b"x" * (1 << 20))
        out.close()
