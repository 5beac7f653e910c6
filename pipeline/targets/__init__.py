"""The targets file (``version: targets/v1``): KPI objectives and drift checks, read into the
alert model of ``pipeline.alerts.model`` with errors and warnings that name file, line and field.
"""

from pipeline.targets.load import (
    TargetIssue,
    TargetsError,
    TargetWarning,
    configured_windows,
    load_targets,
    parse_targets,
)
from pipeline.targets.spec import VERSION, TargetsDocument, targets_json_schema

__all__ = [
    "VERSION",
    "TargetIssue",
    "TargetWarning",
    "TargetsDocument",
    "TargetsError",
    "configured_windows",
    "load_targets",
    "parse_targets",
    "targets_json_schema",
]
