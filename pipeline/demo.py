"""``kpi-pipeline demo``: the whole pipeline on this machine, live.

Starts (or reuses) a local Kafka broker, a worker process, and the simulator with a regression
injected (one service's first contact resolution falls), then shows the KPIs per service in the
terminal until Ctrl-C, and stops what it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.live import Live

from pipeline.config import TopicSettings
from pipeline.kafka import LocalBroker
from pipeline.live_view import render, scrape
from pipeline.simulate import ProducerOptions, Regression, SimConfig, produce_simulation

__all__ = ["DemoOptions", "run_demo", "where_to_look", "where_to_look_next"]


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
    targets_file: Path | None = Path("deploy/targets.yaml")
    plain: bool = False  # print snapshots instead of a live view (logs, CI)


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
        with _worker(options, broker.bootstrap_servers) as (worker, log):
            console.print(f"[bold]worker[/] pid {worker.pid}, log {log}")
            start = _aligned_now() - options.history
            regression = Regression(
                options.regression_service,
                start + options.regression_after,
                fcr_rate=options.regression_fcr,
            )
            console.print(
                f"[bold]simulator[/]: event time from {start:%Y-%m-%d %H:%M} UTC at "
                f"{options.speed:.0f}x; [red]regression[/]: {regression.service} FCR falls to "
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
            console.print(where_to_look(url, broker.bootstrap_servers, log))
            try:
                _watch(console, url, options, worker)
            finally:
                producer.cancel()
    except KeyboardInterrupt:
        console.print("stopping ...")
    finally:
        if started_broker:
            broker.stop()
        console.print(where_to_look_next(None if started_broker else broker.bootstrap_servers))
    return 0


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


def where_to_look(url: str, bootstrap: str, worker_log: Path) -> str:
    """Printed when the demo starts: where its outputs are while it runs."""
    topics = TopicSettings()
    return (
        "[bold]Where to look[/] while the demo runs:\n"
        f"  metrics         {url}\n"
        f"                  curl -s {url} | grep fcr_rate\n"
        f"  closed windows  kcat -b {bootstrap} -C -t {topics.windows} -o end\n"
        f"  alerts          kcat -b {bootstrap} -C -t {topics.alerts}\n"
        f"  rejected        kcat -b {bootstrap} -C -t {topics.dlq} -f '%h %s\\n'\n"
        f"  worker log      {worker_log}\n"
        "Ctrl-C stops the demo (simulator, worker and the broker it started)."
    )


def where_to_look_next(broker_left_running: str | None) -> str:
    """Printed when the demo ends: the boards, alert routing and docs to go on with."""
    lines = [
        "[bold]Where to look next[/]:",
        "  boards and alert routing   docker compose up --build (docs/docker.md), then",
        "                             Grafana http://127.0.0.1:3000, Prometheus :9090,",
        "                             Alertmanager :9093",
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
    console: Console, url: str, options: DemoOptions, worker: subprocess.Popen[bytes]
) -> None:
    deadline = None if options.run_for is None else time.monotonic() + options.run_for
    title = "KPIs per service"
    # A live display needs a terminal; in a pipe or a log, print a table every 10 s.
    if options.plain or not console.is_terminal:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(10)
            _check_alive(worker)
            with contextlib.suppress(OSError):
                console.print(render(scrape(url), title))
        return
    with Live(console=console, refresh_per_second=1, screen=False) as live:
        while deadline is None or time.monotonic() < deadline:
            _check_alive(worker)
            with contextlib.suppress(OSError):
                live.update(render(scrape(url), title))
            time.sleep(2)


def _check_alive(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        raise SystemExit(f"the worker exited with code {worker.returncode}; see its log")
