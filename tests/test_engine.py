"""The engine against the closed form, hand-computed link sharing and queueing theory."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import simpy

from simoffload.model.cost import latency
from simoffload.model.solvers import all_placements
from simoffload.model.task import Instances, TaskGraph, random_dag
from simoffload.net.bandwidth import ConstantBandwidth, PiecewiseBandwidth
from simoffload.policy import Policy
from simoffload.sim.engine import (
    Cpu,
    DeviceSpec,
    Link,
    Simulation,
    SystemSpec,
    TaskSpec,
)


class Fixed(Policy):
    """Always the same placement (test helper)."""

    def __init__(self, place=None):
        self.place = place

    def decide(self, obs):
        return np.asarray(self.place)


def one_task_system(graph, cycles, data, p1, p2, b1, b2, dag_execution="parallel", **kw):
    return SystemSpec(
        graph=graph, tasks=[TaskSpec(0, 0, 0.0, np.asarray(cycles), np.asarray(data))],
        devices=[DeviceSpec(p1, ConstantBandwidth(b1), ConstantBandwidth(b1))],
        edge_hz=p2, wan_up=ConstantBandwidth(b2), wan_down=ConstantBandwidth(b2),
        horizon_s=1e15, dag_execution=dag_execution, **kw,
    )


def simulated_latency(spec, place):
    rec = Simulation(spec, Fixed(place), "fixed").run()
    (row,) = rec.tasks
    assert row[-1] == "done"
    return row[6]


def test_single_task_equals_closed_form_for_all_729_placements():
    g = TaskGraph.chain(6)
    rng = np.random.default_rng(42)
    P = all_placements(6)
    for _ in range(4):
        cyc = rng.uniform(0, 2e9, 6)
        dat = rng.uniform(0, 1e7, 7)
        dat[rng.integers(0, 7)] = 0.0  # a zero-size edge
        p1, p2 = rng.uniform(1e8, 1e9), rng.uniform(5e8, 5e9)
        b1, b2 = rng.uniform(1e3, 2e6), rng.uniform(1e3, 3e6)
        inst = Instances(g, np.tile(cyc, (len(P), 1)), np.tile(dat, (len(P), 1)), p1, p2, b1, b2)
        closed = latency(inst, P)
        spec = one_task_system(g, cyc, dat, p1, p2, b1, b2)
        sim = np.array([simulated_latency(spec, p) for p in P])
        np.testing.assert_allclose(sim, closed, rtol=1e-9, atol=0)


def test_hand_computed_chain_latency():
    # 2 subtasks: 1e9 cycles each, data (input 2 MB, middle 1 MB, output 0.5 MB)
    # device 1 GHz, edge 2 GHz, b1 = 1 MB/s, b2 = 0.5 MB/s, cloud instant.
    g = TaskGraph.chain(2)
    spec = one_task_system(g, [1e9, 1e9], [2e6, 1e6, 0.5e6], 1e9, 2e9, 1e6, 0.5e6)
    # device, edge: 1 s local + 1 MB up (1 s) + 0.5 s edge + 0.5 MB down (0.5 s) = 3.0 s
    assert simulated_latency(spec, [0, 1]) == pytest.approx(3.0, rel=1e-12)
    # cloud, cloud: 2 MB up wireless (2 s) + wan (4 s), 0 s exec, 0.5 MB back: 1 s + 0.5 s = 7.5 s
    assert simulated_latency(spec, [2, 2]) == pytest.approx(7.5, rel=1e-12)


def test_random_dags_serial_equal_closed_form_and_parallel_is_not_slower():
    rng = np.random.default_rng(3)
    for _ in range(25):
        g = random_dag(int(rng.integers(2, 7)), 0.4, rng)
        cyc = rng.uniform(0, 2e9, g.n)
        dat = rng.uniform(0, 1e7, g.m)
        p1, p2, b1, b2 = 5e8, 3e9, 1e6, 1.5e6
        place = rng.integers(0, 3, g.n)
        inst = Instances(g, cyc[None], dat[None], p1, p2, b1, b2)
        closed = latency(inst, place[None])[0]
        serial = simulated_latency(one_task_system(g, cyc, dat, p1, p2, b1, b2, "serial"), place)
        assert serial == pytest.approx(closed, rel=1e-9)
        parallel = simulated_latency(one_task_system(g, cyc, dat, p1, p2, b1, b2, "parallel"), place)
        assert parallel <= closed * (1 + 1e-9)


def test_parallel_dag_branches_overlap():
    # diamond 0 -> {1, 2} -> 3; 1 on device, 2 on edge run at the same time.
    g = TaskGraph.from_networkx(nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3)]))[0]
    cyc = np.array([0.0, 1e9, 2e9, 0.0])
    dat = np.zeros(g.m)
    spec = one_task_system(g, cyc, dat, 1e9, 2e9, 1e6, 1e6)
    # device branch 1 s, edge branch 1 s, concurrently: 1 s (serial would be 2 s)
    assert simulated_latency(spec, [0, 0, 1, 0]) == pytest.approx(1.0)
    spec = one_task_system(g, cyc, dat, 1e9, 2e9, 1e6, 1e6, "serial")
    assert simulated_latency(spec, [0, 0, 1, 0]) == pytest.approx(2.0)


def _finish_times(model, sharing, starts):
    env = simpy.Environment()
    link = Link(env, "l", model, sharing)
    done = {}

    def flow(name, t0, nbytes):
        yield env.timeout(t0)
        yield link.transfer(nbytes)
        done[name] = env.now

    for name, (t0, nbytes) in starts.items():
        env.process(flow(name, t0, nbytes))
    env.run()
    return done


def test_two_equal_flows_fair_and_fifo():
    d, b = 10.0, 2.0
    fair = _finish_times(ConstantBandwidth(b), "fair", {"a": (0, d), "b": (0, d)})
    assert fair == {"a": pytest.approx(2 * d / b), "b": pytest.approx(2 * d / b)}
    fifo = _finish_times(ConstantBandwidth(b), "fifo", {"a": (0, d), "b": (0, d)})
    assert fifo == {"a": pytest.approx(d / b), "b": pytest.approx(2 * d / b)}


def test_third_flow_joining_midway_replans_exactly():
    # b = 2 B/s; a, b: 10 B at t=0; c: 4 B at t=2.
    # [0,2): a, b get 1 B/s each -> 8 B left. [2,8): three flows at 2/3 B/s; c done at 2 + 4/(2/3) = 8,
    # a, b have 8 - 4 = 4 B left; [8,12): 1 B/s each -> done at 12.
    done = _finish_times(ConstantBandwidth(2.0), "fair", {"a": (0, 10.0), "b": (0, 10.0), "c": (2, 4.0)})
    assert done == {"a": pytest.approx(12.0), "b": pytest.approx(12.0), "c": pytest.approx(8.0)}


def test_transfer_over_piecewise_trace_with_zero_stretch():
    # 10 B/s on [0,1), 0 on [1,3), 5 B/s on [3,5), then hold 5 B/s.
    model = PiecewiseBandwidth([0, 1, 3, 5], [10, 0, 5], after="hold")
    # 20 B from t=0.5: 5 B by t=1, stall to 3, 15 B at 5 B/s -> t=6
    done = _finish_times(model, "fair", {"x": (0.5, 20.0)})
    assert done["x"] == pytest.approx(6.0)
    # two flows of 10 B at t=0: 10 B total by t=1 (5 each), stall, 10 more at 5 B/s -> t=5
    done = _finish_times(model, "fair", {"x": (0, 10.0), "y": (0, 10.0)})
    assert done == {"x": pytest.approx(5.0), "y": pytest.approx(5.0)}


def test_flow_joining_during_a_stall_on_a_piecewise_trace():
    # 10 B/s on [0,1), 0 on [1,3), 5 B/s on [3,5), then hold 5 B/s.
    # x: 20 B at t=0 gets 10 B by t=1, stalls; y: 5 B joins at t=2 (stalled too).
    # From t=3 they share 5 B/s: y done after 5 / 2.5 = 2 s (t=5), x has 5 B left -> t=6.
    model = PiecewiseBandwidth([0, 1, 3, 5], [10, 0, 5], after="hold")
    done = _finish_times(model, "fair", {"x": (0, 20.0), "y": (2, 5.0)})
    assert done == {"x": pytest.approx(6.0), "y": pytest.approx(5.0)}
    # FIFO: x (10 B left at t=3) first: t=5; then y: 5 B at 5 B/s -> t=6
    done = _finish_times(model, "fifo", {"x": (0, 20.0), "y": (2, 5.0)})
    assert done == {"x": pytest.approx(5.0), "y": pytest.approx(6.0)}


def test_zero_bandwidth_reports_unfinished_and_does_not_hang():
    g = TaskGraph.chain(1)
    spec = SystemSpec(
        graph=g, tasks=[TaskSpec(0, 0, 0.0, np.array([1e9]), np.array([1e6, 1e6])),
                        TaskSpec(1, 0, 5.0, np.array([1e9]), np.array([1e6, 1e6]))],
        devices=[DeviceSpec(1e9, ConstantBandwidth(0.0), ConstantBandwidth(0.0))],
        wan_up=ConstantBandwidth(1e6), wan_down=ConstantBandwidth(1e6), horizon_s=100.0,
    )
    rec = Simulation(spec, Fixed([1]), "edge").run()
    assert [r[-1] for r in rec.tasks] == ["unfinished", "unfinished"]
    rec = Simulation(spec, Fixed([0]), "local").run()
    assert [r[-1] for r in rec.tasks] == ["done", "done"]
    assert [r[6] for r in rec.tasks] == [pytest.approx(1.0), pytest.approx(1.0)]


def test_work_beyond_horizon_is_unfinished():
    g = TaskGraph.chain(1)
    tasks = [TaskSpec(i, 0, float(i), np.array([3e9]), np.array([0.0, 0.0])) for i in range(5)]
    spec = SystemSpec(graph=g, tasks=tasks, devices=[DeviceSpec(1e9, ConstantBandwidth(1), ConstantBandwidth(1))],
                      wan_up=ConstantBandwidth(1), wan_down=ConstantBandwidth(1), horizon_s=10.0)
    rec = Simulation(spec, Fixed([0]), "local").run()
    # FIFO one core, 3 s each, arrivals 0..4: finishes at 3, 6, 9, 12, 15 -> three done before t=10
    assert [r[-1] for r in rec.tasks] == ["done"] * 3 + ["unfinished"] * 2
    assert [r[5] for r in rec.tasks[:3]] == [pytest.approx(3.0), pytest.approx(6.0), pytest.approx(9.0)]


def test_mm1_edge_cpu_matches_textbook_waiting_time():
    # M/M/1: lambda = 0.5/s, mean service 1 s (mu = 1): Wq = rho / (mu - lambda) = 1.0 s.
    lam, mu = 0.5, 1.0
    g = TaskGraph.chain(1)
    means = []
    for rep in range(30):
        rng = np.random.default_rng(1000 + rep)
        arrivals = np.cumsum(rng.exponential(1 / lam, 1500))
        work = rng.exponential(1 / mu, 1500) * 1e9  # cycles at 1 GHz
        tasks = [TaskSpec(i, 0, float(t), np.array([w]), np.zeros(2)) for i, (t, w) in enumerate(zip(arrivals, work))]
        spec = SystemSpec(graph=g, tasks=tasks, devices=[DeviceSpec(1e9, ConstantBandwidth(1e6), ConstantBandwidth(1e6))],
                          edge_cores=1, edge_hz=1e9, wan_up=ConstantBandwidth(1e6), wan_down=ConstantBandwidth(1e6),
                          horizon_s=1e9, record_links=False)
        rec = Simulation(spec, Fixed([1]), "edge").run()
        start = {r[1]: r[5] for r in rec.subtasks}
        waits = np.array([start[i] - arrivals[i] for i in range(len(tasks))])
        means.append(waits[200:].mean())  # drop the warm-up
    m, se = np.mean(means), np.std(means, ddof=1) / np.sqrt(len(means))
    assert abs(m - lam / mu / (mu - lam)) < 3 * se + 0.02, (m, se)


def test_cpu_queue_is_fifo_with_k_cores():
    env = simpy.Environment()
    cpu = Cpu(env, "c", 2, 1.0)
    order = []

    def job(name, t0, dur):
        yield env.timeout(t0)
        ev = cpu.run(dur)
        yield ev
        order.append((name, ev.start_s, env.now))

    for name, t0, dur in [("a", 0, 3), ("b", 0, 1), ("c", 0.5, 1), ("d", 0.6, 1)]:
        env.process(job(name, t0, dur))
    env.run()
    # a: [0,3); b: [0,1); c waits for b: [1,2); d: [2,3)
    assert order == [("b", 0, 1), ("c", 1, 2), ("a", 0, 3), ("d", 2, 3)]


def test_modelled_decision_time_is_charged_on_the_edge_cpu():
    class Slow(Fixed):
        def decision_ops(self, graph):
            return 2e9  # 2e9 ops at 1 cycle/op on a 1 GHz edge core: 2 s

    g = TaskGraph.chain(1)
    spec = one_task_system(g, [1e9], [0.0, 0.0], 1e9, 1e9, 1e6, 1e6)
    rec = Simulation(spec, Slow([0]), "slow").run()
    row = rec.tasks[0]
    assert row[7] == pytest.approx(2.0)  # decision_s
    assert row[6] == pytest.approx(3.0)  # 2 s deciding + 1 s local


def test_request_and_reply_cross_the_wireless_link():
    g = TaskGraph.chain(1)
    spec = one_task_system(g, [1e9], [0.0, 0.0], 1e9, 1e9, 1000.0, 1e6, request_bytes=500.0, reply_bytes=250.0)
    rec = Simulation(spec, Fixed([0]), "local").run()
    assert rec.tasks[0][7] == pytest.approx(0.75)
    assert rec.tasks[0][6] == pytest.approx(1.75)


def test_energy_of_local_and_offloaded_execution():
    g = TaskGraph.chain(1)
    spec = one_task_system(g, [1e9], [2e6, 1e6], 1e9, 2e9, 1e6, 1e6)
    # local: kappa p1^2 cycles = 1e-27 * 1e18 * 1e9 = 1 J; no radio (input and output stay on the device)
    assert Simulation(spec, Fixed([0]), "l").run().tasks[0][9] == pytest.approx(1.0)
    # edge: 2 s sending at 0.5 W + 1 s receiving at 0.5 W = 1.5 J
    assert Simulation(spec, Fixed([1]), "e").run().tasks[0][9] == pytest.approx(1.5)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 4),
    n_tasks=st.integers(1, 12),
    n_dev=st.integers(1, 3),
    cores=st.integers(1, 3),
    sharing=st.sampled_from(["fair", "fifo"]),
    shared_cell=st.booleans(),
    horizon=st.floats(1.0, 200.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_contention_only_adds_delay_and_every_task_is_reported_once(n, n_tasks, n_dev, cores, sharing, shared_cell, horizon, seed):
    """Each task's latency is at least its closed-form (idle-system) latency; each arrival is reported once."""
    rng = np.random.default_rng(seed)
    g = TaskGraph.chain(n)
    arrivals = np.sort(rng.uniform(0, horizon, n_tasks))
    tasks = [TaskSpec(i, int(rng.integers(n_dev)), float(t), rng.uniform(0, 2e9, n), rng.uniform(0, 5e6, n + 1) * (rng.random(n + 1) < 0.8))
             for i, t in enumerate(arrivals)]
    p1 = rng.uniform(1e8, 1e9, n_dev)
    b1 = rng.uniform(1e5, 2e6, n_dev)
    devices = [DeviceSpec(float(p1[i]), ConstantBandwidth(float(b1[i])), ConstantBandwidth(float(b1[i]))) for i in range(n_dev)]
    if shared_cell:
        devices = [DeviceSpec(float(p1[i]), devices[0].up, devices[0].down) for i in range(n_dev)]
    p2, b2 = 3e9, 1e6
    spec = SystemSpec(graph=g, tasks=tasks, devices=devices, edge_cores=cores, edge_hz=p2, wan_up=ConstantBandwidth(b2),
                      wan_down=ConstantBandwidth(b2), shared_cell=shared_cell, sharing=sharing, horizon_s=horizon)

    class Rand(Policy):
        def decide(self, obs):
            return rng.integers(0, 3, obs.graph.n)

    rec = Simulation(spec, Rand(), "rand").run()
    assert sorted(r[1] for r in rec.tasks) == list(range(n_tasks))  # once each
    for r in rec.tasks:
        ts = tasks[r[1]]
        if r[-1] == "unfinished":
            assert math.isnan(r[6])
            continue
        assert r[5] <= horizon + 1e-9
        d = devices[ts.device]
        bw = d.up.rate(0)
        inst = Instances(g, ts.cycles[None], ts.data[None], d.cpu_hz, p2, bw, b2)
        closed = latency(inst, np.array([int(c) for c in r[8]])[None])[0]
        assert r[6] >= closed * (1 - 1e-9) - 1e-12


