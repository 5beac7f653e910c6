"""Time-series charts written as SVG: panels in a grid, each with lines, points, reference lines,
shaded spans and bands, a time axis, a value axis and a legend.

Why not matplotlib: a report draws one chart of up to six panels per KPI, and matplotlib spent
about 0.2 s of CPU on each (creating and laying out every tick and text, rasterising, compressing
a PNG), a tenth of a replay's time on the bench's stream, plus 0.4 s to import. Writing the
SVG's text costs milliseconds, the files stay sharp at any zoom, and browsers, GitHub and
editors show them as they show any image.

Times are epoch seconds (UTC) and values plain floats; a NaN in a line's values breaks it there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

__all__ = ["BLACK", "DASHED", "DOTTED", "GREY", "PALETTE", "Chart", "Panel"]

# matplotlib's "tab10" colours: distinct from each other, and familiar from most Python plots.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
BLACK, GREY = "#000000", "#808080"
DASHED, DOTTED = "5,3", "1.5,2.5"

_FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
_CHAR_WIDTH = 0.6  # of the font size: an average glyph, for laying out legends and labels
_HALF_DAY = 43_200.0
_DAY = 86_400.0
# Time-axis steps below a month, in seconds; weeks start on Mondays (1970-01-05).
_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
_MONDAY = 4 * _DAY
_MONTH_STEPS = (1, 2, 3, 6, 12)
_MAX_X_TICKS = 7
_MARKED_POINTS = 400  # a panel with at most this many points marks every one

_Scale = Callable[[float], float]  # data -> pixels


@dataclass
class _Line:
    label: str | None
    xs: list[float]
    ys: list[float]
    color: str
    markers: bool  # a dot at every point (points without a line when ``width`` is 0)
    width: float = 1.2


@dataclass
class _Rule:  # horizontal, across the panel or from x0 to x1
    y: float
    label: str | None
    color: str
    dash: str | None
    x0: float | None = None
    x1: float | None = None
    width: float = 1.0


@dataclass
class _Area:  # a rectangle in data units; y0/y1 None: the panel's whole height
    x0: float
    x1: float
    y0: float | None
    y1: float | None
    color: str
    opacity: float
    label: str | None = None


@dataclass
class Panel:
    """One plot: add what it shows, then hand it to a ``Chart``."""

    title: str
    lines: list[_Line] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)
    areas: list[_Area] = field(default_factory=list)
    verticals: list[tuple[float, str, str | None]] = field(default_factory=list)

    def line(
        self,
        xs: Iterable[float],
        ys: Iterable[float],
        label: str | None,
        color: str | None = None,
        markers: bool = True,
    ) -> None:
        """A line through the points (NaN values break it); ``color`` defaults to the next of
        the palette. Isolated points are always marked, others when the panel is not dense."""
        color = color or PALETTE[len(self.lines) % len(PALETTE)]
        self.lines.append(
            _Line(label, [float(x) for x in xs], [float(y) for y in ys], color, markers)
        )

    def points(
        self, xs: Iterable[float], ys: Iterable[float], label: str | None, color: str
    ) -> None:
        self.lines.append(
            _Line(label, [float(x) for x in xs], [float(y) for y in ys], color, True, 0.0)
        )

    def rule(
        self,
        y: float,
        label: str | None,
        color: str = BLACK,
        dash: str | None = DASHED,
        between: tuple[float, float] | None = None,
        width: float = 1.0,
    ) -> None:
        """A horizontal line at ``y``, across the panel or ``between`` two times."""
        x0, x1 = between if between is not None else (None, None)
        self.rules.append(_Rule(y, label, color, dash, x0, x1, width))

    def vertical(self, x: float, color: str = BLACK, dash: str | None = DASHED) -> None:
        self.verticals.append((x, color, dash))

    def span(self, x0: float, x1: float, color: str, opacity: float) -> None:
        """A shaded stretch of time, the panel's whole height."""
        self.areas.append(_Area(x0, x1, None, None, color, opacity))

    def band(
        self, x0: float, x1: float, y0: float, y1: float, color: str, opacity: float, label: str
    ) -> None:
        self.areas.append(_Area(x0, x1, min(y0, y1), max(y0, y1), color, opacity, label))

    def x_extent(self) -> tuple[float, float] | None:
        xs = [x for line in self.lines for x, y in zip(line.xs, line.ys, strict=True) if y == y]  # noqa: PLR0124 (not NaN)
        xs += [v for r in self.rules for v in (r.x0, r.x1) if v is not None]
        xs += [v for a in self.areas for v in (a.x0, a.x1)]
        xs += [v for v, _, _ in self.verticals]
        return (min(xs), max(xs)) if xs else None

    def y_extent(self) -> tuple[float, float] | None:
        ys = [y for line in self.lines for y in line.ys if math.isfinite(y)]
        ys += [r.y for r in self.rules if math.isfinite(r.y)]
        ys += [v for a in self.areas for v in (a.y0, a.y1) if v is not None and math.isfinite(v)]
        return (min(ys), max(ys)) if ys else None


