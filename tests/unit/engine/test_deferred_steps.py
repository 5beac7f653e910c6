"""Window steps computed together: the values of many steps computed in one go from their
snapshots equal those computed step by step, and an engine closing many steps at once writes the
same kpi-windows records as one closing a step at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pytest

from pipeline.core.kpis import catalogue
from pipeline.core.observations import Dims
from pipeline.core.sketch import KEY_MAX, KEY_MIN
from pipeline.engine import closing
from pipeline.engine.cells import Cells
from pipeline.engine.frames import frame_record_bytes
from pipeline.engine.layout import OBSERVATIONS, Layout
from pipeline.engine.panes import Block, Pane
from pipeline.engine.runtime import Engine
from pipeline.engine.windows import WindowState
from pipeline.kafka.partitioner import partition_for_key
from pipeline.simulate import SimConfig, generate
from tests.unit.core.factories import context

TOPICS = {"tickets": "tickets", "surveys": "surveys"}
SERVICES = ("email", "network", "payroll", "access")


def _blocks(layout: Layout, cells: Cells, steps: int, seed: int) -> list[Block]:
    """Random steps of four services whose sketch keys spread wider step by step (so the
    snapshots cover different bucket columns), a few of them outside the dense range."""
    rng = np.random.default_rng(seed)
    ids = np.array([cells.cell(Dims(s)) for s in SERVICES], dtype=np.int64)
    slots = len(layout.sketches)
    blocks = []
    for step in range(steps):
        n = int(rng.integers(0, 40))
        sk_cell = rng.integers(0, len(ids), n)
        sk_slot = rng.integers(0, slots, n)
        sk_key = rng.integers(300 - 15 * step, 320 + 25 * step, n)
        outside = rng.random(n) < 0.05
        sk_key[outside] = np.where(rng.random(int(outside.sum())) < 0.5, KEY_MIN - 7, KEY_MAX + 3)
        counts = rng.integers(0, 5, (len(ids), layout.width)) * (rng.random((len(ids), 1)) < 0.8)
        counts[:, OBSERVATIONS] += 1
        for slot, (count, zeros) in enumerate(layout.sketch_columns):
            counts[:, count] = np.bincount(sk_cell[sk_slot == slot], minlength=len(ids))
            counts[:, zeros] = 0
        pane = Pane.of(
            step * 300, ids, counts, sk_cell, sk_slot, sk_key, np.ones(n, dtype=np.int64)
        )
        blocks.append(Block.of([pane], cells, layout.width))
    return blocks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_steps_computed_together_equal_steps_computed_one_by_one(seed: int) -> None:
    layout = Layout.of(catalogue())
    cells = Cells(("all", "service"))
    blocks = _blocks(layout, cells, 12, seed)
    one_by_one, together = WindowState(layout), WindowState(layout)
    expected, snapshots = [], []
    for k, block in enumerate(blocks):  # a window three steps long
        for state in (one_by_one, together):
            state.apply(block, 1)
            if k >= 3:
                state.apply(blocks[k - 3], -1)
        rows = np.unique(np.concatenate([block.rows, blocks[k - 3].rows if k >= 3 else []]))
        rows = rows.astype(np.int64)
        one_by_one.refresh(rows)
        expected.append((one_by_one.values[rows].copy(), one_by_one.samples[rows].copy()))
        snapshots.append(together.snapshot(rows))
    computed = together.compute(snapshots)
    for (values, samples), (want_values, want_samples) in zip(computed, expected, strict=True):
        np.testing.assert_array_equal(values, want_values)  # NaN where no value, on both
        np.testing.assert_array_equal(samples, want_samples)
    # Sketches that did not change between two steps were copied once for both.
    assert any(
        np.intersect1d(a.copies[a.copies > 0], b.copies[b.copies > 0]).size
        for a, b in pairwise(snapshots)
    )


def _records(tickets_per_hour: float, n: int) -> list[tuple[str, int, int, bytes, bytes]]:
    config = SimConfig(
        seed=5,
        start=datetime(2026, 3, 2, tzinfo=UTC),
        duration=None,
        n_events=n,
        tickets_per_hour=tickets_per_hour,
    )
    return [
        (r.topic, partition_for_key(r.key, 4), i, r.key, r.value)
        for i, r in enumerate(generate(config))
    ]


def _window_records(records: list, batch: int) -> dict[bytes, bytes]:
    engine = Engine(context(), topics=TOPICS)
    engine.assign({(r[0], r[1]) for r in records})
    engine.end_offsets = {(r[0], r[1]): 0 for r in records}
    out: dict[bytes, bytes] = {}
    for i in range(0, len(records), batch):
        for key, value in frame_record_bytes(engine.handle_batch(records[i : i + batch]).windows):
            assert key not in out
            out[key] = value
    for key, value in frame_record_bytes(engine.close_windows()):
        assert key not in out
        out[key] = value
    return out


@pytest.mark.parametrize("held", [None, 1, 60_000])
def test_closing_many_steps_at_once_writes_the_same_records(
    held: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet desk: one record per batch closes about a step at a time; the whole stream in
    batches of 2,000 closes dozens of steps per batch (``held``: computed every few steps)."""
    records = _records(6.0, 2500)
    step_by_step = _window_records(records, 1)
    if held is not None:
        monkeypatch.setattr(closing, "_MAX_HELD", held)
    engine_batches = _window_records(records, 2000)
    assert len(step_by_step) > 1000
    assert engine_batches == step_by_step
