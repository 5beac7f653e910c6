"""Which status contributes most to a missed target (pipeline/core/bottlenecks.py)."""

from __future__ import annotations

import pytest

from pipeline.core.bottlenecks import PARTS, Contributor, largest_contributor
from pipeline.core.observations import STATUS_VISITS

HOUR = 3600.0


def test_against_the_desk_the_status_with_the_largest_excess_wins() -> None:
    # network: 20 h in progress, 8 h awaiting a vendor, 2 h awaiting the customer per ticket;
    # the desk: 19 h, 1 h, 3 h. In progress is the largest time, but the vendor wait is what
    # network has beyond the desk: 7 h against 1 h.
    network = {"in_progress": 20 * HOUR, "awaiting_vendor": 8 * HOUR, "awaiting_customer": 2 * HOUR}
    desk = {"in_progress": 19 * HOUR, "awaiting_vendor": 1 * HOUR, "awaiting_customer": 3 * HOUR}
    top = largest_contributor(network, desk)
    assert top == Contributor("awaiting_vendor", 8 * HOUR, pytest.approx(8 / 30), 7 * HOUR)


def test_an_organisation_wide_scope_names_its_largest_status() -> None:
    desk = {"in_progress": 19 * HOUR, "awaiting_vendor": 1 * HOUR, "queued": 5 * HOUR}
    assert largest_contributor(desk, None) == Contributor("in_progress", 19 * HOUR, 0.76, None)


def test_a_status_the_desk_never_visits_counts_in_full_and_nothing_wins_below_the_desk() -> None:
    top = largest_contributor({"awaiting_other": 2 * HOUR}, {"in_progress": 9 * HOUR})
    assert top == Contributor("awaiting_other", 2 * HOUR, 1.0, 2 * HOUR)
    faster = {"in_progress": 5 * HOUR, "queued": 1 * HOUR}
    assert largest_contributor(faster, {"in_progress": 6 * HOUR, "queued": 2 * HOUR}) is None
    assert largest_contributor({}, None) is None


def test_every_status_of_the_vocabulary_belongs_to_a_part() -> None:
    assert set(PARTS) == set(STATUS_VISITS)
    assert sorted(set(PARTS.values())) == [
        "awaiting customer",
        "awaiting vendor",
        "desk queue",
        "in progress",
        "other",
    ]
