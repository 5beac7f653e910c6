"""The frame-at-a-time ``kpis.csv`` text is what the csv module writes row by row, byte for byte:
values that repr writes in exponent notation, integral floats, no value (NaN), large sample
sizes and scope labels that need quoting."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import numpy.typing as npt

from pipeline.core.context import CoreContext
from pipeline.core.results import iso
from pipeline.core.scopes import DIMENSIONS, Scope
from pipeline.core.windows import WindowSpec
from pipeline.engine.frames import WindowFrame
from pipeline.engine.layout import Layout
from pipeline.replay.frame_csv import FrameCsv, float_texts

LAYOUT = Layout.of(CoreContext(windows=(WindowSpec("1h", 3600, 300),)).kpis)

SCOPES = (
    Scope("all"),
    Scope("service", service="net,work"),
    Scope("service", service='pay"roll'),
    Scope("service_team", service="email", team="line\nbreak"),
    Scope("service_priority", service="email", priority="P1"),
)

# repr's notation changes at 1e-4 and 1e16; both sides of each edge, and the extremes.
AWKWARD = [
    math.nan,
    0.0,
    -0.0,
    3.0,
    -42.0,
    0.1,
    1 / 3,
    2.5e-07,
    1e-05,
    9.999999999999999e-05,
    0.0001,
    0.00010000000000000002,
    123456789012345.6,
    1e15,
    9999999999999998.0,
    1e16,
    1.0000000000000002e16,
    1e22,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    math.inf,
    -math.inf,
    -1234.5,
    86400.0,
]


def by_row(frame: WindowFrame) -> str:
    """The straightforward writer: one csv row per scope and KPI statistic."""
    out = io.StringIO()
    writer = csv.writer(out)
    layout = frame.layout
    for row, scope in enumerate(frame.scopes):
        labels = scope.labels()
        for column, (k, stat) in enumerate(layout.stats):
            kpi = layout.kpis[k]
            value = float(frame.values[row, column])
            writer.writerow(
                [
                    frame.window,
                    iso(frame.start),
                    iso(frame.end),
                    kpi.name,
                    kpi.kpi_class.value,
                    kpi.unit,
                    stat,
                    *(labels[d] for d in DIMENSIONS),
                    scope.breakdown,
                    "" if math.isnan(value) else value,
                    int(frame.samples[row, k]),
                ]
            )
    return out.getvalue()


def frame_of(values: npt.NDArray[np.float64], samples: npt.NDArray[np.int64]) -> WindowFrame:
    return WindowFrame("1h", 1_456_704_000, 1_456_707_600, SCOPES, values, samples, LAYOUT)


def test_a_frame_is_written_as_the_csv_module_writes_its_rows() -> None:
    rng = np.random.default_rng(7)
    shape = (len(SCOPES), len(LAYOUT.stats))
    values = rng.choice(np.array(AWKWARD), size=shape)
    values.ravel()[: len(AWKWARD)] = AWKWARD  # every awkward value at least once
    samples = rng.choice([0, 1, 7, 4095, 4096, 123_456], size=(len(SCOPES), len(LAYOUT.kpis)))
    frame = frame_of(values, samples)
    text = FrameCsv().lines(frame).decode()
    assert text == by_row(frame)
    assert "1e-05," in text and "1e+16," in text and ",3.0," in text and "inf," in text
    assert '"net,work"' in text and '"pay""roll"' in text and '"line\nbreak"' in text
    assert ",123456\r\n" in text
    assert len(text.splitlines()) > len(SCOPES) * len(LAYOUT.stats)  # the quoted line break


def test_frames_of_one_writer_share_nothing_wrong() -> None:
    """What is kept across frames (window bounds, scope labels, layouts) belongs to each frame."""
    writer = FrameCsv()
    rng = np.random.default_rng(11)
    for i in range(3):
        values = rng.exponential(3600.0, size=(len(SCOPES), len(LAYOUT.stats)))
        values[rng.random(values.shape) < 0.4] = math.nan
        samples = rng.integers(0, 50, size=(len(SCOPES), len(LAYOUT.kpis)))
        frame = WindowFrame(
            "24h", i * 300, i * 300 + 86400, SCOPES[i:], values[i:], samples[i:], LAYOUT
        )
        assert writer.lines(frame).decode() == by_row(frame)


def test_an_empty_frame_has_no_rows() -> None:
    empty = WindowFrame(
        "1h",
        0,
        3600,
        (),
        np.zeros((0, len(LAYOUT.stats))),
        np.zeros((0, len(LAYOUT.kpis)), dtype=np.int64),
        LAYOUT,
    )
    assert FrameCsv().lines(empty) == b""


def test_float_texts_are_reprs_over_every_magnitude() -> None:
    rng = np.random.default_rng(2024)
    # Any bit pattern (every exponent), log-uniform magnitudes around both notation edges, and
    # decimals as KPIs make them (ratios, rounded durations).
    bits = rng.integers(0, 2**63, size=200_000, dtype=np.int64).view(np.float64)
    spread = 10.0 ** rng.uniform(-8, 20, size=200_000) * rng.choice([-1.0, 1.0], size=200_000)
    places = 10.0 ** rng.integers(0, 6, size=100_000)
    decimals = np.round(rng.uniform(0, 1e6, size=100_000) * places) / places
    values = np.concatenate([bits, spread, decimals, np.array(AWKWARD)])
    expected = [b"" if math.isnan(v) else repr(v).encode() for v in values.tolist()]
    assert float_texts(values).tolist() == expected
    assert float_texts(values.reshape(-1, 5)).ravel().tolist() == expected
