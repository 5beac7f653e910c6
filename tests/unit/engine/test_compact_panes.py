"""A pane keeps only its non-zero counters and gives back the same counts and samples; a block
sums the samples of one scope row, slot and bucket, and a window counts them as before."""

from __future__ import annotations

import numpy as np

from pipeline.core.observations import Dims
from pipeline.engine.cells import Cells
from pipeline.engine.panes import Block, Pane, PaneBuilder


def _pane(rng: np.random.Generator, cells: int, width: int, samples: int) -> Pane:
    counts = rng.integers(0, 4, (cells, width)) * (rng.random((cells, width)) < 0.15)
    return Pane.of(
        300,
        np.arange(cells, dtype=np.int64) * 3,
        counts,
        rng.integers(0, cells, samples),
        rng.integers(0, 3, samples),
        rng.integers(90, 110, samples),
        np.ones(samples, dtype=np.int64),
    )


def _four_cells(cells: Cells) -> np.ndarray:
    return np.array(
        [cells.cell(Dims(s, t, "email", "P3")) for s in ("email", "network") for t in ("a", "b")],
        dtype=np.int64,
    )


def _step_pane(
    rng: np.random.Generator, start: int, rows: np.ndarray, scoped: bool = False
) -> Pane:
    """A pane of a few counters (6 wide) and up to 24 samples over ``rows``."""
    samples = int(rng.integers(0, 25))
    return Pane.of(
        start,
        rows,
        rng.integers(0, 4, (len(rows), 6)) * (rng.random((len(rows), 6)) < 0.4),
        rng.integers(0, len(rows), samples),
        rng.integers(0, 3, samples),
        rng.integers(90, 96, samples),
        np.ones(samples, dtype=np.int64),
        scoped,
    )


def test_a_pane_reads_back_what_it_was_given() -> None:
    rng = np.random.default_rng(7)
    counts = rng.integers(-3, 9, (12, 56)) * (rng.random((12, 56)) < 0.13)
    cells = np.arange(12, dtype=np.int64) + 40
    sk = [rng.integers(0, 100, 30) for _ in range(4)]
    pane = Pane.of(600, cells, counts, *sk)
    assert np.array_equal(pane.counts, counts) and pane.counts.shape == (12, 56)
    assert np.array_equal(pane.cells, cells)
    for got, given in zip((pane.sk_cell, pane.sk_slot, pane.sk_key, pane.sk_n), sk, strict=True):
        assert np.array_equal(got, given)
    # Far less than the dense counters alone.
    assert pane.nbytes < counts.nbytes / 2


def test_an_empty_pane_keeps_its_width() -> None:
    empty = np.zeros(0, dtype=np.int64)
    pane = Pane.of(0, empty, np.zeros((0, 56), dtype=np.int64), empty, empty, empty, empty)
    assert pane.counts.shape == (0, 56) and len(pane.sk_key) == 0


def test_merged_panes_add_up() -> None:
    rng = np.random.default_rng(3)
    a, b = _pane(rng, 5, 8, 20), _pane(rng, 5, 8, 10)
    merged = a.merged(b)
    assert np.array_equal(merged.counts, a.counts + b.counts)
    assert int(merged.sk_n.sum()) == 30


def test_a_block_sums_repeated_samples() -> None:
    cells = Cells(("all", "service"))
    ids = np.array([cells.cell(Dims("email")), cells.cell(Dims("network"))], dtype=np.int64)
    rng = np.random.default_rng(11)
    panes = []
    for _ in range(2):
        samples = 40
        panes.append(
            Pane.of(
                300,
                ids,
                rng.integers(0, 4, (2, 4)),
                rng.integers(0, 2, samples),
                rng.integers(0, 3, samples),
                rng.integers(90, 95, samples),
                np.ones(samples, dtype=np.int64),
            )
        )
    block = Block.of(panes, cells, 4)
    triples = list(
        zip(block.sk_row.tolist(), block.sk_slot.tolist(), block.sk_key.tolist(), strict=True)
    )
    assert len(triples) == len(set(triples)) < 160  # one sample per (row, slot, bucket)
    # Every pane sample counts once in each scope row of its cell (all, service): 80 x 2.
    assert int(block.sk_n.sum()) == 160


