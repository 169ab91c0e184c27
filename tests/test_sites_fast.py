"""The several-site engine's fast paths (issue 11, speed): same results as the general path, and by hand.

``SiteSimulation._chain_task`` runs a chain task on the *line* device - own site - cloud when no wireless
transfer is watched for a handover rule, the task's device never changes site and its placement names no
other site (latencies on the wireless hop and the own site's WAN are waited out as on the general path);
a free decision (nothing to send, nothing to hold) is taken inside the task's generator; the observation
is built in one go. Here:

* by hand: one task on an idle two-site system, the device at the second site, every placement over
  device / own site / cloud; two tasks queueing for the site's one core;
* against the general path (the same generator's second half, forced by a subclass with ``_line`` off)
  on multi-device workloads with queueing, deadlines that drop tasks, decision requests and replies,
  decisions off the edge CPU, FIFO links, an observing policy, latencies, placements on other sites over
  the MAN and devices that move: every record identical;
* the one-go observation against ``Simulation._observe`` with the site's fields set afterwards;
* ``analysis/bench_sites.py --quick`` runs.
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest

from simoffload.model.task import TaskGraph
from simoffload.net.bandwidth import ConstantBandwidth as C
from simoffload.policy import Policy
from simoffload.sim.engine import TASK_FIELDS, DeviceSpec, SystemSpec, TaskSpec
from simoffload.sim.engine_sites import ManLinkSpec, SiteSimulation, SiteSpec, Topology

W_UP, W_DOWN, P1 = 2e6, 4e6, 0.5e9
SITE_HZ = (1e9, 3e9)
WAN = ((1e6, 1.5e6), (2e6, 1e6))  # per site: up, down (B/s)
CLOUD_HZ = 4e9


class Fixed(Policy):
    def __init__(self, place):
        self.place = place

    def decide(self, obs):
        return np.asarray(self.place)


class General(SiteSimulation):
    """The same engine with the line path switched off: every chain task takes the general path."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._line = False


def two_site_system(tasks, n_devices=1, association=(1,), cores=(1, 1), reach="own", wan_latency_s=(0.0, 0.0),
                    wireless_latency_s=0.0, handovers=(), **kw):
    sites = [SiteSpec(f"s{i}", cores[i], SITE_HZ[i], C(WAN[i][0]), C(WAN[i][1]), wan_latency_s[i]) for i in range(2)]
    man = [ManLinkSpec(0, 1, C(5e6), C(4e6), 0.003)]
    topo = Topology(sites, man, reach=reach, association=list(association), handovers=list(handovers),
                    wireless_latency_s=wireless_latency_s)
    return SystemSpec(graph=TaskGraph.chain(3), tasks=tasks, devices=[DeviceSpec(P1, C(W_UP), C(W_DOWN))] * n_devices,
                      edge_hz=SITE_HZ[0], wan_up=C(WAN[0][0]), wan_down=C(WAN[0][1]), horizon_s=1e9, topology=topo,
                      cloud_hz=CLOUD_HZ, **kw)


def hand_latency(cycles, data, codes):
    """One task on an idle system, the device at site 1 (3 GHz, WAN 2 MB/s up, 1 MB/s down): by hand."""
    hz = {0: P1, 1: SITE_HZ[1], 2: CLOUD_HZ}
    up = {(0, 1): [W_UP], (0, 2): [W_UP, WAN[1][0]], (1, 2): [WAN[1][0]]}  # the hops a move crosses, their rates
    down = {(1, 0): [W_DOWN], (2, 0): [WAN[1][1], W_DOWN], (2, 1): [WAN[1][1]]}
    t, prev = 0.0, 0
    for v, p in enumerate(list(codes) + [0]):
        if p != prev and data[v] > 0:
            t += sum(data[v] / r for r in {**up, **down}[(prev, p)])
        if v < len(codes):
            t += cycles[v] / hz[p]
        prev = p
    return t


