"""A real Alertmanager with ``deploy/alertmanager/alertmanager.yml`` (routes, inhibitions,
receivers as shipped: its placeholder webhooks fail and are logged, the alerts are still
there in its API and UI)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.kafka import free_port
from pipeline.monitoring.processes import (
    DEPLOY,
    MonitoringError,
    get_json,
    stop_process,
    wait_until,
)

__all__ = ["DEPLOY_CONFIG", "Alertmanager", "running_alertmanager"]

DEPLOY_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
BINARY = (
    shutil.which("prometheus-alertmanager")
    or shutil.which("alertmanager")
    or "/usr/bin/prometheus-alertmanager"
)


@dataclass
class Alertmanager:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (API v2), e.g. ``alerts(alertname="KpiDrift")``."""
        query = "&".join(f"filter={k}%3D%22{v}%22" for k, v in filters.items())
        body = get_json(f"{self.url}/api/v2/alerts?{query}")
        if not isinstance(body, list):
            raise MonitoringError(f"Alertmanager answered {body!r}")
        return body

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise MonitoringError(f"Alertmanager exited:\n{self.log_tail()}")
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
            return bool(response.status == 200)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@contextlib.contextmanager
def running_alertmanager(
    data_dir: Path, port: int | None = None, config_file: Path = DEPLOY_CONFIG
) -> Iterator[Alertmanager]:
    """Alertmanager on 127.0.0.1 (``port``, else a free one), a single instance (no cluster
    port), its data and log in ``data_dir``; stopped at the end."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = data_dir / "alertmanager.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                BINARY,
                f"--config.file={config_file.resolve()}",
                f"--storage.path={data_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
        )
    alertmanager = Alertmanager(process, port, log)
    try:
        wait_until(alertmanager.ready, 60, "Alertmanager to be ready", alertmanager.log_tail)
        yield alertmanager
    finally:
        stop_process(process)
