"""Everything the core needs to know about its configuration, built once."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.core.kpis import KpiConfig, KpiDefinition, catalogue, listeners
from pipeline.core.observations import ObsKind
from pipeline.core.scopes import validate_breakdowns
from pipeline.core.windows import PaneGrid, WindowSpec

__all__ = ["CoreContext"]


@dataclass(frozen=True)
class CoreContext:
    windows: tuple[WindowSpec, ...]
    allowed_lateness: float = 600.0
    release_tick: float = 60.0
    breakdowns: tuple[str, ...] = ("all", "service")
    kpi_config: KpiConfig = field(default_factory=KpiConfig)

    def __post_init__(self) -> None:
        validate_breakdowns(self.breakdowns)
        if self.allowed_lateness < 0:
            raise ValueError("allowed lateness must be >= 0")
        pane = self.grid.pane
        if self.release_tick <= 0 or pane % self.release_tick:
            raise ValueError(
                f"release tick {self.release_tick}s must divide the pane length {pane}s"
            )

    @property
    def grid(self) -> PaneGrid:
        return PaneGrid(self.windows)

    @property
    def kpis(self) -> tuple[KpiDefinition, ...]:
        return catalogue(self.kpi_config)

    @property
    def kpis_by_observation(self) -> dict[ObsKind, tuple[KpiDefinition, ...]]:
        return listeners(self.kpis)