@dataclass(frozen=True)
class _Box:
    left: float
    top: float
    width: float
    height: float


class Chart:
    """Panels in rows of ``columns``, under a title; ``shared_x``: one time range for all."""

    def __init__(
        self,
        title: str,
        panels: Sequence[Panel],
        columns: int = 2,
        panel_size: tuple[float, float] = (480.0, 256.0),
        shared_x: bool = False,
    ) -> None:
        self.title = title
        self.panels = panels
        self.columns = max(1, min(columns, len(panels)))
        self.panel_size = panel_size
        self.shared_x = shared_x

    def svg(self) -> str:
        pw, ph = self.panel_size
        rows = math.ceil(len(self.panels) / self.columns)
        width, head = pw * self.columns, 36.0
        height = head + ph * rows
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" {_FONT}>',
            f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
            _text(width / 2, 24, self.title, 15, anchor="middle"),
        ]
        shared = _x_range([p.x_extent() for p in self.panels]) if self.shared_x else None
        for i, panel in enumerate(self.panels):
            row, column = divmod(i, self.columns)
            box = _Box(column * pw + 62, head + row * ph + 22, pw - 74, ph - 52)
            x_range = shared or _x_range([panel.x_extent()])
            out += _panel(panel, box, x_range, f"p{i}")
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def save(self, path: Path) -> None:
        path.write_text(self.svg(), encoding="utf-8")


def _x_range(extents: Iterable[tuple[float, float] | None]) -> tuple[float, float]:
    found = [e for e in extents if e is not None]
    if not found:
        return 0.0, _DAY
    lo, hi = min(e[0] for e in found), max(e[1] for e in found)
    if hi - lo < 60:  # one point in time (a range holding one window): a day around it
        return lo - _HALF_DAY, hi + _HALF_DAY
    pad = (hi - lo) * 0.02
    return lo - pad, hi + pad


