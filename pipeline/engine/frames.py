"""Closed windows as frames: one window spec and end, every scope that saw data, every KPI
statistic and sample size as arrays. Results stay in this form until they are serialised:
``records`` for ``kpi-windows``, ``results`` for consumers that take one value at a time
(alerts, reports)."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from pipeline.core.kpis import CATALOGUE_VERSION
from pipeline.core.results import WINDOW_RECORD_SCHEMA, WindowResult, iso
from pipeline.core.scopes import Scope
from pipeline.engine.layout import Layout

__all__ = ["WindowFrame", "frame_record_bytes", "frame_results"]

_SEP = "\x1f"


@dataclass(frozen=True, eq=False)
class WindowFrame:
    window: str
    start: int
    end: int
    scopes: tuple[Scope, ...]  # in report order (encoded name)
    values: npt.NDArray[np.float64]  # scopes x layout.stats, NaN for none
    samples: npt.NDArray[np.int64]  # scopes x layout.kpis
    layout: Layout

    def __len__(self) -> int:
        return len(self.scopes)

    def value(self, row: int, kpi: int, stat: str) -> float | None:
        v = float(self.values[row, self.layout.stat_columns[kpi][stat]])
        return None if math.isnan(v) else v

    def results(
        self, only: Collection[tuple[str, str, str]] | None = None
    ) -> Iterator[WindowResult]:
        """One result per scope, KPI and statistic, in report order (scope, then catalogue);
        ``only``: just the (kpi, stat, window) triples named."""
        layout = self.layout
        kpis = layout.kpis
        columns = [
            (column, k, stat)
            for column, (k, stat) in enumerate(layout.stats)
            if only is None or (kpis[k].name, stat, self.window) in only
        ]
        if not columns:
            return
        values = self.values.tolist()
        samples = self.samples.tolist()
        for row, scope in enumerate(self.scopes):
            vrow, srow = values[row], samples[row]
            for column, k, stat in columns:
                kpi = kpis[k]
                v = vrow[column]
                yield WindowResult(
                    self.window,
                    self.start,
                    self.end,
                    scope,
                    kpi.name,
                    kpi.version,
                    kpi.kpi_class.value,
                    kpi.unit,
                    stat,
                    None if v != v else v,  # noqa: PLR0124 (NaN: no value; the cheapest test)
                    srow[k],
                )

    def records(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """``kpi-windows`` records: one per scope, holding every KPI of the catalogue with its
        statistics and sample size. The key (window, end, scope, catalogue version) is stable
        across restarts and replays, so consumers can de-duplicate."""
        layout = self.layout
        # NaN (no value) becomes None once, column-wise, rather than per statistic.
        cells = self.values.astype(object)
        cells[np.isnan(self.values)] = None
        values = cells.tolist()
        samples = self.samples.tolist()
        head = self._head()
        described = [
            (kpi.name, kpi.version, kpi.kpi_class.value, kpi.unit, tuple(columns.items()))
            for kpi, columns in zip(layout.kpis, layout.stat_columns, strict=True)
        ]
        prefix, suffix = self._key_affixes()
        for row, scope in enumerate(self.scopes):
            vrow, srow = values[row], samples[row]
            kpis: dict[str, dict[str, Any]] = {}
            for k, (name, version, kpi_class, unit, columns) in enumerate(described):
                kpis[name] = {
                    "version": version,
                    "class": kpi_class,
                    "unit": unit,
                    "sample_size": srow[k],
                    "stats": {stat: vrow[c] for stat, c in columns},
                }
            key = prefix + scope.encode().replace(_SEP, "/") + suffix
            yield key.encode(), {**head, **scope.labels(), "kpis": kpis}

    def _head(self) -> dict[str, Any]:
        return {
            "schema": WINDOW_RECORD_SCHEMA,
            "catalogue_version": CATALOGUE_VERSION,
            "window": self.window,
            "window_start": iso(self.start),
            "window_end": iso(self.end),
        }

    def _key_affixes(self) -> tuple[str, str]:
        """A record's key is these around its scope's name."""
        return f"{self.window}|{self.end}|", f"|v{CATALOGUE_VERSION}"

    def record_bytes(self) -> Iterator[tuple[bytes, bytes]]:
        """``records`` as ``orjson.dumps`` encodes them, byte for byte, without building them:
        the worker produces one per window and scope, and building the nested objects took
        several times as long as encoding them. The frame's numbers are put in the order of a
        template of everything else and encoded in one call (a NaN is null there too); each
        record is its scope's part and its row's numbers in the template's slots."""
        rows = len(self.scopes)
        if not rows:
            return
        head = orjson.dumps(self._head())[:-1] + b","
        template = _kpis_template(self.layout)
        width = template.width
        cells = np.empty((rows, width), dtype=object)
        cells[:, template.sample_slots] = self.samples[:, template.sample_columns].astype(object)
        cells[:, template.value_slots] = self.values[:, template.value_columns].astype(object)
        # Numbers only: no comma inside one.
        numbers = orjson.dumps(cells.ravel().tolist())[1:-1].split(b",") if width else []
        prefix, suffix = (affix.encode() for affix in self._key_affixes())
        text = template.text
        for row, scope in enumerate(self.scopes):
            labels, name = _scope_text(scope)
            at = row * width
            yield (
                prefix + name + suffix,
                b"".join((head, labels, text % tuple(numbers[at : at + width]))),
            )


