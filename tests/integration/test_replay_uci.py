"""The UCI incident log end to end, through the commands a user runs: ``kpi-pipeline import
servicenow`` into a real broker, then ``kpi-pipeline replay`` over the whole imported range with
a 720 h tumbling window and the all and service breakdowns. The report's ``kpis.csv`` must hold,
per service and overall, the tickets_resolved, resolution_time (mean, p50, p90), fcr_rate,
reopen_rate and sla_compliance that an independent computation on the CSV finds
(``tests/uci_reference.py``): counts and rates exactly, quantiles within the sketch's 1%.

A subset of the incidents by default; the whole log with KPI_TEST_UCI_FULL=1 (`make test-uci`).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.core.results import WindowResult, iso
from pipeline.core.scopes import Scope
from pipeline.importers import map_file
from pipeline.kafka import LocalBroker
from tests.uci_pipeline import MONTH_LIKE, assert_same_kpis, pipeline_values
from tests.uci_reference import fixed_window, log_for_tests, uci_kpis

pytestmark = pytest.mark.integration

PREFIX = "uci-replay-"
WINDOW = "30d"  # the replay's name for the 720 h tumbling window


@dataclass
class Replayed:
    log: Path
    report: Path
    events: int  # events the import mapped (and produced)
    first: float  # the replayed range, aligned to the window
    last: float
    output: str  # what the replay printed


def _cli(args: list[str], env: dict[str, str], timeout: float) -> tuple[str, float]:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = run.stdout.decode() + run.stderr.decode()
    assert run.returncode == 0, output
    return output, elapsed


@pytest.fixture(scope="module")
def replayed(kafka_broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    tmp = tmp_path_factory.mktemp("uci-replay")
    log = log_for_tests(tmp)
    mapped = map_file(log)
    times = [e.ts_ms / 1000 for e in mapped.events]
    # The whole imported range, on the window's grid: every event falls in a reported window.
    first = float(int(min(times) // MONTH_LIKE) * MONTH_LIKE)
    last = float((int(max(times) // MONTH_LIKE) + 1) * MONTH_LIKE)

    # Only the settings given here: no KPI_ variable of the environment may change the result.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env["KPI_KAFKA__BOOTSTRAP_SERVERS"] = kafka_broker.bootstrap_servers
    # Imported apart from the live topics, as docs/import.md shows, then replayed from there.
    args = ["import", "servicenow", str(log), "--topic-prefix", PREFIX, "--partitions", "3"]
    imported, import_s = _cli([*args, "--no-progress"], env, timeout=900)
    assert f"produced {len(mapped.events):,} records to {PREFIX}tickets" in imported, imported
    env.update(KPI_TOPICS__TICKETS=f"{PREFIX}tickets", KPI_TOPICS__SURVEYS=f"{PREFIX}surveys")
    report = tmp / "report"
    args = ["replay", "--from", iso(first), "--to", iso(last), "--out", str(report)]
    args += ["--windows", f"{WINDOW}=720h", "--breakdowns", "all,service", "--no-progress"]
    output, replay_s = _cli(args, env, timeout=900)
    print(
        f"\n{log.name}: {len(mapped.events)} events imported in {import_s:.1f} s, "
        f"replayed in {replay_s:.1f} s (process start included)"
    )
    return Replayed(log, report, len(mapped.events), first, last, output)


def _report_results(report: Path) -> list[WindowResult]:
    """The rows of kpis.csv as the results they were written from."""
    out = []
    with (report / "kpis.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            dims = {d: row[d] or None for d in ("service", "team", "channel", "priority")}
            out.append(
                WindowResult(
                    window=row["window"],
                    start=int(datetime.fromisoformat(row["window_start"]).timestamp()),
                    end=int(datetime.fromisoformat(row["window_end"]).timestamp()),
                    scope=Scope(row["breakdown"], **dims),
                    kpi=row["kpi"],
                    kpi_version=0,
                    kpi_class=row["kpi_class"],
                    unit=row["unit"],
                    stat=row["stat"],
                    value=float(row["value"]) if row["value"] else None,
                    sample_size=int(row["sample_size"]),
                )
            )
    return out


def test_the_replay_report_holds_the_kpis_an_independent_computation_finds_in_the_csv(
    replayed: Replayed,
) -> None:
    # Every imported record was read, and none was rejected: the range holds all of them.
    match = re.search(r"replayed (\d+) records", replayed.output)
    assert match is not None, replayed.output
    assert int(match.group(1)) == replayed.events
    summary = (replayed.report / "summary.md").read_text(encoding="utf-8")
    assert "Rejected (the live worker's dead-letter reasons): none." in summary, summary

    results = _report_results(replayed.report)
    assert {r.window for r in results} == {WINDOW}
    assert {r.scope.breakdown for r in results} == {"all", "service"}
    starts = sorted({r.start for r in results})
    # Every 30-day window of the range, and only those.
    assert starts == list(range(int(replayed.first), int(replayed.last), MONTH_LIKE))

    reference = uci_kpis(replayed.log, window_of=fixed_window(MONTH_LIKE))
    compared = assert_same_kpis(reference, pipeline_values(results, window=WINDOW))

    resolved = sum(k.tickets_resolved for (_, service), k in reference.items() if service is None)
    assert resolved > 1000
    assert compared > 500
    print(f"{compared} KPI values of the replay's report equal the independent computation")
