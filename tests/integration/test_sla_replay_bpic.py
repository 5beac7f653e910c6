"""SLA clocks end to end on the real BPIC 2013 log, through the commands a user runs:
``kpi-pipeline import bpic2013`` into a real broker, then ``kpi-pipeline replay`` with an SLA
policy file (``KPI_SLA_FILE``: awaiting customer/vendor pause the clock) over the whole imported
range. The report's ``kpis.csv`` must hold, per service and overall and per 30-day window,
the paused SLA compliance and the time in each status that an independent computation on the
CSV finds (``tests/status_reference.py``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pipeline.core.results import iso
from pipeline.importers.bpic2013 import map_file
from pipeline.kafka import LocalBroker
from tests.integration.test_replay_uci import _cli, _report_results
from tests.status_reference import BPIC, bpic_steps, status_kpis
from tests.uci_pipeline import MONTH_LIKE
from tests.uci_reference import fixed_window
from tests.unit.importers.test_status_kpis_real_logs import PAUSING, _compare, _values

pytestmark = pytest.mark.integration

PREFIX = "bpic-sla-"
POLICY = """\
version: sla/v1
pausing_statuses: [awaiting_customer, awaiting_vendor]
limits:
  - {priority: P1, resolution: 4h}
  - {priority: P2, resolution: 8h}
  - {priority: P3, resolution: 24h}
  - {priority: P4, resolution: 72h}
"""


def test_replay_with_a_policy_equals_the_independent_computation(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    mapped = map_file(BPIC)
    times = [e.ts_ms / 1000 for e in mapped.events]
    first = float(int(min(times) // MONTH_LIKE) * MONTH_LIKE)
    last = float((int(max(times) // MONTH_LIKE) + 1) * MONTH_LIKE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env["KPI_KAFKA__BOOTSTRAP_SERVERS"] = kafka_broker.bootstrap_servers
    args = ["import", "bpic2013", str(BPIC), "--topic-prefix", PREFIX, "--partitions", "3"]
    imported, _ = _cli([*args, "--no-progress"], env, timeout=900)
    assert f"produced {len(mapped.events):,} records to {PREFIX}tickets" in imported, imported

    policy = tmp_path / "sla.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    env.update(
        KPI_TOPICS__TICKETS=f"{PREFIX}tickets",
        KPI_TOPICS__SURVEYS=f"{PREFIX}surveys",
        KPI_SLA_FILE=str(policy),
    )
    report = tmp_path / "report"
    args = ["replay", "--from", iso(first), "--to", iso(last), "--out", str(report)]
    args += ["--windows", "30d=720h", "--breakdowns", "all,service", "--no-progress"]
    output, _ = _cli(args, env, timeout=900)
    match = re.search(r"replayed (\d+) records", output)
    assert match is not None and int(match.group(1)) == len(mapped.events), output
    summary = (report / "summary.md").read_text(encoding="utf-8")
    assert "Rejected (the live worker's dead-letter reasons): none." in summary, summary

    reference = status_kpis(bpic_steps(BPIC), fixed_window(MONTH_LIKE), PAUSING)
    compared = _compare(reference, _values(_report_results(report)), paused=True)
    assert compared > 1000
    print(f"{compared} SLA and time-in-status values of the replay equal the reference")
