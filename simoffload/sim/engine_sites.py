"""The engine with several edge sites, a MAN between them, and devices that hand over between sites.

This is part of the engine (a subclass of :class:`~simoffload.sim.engine.Simulation`); it is used only
when a scenario's ``edge:`` is a list of sites, so the one-edge path of ``engine.py`` runs unchanged.

Places. Internally a subtask runs on the device (0), the cloud (2) or edge site ``s`` (``3 + s``, the
absolute site index). A policy answers in *relative* codes: 0 device, 1 the device's own site (the site
that received the decision request), 2 cloud, ``2 + j`` the j-th other reachable site listed in the
observation's ``other_sites`` (j >= 1). The engine resolves them once, at decision time.

Routes (store-and-forward at every site, propagation latency added after the last byte of each hop):

* device -> site X: the wireless uplink to the device's current site c, then the MAN route c -> X;
* site X -> device: the MAN route from X to the device's current site c, then c's wireless downlink
  (if the device has moved on in the meantime, the data follows it over the MAN again);
* site X <-> cloud: X's own WAN; device <-> cloud: through the device's current site's WAN;
* site X -> site Y: the MAN route between them (fewest propagation latency, ties by hop count).

Handover. The association of every device is known in advance (fixed, nearest site of a mobility model,
or a trace): a list of (time, device, new site). At a handover, a wireless transfer of that device in
flight follows the topology's ``handover`` rule:

* ``continue``: it goes on, at the new cell's rate from the handover on (the device's wireless bandwidth
  model already switches cell then), and its bytes arrive at the new site;
* ``restart``: the bytes sent so far are lost, and the whole transfer starts again over the new cell;
* ``fail``: the task fails with reason ``handover``.

Data already at a site (results computed at the old site) reach the device through the MAN.
"""

from __future__ import annotations

import inspect
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import simpy

from ..model.cost import SiteTopology
from ..net.bandwidth import BandwidthModel, ConstantBandwidth
from ..net.channels import OracleEstimator as _ChannelOracle
from ..policy import Observation, check_decision
from .deadlines import is_deadline_miss
from .engine import CLOUD, DEVICE, TASK_FIELDS, Cpu, Link, OracleEstimator, PolicyError, Simulation, _TaskState

PLACE_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"
_SITE_COL, _PLACE_COL, _STATUS_COL = TASK_FIELDS.index("site"), TASK_FIELDS.index("placement"), TASK_FIELDS.index("status")
_ARRIVAL_COL, _DEADLINE_COL = TASK_FIELDS.index("arrival_s"), TASK_FIELDS.index("deadline_s")
_base_row = Simulation._task_row
_INT64 = np.dtype(np.int64)
_WAITING, _BUSY = operator.attrgetter("waiting"), operator.attrgetter("busy")  # a Cpu's queue and busy cores


@dataclass
class SiteSpec:
    """One edge site: ``cores`` x ``speed_hz``, its WAN to the cloud, an optional position (m)."""

    name: str
    cores: int
    speed_hz: float
    wan_up: BandwidthModel
    wan_down: BandwidthModel
    wan_latency_s: float = 0.0
    position: tuple[float, float] | None = None


@dataclass
class ManLinkSpec:
    """A MAN link between sites ``a`` and ``b``: a->b and b->a bandwidth models, one-way latency."""

    a: int
    b: int
    ab: BandwidthModel
    ba: BandwidthModel
    latency_s: float = 0.0


@dataclass
class Topology:
    """Edge sites, the MAN, where each device is, and what a handover does.

    Attributes:
        sites: the edge sites (index = absolute site id).
        man: MAN links between sites.
        reach: ``"own"`` (placements name the own site only: the 0/1/2 codes) or ``"man"``
            (also every site reachable over the MAN, codes 3..).
        association: (devices,) the site each device is associated with at time 0.
        handovers: sorted (time_s, device, new_site) association changes.
        handover: ``"continue"``, ``"restart"`` or ``"fail"`` (module docstring).
        wireless_latency_s: one-way propagation latency of the wireless hop.
    """

    sites: list[SiteSpec]
    man: list[ManLinkSpec] = field(default_factory=list)
    reach: str = "own"
    association: list[int] = field(default_factory=list)
    handovers: list[tuple[float, int, int]] = field(default_factory=list)
    handover: str = "continue"
    wireless_latency_s: float = 0.0

    def routes(self) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """Directed MAN route between every connected pair of sites, as a list of (from, to) links."""
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(len(self.sites)))
        for k, l in enumerate(self.man):
            g.add_edge(l.a, l.b, w=(l.latency_s, 1, k))
        out: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for a in range(len(self.sites)):
            paths = nx.single_source_dijkstra_path(g, a, weight=lambda u, v, d: d["w"][0] + 1e-12 * d["w"][1])
            for b, path in paths.items():
                out[(a, b)] = list(zip(path[:-1], path[1:]))
        return out


class _NoWork:
    """The work entry of a chain task before its first step: nothing to withdraw."""

    def cancel(self, ev: Any) -> None:
        pass


_NO_WORK = _NoWork()


class _Wire:
    """One wireless transfer in flight (so a handover can apply its rule to it)."""

    __slots__ = ("link", "nbytes", "flow", "done", "st")

    def __init__(self, link: Link, nbytes: float, flow: simpy.Event, done: simpy.Event, st: _TaskState):
        self.link, self.nbytes, self.flow, self.done, self.st = link, nbytes, flow, done, st


