"""The KPI series of /metrics as Prometheus text, written directly.

``prometheus_client.generate_latest`` builds a sample object per series and escapes, sorts and
formats its labels at every render: about 14 µs a line, 85 ms for the 6,000 lines of a desk with
71 scopes, and the page is rendered again after every window close (several times a second when
a worker catches up). A series' text up to its value depends only on the scope, the window
and the KPI statistic, so it is made once per (window, scope) and kept; a render then formats
the values only. The text is what ``generate_latest`` writes for ``WindowCollector``'s families,
line for line (tests/unit/metrics hold the two equal).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pipeline.core.scopes import DIMENSIONS, Scope
from pipeline.engine.frames import WindowFrame
from pipeline.engine.layout import Layout

__all__ = ["go_float", "render_windows"]

# Names and help texts as WindowCollector declares them (pipeline.metrics.collector).
VALUE = "kpi_value"
VALUE_HELP = (
    "KPI value of the newest closed window (unit per KPI: seconds, ratio 0..1, score, "
    "tickets, currency)"
)
SAMPLE = "kpi_sample_size"
SAMPLE_HELP = "Sample size behind kpi_value: the denominator, or the count for quantiles"
WINDOW_END = "kpi_window_end_timestamp_seconds"
WINDOW_END_HELP = "End (event time) of the newest closed window exported in kpi_value"
SCOPE_LABELS = ("breakdown", *DIMENSIONS)


def go_float(value: float) -> str:
    """A sample value as the Prometheus text format writes it (Go's float formatting, as
    ``prometheus_client.utils.floatToGoString``: an exponent from 1e7 on)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value != value:  # noqa: PLR0124 (NaN)
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _escaped(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _series(name: str, labels: dict[str, str]) -> str:
    """``name{label="value",...} `` with the labels sorted by name, as the text format has them."""
    inner = ",".join(f'{k}="{_escaped(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}} "


class _Prefixes:
    """Every series' text up to its value, per (window, scope) of one layout: the value series
    of each statistic column and the sample-size series of each KPI. Scopes are few (breakdowns
    x dimension values); the cache is bounded all the same, and made again for another layout
    (a process has one per catalogue)."""

    MAX = 20_000

    def __init__(self) -> None:
        self._layout: Layout | None = None
        self._known: dict[tuple[str, Scope], tuple[list[str], list[str]]] = {}

    def of(self, layout: Layout, window: str, scope: Scope) -> tuple[list[str], list[str]]:
        if layout is not self._layout or len(self._known) >= self.MAX:
            self._layout = layout
            self._known = {}
        known = self._known.get((window, scope))
        if known is None:
            labels = scope.labels()
            dims = {name: labels[name] for name in SCOPE_LABELS}
            values = [
                _series(VALUE, {"kpi": layout.kpis[k].name, "stat": stat, "window": window, **dims})
                for k, stat in layout.stats
            ]
            samples = [
                _series(SAMPLE, {"kpi": kpi.name, "window": window, **dims}) for kpi in layout.kpis
            ]
            known = self._known[(window, scope)] = (values, samples)
        return known


_PREFIXES = _Prefixes()


def render_windows(frames: Iterable[tuple[str, WindowFrame]]) -> bytes:
    """The KPI families of the newest closed window of each spec (window name, frame), as
    ``generate_latest`` renders ``WindowCollector``: values (NaN left out), sample sizes, ends."""
    values = [f"# HELP {VALUE} {VALUE_HELP}\n# TYPE {VALUE} gauge\n"]
    samples = [f"# HELP {SAMPLE} {SAMPLE_HELP}\n# TYPE {SAMPLE} gauge\n"]
    ends = [f"# HELP {WINDOW_END} {WINDOW_END_HELP}\n# TYPE {WINDOW_END} gauge\n"]
    for window, frame in frames:
        if not len(frame):
            continue
        ends.append(f'{WINDOW_END}{{window="{_escaped(window)}"}} {go_float(float(frame.end))}\n')
        for scope, vrow, srow in zip(
            frame.scopes, frame.values.tolist(), frame.samples.tolist(), strict=True
        ):
            value_series, sample_series = _PREFIXES.of(frame.layout, window, scope)
            values += [
                f"{series}{go_float(v)}\n"
                for series, v in zip(value_series, vrow, strict=True)
                if v == v  # noqa: PLR0124 (not NaN: a value; the cheapest test)
            ]
            samples += [
                f"{series}{go_float(float(n))}\n"
                for series, n in zip(sample_series, srow, strict=True)
            ]
    return "".join(values + samples + ends).encode()
