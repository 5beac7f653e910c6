"""``kpi-pipeline demo``: the whole pipeline on this machine, live.

Starts (or reuses) a local Kafka broker, a worker process, Alertmanager and Prometheus (the
Debian packages, with the rules of deploy/prometheus/rules scraping the worker), and the
simulator with a regression injected (one service's first contact resolution falls), then
shows the KPIs per service in the terminal until Ctrl-C, and stops what it started. The
regression's alert goes the real way: the worker's alert state, Prometheus' rule, Alertmanager.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from pipeline.config import TopicSettings
from pipeline.kafka import LocalBroker
from pipeline.live_view import render, scrape
from pipeline.monitoring import (
    Alertmanager,
    MonitoringError,
    Prometheus,
    running_alertmanager,
    running_prometheus,
)
from pipeline.monitoring.processes import DEPLOY
from pipeline.simulate import ProducerOptions, Regression, SimConfig, produce_simulation

__all__ = ["DemoOptions", "monitoring_line", "run_demo", "where_to_look", "where_to_look_next"]


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path = Path("var/demo")
    kafka_port: int = 9092
    web_port: int = 6066
    history: timedelta = timedelta(hours=24)  # event time simulated before "now"
    speed: float = 600.0  # event seconds per wall second
    tickets_per_hour: float = 300.0
    regression_service: str = "network"
    # FCR is anchored on resolution: the fall shows about a resolution time after this.
    regression_after: timedelta = timedelta(hours=2)
    regression_fcr: float = 0.45
    run_for: float | None = None  # wall seconds; None = until Ctrl-C
    # The shipped targets, wherever the demo is started from.
    targets_file: Path | None = DEPLOY / "targets.yaml"
    plain: bool = False  # print snapshots instead of a live view (logs, CI)
    # Prometheus and Alertmanager on 127.0.0.1; None: a free port each.
    prometheus_port: int | None = None
    alertmanager_port: int | None = None
    # Prometheus' scrape and rule evaluation interval (the shipped config says 15s).
    evaluation_interval: str = "5s"
    # The simulated desk has been running this long at the start: its backlog is already at
    # its steady level (see SimConfig.warm_start), so it stays flat instead of growing.
    warm_start: timedelta = timedelta(days=7)
    # Status moves (the Bottlenecks board's data): about 60% more records for the worker to
    # keep up with, and waits that lengthen resolution times; off unless asked for.
    statuses: bool = False


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a closed terminal, a supervisor) stops the demo like Ctrl-C does, so the broker
    and worker it started are stopped too."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    console = console or Console()
    _interrupt_on_sigterm()
    # aiokafka logs transient retries (a leader not elected yet on a new topic) as warnings;
    # they would scroll the live view. Errors still show.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    options.data_dir.mkdir(parents=True, exist_ok=True)
    broker = LocalBroker.for_data_dir(options.data_dir / "kafka", port=options.kafka_port)
    started_broker = not broker.is_running()
    console.print(f"[bold]Kafka[/] 3.9 (KRaft) on {broker.bootstrap_servers} ...")
    broker.start()
    try:
        with (
            _worker(options, broker.bootstrap_servers) as (worker, log),
            _monitoring(options, console) as (prometheus, alertmanager),
        ):
            console.print(f"[bold]worker[/] pid {worker.pid}, log {log}")
            start = _aligned_now() - options.history
            regression = Regression(
                options.regression_service,
                start + options.regression_after,
                fcr_rate=options.regression_fcr,
            )
            console.print(
                f"[bold]simulator[/]: event time from {start:%Y-%m-%d %H:%M} UTC at "
                f"{options.speed:.0f}x, a desk running for {_days(options.warm_start)}; "
                f"[red]regression[/]: {regression.service} FCR falls to "
                f"{regression.fcr_rate:.0%} at {regression.start:%Y-%m-%d %H:%M} UTC"
            )
            config = SimConfig(
                seed=int(time.time()) % 100_000,
                start=start,
                duration=None,
                tickets_per_hour=options.tickets_per_hour,
                regressions=(regression,),
                disorder_seconds=120,
                invalid_fraction=0.005,
                warm_start=options.warm_start,
                statuses=options.statuses,
            )
            producer = _Background(
                produce_simulation(
                    config,
                    ProducerOptions(
                        bootstrap_servers=broker.bootstrap_servers, speed=options.speed
                    ),
                )
            )
            url = f"http://127.0.0.1:{options.web_port}/metrics"
            console.print(
                where_to_look(url, broker.bootstrap_servers, log, prometheus.url, alertmanager.url)
            )
            try:
                _watch(console, url, options, worker, prometheus, alertmanager)
            finally:
                producer.cancel()
    except KeyboardInterrupt:
        console.print("stopping ...")
    except MonitoringError as exc:
        console.print(f"[red]error[/]: {exc}")
        return 1
    finally:
        if started_broker:
            broker.stop()
        console.print(where_to_look_next(None if started_broker else broker.bootstrap_servers))
    return 0


@contextlib.contextmanager
def _monitoring(
    options: DemoOptions, console: Console
) -> Iterator[tuple[Prometheus, Alertmanager]]:
    """Alertmanager, then Prometheus scraping the worker and sending it the alerts; their data
    under the demo's data dir, fresh each run (the worker's consumer group is new too)."""
    for sub in ("prometheus/tsdb", "alertmanager/data"):
        shutil.rmtree(options.data_dir / sub, ignore_errors=True)
    with running_alertmanager(
        options.data_dir / "alertmanager", port=options.alertmanager_port
    ) as alertmanager:
        console.print(f"[bold]Alertmanager[/] {alertmanager.url}")
        with running_prometheus(
            options.data_dir / "prometheus",
            options.web_port,
            interval=options.evaluation_interval,
            alertmanager_port=alertmanager.port,
            port=options.prometheus_port,
        ) as prometheus:
            console.print(
                f"[bold]Prometheus[/] {prometheus.url} (rules: deploy/prometheus/rules, every "
                f"{options.evaluation_interval})"
            )
            yield prometheus, alertmanager


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:g} day{'s' * (days != 1)}"


def _aligned_now() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@contextlib.contextmanager
def _worker(options: DemoOptions, bootstrap: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = options.data_dir / "worker.log"
    env = dict(os.environ)
    env.update(
        KPI_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
        KPI_WEB__PORT=str(options.web_port),
        KPI_DATA_DIR=str(options.data_dir / "worker"),
        KPI_APP_ID=f"kpi-demo-{int(time.time())}",  # a fresh consumer group and state per demo
    )
    # The local copies of earlier demos' tables (one folder per app id) are of no further use.
    shutil.rmtree(options.data_dir / "worker" / "faust", ignore_errors=True)
    if options.targets_file is not None:
        env["KPI_TARGETS_FILE"] = str(options.targets_file.resolve())
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


class _Background:
    """Runs a coroutine on its own event loop in a daemon thread."""

    def __init__(self, coro: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task[object] | None = None

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.task = self.loop.create_task(coro)  # type: ignore[arg-type]
            with contextlib.suppress(asyncio.CancelledError):
                self.loop.run_until_complete(self.task)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=10)


def where_to_look(
    url: str,
    bootstrap: str,
    worker_log: Path,
    prometheus: str = "http://127.0.0.1:9090",
    alertmanager: str = "http://127.0.0.1:9093",
) -> str:
    """Printed when the demo starts: where its outputs are while it runs."""
    topics = TopicSettings()
    return (
        "[bold]Where to look[/] while the demo runs:\n"
        f"  metrics         {url}\n"
        f"                  curl -s {url} | grep fcr_rate\n"
        f"  Prometheus      {prometheus}/alerts (rules), {prometheus}/graph\n"
        f"  Alertmanager    {alertmanager}/#/alerts\n"
        f"                  curl -s {alertmanager}/api/v2/alerts\n"
        f"  closed windows  kcat -b {bootstrap} -C -t {topics.windows} -o end\n"
        f"  alerts          kcat -b {bootstrap} -C -t {topics.alerts}\n"
        f"  rejected        kcat -b {bootstrap} -C -t {topics.dlq} -f '%h %s\\n'\n"
        f"  worker log      {worker_log}\n"
        "Ctrl-C stops the demo (simulator, worker, Prometheus, Alertmanager and the broker it "
        "started)."
    )


def where_to_look_next(broker_left_running: str | None) -> str:
    """Printed when the demo ends: the boards, alert routing and docs to go on with."""
    lines = [
        "[bold]Where to look next[/]:",
        "  boards                     docker compose up --build (docs/docker.md), then",
        "                             Grafana http://127.0.0.1:3000",
        "  alert routing              deploy/alertmanager/alertmanager.yml",
        "  the KPIs explained         docs/kpis.md",
        "  targets and alerts         docs/alerts.md, deploy/targets.yaml",
        "  each part on its own       kpi-pipeline worker | simulate | kafka --help",
    ]
    if broker_left_running:
        lines.append(
            f"  the broker {broker_left_running} was running before the demo and still is"
            " (kpi-pipeline kafka stop)"
        )
    return "\n".join(lines)


def _watch(
    console: Console,
    url: str,
    options: DemoOptions,
    worker: subprocess.Popen[bytes],
    prometheus: Prometheus,
    alertmanager: Alertmanager,
) -> None:
    deadline = None if options.run_for is None else time.monotonic() + options.run_for
    title = "KPIs per service"

    def view() -> Group:
        return Group(render(scrape(url), title), monitoring_line(prometheus, alertmanager))

    # A live display needs a terminal; in a pipe or a log, print a table every 10 s.
    if options.plain or not console.is_terminal:
        while deadline is None or time.monotonic() < deadline:
            left = 10.0 if deadline is None else deadline - time.monotonic()
            time.sleep(min(10.0, max(left, 0.0)))
            _check_alive(worker, prometheus, alertmanager)
            with contextlib.suppress(OSError, MonitoringError):
                console.print(view())
        return
    with Live(console=console, refresh_per_second=1, screen=False) as live:
        while deadline is None or time.monotonic() < deadline:
            _check_alive(worker, prometheus, alertmanager)
            with contextlib.suppress(OSError, MonitoringError):
                live.update(view())
            time.sleep(2)


def monitoring_line(prometheus: Prometheus, alertmanager: Alertmanager) -> Text:
    """The alerts as Prometheus' rules and Alertmanager see them, with where to look."""
    firing = [a for a in prometheus.alerts() if a.get("state") == "firing"]
    held = alertmanager.alerts()  # every alert it holds (the API v2 default)
    names = sorted({a["labels"].get("alertname", "?") for a in held})
    line = Text("Prometheus ", style="bold")
    line.append(f"{prometheus.url}/alerts: {len(firing)} firing", style="red" if firing else "")
    line.append("   Alertmanager ", style="bold")
    line.append(
        f"{alertmanager.url}: {len(held)} active" + (f" ({', '.join(names)})" if names else ""),
        style="red" if held else "",
    )
    return line


def _check_alive(
    worker: subprocess.Popen[bytes], prometheus: Prometheus, alertmanager: Alertmanager
) -> None:
    if worker.poll() is not None:
        raise SystemExit(f"the worker exited with code {worker.returncode}; see its log")
    for name, process, log in (
        ("Prometheus", prometheus.process, prometheus.log),
        ("Alertmanager", alertmanager.process, alertmanager.log),
    ):
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with code {process.returncode}; see {log}")
