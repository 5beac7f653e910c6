"""Read an improvements register into ``Register``, with every problem as
``file:line: field: message`` (the same YAML walk and messages as the targets file).

Checks beyond the document's shape: KPI names and stats, scopes (one scope, no wildcards),
windows and breakdowns the worker computes, times (an implementation in the future cannot be
judged), guards that repeat an expected KPI, and improvements whose evaluation periods overlap
on the same scope and KPI (each would see the other's effect).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.core.durations import format_duration, parse_duration
from pipeline.core.kpis import Better, KpiClass, KpiDefinition, catalogue
from pipeline.core.results import iso
from pipeline.core.scopes import BREAKDOWNS, Scope
from pipeline.improvements.model import (
    DEFAULT_CONFIDENCE,
    DEFAULT_GUARDS,
    DEFAULT_MIN_SAMPLE,
    DEFAULT_MIN_WINDOWS,
    DEFAULT_PERIOD_SECONDS,
    DEFAULT_WINDOW,
    Direction,
    Improvement,
    KpiCheck,
    Register,
    Role,
)
from pipeline.improvements.spec import (
    VERSION,
    CheckSpec,
    ExpectSpec,
    ImprovementsDocument,
    ImprovementSpec,
    PeriodDefaults,
)
from pipeline.schemas.events import Channel, Priority
from pipeline.targets.document import (
    DocPath,
    TargetIssue,
    TargetsError,
    compose,
    field_name,
    pydantic_message,
    shape_checked,
    suggest,
)
from pipeline.targets.spec import parse_amount

__all__ = [
    "DEFAULT_GUARDS",
    "ImprovementIssue",
    "ImprovementWarning",
    "ImprovementsError",
    "load_register",
    "parse_register",
]

ImprovementIssue = TargetIssue


class ImprovementWarning(TargetIssue):
    """A likely mistake: the register loads, but probably does not say what was meant."""


class ImprovementsError(Exception):
    """The register is invalid; ``issues`` holds every error found, in line order."""

    def __init__(self, issues: Iterable[TargetIssue]) -> None:
        self.issues = tuple(issues)
        count = len(self.issues)
        head = f"{count} error{'s' * (count != 1)} in improvements register"
        super().__init__("\n".join([head + ":", *(f"  {issue}" for issue in self.issues)]))


_ENUMS: dict[str, tuple[str, ...]] = {
    "channel": tuple(c.value for c in Channel),
    "priority": tuple(p.value for p in Priority),
}
_KEYS: dict[tuple[str | int, ...], Any] = {
    (): ImprovementsDocument,
    ("defaults",): PeriodDefaults,
    ("improvements", 0): ImprovementSpec,
    ("improvements", 0, "expect", 0): ExpectSpec,
    ("improvements", 0, "guards", 0): CheckSpec,
}


def load_register(
    path: str | Path,
    *,
    now: float | None = None,
    windows: Collection[str] | None = None,
    breakdowns: Iterable[str] | None = None,
) -> tuple[Register, list[ImprovementWarning]]:
    """Read and check a register (UTF-8). ``now``: the present, for the check that no
    improvement is implemented in the future (default: the wall clock). ``windows`` and
    ``breakdowns``: what the pipeline computes; other ones are errors."""
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImprovementsError(
            [TargetIssue(source, None, "(file)", f"not UTF-8 text: {exc}")]
        ) from None
    return parse_register(text, source, now=now, windows=windows, breakdowns=breakdowns)


def parse_register(
    text: str,
    source: str = "<string>",
    *,
    now: float | None = None,
    windows: Collection[str] | None = None,
    breakdowns: Iterable[str] | None = None,
) -> tuple[Register, list[ImprovementWarning]]:
    """Like ``load_register``, from text; ``source`` names it in messages."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    try:
        data, lines, problems = compose(text, source)
    except TargetsError as exc:
        raise ImprovementsError(_reword(exc.issues)) from None
    checker = _Checker(source, lines, time.time() if now is None else now, windows, breakdowns)
    checker.errors.extend(problems)
    register = checker.run(data)
    if checker.errors:
        raise ImprovementsError(sorted(_reword(checker.errors), key=lambda i: i.line or 0))
    return register, sorted(checker.warnings, key=lambda i: i.line or 0)


