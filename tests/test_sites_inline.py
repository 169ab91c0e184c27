"""The several-site engine's inline decision and cached estimates (issue 11, speed).

``SiteSimulation._chain_task`` takes a free decision of a modelled cost itself (``_decide_inline``: the
steps of ``_decision_hold_at``, ``_observe_at``, ``_ask_policy`` and ``_accept_at``, in that order, with
``_accept_at``'s fast check written out), and ``_observe_at`` looks the four bandwidth estimates up once per
(device, site) when every wireless and WAN model is constant and the estimator is the oracle
(``_static_obs``). Here:

* against the method path (a subclass with both switched off) on tie-heavy workloads (four tasks arriving
  at every instant, sizes from three values, so queues and links see many simultaneous requests), with
  drops at deadlines, decisions that hold a core, answers that are lists, narrow ints or variant
  decisions (the checked path), placements on other sites over the MAN, devices that move and an
  observing policy: every table, the sites table and every observation the policy saw identical;
* by hand: decisions that hold the site's one core queue behind each other; the told bandwidths are the
  models' rates at every (device, site), and follow a time-varying model when one is not constant;
* a bad answer is refused the same way on both paths, and a read-only answer taken at one site is checked
  again at a site that offers fewer places.
"""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass

import numpy as np
import pytest

from simoffload.model.task import TaskGraph
from simoffload.model.variants import Variants
from simoffload.net.bandwidth import ConstantBandwidth as C
from simoffload.net.bandwidth import PiecewiseBandwidth
from simoffload.policy import Decision, Policy
from simoffload.sim.engine import TASK_FIELDS, DeviceSpec, PolicyError, SystemSpec, TaskSpec
from simoffload.sim.engine_sites import ManLinkSpec, SiteSimulation, SiteSpec, Topology
from test_sites_fast import P1, SITE_HZ, W_DOWN, W_UP, WAN, two_site_system


