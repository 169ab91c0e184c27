"""The one definition of a deadline miss, shared by the engine's per-site counts, the summary (in memory or
streamed), the per-application printout and the studies.

A task **misses its deadline** when it finished after it (status ``missed``), was abandoned at it
(``dropped``), or is still ``unfinished`` at the horizon although its deadline had already passed
(arrival + deadline < horizon): it can no longer make it, and leaving it out would make a policy that
leaves work undone look better. An unfinished task whose deadline lies at or after the horizon is
undecided (not a miss); a ``failed`` task (lost, e.g. on a handover) is a failure, not a miss. Rates
divide by all tasks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: statuses counted as deadline misses whatever the horizon
LATE_STATUSES = ("missed", "dropped")


def is_deadline_miss(status: str, arrival_s: float, deadline_s: float, horizon_s: float | None) -> bool:
    """Whether one task missed its deadline (see the module docstring); ``horizon_s`` None: no unfinished task is."""
    if status in LATE_STATUSES:
        return True
    return status == "unfinished" and horizon_s is not None and arrival_s + deadline_s < horizon_s


def deadline_miss(status: Any, arrival_s: Any, deadline_s: Any, horizon_s: float | None) -> np.ndarray:
    """:func:`is_deadline_miss` over arrays (or pandas Series) of equal length: a boolean array."""
    st = np.asarray(status)
    late = np.isin(st, LATE_STATUSES)
    if horizon_s is None:
        return late
    unf = st == "unfinished"
    return late | (unf & ((np.asarray(arrival_s, dtype=float) + np.asarray(deadline_s, dtype=float)) < horizon_s))
