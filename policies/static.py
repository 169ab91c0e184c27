"""Static baselines: all-local, all-edge, all-cloud and uniformly random placements.

Task variants: the all-X policies pick a variant by a fixed rule
(:func:`simoffload.model.variants.pick_variant`, default ``"cheapest"``: the
fewest-cycles variant that meets the task's accuracy requirement - the
lightest model that is good enough, never slower on a fixed place when data
sizes shrink with cycles, as they do for a DNN family). The rule depends only
on the task's own sizes and requirement, which the device knows, so it is
declared free (no decision on the edge), as the placement is. ``random``
draws the variant uniformly too.
"""

from __future__ import annotations

import numpy as np

from simoffload.model.cost import LATENCY, Objective
from simoffload.model.task import CLOUD, DEVICE, EDGE, Instances, TaskGraph
from simoffload.model.variants import pick_variant, pick_variant_one
from simoffload.policy import Decision, Observation, Policy


class _Constant(Policy):
    """Every subtask on one place.

    Args:
        variant: with task variants, the rule choosing one (``"cheapest"``,
            ``"most-accurate"`` or an index; see :func:`~simoffload.model.variants.pick_variant`).
    """

    place: int = DEVICE

    def __init__(self, variant: str | int = "cheapest") -> None:
        self.variant = variant
        self._answer: dict[int, np.ndarray] = {}  # n -> the (read-only) placement, built once per size

    def decide(self, obs: Observation) -> np.ndarray | Decision:
        n = obs.graph.n
        P = self._answer.get(n)
        if P is None:
            P = np.full(n, self.place, dtype=np.int64)
            P.flags.writeable = False  # the same answer every time: nobody may change it
            self._answer[n] = P
        if len(obs.variants) > 1:
            return Decision(pick_variant_one(self.variant, obs.variants, obs.accuracy_req), P)
        return P

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray | Decision:
        P = np.full((len(inst), inst.graph.n), self.place, dtype=np.int64)
        if inst.n_variants > 1:
            return Decision(pick_variant(self.variant, inst.accuracy, inst.variant_cycles, inst.variant_data,
                                         inst.requirement), P)
        return P

    def decision_ops(self, graph: TaskGraph) -> float:
        return 0.0


class LocalPolicy(_Constant):
    """Every subtask on the device."""

    name = "local"
    place = DEVICE


class EdgePolicy(_Constant):
    """Every subtask on the edge server."""

    name = "edge"
    place = EDGE


class CloudPolicy(_Constant):
    """Every subtask in the cloud."""

    name = "cloud"
    place = CLOUD


class RandomPolicy(Policy):
    """Each subtask placed uniformly at random (its own random stream, see ``reset``)."""

    name = "random"
    stochastic = True

    def __init__(self) -> None:
        self.rng_ = np.random.default_rng(0)

    def decide(self, obs: Observation) -> np.ndarray | Decision:
        if len(obs.variants) > 1:
            k = int(self.rng_.integers(0, len(obs.variants)))
            return Decision(k, self.rng_.integers(0, 3, obs.graph.n))
        return self.rng_.integers(0, 3, obs.graph.n)

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray | Decision:
        if inst.n_variants > 1:
            k = self.rng_.integers(0, inst.n_variants, len(inst))
            return Decision(k, self.rng_.integers(0, 3, (len(inst), inst.graph.n)))
        return self.rng_.integers(0, 3, (len(inst), inst.graph.n))

    def decision_ops(self, graph: TaskGraph) -> float:
        return float(graph.n)