class Methods(SiteSimulation):
    """The same engine deciding through its methods and estimating every bandwidth afresh."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._decide_inline = False
        self._static_obs = None


def plain(x):
    """An observation field as plain, comparable Python values."""
    if isinstance(x, np.ndarray):
        return ("array", str(x.dtype), x.shape, x.tolist())
    if isinstance(x, Variants):
        return plain(x.accuracy), plain(x.cycles), plain(x.data), x.names
    if is_dataclass(x) and not isinstance(x, type):
        return type(x).__name__, tuple((f.name, plain(getattr(x, f.name))) for f in fields(x))
    if isinstance(x, (tuple, list)):
        return tuple(plain(v) for v in x)
    return x


class Recording(Policy):
    """A seeded random placement over every offered place, answered as ``answer`` says; keeps what it saw."""

    def __init__(self, answer="array", ops=0.0, seed=7, observing=False):
        self.answer, self.ops, self.rng = answer, ops, np.random.default_rng(seed)
        self.seen, self.heard, self.observing, self.arrays = [], [], observing, {}

    def decide(self, obs):
        self.seen.append(tuple((f.name, plain(getattr(obs, f.name))) for f in fields(obs) if f.name != "graph"))
        codes = self.rng.integers(0, obs.places, obs.graph.n)
        if len(obs.variants) > 1:
            return Decision(int(self.rng.integers(0, len(obs.variants))), codes)
        if self.answer == "list":
            return codes.tolist()
        if self.answer == "int32":
            return codes.astype(np.int32)
        if self.answer == "uint8":
            return codes.astype(np.uint8)
        if self.answer == "readonly":  # one read-only array per placement, given again each time (as static policies)
            key = tuple(codes.tolist())
            if key not in self.arrays:
                self.arrays[key] = codes.astype(np.int64)
                self.arrays[key].flags.writeable = False
            return self.arrays[key]
        return codes

    def decision_ops(self, graph):
        return self.ops


class RecordingObserving(Recording):
    def observe(self, outcome):
        o = outcome
        self.heard.append((o.task_id, o.status, o.known_s, o.latency_s, o.energy_j,
                           np.stack([o.ready_s, o.exec_start_s, o.end_s]).tolist()))


def tied_workload(n_tasks, n_devices, seed, deadline=False, variants=False):
    """Four tasks at every instant (1.5 s apart), sizes from three values each: many exact ties."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_tasks):
        cycles = rng.choice([0.0, 0.6e9, 1.2e9], 3)
        data = rng.choice([0.0, 0.4e6, 0.8e6], 4)
        var = None
        if variants and i % 3 == 0:  # every third task has a lighter second variant
            var = Variants(np.array([1.0, 0.7]), np.stack([cycles, cycles / 2]), np.stack([data, data / 2]))
        out.append(TaskSpec(i, int(rng.integers(n_devices)), 1.5 * (i // 4), cycles, data,
                            float(rng.choice([2.5, 5.0])) if deadline else math.inf, var))
    return out


CASES = {
    "ties": {},
    "ties, drop": {"on_deadline": "drop", "__deadline": True},
    "decisions hold the one core": {"__ops": 1.5e8, "cores": (1, 1)},
    "decisions off the edge CPU": {"decision_on_edge_cpu": False, "__ops": 1e8},
    "list answers": {"__answer": "list", "on_deadline": "drop", "__deadline": True},
    "int32 answers": {"__answer": "int32"},
    "uint8 answers": {"__answer": "uint8"},
    "read-only answers, MAN, drop": {"__answer": "readonly", "reach": "man", "on_deadline": "drop", "__deadline": True},
    "read-only answers, devices move": {"__answer": "readonly", "handovers": [(12.0, 1, 0), (45.0, 1, 1)]},
    "variant decisions": {"__variants": True, "on_deadline": "drop", "__deadline": True},
    "MAN placements, drop": {"reach": "man", "wan_latency_s": (0.01, 0.0), "on_deadline": "drop",
                             "__deadline": True},
    "MAN placements, list answers": {"reach": "man", "__answer": "list"},
    "devices move": {"handovers": [(12.0, 1, 0), (30.0, 4, 0), (45.0, 1, 1), (60.0, 0, 1)]},
    "devices move, restart, MAN": {"handovers": [(12.0, 1, 0), (30.0, 4, 0), (45.0, 1, 1)], "reach": "man",
                                   "handover": "restart"},
    "observing policy, drop": {"__observing": True, "on_deadline": "drop", "__deadline": True},
    "latencies": {"wireless_latency_s": 0.004, "wan_latency_s": (0.0, 0.02)},
}


@pytest.mark.parametrize("case", list(CASES))
def test_inline_decision_equals_the_method_path(case):
    kw = dict(CASES[case])
    ops, deadline = kw.pop("__ops", 0.0), kw.pop("__deadline", False)
    answer, observing, variants = kw.pop("__answer", "array"), kw.pop("__observing", False), kw.pop("__variants", False)
    handover = kw.pop("handover", "continue")
    out, seen, heard = [], [], []
    for cls in (SiteSimulation, Methods):
        spec = two_site_system(tied_workload(240, 5, 13, deadline, variants), n_devices=5,
                               association=(0, 1, 1, 0, 1), **{"cores": (2, 1), **kw})
        spec.topology.handover = handover
        policy = (RecordingObserving if observing else Recording)(answer, ops)
        sim = cls(spec, policy, "rec")
        if cls is SiteSimulation:  # the fast paths under test are on where they apply
            assert sim._decide_inline and sim._static_obs is not None
        rec = sim.run()
        seen.append(policy.seen)
        heard.append(policy.heard)
        out.append((rec.tasks.frame(), rec.subtasks.frame(), rec.links.frame(), rec.sites, sim.site_busy_s,
                    sim.site_subtasks))
    (t1, s1, l1, x1, b1, n1), (t2, s2, l2, x2, b2, n2) = out
    assert len(t1) == 240 and t1.equals(t2) and s1.equals(s2) and l1.equals(l2)
    assert x1 == x2 and b1 == b2 and n1 == n2
    assert len(seen[0]) == len(seen[1]) > 100 and seen[0] == seen[1]  # every observation, field by field
    assert repr(heard[0]) == repr(heard[1]) and len(heard[0]) == (240 if observing else 0)  # (nan != nan)
    st = t1["status"].value_counts()
    assert st.get("done", 0) + st.get("missed", 0) > 80  # a real run: many tasks finish
    if deadline:
        assert st.get("dropped", 0) > 0
    if variants:
        assert set(t1["variant"]) == {0, 1}
    if kw.get("reach") == "man":  # some placements name the other site
        assert any(max(p) >= "3" for p in t1["placement"] if p)
    assert sum(n1) > 0 and len(l1) > 0


def test_decisions_holding_the_one_core_queue_by_hand():
    # two devices at site 1 (one 3 GHz core) ask at t=0; each decision declares 3e8 ops at 1 cycle/op: 0.1 s
    # on the core, decisions first in line. The first holds it over [0, 0.1], the second over [0.1, 0.2].
    # Each task then runs 0.5e9 cycles on its own 0.5 GHz device (1 s) and moves no data.
    tasks = [TaskSpec(i, i, 0.0, np.array([0.5e9, 0.0, 0.0]), np.zeros(4)) for i in range(2)]
    spec = two_site_system(tasks, n_devices=2, association=(1, 1))
    sim = SiteSimulation(spec, Recording(ops=3e8), "rec")
    assert sim._decide_inline
    sim.policy.rng = None  # answer device-only below
    sim.policy.decide = lambda obs: np.zeros(obs.graph.n, dtype=np.int64)
    rows = [dict(zip(TASK_FIELDS, r)) for r in sim.run().tasks]
    assert [r["decision_s"] for r in rows] == pytest.approx([0.1, 0.2], rel=1e-12)
    assert [r["latency_s"] for r in rows] == pytest.approx([1.1, 1.2], rel=1e-12)
    assert [r["placement"] for r in rows] == ["000", "000"]
    assert sim.site_busy_s == pytest.approx([0.0, 0.2], rel=1e-12)  # the decisions' core time, at site 1
    assert sim.site_subtasks == [0, 0]
    kappa = spec.objective.kappa
    assert [r["energy_j"] for r in rows] == pytest.approx([kappa * P1 ** 2 * 0.5e9] * 2, rel=1e-12)


def test_told_bandwidths_are_the_models_rates_at_every_device_and_site():
    tasks = [TaskSpec(i, i % 3, 0.5 * i, np.array([1e8, 1e8, 1e8]), np.full(4, 1e4)) for i in range(12)]
    spec = two_site_system(tasks, n_devices=3, association=(0, 1, 1))
    pol = Recording()
    sim = SiteSimulation(spec, pol, "rec")
    sim.run()
    known = sim._static_obs  # per site, per device: looked up once, at the device's own site only
    assert known is not None and [[d for d, h in enumerate(k) if h is not None] for k in known] == [[0], [1, 2]]
    assert len(pol.seen) == 12
    for i, seen in enumerate(pol.seen):
        o = dict(seen)
        site = (0, 1, 1)[i % 3]
        assert o["site"] == site and o["device"] == i % 3
        assert (o["b1_Bps"], o["b1_down_Bps"]) == (W_UP, W_DOWN)
        assert (o["b2_Bps"], o["b2_down_Bps"]) == WAN[site]
        assert (o["p1_hz"], o["p2_hz"]) == (P1, SITE_HZ[site])


def test_a_varying_wireless_model_is_estimated_at_each_decision():
    # the device's uplink runs at 1 MB/s over [0, 10) s, then 3 MB/s (held): a task deciding at t = 2 s is
    # told 1 MB/s, one at t = 12 s 3 MB/s; no cache then
    tasks = [TaskSpec(i, 0, t, np.array([1e8, 1e8, 1e8]), np.full(4, 1e4)) for i, t in enumerate((2.0, 12.0))]
    spec = two_site_system(tasks, association=(1,))
    spec.devices[0] = type(spec.devices[0])(P1, PiecewiseBandwidth([0.0, 10.0, 20.0], [1e6, 3e6], after="hold"),
                                            C(W_DOWN))
    pol = Recording()
    sim = SiteSimulation(spec, pol, "rec")
    assert sim._static_obs is None
    sim.run()
    assert [dict(s)["b1_Bps"] for s in pol.seen] == [1e6, 3e6]
    assert [dict(s)["time_s"] for s in pol.seen] == [2.0, 12.0]


class Bad(Policy):
    def decide(self, obs):
        return np.full(obs.graph.n, 3)  # code 3 names another site, not offered with ``placement: own``


def test_a_bad_answer_is_refused_alike_on_both_paths():
    msgs = []
    for cls in (SiteSimulation, Methods):
        spec = two_site_system([TaskSpec(0, 0, 0.0, np.ones(3), np.ones(4))])
        with pytest.raises(PolicyError) as err:
            cls(spec, Bad(), "bad").run()
        msgs.append(str(err.value))
    assert msgs[0] == msgs[1] and "bad placement" in msgs[0]


class SameReadOnly(Policy):
    """Always the same read-only answer: every subtask on the first other reachable site (code 3)."""

    def __init__(self):
        self.place = np.full(3, 3, dtype=np.int64)
        self.place.flags.writeable = False

    def decide(self, obs):
        return self.place


def test_a_read_only_answer_taken_at_one_site_is_checked_again_at_another():
    # sites 0 and 1 joined by the MAN, site 2 alone: code 3 names site 1 for a device at site 0, and nothing for
    # one at site 2 (only the codes 0, 1, 2 exist there). The same array, accepted for the first task, must
    # still be refused for the second.
    sites = [SiteSpec(f"s{i}", 1, 1e9, C(1e6), C(1e6)) for i in range(3)]
    topo = Topology(sites, [ManLinkSpec(0, 1, C(5e6), C(5e6))], reach="man", association=[0, 2])
    tasks = [TaskSpec(0, 0, 0.0, np.full(3, 1e8), np.full(4, 1e4)), TaskSpec(1, 1, 1.0, np.full(3, 1e8), np.full(4, 1e4))]
    for cls in (SiteSimulation, Methods):
        spec = SystemSpec(graph=TaskGraph.chain(3), tasks=tasks, devices=[DeviceSpec(P1, C(W_UP), C(W_DOWN))] * 2,
                          edge_hz=1e9, wan_up=C(1e6), wan_down=C(1e6), horizon_s=1e9, topology=topo)
        sim = cls(spec, SameReadOnly(), "same")
        with pytest.raises(PolicyError, match="bad placement for task 1"):
            sim.run()
        assert sim.rec.decisions == 2  # the first task's answer was accepted


class Scripted(Policy):
    """Answers from a list, one per decision; keeps the per-site fields of every observation."""

    def __init__(self, answers):
        self.answers, self.told = list(answers), []

    def decide(self, obs):
        self.told.append((obs.site, obs.other_sites, obs.site_queue, obs.site_busy, obs.site_cores))
        return np.array(self.answers.pop(0))


def test_the_per_site_queues_told_by_hand():
    # sites 0 and 1 (one core each, 1 GHz and 3 GHz) on the MAN; device 0 at site 0, device 1 at site 1; no data.
    # t = 0: tasks 0 and 1 of device 0 put 2e9 cycles on site 0: task 0 runs over [0, 2], task 1 waits.
    # t = 1: device 1 asks (own site 1 first: idle; then site 0: one busy core, one job waiting), then device 0
    # asks (own site 0 first). Both run on their devices, leaving the sites as they are.
    z = np.zeros(4)
    tasks = [TaskSpec(0, 0, 0.0, np.array([2e9, 0.0, 0.0]), z), TaskSpec(1, 0, 0.0, np.array([2e9, 0.0, 0.0]), z),
             TaskSpec(2, 1, 1.0, np.full(3, 1e8), z), TaskSpec(3, 0, 1.0, np.full(3, 1e8), z)]
    spec = two_site_system(tasks, n_devices=2, association=(0, 1), reach="man")
    pol = Scripted([[1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0]])
    rows = SiteSimulation(spec, pol, "scripted").run().tasks
    assert pol.told == [(0, (1,), (0, 0), (0, 0), (1, 1)), (0, (1,), (0, 0), (1, 0), (1, 1)),
                        (1, (0,), (0, 1), (0, 1), (1, 1)), (0, (1,), (1, 0), (1, 0), (1, 1))]
    lat = [dict(zip(TASK_FIELDS, r))["latency_s"] for r in rows]
    assert lat == pytest.approx([2.0, 4.0, 3e8 / P1, 3e8 / P1], rel=1e-12)  # 3 x 1e8 cycles at 0.5 GHz: 0.6 s
