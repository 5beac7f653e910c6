"""Building blocks of Grafana dashboard JSON: panels, rows, query variables and the dashboard
that lays them out. Only what the boards in ``boards.py`` use; every panel and every query reads
the one provisioned Prometheus datasource (deploy/grafana/provisioning/datasources)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "DATASOURCE",
    "DATASOURCE_UID",
    "Annotation",
    "Panel",
    "Query",
    "Variable",
    "dashboard",
    "row",
]

DATASOURCE_UID = "kpi-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
_GRID_WIDTH = 24
# The JSON model version of Grafana 11 (the image docker-compose.yml pins).
_SCHEMA_VERSION = 39

Json = dict[str, Any]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    # Instant queries feed tables and stats with the current value; range queries draw lines.
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    kind: str  # timeseries, stat, table, bargauge
    title: str
    queries: tuple[Query, ...]
    description: str = ""
    unit: str = "short"
    width: int = 12
    height: int = 8
    # Extra fieldConfig.defaults (e.g. value mappings), overrides and options.
    defaults: Json | None = None
    overrides: tuple[Json, ...] = ()
    options: Json | None = None

    def to_json(self, panel_id: int, x: int, y: int) -> Json:
        refs = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        targets = []
        for ref, query in zip(refs, self.queries, strict=False):
            target: Json = {
                "datasource": DATASOURCE,
                "editorMode": "code",
                "expr": query.expr,
                "legendFormat": query.legend or "__auto",
                "refId": ref,
            }
            if query.instant:
                target.update(instant=True, range=False, format="table")
            else:
                target.update(instant=False, range=True)
            targets.append(target)
        return {
            "datasource": DATASOURCE,
            "description": self.description,
            "fieldConfig": {
                "defaults": {"unit": self.unit, **(self.defaults or {})},
                "overrides": list(self.overrides),
            },
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "id": panel_id,
            "options": self.options or {},
            "targets": targets,
            "title": self.title,
            "type": self.kind,
        }


@dataclass(frozen=True)
class Annotation:
    """Events from a Prometheus query whose value is the event's time in seconds."""

    name: str
    expr: str  # the value: epoch seconds
    title: str  # Grafana's {{label}} format
    text: str = ""
    color: str = "purple"

    def to_json(self) -> Json:
        return {
            "datasource": DATASOURCE,
            "enable": True,
            "expr": f"({self.expr}) * 1000",  # Grafana reads the time in milliseconds
            "iconColor": self.color,
            "name": self.name,
            "step": "1m",
            "textFormat": self.text,
            "titleFormat": self.title,
            "useValueForTime": True,
        }


@dataclass(frozen=True)
class _Row:
    title: str


def row(title: str) -> _Row:
    return _Row(title)


@dataclass(frozen=True)
class Variable:
    """A query variable: ``label_values(<series selector>, <label>)`` against the datasource."""

    name: str
    label: str
    query: str
    multi: bool = False
    # With "All" selected, Grafana substitutes all_value: a regex, for `label=~"$var"`.
    all_value: str | None = None

    def to_json(self) -> Json:
        include_all = self.all_value is not None
        current: Json = (
            {"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {}
        )
        return {
            "allValue": self.all_value,
            "current": current,
            "datasource": DATASOURCE,
            "definition": self.query,
            "hide": 0,
            "includeAll": include_all,
            "label": self.label,
            "multi": self.multi,
            "name": self.name,
            "options": [],
            # The plain string form: every Grafana version reads it (newer ones migrate it).
            "query": self.query,
            "refresh": 2,  # on time range change: new label values appear as data arrives
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
            "type": "query",
        }


def dashboard(
    uid: str,
    title: str,
    description: str,
    items: list[Panel | _Row],
    variables: list[Variable],
    time_from: str = "now-6h",
    annotations: tuple[Annotation, ...] = (),
) -> Json:
    """The dashboard JSON, panels laid out left to right in a 24-column grid, a row header
    starting a new line; panel ids are their position, so they are unique and stable."""
    panels: list[Json] = []
    x = y = line_height = 0
    for panel_id, item in enumerate(items, start=1):
        if isinstance(item, _Row):
            y += line_height
            panels.append(
                {
                    "collapsed": False,
                    "gridPos": {"h": 1, "w": _GRID_WIDTH, "x": 0, "y": y},
                    "id": panel_id,
                    "panels": [],
                    "title": item.title,
                    "type": "row",
                }
            )
            x, y, line_height = 0, y + 1, 0
            continue
        if x + item.width > _GRID_WIDTH:
            x, y, line_height = 0, y + line_height, 0
        panels.append(item.to_json(panel_id, x, y))
        x += item.width
        line_height = max(line_height, item.height)
    return {
        "annotations": {"list": [a.to_json() for a in annotations]},
        "description": description,
        "editable": False,
        "graphTooltip": 1,  # shared crosshair: compare series at the same time
        "links": [
            {
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "tags": ["kpi-pipeline"],
                "title": "KPI boards",
                "type": "dashboards",
            }
        ],
        "panels": panels,
        "refresh": "30s",
        "schemaVersion": _SCHEMA_VERSION,
        "tags": ["kpi-pipeline"],
        "templating": {"list": [v.to_json() for v in variables]},
        "time": {"from": time_from, "to": "now"},
        "timezone": "utc",
        "title": title,
        "uid": uid,
        "version": 1,
    }
