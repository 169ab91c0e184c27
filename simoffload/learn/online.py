"""What the online learners and the ``OffloadSim-v0`` environment share: action sets, features, rewards.

Online agents (``policies/online_q.py``, ``policies/online_dqn.py``) learn
from :class:`~simoffload.policy.Outcome` reports during a run; the Gymnasium
environment over the simulator (:mod:`simoffload.learn.sim_env`) hands the
same observation to an external agent. Both need:

* a **reduced action set** for chains. All 3^n placements (729 for the
  paper's 6-subtask chain) are too many arms to explore online. We use the
  *monotone* placements: the first i subtasks on the device, the next j - i on
  the edge, the rest in the cloud (0 <= i <= j <= n), i.e. every split point of
  the chain along the line device - edge - cloud: (n + 1)(n + 2) / 2 actions
  (28 for n = 6), including the three whole-task placements 2202.10541's agent
  chooses between. Data then leaves the device at most once and comes back
  once, which is where the optimum lies whenever the intermediate data shrinks
  along the chain; a placement that goes back and forth is left out (the
  exact ``optimal`` policy is the yardstick for what that costs).
  ``"whole"`` gives only the three whole-task placements, ``"all"`` every 3^n.
  With task variants (when the observation carries them) an action is a
  (variant, placement) pair, variant-major: ``a = variant * K + placement``.
* **features** of an observation as a fixed-length float vector;
* a **reward** from an outcome: ``-log(cost / cost_local)``, where cost is the
  realised objective (latency, or the weighted latency/energy sum) and
  cost_local the all-local objective the device can compute from its own
  numbers (cycles / p1; no network estimate). The log of a ratio is
  scale-free across task sizes, so one table or network serves small and
  large tasks. A task that did not complete (dropped, failed, unfinished at
  the horizon) is charged the time it spent in the system, a lower bound on
  its latency. Accuracy (tasks with variants) enters as the scenario's
  objective says: in ``penalty`` mode the realised cost includes
  ``accuracy_weight x shortfall``; in ``constrain`` mode (a variant below the
  requirement is infeasible) the agent loses ``accuracy_penalty`` reward
  units per percentage point short, so it learns to avoid such variants.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..model.cost import coefficients_one
from ..policy import Observation, Outcome

ACTION_SETS = ("monotone", "whole", "all")


def monotone_placements(n: int) -> np.ndarray:
    """(K, n) placements: device prefix, edge middle, cloud suffix; K = (n+1)(n+2)/2, all-local first."""
    rows = []
    for i in range(n, -1, -1):  # i subtasks on the device
        for j in range(i, n + 1):  # subtasks i..j-1 on the edge, j..n-1 in the cloud
            rows.append([0] * i + [1] * (j - i) + [2] * (n - j))
    return np.array(rows, dtype=np.int64).reshape(-1, n)


def action_placements(kind: str, n: int) -> np.ndarray:
    """The placements an agent chooses from: ``"monotone"``, ``"whole"`` or ``"all"`` (3^n)."""
    if kind == "monotone":
        return monotone_placements(n)
    if kind == "whole":
        return np.array([[0] * n, [1] * n, [2] * n], dtype=np.int64)
    if kind == "all":
        if n > 10:
            raise ValueError(f"actions='all' gives 3^{n} actions; use 'monotone' for n > 10")
        from ..model.solvers import all_placements

        return all_placements(n)
    raise ValueError(f"actions must be one of {ACTION_SETS}, got {kind!r}")


def n_variants(obs: Observation) -> int:
    """Number of variants the observed task offers (1 for a task without variants)."""
    v = getattr(obs, "variants", None)
    return 1 if v is None else len(v)


def variant_accuracy(obs: Observation, k: int) -> float:
    """Accuracy of variant ``k`` (nan without variants)."""
    v = getattr(obs, "variants", None)
    if v is None:
        return math.nan
    return float(v.accuracy[k])


def accuracy_requirement(obs: Observation | None) -> float:
    """The task's accuracy requirement (0: none)."""
    return float(getattr(obs, "accuracy_req", 0.0) or 0.0) if obs is not None else 0.0


def local_cost(obs: Observation) -> float:
    """The all-local objective of the observed task (needs only the device's own numbers)."""
    unary, _, _ = coefficients_one(obs.cycles, obs.p1_hz, obs.p2_hz, obs.b1_Bps, obs.b2_Bps,
                                   obs.b1_down_Bps, obs.b2_down_Bps, obs.p3_hz, obs.objective)
    return float(sum(u[0] for u in unary))


def accuracy_shortfall(outcome: Outcome) -> float:
    """How far the variant run fell below the task's requirement (a fraction; 0 if met or no variants)."""
    req = accuracy_requirement(outcome.obs)
    acc = outcome.accuracy
    if req > 0 and not math.isnan(acc) and acc < req:
        return req - acc
    return 0.0


