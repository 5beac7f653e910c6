"""Prometheus and Alertmanager on this machine (the Debian packages' binaries), for the demo
and the tests: the shipped configuration of ``deploy/``, pointed at local workers, on
127.0.0.1 ports, with their data in a folder of the caller's choice."""

from pipeline.monitoring.alertmanager import Alertmanager, running_alertmanager
from pipeline.monitoring.processes import MonitoringError, stop_process, wait_until
from pipeline.monitoring.prometheus import (
    Prometheus,
    QueryError,
    prometheus_config,
    running_prometheus,
)

__all__ = [
    "Alertmanager",
    "MonitoringError",
    "Prometheus",
    "QueryError",
    "prometheus_config",
    "running_alertmanager",
    "running_prometheus",
    "stop_process",
    "wait_until",
]