def test_blocks_summed_are_the_block_of_all_their_panes() -> None:
    """A longer step's block made from the finest step's blocks holds the very arrays of the
    block made from every pane of every partition (empty steps among them)."""
    cells = Cells(("all", "service", "service_team"))
    ids = _four_cells(cells)
    rng = np.random.default_rng(5)
    steps = [
        # partitions; the third step has no panes
        [_step_pane(rng, step * 300, ids) for _ in range(0 if step == 2 else 3)]
        for step in range(4)
    ]
    whole = Block.of([p for panes in steps for p in panes], cells, 6)
    summed = Block.summed([Block.of(panes, cells, 6) for panes in steps], 6)
    for name in ("rows", "counts", "sk_row", "sk_slot", "sk_key", "sk_n"):
        assert np.array_equal(getattr(summed, name), getattr(whole, name)), name
    assert Block.summed([Block.of([], cells, 6)] * 2, 6).empty


def test_a_frozen_builder_is_the_pane_of_its_dense_rows() -> None:
    """``freeze`` writes the compact layout directly: the same arrays as a pane made from the
    dense counter matrix and the sample columns (cells with no counters or no samples too)."""
    rng = np.random.default_rng(9)
    builder = PaneBuilder(900, 7)
    dense: list[list[int]] = []
    columns: tuple[list[int], list[int], list[int]] = ([], [], [])
    for i, cell in enumerate((4, 0, 11, 3)):
        row, samples = builder.cell(cell)
        for column in rng.integers(0, 7, 0 if i == 1 else 5).tolist():
            row[column] += 1
        for _ in range(0 if i == 2 else int(rng.integers(1, 4))):
            sample = (int(rng.integers(0, 3)), int(rng.integers(80, 120)))
            samples.append(sample)
            for column, value in zip(columns, (i, *sample), strict=True):
                column.append(value)
        dense.append(row)
    frozen = builder.freeze()
    local, slots, keys = (np.array(c, dtype=np.int64) for c in columns)
    expected = Pane.of(
        900,
        np.array([4, 0, 11, 3], dtype=np.int64),
        np.array(dense, dtype=np.int64),
        local,
        slots,
        keys,
        np.ones(len(keys), dtype=np.int64),
    )
    assert frozen.start == 900
    for name in ("cells", "counts", "sk_cell", "sk_slot", "sk_key", "sk_n"):
        got, want = getattr(frozen, name), getattr(expected, name)
        assert got.dtype == want.dtype and np.array_equal(got, want), name
    assert frozen.nbytes == expected.nbytes


def test_blocks_of_several_steps_at_once_are_each_steps_block() -> None:
    """``of_steps`` numbers each step's scope rows apart and splits them again: the very arrays
    ``of`` makes of each step's panes alone, empty steps and panes already in scope rows
    included."""
    cells = Cells(("all", "service", "service_team"))
    ids = _four_cells(cells)
    scope_rows = np.unique(cells.expand(ids)[0])
    rng = np.random.default_rng(9)
    steps = [
        # the third pane of a step is already rolled up to scope rows; the second step is empty
        [
            _step_pane(rng, step * 300, ids),
            _step_pane(rng, step * 300, ids),
            _step_pane(rng, step * 300, scope_rows, scoped=True),
        ]
        if step != 1
        else []
        for step in range(5)
    ]
    together = Block.of_steps(steps, cells, 6)
    assert len(together) == len(steps) and together[1].empty
    for panes, block in zip(steps, together, strict=True):
        alone = Block.of(panes, cells, 6)
        for name in ("rows", "counts", "sk_row", "sk_slot", "sk_key", "sk_n"):
            assert np.array_equal(getattr(block, name), getattr(alone, name)), name
