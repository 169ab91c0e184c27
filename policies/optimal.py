"""Exact policies: the true optimum (fast) and the paper's exhaustive search.

With several edge sites reachable (``obs.sites`` set), ``optimal`` solves the K-place model
(:func:`simoffload.model.solvers.solve_places`: K-state DP for chains, ILP for DAGs); ``exhaustive``
stays on the three places device / own site / cloud.

* ``optimal`` (:class:`OptimalPolicy`): the exact argmin of the objective by
  the fastest exact method for the task's shape: dynamic programming over the
  3-place trellis for chains, an s-t minimum cut for DAGs
  (:func:`simoffload.model.solvers.solve`).
* ``exhaustive`` (:class:`ExhaustivePolicy`): scores all 3^n placements, as the
  paper's "Optimal" does, so its Table 1 decision time can be reproduced.

Both return an optimal placement; among equal-cost optima they may differ.

Task variants (:mod:`simoffload.model.variants`). With ``variant="best"``
(the default) both return the best feasible (variant, placement): the exact
optimum placement of every variant (``optimal``: chain DP / min cut once per
variant, :func:`simoffload.model.solvers.solve_variants`; ``exhaustive``: all
3^n placements of every variant) plus the accuracy term of the objective,
argmin over variants. ``variant="most-accurate"`` restricts them to the most
accurate variant - placement-only offloading, the "state of the art" of
arXiv 2202.10541 - and an int pins one variant. A task with one variant is
decided exactly as before and answered with a plain placement.
"""

from __future__ import annotations

import numpy as np

from simoffload.model.cost import (
    LATENCY,
    Objective,
    coefficients,
    coefficients_one,
    hop_rows,
)
from simoffload.model.solvers import (
    MAX_EXHAUSTIVE_N,
    _mincut_one,
    exhaustive,
    mincut_graph_size,
    solve,
    solve_places,
    solve_variants,
)
from simoffload.model.task import Instances, TaskGraph
from simoffload.model.variants import allowed_variants, variant_ops
from simoffload.policy import Decision, Observation, Policy


def chain_dp_one(unary: list, up: tuple[float, float], down: tuple[float, float], data: list) -> list[int]:
    """The chain DP of :func:`simoffload.model.solvers.chain_dp` for one instance in plain Python.

    Same recursion, tie-breaks and order of floating-point operations as the
    vectorised version, so both return the same placement.
    """
    H = hop_rows(up, down)
    H0, H1, H2 = H
    n = len(unary)
    d = data[0]
    u = unary[0]
    if d > 0:
        c0, c1, c2 = 0.0 + u[0], d * H0[1] + u[1], d * H0[2] + u[2]
    else:
        c0, c1, c2 = 0.0 + u[0], 0.0 + u[1], 0.0 + u[2]
    back = []
    for t in range(1, n):
        d = data[t]
        u = unary[t]
        if d > 0:
            # to device
            a, b, c = c0, c1 + d * H1[0], c2 + d * H2[0]
            if b < a:
                f0, n0 = (2, c) if c < b else (1, b)
            else:
                f0, n0 = (2, c) if c < a else (0, a)
            a, b, c = c0 + d * H0[1], c1, c2 + d * H2[1]
            if b < a:
                f1, n1 = (2, c) if c < b else (1, b)
            else:
                f1, n1 = (2, c) if c < a else (0, a)
            a, b, c = c0 + d * H0[2], c1 + d * H1[2], c2
            if b < a:
                f2, n2 = (2, c) if c < b else (1, b)
            else:
                f2, n2 = (2, c) if c < a else (0, a)
        else:
            if c1 < c0:
                f, best = (2, c2) if c2 < c1 else (1, c1)
            else:
                f, best = (2, c2) if c2 < c0 else (0, c0)
            f0 = f1 = f2 = f
            n0 = n1 = n2 = best
        back.append((f0, f1, f2))
        c0, c1, c2 = n0 + u[0], n1 + u[1], n2 + u[2]
    d = data[n]
    if d > 0:
        c1 = c1 + d * H1[0]
        c2 = c2 + d * H2[0]
    if c1 < c0:
        last = 2 if c2 < c1 else 1
    else:
        last = 2 if c2 < c0 else 0
    place = [0] * n
    place[n - 1] = last
    for t in range(n - 1, 0, -1):
        last = back[t - 1][last]
        place[t - 1] = last
    return place


