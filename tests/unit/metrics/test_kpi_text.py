"""The KPI series of /metrics written directly: the same text as ``generate_latest`` makes of
``WindowCollector``'s families, byte for byte, on a simulated desk and on awkward scopes."""

from __future__ import annotations

import math
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString

from pipeline.core.scopes import Scope
from pipeline.engine.frames import WindowFrame
from pipeline.engine.runtime import Engine
from pipeline.kafka.partitioner import partition_for_key
from pipeline.metrics.collector import WindowCollector
from pipeline.metrics.kpi_text import go_float, render_windows
from pipeline.simulate import SimConfig, generate
from tests.unit.core.factories import context


def collected(latest: dict[str, WindowFrame]) -> bytes:
    closing: Any = SimpleNamespace(closer=SimpleNamespace(latest=latest))
    registry = CollectorRegistry()
    registry.register(WindowCollector(lambda: closing))
    return generate_latest(registry)


def test_a_simulated_desk_renders_as_the_collector_does() -> None:
    engine = Engine(context(), {"tickets": "tickets", "surveys": "surveys"})
    records = [
        (r.topic, partition_for_key(r.key, 4), r.key, r.value)
        for r in generate(SimConfig(seed=5, duration=timedelta(days=2), tickets_per_hour=20))
    ]
    engine.assign({(topic, partition) for topic, partition, _, _ in records})
    for offset, (topic, partition, key, value) in enumerate(records):
        engine.handle(topic, partition, offset, key, value)
    latest = engine.closer.latest
    assert sum(len(frame) for frame in latest.values()) > 20  # scopes of both windows
    text = render_windows(latest.items())
    assert text.count(b"\nkpi_value{") > 500
    assert text == collected(latest)


def test_labels_are_escaped_and_values_formatted_as_the_collector_does() -> None:
    engine = Engine(context(), {"tickets": "tickets", "surveys": "surveys"})
    layout = engine.ctx.layout
    scopes = (
        Scope("all"),
        Scope("service", service='say "hi"'),
        Scope("service_team", service="back\\slash", team="two\nlines"),
    )
    rng = np.random.default_rng(3)
    values = rng.uniform(-1e9, 1e9, (len(scopes), len(layout.stats)))
    values[0, :4] = [np.nan, 0.0, 12345678.9, 1e22]
    values[1, :3] = [np.nan, -0.5, 7.0]
    samples = rng.integers(0, 10**8, (len(scopes), len(layout.kpis)))
    frame = WindowFrame("1h", 0, 3600, scopes, values, samples, layout)
    empty = WindowFrame("24h", 0, 3600, (), values[:0], samples[:0], layout)
    latest = {"1h": frame, "24h": empty}
    text = render_windows(latest.items())
    assert b'service="say \\"hi\\""' in text and b'team="two\\nlines"' in text
    assert text == collected(latest)
    assert render_windows([]) == collected({})


@pytest.mark.parametrize(
    "value",
    [0.0, -0.0, 1.0, -2.5, 0.1, 1e-7, 999999.0, 1234567.0, 12345678.9, 1e7, 1e22, -1e22,
     5e-324, 1.7976931348623157e308, math.inf, -math.inf, math.nan],
)  # fmt: skip
def test_values_are_written_as_go_writes_them(value: float) -> None:
    assert go_float(value) == floatToGoString(value)
