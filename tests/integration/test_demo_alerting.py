"""The demo's real alerting path: local broker, worker, Prometheus with the shipped rules and
Alertmanager, started by ``kpi-pipeline demo``; the injected regression's alert reaches
Alertmanager's API, and Ctrl-C (SIGTERM here) stops every process the demo started."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pipeline.kafka import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _listening(port: int) -> bool:
    with (
        contextlib.suppress(OSError),
        urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2),
    ):
        return True
    return False


def test_the_regression_reaches_alertmanager(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("kafka", "web", "prometheus", "alertmanager")}
    log = tmp_path / "demo.log"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [
        sys.executable, "-m", "pipeline", "demo", "--plain",
        "--data-dir", str(tmp_path / "demo"),
        "--kafka-port", str(ports["kafka"]),
        "--web-port", str(ports["web"]),
        "--prometheus-port", str(ports["prometheus"]),
        "--alertmanager-port", str(ports["alertmanager"]),
        "--evaluation-interval", "1s",
        "--speed", "1500",
        "--warm-start", "2d",
        "--run-for", "600",
    ]  # fmt: skip
    started = time.monotonic()
    with log.open("wb") as out:
        demo = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    alertmanager = f"http://127.0.0.1:{ports['alertmanager']}"
    prometheus = f"http://127.0.0.1:{ports['prometheus']}"
    wanted = 'filter=alertname%3D"KpiTargetBreached"&filter=kpi%3D"fcr_rate"'
    received: list[dict[str, Any]] = []
    try:
        deadline = started + 240
        while time.monotonic() < deadline and not received:
            assert demo.poll() is None, log.read_text(errors="replace")[-4000:]
            with contextlib.suppress(OSError):
                received = _get(f"{alertmanager}/api/v2/alerts?{wanted}".replace('"', "%22"))
            time.sleep(1)
        reached = time.monotonic() - started
        assert received, "no fcr_rate alert in Alertmanager:\n" + log.read_text()[-4000:]
        labels = [a["labels"] for a in received]
        # The regression's service, and only it: the other services keep their FCR.
        assert {lab["service"] for lab in labels} == {"network"}, labels
        assert {lab["rule"] for lab in labels} == {"fcr-per-service"}
        assert {lab["severity"] for lab in labels} <= {"warning", "critical"}
        # Prometheus shows the same alert firing (its /alerts page).
        rules = _get(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
        firing = [
            a["labels"]
            for a in rules
            if a["state"] == "firing" and a["labels"]["kpi"] == "fcr_rate"
        ]
        assert firing and {lab["service"] for lab in firing} == {"network"}
        held = _get(f"{alertmanager}/api/v2/alerts")
        names = sorted({(a["labels"]["alertname"], a["labels"].get("service", "")) for a in held})
        print(f"Alertmanager holds: {names}")
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            code = demo.wait(timeout=90)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
    text = log.read_text(errors="replace")
    assert code == 0, text[-4000:]
    assert "Prometheus[/]" not in text and f"{prometheus}/alerts" in text
    # The demo stopped what it started.
    assert not _listening(ports["prometheus"]) and not _listening(ports["alertmanager"])
    print(f"the regression's alert reached Alertmanager {reached:.0f}s after the demo started")