def _y_range(extent: tuple[float, float] | None) -> tuple[float, float]:
    if extent is None:
        return 0.0, 1.0
    lo, hi = extent
    if hi - lo <= abs(hi) * 1e-9:
        half = abs(lo) * 0.1 or 1.0
        return lo - half, hi + half
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _panel(panel: Panel, box: _Box, x_range: tuple[float, float], ident: str) -> list[str]:
    x0, x1 = x_range
    y0, y1 = _y_range(panel.y_extent())

    def px(x: float) -> float:
        return box.left + (x - x0) / (x1 - x0) * box.width

    def py(y: float) -> float:
        return box.top + box.height - (y - y0) / (y1 - y0) * box.height

    bottom, right = box.top + box.height, box.left + box.width
    out = [
        _text(box.left + box.width / 2, box.top - 7, panel.title, 12, anchor="middle"),
        f'<clipPath id="{ident}"><rect x="{box.left:.1f}" y="{box.top:.1f}" '
        f'width="{box.width:.1f}" height="{box.height:.1f}"/></clipPath>',
    ]
    for y, label in _value_ticks(y0, y1):
        out.append(_segment(box.left, py(y), right, py(y), "#e6e6e6", None, 0.8))
        out.append(_text(box.left - 4, py(y) + 3.5, label, 10, anchor="end"))
    ticks, corner = _time_ticks(x0, x1)
    for x, label in ticks:
        out.append(_segment(px(x), box.top, px(x), bottom, "#e6e6e6", None, 0.8))
        # Centred under its tick, but kept inside the panel at the right edge.
        half = len(label) * 10 * _CHAR_WIDTH / 2
        anchor = "end" if px(x) + half > right + 8 else "middle"
        out.append(
            _text(px(x) if anchor == "middle" else right + 8, bottom + 13, label, 10, anchor)
        )
    if corner:
        out.append(_text(right, bottom + 26, corner, 10, anchor="end"))
    out.append(f'<g clip-path="url(#{ident})">')
    for a in panel.areas:
        top = box.top if a.y1 is None else py(a.y1)
        low = bottom if a.y0 is None else py(a.y0)
        out.append(
            f'<rect x="{px(a.x0):.1f}" y="{top:.1f}" width="{max(px(a.x1) - px(a.x0), 0.5):.1f}" '
            f'height="{max(low - top, 0.5):.1f}" fill="{a.color}" fill-opacity="{a.opacity}"/>'
        )
    for r in panel.rules:
        left = box.left if r.x0 is None else px(r.x0)
        end = right if r.x1 is None else px(r.x1)
        out.append(_segment(left, py(r.y), end, py(r.y), r.color, r.dash, r.width))
    for x, color, dash in panel.verticals:
        out.append(_segment(px(x), box.top, px(x), bottom, color, dash, 1.0))
    dense = sum(len(line.xs) for line in panel.lines) > _MARKED_POINTS
    for line in panel.lines:
        out += _series(line, px, py, mark_all=(line.markers and not dense) or line.width == 0)
    out.append("</g>")
    out.append(
        f'<rect x="{box.left:.1f}" y="{box.top:.1f}" width="{box.width:.1f}" '
        f'height="{box.height:.1f}" fill="none" stroke="#333333" stroke-width="0.8"/>'
    )
    out += _legend(panel, box)
    return out


def _series(line: _Line, px: _Scale, py: _Scale, mark_all: bool) -> list[str]:
    out: list[str] = []
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(line.xs, line.ys, strict=True):
        if math.isfinite(y):
            runs[-1].append((px(x), py(y)))
        elif runs[-1]:
            runs.append([])
    for run in runs:
        if len(run) > 1 and line.width > 0:
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            out.append(
                f'<polyline points="{points}" fill="none" stroke="{line.color}" '
                f'stroke-width="{line.width}" stroke-linejoin="round"/>'
            )
        if mark_all or len(run) == 1:  # a window alone between gaps is a point, not a line
            out += [
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.8" fill="{line.color}"/>' for x, y in run
            ]
    return out


def _legend(panel: Panel, box: _Box) -> list[str]:
    entries: list[tuple[str, str, str]] = []  # label, colour, kind
    entries += [(x.label, x.color, "line" if x.width else "dot") for x in panel.lines if x.label]
    entries += [(r.label, r.color, r.dash or "line") for r in panel.rules if r.label]
    entries += [(a.label, a.color, "patch") for a in panel.areas if a.label]
    if not entries:
        return []
    size, step = 9.0, 12.0
    width = 30 + max(len(label) for label, _, _ in entries) * size * _CHAR_WIDTH
    left, top = box.left + 4, box.top + 4
    height = len(entries) * step + 5
    out = [
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" '
        'fill="#ffffff" fill-opacity="0.8" stroke="#cccccc" stroke-width="0.6"/>'
    ]
    for i, (label, color, kind) in enumerate(entries):
        y = top + 9 + i * step
        if kind == "patch":
            out.append(
                f'<rect x="{left + 4:.1f}" y="{y - 4:.1f}" width="16" height="7" '
                f'fill="{color}" fill-opacity="0.35"/>'
            )
        elif kind == "dot":
            out.append(f'<circle cx="{left + 12:.1f}" cy="{y:.1f}" r="2" fill="{color}"/>')
        else:
            out.append(
                _segment(left + 4, y, left + 20, y, color, None if kind == "line" else kind, 1.2)
            )
        out.append(_text(left + 25, y + 3, label, size))
    return out


