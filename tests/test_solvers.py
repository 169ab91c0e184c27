"""Exact solvers: chain DP and DAG min cut against exhaustive search and an ILP (scipy milp).

Every solver must return a placement whose cost (re-evaluated with the cost
model) equals the optimum, not just the optimal value; no policy may beat it;
single and batched decisions of the exact and greedy policies must agree.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from policies.greedy import GreedyPolicy
from policies.optimal import ExhaustivePolicy, OptimalPolicy
from policies.static import CloudPolicy, EdgePolicy, LocalPolicy, RandomPolicy
from simoffload.model.cost import (
    LATENCY,
    Objective,
    coefficients,
    coefficients_one,
    edge_cost_matrices,
    evaluate,
)
from simoffload.model.solvers import (
    MAX_EXHAUSTIVE_N,
    all_placements,
    chain_dp,
    dag_mincut,
    exhaustive,
    solve,
)
from simoffload.model.task import Instances, RequirementDistribution, TaskGraph
from simoffload.policy import Observation

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0 * inf inside cost.py, masked there

OBJECTIVES = [LATENCY, Objective(0.0, 1.0), Objective(1.0, 2.0), Objective(0.5, 1.0, tx_power_w=0.0)]

# values with the awkward cases: zero, tiny, huge
cycles_st = st.one_of(st.just(0.0), st.floats(1e6, 3e9), st.sampled_from([1.0, 1e12]))
bytes_st = st.one_of(st.just(0.0), st.floats(1.0, 1e7), st.sampled_from([1e-3, 1e10]))
speed_st = st.one_of(st.floats(1e7, 6e9), st.sampled_from([1.0, 1e15]))
bw_st = st.one_of(st.floats(1e2, 3e6), st.sampled_from([1e-6, 1e-1, 1e12]))
bw_or_zero_st = st.one_of(bw_st, st.just(0.0))


@st.composite
def dag_st(draw, max_n: int = 8, chain_prob: float = 0.0) -> TaskGraph:
    n = draw(st.integers(1, max_n))
    if draw(st.floats(0, 1)) < chain_prob:
        return TaskGraph.chain(n)
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for u in range(n):
        for v in range(u + 1, n):
            if draw(st.booleans()):
                g.add_edge(u, v)
    return TaskGraph.from_networkx(g)[0]


@st.composite
def instances_st(draw, graph_strategy, allow_zero: bool = True, batch: int = 3) -> Instances:
    graph = draw(graph_strategy)
    bws = bw_or_zero_st if allow_zero else bw_st
    speeds = st.one_of(speed_st, st.just(0.0)) if allow_zero else speed_st
    lst = lambda s, k: st.lists(s, min_size=k, max_size=k)  # noqa: E731
    cycles = np.array(draw(lst(lst(cycles_st, graph.n), batch)))
    data = np.array(draw(lst(lst(bytes_st, graph.m), batch)))
    p1, p2, b1, b2 = (np.array(draw(lst(s, batch))) for s in (speeds, speeds, bws, bws))
    asym = draw(st.booleans())
    b1d = np.array(draw(lst(bws, batch))) if asym else None
    b2d = np.array(draw(lst(bws, batch))) if asym else None
    p3 = draw(st.sampled_from([math.inf, 2e10]))
    return Instances(graph, cycles, data, p1, p2, b1, b2, b1d, b2d, p3)


def same_cost(a: np.ndarray, b: np.ndarray, rtol: float = 1e-9) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    both_inf = np.isinf(a) & np.isinf(b)
    return bool(np.all(both_inf | np.isclose(a, b, rtol=rtol, atol=0.0)))


# ----------------------------------------------------------------------------- chains


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances_st(st.integers(1, 8).map(TaskGraph.chain)), obj=st.sampled_from(OBJECTIVES))
def test_chain_dp_equals_exhaustive(inst: Instances, obj: Objective) -> None:
    coef = coefficients(inst, obj)
    P, val = chain_dp(coef, inst.data)
    Pe, vale = exhaustive(coef, inst.graph, inst.data)
    assert same_cost(val, vale)
    # the decoded placement really costs the optimum
    assert same_cost(evaluate(coef, inst.graph, inst.data, P), vale)
    assert same_cost(evaluate(coef, inst.graph, inst.data, Pe), vale)


def test_chain_dp_small_case_by_hand() -> None:
    # one subtask, 1e9 cycles; p1 = 1e9 Hz (1 s local), p2 = 4e9 Hz (0.25 s on the edge), cloud free.
    # d0 = 1e6 B in, d1 = 1e6 B out; b1 = 2e6 B/s (0.5 s per hop-0 crossing), b2 = 1e6 B/s (1 s per hop 1).
    # device: 1 s; edge: 0.5 + 0.25 + 0.5 = 1.25 s; cloud: (0.5 + 1) * 2 = 3 s -> device, 1 s.
    inst = Instances(TaskGraph.chain(1), [[1e9]], [[1e6, 1e6]], [1e9], [4e9], [2e6], [1e6])
    P, val = chain_dp(coefficients(inst), inst.data)
    assert P.tolist() == [[0]] and val[0] == pytest.approx(1.0)
    # with a 4x slower device (4 s) the edge (1.25 s) wins
    inst.p1 = np.array([0.25e9])
    P, val = solve(coefficients(inst), inst.graph, inst.data)
    assert P.tolist() == [[1]] and val[0] == pytest.approx(1.25)


# ----------------------------------------------------------------------------- DAGs


def ilp_optimum(coef_unary: np.ndarray, pair: np.ndarray, graph: TaskGraph) -> float:
    """Optimum of one instance by a 0-1 ILP (scipy milp / HiGHS), independent of the cut construction.

    z[v, p] = subtask v at place p; y[k, a, b] >= z[u, a] + z[w, b] - 1 linearises the
    transfer of edge k = u->w (costs are non-negative, so y settles at the product).
    """
    n, m = graph.n, graph.m
    nz = 3 * n
    inner = [k for k in range(m) if graph.src[k] >= 0 and graph.dst[k] < n]
    ny = 9 * len(inner)
    c = np.zeros(nz + ny)
    c[:nz] = coef_unary.ravel()
    rows, lo, hi = [], [], []
    for v in range(n):  # one place per subtask
        r = np.zeros(nz + ny)
        r[3 * v: 3 * v + 3] = 1
        rows.append(r), lo.append(1), hi.append(1)
    for k in range(m):
        s, d = int(graph.src[k]), int(graph.dst[k])
        if s < 0 and d < n:  # from the device input: cost of place b of d
            c[3 * d: 3 * d + 3] += pair[k, 0, :]
        elif s >= 0 and d >= n:  # to the device output
            c[3 * s: 3 * s + 3] += pair[k, :, 0]
        elif s < 0 and d >= n:
            pass
    for j, k in enumerate(inner):
        s, d = int(graph.src[k]), int(graph.dst[k])
        for a in range(3):
            for b in range(3):
                idx = nz + 9 * j + 3 * a + b
                c[idx] = pair[k, a, b]
                r = np.zeros(nz + ny)
                r[idx] = 1
                r[3 * s + a] -= 1
                r[3 * d + b] -= 1
                rows.append(r), lo.append(-1), hi.append(np.inf)
    integrality = np.r_[np.ones(nz), np.zeros(ny)]
    res = milp(c, constraints=LinearConstraint(np.array(rows), lo, hi), integrality=integrality,
               bounds=Bounds(0, np.r_[np.ones(nz), np.full(ny, np.inf)]),
               options={"mip_rel_gap": 1e-12})
    assert res.success, res.message
    return float(res.fun)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances_st(dag_st(8, chain_prob=0.1), allow_zero=False, batch=2), obj=st.sampled_from(OBJECTIVES))
def test_mincut_equals_exhaustive_and_ilp(inst: Instances, obj: Objective) -> None:
    # finite costs only (an ILP cannot hold inf)
    coef = coefficients(inst, obj)
    P, val = dag_mincut(coef, inst.graph, inst.data)
    _, vale = exhaustive(coef, inst.graph, inst.data)
    assert same_cost(val, vale)
    assert same_cost(evaluate(coef, inst.graph, inst.data, P), vale)
    pair = edge_cost_matrices(coef, inst.data)
    for b in range(len(inst)):
        # HiGHS stops at an absolute gap of 1e-6: scale costs so the optimum is about 1
        scale = float(vale[b]) if vale[b] > 0 else 1.0
        top = max(float(np.max(coef.unary[b])), float(np.max(pair[b])))
        if top > 1e9 * scale:
            continue  # dynamic range beyond an LP solver's tolerances; exhaustive already checked it
        v = ilp_optimum(coef.unary[b] / scale, pair[b] / scale, inst.graph) * scale
        assert v == pytest.approx(vale[b], rel=1e-5, abs=2e-6 * scale)  # HiGHS' feasibility/gap tolerances


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances_st(dag_st(7, chain_prob=0.1), allow_zero=True), obj=st.sampled_from(OBJECTIVES))
def test_mincut_equals_exhaustive_with_zero_bandwidths_and_speeds(inst: Instances, obj: Objective) -> None:
    coef = coefficients(inst, obj)
    P, val = dag_mincut(coef, inst.graph, inst.data)
    _, vale = exhaustive(coef, inst.graph, inst.data)
    assert same_cost(val, vale)
    assert same_cost(evaluate(coef, inst.graph, inst.data, P), val, rtol=0)


def test_mincut_small_dag_by_hand() -> None:
    # 0 -> 2 <- 1, inputs of 0 and 1 from the device, 2's output to the device.
    # p1 = 1e9, p2 = 1e9 Hz, cloud free; b1 = b2 = 1e6 B/s (1 s per MB per hop).
    # cycles (2e9, 2e9, 2e9): 2 s anywhere but the cloud (0 s).
    # Inputs 1e6 and 1e6 B, edges 0->2 and 1->2 carry 1e3 B, output 1e3 B.
    # All cloud: inputs 2 s + 2 s, inner transfers 0, output 2e-3 s -> 4.002 s.
    # All device: 6 s. All edge: 2 + 6 = 8 s. Only node 2 in the cloud: 4 + 2*2e-3 + 2e-3 = 4.006 s.
    # Nodes 1, 2 in the cloud, 0 on the device: 2 + 2 + 2e-3 + 2e-3 = 4.004 s. -> all cloud, 4.002 s.
    g = TaskGraph(3, [-1, -1, 0, 1, 2], [0, 1, 2, 2, 3])
    inst = Instances(g, [[2e9, 2e9, 2e9]], [[1e6, 1e6, 1e3, 1e3, 1e3]], [1e9], [1e9], [1e6], [1e6])
    P, val = dag_mincut(coefficients(inst), g, inst.data)
    assert P.tolist() == [[2, 2, 2]]
    assert val[0] == pytest.approx(4.002)


def test_mincut_all_placements_infinite() -> None:
    # zero uplink and a stalled device CPU with work to do: every placement costs inf; no crash, inf reported
    inst = Instances(TaskGraph(2, [-1, -1, 0, 1], [0, 1, 2, 2]), [[1e9, 1e9]], [[1e6, 1e6, 1e6, 1e6]],
                     [0.0], [1e9], [0.0], [1e6])
    P, val = dag_mincut(coefficients(inst), inst.graph, inst.data)
    assert P.shape == (1, 2) and np.isinf(val[0])


def test_exhaustive_refuses_large_tasks() -> None:
    with pytest.raises(ValueError, match="refused"):
        all_placements(MAX_EXHAUSTIVE_N + 1)
    inst = Instances(TaskGraph.chain(MAX_EXHAUSTIVE_N + 1), np.ones((1, MAX_EXHAUSTIVE_N + 1)),
                     np.ones((1, MAX_EXHAUSTIVE_N + 2)), [1e9], [1e9], [1e6], [1e6])
    with pytest.raises(ValueError, match="refused"):
        ExhaustivePolicy().decide_batch(inst)
    # the optimal policy still solves it (DP); greedy is an upper bound
    P = OptimalPolicy().decide_batch(inst)
    assert evaluate(coefficients(inst), inst.graph, inst.data, P)[0] <= \
        evaluate(coefficients(inst), inst.graph, inst.data, GreedyPolicy().decide_batch(inst))[0]


# ----------------------------------------------------------------------------- policies


ALL_POLICIES = [GreedyPolicy, OptimalPolicy, ExhaustivePolicy, LocalPolicy, EdgePolicy, CloudPolicy, RandomPolicy]


def observations(inst: Instances, obj: Objective) -> list[Observation]:
    out = []
    for i in range(len(inst)):
        out.append(Observation(
            inst.graph, inst.cycles[i], inst.data[i], float(inst.p1[i]), float(inst.p2[i]),
            float(inst.b1[i]), float(inst.b2[i]),
            None if inst.b1_down is None else float(inst.b1_down[i]),
            None if inst.b2_down is None else float(inst.b2_down[i]),
            float(inst.p3), objective=obj))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances_st(dag_st(6, chain_prob=0.5), allow_zero=True), obj=st.sampled_from(OBJECTIVES))
def test_no_policy_beats_the_optimum(inst: Instances, obj: Objective) -> None:
    coef = coefficients(inst, obj)
    _, opt = exhaustive(coef, inst.graph, inst.data)
    for cls in ALL_POLICIES:
        pol = cls()
        pol.reset(np.random.default_rng(0))
        c = evaluate(coef, inst.graph, inst.data, pol.decide_batch(inst, obj))
        finite = np.isfinite(opt)
        assert np.all(c[finite] >= opt[finite] * (1 - 1e-12)), cls.name
        assert np.all(np.isinf(c[~finite])), cls.name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances_st(dag_st(6, chain_prob=0.5), allow_zero=True, batch=4), obj=st.sampled_from(OBJECTIVES))
def test_single_and_batched_decisions_agree(inst: Instances, obj: Objective) -> None:
    for cls in (GreedyPolicy, OptimalPolicy, ExhaustivePolicy):
        pol = cls()
        batch = pol.decide_batch(inst, obj)
        single = np.array([pol.decide(o) for o in observations(inst, obj)])
        assert single.dtype.kind == "i" and single.shape == batch.shape
        assert np.array_equal(single, batch), cls.name


@settings(max_examples=60, deadline=None)
@given(inst=instances_st(st.integers(1, 5).map(TaskGraph.chain), allow_zero=True, batch=2),
       obj=st.sampled_from(OBJECTIVES))
def test_scalar_coefficients_equal_vectorised(inst: Instances, obj: Objective) -> None:
    coef = coefficients(inst, obj)
    for i, o in enumerate(observations(inst, obj)):
        u, up, down = coefficients_one(o.cycles, o.p1_hz, o.p2_hz, o.b1_Bps, o.b2_Bps,
                                       o.b1_down_Bps, o.b2_down_Bps, o.p3_hz, obj)
        assert np.array_equal(np.array(u, dtype=float).reshape(-1, 3), coef.unary[i])
        assert np.array_equal(np.array(up), coef.up[i]) and np.array_equal(np.array(down), coef.down[i])


def test_decision_ops_follow_the_work() -> None:
    chain = TaskGraph.chain(6)
    # exhaustive: 3^6 placements x (6 execution + 7 transfer terms)
    assert ExhaustivePolicy().decision_ops(chain) == 729 * 13
    # DP: 3 execution terms per subtask + 9 transitions per inner edge + 3 + 3 for input and output
    assert OptimalPolicy().decision_ops(chain) == 18 + 45 + 6
    # greedy: 3 places x (1 execution + 1 incoming transfer) + 2 comparisons, per subtask
    assert GreedyPolicy().decision_ops(chain) == 6 * (6 + 2)
    dag = TaskGraph(3, [-1, -1, 0, 1, 2], [0, 1, 2, 2, 3])
    assert OptimalPolicy().decision_ops(dag) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert GreedyPolicy().decision_ops(dag) == 3 * (3 + 4) + 6


def test_batched_compiled_cut_equals_exhaustive_and_the_exact_integer_cut() -> None:
    # 300 random 9-node DAGs with finite costs: every instance takes the batched compiled path
    # (checked), and its placements cost exactly what exhaustive search and the per-instance
    # exact-integer construction find.
    from simoffload.model.solvers import _fast_eligible, _mincut_one
    from simoffload.model.task import random_dag
    from simoffload.rng import rng_for

    g = random_dag(9, 0.3, rng_for(3, "test/batched-cut/dag"))
    inst = RequirementDistribution.from_spec("paper-5.1").sample(g, 300, rng_for(3, "test/batched-cut"))
    for obj in OBJECTIVES:
        coef = coefficients(inst, obj)
        assert _fast_eligible(coef, inst.data).all()
        P, val = dag_mincut(coef, g, inst.data, chunk=64)  # several chunks
        _, vale = exhaustive(coef, g, inst.data)
        assert same_cost(val, vale, rtol=1e-12)
        U, up, down, D = coef.unary.tolist(), coef.up.tolist(), coef.down.tolist(), inst.data.tolist()
        Q = np.array([_mincut_one(U[b], up[b], down[b], g, D[b]) for b in range(len(inst))])
        assert same_cost(evaluate(coef, g, inst.data, Q), val, rtol=1e-12)


def test_batched_cut_leaves_extreme_ranges_to_the_exact_construction() -> None:
    # a cost 1e-20 of the largest (or an infinite one) is not trusted to doubles
    from simoffload.model.solvers import _fast_eligible

    g = TaskGraph(2, [-1, 0, 1], [0, 1, 2])
    inst = Instances(g, [[1e9, 1e9], [1e9, 1e9], [1e9, 1e9]], [[1e6, 1e6, 1e6], [1e6, 1e-14, 1e6], [1e6, 1e6, 1e6]],
                     [1e9, 1e9, 0.0], [2e9, 2e9, 2e9], [1e6, 1e6, 1e6], [1e6, 1e6, 1e6])
    assert _fast_eligible(coefficients(inst), inst.data).tolist() == [True, False, False]