class SiteSimulation(Simulation):
    """One run of one policy over a system with several edge sites (``spec.topology``)."""

    def __init__(self, spec: Any, policy: Any, policy_name: str, on_task_done: Any = None):
        super().__init__(spec, policy, policy_name, on_task_done)
        topo: Topology = spec.topology
        self.topo = topo
        env = self.env

        def mk(name: str, model: BandwidthModel) -> Link:
            return Link(env, name, model, spec.sharing, self._sink(name, "transfer"), self._sink(name, "flows"))

        self.site_cpu = [Cpu(env, f"{s.name}_cpu", s.cores, s.speed_hz, self._sink(f"{s.name}_cpu", "queue"))
                         for s in topo.sites]
        self.edge_cpu = self.site_cpu[0]
        self.site_wan_up = [mk(f"{s.name}_wan_up", s.wan_up) for s in topo.sites]
        self.site_wan_down = [mk(f"{s.name}_wan_down", s.wan_down) for s in topo.sites]
        self.man_link: dict[tuple[int, int], tuple[Link, float]] = {}
        names = [s.name for s in topo.sites]
        for l in topo.man:
            self.man_link[(l.a, l.b)] = (mk(f"man_{names[l.a]}_{names[l.b]}", l.ab), l.latency_s)
            self.man_link[(l.b, l.a)] = (mk(f"man_{names[l.b]}_{names[l.a]}", l.ba), l.latency_s)
        self.routes = topo.routes()
        S = len(topo.sites)
        self.reachable = [sorted(b for (a, b) in self.routes if a == s and b != s) if topo.reach == "man" else []
                          for s in range(S)]
        self.assoc = list(topo.association) or [0] * len(spec.devices)
        self.wires: list[list[_Wire]] = [[] for _ in spec.devices]
        self._abs: dict[int, Any] = {}  # task id -> absolute places (a chain of the flat path: the deciding site)
        self.site_busy_s = [0.0] * S
        self.site_subtasks = [0] * S
        self._decision_cpu: dict[int, Cpu] = {}
        self._topo_cache: dict[tuple, SiteTopology] = {}
        try:
            self._ops_take_places = "places" in inspect.signature(policy.decision_ops).parameters
        except (TypeError, ValueError):
            self._ops_take_places = False
        # a chain task runs as one flat generator unless a subclass changes how chains run here
        self._flat_chain = all(getattr(type(self), m) is getattr(SiteSimulation, m)
                               for m in ("_run_chain", "_move", "_execute", "_execute_site", "_fixed", "_wireless"))
        self._plain_wireless = (topo.handover == "continue" or not topo.handovers) and not topo.wireless_latency_s > 0
        self.wl_lat = topo.wireless_latency_s
        self._latency = self.wl_lat > 0 or any(x.wan_latency_s > 0 for x in topo.sites) or any(
            x.latency_s > 0 for x in topo.man)
        self._modelled_here = spec.decision_time == "modelled"
        self._ops_places_at = [bool(self._ops_take_places and self.reachable[x]) for x in range(S)]
        self._own_only = not any(self.reachable)  # placements hold the codes 0, 1, 2 only
        self._site_counts: list[list[int]] | None = None  # per site, filled while rows are made (run())
        # a decision that sends nothing over the air is taken inside the task's own generator
        self._instant_sites = (type(self)._decide is SiteSimulation._decide and not self._external
                               and not spec.request_bytes > 0 and not spec.reply_bytes > 0)
        # a chain task may run on the line device - own site - cloud (:meth:`_chain_task`) when no wireless
        # transfer is watched for a handover rule, its device never changes site (``_still``) and its
        # placement names no other site
        self._line = topo.handover == "continue" or not topo.handovers
        self._still = [True] * len(spec.devices)
        for _, dev, _ in topo.handovers:
            self._still[dev] = False
        # the observation is Simulation._observe's with the deciding site's fields: built in one go when
        # the base's is the plain one (no latency fields); tests/test_sites_fast.py compares the two
        self._own_observe = type(self)._observe is Simulation._observe and not self._has_latency
        # per deciding site: the sites in the observation's order, the other sites, their cores
        self._order = [((s, *self.reachable[s]), tuple(self.reachable[s]),
                        tuple(topo.sites[x].cores for x in (s, *self.reachable[s]))) for s in range(S)]
        # the estimates of constant capacities under the oracle estimator never change: the reachable sites'
        # description is then built once per deciding site
        models = [x.model for x in (*self.site_wan_up, *self.site_wan_down)] + [l.model for l, _ in self.man_link.values()]
        oracle = type(spec.estimator) in (OracleEstimator, _ChannelOracle)
        static = oracle and all(type(m) is ConstantBandwidth for m in models)
        self._static_topo: dict[int, SiteTopology] | None = {} if static else None
        # per-task constants, looked up once per run rather than attribute by attribute on every task:
        # per site, (its CPU, speed, cores, WAN up, WAN down, WAN latency); the place codes a policy may answer
        self._site_row = [(self.site_cpu[x], topo.sites[x].speed_hz, topo.sites[x].cores, self.site_wan_up[x],
                           self.site_wan_down[x], topo.sites[x].wan_latency_s) for x in range(S)]
        self._places = [3 + len(self.reachable[x]) for x in range(S)]
        self._order_cpus = [tuple(self.site_cpu[x] for x in order) for order, _, _ in self._order]
        # per deciding site: the last read-only answer taken as it is (a static policy's one array per task
        # size) and its codes; the same array again needs no check there (_chain_task)
        self._taken_at: list[tuple[np.ndarray, list[int]] | None] = [None] * S
        self._line_consts = (self.wl_lat, self._tx_w, self._rx_w, spec.objective.kappa, spec.cloud_hz,
                             math.isfinite(spec.cloud_hz), self.site_busy_s, self.site_subtasks)
        self._dev_row = list(zip(self.w_up, self.w_down, self.dev_cpu))  # per device: its links and CPU
        # the oracle's estimate of a constant capacity is that capacity at any time: with constant wireless and
        # WAN models the four bandwidths of the one-go observation are then looked up once per (device, site)
        # (per site, per device: filled at the device's first decision there)
        self._static_obs: list[list[tuple | None]] | None = (
            [[None] * len(spec.devices) for _ in range(S)]
            if static and all(type(m) is ConstantBandwidth for d in spec.devices for m in (d.up, d.down)) else None)
        # a free decision of a modelled cost that no policy argument changes (decision_ops(graph) alone), with
        # this class's deciding methods: decided inline in the chain task (_chain_task; the same steps)
        self._decide_inline = (self._modelled_here and not self._ops_take_variants and not any(self._ops_places_at)
                               and all(getattr(type(self), m) is getattr(SiteSimulation, m)
                                       for m in ("_decision_hold_at", "_accept_at", "_decide_held_at")))

    # ---- handover ---------------------------------------------------------------------

    def _mobility(self) -> Iterator[simpy.Event]:
        env = self.env
        for t, dev, site in self.topo.handovers:
            if t >= self.spec.horizon_s:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            if self.assoc[dev] == site:
                continue
            self.assoc[dev] = site
            rule = self.topo.handover
            if rule == "continue":
                continue
            for w in list(self.wires[dev]):
                if w.flow.triggered:
                    continue
                if rule == "restart":
                    w.link.cancel(w.flow)
                    w.flow = w.link.transfer(w.nbytes, w.st.spec.task_id)
                    if w.st.held is not None:
                        w.st.held.append((w.link, w.flow))
                    w.flow.callbacks.append(lambda _, w=w: w.done.succeed() if not w.done.triggered else None)
                else:
                    self.wires[dev].remove(w)
                    self._fail(w.st, "handover")

    def _fail(self, st: _TaskState, reason: str) -> None:
        """The task fails now with ``reason``; its in-flight work is withdrawn (:meth:`Simulation.abandon`)."""
        self.abandon(st, "failed", reason)

    def abandon(self, st: _TaskState, status: str = "failed", reason: str = "") -> None:
        # a core held for the decision may belong to another site than the engine's ``edge_cpu``
        cpu = self._decision_cpu.get(st.spec.task_id)
        other = st.core_held and cpu is not None and cpu is not self.edge_cpu and not st.dead
        if other:
            st.core_held = False
        super().abandon(st, status, reason)
        if other:
            cpu.release_acquired()

    @staticmethod
    def _dead(st: _TaskState) -> bool:
        return st.dead

    # ---- moves --------------------------------------------------------------------------

    def _wireless(self, st: _TaskState, nbytes: float, up: bool) -> Iterator[simpy.Event]:
        dev = st.spec.device
        link = self.w_up[dev] if up else self.w_down[dev]
        env = self.env
        t0 = env.now
        flow = link.transfer(nbytes, st.spec.task_id)
        st.held.append((link, flow))
        if self.topo.handover == "continue" or not self.topo.handovers:
            yield flow
        else:
            done = env.event()
            w = _Wire(link, nbytes, flow, done, st)
            flow.callbacks.append(lambda _: done.succeed() if not done.triggered else None)
            self.wires[dev].append(w)
            yield done
            self.wires[dev].remove(w)
        if st.dead:
            return
        st.energy_j += (self._tx_w if up else self._rx_w) * (env.now - t0)
        if self.wl_lat > 0:
            yield env.timeout(self.wl_lat)

    def _hop(self, st: _TaskState, nbytes: float, link: Link, latency_s: float) -> Iterator[simpy.Event]:
        if st.dead:
            return
        ev = link.transfer(nbytes, st.spec.task_id)
        st.held.append((link, ev))
        yield ev
        if latency_s > 0:
            yield self.env.timeout(latency_s)

    def _fixed(self, st: _TaskState, nbytes: float, a: int, b: int) -> Iterator[simpy.Event]:
        """From place a to place b, neither of them the device (hops inline: this is the hot path)."""
        if a == b:
            return
        if a == CLOUD or b == CLOUD:
            s = b - 3 if a == CLOUD else a - 3
            hops = ((self.site_wan_down[s] if a == CLOUD else self.site_wan_up[s], self.topo.sites[s].wan_latency_s),)
        else:
            route = self.routes.get((a - 3, b - 3))
            if route is None:
                self._fail(st, "no MAN route")
                return
            hops = [self.man_link[hop] for hop in route]
        tid, held, env = st.spec.task_id, st.held, self.env
        for link, lat in hops:
            if st.dead:
                return
            ev = link.transfer(nbytes, tid)
            held.append((link, ev))
            yield ev
            if lat > 0:
                yield env.timeout(lat)

    def _move(self, st: _TaskState, nbytes: float, a: int, b: int) -> Iterator[simpy.Event]:
        dev = st.spec.device
        if a == DEVICE:
            if self._dead(st):  # a dropped or failed task sends nothing more (as Simulation._move)
                return
            if self._plain_wireless:  # the common case inline (no handover rule to apply, no latency)
                env, link = self.env, self.w_up[dev]
                t0 = env.now
                ev = link.transfer(nbytes, st.spec.task_id)
                st.held.append((link, ev))
                yield ev
                st.energy_j += self._tx_w * (env.now - t0)
            else:
                yield from self._wireless(st, nbytes, up=True)
            a = 3 + self.assoc[dev]  # the bytes arrived at the device's cell of the moment
            if b == a or self._dead(st):
                return
        if b == DEVICE:
            while a != 3 + self.assoc[dev]:  # follow the device over the MAN until it stays put
                if self._dead(st):
                    return
                target = 3 + self.assoc[dev]
                yield from self._fixed(st, nbytes, a, target)
                a = target
            if self._dead(st):
                return
            yield from self._wireless(st, nbytes, up=False)
            return
        yield from self._fixed(st, nbytes, a, b)

    def _execute(self, st: _TaskState, v: int, p: int) -> Iterator[simpy.Event]:
        if p < 3:
            return super()._execute(st, v, p)
        return self._execute_site(st, v, p)

    def _execute_site(self, st: _TaskState, v: int, p: int) -> Iterator[simpy.Event]:
        if st.dead:
            return
        cycles = float(st.cycles[v])
        env = self.env
        ready = start = env.now
        s = p - 3
        if cycles > 0:
            cpu = self.site_cpu[s]
            secs = cycles / cpu.speed_hz
            ev = cpu.run(secs)
            st.held.append((cpu, ev))
            yield ev
            if st.dead:
                return
            start = ev.start_s
            self.site_busy_s[s] += secs
        self.site_subtasks[s] += 1
        if self.spec.record_subtasks:
            self.rec.subtasks.put(self.rec.subtasks.pack(st.spec.task_id, v, int(st.placement[v]), ready, start, env.now))
        if st.timings is not None:
            st.timings[v] = (ready, start, env.now)

    # ---- deciding -------------------------------------------------------------------------

    def _site_topology(self, own: int, others: list[int], t: float) -> SiteTopology:
        """What the policy is told about the reachable sites (estimated bandwidths), own site first.

        Built from plain-Python estimates and cached on them, so a decision that sees the same
        estimates as an earlier one (constant links) shares its (read-only) arrays.
        """
        if self._static_topo is not None:  # constant capacities told as they are: one answer per site
            hit = self._static_topo.get(own)
            if hit is None:
                hit = self._static_topo[own] = self._site_topology_now(own, others, t)
            return hit
        return self._site_topology_now(own, others, t)

    def _site_topology_now(self, own: int, others: list[int], t: float) -> SiteTopology:
        """:meth:`_site_topology` from the estimates at ``t``."""
        est = self.spec.estimator
        order = [own] + others
        man_inv = []
        for a in order:
            for b in order:
                inv = 0.0
                if a != b:
                    for hop in self.routes[(a, b)]:
                        r = est.estimate(self.man_link[hop][0].model, t)
                        inv += 1.0 / r if r > 0 else math.inf
                man_inv.append(inv)
        wan_up = tuple(est.estimate(self.site_wan_up[s].model, t) for s in order)
        wan_down = tuple(est.estimate(self.site_wan_down[s].model, t) for s in order)
        key = (own, tuple(man_inv), wan_up, wan_down)
        hit = self._topo_cache.get(key)
        if hit is not None:
            return hit
        S = len(order)
        inv = np.array(man_inv).reshape(S, S)
        with np.errstate(divide="ignore"):
            man = np.where(inv > 0, 1.0 / np.where(inv > 0, inv, 1.0), np.inf)
        lat = np.array([[sum(self.man_link[h][1] for h in self.routes[(a, b)]) if a != b else 0.0 for b in order]
                        for a in order])
        sites = self.topo.sites
        topo = SiteTopology(
            site_hz=np.array([[sites[s].speed_hz for s in order]]),
            wan_up_Bps=np.array([wan_up]), wan_down_Bps=np.array([wan_down]),
            man_Bps=man[None], man_latency_s=lat[None],
            wan_latency_s=np.array([[sites[s].wan_latency_s for s in order]]),
            wireless_latency_s=np.array([self.wl_lat]),
        )
        if len(self._topo_cache) > 4096:
            self._topo_cache.clear()
        self._topo_cache[key] = topo
        return topo

    def _observe_at(self, st: _TaskState, site: int) -> Observation:
        """The engine's observation, with the edge fields of the deciding ``site`` and the reachable sites."""
        spec = self.spec
        est, t = spec.estimator, self.env._now
        cpu, speed_hz, cores, wan_up, wan_down, _ = self._site_row[site]
        if self._own_observe:  # Simulation._observe with the site's fields, built at once
            ts = st.spec
            dev = ts.device
            cache = self._static_obs
            if cache is None:
                b1, b2 = est.estimate(self.w_up[dev].model, t), est.estimate(wan_up.model, t)
                b1d, b2d = est.estimate(self.w_down[dev].model, t), est.estimate(wan_down.model, t)
            else:  # constant capacities under the oracle: the same four estimates at any time
                known = cache[site]
                hit = known[dev]
                if hit is None:
                    hit = known[dev] = (
                        est.estimate(self.w_up[dev].model, t), est.estimate(wan_up.model, t),
                        est.estimate(self.w_down[dev].model, t), est.estimate(wan_down.model, t))
                b1, b2, b1d, b2d = hit
            obs = Observation(
                st.graph, ts.cycles, ts.data, spec.devices[dev].cpu_hz, speed_hz, b1, b2, b1d, b2d,
                spec.cloud_hz, cpu.waiting, cpu.busy, cores, t, dev, spec.objective, site,
                active_devices=self._active_devices, variants=ts.variants, accuracy_req=ts.accuracy_req,
            )
        else:
            obs = self._observe(st)
            obs.p2_hz, obs.edge_queue, obs.edge_busy, obs.edge_cores = speed_hz, cpu.waiting, cpu.busy, cores
            obs.b2_Bps = est.estimate(wan_up.model, t)
            obs.b2_down_Bps = est.estimate(wan_down.model, t)
            obs.site = site
        others = self.reachable[site]
        if others or self._latency:
            _, obs.other_sites, obs.site_cores = self._order[site]
            topo = self._static_topo
            obs.sites = topo[site] if topo is not None and site in topo else self._site_topology(site, others, t)
            cpus = self._order_cpus[site]
            obs.site_queue = tuple(map(_WAITING, cpus))
            obs.site_busy = tuple(map(_BUSY, cpus))
        return obs

    def _decide(self, st: _TaskState) -> Iterator[simpy.Event]:
        """As :meth:`Simulation._decide`, at the site that received the request; resolves the placement."""
        spec = self.spec
        if st.dead:
            return
        if spec.request_bytes > 0:
            yield from self._wireless(st, spec.request_bytes, up=True)
            if st.dead:
                return
        yield from self._decide_held_at(st, *self._decision_hold_at(st))

    def _decision_hold_at(self, st: _TaskState) -> tuple[int, int, float | None, bool]:
        """Once the request has arrived: the deciding site (the device's of the moment), the task's variant
        count, the seconds the decision holds a core there (``None``: measured) and whether it takes a core."""
        spec = self.spec
        site = self.assoc[st.spec.device]  # the site that received the request decides
        n_var = 1 if st.spec.variants is None else len(st.spec.variants)
        if self._modelled_here:
            if (n_var > 1 and self._ops_take_variants) or self._ops_places_at[site]:
                kw: dict[str, int] = {}
                if n_var > 1 and self._ops_take_variants:
                    kw["n_variants"] = n_var
                if self._ops_take_places and self.reachable[site]:
                    kw["places"] = 3 + len(self.reachable[site])  # a policy's count over the places it is offered
                ops = float(self.policy.decision_ops(st.graph, **kw))
            else:
                ops = float(self.policy.decision_ops(st.graph))
            hold = ops * spec.cycles_per_op / self.site_cpu[site].speed_hz
        elif self._draw_cost is not None:
            hold = self._draw_cost()
        else:
            hold = None
        return site, n_var, hold, spec.decision_on_edge_cpu and (hold is None or hold > 0)

    def _decide_held_at(self, st: _TaskState, site: int, n_var: int, hold: float | None,
                        use_core: bool) -> Iterator[simpy.Event]:
        """The decision at ``site`` (see :meth:`_decision_hold_at`): wait for a core, observe, ask, hold, reply."""
        spec, env = self.spec, self.env
        cpu = self.site_cpu[site]
        tid = st.spec.task_id
        if use_core:
            if cpu is not self.edge_cpu:  # (abandon() frees the engine's edge_cpu without being told)
                self._decision_cpu[tid] = cpu
            wait = cpu.acquire(urgent=spec.decision_priority)
            if wait is not None:
                st.held.append((cpu, wait))
                yield wait
            st.core_held = True
        obs = self._observe_at(st, site)
        if self._external:
            place, wall = yield from self._ask_external(st, obs)
        else:
            place, wall = self._ask_policy(st, obs)
        self._accept_at(st, site, n_var, place)
        if hold is None:
            hold = wall
        if hold > 0:
            yield env.timeout(hold)
            if use_core:
                self.site_busy_s[site] += hold
        if st.core_held:
            st.core_held = False
            cpu.release_acquired()
        self._decision_cpu.pop(tid, None)
        if st.dead:
            return
        if spec.reply_bytes > 0:
            yield from self._move(st, spec.reply_bytes, 3 + site, DEVICE)

    def _accept_at(self, st: _TaskState, site: int, n_var: int, place: Any) -> None:
        """Check the policy's answer (codes relative to ``site``), take its variant and placement, resolve it."""
        places = self._places[site]
        if st.spec.variants is None and type(place) is np.ndarray and place.dtype.kind in "iu" \
                and place.shape == (st.graph.n,):  # the usual answer: check_decision's fast path, inline
            codes = place.tolist()
            ok = codes and min(codes) >= 0 and max(codes) < places
        else:
            ok = False
        if ok:  # a read-only answer nobody may change is taken as it is (as Simulation._accept does)
            st.variant, st.placement = 0, place if place.dtype == _INT64 and not place.flags.writeable \
                else place.astype(np.int64)
        else:
            try:
                st.variant, st.placement = check_decision(place, st.graph, n_var, places)
            except ValueError as exc:
                raise PolicyError(f"policy {self.name!r} returned a bad placement for task {st.spec.task_id}: {exc}") from None
            if st.variant:
                st.cycles = st.spec.variants.cycles[st.variant]
                st.data = st.spec.variants.data[st.variant]
        if self._flat_chain and st.graph.is_chain:  # its generator resolves the codes itself (_chain_task)
            if not self._still[st.spec.device]:  # (a device that never moves decides at its one site)
                self._abs[st.spec.task_id] = site
            return
        own, others = 3 + site, self.reachable[site]
        self._abs[st.spec.task_id] = [p if p == DEVICE or p == CLOUD else own if p == 1 else 3 + others[p - 3]
                                      for p in st.placement.tolist()]

    # ---- task processes ---------------------------------------------------------------------

    def _place_of(self, st: _TaskState, node: int) -> int:
        return DEVICE if node < 0 or node >= st.graph.n else self._abs[st.spec.task_id][node]

    def _run_chain(self, st: _TaskState) -> Iterator[simpy.Event]:
        place = self._abs[st.spec.task_id]
        data = st.data
        prev = DEVICE
        for v, p in enumerate(place):
            if p != prev and data[v] > 0:
                yield from self._move(st, float(data[v]), prev, p)
            yield from self._execute(st, v, p)
            prev = p
        n = len(place)
        if prev != DEVICE and data[n] > 0 and not self._dead(st):
            yield from self._move(st, float(data[n]), prev, DEVICE)

    def _chain_task(self, st: _TaskState) -> Iterator[simpy.Event]:
        """A chain task's whole process in one generator: :meth:`Simulation._task_steps` with this engine's
        :meth:`_decide`, :meth:`_run_chain`, its executions and the first part of each :meth:`_move` written
        out inline (the hot path; see :meth:`Simulation._chain_task`). Step for step what the methods do, in
        the same order.

        Once decided, a task runs on the *line* device (0) - own site (1) - cloud (2), as in the one-edge
        engine, when its device never changes site, its placement names no other site and no wireless
        transfer is watched for a handover rule (``self._line``): each move crosses the hops between its
        ends (the wireless link, the own site's WAN), with their latencies, and nothing needs the MAN.
        Otherwise hops over the MAN or a WAN and wireless transfers under a handover rule or a latency go
        through :meth:`_fixed` and :meth:`_wireless` (tests/test_sites_fast.py runs both paths on the same
        workloads)."""
        s = st.spec
        dev = s.device
        rel = None  # the placement's codes, relative to the deciding site, once decided here
        if self._instant_sites:  # nothing to send for the decision: with nothing to hold, no event at all
            if st.dead:
                return
            if self._decide_inline:  # _decision_hold_at, _observe_at, _ask_policy, _accept_at in their order
                site = self.assoc[dev]  # the site that received the request decides
                hold = float(self.policy.decision_ops(st.graph)) * self.spec.cycles_per_op / self._site_row[site][1]
                if hold > 0:  # it holds a core (or at least its time)
                    yield from self._decide_held_at(st, site, 1 if s.variants is None else len(s.variants), hold,
                                                    self.spec.decision_on_edge_cpu)
                else:
                    place = self._ask_policy(st, self._observe_at(st, site))[0]
                    if s.variants is None:  # _accept_at's fast paths
                        taken = self._taken_at[site]
                        if taken is not None and place is taken[0] and len(place) == st.graph.n:
                            st.variant, st.placement = 0, place  # the read-only answer checked here last time
                            rel = taken[1]
                        elif type(place) is np.ndarray and place.dtype.kind in "iu" and place.shape == (st.graph.n,):
                            rel = place.tolist()
                            if rel and min(rel) >= 0 and max(rel) < self._places[site]:
                                if place.dtype == _INT64 and not place.flags.writeable:
                                    st.variant, st.placement = 0, place  # nobody may change it: taken as it is
                                    self._taken_at[site] = (place, rel)
                                else:
                                    st.variant, st.placement = 0, place.astype(np.int64)
                            else:
                                rel = None
                    if rel is None:  # any other answer: checked (or refused) there
                        self._accept_at(st, site, 1 if s.variants is None else len(s.variants), place)
                        if not self._still[dev]:
                            self._abs.pop(s.task_id)  # (set there; ``site`` is the same: no time has passed)
                        rel = st.placement.tolist()
            else:
                site, n_var, hold, use_core = self._decision_hold_at(st)
                if use_core or hold is None or hold > 0:
                    yield from self._decide_held_at(st, site, n_var, hold, use_core)
                else:
                    self._accept_at(st, site, n_var, self._ask_policy(st, self._observe_at(st, site))[0])
        else:
            yield from self._decide(st)
        if st.dead:
            return
        env = self.env
        st.start_s = env._now
        st.decision_s = st.start_s - s.arrival_s
        tid = s.task_id
        still = self._still[dev]
        if rel is None:  # decided in a method (maybe over time): the deciding site as _accept_at left it
            site = self.assoc[dev] if still else self._abs.pop(tid)
            rel = st.placement.tolist()  # codes relative to it
        data = st.data.tolist()
        cycles = st.cycles.tolist()
        rec = self.rec.subtasks if self.spec.record_subtasks else None
        rec_put, rec_pack = (rec.put, rec.pack) if rec is not None else (None, None)  # packed rows (records.py)
        timings = st.timings
        n = len(rel)
        if self._line and still and (self._own_only or max(rel, default=0) < 3):  # ---------------- the line
            # the device stays at the deciding site for the task's whole life
            # the work under way: one request at a time, and a finished one needs no withdrawing, so one
            # entry of ``st.held`` is overwritten step by step (as Simulation._chain_task does)
            now_held = [_NO_WORK, None]
            st.held.append(now_held)
            w_up, w_down, dcpu = self._dev_row[dev]
            scpu, _, _, wan_up, wan_down, wan_lat = self._site_row[site]
            wl_lat, tx_w, rx_w, kappa, cloud_hz, cloud_timed, site_busy, site_subtasks = self._line_consts
            prev = DEVICE
            for v in range(n + 1):
                p = rel[v] if v < n else DEVICE  # v == n: the output goes back to the device
                if p != prev and data[v] > 0:  # ---- the move (_move, _fixed, _wireless on the line)
                    if st.dead:
                        return
                    nbytes = float(data[v])
                    if prev < p:
                        if prev == DEVICE:  # the wireless uplink
                            t0 = env._now
                            ev = w_up.transfer(nbytes, tid)
                            now_held[0], now_held[1] = w_up, ev
                            yield ev
                            if wl_lat > 0:  # as _wireless
                                if st.dead:
                                    return
                                st.energy_j += tx_w * (env._now - t0)
                                yield env.timeout(wl_lat)
                            else:  # as _move's plain uplink (its energy counts even if the task died meanwhile)
                                st.energy_j += tx_w * (env._now - t0)
                        if p == CLOUD:  # the own site's WAN up (_fixed)
                            if st.dead:
                                return
                            ev = wan_up.transfer(nbytes, tid)
                            now_held[0], now_held[1] = wan_up, ev
                            yield ev
                            if wan_lat > 0:
                                yield env.timeout(wan_lat)
                    else:
                        if prev == CLOUD:  # the own site's WAN down (_fixed)
                            ev = wan_down.transfer(nbytes, tid)
                            now_held[0], now_held[1] = wan_down, ev
                            yield ev
                            if wan_lat > 0:
                                yield env.timeout(wan_lat)
                        if p == DEVICE:  # the wireless downlink (_wireless)
                            if st.dead:
                                return
                            t0 = env._now
                            ev = w_down.transfer(nbytes, tid)
                            now_held[0], now_held[1] = w_down, ev
                            yield ev
                            if st.dead:
                                return
                            st.energy_j += rx_w * (env._now - t0)
                            if wl_lat > 0:
                                yield env.timeout(wl_lat)
                if v == n:
                    break
                if st.dead:  # ---- the execution (Simulation._execute / _execute_site)
                    return
                c = float(cycles[v])
                ready = start = env._now
                if p == 1:
                    if c > 0:
                        secs = c / scpu.speed_hz
                        ev = scpu.run(secs)
                        now_held[0], now_held[1] = scpu, ev
                        yield ev
                        if st.dead:
                            return
                        start = ev.start_s
                        site_busy[site] += secs
                    site_subtasks[site] += 1
                    if rec is not None:
                        rec_put(rec_pack(tid, v, 1, ready, start, env._now))
                    if timings is not None:
                        timings[v] = (ready, start, env._now)
                else:
                    if c > 0:
                        if p == DEVICE:
                            ev = dcpu.run(c / dcpu.speed_hz)
                            now_held[0], now_held[1] = dcpu, ev
                            yield ev
                            if st.dead:  # withdrawn while running: the step never completed
                                return
                            start = ev.start_s
                            st.energy_j += kappa * dcpu.speed_hz ** 2 * c
                        elif cloud_timed:
                            yield env.timeout(c / cloud_hz)
                            if st.dead:
                                return
                    if rec is not None:
                        rec_put(rec_pack(tid, v, p, ready, start, env._now))
                    if timings is not None:
                        timings[v] = (ready, start, env._now)
                prev = p
            if st.dead:
                return
            self._done(st)
            return
        # ------------------------------------------------------------------ the general case
        others = self.reachable[site]
        place = [p if p == DEVICE or p == CLOUD else 3 + site if p == 1 else 3 + others[p - 3] for p in rel]
        plain_up = self._plain_wireless
        unwatched = self._line  # no wireless transfer is watched for a handover rule: _wireless inline
        wl_lat = self.wl_lat
        assoc = self.assoc
        dcpu = self.dev_cpu[dev]
        kappa = self.spec.objective.kappa
        cloud_hz = self.spec.cloud_hz
        cloud_timed = math.isfinite(cloud_hz)
        prev = DEVICE
        for v in range(n + 1):
            if v < n:
                p = place[v]
                move = p != prev and data[v] > 0
            else:  # the output goes back to the device (see _run_chain)
                p = DEVICE
                move = prev != DEVICE and data[n] > 0 and not st.dead
            if move:  # ---- _move(st, nbytes, prev, p)
                nbytes = float(data[v])
                a, b = prev, p
                if a == DEVICE and st.dead:
                    b = None  # a dropped or failed task sends nothing more (see _move)
                elif a == DEVICE:
                    if unwatched:  # _move's plain uplink, or _wireless's unwatched one (with a latency)
                        link = self.w_up[dev]
                        t0 = env._now
                        ev = link.transfer(nbytes, tid)
                        st.held.append((link, ev))
                        yield ev
                        if plain_up:  # (its energy counts even if the task died meanwhile)
                            st.energy_j += self._tx_w * (env._now - t0)
                        elif not st.dead:
                            st.energy_j += self._tx_w * (env._now - t0)
                            if wl_lat > 0:
                                yield env.timeout(wl_lat)
                    else:
                        yield from self._wireless(st, nbytes, up=True)
                    a = 3 + assoc[dev]
                    if b == a or st.dead:
                        b = None  # arrived (or dead): the move is over
                if b == DEVICE:
                    while a != 3 + assoc[dev]:  # follow the device over the MAN until it stays put
                        if st.dead:
                            break
                        target = 3 + assoc[dev]
                        yield from self._fixed(st, nbytes, a, target)
                        a = target
                    else:
                        if st.dead:
                            pass
                        elif unwatched:  # _wireless(st, nbytes, up=False) inline: no handover rule to apply
                            link = self.w_down[dev]
                            t0 = env._now
                            ev = link.transfer(nbytes, tid)
                            st.held.append((link, ev))
                            yield ev
                            if not st.dead:
                                st.energy_j += self._rx_w * (env._now - t0)
                                if wl_lat > 0:
                                    yield env.timeout(wl_lat)
                        else:
                            yield from self._wireless(st, nbytes, up=False)
                elif b is not None:
                    yield from self._fixed(st, nbytes, a, b)
            if v == n:
                break
            if not st.dead:  # ---- the execution (Simulation._execute / _execute_site; nothing once dead)
                c = float(cycles[v])
                ready = start = env._now
                if p >= 3:
                    si = p - 3
                    ok = True
                    if c > 0:
                        cpu = self.site_cpu[si]
                        secs = c / cpu.speed_hz
                        ev = cpu.run(secs)
                        st.held.append((cpu, ev))
                        yield ev
                        if st.dead:
                            ok = False
                        else:
                            start = ev.start_s
                            self.site_busy_s[si] += secs
                    if ok:
                        self.site_subtasks[si] += 1
                        if rec is not None:
                            rec_put(rec_pack(tid, v, rel[v], ready, start, env._now))
                        if st.timings is not None:
                            st.timings[v] = (ready, start, env._now)
                else:
                    ok = True
                    if c > 0:
                        if p == DEVICE:
                            ev = dcpu.run(c / dcpu.speed_hz)
                            st.held.append((dcpu, ev))
                            yield ev
                            if st.dead:  # withdrawn while running: the step never completed
                                return
                            start = ev.start_s
                            st.energy_j += kappa * dcpu.speed_hz ** 2 * c
                        elif cloud_timed:  # p == CLOUD (the own-site code 1 is resolved to 3 + site)
                            yield env.timeout(c / cloud_hz)
                            ok = not st.dead
                    if ok:
                        if rec is not None:
                            rec_put(rec_pack(tid, v, p, ready, start, env._now))
                        if st.timings is not None:
                            st.timings[v] = (ready, start, env._now)
            prev = p
        if st.dead:
            return
        self._done(st)

    def _site_at_arrival(self, st: _TaskState) -> int:
        return self.assoc[st.spec.device]

    def _task_row(self, st: _TaskState) -> tuple:
        """The row as in the one-edge engine, place codes >= 10 written as letters; counted for the sites table."""
        r = _base_row(self, st)
        if not self._own_only and len(r[_PLACE_COL]) > st.graph.n:  # a code >= 10 took two digits
            r = r[:_PLACE_COL] + ("".join(PLACE_CHARS[c] for c in st.placement.tolist()),) + r[_PLACE_COL + 1:]
        counts = self._site_counts
        if counts is not None:
            c = counts[r[_SITE_COL]]
            status = r[_STATUS_COL]
            c[0] += 1
            if status != "done":  # (a done task is no miss, no failure, not unfinished)
                c[1] += is_deadline_miss(status, r[_ARRIVAL_COL], r[_DEADLINE_COL], self.spec.horizon_s)
                c[2] += status == "failed"
                c[3] += status == "unfinished"
        return r

    def run(self) -> Any:
        if self.topo.handovers:
            self.env.process(self._mobility())
        # per site: arrived, deadline misses (deadlines.is_deadline_miss), failed, unfinished
        self._site_counts = [[0, 0, 0, 0] for _ in self.topo.sites]
        rec = super().run()
        end = max(rec.end_s, 1e-12)
        rec.sites = [(self.name, s.name, i, s.cores, self.site_busy_s[i], self.site_busy_s[i] / (s.cores * end),
                      self.site_subtasks[i], *self._site_counts[i]) for i, s in enumerate(self.topo.sites)]
        return rec


#: columns of the ``sites`` table: per policy and site, busy core-seconds (subtasks and decisions), utilisation
#: (busy / (cores x simulated time)), subtasks run there, tasks whose device was associated with it at
#: arrival, and how many of those missed their deadline (:func:`~simoffload.sim.deadlines.is_deadline_miss`: the
#: summary's definition), failed, or were unfinished at the horizon
SITE_FIELDS = ("policy", "site", "site_index", "cores", "busy_core_s", "utilisation", "subtasks", "tasks",
               "deadline_misses", "failed", "unfinished")
