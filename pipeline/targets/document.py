"""A targets file as plain data with the line of every key and list item, and the problem
records that point into it (``file:line: field: message``).

PyYAML forgets positions once it builds Python objects, so the document is composed into nodes
and walked here, recording lines on the way; pydantic error locations are mapped back onto those
lines. The walk also rejects duplicate keys, which PyYAML would silently resolve to the last one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pipeline.core.scopes import DIMENSIONS
from pipeline.targets.spec import (
    VERSION,
    BenchmarkSpec,
    BudgetSpec,
    DefaultsSpec,
    DriftSpec,
    ForecastSpec,
    ObjectiveSpec,
    ScopeSpec,
    TargetsDocument,
    TargetSpec,
)

__all__ = [
    "DocPath",
    "TargetIssue",
    "TargetWarning",
    "TargetsError",
    "compose",
    "data_path",
    "field_name",
    "pydantic_message",
    "shape_checked",
    "suggest",
]

DocPath = tuple[str | int, ...]  # a place in the document: keys and list indices

# Keys allowed at each place of the document, for "did you mean" on unknown keys.
_KEYS: dict[DocPath, type[BaseModel]] = {
    (): TargetsDocument,
    ("defaults",): DefaultsSpec,
    ("targets", 0): TargetSpec,
    ("targets", 0, "scope"): ScopeSpec,
    ("targets", 0, "objective"): ObjectiveSpec,
    ("drift", 0): DriftSpec,
    ("drift", 0, "scope"): ScopeSpec,
    ("budgets", 0): BudgetSpec,
    ("budgets", 0, "scope"): ScopeSpec,
    ("budgets", 0, "objective"): ObjectiveSpec,
    ("benchmarks", 0): BenchmarkSpec,
    ("forecasts", 0): ForecastSpec,
}


@dataclass(frozen=True, slots=True)
class TargetIssue:
    """A problem at a place in a targets file."""

    path: str  # the file (or the ``source`` given to ``parse_targets``)
    line: int | None
    field: str  # e.g. targets[2].objective
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class TargetWarning(TargetIssue):
    """A likely mistake: the file loads, but probably does not say what was meant."""


class TargetsError(Exception):
    """The targets file is invalid; ``issues`` holds every error found, in line order."""

    def __init__(self, issues: Sequence[TargetIssue]) -> None:
        self.issues = tuple(issues)
        count = len(self.issues)
        head = f"{count} error{'s' * (count != 1)} in targets file"
        super().__init__("\n".join([head + ":", *(f"  {issue}" for issue in self.issues)]))


def compose(text: str, source: str) -> tuple[Any, dict[DocPath, int], list[TargetIssue]]:
    """The document as plain data, the 1-based line of every key and list item, and the
    problems found on the way (duplicate keys: the first value is kept, so later checks still
    run). Raises TargetsError when the text is not YAML at all."""
    loader = yaml.SafeLoader(text)
    lines: dict[DocPath, int] = {}
    problems: list[TargetIssue] = []
    try:
        node = loader.get_single_node()
        if node is None:
            raise TargetsError(
                [TargetIssue(source, 1, "(document)", f"empty; start with 'version: {VERSION}'")]
            )
        data = _Walker(loader, source, lines, problems).walk(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"not valid YAML: {exc.problem or exc.context}"
        bad_line = text.split("\n")[line - 1] if line else ""
        if re.search(r":\s*>", bad_line):
            # A plain YAML value cannot start with '>' (it opens a folded block), so an unquoted
            # objective is a syntax error whose YAML wording does not help.
            message += "; quote values that start with '>', e.g. objective: \">= 0.85\""
        raise TargetsError([TargetIssue(source, line, "(document)", message)]) from None
    finally:
        loader.dispose()
    return data, lines, problems


class _Walker:
    def __init__(
        self,
        loader: yaml.SafeLoader,
        source: str,
        lines: dict[DocPath, int],
        problems: list[TargetIssue],
    ) -> None:
        self.loader, self.source, self.lines, self.problems = loader, source, lines, problems
        self.active: set[int] = set()  # nodes being walked: a recursive alias would never end

    def walk(self, node: yaml.Node, path: DocPath, lines: dict[DocPath, int] | None = None) -> Any:
        lines = self.lines if lines is None else lines
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self.active:
            self._problem(path, node, "a recursive alias; targets files are trees")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, lines)
            if isinstance(node, yaml.SequenceNode):
                return [self.walk(item, (*path, i), lines) for i, item in enumerate(node.value)]
            return self.loader.construct_object(node, deep=True)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: DocPath, lines: dict[DocPath, int]) -> Any:
        result: dict[Any, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(path, key_node, "keys must be plain names")
                continue
            key = self.loader.construct_object(key_node)
            if key in result:
                # PyYAML would keep the last value silently: a pasted block would win unnoticed.
                first = lines[(*path, key)]
                self._problem((*path, key), key_node, f"duplicate key (first on line {first})")
                continue
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.walk(value_node, (*path, key), lines)
        # YAML merge keys (<<: *base): explicit keys win, merged ones keep their own lines.
        for merge in merges:
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                found: dict[DocPath, int] = {}
                merged = self.walk(source, path, found)
                if not isinstance(merged, dict):
                    self._problem(path, source, "'<<' must merge a mapping")
                    continue
                for key, value in merged.items():
                    if key not in result:
                        result[key] = value
                        lines.update(
                            {p: n for p, n in found.items() if p[len(path) :][:1] == (key,)}
                        )
        return result

    def _problem(self, path: DocPath, node: yaml.Node, message: str) -> None:
        line = node.start_mark.line + 1
        self.problems.append(TargetIssue(self.source, line, field_name(path), message))


def field_name(path: DocPath) -> str:
    """``("targets", 2, "objective")`` -> ``targets[2].objective``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(document)"


