"""A wrapper that lets a policy decide tasks of another size as it decides the tasks it knows.

Every cost in the model is linear in the task's cycles and bytes, so scaling all
of them by ``size_scale`` scales every placement's latency by the same factor and
leaves the optimal placement unchanged. :class:`SizeScaled` divides the observed
cycles and bytes by ``size_scale`` before asking the inner policy, so a learned
policy trained on the paper's task sizes makes, on tasks ``size_scale`` times
that size, exactly the decisions it makes at the paper's sizes: its placement
quality relative to the optimum is the same at every scale, and what changes
with the scale is only how large its decision time is next to the task. The
decision-time study (``analysis/study_decision_time.py``) uses it to vary that
ratio without moving learned policies out of their training distribution.

Named in a scenario as ``policies.scaled:SizeScaled`` (not a registered name)::

    {name: "policies.scaled:SizeScaled", label: kd-dil, params: {policy: kd-dil, size_scale: 0.001}}

Its declared decision cost is the inner policy's. Measured decision time
includes the rescaling (a copy of the observation, about a microsecond).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from simoffload.model.cost import LATENCY, Objective
from simoffload.model.task import Instances, TaskGraph
from simoffload.policy import Observation, Policy
from simoffload.registry import make_policy


class SizeScaled(Policy):
    """Decide tasks ``size_scale`` times the size the inner policy knows, by rescaling what it observes.

    Args:
        policy: the inner policy's registered name or ``package.module:Class``.
        params: the inner policy's constructor parameters.
        size_scale: task size relative to the inner policy's (cycles and bytes), > 0.
    """

    name = "size-scaled"

    def __init__(self, policy: str = "optimal", params: dict | None = None, size_scale: float = 1.0):
        self.policy = policy
        self.params = params
        self.size_scale = size_scale

    def _inner(self) -> Policy:
        if getattr(self, "inner_", None) is None:
            if not float(self.size_scale) > 0:
                raise ValueError(f"size_scale must be > 0, got {self.size_scale!r}")
            self.inner_ = make_policy(self.policy, **(self.params or {}))
        return self.inner_

    @property
    def stochastic(self) -> bool:  # type: ignore[override]
        return bool(getattr(self._inner(), "stochastic", False))

    def prepare(self, graph: TaskGraph) -> None:
        self._inner().prepare(graph)

    def reset(self, rng: np.random.Generator) -> None:
        self.rng_ = rng
        self._inner().reset(rng)

    def decide(self, obs: Observation) -> np.ndarray:
        s = float(self.size_scale)
        inner = self._inner()
        if s == 1.0:
            return inner.decide(obs)
        o = copy.copy(obs)
        o.cycles = obs.cycles / s
        o.data = obs.data / s
        return inner.decide(o)

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray:
        s = float(self.size_scale)
        scaled = copy.copy(inst)
        scaled.cycles = inst.cycles / s
        scaled.data = inst.data / s
        return self._inner().decide_batch(scaled, objective)

    def decision_ops(self, graph: TaskGraph) -> float:
        return float(self._inner().decision_ops(graph))

    def get_params(self) -> dict[str, Any]:
        return {"policy": self.policy, "params": self.params, "size_scale": self.size_scale}
