"""Reading Grafana dashboard JSON the way Grafana does, for the checks of the generated boards:
their panels and queries, their variables, and the variable references in a query."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DASHBOARD_DIR = REPO / "deploy" / "grafana" / "dashboards"
# Grafana's own variables that may appear in a Prometheus query.
BUILTINS = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms"}
# $name, ${name} or ${name:format}, and the deprecated [[name]].
_REFERENCE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*),\s*)?(\w+)\s*\)\s*$", re.DOTALL)

Json = dict[str, Any]


def load_boards(directory: Path = DASHBOARD_DIR) -> dict[str, Json]:
    return {
        p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))
    }


def panels(board: Json) -> Iterator[Json]:
    """Every panel, including those nested in collapsed rows."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


@dataclass(frozen=True)
class PanelQuery:
    board: str
    panel: str
    ref: str
    expr: str


def queries(name: str, board: Json) -> list[PanelQuery]:
    """Every panel query, and every annotation query (as panel "annotation: <name>")."""
    found = [
        PanelQuery(name, panel.get("title", ""), target.get("refId", ""), target["expr"])
        for panel in panels(board)
        for target in panel.get("targets", [])
    ]
    for annotation in board.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            found.append(
                PanelQuery(name, f"annotation: {annotation['name']}", "", annotation["expr"])
            )
    return found


def variables(board: Json) -> list[Json]:
    found: list[Json] = board.get("templating", {}).get("list", [])
    return found


def variable_query(variable: Json) -> str:
    query = variable.get("query", "")
    return str(query.get("query", "") if isinstance(query, dict) else query)


def references(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in _REFERENCE.finditer(text)}


def parse_label_values(query: str) -> tuple[str | None, str]:
    """`label_values(selector, label)` or `label_values(label)` -> (selector, label)."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise ValueError(f"not a label_values() query: {query!r}")
    return match.group(1), match.group(2)


def substitute(text: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        return values[name]

    return _REFERENCE.sub(value, text)
