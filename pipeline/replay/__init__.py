"""Replay (SPEC section 8): a time range of the input topics recomputed with the live worker's
runtime, into a report folder (tidy CSV, alert episodes, plots, summary) and optionally an
OpenMetrics file for backfilling Prometheus."""

from pipeline.replay.drive import ReplayCore
from pipeline.replay.episodes import Episode, EpisodeLog
from pipeline.replay.openmetrics import OpenMetricsWriter
from pipeline.replay.reader import PartitionRange, RangeRecord, plan_ranges, read_ranges
from pipeline.replay.report import KPI_COLUMNS, ReportWriter
from pipeline.replay.run import ReplayOptions, ReplayResult, run_replay
from pipeline.replay.summary import ReplayFacts

__all__ = [
    "KPI_COLUMNS",
    "Episode",
    "EpisodeLog",
    "OpenMetricsWriter",
    "PartitionRange",
    "RangeRecord",
    "ReplayCore",
    "ReplayFacts",
    "ReplayOptions",
    "ReplayResult",
    "ReportWriter",
    "plan_ranges",
    "read_ranges",
    "run_replay",
]
