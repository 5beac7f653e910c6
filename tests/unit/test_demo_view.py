"""The demo's terminal view and the pointers it prints, without a broker."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from rich.console import Console

from pipeline.core.kpis import KpiClass, catalogue
from pipeline.demo import where_to_look, where_to_look_next
from pipeline.live_view import PROCESS_COLUMNS, SERVICE_COLUMNS, Snapshot, render

REPO = Path(__file__).resolve().parents[2]


def text_of(renderable: object) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_process_and_service_value_measures_are_shown_apart() -> None:
    classes = {k.name: k.kpi_class for k in catalogue()}
    assert {classes[kpi] for kpi, *_ in PROCESS_COLUMNS} == {KpiClass.PROCESS}
    assert {classes[kpi] for kpi, *_ in SERVICE_COLUMNS} == {KpiClass.SERVICE}
    snap = Snapshot(
        kpis={
            "1h": {"network": {("fcr_rate", "value"): 0.45, ("csat", "value"): 0.9}},
            "24h": {"network": {("fcr_rate", "value"): 0.75, ("csat", "value"): 0.88}},
        },
        alerts=[("target", "fcr-per-service", "fcr_rate 1h service=network", "FIRING", "critical")],
        rejected={"late": 3.0},
    )
    text = text_of(render(snap, "KPIs"))
    process_at, service_at = text.index("Process:"), text.index("Service value:")
    assert process_at < text.index("FCR") < service_at < text.index("CSAT")
    assert "45%" in text and "90%" in text
    assert "FIRING critical target fcr-per-service: fcr_rate 1h service=network" in text
    assert "late 3" in text


def test_the_demo_points_at_its_outputs_and_at_what_exists() -> None:
    start = text_of(where_to_look("http://127.0.0.1:6066/metrics", "h:9", Path("w.log")))
    for expected in ("http://127.0.0.1:6066/metrics", "kpi-windows", "kpi-alerts", "events-dlq"):
        assert expected in start
    end = text_of(where_to_look_next(None))
    assert "docker compose up" in end and "still" not in end
    for doc in re.findall(r"(?:docs|deploy)/[\w./-]+\.(?:md|yaml)", end):
        assert (REPO / doc).exists(), doc
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    published = {
        str(port).split(":")[1]
        for svc in compose["services"].values()
        for port in svc.get("ports", [])
    }
    for port in re.findall(r":(\d{4})\b", end):
        assert port in published, port
    assert "still" in text_of(where_to_look_next("h:9"))


def test_the_demo_points_at_its_prometheus_and_alertmanager() -> None:
    start = text_of(
        where_to_look(
            "http://127.0.0.1:6066/metrics",
            "h:9",
            Path("w.log"),
            "http://127.0.0.1:41001",
            "http://127.0.0.1:41002",
        )
    )
    assert "http://127.0.0.1:41001/alerts" in start
    assert "http://127.0.0.1:41002/api/v2/alerts" in start


def test_prometheus_scrapes_the_worker_and_sends_to_the_local_alertmanager() -> None:
    from pipeline.monitoring import prometheus_config
    from pipeline.monitoring.prometheus import RULE_FILES

    config = prometheus_config([6123], "2s", alertmanager_port=9321)
    assert config["global"] == {"scrape_interval": "2s", "evaluation_interval": "2s"}
    (job,) = config["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["127.0.0.1:6123"]}]
    assert config["alerting"]["alertmanagers"][0]["static_configs"] == [
        {"targets": ["127.0.0.1:9321"]}
    ]
    assert config["rule_files"] == [str(p) for p in RULE_FILES]
    assert {p.name for p in RULE_FILES} >= {"kpi-alerts.yml", "kpi-budgets.yml"}
    assert "alerting" not in prometheus_config([6123], "1s")
