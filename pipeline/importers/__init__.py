"""Importers: exports of real ITSM tools as contract events on the input topics."""

from pipeline.importers.servicenow import (
    REQUIRED_COLUMNS,
    ImportedEvent,
    ImportFileError,
    MappingResult,
    MapProgress,
    Skipped,
    map_file,
    map_rows,
    parse_timestamp,
)

__all__ = [
    "REQUIRED_COLUMNS",
    "ImportFileError",
    "ImportedEvent",
    "MapProgress",
    "MappingResult",
    "Skipped",
    "map_file",
    "map_rows",
    "parse_timestamp",
]
