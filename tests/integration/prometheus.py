"""A real Prometheus (the Debian package's binary) for the integration tests: the shipped config
and rules of deploy/prometheus, pointed at a worker on this machine, on a free port with its
data in a temporary directory; queried through its HTTP API."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.kafka import free_port
from tests.integration.harness import stop, wait_until

REPO = Path(__file__).resolve().parents[2]
DEPLOY_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
RULE_FILES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


class QueryError(AssertionError):
    pass


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as err:  # 400/422: the query is invalid
            body = json.loads(err.read())
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

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"Prometheus exited:\n{self.log_tail()}")
        url = f"http://127.0.0.1:{self.port}/-/ready"
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def scrape_config(worker_port: int, interval: str) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with the worker's address, a short interval, the
    repo's rule files by absolute path, and no Alertmanager (none runs here)."""
    config: dict[str, Any] = yaml.safe_load(DEPLOY_CONFIG.read_text(encoding="utf-8"))
    config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(path) for path in RULE_FILES]
    config.pop("alerting", None)
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{worker_port}"]}]
    return config


@contextlib.contextmanager
def running_prometheus(
    data_dir: Path, worker_port: int, interval: str = "1s"
) -> Iterator[Prometheus]:
    data_dir.mkdir(parents=True, exist_ok=True)
    config_file = data_dir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(scrape_config(worker_port, interval)), encoding="utf-8")
    port = free_port()
    log = data_dir / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                PROMETHEUS,
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
        wait_until(prometheus.ready, timeout=60, what="Prometheus to be ready")
        yield prometheus
    finally:
        stop(process)
