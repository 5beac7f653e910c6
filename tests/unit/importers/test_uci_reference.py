"""The independent computation (tests/uci_reference.py) on an export small enough to check by
hand, so that agreeing with it means something."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.uci_reference import calendar_month, fixed_window, uci_kpis
from tests.unit.importers.test_servicenow import row, write_csv

MARCH = datetime(2016, 3, 1, tzinfo=UTC).timestamp()
APRIL = datetime(2016, 4, 1, tzinfo=UTC).timestamp()


def test_monthly_kpis_by_hand(tmp_path: Path) -> None:
    opened = {"opened_at": "1/3/2016 10:00"}
    b = {**opened, "category": "Category 9"}
    path = write_csv(
        tmp_path / "log.csv",
        [
            # A: P1, resolved after 3h (within 4h), first contact; reopened in April, resolved
            # again after 40 days.
            row("A", 0, "New", "1/3/2016 10:05", priority="1 - Critical", **opened),
            row("A", 1, "Resolved", "1/3/2016 13:00", priority="1 - Critical", **opened),
            row("A", 2, "Active", "2/4/2016 09:00", reopen_count="1", **opened),
            row("A", 3, "Resolved", "10/4/2016 10:00", reopen_count="1", **opened),
            row("A", 4, "Closed", "15/4/2016 10:00", reopen_count="1", **opened),
            # B: reassigned, then resolved after 30h (P3: 24h missed); a -100 row left out.
            row("B", 0, "New", "1/3/2016 10:00", **b),
            row("B", 1, "-100", "1/3/2016 11:00", **b),
            row("B", 2, "Active", "1/3/2016 12:00", reassignment_count="1", **b),
            row("B", 3, "Resolved", "2/3/2016 16:00", reassignment_count="1", **b),
            row("B", 4, "Resolved", "2/3/2016 17:00", reassignment_count="1", **b),
            # C: first row already Resolved, after 24h exactly (P3: met), category missing.
            row("C", 3, "Resolved", "2/3/2016 10:00", category="?", **opened),
        ],
    )
    kpis = uci_kpis(path)
    assert set(kpis) == {
        (MARCH, None),
        (MARCH, "Category 55"),
        (MARCH, "Category 9"),
        (MARCH, "unknown"),
        (APRIL, None),
        (APRIL, "Category 55"),
    }
    march = kpis[(MARCH, None)].values()
    assert march["tickets_resolved.value"] == (3.0, 3)
    assert march["fcr_rate.value"] == (2 / 3, 3)  # B was reassigned
    assert march["sla_compliance.value"] == (2 / 3, 3)  # B missed 24h
    assert march["reopen_rate.value"] == (0.0, 3)
    hours = [3 * 3600.0, 24 * 3600.0, 30 * 3600.0]
    assert march["resolution_time.mean"] == (sum(hours) / 3, 3)
    assert march["resolution_time.p50"] == (24 * 3600.0, 3)
    assert march["resolution_time.p90"] == (24 * 3600.0, 3)  # rank int(0.9 * 2) = 1
    april = kpis[(APRIL, "Category 55")].values()
    assert april["tickets_resolved.value"] == (1.0, 1)
    assert april["reopen_rate.value"] == (1.0, 1)
    assert april["fcr_rate.value"] == (None, 0)  # a resolution after a reopen is not a first one
    assert april["sla_compliance.value"] == (0.0, 1)
    assert april["resolution_time.mean"] == ((40 * 24) * 3600.0, 1)
    assert kpis[(MARCH, "Category 9")].values()["fcr_rate.value"] == (0.0, 1)


def test_windows() -> None:
    moment = datetime(2016, 3, 17, 5, 30, tzinfo=UTC).timestamp()
    assert calendar_month(moment) == MARCH
    start = fixed_window(720 * 3600)(moment)
    assert start % (720 * 3600) == 0 and start <= moment < start + 720 * 3600