def test_measured_decision_time_charges_the_wall_clock_of_the_call():
    import time as _t

    class Slow(Fixed):
        def decide(self, obs):
            _t.sleep(0.03)
            return np.asarray(self.place)

    g = TaskGraph.chain(1)
    spec = one_task_system(g, [1e9], [0.0, 0.0], 1e9, 1e9, 1e6, 1e6, decision_time="measured")
    row = Simulation(spec, Slow([0]), "slow").run().tasks[0]
    assert 0.03 <= row[7] < 0.5  # decision_s: at least the sleep
    assert row[6] == pytest.approx(1.0 + row[7])


def test_policy_sees_the_estimate_and_transfers_see_the_truth():
    from simoffload.net.channels import make_estimator, parse_estimator_spec

    seen = []

    class Spy(Fixed):
        def decide(self, obs):
            seen.append(obs.b1_Bps)
            return np.asarray(self.place)

    # 1 MB/s on [0, 10), 4 MB/s from 10 s on; one task arrives at 10.5 s and sends 2 MB up
    model = PiecewiseBandwidth([0, 10, 20], [1e6, 4e6], after="hold")
    g = TaskGraph.chain(1)
    for est, expected in (("oracle", 4e6), ("last", 1e6)):
        spec = SystemSpec(graph=g, tasks=[TaskSpec(0, 0, 10.5, np.array([1e9]), np.array([2e6, 0.0]))],
                          devices=[DeviceSpec(1e9, model, model)], edge_hz=2e9, wan_up=ConstantBandwidth(1e6),
                          wan_down=ConstantBandwidth(1e6), horizon_s=100.0,
                          estimator=make_estimator(parse_estimator_spec(est)))
        rec = Simulation(spec, Spy([1]), est).run()
        assert seen[-1] == pytest.approx(expected)  # the last complete 1-s sample is [9, 10): 1 MB/s
        # the transfer runs at the true 4 MB/s either way: 0.5 s up + 0.5 s on the 2 GHz edge
        assert rec.tasks[0][6] == pytest.approx(1.0)