def suggest(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or nothing when none is close."""
    options = list(choices)
    text = str(word).lower()
    same_letters = [c for c in options if c.lower() == text]  # p1 -> P1
    prefixed = [c for c in options if c.lower().startswith(text)] if len(text) >= 3 else []
    close = (
        same_letters
        or difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
        or prefixed[:1]  # fcr -> fcr_rate, sla -> sla_compliance
    )
    return f" (did you mean {close[0]!r}?)" if close else ""


def data_path(loc: tuple[int | str, ...], data: Any, kind: str) -> DocPath:
    """The place in the document of a pydantic error location, skipping union tags."""
    path: list[str | int] = []
    here = data
    for i, part in enumerate(loc):
        if _has(here, part):
            path.append(part)
            here = here[part]
        elif kind == "missing" and i == len(loc) - 1:
            path.append(part)
    return tuple(path)


def shape_checked(
    data: dict[Any, Any],
    document: type[BaseModel],
    report: Callable[[DocPath, str], None],
    message: Callable[[Any, DocPath], str],
) -> tuple[dict[Any, Any], set[DocPath]]:
    """A versioned YAML document checked against its model's shape: the document without its
    top-level ``x-`` keys (free, as in Compose files: a home for YAML anchors to merge), and
    every path that failed, with its parents, so the checks that follow skip broken items and
    still find the problems of the others. Each failure goes to ``report`` in ``message``'s
    words."""
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    bad: set[DocPath] = set()
    try:
        document.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = data_path(err["loc"], data, err["type"])
            bad.update(path[:end] for end in range(len(path) + 1))
            report(path, message(err, path))
    return data, bad


def _has(data: Any, part: int | str) -> bool:
    if isinstance(data, list):
        return isinstance(part, int) and 0 <= part < len(data)
    return isinstance(data, dict) and part in data


def _keys_at(path: DocPath) -> list[str]:
    shape = tuple(0 if isinstance(p, int) else p for p in path)
    model = _KEYS.get(shape)
    return list(model.model_fields) if model else []


def pydantic_message(err: Any, path: DocPath) -> str:  # noqa: PLR0911 (one message per kind of validation error)
    """A pydantic error in the words of the targets file (``path`` from ``data_path``)."""
    kind, given = err["type"], err.get("input")
    if kind == "extra_forbidden":
        key, allowed = path[-1], _keys_at(path[:-1])
        if path[-2:-1] == ("scope",):
            return f"unknown dimension {key!r}{suggest(key, allowed)} (dimensions: " + (
                ", ".join(DIMENSIONS) + ")"
            )
        return f"unknown key {key!r}{suggest(key, allowed)} (keys: {', '.join(allowed)})"
    if path == ("version",):
        if kind == "missing":
            return f"missing; a targets file starts with 'version: {VERSION}'"
        return f"{given!r} is not a supported version; this pipeline reads {VERSION!r}"
    if kind == "missing":
        return "missing (required)"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind == "string_type":
        return f"expected text, got {given!r} (quote it if it is meant as text)"
    if kind == "string_pattern_mismatch" and path[-1:] == ("id",):
        return (
            f"{given!r} is not an id: letters, digits, '_', '.', '-'; start with a letter or digit"
        )
    if kind == "string_pattern_mismatch":
        return f"{given!r} is not a severity name: lower-case letters, digits and '_'"
    if kind == "literal_error" and path[-1:] == ("scope",):
        return f"{given!r} is not a scope: use 'all' or a mapping such as {{service: '*'}}"
    msg = str(err["msg"])
    text = msg[:1].lower() + msg[1:]
    return text if isinstance(given, dict | list) else f"{text}, got {given!r}"
