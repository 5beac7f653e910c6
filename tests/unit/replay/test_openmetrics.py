"""The OpenMetrics export: the live series' names and labels, a timestamp per sample, families
and series kept together (the parser refuses interleaved series), each series in time order,
``# EOF`` last."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from pipeline.replay import openmetrics
from pipeline.replay.openmetrics import OpenMetricsWriter
from tests.unit.alerts import HOUR, T0, result, scope

ODD = scope('a "quoted"\\name\nx')


@pytest.mark.parametrize("run_lines", [200_000, 3], ids=["one-run", "merged-runs"])
def test_export_parses_as_openmetrics_with_timestamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_lines: int
) -> None:
    # Small runs force the external sort to merge several: the result must be the same.
    monkeypatch.setattr(openmetrics, "_RUN_LINES", run_lines)
    path = tmp_path / "replay.om"
    writer = OpenMetricsWriter(path)
    for i in range(3):
        end = T0 + i * HOUR
        writer.add(
            [
                result(0.5 + i / 10, 40 + i, end, where=ODD),
                result(None, 0, end, kpi="nps", where=scope(breakdown="all")),
                result(900.0, 12, end, kpi="resolution_time", stat="p90", where=ODD),
            ]
        )
    writer.close()
    text = path.read_text(encoding="utf-8")
    assert text.endswith("# EOF\n")
    assert [p.name for p in tmp_path.iterdir()] == ["replay.om"], "sort runs are removed"

    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) == {"kpi_value", "kpi_sample_size"}
    values = [
        (s.labels["kpi"], s.labels["stat"], s.value, float(s.timestamp))
        for s in families["kpi_value"].samples
    ]
    # nps had no value: no kpi_value sample, but its sample size (0) is there
    assert values == [
        ("fcr_rate", "value", 0.5, T0),
        ("fcr_rate", "value", 0.6, T0 + HOUR),
        ("fcr_rate", "value", 0.7, T0 + 2 * HOUR),
        ("resolution_time", "p90", 900.0, T0),
        ("resolution_time", "p90", 900.0, T0 + HOUR),
        ("resolution_time", "p90", 900.0, T0 + 2 * HOUR),
    ]
    first = families["kpi_value"].samples[0].labels
    assert first == {
        "kpi": "fcr_rate",
        "stat": "value",
        "window": "24h",
        "breakdown": "service",
        "service": 'a "quoted"\\name\nx',
        "team": "",
        "channel": "",
        "priority": "",
        "job": "kpi-worker",
        "instance": "replay",
    }
    sizes = [
        (s.labels["kpi"], s.value, float(s.timestamp)) for s in families["kpi_sample_size"].samples
    ]
    # one sample size per KPI (not per statistic); the p90-only KPI has none
    assert sizes == [
        ("fcr_rate", 40, T0),
        ("fcr_rate", 41, T0 + HOUR),
        ("fcr_rate", 42, T0 + 2 * HOUR),
        ("nps", 0, T0),
        ("nps", 0, T0 + HOUR),
        ("nps", 0, T0 + 2 * HOUR),
    ]
    assert writer.samples == len(values) + len(sizes)
