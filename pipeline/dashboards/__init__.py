"""Grafana dashboards as code (generated into deploy/grafana/dashboards/)."""

from pipeline.dashboards.boards import all_boards
from pipeline.dashboards.export import DASHBOARD_DIR, check, generate, rendered
from pipeline.dashboards.grafana import DATASOURCE_UID

__all__ = ["DASHBOARD_DIR", "DATASOURCE_UID", "all_boards", "check", "generate", "rendered"]