def _segment(
    xa: float, ya: float, xb: float, yb: float, color: str, dash: str | None, width: float
) -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<line x1="{xa:.1f}" y1="{ya:.1f}" x2="{xb:.1f}" y2="{yb:.1f}" stroke="{color}" '
        f'stroke-width="{width}"{dashed}/>'
    )


def _text(x: float, y: float, text: str, size: float, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor={quoteattr(anchor)}>'
        f"{escape(text)}</text>"
    )


def _value_ticks(lo: float, hi: float, target: int = 5) -> list[tuple[float, str]]:
    """At most about ``target`` round values (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    raw = (hi - lo) / target
    power = 10.0 ** math.floor(math.log10(raw))
    multiple = next(m for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)
    step = multiple * power
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) + (1 if multiple == 2.5 else 0))
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    for k in range(first, math.floor(hi / step + 1e-9) + 1):
        value = k * step
        label = f"{value:,.{decimals}f}" if abs(value) < 1e7 else f"{value:.3g}"
        ticks.append((value, "0" if k == 0 else label))
    return ticks


def _time_ticks(lo: float, hi: float) -> tuple[list[tuple[float, str]], str]:
    """Ticks at round times (at most ``_MAX_X_TICKS``) with short labels, and the text for the
    axis' corner that says what the labels leave out (the date or the year)."""
    span = hi - lo
    step = next((s for s in _STEPS if span / s <= _MAX_X_TICKS), None)
    if step is None:
        return _month_ticks(lo, hi)
    offset = _MONDAY if step == 604800 else 0.0
    first = math.ceil((lo - offset) / step) * step + offset
    times = [first + k * step for k in range(int((hi - first) // step) + 1)]
    ticks = []
    for t in times:
        when = datetime.fromtimestamp(t, UTC)
        midnight = when.hour == 0 and when.minute == 0
        ticks.append((t, when.strftime("%b %d" if step >= _DAY or midnight else "%H:%M")))
    start, end = datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC)
    if step < _DAY:
        corner = start.strftime("%Y-%m-%d")
    else:
        corner = start.strftime("%Y") if start.year == end.year else f"{start:%Y}-{end:%Y}"
    return ticks, corner


def _month_ticks(lo: float, hi: float) -> tuple[list[tuple[float, str]], str]:
    start, end = datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC)
    months_spanned = (end.year - start.year) * 12 + end.month - start.month + 1
    every = next((m for m in _MONTH_STEPS if months_spanned / m <= _MAX_X_TICKS), None)
    every = every or 12 * math.ceil(months_spanned / (12 * _MAX_X_TICKS))
    ticks: list[tuple[float, str]] = []
    index = start.year * 12 + start.month - 1  # months since year 0, lo's first
    index += (-index) % every  # on a multiple of the step: Jan, Apr, Jul, Oct for 3
    while True:
        year, month = index // 12, index % 12 + 1
        first_day = datetime(year, month, 1, tzinfo=UTC)
        if first_day.timestamp() > hi:
            break
        if first_day.timestamp() >= lo:
            wanted = "%Y" if every >= 12 else "%b %Y" if month == 1 or not ticks else "%b"
            ticks.append((first_day.timestamp(), first_day.strftime(wanted)))
        index += every
    return ticks, ""
