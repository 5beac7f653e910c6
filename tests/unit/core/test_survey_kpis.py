"""CSAT and NPS score boundaries, by hand."""

from __future__ import annotations

from pipeline.core.lifecycle import apply_survey
from tests.unit.core.factories import T0, survey
from tests.unit.core.test_lifecycle import kpi_values


def test_csat_counts_4_and_5_as_satisfied() -> None:
    obs = [apply_survey(survey("csat", s, T0)) for s in (1, 2, 3, 4, 5)]
    values = kpi_values(obs)
    assert values["csat"] == {"value": 0.4}
    assert values["csat_mean"] == {"value": 3.0}


def test_nps_promoters_9_10_detractors_0_6_passives_7_8() -> None:
    obs = [apply_survey(survey("nps", s, T0)) for s in (6, 7, 8, 9, 10)]
    # promoters 2, detractors 1, over 5 responses
    assert kpi_values(obs)["nps"] == {"value": 20.0}
    only_passives = [apply_survey(survey("nps", s, T0)) for s in (7, 8)]
    assert kpi_values(only_passives)["nps"] == {"value": 0.0}
