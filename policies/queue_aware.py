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

Task variants: as ``optimal`` (``variant="best"``: the best feasible variant x
placement with the queue term added to every variant's edge subtasks).
"""

from __future__ import annotations

import numpy as np

from simoffload.model.cost import LATENCY, Objective, coefficients
from simoffload.model.solvers import mincut_graph_size, solve, solve_variants
from simoffload.model.task import Instances, TaskGraph
from simoffload.model.variants import allowed_variants, variant_ops
from simoffload.policy import Decision, Observation, Policy


class QueueAwarePolicy(Policy):
    """Exact optimum of the observed objective with the expected edge queueing delay added to edge subtasks.

    Args:
        job_s: fixed estimate of the mean edge job time (s); None: mean(cycles) / p2 of the task decided.
        weight: multiplier of the expected wait (1 = as estimated).
        variant: with task variants, ``"best"``, ``"most-accurate"`` or an index (as ``optimal``).
    """

    name = "queue-aware"
    param_spec = {"job_s": {"gt": 0}, "weight": {"ge": 0}}

    def __init__(self, job_s: float | None = None, weight: float = 1.0, variant: str | int = "best") -> None:
        self.job_s = job_s
        self.weight = weight
        self.variant = variant

    def expected_wait_s(self, obs: Observation) -> float:
        """Expected time (s) an edge job submitted now waits for a core."""
        if obs.edge_queue <= 0:
            return 0.0
        job = float(self.job_s) if self.job_s is not None else float(np.mean(obs.cycles)) / obs.p2_hz
        return self.weight * obs.edge_queue / max(obs.edge_cores, 1) * job

    def decide(self, obs: Observation) -> np.ndarray | Decision:
        inst = obs.instances()
        wait = self.expected_wait_s(obs)
        if len(obs.variants) > 1:
            extra = np.array([[0.0, wait * obs.objective.latency_weight, 0.0]])
            v, P, _ = solve_variants(inst, obs.objective, allowed_variants(self.variant, inst), extra)
            return Decision(int(v[0]), P[0])
        coef = coefficients(inst, obs.objective)
        if wait > 0:
            coef.unary[:, :, 1] += wait * obs.objective.latency_weight
        return solve(coef, inst.graph, inst.data)[0][0]

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray | Decision:
        """Offline snapshots carry no queue: the plain optimum."""
        if inst.n_variants > 1:
            v, P, _ = solve_variants(inst, objective, allowed_variants(self.variant, inst))
            return Decision(v, P)
        return solve(coefficients(inst, objective), inst.graph, inst.data)[0]

    def decision_ops(self, graph: TaskGraph, n_variants: int = 1) -> float:
        """As ``optimal`` plus n additions for the queue term (per variant considered)."""
        if graph.is_chain:
            per = float(3 * graph.n + 9 * (graph.n - 1) + 6 + graph.n)
        else:
            V, E = mincut_graph_size(graph)
            per = float(V * E + graph.n)
        return variant_ops(self.variant, per, n_variants)