def realised_cost(outcome: Outcome) -> float:
    """The objective the task realised: latency (or time in the system if it did not complete), energy,
    and in the objective's ``penalty`` accuracy mode the weighted accuracy shortfall."""
    obj = outcome.obs.objective
    lat = outcome.latency_s if outcome.done else outcome.known_s - outcome.arrival_s
    c = obj.latency_weight * lat + obj.energy_weight * outcome.energy_j
    if getattr(obj, "accuracy_mode", "constrain") == "penalty":
        c += getattr(obj, "accuracy_weight", 0.0) * accuracy_shortfall(outcome)
    return c


def constraint_violated(outcome: Outcome) -> float:
    """Accuracy shortfall that the ``constrain`` mode forbids (0 in ``penalty`` mode)."""
    if getattr(outcome.obs.objective, "accuracy_mode", "constrain") != "constrain":
        return 0.0
    return accuracy_shortfall(outcome)


def reward(outcome: Outcome, accuracy_penalty: float = 0.1) -> float:
    """``-log(cost / cost_local)``, minus ``accuracy_penalty`` per point below a constrained requirement."""
    c = max(realised_cost(outcome), 1e-9)
    c0 = max(local_cost(outcome.obs), 1e-9)
    return -math.log(c / c0) - accuracy_penalty * 100.0 * constraint_violated(outcome)


def _log(x: float | None, scale: float) -> float:
    if x is None:
        return 0.0
    return math.log10(max(float(x), 1e-3) / scale)


def n_state_features(n: int, m: int, max_variants: int = 1) -> int:
    """Length of :func:`state_features` for a task of n subtasks and m data edges."""
    return 10 + n + m + (3 * max_variants if max_variants > 1 else 0)


def state_features(obs: Observation, max_variants: int = 1) -> np.ndarray:
    """(10 + n + m [+ 3 x max_variants],) float32 features of an observation, roughly within [-5, 5].

    log10 of the estimated bandwidths (in MB/s: b1, b2, b1_down, b2_down) and
    of the CPU speeds (in GHz: p1, p2), the edge queue and busy cores per core,
    the number of active devices / 10, the accuracy requirement, then log10 of
    each subtask's cycles (in Gcycles) and of each data edge's bytes (in MB)
    of variant 0. With ``max_variants`` > 1, per variant slot: its accuracy,
    log10 of its total cycles (Gcycles) and of its input bytes (MB); zeros
    for slots beyond the task's variants.
    """
    f = [
        _log(obs.b1_Bps, 1e6), _log(obs.b2_Bps, 1e6),
        _log(obs.b1_down_Bps if obs.b1_down_Bps is not None else obs.b1_Bps, 1e6),
        _log(obs.b2_down_Bps if obs.b2_down_Bps is not None else obs.b2_Bps, 1e6),
        _log(obs.p1_hz, 1e9), _log(obs.p2_hz, 1e9),
        obs.edge_queue / max(obs.edge_cores, 1), obs.edge_busy / max(obs.edge_cores, 1),
        obs.active_devices / 10.0, accuracy_requirement(obs),
    ]
    f += [_log(c, 1e9) for c in obs.cycles.tolist()]
    f += [_log(d, 1e6) for d in obs.data.tolist()]
    if max_variants > 1:
        v = getattr(obs, "variants", None)
        for k in range(max_variants):
            if v is not None and k < len(v):
                f += [float(v.accuracy[k]), _log(float(v.cycles[k].sum()), 1e9), _log(float(v.data[k][0]), 1e6)]
            elif v is None and k == 0:
                f += [1.0, _log(float(obs.cycles.sum()), 1e9), _log(float(obs.data[0]), 1e6)]
            else:
                f += [0.0, 0.0, 0.0]
    return np.clip(np.array(f, dtype=np.float32), -10.0, 10.0)


def decision_for(obs: Observation, action: int, placements: np.ndarray) -> Any:
    """The engine's answer for ``action``: a placement, or a ``Decision`` when the task has variants."""
    K = len(placements)
    variant, p = divmod(int(action), K)
    place = placements[p].copy()
    if n_variants(obs) == 1:
        return place
    from ..policy import Decision  # type: ignore[attr-defined]

    return Decision(variant=variant, placement=place)


def action_of(outcome: Outcome, placements: np.ndarray) -> int | None:
    """The action index of the decision an outcome reports (``None`` if it is not in the action set)."""
    if outcome.placement is None:
        return None
    hit = np.flatnonzero((placements == outcome.placement[None, :]).all(axis=1))
    if not len(hit):
        return None
    return int(outcome.variant) * len(placements) + int(hit[0])
