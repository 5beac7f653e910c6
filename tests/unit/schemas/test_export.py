from __future__ import annotations

import json
from pathlib import Path

import orjson

from pipeline.engine.frames import frame_record_bytes
from pipeline.schemas.export import SCHEMA_DIR, check, generate, rendered
from pipeline.schemas.records import KpiWindowRecord
from tests.unit.core.factories import HOUR, T0, context, survey, ticket
from tests.unit.engine.cores import StoredCore, closer, frontier


def test_committed_schema_files_match_the_models() -> None:
    assert check(SCHEMA_DIR) == []


def test_check_reports_a_drifted_or_missing_file(tmp_path: Path) -> None:
    generate(tmp_path)
    assert check(tmp_path) == []
    victim = tmp_path / "ticket-event.v1.schema.json"
    victim.write_text(victim.read_text().replace('"P4"', '"P5"'))
    (tmp_path / "kpi-window.v1.schema.json").unlink()
    assert sorted(check(tmp_path)) == ["kpi-window.v1.schema.json", "ticket-event.v1.schema.json"]


def test_generated_files_say_they_are_generated() -> None:
    for text in rendered().values():
        assert "Do not edit" in json.loads(text)["$comment"]


def test_window_records_follow_the_exported_contract() -> None:
    ctx = context()
    core = StoredCore("tickets", 0, ctx)
    windows = closer(ctx)
    for ev in (
        ticket("created", "a", T0),
        ticket("resolved", "a", T0 + 60),
        survey("nps", 10, T0 + 90),
        ticket("created", "b", T0 + 2 * HOUR),
    ):
        core.accept(ev)
        core.release()
    # The bytes the worker produces.
    records = list(frame_record_bytes(windows.close([core], frontier([core]))))
    assert records
    keys = set()
    for key, record in records:
        parsed = KpiWindowRecord.model_validate(orjson.loads(record))
        keys.add(key)
        assert parsed.kpis["tickets_created"].stats["value"] is not None
    assert len(keys) == len(records), "one record per window and scope"
