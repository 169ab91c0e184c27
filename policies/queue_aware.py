"""A queue-aware variant of the optimum: the snapshot objective plus the expected edge queueing delay.

Snapshot-optimal decisions (:class:`policies.optimal.OptimalPolicy`) assume an
idle edge server. Under load every edge subtask waits in the edge CPU's FIFO
queue first, so :class:`QueueAwarePolicy` charges each subtask placed on the
edge an expected wait

    W = edge_queue / edge_cores * job_s                                  (s)

where ``edge_queue`` is the number of jobs waiting at decision time and
``job_s`` estimates the mean edge job time: by default the mean of this task's
subtask cycles divided by one edge core's speed (the jobs in the queue are
subtasks of tasks drawn from the same distribution), or a fixed value given as
a parameter. W enters the objective with its latency weight, and the exact
chain DP / DAG min cut of :func:`simoffload.model.solvers.solve` finds the placement.
With an empty queue the policy decides exactly like ``optimal``.
"""

from __future__ import annotations

import numpy as np

from simoffload.model.cost import LATENCY, Objective, coefficients
from simoffload.model.solvers import mincut_graph_size, solve
from simoffload.model.task import Instances, TaskGraph
from simoffload.policy import Observation, Policy


class QueueAwarePolicy(Policy):
    """Exact optimum of the observed objective with the expected edge queueing delay added to edge subtasks.

    Args:
        job_s: fixed estimate of the mean edge job time (s); None: mean(cycles) / p2 of the task decided.
        weight: multiplier of the expected wait (1 = as estimated).
    """

    name = "queue-aware"

    def __init__(self, job_s: float | None = None, weight: float = 1.0) -> None:
        self.job_s = job_s
        self.weight = weight

    def expected_wait_s(self, obs: Observation) -> float:
        """Expected time (s) an edge job submitted now waits for a core."""
        if obs.edge_queue <= 0:
            return 0.0
        job = float(self.job_s) if self.job_s is not None else float(np.mean(obs.cycles)) / obs.p2_hz
        return self.weight * obs.edge_queue / max(obs.edge_cores, 1) * job

    def decide(self, obs: Observation) -> np.ndarray:
        inst = obs.instances()
        coef = coefficients(inst, obs.objective)
        wait = self.expected_wait_s(obs)
        if wait > 0:
            coef.unary[:, :, 1] += wait * obs.objective.latency_weight
        return solve(coef, inst.graph, inst.data)[0][0]

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray:
        """Offline snapshots carry no queue: the plain optimum."""
        return solve(coefficients(inst, objective), inst.graph, inst.data)[0]

    def decision_ops(self, graph: TaskGraph) -> float:
        """As ``optimal`` plus n additions for the queue term."""
        if graph.is_chain:
            return float(3 * graph.n + 9 * (graph.n - 1) + 6 + graph.n)
        V, E = mincut_graph_size(graph)
        return float(V * E + graph.n)