def _reference_finish_times(times, rates, flows, sharing):
    """Independent reference: walk segments of constant rate and constant flow set, in plain Python.

    ``times``/``rates``: a piecewise trace held after its end. ``flows``: list of (start, bytes).
    Between consecutive events (a rate change, a flow start, a flow end) every active flow gets
    rate/k (fair) or the oldest active flow gets all of it (fifo).
    """
    remaining = {i: b for i, (s, b) in enumerate(flows)}
    done = {}
    t = 0.0
    while len(done) < len(flows):
        active = sorted((i for i in remaining if flows[i][0] <= t + 1e-12), key=lambda i: (flows[i][0], i))
        r = rates[max(k for k in range(len(rates)) if times[k] <= t + 1e-12)]
        nxt = [x for x in list(times[1:len(rates)]) + [s for s, _ in flows] if x > t + 1e-12]
        horizon = min(nxt) if nxt else math.inf
        if not active or r == 0:
            t = horizon
            continue
        share = {i: (r / len(active) if sharing == "fair" else (r if i == active[0] else 0.0)) for i in active}
        ends = {i: t + remaining[i] / share[i] for i in active if share[i] > 0}
        t_end = min(horizon, min(ends.values()))
        for i in active:
            if i in ends and ends[i] <= t_end * (1 + 1e-12):
                done[i] = t_end
                del remaining[i]
            else:
                remaining[i] -= share[i] * (t_end - t)
        t = t_end
    return [done[i] for i in range(len(flows))]


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(0.1, 5.0), st.sampled_from([0.0, 1.0, 2.5, 4.0, 10.0])), min_size=1, max_size=6),
    flows=st.lists(st.tuples(st.floats(0.0, 10.0), st.floats(0.5, 30.0)), min_size=1, max_size=6),
    sharing=st.sampled_from(["fair", "fifo"]),
)
def test_link_matches_an_independent_segment_by_segment_reference(steps, flows, sharing):
    times = [0.0]
    for dt, _ in steps:
        times.append(times[-1] + dt)
    rates = [r for _, r in steps] + [3.0]  # hold 3 B/s after the listed steps, so every flow ends
    model = PiecewiseBandwidth(times + [times[-1] + 1e6], rates, after="hold")
    flows = sorted(flows)
    got = _finish_times(model, sharing, {i: f for i, f in enumerate(flows)})
    want = _reference_finish_times(times, rates, flows, sharing)
    assert [got[i] for i in range(len(flows))] == pytest.approx(want, rel=1e-7, abs=1e-7)


def test_urgent_work_waits_ahead_of_queued_jobs_without_preemption():
    env = simpy.Environment()
    cpu = Cpu(env, "edge", 1, 1.0)
    log = []

    def job(name, t0, dur):
        yield env.timeout(t0)
        ev = cpu.run(dur)
        yield ev
        log.append((name, ev.start_s, env.now))

    def decision(name, t0, dur):
        yield env.timeout(t0)
        wait = cpu.acquire(urgent=True)
        if wait is not None:
            yield wait
        start = env.now
        yield env.timeout(dur)
        cpu.release_acquired()
        log.append((name, start, env.now))

    env.process(job("a", 0, 3))         # runs [0, 3): not preempted
    env.process(job("b", 0.5, 1))       # queued at 0.5
    env.process(decision("d", 0.6, 0.25))  # queued at 0.6 but urgent: [3, 3.25)
    env.process(job("c", 0.7, 1))
    env.run()
    assert log == [("a", 0, 3), ("d", 3, 3.25), ("b", 3.25, 4.25), ("c", 4.25, 5.25)]
    assert cpu.waiting == 0 and cpu.free == 1
