"""The closed-form cost model (paper Sec. 3.2), vectorised over batches.

Every objective here (latency, device energy, and their weighted sum) has the
same shape, which the solvers exploit:

* a *unary* cost ``unary[b, v, place]`` for running subtask ``v`` at ``place``;
* a *transfer* cost for each data edge: its bytes times a per-byte weight of
  every hop the data crosses. The places lie on a line device(0) - edge(1) -
  cloud(2); hop 0 joins device and edge, hop 1 edge and cloud. Moving data
  "up" (to a higher place) across hop ``h`` costs ``up[b, h]`` per byte,
  moving it "down" costs ``down[b, h]`` per byte.

For latency: unary = cycles / (p1, p2, p3), up = (1/b1, 1/b2),
down = (1/b1_down, 1/b2_down); device->cloud therefore costs d/b1 + d/b2, as
the paper's relay through the edge.

Propagation delay adds a *per-transfer* constant: a data edge with d > 0
bytes that crosses hop ``h`` upward also costs ``lat_up[b, h]`` (the hop's
one-way latency, times the latency weight), downward ``lat_down[b, h]``;
device->cloud pays both hops' latencies. A zero-byte edge is no transfer and
pays nothing (as in the engine). Energy has no latency term: the radio is
busy for d/b, not while the signal propagates. For device energy: unary =
(kappa * p1^2 * cycles, 0, 0), up = (P_tx / b1, 0), down = (P_rx / b1_down, 0).

A placement ``I`` is an integer array (..., n) with 0 device, 1 edge,
2 cloud; the device input (edge source -1) and output (destination n) are
pinned to the device. The cost of a DAG is the sum of all execution and
transfer costs (serial execution, as in the paper).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .task import Instances, TaskGraph


@dataclass(frozen=True)
class Objective:
    """What a placement is scored by, and the device energy model.

    Attributes:
        latency_weight: weight of latency (seconds).
        energy_weight: weight of device energy (joules).
        kappa: effective switched capacitance; local energy = kappa * p1^2 * cycles (J).
        tx_power_w: device transmit power while sending to the edge (W).
        rx_power_w: device receive power while receiving from the edge (W).
        accuracy_mode: how a task variant's accuracy enters, for tasks with an
            accuracy requirement: ``"constrain"`` (a variant below the
            requirement is infeasible) or ``"penalty"`` (it costs
            ``accuracy_weight * (requirement - accuracy)`` extra); see
            :mod:`simoffload.model.variants`.
        accuracy_weight: objective units per unit of accuracy shortfall (a
            fraction) in ``penalty`` mode; 10 s charges 0.1 s per point short.
    """

    latency_weight: float = 1.0
    energy_weight: float = 0.0
    kappa: float = 1e-27
    tx_power_w: float = 0.5
    rx_power_w: float = 0.5
    accuracy_mode: str = "constrain"
    accuracy_weight: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; the accuracy fields only when not at their defaults (older files stay equal)."""
        d = asdict(self)
        if d["accuracy_mode"] == "constrain" and d["accuracy_weight"] == 0.0:
            del d["accuracy_mode"], d["accuracy_weight"]
        return d


LATENCY = Objective()


