"""Exact solvers over the shared cost model.

* :func:`exhaustive` - vectorised search over all 3^n placements (the paper's "Optimal").
* :func:`chain_dp` - dynamic programming over the 3-place trellis of a chain, O(n * 9).
* :func:`dag_mincut` - exact optimum of a task DAG by an s-t minimum cut (ordered labels), batched
  in compiled code (PyMaxflow) where the costs allow, else exact integers (networkx).
* :func:`solve` - the right exact method for the shape (chain -> DP, DAG -> min cut).
* :func:`solve_variants` - the best (variant, placement) of tasks with variants:
  :func:`solve` once per variant, plus the accuracy term, argmin over variants.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Any

import networkx as nx
import numpy as np
from networkx.algorithms.flow import edmonds_karp

from .._progress import bar as progress_bar
from .cost import (
    LATENCY,
    Coefficients,
    Objective,
    coefficients,
    edge_cost_matrices,
    evaluate,
    evaluate_all,
)
from .task import Instances, TaskGraph
from .variants import accuracy_cost

MAX_EXHAUSTIVE_N = 14  # 3^14 = 4.8M placements per instance; beyond this refuse


@lru_cache(maxsize=32)
def all_placements(n: int) -> np.ndarray:
    """(3^n, n) every placement, in lexicographic order (device first)."""
    if n > MAX_EXHAUSTIVE_N:
        raise ValueError(f"exhaustive search over 3^{n} placements refused (limit n <= {MAX_EXHAUSTIVE_N})")
    P = np.array(list(itertools.product(range(3), repeat=n)), dtype=np.int64).reshape(-1, n)
    P.setflags(write=False)
    return P


def exhaustive(coef: Coefficients, graph: TaskGraph, data: np.ndarray, chunk: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Optimal placements by scoring all 3^n placements.

    Ties go to the lexicographically smallest placement (device before edge before cloud).

    Returns:
        (B, n) placements and (B,) costs.
    """
    P = all_placements(graph.n)
    B = coef.unary.shape[0]
    chunk = chunk or max(1, int(4_000_000 // P.shape[0]))
    best = np.empty((B, graph.n), dtype=np.int64)
    val = np.empty(B)
    for lo in range(0, B, chunk):
        hi = min(B, lo + chunk)
        sub = coef[lo:hi]
        c = evaluate_all(sub, graph, data[lo:hi], P)
        c = np.where(np.isnan(c), np.inf, c)
        k = np.argmin(c, axis=1)
        best[lo:hi] = P[k]
        val[lo:hi] = c[np.arange(hi - lo), k]
    return best, val


def _trellis(U: np.ndarray, pair: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shortest path through a chain's K-place trellis (K = U.shape[2]).

    ``U`` is (B, n, K) per-subtask costs, ``pair`` (B, n+1, K, K) the transfer cost of
    each edge between places (edge 0 from the device, edge n back to it). Ties go
    to the lower place index at each step of the backtrack.

    Returns:
        (B, n) placements and (B,) costs.
    """
    B, n, K = U.shape
    # cost[b, p] = best cost of subtasks 0..t with subtask t at place p
    cost = pair[:, 0, 0, :] + U[:, 0, :]
    back = np.empty((B, n, K), dtype=np.int64)
    for t in range(1, n):
        tot = cost[:, :, None] + pair[:, t, :, :]  # (B, from, to)
        back[:, t, :] = np.argmin(tot, axis=1)
        cost = np.take_along_axis(tot, back[:, t, None, :], axis=1)[:, 0, :] + U[:, t, :]
    final = cost + pair[:, n, :, 0]
    last = np.argmin(final, axis=1)
    val = final[np.arange(B), last]
    place = np.empty((B, n), dtype=np.int64)
    place[:, n - 1] = last
    for t in range(n - 1, 0, -1):
        place[:, t - 1] = back[np.arange(B), t, place[:, t]]
    return place, val


def chain_dp(coef: Coefficients, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal placements of chains by dynamic programming (shortest path in a trellis).

    ``data`` is (B, n+1): the chain's d_0..d_n. Ties go to the lower place index
    at each step of the backtrack, which matches exhaustive search's
    lexicographic tie-break only up to ties of equal cost.

    Returns:
        (B, n) placements and (B,) costs.
    """
    return _trellis(coef.unary, edge_cost_matrices(coef, data))  # pair: (B, n+1, 3, 3)


# ----------------------------------------------------------------------------- DAGs: exact min cut


def mincut_graph_size(graph: TaskGraph) -> tuple[int, int]:
    """(nodes, arcs) upper bound of the s-t network :func:`dag_mincut` builds for ``graph``."""
    # per subtask: 2 threshold nodes, 2 terminal arcs, 1 ordering arc; per data edge: 2 levels x 2 directions
    return 2 * graph.n + 2, 3 * graph.n + 4 * graph.m


def _mincut_one(unary: Any, up: Any, down: Any, graph: TaskGraph, data: Any,
                lat_up: Any = (0.0, 0.0), lat_down: Any = (0.0, 0.0)) -> list[int]:
    """Placement (n,) minimising the cost of one instance (Ishikawa's ordered-label cut).

    Binary threshold variables ``x[v, k] = [place(v) >= k]`` for ``k = 1, 2``; a
    variable is 1 when its node ends on the sink side of the cut. An arc a->b
    of capacity c is cut (and paid) exactly when ``x_a = 0`` and ``x_b = 1``.

    * unary: U(v, p) = U0 + (U1 - U0) x1 + (U2 - U1) x2; a coefficient a >= 0 is
      an arc s->node of capacity a, a < 0 an arc node->t of |a| plus the constant
      a (this per-node shift keeps every capacity non-negative);
    * ``x2 <= x1``: an "infinite" arc (v,1)->(v,2);
    * data edge u->w of d bytes crosses hop h upward iff x[u,h+1]=0 and
      x[w,h+1]=1 (cost d*up[h], arc (u,h+1)->(w,h+1)) and downward iff
      x[u,h+1]=1 and x[w,h+1]=0 (cost d*down[h], arc (w,h+1)->(u,h+1)). The
      device input/output are fixed at x=0, i.e. merged into the source.
      A hop's latency term (``lat_up[h]``, ``lat_down[h]``: per transfer, not
      per byte) is added to that arc: it is paid exactly when the hop is
      crossed in that direction, so the labels stay ordered and the cut exact.
      Edges of zero bytes carry nothing and get no arcs.

    Infinite costs (zero speed or bandwidth) are first capped at 4x the sum of
    all finite costs + 1, more than any finite placement costs, so an
    infinite placement is chosen only when all are. All costs are then
    converted exactly to Python integers (one power-of-two scale for all)
    before the unary differences are taken, so the construction, the max flow
    and the cut are exact: float differences lose a 1e-7 cost next to a 1e9
    cap, a float max flow leaves rounding-size residuals that make networkx's
    saturated-arc test return a wrong cut, and a fixed-precision scale loses
    costs 1e-20 times smaller than the largest.
    """
    n = graph.n
    S, T = 0, 1

    def node(v: int, k: int) -> int:
        return 2 + 2 * v + (k - 1)

    inf = float("inf")
    # one finite stand-in for every infinite cost, larger than any finite placement's total cost
    fin = sum(abs(x) for row in unary for x in row if x != inf)
    fin += sum(d * w for d in data if d > 0 for w in (*up, *down) if w != inf)
    fin += sum(x for d in data if d > 0 for x in (*lat_up, *lat_down) if x != inf)
    cap = 4.0 * fin + 1.0
    # the float costs: unary rows (capped) and transfer terms (d * per-byte cost, as cost.evaluate has them)
    rows = [[min(x, cap) for x in unary[v]] for v in range(n)]
    terms = []  # (from node, to node, cost)
    for k in range(graph.m):
        d = data[k]
        if d <= 0:
            continue
        a, b = int(graph.src[k]), int(graph.dst[k])
        for h in range(2):
            na = S if a < 0 else node(a, h + 1)
            nb = S if b >= n else node(b, h + 1)
            cu, cd = d * up[h] + lat_up[h], d * down[h] + lat_down[h]
            if cu > 0:
                terms.append((na, nb, min(cu, cap)))
            if cd > 0:
                terms.append((nb, na, min(cd, cap)))
    # c = M * 2^(e - 53) with an integer mantissa M: scaling by 2^(53 - smallest e) turns every cost into an
    # exact (unbounded Python) integer, so the unary differences, the flow and the cut involve no rounding
    exps = [math.frexp(x)[1] for r in rows for x in r if x > 0] + [math.frexp(c)[1] for *_, c in terms]
    shift = 53 - min(exps, default=0)

    def exact(x: float) -> int:
        frac, ex = math.frexp(x)
        return int(frac * (1 << 53)) << (ex - 53 + shift) if x > 0 else 0

    ints: dict[tuple[int, int], int] = {}

    def add(a: int, b: int, c: int) -> None:
        if c > 0:
            ints[(a, b)] = ints.get((a, b), 0) + c

    for v in range(n):
        i0, i1, i2 = (exact(x) for x in rows[v])
        if i1 > i0:
            add(S, node(v, 1), i1 - i0)
        elif i1 < i0:
            add(node(v, 1), T, i0 - i1)
        if i2 > i1:
            add(S, node(v, 2), i2 - i1)
        elif i2 < i1:
            add(node(v, 2), T, i1 - i2)
    for a, b, c in terms:
        add(a, b, exact(c))
    big = 4 * sum(ints.values()) + 1  # the ordering arcs x2 <= x1: never cut
    G = nx.DiGraph()
    G.add_nodes_from(range(2 * n + 2))
    G.add_edges_from((a, b, {"capacity": c}) for (a, b), c in ints.items() if c > 0)
    G.add_edges_from((node(v, 1), node(v, 2), {"capacity": big}) for v in range(n))
    _, (_, sink_side) = nx.minimum_cut(G, S, T, flow_func=edmonds_karp)  # fastest of networkx's here
    return [int(node(v, 1) in sink_side) + int(node(v, 2) in sink_side) for v in range(n)]


FAST_RANGE = 1e12  # widest ratio of largest to smallest positive cost term the float batch cut is trusted with


def _lat_or_zero(x: np.ndarray | None, B: int) -> np.ndarray:
    return np.zeros((B, 2)) if x is None else x


def _fast_eligible(coef: Coefficients, data: np.ndarray) -> np.ndarray:
    """(B,) instances whose costs are finite and of moderate dynamic range (see :func:`_mincut_batch`)."""
    U, up, down = coef.unary, coef.up, coef.down
    d = np.where(data > 0, data, 0.0)
    per_byte = np.concatenate([up, down], axis=1)  # (B, 4)
    finite = np.isfinite(U).all(axis=(1, 2)) & np.isfinite(per_byte).all(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        terms = np.concatenate([np.abs(np.diff(U, axis=2)).reshape(len(U), -1),
                                (d[:, :, None] * per_byte[:, None, :]).reshape(len(U), -1)], axis=1)
        if coef.has_latency:  # per-transfer latency terms: paid by non-empty edges only
            lat = np.concatenate([_lat_or_zero(coef.lat_up, len(U)), _lat_or_zero(coef.lat_down, len(U))], axis=1)
            finite &= np.isfinite(lat).all(axis=1)
            transfer = (d[:, :, None] * per_byte[:, None, :] + (d > 0)[:, :, None] * lat[:, None, :]).reshape(len(U), -1)
            terms = np.concatenate([terms, transfer], axis=1)
    terms = np.where(np.isfinite(terms), terms, 0.0)
    pos = np.where(terms > 0, terms, np.inf)
    lo = pos.min(axis=1)
    hi = terms.max(axis=1)
    ok_range = (hi == 0) | (hi <= FAST_RANGE * lo)
    return finite & ok_range


def _mincut_batch(coef: Coefficients, graph: TaskGraph, data: np.ndarray) -> np.ndarray:
    """Placements of a batch by ONE max flow over the disjoint union of the instances' cut networks.

    The same construction as :func:`_mincut_one` (two threshold nodes per subtask,
    terminal arcs for the unary differences and for transfers from/to the device,
    paired arcs for inner data edges, an ordering arc per subtask), built with
    numpy for the whole batch and solved by the Boykov-Kolmogorov algorithm in
    compiled code (PyMaxflow). The instances share only the terminals, so the
    minimum cut of the union is the union of their minimum cuts.

    Capacities are doubles: after the flow, every arc leaving the source side has
    zero residual, so the cut found costs the maximum flow up to rounding
    (relative 1e-13 here); callers use it only for instances with finite costs of
    moderate dynamic range (:func:`_fast_eligible`), where rounding cannot change
    the optimum beyond ties at that level. Others go through the exact integer
    construction of :func:`_mincut_one`.
    """
    import maxflow

    U = coef.unary
    B, n, _ = U.shape
    up, down = coef.up, coef.down
    N = 2 * n
    base = (np.arange(B) * N)[:, None]  # (B, 1)
    ids1 = base + 2 * np.arange(n)[None, :]  # (B, n) threshold node x[v, 1]
    ids2 = ids1 + 1  # x[v, 2]
    src = np.zeros((B, N))  # terminal capacities per node (columns 2v, 2v+1)
    snk = np.zeros((B, N))
    a1 = U[:, :, 1] - U[:, :, 0]
    a2 = U[:, :, 2] - U[:, :, 1]
    src[:, 0::2] += np.maximum(a1, 0.0)
    snk[:, 0::2] += np.maximum(-a1, 0.0)
    src[:, 1::2] += np.maximum(a2, 0.0)
    snk[:, 1::2] += np.maximum(-a2, 0.0)
    s_idx, d_idx = graph.src, graph.dst
    D = np.where(data > 0, data, 0.0)
    lu, ld = _lat_or_zero(coef.lat_up, B), _lat_or_zero(coef.lat_down, B)  # per transfer, paid when d > 0
    ei, ej, ec, er = [], [], [], []
    for k in range(graph.m):
        a, b = int(s_idx[k]), int(d_idx[k])
        if a < 0 and b >= n:
            continue
        dk = D[:, k]
        nz = dk > 0
        for h in range(2):
            cu, cd = dk * up[:, h], dk * down[:, h]
            if coef.has_latency:
                cu, cd = cu + nz * lu[:, h], cd + nz * ld[:, h]
            if a < 0:  # from the device input (source side): S -> (b, h+1) costs the upward hop
                src[:, 2 * b + h] += cu
            elif b >= n:  # to the device output (source side): S -> (a, h+1) costs the downward hop
                src[:, 2 * a + h] += cd
            else:
                ei.append(base[:, 0] + 2 * a + h)
                ej.append(base[:, 0] + 2 * b + h)
                ec.append(cu)
                er.append(cd)
    big = 4.0 * (src.sum() + snk.sum() + sum(float(c.sum()) for c in ec) + sum(float(c.sum()) for c in er)) + 1.0
    g = maxflow.Graph[float](B * N, B * N + len(ei) * B)
    g.add_nodes(B * N)
    g.add_edges(ids1.ravel(), ids2.ravel(), np.full(B * n, big), np.zeros(B * n))
    if ei:
        g.add_edges(np.concatenate(ei), np.concatenate(ej), np.concatenate(ec), np.concatenate(er))
    g.add_grid_tedges(np.arange(B * N), src.ravel(), snk.ravel())
    g.maxflow()
    seg = g.get_grid_segments(np.arange(B * N)).reshape(B, n, 2)  # True = sink side = x is 1
    return seg.sum(axis=2).astype(np.int64)


def dag_mincut(coef: Coefficients, graph: TaskGraph, data: np.ndarray,
               progress: bool = False, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Optimal placements of task DAGs by an exact s-t minimum cut.

    The three places lie on a line and every transfer cost is a sum of per-hop,
    per-direction costs, so the three-label problem is exactly a binary cut on
    two threshold variables per subtask (Ishikawa 2003). Instances with finite
    costs of moderate dynamic range are cut in chunks, one compiled max flow per
    chunk (:func:`_mincut_batch`); the rest (zero speeds or bandwidths, costs
    spanning more than :data:`FAST_RANGE`) go one by one through the exact integer
    construction (:func:`_mincut_one`), where infinite costs are capped at a
    finite bound larger than any finite placement's cost, so an infinite
    placement is chosen only if every placement is infinite. The cost of the
    returned placement is recomputed with :func:`simoffload.model.cost.evaluate`.

    Args:
        coef: cost coefficients, batch B.
        graph: the DAG structure (chains work too).
        data: (B, m) bytes per data edge.
        progress: show a tqdm progress bar over the batch.
        chunk: instances per compiled max flow.

    Returns:
        (B, n) placements and (B,) costs.
    """
    data = np.asarray(data, dtype=float)
    B = coef.unary.shape[0]
    best = np.empty((B, graph.n), dtype=np.int64)
    fast = _fast_eligible(coef, data)
    fi = np.flatnonzero(fast)
    slow = np.flatnonzero(~fast)
    bar = progress_bar(total=B, enabled=progress, desc="min-cut labels", unit="inst")
    for lo in range(0, len(fi), chunk):
        idx = fi[lo:lo + chunk]
        sub = coef[idx]
        best[idx] = _mincut_batch(sub, graph, data[idx])
        bar.update(len(idx))
    if len(slow):
        U, up, down, D = coef.unary[slow].tolist(), coef.up[slow].tolist(), coef.down[slow].tolist(), data[slow].tolist()
        z = [(0.0, 0.0)] * len(slow)
        lu = z if coef.lat_up is None else coef.lat_up[slow].tolist()
        ld = z if coef.lat_down is None else coef.lat_down[slow].tolist()
        for j, b in enumerate(slow):
            best[b] = _mincut_one(U[j], up[j], down[j], graph, D[j], lu[j], ld[j])
            bar.update(1)
    bar.close()
    return best, evaluate(coef, graph, data, best)


def solve(coef: Coefficients, graph: TaskGraph, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact optimum with the fastest exact method for the shape: chain -> DP, DAG -> min cut.

    Returns:
        (B, n) placements and (B,) costs (the costs of the returned placements).
    """
    if graph.is_chain:
        return chain_dp(coef, data)
    return dag_mincut(coef, graph, data)


# ----------------------------------------------------------------------------- K places (several edge sites)
#
# With other edge sites allowed the places are not on a line, so the ordered-label min cut no longer applies:
# chains are a shortest path over K = 2 + sites states (exact, O(n K^2)); DAGs are solved exactly by an ILP
# (scipy's milp / HiGHS) or, for small ones, by exhaustive search over K^n placements. With the own site only
# (K = 3, no latency) :func:`solve` (DP / min cut) is used.

MAX_EXHAUSTIVE_PLACEMENTS = 5_000_000


def all_place_codes(n: int, K: int) -> np.ndarray:
    """(K^n, n) every placement over K places, lexicographic (device first)."""
    if K ** n > MAX_EXHAUSTIVE_PLACEMENTS:
        raise ValueError(f"exhaustive search over {K}^{n} placements refused (limit {MAX_EXHAUSTIVE_PLACEMENTS})")
    return np.array(list(itertools.product(range(K), repeat=n)), dtype=np.int64).reshape(-1, n)


def places_exhaustive(coef: Any, graph: TaskGraph, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal placements over K places by scoring all K^n (ties: lexicographically smallest).

    Args:
        coef: :class:`~simoffload.model.cost.PlaceCoefficients` (batch B).

    Returns:
        (B, n) placements and (B,) costs.
    """
    from .cost import evaluate_places, place_edge_costs

    K = coef.places
    P = all_place_codes(graph.n, K)
    B = coef.unary.shape[0]
    pair_all = place_edge_costs(coef, data).reshape(B, graph.m, K * K)
    chunk = max(1, int(4_000_000 // P.shape[0]))
    best = np.empty((B, graph.n), dtype=np.int64)
    val = np.empty(B)
    for lo in range(0, B, chunk):
        hi = min(B, lo + chunk)
        sub = type(coef)(coef.unary[lo:hi], coef.per_byte[lo:hi], coef.fixed[lo:hi])
        c = evaluate_places(sub, graph, data[lo:hi], P, pair_all[lo:hi])
        c = np.where(np.isnan(c), np.inf, c)
        k = np.argmin(c, axis=1)
        best[lo:hi] = P[k]
        val[lo:hi] = c[np.arange(hi - lo), k]
    return best, val


def places_chain_dp(coef: Any, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal placements of chains over K places: a shortest path through a K-state trellis.

    ``data`` is (B, n+1). Ties go to the lower place index at each backtrack step. O(n K^2) per instance,
    vectorised over the batch.
    """
    from .cost import place_edge_costs

    return _trellis(coef.unary, place_edge_costs(coef, data))  # pair: (B, n+1, K, K)


def place_chain_dp_one(unary: list, pair: list, n: int, K: int) -> list[int]:
    """:func:`places_chain_dp` for one instance in plain Python (``pair[t][a][b]`` edge costs)."""
    cost = [pair[0][0][p] + unary[0][p] for p in range(K)]
    back = []
    rK = range(K)
    for t in range(1, n):
        pt = pair[t]
        new, bk = [], []
        for b in rK:
            best, arg = math.inf, 0
            first = True
            for a in rK:
                x = cost[a] + pt[a][b]
                if first or x < best:
                    best, arg, first = x, a, False
            new.append(best + unary[t][b])
            bk.append(arg)
        back.append(bk)
        cost = new
    final = [cost[a] + pair[n][a][0] for a in rK]
    last = min(rK, key=lambda a: (final[a], a)) if not any(math.isnan(x) for x in final) else 0
    place = [0] * n
    place[n - 1] = last
    for t in range(n - 1, 0, -1):
        last = back[t - 1][last]
        place[t - 1] = last
    return place


def _milp_one(unary: np.ndarray, pair: np.ndarray, graph: TaskGraph) -> list[int]:
    """Exact placement of one DAG over K places by an ILP (scipy milp / HiGHS).

    Variables x[v, p] (subtask v at place p, one place each) and, per data edge between two subtasks,
    y[k, a, b] with marginals sum_b y = x[u, a] and sum_a y = x[w, b] (the local-polytope form: with
    integral x it forces y to the product). Edges from the device input or to the device output only add to
    the unary costs. Infinite costs are capped above the total of every finite cost, as for the min cut.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    n, K = unary.shape
    fin = np.isfinite
    total = np.abs(unary[fin(unary)]).sum() + np.abs(pair[fin(pair)]).sum()
    cap = 4.0 * total + 1.0
    U = np.minimum(np.array(unary, dtype=float), cap)
    inner = []
    for k in range(graph.m):
        s, d = int(graph.src[k]), int(graph.dst[k])
        ck = np.minimum(pair[k], cap)
        if s < 0 and d >= n:
            continue  # input straight to output on the device: costs nothing
        if s < 0:
            U[d] += ck[0, :]
        elif d >= n:
            U[s] += ck[:, 0]
        elif np.any(ck != 0):
            inner.append((s, d, ck))
    nx_, ny = n * K, len(inner) * K * K
    cost = np.concatenate([U.ravel(), np.concatenate([c.ravel() for *_, c in inner]) if inner else np.zeros(0)])
    rows, rhs_lo, rhs_hi = [], [], []

    def row() -> np.ndarray:
        return np.zeros(nx_ + ny)

    for v in range(n):
        r = row()
        r[v * K:(v + 1) * K] = 1.0
        rows.append(r), rhs_lo.append(1.0), rhs_hi.append(1.0)
    for e, (s, d, _) in enumerate(inner):
        base = nx_ + e * K * K
        for a in range(K):
            r = row()
            r[base + a * K: base + (a + 1) * K] = 1.0
            r[s * K + a] = -1.0
            rows.append(r), rhs_lo.append(0.0), rhs_hi.append(0.0)
        for b in range(K):
            r = row()
            r[base + b: base + K * K: K] = 1.0
            r[d * K + b] = -1.0
            rows.append(r), rhs_lo.append(0.0), rhs_hi.append(0.0)
    integrality = np.concatenate([np.ones(nx_), np.zeros(ny)])
    res = milp(cost, constraints=LinearConstraint(np.array(rows), rhs_lo, rhs_hi),
               integrality=integrality, bounds=Bounds(0.0, 1.0),
               options={"mip_rel_gap": 0.0, "presolve": True})
    if res.x is None:
        raise RuntimeError(f"milp found no placement: {res.message}")
    x = res.x[:nx_].reshape(n, K)
    return [int(np.argmax(x[v])) for v in range(n)]


def places_milp(coef: Any, graph: TaskGraph, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal placements of DAGs over K places by an exact ILP per instance (scipy milp, HiGHS).

    HiGHS solves to a zero relative gap; its feasibility tolerance (1e-7 by default) makes it exact for
    placements, whose costs differ by far more than that relative to the total. The returned costs are
    recomputed with the cost model.
    """
    from .cost import evaluate_places_each, place_edge_costs

    B = coef.unary.shape[0]
    pair = place_edge_costs(coef, data)
    best = np.empty((B, graph.n), dtype=np.int64)
    for b in range(B):
        best[b] = _milp_one(coef.unary[b], pair[b], graph)
    return best, evaluate_places_each(coef, graph, data, best)


def solve_places(coef: Any, graph: TaskGraph, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact optimum over K places: chain -> K-state DP; DAG -> min cut when the places are on a line
    (K = 3 and no fixed per-transfer cost), else the ILP."""
    if graph.is_chain:
        return places_chain_dp(coef, data)
    if coef.places == 3 and not np.any(coef.fixed):
        pb = coef.per_byte
        line = Coefficients(coef.unary, np.stack([pb[:, 0, 1], pb[:, 1, 2]], axis=-1),
                            np.stack([pb[:, 1, 0], pb[:, 2, 1]], axis=-1))
        if np.array_equal(line.hop_matrix(), pb):
            return dag_mincut(line, graph, data)
    return places_milp(coef, graph, data)


def solve_variants(inst: Instances, objective: Objective = LATENCY, allowed: np.ndarray | None = None,
                   extra_unary: np.ndarray | None = None, sites: Any = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact best (variant, placement) per instance.

    The objective of variant k with placement I is ``cost(inst.variant(k), I)``
    plus the accuracy term of :func:`simoffload.model.variants.accuracy_cost`
    (0 / inf in ``constrain`` mode, the weighted shortfall in ``penalty`` mode).
    The accuracy term does not depend on the placement, so the optimum is the
    exact optimum placement of each variant (:func:`solve`, run once per
    variant on the shared cost model) followed by an argmin over variants;
    ties go to the lower variant index.

    Args:
        inst: the batch (``inst.n_variants`` variants; one if it has none).
        objective: scoring, including ``accuracy_mode`` / ``accuracy_weight``.
        allowed: optional (B, V) or (V,) mask of variants to consider (e.g. only
            the most accurate: placement-only offloading). An instance with no
            allowed variant gets variant 0's optimum at infinite cost.
        extra_unary: optional (B, K) cost added to every subtask's execution
            cost at each place, in objective units (e.g. an expected edge wait).
        sites: optional :class:`~simoffload.model.cost.SiteTopology` (several
            sites or link latency): each variant is then solved over the K
            places with :func:`solve_places`.

    Returns:
        (B,) variants, (B, n) placements and (B,) objective values (including the accuracy term).
    """
    B, V = len(inst), inst.n_variants
    acc_cost = accuracy_cost(inst.accuracy, inst.requirement, objective.accuracy_mode, objective.accuracy_weight)
    if allowed is not None:
        acc_cost = np.where(np.broadcast_to(np.asarray(allowed, dtype=bool), (B, V)), acc_cost, np.inf)
    places = np.empty((B, V, inst.graph.n), dtype=np.int64)
    total = np.empty((B, V))
    for k in range(V):
        sub = inst.variant(k)
        if sites is not None:
            from .cost import place_coefficients

            coef = place_coefficients(sub, sites, objective)
        else:
            coef = coefficients(sub, objective)
        if extra_unary is not None:
            coef.unary = coef.unary + np.asarray(extra_unary, dtype=float)[:, None, :]
        places[:, k], c = (solve_places if sites is not None else solve)(coef, sub.graph, sub.data)
        total[:, k] = c + acc_cost[:, k]
    with np.errstate(invalid="ignore"):
        best = np.argmin(np.where(np.isnan(total), np.inf, total), axis=1)
    rows = np.arange(B)
    return best.astype(np.int64), places[rows, best], total[rows, best]