def _scope_text(scope: Scope) -> tuple[bytes, bytes]:
    """A scope's labels as record members (with the comma after them) and its name in a key."""
    known = _SCOPE_TEXT.get(scope)
    if known is None:
        known = (
            orjson.dumps(scope.labels())[1:-1] + b",",
            scope.encode().replace(_SEP, "/").encode(),
        )
        if len(_SCOPE_TEXT) >= _MAX_SCOPE_TEXT:
            _SCOPE_TEXT.clear()
        _SCOPE_TEXT[scope] = known
    return known


# Scopes are few (breakdowns x dimension values) and each is in many frames; bounded all the same.
_SCOPE_TEXT: dict[Scope, tuple[bytes, bytes]] = {}
_MAX_SCOPE_TEXT = 100_000


@dataclass(frozen=True)
class _Template:
    """The ``"kpis"`` member of a record and the record's end, with a ``%s`` per number: a
    KPI's sample size or a statistic. Slots are positions among the template's numbers,
    columns those of the frame's samples and values."""

    text: bytes
    width: int
    sample_slots: npt.NDArray[np.int64]
    sample_columns: npt.NDArray[np.int64]
    value_slots: npt.NDArray[np.int64]
    value_columns: npt.NDArray[np.int64]


# Per layout (by identity, the layout kept alive with it): a frame holds one window's scopes,
# often a few dozen, so making the template per frame cost more than filling it.
_TEMPLATES: dict[int, tuple[Layout, _Template]] = {}
_MAX_TEMPLATES = 16


def _kpis_template(layout: Layout) -> _Template:
    known = _TEMPLATES.get(id(layout))
    if known is None or known[0] is not layout:
        if len(_TEMPLATES) >= _MAX_TEMPLATES:  # a process makes one layout per catalogue
            _TEMPLATES.clear()
        known = _TEMPLATES[id(layout)] = (layout, _make_template(layout))
    return known[1]


def _make_template(layout: Layout) -> _Template:
    template = bytearray(b'"kpis":{')
    samples: list[tuple[int, int]] = []  # (slot, KPI)
    values: list[tuple[int, int]] = []  # (slot, value column)
    for k, (kpi, columns) in enumerate(zip(layout.kpis, layout.stat_columns, strict=True)):
        described = {"version": kpi.version, "class": kpi.kpi_class.value, "unit": kpi.unit}
        opening = orjson.dumps(kpi.name) + b":" + orjson.dumps(described)[:-1]
        template += (b"," if k else b"") + _literal(opening + b',"sample_size":') + b"%s"
        samples.append((len(samples) + len(values), k))
        template += b',"stats":{'
        for j, (stat, column) in enumerate(columns.items()):
            template += (b"," if j else b"") + _literal(orjson.dumps(stat) + b":") + b"%s"
            values.append((len(samples) + len(values), column))
        template += b"}}"
    template += b"}}"

    def positions(pairs: list[tuple[int, int]], i: int) -> npt.NDArray[np.int64]:
        return np.array([p[i] for p in pairs], dtype=np.int64)

    return _Template(
        bytes(template),
        len(samples) + len(values),
        positions(samples, 0),
        positions(samples, 1),
        positions(values, 0),
        positions(values, 1),
    )


def _literal(text: bytes) -> bytes:
    return text.replace(b"%", b"%%")


def frame_results(frames: Iterable[WindowFrame]) -> Iterator[WindowResult]:
    for frame in frames:
        yield from frame.results()


def frame_record_bytes(frames: Iterable[WindowFrame]) -> Iterator[tuple[bytes, bytes]]:
    """Every frame's kpi-windows records, key and encoded value, as the worker produces them."""
    for frame in frames:
        yield from frame.record_bytes()
