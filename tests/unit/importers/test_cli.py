"""``kpi-pipeline import servicenow``: the summary, --dry-run and its errors."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main
from tests.unit.importers.test_servicenow import HEADER, row, write_csv


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["import", "servicenow", *args])
    return result.exit_code, result.output


def test_dry_run_prints_the_summary_without_a_broker(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "log.csv.gz",
        [
            row("INC1", 0, "New", "29/2/2016 01:23"),
            row("INC1", 1, "-100", "29/2/2016 01:30"),
            row("INC1", 2, "Resolved", "29/2/2016 08:53", reassignment_count="1"),
            row("INC1", 3, "Active", "1/3/2016 09:00", reassignment_count="1", reopen_count="1"),
            row("INC1", 4, "Resolved", "1/3/2016 10:00", reassignment_count="1", reopen_count="1"),
            row("INC2", 0, "New", "1/3/2016 11:00", sys_updated_at="?"),
            row("INC2", 1, "Closed", "2/3/2016 11:00", opened_at="1/3/2016 11:00"),
        ],
    )
    # No broker listens on port 9: a dry run must not try to reach one.
    code, out = run(str(path), "--dry-run", "--bootstrap", "127.0.0.1:9")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("read 7 rows of 2 incidents from log.csv.gz in ")
    # Status moves by default: each incident is new from opened_at, and one row is Active.
    assert lines[1] == (
        "events: 10 (created 2, reassigned 1, resolved 2, reopened 1, closed 1, status_changed 3)"
    )
    assert lines[2] == "status moves by the tool's status: New 2, Active 1"
    assert lines[3] == "event time: 2016-02-29 01:16 .. 2016-03-02 11:00 UTC"
    assert lines[4:7] == [
        "rows skipped: 2",
        "  invalid_state: 1 (line 3)",
        "  missing_timestamp: 1 (line 7)",
    ]
    assert lines[-1] == "dry run: nothing produced"
    code, out = run(str(path), "--dry-run", "--no-statuses")
    assert code == 0, out
    assert out.splitlines()[1] == (
        "events: 7 (created 2, reassigned 1, resolved 2, reopened 1, closed 1)"
    )


def test_a_missing_file_fails_with_its_name(tmp_path: Path) -> None:
    code, out = run(str(tmp_path / "nope.csv.gz"), "--dry-run")
    assert code == 1
    assert "nope.csv.gz: no such file" in out


def test_missing_columns_fail_with_their_names(tmp_path: Path) -> None:
    header = [c for c in HEADER if c != "sys_mod_count"]
    path = write_csv(tmp_path / "log.csv", [row("INC1", 0, "New", "29/2/2016 01:23")], header)
    code, out = run(str(path), "--dry-run")
    assert code == 1
    assert "missing column(s) sys_mod_count;" in out


def test_progress_shows_the_reading_rate(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "log.csv", [row("INC1", 0, "New", "29/2/2016 01:23")])
    code, out = run(str(path), "--dry-run", "--progress")
    assert code == 0, out
    assert "rows/s" in out and "1 of 1 incidents" in out