@pytest.mark.parametrize("codes", [(a, b, c) for a in range(3) for b in range(3) for c in range(3)])
def test_one_task_idle_system_at_the_second_site_equals_the_hand_sum(codes):
    cycles, data = [0.8e9, 1.5e9, 0.6e9], [1.2e6, 0.7e6, 0.0, 0.3e6]  # one empty edge: no transfer
    spec = two_site_system([TaskSpec(0, 0, 0.0, np.array(cycles), np.array(data))])
    sim = SiteSimulation(spec, Fixed(codes), "fixed")
    assert sim._line
    rec = sim.run()
    row = dict(zip(TASK_FIELDS, rec.tasks[0]))
    assert row["status"] == "done" and row["site"] == 1
    assert row["latency_s"] == pytest.approx(hand_latency(cycles, data, codes), rel=1e-12)
    # the site's table: what ran at site 1 (its busy time is the cycles over its speed); site 0 untouched
    on_site = [v for v, p in enumerate(codes) if p == 1]
    assert sim.site_subtasks == [0, len(on_site)]
    assert sim.site_busy_s[0] == 0.0
    assert sim.site_busy_s[1] == pytest.approx(sum(cycles[v] for v in on_site) / SITE_HZ[1], rel=1e-12)
    # energy: transmit/receive at the objective's powers while the wireless transfers last, kappa f^2 per cycle
    obj = spec.objective
    e = sum(obj.kappa * P1 ** 2 * cycles[v] for v, p in enumerate(codes) if p == 0)
    prev = 0
    for v, p in enumerate(list(codes) + [0]):
        if p != prev and data[v] > 0:
            if prev == 0:
                e += obj.tx_power_w * data[v] / W_UP
            if p == 0:
                e += obj.rx_power_w * data[v] / W_DOWN
        prev = p
    assert row["energy_j"] == pytest.approx(e, rel=1e-12)


def test_two_tasks_queue_for_the_sites_one_core():
    # two devices at site 1 send 1 MB each at t=0 (their own wireless links, 0.5 s), then 3e9 cycles on the
    # site's one 3 GHz core: the first runs 0.5-1.5 s, the second waits and runs 1.5-2.5 s; two empty subtasks
    # (counted at the site, no time), then 0.4 MB back (0.1 s)
    tasks = [TaskSpec(i, i, 0.0, np.array([3e9, 0.0, 0.0]), np.array([1e6, 0.0, 0.0, 0.4e6])) for i in range(2)]
    spec = two_site_system(tasks, n_devices=2, association=(1, 1))
    sim = SiteSimulation(spec, Fixed([1, 1, 1]), "fixed")
    rec = sim.run()
    lat = sorted(dict(zip(TASK_FIELDS, r))["latency_s"] for r in rec.tasks)
    assert lat == pytest.approx([1.6, 2.6], rel=1e-12)
    starts = sorted(r[5] for r in rec.subtasks if r[2] == 0)
    assert starts == pytest.approx([0.5, 1.5], rel=1e-12)
    assert sim.site_subtasks == [0, 6] and sim.site_busy_s[1] == pytest.approx(2.0, rel=1e-12)


class Seeded(Policy):
    """A random placement per task from its own stream (same answers in both runs), with a declared cost."""

    def __init__(self, ops=0.0, seed=3):
        self.ops, self.rng = ops, np.random.default_rng(seed)

    def decide(self, obs):
        return self.rng.integers(0, obs.places, obs.graph.n)  # other sites too when the scenario offers them

    def decision_ops(self, graph):
        return self.ops


class SeededObserving(Seeded):
    """:class:`Seeded` that keeps every outcome it is told (the engine then tracks per-subtask timings)."""

    def __init__(self, ops=0.0, seed=3):
        super().__init__(ops, seed)
        self.heard = []

    def observe(self, outcome):
        o = outcome
        self.heard.append((o.task_id, o.status, o.known_s, o.latency_s, o.energy_j,
                           np.stack([o.ready_s, o.exec_start_s, o.end_s])))


def workload(n_tasks, n_devices, seed, deadline=math.inf):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0, n_tasks))
    dl = rng.uniform(2.0, 15.0, n_tasks) if deadline else np.full(n_tasks, math.inf)
    return [TaskSpec(i, int(rng.integers(n_devices)), float(t[i]), rng.uniform(0, 2e9, 3), rng.uniform(0, 2e6, 4),
                     float(dl[i])) for i in range(n_tasks)]