class OptimalPolicy(Policy):
    """The exact optimum of the observed objective: chain DP or DAG min cut.

    Args:
        reach: with several edge sites, ``"man"`` (default) optimises over every place the observation
            offers (other sites over the MAN included); ``"own"`` over device / own site / cloud only.
        variant: with task variants, ``"best"`` (best feasible variant x
            placement), ``"most-accurate"`` (placement-only) or an index.
    """

    name = "optimal"

    def __init__(self, reach: str = "man", variant: str | int = "best") -> None:
        if reach not in ("man", "own"):
            raise ValueError(f"reach must be 'man' or 'own', got {reach!r}")
        self.reach = reach
        self.variant = variant

    def decide(self, obs: Observation) -> np.ndarray | Decision:
        if len(obs.variants) > 1:
            inst = obs.instances()
            v, P, _ = solve_variants(inst, obs.objective, allowed_variants(self.variant, inst), sites=obs.sites)
            return Decision(int(v[0]), P[0])
        if obs.sites is not None:  # several sites (or latency): the K-place model, DP / ILP
            coef = obs.place_coefficients()
            if self.reach == "own" and coef.places > 3:
                coef = type(coef)(coef.unary[:, :, :3], coef.per_byte[:, :3, :3], coef.fixed[:, :3, :3])
            return solve_places(coef, obs.graph, obs.data[None, :])[0][0]
        if obs.has_latency:  # the scalar fast path has no latency terms: the vectorised exact solvers do
            return self.decide_batch(obs.instances(), obs.objective)[0]
        unary, up, down = coefficients_one(obs.cycles, obs.p1_hz, obs.p2_hz, obs.b1_Bps, obs.b2_Bps,
                                           obs.b1_down_Bps, obs.b2_down_Bps, obs.p3_hz, obs.objective)
        if obs.graph.is_chain:
            return np.array(chain_dp_one(unary, up, down, obs.data.tolist()), dtype=np.int64)
        return np.array(_mincut_one(unary, up, down, obs.graph, obs.data.tolist()), dtype=np.int64)

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray | Decision:
        if inst.n_variants > 1:
            v, P, _ = solve_variants(inst, objective, allowed_variants(self.variant, inst))
            return Decision(v, P)
        return solve(coefficients(inst, objective), inst.graph, inst.data)[0]

    def decision_ops(self, graph: TaskGraph, n_variants: int = 1, places: int = 3) -> float:
        """Chains: K n execution terms + K^2 transfer terms per inner data edge + K each for input/output,
        over K ``places`` (3: device / edge / cloud; 3 + other sites with several sites).

        DAGs: V * E for the min-cut network of V nodes and E arcs (one
        breadth-first search over E arcs per augmenting path, and on these
        layered networks the number of augmenting paths stays below V); over
        K > 3 places (an ILP) K^n (n + m), exhaustive search's count, as an upper bound.
        With variants: that per variant considered, plus one comparison per variant.
        """
        K = int(places)
        if graph.is_chain:
            per = float(K * graph.n + K * K * (graph.n - 1) + 2 * K)
        elif K > 3:
            per = float(K ** graph.n * (graph.n + graph.m))
        else:
            V, E = mincut_graph_size(graph)
            per = float(V * E)
        return variant_ops(self.variant, per, n_variants)


class ExhaustivePolicy(Policy):
    """The paper's "Optimal": score every one of the 3^n placements, keep the cheapest.

    Refuses tasks of more than ``MAX_EXHAUSTIVE_N`` subtasks.
    """

    name = "exhaustive"

    def __init__(self, variant: str | int = "best") -> None:
        self.variant = variant

    def check(self, graph: TaskGraph) -> None:
        """Refuse tasks of more than ``MAX_EXHAUSTIVE_N`` subtasks before the run."""
        if graph.n > MAX_EXHAUSTIVE_N:
            from simoffload.errors import UserError

            raise UserError(f"exhaustive search over 3^{graph.n} placements refused "
                            f"(limit n <= {MAX_EXHAUSTIVE_N}); use the 'optimal' policy")

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray | Decision:
        if inst.graph.n > MAX_EXHAUSTIVE_N:
            raise ValueError(f"exhaustive search over 3^{inst.graph.n} placements refused "
                             f"(limit n <= {MAX_EXHAUSTIVE_N}); use the 'optimal' policy")
        if inst.n_variants == 1:
            return exhaustive(coefficients(inst, objective), inst.graph, inst.data)[0]
        from simoffload.model.variants import accuracy_cost

        B, V = len(inst), inst.n_variants
        extra = accuracy_cost(inst.accuracy, inst.requirement, objective.accuracy_mode, objective.accuracy_weight)
        allowed = allowed_variants(self.variant, inst)
        if allowed is not None:
            extra = np.where(allowed, extra, np.inf)
        places = np.empty((B, V, inst.graph.n), dtype=np.int64)
        total = np.empty((B, V))
        for k in range(V):
            sub = inst.variant(k)
            places[:, k], c = exhaustive(coefficients(sub, objective), sub.graph, sub.data)
            total[:, k] = c + extra[:, k]
        best = np.argmin(np.where(np.isnan(total), np.inf, total), axis=1)
        return Decision(best.astype(np.int64), places[np.arange(B), best])

    def decision_ops(self, graph: TaskGraph, n_variants: int = 1) -> float:
        """3^n placements x (n execution terms + m transfer terms), per variant considered."""
        return variant_ops(self.variant, float(3 ** graph.n * (graph.n + graph.m)), n_variants)