def _reword(issues: Iterable[TargetIssue]) -> list[TargetIssue]:
    # The shared YAML walk speaks of targets files in two messages.
    out = []
    for issue in issues:
        message = issue.message.replace("targets files are trees", "registers are trees")
        message = message.replace("version: targets/v1", f"version: {VERSION}")
        out.append(type(issue)(issue.path, issue.line, issue.field, message))
    return out


class _Checker:
    def __init__(
        self,
        source: str,
        lines: dict[DocPath, int],
        now: float,
        windows: Collection[str] | None,
        breakdowns: Iterable[str] | None,
    ) -> None:
        self.source, self.lines, self.now = source, lines, now
        self.windows = None if windows is None else set(windows)
        self.breakdowns = None if breakdowns is None else set(breakdowns)
        self.kpis = {d.name: d for d in catalogue()}
        self.errors: list[TargetIssue] = []
        self.warnings: list[ImprovementWarning] = []

    def line(self, path: DocPath) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def error(self, path: DocPath, message: str) -> None:
        self.errors.append(TargetIssue(self.source, self.line(path), field_name(path), message))

    def warn(self, path: DocPath, message: str) -> None:
        self.warnings.append(
            ImprovementWarning(self.source, self.line(path), field_name(path), message)
        )

    def run(self, data: Any) -> Register:
        if not isinstance(data, dict):
            self.error((), f"must be a mapping starting with 'version: {VERSION}'")
            return Register(VERSION, source=self.source)
        data, bad = shape_checked(data, ImprovementsDocument, self.error, _message)
        defaults = PeriodDefaults()
        if ("defaults",) not in bad and data.get("defaults") is not None:
            defaults = PeriodDefaults.model_validate(data["defaults"])
            self.check_window(("defaults", "window"), defaults.window)
        found: list[Improvement] = []
        items = data.get("improvements")
        ids: dict[str, int | None] = {}
        for i, item in enumerate(items if isinstance(items, list) else []):
            here: DocPath = ("improvements", i)
            if here in bad:
                continue
            spec = ImprovementSpec.model_validate(item)
            if spec.id in ids:
                self.error(
                    (*here, "id"), f"duplicate id {spec.id!r} (first on line {ids[spec.id]})"
                )
                continue
            ids[spec.id] = self.line(here)
            improvement = self.improvement(here, spec, defaults)
            if improvement is not None:
                self.check_overlaps(here, improvement, found)
                found.append(improvement)
        if not items and not self.errors:
            self.warn((), "no improvements: there is nothing to evaluate")
        return Register(VERSION, tuple(found), source=self.source)

    def improvement(
        self, here: DocPath, spec: ImprovementSpec, defaults: PeriodDefaults
    ) -> Improvement | None:
        errors = len(self.errors)
        scope = self.scope((*here, "scope"), spec.scope)
        implemented = _epoch(spec.implemented)
        if implemented > self.now:
            self.error(
                (*here, "implemented"),
                f"{iso(implemented)} is in the future (now {iso(self.now)}); register a change "
                "once it is live",
            )
        window = spec.window or defaults.window or DEFAULT_WINDOW
        if spec.window is not None:
            self.check_window((*here, "window"), spec.window)
        before = _seconds(_first(spec.before, defaults.before), DEFAULT_PERIOD_SECONDS)
        after = _seconds(_first(spec.after, defaults.after), before)
        window_seconds = _window_seconds(window)
        for name, length in (("before", before), ("after", after)):
            if window_seconds and length < 2 * window_seconds:
                self.error(
                    (*here, name) if getattr(spec, name) is not None else here,
                    f"the {name} period ({format_duration(length)}) must hold at least two "
                    f"{window} windows",
                )
        expected = [self.expected((*here, "expect", k), e) for k, e in enumerate(spec.expect)]
        checks = [c for c in expected if c is not None]
        guards = self.guards(here, spec, expected)
        if scope is None or len(self.errors) > errors:
            return None
        return Improvement(
            id=spec.id,
            title=spec.title,
            owner=spec.owner,
            scope=scope,
            implemented=implemented,
            checks=(*checks, *guards),
            settling_seconds=_seconds(spec.settling, 0.0),
            before_seconds=before,
            after_seconds=after,
            window=window,
            confidence=_first(spec.confidence, defaults.confidence, DEFAULT_CONFIDENCE),
            min_sample=_first(spec.min_sample, defaults.min_sample, DEFAULT_MIN_SAMPLE),
            min_windows=_first(spec.min_windows, defaults.min_windows, DEFAULT_MIN_WINDOWS),
            line=self.line(here),
        )

    def kpi(self, here: DocPath, name: str) -> KpiDefinition | None:
        if name == "backlog":
            self.error(
                here,
                "backlog is a level at the watermark, not a value per window, so it has no "
                "before/after windows to compare",
            )
            return None
        if name not in self.kpis:
            hint = suggest(name, self.kpis) or f" (KPIs: {', '.join(self.kpis)})"
            self.error(here, f"unknown KPI {name!r}{hint}")
            return None
        return self.kpis[name]

    def stat(self, here: DocPath, kpi: KpiDefinition, stat: str | None) -> str | None:
        stats = ", ".join(kpi.stats)
        if stat is None:
            if kpi.stats == ("value",):
                return "value"
            self.error((*here, "stat"), f"{kpi.name} needs a stat: one of {stats}")
            return None
        if stat not in kpi.stats:
            self.error((*here, "stat"), f"{kpi.name} has no stat {stat!r} (stats: {stats})")
            return None
        return stat

    def expected(self, here: DocPath, spec: ExpectSpec) -> KpiCheck | None:
        kpi = self.kpi((*here, "kpi"), spec.kpi)
        if kpi is None:
            return None
        stat = self.stat(here, kpi, spec.stat)
        direction = Direction(spec.direction)
        wrong = {Better.HIGHER: Direction.LOWER, Better.LOWER: Direction.HIGHER}.get(kpi.better)
        if direction is wrong:
            self.warn(
                (*here, "direction"),
                f"{kpi.name} is better {kpi.better.value}; expecting it {direction.value} "
                "expects it to get worse",
            )
        min_effect = 0.0
        if spec.min_effect is not None:
            amount = parse_amount(spec.min_effect, relative=False)
            if amount.is_duration and kpi.unit != "seconds":
                self.error(
                    (*here, "min_effect"),
                    f"{spec.min_effect!r} is a duration, but {kpi.name} is in {kpi.unit}",
                )
                return None
            min_effect = amount.seconds() if amount.is_duration else amount.number
            if kpi.unit == "ratio" and min_effect >= 1:
                self.error(
                    (*here, "min_effect"),
                    f"{spec.min_effect!r}: {kpi.name} is a ratio (0..1); did you mean "
                    f"{min_effect / 100:g}?",
                )
                return None
        if stat is None:
            return None
        return KpiCheck(kpi.name, stat, kpi.kpi_class.value, direction, Role.EXPECTED, min_effect)

    def guards(
        self, here: DocPath, spec: ImprovementSpec, expected: list[KpiCheck | None]
    ) -> list[KpiCheck]:
        """The guards; ``expected`` is aligned with ``spec.expect`` (None where invalid)."""
        taken = {(c.kpi, c.stat): i for i, c in enumerate(expected) if c is not None}
        out: list[KpiCheck] = []
        if spec.guards is None:
            classes = {KpiClass(c.kpi_class) for c in expected if c is not None}
            wanted = [KpiClass.SERVICE] if classes == {KpiClass.PROCESS} else []
            wanted += [KpiClass.PROCESS] if classes == {KpiClass.SERVICE} else []
            if len(classes) > 1:
                wanted = [KpiClass.SERVICE, KpiClass.PROCESS]
            for kpi_class in wanted:
                for name, stat in DEFAULT_GUARDS[kpi_class]:
                    if not any(name == k for k, _ in taken):
                        out.append(self._guard(self.kpis[name], stat))
            return out
        seen: dict[tuple[str, str], int | None] = {}
        for g, guard in enumerate(spec.guards):
            where: DocPath = (*here, "guards", g)
            kpi = self.kpi((*where, "kpi"), guard.kpi)
            if kpi is None:
                continue
            guard_stat = self.stat(where, kpi, guard.stat)
            if guard_stat is None:
                continue
            key = (kpi.name, guard_stat)
            if key in taken:
                first = self.line((*here, "expect", taken[key]))
                self.error(
                    where,
                    f"{kpi.name}{'' if guard_stat == 'value' else ':' + guard_stat} is already "
                    f"an expected KPI (line {first}); a KPI is either expected to move or "
                    "guarded",
                )
                continue
            if key in seen:
                self.error(where, f"guard repeated (first on line {seen[key]})")
                continue
            seen[key] = self.line(where)
            if kpi.better is Better.NEITHER:
                self.error(
                    (*where, "kpi"),
                    f"{kpi.name} has no better direction, so it cannot get worse; it cannot "
                    "be a guard",
                )
                continue
            out.append(self._guard(kpi, guard_stat))
        return out

    @staticmethod
    def _guard(kpi: KpiDefinition, stat: str) -> KpiCheck:
        direction = Direction.HIGHER if kpi.better is Better.HIGHER else Direction.LOWER
        return KpiCheck(kpi.name, stat, kpi.kpi_class.value, direction, Role.GUARD)

    def scope(self, here: DocPath, spec: Any) -> Scope | None:
        if spec == "all":
            values: dict[str, str] = {}
        else:
            values = spec.values()
        ok = True
        for dim, value in values.items():
            if value == "*":
                self.error(
                    (*here, dim),
                    "an improvement applies to one scope: name the value ('*' is for targets)",
                )
                ok = False
                continue
            allowed = _ENUMS.get(dim)
            if allowed is not None and value not in allowed:
                self.error(
                    (*here, dim),
                    f"{value!r} is not a {dim} ({', '.join(allowed)}){suggest(value, allowed)}",
                )
                ok = False
        breakdown = next((b for b, d in BREAKDOWNS.items() if set(d) == set(values)), None)
        if breakdown is None:
            combos = "; ".join(
                "{" + ", ".join(d) + "}" if d else "all" for d in BREAKDOWNS.values()
            )
            self.error(here, f"no breakdown splits by {', '.join(values)} (scopes: {combos})")
            return None
        if self.breakdowns is not None and breakdown not in self.breakdowns:
            self.error(
                here,
                f"breakdown {breakdown} is not computed (breakdowns: "
                f"{', '.join(sorted(self.breakdowns))}), so this scope has no values",
            )
            return None
        return Scope(breakdown, **values) if ok else None

    def check_window(self, here: DocPath, window: str | None) -> None:
        if window is None:
            return
        if self.windows is not None and window not in self.windows:
            known = ", ".join(sorted(self.windows))
            self.error(
                here,
                f"window {window!r} is not configured (windows: {known})"
                f"{suggest(window, self.windows)}",
            )
        elif _window_seconds(window) is None and self.windows is None:
            self.warn(here, f"window {window!r} is not a duration; it must be a configured name")

    def check_overlaps(
        self, here: DocPath, improvement: Improvement, earlier: list[Improvement]
    ) -> None:
        mine = {(c.kpi, c.stat) for c in improvement.expected}
        for other in earlier:
            if other.scope != improvement.scope:
                continue
            shared = sorted(mine & {(c.kpi, c.stat) for c in other.expected})
            if not shared:
                continue
            lo, hi = other.span
            lo2, hi2 = improvement.span
            if lo <= improvement.implemented < hi or lo2 <= other.implemented < hi2:
                names = ", ".join(k if s == "value" else f"{k}:{s}" for k, s in shared)
                self.error(
                    (*here, "implemented"),
                    f"periods overlap with {other.id!r} (line {other.line}) on the same scope "
                    f"and KPI ({names}): each change would fall into the other's before or "
                    "after period, so neither effect could be told apart",
                )


def _message(err: Any, path: DocPath) -> str:
    kind, given = err["type"], err.get("input")
    if path == ("version",):
        if kind == "missing":
            return f"missing; a register starts with 'version: {VERSION}'"
        return f"{given!r} is not a supported version; this pipeline reads {VERSION!r}"
    if kind == "extra_forbidden":
        key = path[-1]
        shape = tuple(0 if isinstance(p, int) else p for p in path[:-1])
        model = _KEYS.get(shape)
        allowed = list(model.model_fields) if model is not None else []
        if allowed:
            return f"unknown key {key!r}{suggest(key, allowed)} (keys: {', '.join(allowed)})"
    if kind == "string_pattern_mismatch" and path[-1:] == ("id",):
        return (
            f"{given!r} is not an id: letters, digits, '_', '.', '-'; start with a letter or digit"
        )
    if kind == "too_short" and path[-1:] == ("expect",):
        return "name at least one KPI the improvement should move"
    return pydantic_message(err, path)


def _epoch(value: str | datetime) -> float:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.timestamp()


def _seconds(value: str | None, default: float) -> float:
    return default if value is None else parse_duration(value)


def _window_seconds(window: str) -> float | None:
    try:
        return parse_duration(window)
    except ValueError:
        return None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)