@dataclass
class Coefficients:
    """Per-instance cost coefficients: unary (B, n, 3), up (B, 2), down (B, 2) per byte,
    and the per-transfer latency terms lat_up (B, 2), lat_down (B, 2) (``None``: zero)."""

    unary: np.ndarray
    up: np.ndarray
    down: np.ndarray
    lat_up: np.ndarray | None = None
    lat_down: np.ndarray | None = None

    def __getitem__(self, idx: Any) -> "Coefficients":
        """The coefficients of a slice of the batch."""
        return Coefficients(self.unary[idx], self.up[idx], self.down[idx],
                            None if self.lat_up is None else self.lat_up[idx],
                            None if self.lat_down is None else self.lat_down[idx])

    @property
    def has_latency(self) -> bool:
        return self.lat_up is not None or self.lat_down is not None

    def latency_matrix(self) -> np.ndarray | None:
        """(B, 3, 3) per-transfer cost of moving a non-empty payload from place a to place b (``None``: zero)."""
        if not self.has_latency:
            return None
        B = self.up.shape[0]
        lu = np.zeros((B, 2)) if self.lat_up is None else self.lat_up
        ld = np.zeros((B, 2)) if self.lat_down is None else self.lat_down
        return Coefficients(self.unary, lu, ld).hop_matrix()

    def hop_matrix(self) -> np.ndarray:
        """(B, 3, 3) per-byte cost of moving data from place a to place b."""
        u0, u1 = self.up[:, 0], self.up[:, 1]
        w0, w1 = self.down[:, 0], self.down[:, 1]
        z = np.zeros_like(u0)
        with np.errstate(invalid="ignore"):
            rows = [
                [z, u0, u0 + u1],
                [w0, z, u1],
                [w0 + w1, w1, z],
            ]
        return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def _inv(x: np.ndarray) -> np.ndarray:
    """1/x with 1/0 = inf (a zero bandwidth or speed makes that option infinitely slow)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(x > 0, 1.0 / np.where(x > 0, x, 1.0), np.inf)


def latency_coefficients(inst: Instances) -> Coefficients:
    c = inst.cycles
    p3 = np.broadcast_to(np.asarray(inst.p3, dtype=float), (len(inst),))
    unary = np.stack(
        [c * _inv(inst.p1)[:, None], c * _inv(inst.p2)[:, None],
         np.where(np.isinf(p3)[:, None], 0.0, c * _inv(p3)[:, None])],
        axis=-1,
    )
    unary = np.where(c[..., None] == 0, 0.0, unary)  # zero cycles take zero time even on a stalled CPU
    up = np.stack([_inv(inst.up1), _inv(inst.up2)], axis=-1)
    down = np.stack([_inv(inst.down1), _inv(inst.down2)], axis=-1)
    lat_up = lat_down = None
    if inst.has_latency:
        lat_up = np.stack([inst.lat_up1, inst.lat_up2], axis=-1)
        lat_down = np.stack([inst.lat_down1, inst.lat_down2], axis=-1)
    return Coefficients(unary, up, down, lat_up, lat_down)


def energy_coefficients(inst: Instances, obj: Objective) -> Coefficients:
    c = inst.cycles
    z = np.zeros_like(c)
    unary = np.stack([obj.kappa * (inst.p1**2)[:, None] * c, z, z], axis=-1)
    zb = np.zeros(len(inst))
    up = np.stack([obj.tx_power_w * _inv(inst.up1), zb], axis=-1)
    down = np.stack([obj.rx_power_w * _inv(inst.down1), zb], axis=-1)
    if obj.tx_power_w == 0:
        up[:, 0] = 0.0
    if obj.rx_power_w == 0:
        down[:, 0] = 0.0
    return Coefficients(unary, up, down)


def coefficients(inst: Instances, obj: Objective = LATENCY) -> Coefficients:
    """Cost coefficients of ``obj`` for every instance of the batch."""
    parts = []
    if obj.latency_weight:
        parts.append((obj.latency_weight, latency_coefficients(inst)))
    if obj.energy_weight:
        parts.append((obj.energy_weight, energy_coefficients(inst, obj)))
    if not parts:
        raise ValueError("the objective needs a non-zero latency_weight or energy_weight")
    w, c = parts[0]
    out = Coefficients(w * c.unary, w * c.up, w * c.down)
    for w, c in parts[1:]:
        out = Coefficients(out.unary + w * c.unary, out.up + w * c.up, out.down + w * c.down)
    if obj.latency_weight and inst.has_latency:  # only latency has per-transfer terms
        lc = parts[0][1]
        out.lat_up, out.lat_down = obj.latency_weight * lc.lat_up, obj.latency_weight * lc.lat_down
    return out


def edge_cost_matrices(coef: Coefficients, data: np.ndarray) -> np.ndarray:
    """(B, m, 3, 3) transfer cost of each data edge for each (from, to) pair of places.

    Bytes times the per-byte hop costs, plus the hops' latency terms; an edge of zero bytes costs nothing.
    """
    hop = coef.hop_matrix()  # (B, 3, 3)
    d = data[:, :, None, None]
    lat = coef.latency_matrix()
    with np.errstate(invalid="ignore"):
        if lat is None:
            return np.where(d > 0, d * hop[:, None, :, :], 0.0)
        return np.where(d > 0, d * hop[:, None, :, :] + lat[:, None, :, :], 0.0)


def evaluate(coef: Coefficients, graph: TaskGraph, data: np.ndarray, placements: Any) -> np.ndarray:
    """Cost of one placement per instance.

    Args:
        coef: from :func:`coefficients` (batch B).
        graph: task structure (n subtasks, m edges).
        data: (B, m) bytes per data edge.
        placements: (B, n), or (1, n) / (n,) applied to every instance.

    Returns:
        (B,) costs. For K shared placements scored on every instance use :func:`evaluate_all`.
    """
    B = coef.unary.shape[0]
    n = graph.n
    P = np.asarray(placements, dtype=np.int64)
    P = np.broadcast_to(P.reshape(-1, n) if P.ndim == 1 else P, (B, n)) if P.ndim == 1 or P.shape[0] == 1 else P
    if P.shape != (B, n):
        raise ValueError(f"placements must have shape ({B}, {n}), got {P.shape}")
    if P.size and (P.min() < 0 or P.max() > 2):
        raise ValueError("placements must be 0 (device), 1 (edge) or 2 (cloud)")
    pair = edge_cost_matrices(coef, data).reshape(B, graph.m, 9)
    total = np.take_along_axis(coef.unary, P[:, :, None], axis=2)[:, :, 0].sum(axis=1)
    ext = np.concatenate([P, np.zeros((B, 1), dtype=np.int64)], axis=1)  # index n -> device output
    a = np.where(graph.src[None, :] < 0, 0, ext[:, np.maximum(graph.src, 0)])
    b = ext[:, graph.dst]
    return total + np.take_along_axis(pair, (3 * a + b)[:, :, None], axis=2)[:, :, 0].sum(axis=1)


def evaluate_all(coef: Coefficients, graph: TaskGraph, data: np.ndarray, P: np.ndarray,
                 pair: np.ndarray | None = None) -> np.ndarray:
    """(B, K) cost of each of K shared placements ``P`` (K, n) for every instance."""
    B = coef.unary.shape[0]
    if pair is None:
        pair = edge_cost_matrices(coef, data).reshape(B, graph.m, 9)
    total = np.zeros((B, P.shape[0]))
    for v in range(graph.n):
        total += coef.unary[:, v, :][:, P[:, v]]
    ext = np.concatenate([P, np.zeros((P.shape[0], 1), dtype=np.int64)], axis=1)
    for k in range(graph.m):
        s, d = int(graph.src[k]), int(graph.dst[k])
        a = np.zeros(P.shape[0], dtype=np.int64) if s < 0 else ext[:, s]
        total += pair[:, k, :][:, 3 * a + ext[:, d]]
    return total


def cost(inst: Instances, placements: Any, obj: Objective = LATENCY) -> np.ndarray:
    """Objective value of one placement per instance: (B, n) -> (B,)."""
    return evaluate(coefficients(inst, obj), inst.graph, inst.data, placements)


def latency(inst: Instances, placements: Any) -> np.ndarray:
    """End-to-end latency L(S, I) in seconds, (B, n) placements -> (B,)."""
    return cost(inst, placements, LATENCY)


def energy(inst: Instances, placements: Any, obj: Objective = LATENCY) -> np.ndarray:
    """Device energy in joules (the energy parameters of ``obj``), (B, n) -> (B,)."""
    e = energy_coefficients(inst, obj)
    return evaluate(e, inst.graph, inst.data, placements)


def coefficients_one(cycles: Any, p1: float, p2: float, b1: float, b2: float,
                     b1_down: float | None = None, b2_down: float | None = None,
                     p3: float = float("inf"), obj: Objective = LATENCY
                     ) -> tuple[list[tuple[float, float, float]], tuple[float, float], tuple[float, float]]:
    """The coefficients of :func:`coefficients` for ONE instance, in plain Python floats.

    Same formulas, evaluated in the same order as the vectorised path, so the
    values are bit-for-bit equal (tested); it exists because numpy's per-call
    overhead dominates a single small decision, which the engine may time on
    the wall clock.

    Returns:
        ``unary`` (n tuples of 3 costs), ``up`` (hop 0, hop 1) and ``down`` (hop 0, hop 1) per-byte costs.
    """
    inf = float("inf")

    def inv(x: float) -> float:
        return 1.0 / x if x > 0 else inf

    lw, ew = obj.latency_weight, obj.energy_weight
    if not lw and not ew:
        raise ValueError("the objective needs a non-zero latency_weight or energy_weight")
    cyc = cycles.tolist() if hasattr(cycles, "tolist") else list(cycles)
    b1d = b1 if b1_down is None else b1_down
    b2d = b2 if b2_down is None else b2_down
    unary: list[tuple[float, float, float]] = []
    up = [0.0, 0.0]
    down = [0.0, 0.0]
    if lw:
        i1, i2 = inv(p1), inv(p2)
        i3 = None if p3 == inf else inv(p3)
        for c in cyc:
            if c == 0:
                unary.append((0.0, 0.0, 0.0))
            else:
                unary.append((lw * (c * i1), lw * (c * i2), 0.0 if i3 is None else lw * (c * i3)))
        up = [lw * inv(b1), lw * inv(b2)]
        down = [lw * inv(b1d), lw * inv(b2d)]
    if ew:
        k = obj.kappa * (p1 * p1)
        e = [ew * (k * c) for c in cyc]
        if lw:
            unary = [(u0 + x, u1 + 0.0, u2 + 0.0) for (u0, u1, u2), x in zip(unary, e)]
        else:
            unary = [(x, 0.0, 0.0) for x in e]
        eu = ew * (obj.tx_power_w * inv(b1)) if obj.tx_power_w else 0.0
        ed = ew * (obj.rx_power_w * inv(b1d)) if obj.rx_power_w else 0.0
        up = [up[0] + eu, up[1] + 0.0]
        down = [down[0] + ed, down[1] + 0.0]
    return unary, (up[0], up[1]), (down[0], down[1])


def hop_rows(up: tuple[float, float], down: tuple[float, float]) -> tuple[tuple[float, float, float], ...]:
    """Per-byte cost of moving data from place a (row) to place b (column), as :meth:`Coefficients.hop_matrix`."""
    u0, u1 = up
    w0, w1 = down
    return ((0.0, u0, u0 + u1), (w0, 0.0, u1), (w0 + w1, w1, 0.0))


# ----------------------------------------------------------------------------- several edge sites (K places)
#
# With several edge sites a subtask may run on the device (0), the device's own site (1, the site its
# device is associated with when the task is decided), the cloud (2), or another edge site reachable over
# the MAN (3, 4, ...: code 2 + j names the j-th reachable other site, j >= 1, in the order the observation
# lists them). The places no longer lie on a line, so the transfer cost is a general K x K matrix: a per-byte
# part (the bandwidth integral of every hop crossed, store-and-forward) plus a fixed part per transfer (the
# one-way propagation latency of every hop crossed). Routes: device <-> any site relays through the own site
# (wireless, then the MAN route); device <-> cloud through the own site's WAN; site <-> cloud over that
# site's own WAN; site <-> site over the MAN route between them.


@dataclass
class SiteTopology:
    """What the cost model needs about the reachable edge sites, per instance (own site first).

    Sites are in *relative* order: index 0 is the device's own site (place code 1), index j >= 1 is
    place code 2 + j. All arrays are over a batch of B instances and S reachable sites.

    Attributes:
        site_hz: (B, S) speed of one core of each site.
        wan_up_Bps, wan_down_Bps: (B, S) each site's WAN bandwidth to / from the cloud.
        man_Bps: (B, S, S) effective bandwidth of the MAN route from site i to site j: a d-byte
            transfer takes d / man_Bps[i, j] seconds of bandwidth time (store-and-forward over the
            route's hops: 1 / sum(1 / b_hop)); the diagonal is ignored.
        man_latency_s: (B, S, S) one-way propagation latency of the route i -> j.
        wan_latency_s: (B, S) one-way propagation latency of each site's WAN.
        wireless_latency_s: (B,) one-way propagation latency of the device's wireless hop.
    """

    site_hz: np.ndarray
    wan_up_Bps: np.ndarray
    wan_down_Bps: np.ndarray
    man_Bps: np.ndarray
    man_latency_s: np.ndarray | None = None
    wan_latency_s: np.ndarray | None = None
    wireless_latency_s: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.site_hz = np.atleast_2d(np.asarray(self.site_hz, dtype=float))
        B, S = self.site_hz.shape
        self.wan_up_Bps = np.broadcast_to(np.asarray(self.wan_up_Bps, dtype=float), (B, S))
        self.wan_down_Bps = np.broadcast_to(np.asarray(self.wan_down_Bps, dtype=float), (B, S))
        self.man_Bps = np.broadcast_to(np.asarray(self.man_Bps, dtype=float), (B, S, S))
        z = np.zeros
        self.man_latency_s = z((B, S, S)) if self.man_latency_s is None else np.broadcast_to(
            np.asarray(self.man_latency_s, dtype=float), (B, S, S))
        self.wan_latency_s = z((B, S)) if self.wan_latency_s is None else np.broadcast_to(
            np.asarray(self.wan_latency_s, dtype=float), (B, S))
        self.wireless_latency_s = z(B) if self.wireless_latency_s is None else np.broadcast_to(
            np.asarray(self.wireless_latency_s, dtype=float), (B,))

    @property
    def sites(self) -> int:
        return self.site_hz.shape[1]

    @property
    def places(self) -> int:
        """K = 2 + S: device, cloud and every reachable site."""
        return 2 + self.site_hz.shape[1]


def site_of_place(K: int) -> np.ndarray:
    """(K,) relative site index of each place code (-1 for device and cloud)."""
    out = np.full(K, -1, dtype=np.int64)
    out[1] = 0
    out[3:] = np.arange(1, K - 2)
    return out


@dataclass
class PlaceCoefficients:
    """Cost coefficients over K general places: ``unary`` (B, n, K), ``per_byte`` and ``fixed`` (B, K, K).

    Moving d > 0 bytes from place a to place b costs ``d * per_byte[a, b] + fixed[a, b]`` (zero when
    a == b or d == 0).
    """

    unary: np.ndarray
    per_byte: np.ndarray
    fixed: np.ndarray

    @property
    def places(self) -> int:
        return self.unary.shape[2]

    @classmethod
    def from_line(cls, coef: Coefficients) -> "PlaceCoefficients":
        """The 3-place (device / edge / cloud) coefficients as a general K = 3 matrix, no latency."""
        pb = coef.hop_matrix()
        return cls(coef.unary, pb, np.zeros_like(pb))


def place_coefficients(inst: Instances, topo: SiteTopology, obj: Objective = LATENCY) -> PlaceCoefficients:
    """Cost coefficients of ``obj`` over device, cloud and the reachable sites of ``topo``.

    ``inst`` gives the task, the device (``p1``), the wireless bandwidth (``b1``, ``b1_down``) and the
    cloud speed (``p3``); its ``p2`` / ``b2`` are ignored (``topo`` holds every site's). Device energy
    counts local execution and the device's own radio time (transmit on the wireless uplink, receive on
    the downlink), never the propagation latency. Vectorised over the batch.
    """
    lw, ew = obj.latency_weight, obj.energy_weight
    if not lw and not ew:
        raise ValueError("the objective needs a non-zero latency_weight or energy_weight")
    B, n = inst.cycles.shape
    S = topo.sites
    K = 2 + S
    if topo.site_hz.shape[0] != B:
        raise ValueError(f"topology batch {topo.site_hz.shape[0]} != instances {B}")
    c = inst.cycles
    sp = site_of_place(K)
    unary = np.zeros((B, n, K))
    per_byte = np.zeros((B, K, K))
    fixed = np.zeros((B, K, K))
    site_cols = np.flatnonzero(sp >= 0)  # place codes of sites, in relative site order
    sites = sp[site_cols]
    wu, wd = _inv(inst.up1), _inv(inst.down1)  # (B,) s/byte on the wireless hop
    if lw:
        p3 = np.broadcast_to(np.asarray(inst.p3, dtype=float), (B,))
        lat = np.zeros((B, n, K))
        lat[:, :, 0] = c * _inv(inst.p1)[:, None]
        lat[:, :, 2] = np.where(np.isinf(p3)[:, None], 0.0, c * _inv(p3)[:, None])
        lat[:, :, site_cols] = c[:, :, None] * _inv(topo.site_hz)[:, None, sites]
        lat = np.where(c[..., None] == 0, 0.0, lat)
        M = _inv(topo.man_Bps)  # (B, S, S)
        idx = np.arange(S)
        M[:, idx, idx] = 0.0
        L = np.array(topo.man_latency_s, dtype=float)
        L[:, idx, idx] = 0.0
        Wu, Wd = _inv(topo.wan_up_Bps), _inv(topo.wan_down_Bps)
        wl, WL = topo.wireless_latency_s, topo.wan_latency_s
        pb = np.zeros((B, K, K))
        fx = np.zeros((B, K, K))
        with np.errstate(invalid="ignore"):
            # site <-> site over the MAN
            pb[:, site_cols[:, None], site_cols[None, :]] = M[:, sites[:, None], sites[None, :]]
            fx[:, site_cols[:, None], site_cols[None, :]] = L[:, sites[:, None], sites[None, :]]
            # device <-> site: wireless to/from the own site (0), then the MAN route
            pb[:, 0, site_cols] = wu[:, None] + M[:, 0, sites]
            fx[:, 0, site_cols] = wl[:, None] + L[:, 0, sites]
            pb[:, site_cols, 0] = M[:, sites, 0] + wd[:, None]
            fx[:, site_cols, 0] = L[:, sites, 0] + wl[:, None]
            # site <-> cloud over the site's own WAN
            pb[:, site_cols, 2] = Wu[:, sites]
            fx[:, site_cols, 2] = WL[:, sites]
            pb[:, 2, site_cols] = Wd[:, sites]
            fx[:, 2, site_cols] = WL[:, sites]
            # device <-> cloud through the own site's WAN
            pb[:, 0, 2] = wu + Wu[:, 0]
            fx[:, 0, 2] = wl + WL[:, 0]
            pb[:, 2, 0] = Wd[:, 0] + wd
            fx[:, 2, 0] = WL[:, 0] + wl
        unary += lw * lat
        per_byte += lw * pb
        fixed += lw * fx
    if ew:
        unary[:, :, 0] += ew * (obj.kappa * (inst.p1**2)[:, None] * c)
        not_dev = np.arange(1, K)
        if obj.tx_power_w:
            per_byte[:, 0, not_dev] += (ew * (obj.tx_power_w * wu))[:, None]
        if obj.rx_power_w:
            per_byte[:, not_dev, 0] += (ew * (obj.rx_power_w * wd))[:, None]
    return PlaceCoefficients(unary, per_byte, fixed)


def place_edge_costs(coef: PlaceCoefficients, data: np.ndarray) -> np.ndarray:
    """(B, m, K, K) cost of each data edge for each (from, to) pair of places."""
    d = np.asarray(data, dtype=float)[:, :, None, None]
    K = coef.places
    eye = np.eye(K, dtype=bool)
    with np.errstate(invalid="ignore"):
        c = d * coef.per_byte[:, None, :, :] + coef.fixed[:, None, :, :]
        return np.where((d > 0) & ~eye, c, 0.0)


def evaluate_places(coef: PlaceCoefficients, graph: TaskGraph, data: np.ndarray, P: np.ndarray,
                    pair: np.ndarray | None = None) -> np.ndarray:
    """(B, R) cost of each of R shared placements ``P`` (R, n) over K places for every instance."""
    B, _, K = coef.unary.shape
    P = np.atleast_2d(np.asarray(P, dtype=np.int64))
    if P.size and (P.min() < 0 or P.max() >= K):
        raise ValueError(f"place codes must lie in 0..{K - 1}")
    if pair is None:
        pair = place_edge_costs(coef, data).reshape(B, graph.m, K * K)
    total = np.zeros((B, P.shape[0]))
    for v in range(graph.n):
        total += coef.unary[:, v, :][:, P[:, v]]
    ext = np.concatenate([P, np.zeros((P.shape[0], 1), dtype=np.int64)], axis=1)
    for k in range(graph.m):
        s, d = int(graph.src[k]), int(graph.dst[k])
        a = np.zeros(P.shape[0], dtype=np.int64) if s < 0 else ext[:, s]
        total += pair[:, k, :][:, K * a + ext[:, d]]
    return total


def evaluate_places_each(coef: PlaceCoefficients, graph: TaskGraph, data: np.ndarray, P: np.ndarray) -> np.ndarray:
    """(B,) cost of one placement per instance, ``P`` (B, n)."""
    B, _, K = coef.unary.shape
    P = np.asarray(P, dtype=np.int64).reshape(B, graph.n)
    pair = place_edge_costs(coef, data).reshape(B, graph.m, K * K)
    total = np.take_along_axis(coef.unary, P[:, :, None], axis=2)[:, :, 0].sum(axis=1)
    ext = np.concatenate([P, np.zeros((B, 1), dtype=np.int64)], axis=1)
    a = np.where(graph.src[None, :] < 0, 0, ext[:, np.maximum(graph.src, 0)])
    b = ext[:, graph.dst]
    return total + np.take_along_axis(pair, (K * a + b)[:, :, None], axis=2)[:, :, 0].sum(axis=1)
