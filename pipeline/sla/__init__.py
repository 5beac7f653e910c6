"""SLA policy files (``version: sla/v1``): limits, pausing statuses, business-hours calendars."""

from pipeline.sla.load import VERSION, SlaPolicyError, load_sla_policy, parse_sla_policy

__all__ = ["VERSION", "SlaPolicyError", "load_sla_policy", "parse_sla_policy"]
