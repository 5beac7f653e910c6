"""The improvement loop (continual service improvement, steps 5-7): a versioned register of
changes (``version: improvements/v1``) and their before/after evaluation from closed KPI
windows, with an effect, a confidence interval and a verdict per KPI and overall."""

from pipeline.improvements.evaluate import (
    OVERALL_TEXT,
    RATE_KPIS,
    Evaluation,
    KpiVerdict,
    Overall,
    Verdict,
    WindowValue,
    evaluate,
    evaluate_register,
    window_series,
)
from pipeline.improvements.load import (
    DEFAULT_GUARDS,
    ImprovementsError,
    ImprovementWarning,
    load_register,
    parse_register,
)
from pipeline.improvements.model import Direction, Improvement, KpiCheck, Register, Role
from pipeline.improvements.spec import VERSION, improvements_json_schema

__all__ = [
    "DEFAULT_GUARDS",
    "OVERALL_TEXT",
    "RATE_KPIS",
    "VERSION",
    "Direction",
    "Evaluation",
    "Improvement",
    "ImprovementWarning",
    "ImprovementsError",
    "KpiCheck",
    "KpiVerdict",
    "Overall",
    "Register",
    "Role",
    "Verdict",
    "WindowValue",
    "evaluate",
    "evaluate_register",
    "improvements_json_schema",
    "load_register",
    "parse_register",
    "window_series",
]
