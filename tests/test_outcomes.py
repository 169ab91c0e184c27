"""Outcomes reach the policy: when, in what order, and with what (no learning from the future)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simoffload.config import parse_scenario
from simoffload.policy import Outcome, Policy
from simoffload.sim.engine import Simulation
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import build_world, run_world

BUSY = {  # 6 devices contending for one edge core and one cell: tasks finish out of arrival order
    "name": "busy", "seed": 3, "horizon": 400,
    "task": {"subtasks": 4, "distribution": {"cycles": {"uniform": [1e8, 1e9]}, "bytes": {"uniform": [1e4, 2e5]}}},
    "devices": {"count": 6, "cpu": {"uniform": [2e8, 1e9]}, "arrivals": {"poisson": {"rate": 0.08}}},
    "edge": {"cores": 1, "cpu": 2e9},
    "network": {"wireless": {"up": 1e6}, "wan": {"up": 5e5}, "shared_cell": True},
    "policies": ["local"],
}


class Recorder(Policy):
    """Mixed placements; remembers, at each decision, which outcomes it had been told."""

    stochastic = True

    def __init__(self):
        pass

    def reset(self, rng):
        self.rng_ = rng
        self.seen_: list[Outcome] = []
        self.decisions_: list[tuple[int, float, frozenset]] = []

    def decide(self, obs):
        self.decisions_.append((obs.device, obs.time_s, frozenset(o.task_id for o in self.seen_)))
        return self.rng_.integers(0, 3, obs.graph.n)

    def decision_ops(self, graph):
        return 1e6  # decisions take time on the edge core, so they queue

    def observe(self, outcome):
        self.seen_.append(outcome)


@pytest.fixture(scope="module")
def run():
    sc = parse_scenario(BUSY)
    world = build_world(sc)
    pol = Recorder()
    pol.reset(np.random.default_rng(0))
    res = run_world(world, [("rec", pol)])
    return world, pol, tables_from(res)


def test_a_decision_has_seen_exactly_the_outcomes_finished_before_it(run):
    world, pol, t = run
    tasks = t.tasks.set_index("task_id")
    assert (tasks.status == "unfinished").sum() > 0 and (tasks.status == "done").sum() > 40
    # out of order: some task finishes before an earlier arrival does
    fin = tasks.finish_s.fillna(np.inf).to_numpy()
    assert np.any(np.diff(fin) < 0)
    finish = tasks.finish_s.to_dict()
    checked = 0
    for _, time_s, seen in pol.decisions_:
        before = {k for k, f in finish.items() if f < time_s}
        at_or_before = {k for k, f in finish.items() if f <= time_s}
        assert before <= seen <= at_or_before, time_s  # nothing from the future, nothing known withheld
        checked += len(seen) > 0
    assert checked > 30


def test_outcomes_arrive_once_in_time_order_and_match_the_tables(run):
    world, pol, t = run
    seen = pol.seen_
    assert sorted(o.task_id for o in seen) == list(range(len(world.system.tasks)))  # every task, once
    known = [o.known_s for o in seen]
    assert known == sorted(known)
    tasks = t.tasks.set_index("task_id")
    subs = t.subtasks.set_index(["task_id", "subtask"])
    horizon = world.system.horizon_s
    for o in seen:
        row = tasks.loc[o.task_id]
        assert o.status == row.status and o.device == row.device
        if o.done:
            assert o.known_s == o.finish_s == row.finish_s and o.latency_s == row.latency_s
        else:
            assert o.known_s == horizon and math.isnan(o.latency_s) and math.isnan(o.finish_s)
        assert o.energy_j == row.energy_j
        if o.placement is None:
            assert o.obs is None and row.placement == ""
            continue
        assert "".join(map(str, o.placement)) == row.placement
        assert o.decided_s == o.obs.time_s and o.decision_s == row.decision_s
        for v in range(world.graph.n):
            if (o.task_id, v) in subs.index:
                s = subs.loc[(o.task_id, v)]
                assert (o.ready_s[v], o.exec_start_s[v], o.end_s[v]) == (s.ready_s, s.start_s, s.end_s)
            else:
                assert math.isnan(o.end_s[v])


def test_active_devices_counts_devices_with_work_in_the_system(run):
    world, pol, t = run
    tasks = t.tasks
    fin = tasks.finish_s.fillna(np.inf)
    for _, time_s, _seen in pol.decisions_[:80]:
        # a device is active when one of its tasks has arrived and not finished (the decider's included)
        act = tasks[(tasks.arrival_s <= time_s) & (fin > time_s)].device.nunique()
        assert act >= 1
    # spot-check the value the policy saw against the same count
    sc = parse_scenario(BUSY)
    world2 = build_world(sc)

    class Counts(Recorder):
        def decide(self, obs):
            self.decisions_.append((obs.device, obs.time_s, obs.active_devices))
            return np.zeros(obs.graph.n, dtype=int)

    pol2 = Counts()
    pol2.reset(np.random.default_rng(0))
    rec = Simulation(world2.system, pol2, "c").run()
    arr = np.array([r[3] for r in rec.tasks])
    finish = np.array([r[5] for r in rec.tasks])
    devs = np.array([r[2] for r in rec.tasks])
    finish = np.where(np.isnan(finish), np.inf, finish)
    for _, time_s, k in pol2.decisions_:
        want = len(set(devs[(arr <= time_s) & (finish > time_s)].tolist()))
        assert k == want


def test_policies_that_do_not_observe_get_no_outcomes_and_the_same_results():
    class Local(Policy):
        def __init__(self):
            pass

        def decide(self, obs):
            return np.zeros(obs.graph.n, dtype=int)

    class LocalObserving(Local):
        def observe(self, outcome):
            self.n_ = getattr(self, "n_", 0) + 1

    world = build_world(parse_scenario(BUSY))
    a = Simulation(world.system, Local(), "x")
    seen = []  # the tasks in the system (``states`` keeps only those), looked at every 0.5 s

    def watch():
        while True:
            yield a.env.timeout(0.5)
            seen.extend(a.states.values())

    a.env.process(watch())
    ra = a.run()
    assert seen and not a._observing and all(st.timings is None and st.obs is None for st in seen)
    pol = LocalObserving()
    rb = Simulation(world.system, pol, "x").run()
    assert ra.tasks == rb.tasks and ra.subtasks == rb.subtasks and ra.links == rb.links
    assert pol.n_ == len(ra.tasks)


def test_dropped_and_missed_tasks_are_reported_when_the_system_knows():
    """With deadlines, a dropped task is reported at its deadline (2.5 s), a late one when it completes."""
    import copy

    for rule in ("drop", "keep"):
        d = copy.deepcopy(BUSY)
        d["task"]["deadline"] = 2.5
        d["execution"] = {"on_deadline": rule}
        world = build_world(parse_scenario(d))
        pol = Recorder()
        pol.reset(np.random.default_rng(0))
        t = tables_from(run_world(world, [("rec", pol)]))
        tasks = t.tasks.set_index("task_id")
        by_status = {o.status for o in pol.seen_}
        assert ("dropped" if rule == "drop" else "missed") in by_status
        for o in pol.seen_:
            assert o.status == tasks.loc[o.task_id].status
            if o.status == "dropped":
                assert o.known_s == pytest.approx(o.arrival_s + 2.5) and math.isnan(o.latency_s)
            if o.status == "missed":
                assert o.latency_s > 2.5 and o.known_s == o.finish_s
        known = [o.known_s for o in pol.seen_]
        assert known == sorted(known)
        for _, time_s, seen in pol.decisions_:
            ids = [o.task_id for o in pol.seen_ if o.known_s < time_s]
            assert set(ids) <= seen <= {o.task_id for o in pol.seen_ if o.known_s <= time_s}
