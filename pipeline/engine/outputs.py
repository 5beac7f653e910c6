"""What the engine takes in and hands out, per batch."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.alerts.model import AlertEvent
from pipeline.engine.frames import WindowFrame
from pipeline.engine.progress import NEVER

__all__ = ["OUTPUTS", "TP", "DlqRecord", "Outputs", "Record", "Source"]

Source = str  # "tickets" or "surveys": the logical input, independent of topic names
TP = tuple[Source, int]
# source, partition, offset, key, value: one input record (no value: a tombstone)
Record = tuple[Source, int, int, bytes | None, bytes | None]
# The outputs records are produced to: kpi-windows, kpi-alerts and the dead-letter topic.
OUTPUTS = ("windows", "alerts", "dlq")


@dataclass(frozen=True, slots=True)
class DlqRecord:
    """A rejected record: its original bytes (or, for rejections found when the event was
    released in event-time order, the decoded event as JSON) and where it came from."""

    key: bytes | None
    value: bytes
    reason: str
    detail: str
    topic: str
    partition: int
    offset: int

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("dlq.reason", self.reason.encode()),
            ("dlq.detail", self.detail.encode()[:1000]),
            ("dlq.topic", self.topic.encode()),
            ("dlq.partition", str(self.partition).encode()),
            ("dlq.offset", str(self.offset).encode()),
        ]


@dataclass(slots=True)
class Outputs:
    dlq: list[DlqRecord] = field(default_factory=list)
    windows: list[WindowFrame] = field(default_factory=list)
    alerts: list[AlertEvent] = field(default_factory=list)
    # Pane records (key, value) for the pane topic, when the engine hands its panes to a
    # closer in another process, and the release progress of each partition they bring the
    # closer up to.
    panes: list[tuple[bytes, bytes]] = field(default_factory=list)
    published: dict[TP, float] = field(default_factory=dict)
    # Every window ending at or before this is in ``windows`` or in an earlier Outputs: once
    # these windows and the earlier ones are acknowledged, the engine may be told so.
    closed_through: float = NEVER

    def extend(self, other: Outputs) -> None:
        self.dlq += other.dlq
        self.windows += other.windows
        self.alerts += other.alerts
        self.panes += other.panes
        self.published.update(other.published)
        self.closed_through = max(self.closed_through, other.closed_through)
