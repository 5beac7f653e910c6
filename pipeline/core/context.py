"""Everything the core needs to know about its configuration, built once."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from pipeline.core.kpis import KpiConfig, KpiDefinition, catalogue
from pipeline.core.scopes import validate_breakdowns
from pipeline.core.sla import SlaPolicy
from pipeline.core.windows import PaneGrid, WindowSpec

if TYPE_CHECKING:
    from pipeline.engine.layout import Layout

__all__ = ["CoreContext"]


@dataclass(frozen=True)
class CoreContext:
    windows: tuple[WindowSpec, ...]
    allowed_lateness: float = 600.0
    # How far the watermark moves between releases; None = one pane. Windows end on pane
    # boundaries, so a pane-long tick closes them no later, and writes each pane once per tick.
    release_tick: float | None = None
    breakdowns: tuple[str, ...] = ("all", "service")
    kpi_config: KpiConfig = field(default_factory=KpiConfig)
    # How long (event time, after release) the ids of a finished key (a closed ticket, a
    # survey) are kept, so that a redelivered or re-imported copy is recognised as a duplicate
    # rather than reported late. Either way it is never counted twice.
    dedup_horizon: float = 6 * 3600.0

    def __post_init__(self) -> None:
        validate_breakdowns(self.breakdowns)
        if self.allowed_lateness < 0:
            raise ValueError("allowed lateness must be >= 0")
        if self.dedup_horizon < 0:
            raise ValueError("the de-duplication horizon must be >= 0")
        pane = self.grid.pane
        if self.release_tick is not None and (self.release_tick <= 0 or pane % self.release_tick):
            raise ValueError(
                f"release tick {self.release_tick}s must divide the pane length {pane}s"
            )

    @property
    def tick(self) -> float:
        return self.release_tick if self.release_tick is not None else float(self.grid.pane)

    @cached_property
    def grid(self) -> PaneGrid:
        return PaneGrid(self.windows)

    @cached_property
    def kpis(self) -> tuple[KpiDefinition, ...]:
        return catalogue(self.kpi_config)

    @cached_property
    def sla_policy(self) -> SlaPolicy:
        return self.kpi_config.policy()

    @cached_property
    def layout(self) -> Layout:
        """Accumulator columns, sketch slots and statistics of the catalogue (see
        pipeline.engine.layout); imported here, not at the top, as the engine imports this."""
        from pipeline.engine.layout import Layout

        return Layout.of(self.kpis)
