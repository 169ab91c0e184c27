"""The paper's Greedy baseline (arXiv 2004.04366, Sec. 5.1).

Subtask by subtask in execution (topological) order, Greedy puts each
subtask at the place that minimises *that subtask's* cost: its execution
cost there plus the cost of bringing in its input data from where its
predecessors were already placed (the device input counts as placed on the
device). It does not look ahead: the transfer of the task's output back to
the device is never considered, nor the effect of a choice on later
subtasks. Ties go to the lower place index (device, then edge, then cloud).

For a chain this is exactly the paper's rule "the place that minimises the
subtask's execution time plus the transfer from the previous subtask's
place". With an energy or weighted objective the same rule is applied to the
objective's per-subtask costs.

Task variants: Greedy does not compare variants by their placements' cost;
it first picks one by a fixed rule (:func:`simoffload.model.variants.pick_variant`,
default ``"cheapest"``: the fewest-cycles variant meeting the accuracy
requirement, since a myopic latency heuristic should run the lightest model
that is good enough), then places that variant greedily.
"""

from __future__ import annotations

import numpy as np

from simoffload.model.cost import (
    LATENCY,
    Objective,
    coefficients,
    coefficients_one,
    edge_cost_matrices,
    hop_rows,
)
from simoffload.model.task import Instances, TaskGraph
from simoffload.model.variants import pick_variant, pick_variant_one
from simoffload.policy import Decision, Observation, Policy


def predecessor_lists(graph: TaskGraph) -> list[list[tuple[int, int]]]:
    """Per subtask, its incoming data edges as (edge index, source subtask or -1), in edge order.

    Cached on the graph object, since single decisions are timed and
    converting numpy indices each call would dominate them.
    """
    cached = graph.__dict__.get("_pred_lists")
    if cached is None:
        src = graph.src.tolist()
        cached = [[(k, src[k]) for k in graph.in_edges[v]] for v in range(graph.n)]
        graph.__dict__["_pred_lists"] = cached
    return cached


class GreedyPolicy(Policy):
    """Myopic subtask-by-subtask placement (the paper's Greedy).

    Args:
        variant: with task variants, the rule choosing one (``"cheapest"``,
            ``"most-accurate"`` or an index; see :func:`~simoffload.model.variants.pick_variant`).
    """

    name = "greedy"

    def __init__(self, variant: str | int = "cheapest") -> None:
        self.variant = variant

    def decide(self, obs: Observation) -> np.ndarray | Decision:
        if len(obs.variants) > 1:
            k = pick_variant_one(self.variant, obs.variants, obs.accuracy_req)
            return Decision(k, self._place(obs, obs.variants.cycles[k], obs.variants.data[k]))
        return self._place(obs, obs.cycles, obs.data)

    def _place(self, obs: Observation, cycles: np.ndarray, data_arr: np.ndarray) -> np.ndarray:
        if obs.has_latency:  # the scalar fast path has no latency terms: the vectorised greedy has
            one = Observation(obs.graph, cycles, data_arr, obs.p1_hz, obs.p2_hz, obs.b1_Bps, obs.b2_Bps,
                              obs.b1_down_Bps, obs.b2_down_Bps, obs.p3_hz, objective=obs.objective,
                              lat1_s=obs.lat1_s, lat2_s=obs.lat2_s, lat1_down_s=obs.lat1_down_s,
                              lat2_down_s=obs.lat2_down_s)
            return self._place_batch(one.instances(), obs.objective)[0]
        unary, up, down = coefficients_one(cycles, obs.p1_hz, obs.p2_hz, obs.b1_Bps, obs.b2_Bps,
                                           obs.b1_down_Bps, obs.b2_down_Bps, obs.p3_hz, obs.objective)
        H = hop_rows(up, down)
        data = data_arr.tolist()
        place = [0] * obs.graph.n
        for v, preds in enumerate(predecessor_lists(obs.graph)):
            c0, c1, c2 = unary[v]
            for k, s in preds:
                d = data[k]
                if d > 0:  # zero bytes cost nothing, even over a dead link
                    h = H[0 if s < 0 else place[s]]
                    c0 += d * h[0]
                    c1 += d * h[1]
                    c2 += d * h[2]
            # argmin with ties to the lower place (NaN never occurs: see cost.edge_cost_matrices)
            if c1 < c0:
                place[v] = 2 if c2 < c1 else 1
            else:
                place[v] = 2 if c2 < c0 else 0
        return np.array(place, dtype=np.int64)

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray | Decision:
        if inst.n_variants > 1:
            k = pick_variant(self.variant, inst.accuracy, inst.variant_cycles, inst.variant_data, inst.requirement)
            return Decision(k, self._place_batch(inst.chosen(k), objective))
        return self._place_batch(inst, objective)

    def _place_batch(self, inst: Instances, objective: Objective) -> np.ndarray:
        coef = coefficients(inst, objective)
        pair = edge_cost_matrices(coef, inst.data)  # (B, m, 3, 3)
        B, n = len(inst), inst.graph.n
        rows = np.arange(B)
        place = np.empty((B, n), dtype=np.int64)
        for v, preds in enumerate(predecessor_lists(inst.graph)):
            c = coef.unary[:, v, :].copy()
            for k, s in preds:
                c += pair[rows, k, 0 if s < 0 else place[:, s], :]
            place[:, v] = np.argmin(c, axis=1)
        return place

    def decision_ops(self, graph: TaskGraph, n_variants: int = 1) -> float:
        """3 candidate places x (1 execution term + 1 term per incoming data edge), plus 2 comparisons per subtask.

        With variants, plus the rule's scan: n + m additions and 2 comparisons per variant.
        """
        m_in = graph.m - len(graph.output_edges)
        ops = float(3 * (graph.n + m_in) + 2 * graph.n)
        return ops + (n_variants * (graph.n + graph.m + 2) if n_variants > 1 else 0.0)
