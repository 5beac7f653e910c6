"""The report's background-written file holds every write, in order, once closed; a failed write
is raised to the replay rather than lost in the thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.replay.background_file import BackgroundFile


def test_writes_arrive_in_order_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "kpis.csv"
    out = BackgroundFile(path)
    # Pieces of uneven sizes, several chunks' worth in all.
    pieces = [f"{i},{'x' * (i % 5000)}\r\n".encode() for i in range(6000)]
    for piece in pieces:
        out.write(piece)
    out.close()
    assert sum(map(len, pieces)) > 3 * (4 << 20)
    assert path.read_bytes() == b"".join(pieces)


def test_a_small_file_is_written_at_close(tmp_path: Path) -> None:
    path = tmp_path / "kpis.csv"
    out = BackgroundFile(path)
    out.write(b"window,value\r\n")
    out.close()
    assert path.read_bytes() == b"window,value\r\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs a device that is always full")
def test_a_full_disk_is_raised_at_the_latest_by_close() -> None:
    out = BackgroundFile(Path("/dev/full"))
    with pytest.raises(OSError, match="No space left"):
        for _ in range(10):
            out.write(b"x" * (1 << 20))
        out.close()
