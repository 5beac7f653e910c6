"""Durations written as ``90s``, ``5m``, ``1h``, ``24h``, ``7d`` (or plain seconds)."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``; raises ValueError naming the text when it is not a duration."""
    if isinstance(text, int | float):
        return float(text)
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration (examples: 30s, 5m, 1h, 24h, 7d)")
    number, unit = match.groups()
    return float(number) * _UNITS[unit or "s"]


def format_duration(seconds: float) -> str:
    """The shortest exact form: 300 -> '5m', 86400 -> '1d', 90 -> '90s'."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds}s"
