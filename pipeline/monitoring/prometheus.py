"""A real Prometheus scraping local workers with the rules of ``deploy/prometheus/rules``."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.kafka import free_port
from pipeline.monitoring.processes import (
    DEPLOY,
    MonitoringError,
    get_json,
    stop_process,
    wait_until,
)

__all__ = ["DEPLOY_CONFIG", "RULE_FILES", "Prometheus", "QueryError", "prometheus_config"]

DEPLOY_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULE_FILES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
BINARY = shutil.which("prometheus") or "/usr/bin/prometheus"


class QueryError(MonitoringError, AssertionError):
    """Prometheus refused a query (its error type and message)."""


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> Any:
        body = get_json(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
        if body.get("status") != "success":
            raise QueryError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query at the current time; the samples of its vector (or scalar)."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def label_values(self, label: str, match: str | None = None) -> list[str]:
        params = {"match[]": match} if match else {}
        values: list[str] = self.api(f"label/{label}/values", **params)
        return values

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing), as on the /alerts page."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise MonitoringError(f"Prometheus exited:\n{self.log_tail()}")
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
            return bool(response.status == 200)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def prometheus_config(
    worker_ports: Sequence[int],
    interval: str,
    alertmanager_port: int | None = None,
    rule_files: Sequence[Path] = RULE_FILES,
) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with local workers as targets, ``interval`` for scrapes
    and rule evaluation, the rule files by absolute path, and the local Alertmanager (or
    none)."""
    config: dict[str, Any] = yaml.safe_load(DEPLOY_CONFIG.read_text(encoding="utf-8"))
    config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(path) for path in rule_files]
    if alertmanager_port is None:
        config.pop("alerting", None)
    else:
        targets = [f"127.0.0.1:{alertmanager_port}"]
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": targets}]}]}
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{port}" for port in worker_ports]}]
    return config


@contextlib.contextmanager
def running_prometheus(
    data_dir: Path,
    worker_port: int,
    interval: str = "1s",
    alertmanager_port: int | None = None,
    port: int | None = None,
) -> Iterator[Prometheus]:
    """Prometheus on 127.0.0.1 (``port``, else a free one) with its config, log and data in
    ``data_dir``; stopped at the end."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config_file = data_dir / "prometheus.yml"
    config = prometheus_config([worker_port], interval, alertmanager_port)
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = port or free_port()
    log = data_dir / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                BINARY,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={data_dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
        )
    prometheus = Prometheus(process, port, log)
    try:
        wait_until(prometheus.ready, 60, "Prometheus to be ready", prometheus.log_tail)
        yield prometheus
    finally:
        stop_process(process)
