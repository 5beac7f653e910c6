"""Windows read back from kpi-windows records are the windows that were closed: the same
values, so the evaluation from history equals the one from the live frames."""

from __future__ import annotations

from pipeline.engine.frames import frame_record_bytes, frame_results
from pipeline.improvements.history import window_results
from tests.improvement_sim import DAY, Desk, simulate_frames


def test_records_give_back_the_tiling_windows_only() -> None:
    frames = simulate_frames(Desk(before_days=2, settling_days=0, after_days=2), seed=3)
    records = list(frame_record_bytes(frames))  # as the worker produces them
    back = [r for key, value in records for r in window_results(key, value, {"24h": DAY})]
    # Equal values to the bit: rates are summed as value x sample size.
    assert back == list(frame_results(frames))
    # Other windows, steps that do not tile, and tombstones give nothing.
    assert list(window_results(records[0][0], records[0][1], {"1h": 3600})) == []
    shifted = records[0][0].replace(b"|", b"|1", 1)  # an end that is not a multiple of a day
    assert list(window_results(shifted, records[0][1], {"24h": DAY})) == []
    assert list(window_results(records[0][0], None, {"24h": DAY})) == []
