"""Static baselines: all-local, all-edge, all-cloud and uniformly random placements."""

from __future__ import annotations

import numpy as np

from simoffload.model.cost import LATENCY, Objective
from simoffload.model.task import CLOUD, DEVICE, EDGE, Instances, TaskGraph
from simoffload.policy import Observation, Policy


class _Constant(Policy):
    place: int = DEVICE

    def __init__(self) -> None:
        pass

    def decide(self, obs: Observation) -> np.ndarray:
        return np.full(obs.graph.n, self.place, dtype=np.int64)

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray:
        return np.full((len(inst), inst.graph.n), self.place, dtype=np.int64)

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

    def decide(self, obs: Observation) -> np.ndarray:
        return self.rng_.integers(0, 3, obs.graph.n)

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray:
        return self.rng_.integers(0, 3, (len(inst), inst.graph.n))

    def decision_ops(self, graph: TaskGraph) -> float:
        return float(graph.n)
