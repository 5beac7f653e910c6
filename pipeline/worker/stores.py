"""Where the worker keeps its tables (``KPI_STORE``) and how the store is opened.

``rocksdb://`` (the default): Faust's RocksDB store, through rocksdict. Each table partition is
a database under ``<KPI_DATA_DIR>/faust/<KPI_APP_ID>/v1/tables/`` holding the changelog's
records up to an offset it keeps, so a restart reads only the changelog written since.
``memory://`` keeps the tables in memory and reads their whole changelog at every start.

RocksDB's defaults are sized for one large database per machine (a block cache of 2 GiB and
write buffers of 64 MiB, per partition); a worker opens one per table partition, so they are
kept small here: the engine reads its state back only when it recovers, in one pass.
"""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["StoreUnavailable", "is_persistent", "table_options"]

_ROCKSDB = "rocksdb"
_KNOWN = ("memory", _ROCKSDB)

_ROCKSDB_OPTIONS = {
    "driver": "rocksdict",
    "block_cache_size": 8 * 1024**2,
    "write_buffer_size": 4 * 1024**2,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 1024**2,
    "max_open_files": 256,
}


class StoreUnavailable(RuntimeError):
    """The configured store cannot be used in this installation."""


def _scheme(url: str) -> str:
    return url.partition("://")[0]


def is_persistent(url: str) -> bool:
    return _scheme(url) == _ROCKSDB


def table_options(url: str) -> dict[str, Any] | None:
    """The ``options=`` of a table in this store (a fresh dict: Faust's store takes keys out
    of it); raises ``StoreUnavailable`` with what to change."""
    scheme = _scheme(url)
    if scheme not in _KNOWN:
        raise StoreUnavailable(
            f"KPI_STORE={url!r} is not a store the worker knows: use rocksdb:// or memory://"
        )
    if scheme != _ROCKSDB:
        return None
    if importlib.util.find_spec("rocksdict") is None:
        raise StoreUnavailable(
            f"KPI_STORE={url!r} needs the rocksdict package, which is not installed: install "
            "it (it is a dependency of the pipeline) or set KPI_STORE=memory:// to keep the "
            "tables in memory and read their whole changelog at every start"
        )
    return dict(_ROCKSDB_OPTIONS)
