"""The KPI series of /metrics as Prometheus text, written directly.

``prometheus_client.generate_latest`` builds a sample object per series and escapes, sorts and
formats its labels at every render: about 10-14 µs a line, 60-90 ms for the 6,000 lines of a
desk with 71 scopes, and the page is rendered again after every window close (several times a
second when a worker catches up). A series' labels depend only on the scope, the window, the KPI
and the statistic: the text around the KPI and statistic is made once per (window, scope) and
kept, and a render joins it with their names and the formatted values (about 0.7 µs a line).
The text is what ``generate_latest`` writes for ``WindowCollector``'s families, line for line
(tests/unit/metrics hold the two equal)."""

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


def _around(name: str, labels: dict[str, str], holes: tuple[str, ...]) -> tuple[str, ...]:
    """The text of series ``name{label="value",...} `` (labels sorted by name, as the text
    format has them) around the values of the labels ``holes``, which ``labels`` leaves out."""
    parts: list[str] = []
    text = f"{name}{{"
    for i, label in enumerate(sorted([*labels, *holes])):
        text += f'{"," if i else ""}{label}="'
        if label in holes:
            parts.append(text)
            text = '"'
        else:
            text += f'{_escaped(labels[label])}"'
    parts.append(text + "} ")
    return tuple(parts)


class _Scoped:
    """A scope's series in one window, as the text around the KPI and statistic labels (sorted
    among the scope's): a value line is ``value[0] kpi value[1] stat value[2] number``, a
    sample-size line ``sample[0] kpi sample[1] number``: five short strings per window and
    scope (under 1 KiB), rather than every series' whole text (about 13 KiB)."""

    __slots__ = ("sample", "value")

    def __init__(self, window: str, scope: Scope) -> None:
        labels = scope.labels()
        fixed = {**{name: labels[name] for name in SCOPE_LABELS}, "window": window}
        self.value = _around(VALUE, fixed, ("kpi", "stat"))
        self.sample = _around(SAMPLE, fixed, ("kpi",))


class _Texts:
    """The label texts of one layout's KPIs and statistics (escaped) and of every (window,
    scope) rendered: kept, as a scope's labels never change; bounded all the same, and made
    again for another layout (a process has one per catalogue)."""

    MAX = 100_000

    def __init__(self) -> None:
        self.layout: Layout | None = None
        self.columns: list[tuple[str, str]] = []  # per statistic column: (KPI, statistic)
        self.kpis: list[str] = []
        self._scoped: dict[tuple[str, Scope], _Scoped] = {}

    def of(self, layout: Layout, window: str, scope: Scope) -> _Scoped:
        if layout is not self.layout or len(self._scoped) >= self.MAX:
            self.layout = layout
            self.columns = [(_escaped(layout.kpis[k].name), _escaped(s)) for k, s in layout.stats]
            self.kpis = [_escaped(kpi.name) for kpi in layout.kpis]
            self._scoped = {}
        known = self._scoped.get((window, scope))
        if known is None:
            known = self._scoped[(window, scope)] = _Scoped(window, scope)
        return known


_TEXTS = _Texts()


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
            scoped = _TEXTS.of(frame.layout, window, scope)
            v0, v1, v2 = scoped.value
            values += [
                f"{v0}{kpi}{v1}{stat}{v2}{go_float(v)}\n"
                for (kpi, stat), v in zip(_TEXTS.columns, vrow, strict=True)
                if v == v  # noqa: PLR0124 (not NaN: a value; the cheapest test)
            ]
            s0, s1 = scoped.sample
            samples += [
                f"{s0}{kpi}{s1}{go_float(float(n))}\n"
                for kpi, n in zip(_TEXTS.kpis, srow, strict=True)
            ]
    return "".join(values + samples + ends).encode()
