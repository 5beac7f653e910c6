"""The table store on Faust's RocksDB store: the local copy holds only what the broker has
acknowledged, and its persisted offset names the last of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust
import orjson
from faust.types import TP

from pipeline.config import Settings
from pipeline.worker.app import create_app
from pipeline.worker.stores import table_options
from pipeline.worker.table_store import TableStore


class DeliveredBatches:
    """What the checkpoint hands the store: records appended, then their offsets once
    delivered (the changelog already held ``start`` records per partition)."""

    def __init__(self, start: int = 0) -> None:
        self.added: dict[int, list[bytes]] = {}
        self.start = start

    async def add(self, topic: str, key: bytes, value: bytes | None, partition: int) -> None:
        self.added.setdefault(partition, []).append(key)

    def last_offset(self, topic: str, partition: int) -> int | None:
        return self.start + len(self.added[partition]) - 1


def _table(datadir: Path) -> Any:
    app = faust.App(
        "table-store-test", broker="kafka://127.0.0.1:1", store="rocksdb://",
        datadir=str(datadir), autodiscover=False,
    )  # fmt: skip
    return app.Table(
        "state", key_type=bytes, value_type=bytes, partitions=2,
        options=table_options("rocksdb://"),
    )  # fmt: skip


async def test_the_local_copy_is_written_once_delivered(tmp_path: Path) -> None:
    table = _table(tmp_path)
    store = TableStore(table, persistent=True)
    store.write([("tickets:1|k|a", orjson.dumps(1)), ("tickets:1|k|b", orjson.dumps(2))])
    batches = DeliveredBatches(start=100)
    persist = await store.flush(batches)  # type: ignore[arg-type]
    assert persist is not None
    # Journal record, two writes, end record: on their way, not in the local copy yet.
    assert len(batches.added[1]) == 4
    changelog = TP(table.changelog_topic.get_topic_name(), 1)
    assert table.data.get(b"tickets:1|k|a") is None
    assert table.data.persisted_offset(changelog) is None

    persist(batches)  # type: ignore[arg-type]
    assert table.data.get(b"tickets:1|k|a") == orjson.dumps(1)
    assert table.data.persisted_offset(changelog) == 103
    # The batch whole: a restart finds no interrupted batch in it.
    assert table.data.get(b"journal-end|1") is not None


async def test_the_memory_store_is_written_at_once(tmp_path: Path) -> None:
    app = faust.App("table-store-memory", broker="kafka://127.0.0.1:1", autodiscover=False)
    table = app.Table("state", key_type=bytes, value_type=bytes, partitions=2)
    store = TableStore(table)
    store.write([("tickets:0|k|a", orjson.dumps(1))])
    assert await store.flush(DeliveredBatches()) is None  # type: ignore[arg-type]
    assert table.data[b"tickets:0|k|a"] == orjson.dumps(1)


def test_each_app_keeps_its_tables_in_a_folder_of_its_own(tmp_path: Path) -> None:
    # A copy of another app's table (another changelog) must never be taken for this one's.
    paths = [
        create_app(Settings(data_dir=tmp_path, app_id=app_id)).table.data.partition_path(0)
        for app_id in ("kpi-one", "kpi-two")
    ]
    assert paths[0] != paths[1]
    assert paths[0].is_relative_to(tmp_path / "faust" / "kpi-one")
