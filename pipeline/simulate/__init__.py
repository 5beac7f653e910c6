"""The traffic simulator: realistic service-desk events (and deliberate bad input) for Kafka.

``model`` is framework-free and deterministic; ``producer`` sends its records to Kafka;
``cli`` is the ``kpi-pipeline simulate`` command.
"""

from pipeline.simulate.model import (
    CHANNEL_SHARES,
    DEFAULT_SERVICES,
    PRIORITY_SHARES,
    SLA_SECONDS,
    Regression,
    SimConfig,
    SimImprovement,
    SimRecord,
    format_ts,
    generate,
    parse_time,
    teams_for,
)
from pipeline.simulate.producer import (
    ProducerOptions,
    ProduceStats,
    client_options,
    produce,
    produce_simulation,
)

__all__ = [
    "CHANNEL_SHARES",
    "DEFAULT_SERVICES",
    "PRIORITY_SHARES",
    "SLA_SECONDS",
    "ProduceStats",
    "ProducerOptions",
    "Regression",
    "SimConfig",
    "SimImprovement",
    "SimRecord",
    "client_options",
    "format_ts",
    "generate",
    "parse_time",
    "produce",
    "produce_simulation",
    "teams_for",
]
