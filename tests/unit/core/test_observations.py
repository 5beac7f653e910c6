"""The quick constructor of observations against the named tuple it stands for."""

from __future__ import annotations

import inspect

from pipeline.core.observations import Dims, Observation, ObsKind, observation


def test_observation_takes_the_named_tuples_fields_and_defaults() -> None:
    parameters = inspect.signature(observation).parameters
    assert tuple(parameters) == Observation._fields
    defaults = {n: p.default for n, p in parameters.items() if p.default is not p.empty}
    assert defaults == Observation._field_defaults
    assert [type(d) for d in defaults.values()] == [
        type(d) for d in Observation._field_defaults.values()
    ]


def test_observation_is_the_named_tuple() -> None:
    dims = Dims("email", "email-l1", "web", "P3")
    quick = observation(ObsKind.RESOLVED, 10.0, dims, 5.0, True, fcr=True, handoffs=2)
    slow = Observation(ObsKind.RESOLVED, 10.0, dims, 5.0, True, fcr=True, handoffs=2)
    assert type(quick) is Observation
    assert quick == slow and quick.handoffs == 2 and quick.cost is None
