"""The ``kpis.csv`` rows of closed windows, formatted a frame at a time.

A year of history at the default windows is tens of millions of rows; formatting them one by one
(an f-string and a ``repr`` per row) was most of such a replay's time. Here the parts of a row
are made once per frame (the window and KPI statistic in front, the scope's labels), once per
report (the sample sizes' text) or in C for a frame's whole value column (orjson's shortest
round-trip text, as Python's ``repr`` writes it), and the rows are joined, as bytes, from an
object array. The text is the csv module's, byte for byte: ``tests/unit/replay/test_frame_csv.py``
holds the two side by side.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import orjson

from pipeline.core.results import iso
from pipeline.core.scopes import DIMENSIONS, Scope
from pipeline.engine.frames import WindowFrame
from pipeline.engine.layout import Layout

__all__ = ["FrameCsv", "csv_line", "float_texts"]

_LINE_END = "\r\n"  # the csv module's default line terminator
# Sample sizes below this have their ",n\r\n" text made once; larger ones are rare.
_SAMPLE_TEXTS = 4096
# repr writes floats without an exponent from here up to there.
_POSITIONAL_FROM = 1e-4
_POSITIONAL_TO = 1e16
# Window bounds formatted once each; months of history: keep the cache small.
_TIMES_KEPT = 10_000


def csv_line(fields: Sequence[str]) -> str:
    """Fields as the csv module writes them (minimal quoting), without the line end."""
    out = io.StringIO()
    # The default line end, cut off after: the csv module quotes a field holding a line break
    # only when the break is part of its line terminator.
    csv.writer(out).writerow(fields)
    return out.getvalue().removesuffix(_LINE_END)


class FrameCsv:
    """Text of frames' rows, in report order (scope, then catalogue). Holds what repeats
    across frames: KPI statistics per layout, scope labels, window bounds, sample sizes."""

    def __init__(self) -> None:
        # By identity; the layout is kept so its id cannot be reused by another.
        self._layouts: dict[int, tuple[Layout, list[bytes], npt.NDArray[np.intp]]] = {}
        self._scopes: dict[Scope, bytes] = {}
        self._times: dict[int, str] = {}
        self._samples = np.array([_sample_text(n) for n in range(_SAMPLE_TEXTS)], dtype=object)

    def lines(self, frame: WindowFrame) -> bytes:
        """The frame's rows, UTF-8 encoded: bytes all the way, as the file takes them (joining
        and encoding text would copy every row once more)."""
        rows, columns = frame.values.shape
        if rows == 0 or columns == 0:
            return b""
        parts, of_kpi = self._layout(frame.layout)
        head = (csv_line([frame.window, self.iso(frame.start), self.iso(frame.end)]) + ",").encode()
        cells = np.empty((rows, columns, 4), dtype=object)
        cells[:, :, 0] = [head + part for part in parts]
        cells[:, :, 1] = np.array([self._scope(s) for s in frame.scopes], dtype=object)[:, None]
        cells[:, :, 2] = float_texts(frame.values)
        cells[:, :, 3] = self._sample_texts(frame.samples)[:, of_kpi]
        return b"".join(cells.ravel().tolist())

    def iso(self, ts: int) -> str:
        text = self._times.get(ts)
        if text is None:
            if len(self._times) > _TIMES_KEPT:
                self._times.clear()
            text = self._times[ts] = iso(ts)
        return text

    def _layout(self, layout: Layout) -> tuple[list[bytes], npt.NDArray[np.intp]]:
        known = self._layouts.get(id(layout))
        if known is None:
            kpis = layout.kpis
            parts = [
                _field_text([kpis[k].name, kpis[k].kpi_class.value, kpis[k].unit, stat])
                for k, stat in layout.stats
            ]
            of_kpi = np.array([k for k, _ in layout.stats], dtype=np.intp)
            known = self._layouts[id(layout)] = (layout, parts, of_kpi)
        return known[1], known[2]

    def _scope(self, scope: Scope) -> bytes:
        text = self._scopes.get(scope)
        if text is None:
            labels = scope.labels()
            fields = [*(labels[d] for d in DIMENSIONS), scope.breakdown]
            text = self._scopes[scope] = _field_text(fields)
        return text

    def _sample_texts(self, samples: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
        """``,n\\r\\n`` for every sample size: looked up, made only for the rare large ones."""
        if samples.size == 0 or (samples.min() >= 0 and samples.max() < len(self._samples)):
            return self._samples[samples]
        texts = [_sample_text(n) for n in samples.ravel().tolist()]
        return np.array(texts, dtype=object).reshape(samples.shape)


def _field_text(fields: Sequence[str]) -> bytes:
    """Fields followed by the separator of the next one, encoded."""
    return (csv_line(fields) + ",").encode()


def _sample_text(n: int) -> bytes:
    return f",{n}{_LINE_END}".encode()


def float_texts(values: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    """Each value as ``repr`` writes it (encoded), NaN (no value) as the empty field."""
    flat = values.ravel()
    # orjson writes a whole float array in C with the shortest text that round-trips, as repr
    # does, and in the same notation from 1e-4 up to 1e16 (and for zero); outside it repr puts
    # the exponent differently (1e-05, not 0.00001) and orjson writes infinities as null.
    texts = np.array(
        orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b","), dtype=object
    )
    missing = np.isnan(flat)
    texts[missing] = b""
    size = np.abs(flat)
    elsewhere = ~missing & ~((size >= _POSITIONAL_FROM) & (size < _POSITIONAL_TO)) & (flat != 0)
    for i in np.flatnonzero(elsewhere).tolist():
        texts[i] = repr(float(flat[i])).encode()
    return texts.reshape(values.shape)
