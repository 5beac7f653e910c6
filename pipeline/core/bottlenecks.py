"""Where resolution time goes: the parts of a ticket's life that ops talk about, and which
status contributes most to the gap of a resolution-time or SLA target.

The attribution (docs/kpis.md, "Which status contributes most to a missed target"): for a scope
that missed a target on one of ``ATTRIBUTED_KPIS``, each status's **time per resolved ticket**
is the time of its visits that ended in the scope (``time_in_status_<status>`` mean x sample
size) divided by the tickets the scope resolved, over the same windows. The largest
contributor is the status whose time per resolved ticket exceeds the whole desk's (the
organisation-wide scope) by the most: what makes this scope slower than the others. For an
organisation-wide target there is nothing to compare with, and it is the status with the
largest time per resolved ticket. A status's share is its part of the scope's status time per
resolved ticket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NamedTuple

__all__ = ["ATTRIBUTED_KPIS", "PARTS", "Contributor", "largest_contributor"]

# The targets a status can explain: the time to resolve (elapsed or on the SLA clock) and the
# share resolved within the SLA. First response is over before most statuses begin.
ATTRIBUTED_KPIS: Final = ("resolution_time", "sla_resolution_time", "sla_compliance")

# Status -> the part of resolution time it belongs to, in the order a ticket lives them.
PARTS: Final = {
    "new": "desk queue",
    "queued": "desk queue",
    "in_progress": "in progress",
    "awaiting_customer": "awaiting customer",
    "awaiting_vendor": "awaiting vendor",
    "awaiting_other": "other",
}


class Contributor(NamedTuple):
    status: str
    per_ticket: float  # seconds per resolved ticket in the scope
    share: float  # of the scope's status time per resolved ticket, 0..1
    excess: float | None  # seconds per resolved ticket beyond the desk's; None: org-wide scope


def largest_contributor(
    scope: Mapping[str, float], desk: Mapping[str, float] | None
) -> Contributor | None:
    """``scope``/``desk``: status -> seconds per resolved ticket. ``desk`` None: the scope is
    the organisation itself. None when the scope has no status time, or (against the desk)
    no status in which it spends more than the desk."""
    total = sum(scope.values())
    if total <= 0:
        return None
    if desk is None:
        status = max(scope, key=lambda s: (scope[s], s))
        return Contributor(status, scope[status], scope[status] / total, None)
    excess = {s: t - desk.get(s, 0.0) for s, t in scope.items()}
    status = max(excess, key=lambda s: (excess[s], s))
    if excess[status] <= 0:
        return None
    return Contributor(status, scope[status], scope[status] / total, excess[status])