CASES = {
    "plain": {},
    "drop": {"on_deadline": "drop", "__deadline": True},
    "costly decisions": {"__ops": 2e8},
    "request and reply": {"request_bytes": 4e4, "reply_bytes": 1e4, "__ops": 1e8, "on_deadline": "drop",
                          "__deadline": True},
    "decisions off the edge CPU": {"decision_on_edge_cpu": False, "__ops": 1e8},
    "fifo links, no priority": {"sharing": "fifo", "decision_priority": False, "__ops": 5e7},
    "observing policy, drop": {"on_deadline": "drop", "__deadline": True, "__observing": True, "__ops": 5e7},
    # latency on the wireless hop and on one site's WAN (the line path waits them out as _wireless/_fixed do)
    "latencies, drop": {"wireless_latency_s": 0.004, "wan_latency_s": (0.0, 0.02), "on_deadline": "drop",
                        "__deadline": True, "__ops": 5e7},
    # other sites offered: a task placed on the own site, device and cloud only takes the line, the others not
    "MAN placements": {"reach": "man", "wan_latency_s": (0.01, 0.0), "on_deadline": "drop", "__deadline": True},
    # devices 1 and 4 move (handover continue): their tasks take the general path, the others the line
    "two devices move": {"handovers": [(20.0, 1, 0), (60.0, 4, 0), (90.0, 1, 1)], "__ops": 5e7},
}


@pytest.mark.parametrize("case", list(CASES))
def test_line_path_equals_the_general_path(case):
    kw = dict(CASES[case])
    ops, deadline = kw.pop("__ops", 0.0), kw.pop("__deadline", False)
    pol = SeededObserving if kw.pop("__observing", False) else Seeded
    out, heard = [], []
    for cls in (SiteSimulation, General):
        spec = two_site_system(workload(300, 5, 11, deadline), n_devices=5, association=(0, 1, 1, 0, 1),
                               cores=(2, 1), **kw)
        policy = pol(ops)
        sim = cls(spec, policy, "seeded")
        assert sim._line == (cls is SiteSimulation)
        rec = sim.run()
        heard.append(getattr(policy, "heard", []))
        out.append((rec.tasks.frame(), rec.subtasks.frame(), rec.links.frame(), rec.sites))
    (t1, s1, l1, x1), (t2, s2, l2, x2) = out
    assert len(t1) == 300 and t1.equals(t2) and s1.equals(s2) and l1.equals(l2) and x1 == x2
    st = t1["status"].value_counts()
    assert st.get("done", 0) + st.get("missed", 0) > 100  # a real run: most tasks finish
    if deadline:
        assert st.get("dropped", 0) > 0  # and drops withdraw work in flight
    assert len(l1) > 0 and len(s1) > 0
    assert len(heard[0]) == len(heard[1]) == (300 if pol is SeededObserving else 0)
    for a, b in zip(*heard):  # what an observing policy is told, per-subtask times included
        assert a[:2] == b[:2] and np.array_equal(np.array(a[2:5]), np.array(b[2:5]), equal_nan=True)
        assert np.array_equal(a[5], b[5], equal_nan=True)


def test_one_go_observation_equals_the_base_observation_with_site_fields():
    spec = two_site_system(workload(20, 2, 5), n_devices=2, association=(1, 0), cores=(2, 3))
    sim = SiteSimulation(spec, Seeded(), "seeded")
    assert sim._own_observe
    seen = []
    orig = sim._observe_at

    def both(st, site):
        fast = orig(st, site)
        sim._own_observe = False
        slow = orig(st, site)
        sim._own_observe = True
        seen.append((fast, slow))
        return fast

    sim._observe_at = both
    sim.run()
    assert len(seen) == 20 and {o.site for o, _ in seen} == {0, 1}
    for fast, slow in seen:
        for f in fields(fast):
            a, b = getattr(fast, f.name), getattr(slow, f.name)
            if isinstance(a, np.ndarray):
                assert np.array_equal(a, b), f.name
            elif f.name == "variants":
                assert np.array_equal(a.cycles, b.cycles) and np.array_equal(a.data, b.data)
            else:
                assert a == b or (a is b), f.name


def test_bench_sites_quick():
    """analysis/bench_sites.py (the README's several-site throughput row) runs in its quick mode."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "analysis/bench_sites.py", "--quick"], cwd=root, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((root / "analysis/results/bench_sites_quick.json").read_text())
    assert set(res["throughput"]) == {"local", "edge", "cloud"}
    for row in res["throughput"].values():
        assert row["tasks"] == 500 and row["one_site_list_tasks_per_s"] > 0 and row["four_sites_tasks_per_s"] > 0
    assert res["city"]["tasks"] > 0 and set(res["city"]["tasks_per_s"]) >= {"local", "edge", "cloud"}
