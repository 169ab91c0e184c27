"""Propagation delay: engine = an independent brute-force closed form; exact solvers stay exact; semantics by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_solvers import OBJECTIVES, dag_st, ilp_optimum, instances_st, same_cost

from policies.greedy import GreedyPolicy
from policies.optimal import OptimalPolicy
from simoffload.cli import main
from simoffload.config import parse_scenario
from simoffload.model.cost import coefficients, edge_cost_matrices, evaluate, latency
from simoffload.model.solvers import chain_dp, dag_mincut, exhaustive
from simoffload.model.task import Instances, TaskGraph, random_dag
from simoffload.net.bandwidth import ConstantBandwidth
from simoffload.net.latency import ConstantLatency
from simoffload.policy import Observation, Policy
from simoffload.sim.engine import DeviceSpec, Simulation, SystemSpec, TaskSpec
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import run_scenario

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


class Fixed(Policy):
    def __init__(self, place=None):
        self.place = place

    def decide(self, obs):
        return np.asarray(self.place)


def brute_force(graph, cycles, data, place, p1, p2, b, lat, p3=math.inf):
    """Latency of one placement, written out independently of simoffload.model.cost.

    ``b`` and ``lat`` map (hop, direction) -> bandwidth / one-way latency; hop 0 = device-edge,
    hop 1 = edge-cloud; direction "up" (towards the cloud) or "down". Serial execution.
    """
    speed = {0: p1, 1: p2, 2: p3}
    total = sum(0.0 if c == 0 or math.isinf(speed[p]) else c / speed[p] for c, p in zip(cycles, place))
    where = lambda v: 0 if v < 0 or v >= graph.n else place[v]  # noqa: E731
    for k in range(graph.m):
        a, z, d = where(int(graph.src[k])), where(int(graph.dst[k])), data[k]
        if a == z or d == 0:
            continue
        hops = range(a, z) if a < z else range(z, a)
        direction = "up" if a < z else "down"
        for h in hops:
            total += lat[(h, direction)] + d / b[(h, direction)]
    return total


def system(graph, cycles, data, p1, p2, b, lat, dag="serial"):
    lm = {k: (ConstantLatency(v) if v else None) for k, v in lat.items()}
    return SystemSpec(
        graph=graph, tasks=[TaskSpec(0, 0, 0.0, np.asarray(cycles), np.asarray(data))],
        devices=[DeviceSpec(p1, ConstantBandwidth(b[(0, "up")]), ConstantBandwidth(b[(0, "down")]),
                            lm[(0, "up")], lm[(0, "down")])],
        edge_hz=p2, wan_up=ConstantBandwidth(b[(1, "up")]), wan_down=ConstantBandwidth(b[(1, "down")]),
        wan_lat_up=lm[(1, "up")], wan_lat_down=lm[(1, "down")], horizon_s=1e15, dag_execution=dag)


def sim_latency(spec, place):
    (row,) = Simulation(spec, Fixed(place), "f").run().tasks
    assert row[-1] == "done"
    return row[6]


@pytest.mark.parametrize("shape", ["chain", "dag"])
def test_one_task_idle_system_equals_brute_force_for_every_placement(shape):
    rng = np.random.default_rng(7)
    g = TaskGraph.chain(4) if shape == "chain" else random_dag(4, 0.6, rng)
    for trial in range(3):
        cyc = rng.uniform(0, 2e9, g.n)
        dat = rng.uniform(1e5, 5e6, g.m)
        dat[rng.integers(0, g.m)] = 0.0  # a zero-byte edge: no transfer, no latency
        p1, p2 = rng.uniform(2e8, 1e9), rng.uniform(1e9, 4e9)
        b = {(h, d): rng.uniform(5e5, 3e6) for h in (0, 1) for d in ("up", "down")}
        lat = {(h, d): rng.uniform(0.001, 0.2) for h in (0, 1) for d in ("up", "down")}
        if trial == 2:
            lat[(0, "down")] = 0.0  # one hop without latency
        spec = system(g, cyc, dat, p1, p2, b, lat)
        P = np.array(list(itertools.product(range(3), repeat=g.n)))
        inst = Instances(g, np.tile(cyc, (len(P), 1)), np.tile(dat, (len(P), 1)), p1, p2,
                         b[(0, "up")], b[(1, "up")], b[(0, "down")], b[(1, "down")],
                         lat1=lat[(0, "up")], lat2=lat[(1, "up")], lat1_down=lat[(0, "down")], lat2_down=lat[(1, "down")])
        closed = latency(inst, P)
        for place, c in zip(P.tolist(), closed):
            ref = brute_force(g, cyc, dat, place, p1, p2, b, lat)
            assert sim_latency(spec, place) == pytest.approx(ref, rel=1e-9, abs=1e-12)
            assert c == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_hand_computed_device_to_cloud_crosses_two_hops():
    # 1 subtask, 0 cycles, in the cloud; 1 MB in, 1 MB out; every link 1 MB/s and 10 ms, WAN 40 ms:
    # up: 0.01 + 1 + 0.04 + 1; down: 0.04 + 1 + 0.01 + 1 -> 4.1 s
    g = TaskGraph.chain(1)
    b = {(h, d): 1e6 for h in (0, 1) for d in ("up", "down")}
    lat = {(0, "up"): 0.01, (0, "down"): 0.01, (1, "up"): 0.04, (1, "down"): 0.04}
    assert sim_latency(system(g, [0.0], [1e6, 1e6], 1e9, 1e9, b, lat, "parallel"), [2]) == pytest.approx(4.1, rel=1e-12)


def test_a_flow_shares_the_link_only_while_it_transmits():
    # shared cell 1 MB/s with 0.5 s latency; A (2 MB up) arrives at 0, B (1 MB up) at 1.0, both to the edge.
    # A sends 1 MB alone until B joins at 1.0; then 0.5 MB/s each: both last bytes leave at 3.0, arrive at 3.5.
    # (Had a flow kept its share during the propagation too, B would have finished later.)
    g = TaskGraph.chain(1)
    lat = ConstantLatency(0.5)
    dev = DeviceSpec(1e9, ConstantBandwidth(1e6), ConstantBandwidth(1e6), lat, lat)
    spec = SystemSpec(graph=g, tasks=[TaskSpec(0, 0, 0.0, np.array([0.0]), np.array([2e6, 0.0])),
                                      TaskSpec(1, 1, 1.0, np.array([0.0]), np.array([1e6, 0.0]))],
                      devices=[dev, dev], shared_cell=True, wan_up=ConstantBandwidth(1e6),
                      wan_down=ConstantBandwidth(1e6), horizon_s=100)
    rec = Simulation(spec, Fixed([1]), "f").run()
    assert [r[6] for r in rec.tasks] == [pytest.approx(3.5, rel=1e-12), pytest.approx(2.5, rel=1e-12)]
    # energy counts the radio only while the flow is on the link (not the propagation): 0.5 W x 3 s for A
    assert rec.tasks[0][9] == pytest.approx(0.5 * 3.0, rel=1e-12)
    up = sorted((r[3], r[4]) for r in rec.links if r[2] == "transfer")
    assert up == [(0.0, pytest.approx(3.0)), (1.0, pytest.approx(3.0))]  # the link records transmission only


def test_trace_latency_is_read_when_the_last_byte_leaves(tmp_path):
    # latency 1 s until t = 0.5, then 0.1 s; 1 MB at 1 MB/s from t = 0: the last byte leaves at 1.0 -> + 0.1 s
    (tmp_path / "lat.csv").write_text("t,ms\n0,1000\n0.5,100\n100,100\n")
    one = {**SMALL, "horizon": "20 s", "devices": {"count": 1, "cpu": "1 GHz", "arrivals": {"times": [0]}},
           "task": {"subtasks": 1, "distribution": {"cycles": 0, "bytes": "1 MB"}},
           "network": {"wireless": {"up": "1 MB/s", "down": "1 TB/s", "latency": {
               "trace": {"file": "lat.csv", "column": "ms", "time_column": "t", "unit": "ms"}}, "latency_down": 0},
               "wan": {"up": "1 MB/s"}}, "policies": ["edge"]}
    t = tables_from(run_scenario(parse_scenario(one, base_dir=tmp_path))).tasks
    assert t["latency_s"].iloc[0] == pytest.approx(1.1 + 1e-6, rel=1e-9)  # + 1 MB down at 1 TB/s


# ----------------------------------------------------------------------------- exact solvers with latency

lat_st = st.one_of(st.just(0.0), st.floats(1e-4, 1.0), st.sampled_from([1e-9, 50.0]))


@st.composite
def with_latency(draw, base):
    inst = draw(base)
    B = len(inst)
    lst = lambda: np.array(draw(st.lists(lat_st, min_size=B, max_size=B)))  # noqa: E731
    inst.lat1, inst.lat2 = lst(), lst()
    if draw(st.booleans()):
        inst.lat1_down, inst.lat2_down = lst(), lst()
    return inst


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=with_latency(instances_st(st.integers(1, 7).map(TaskGraph.chain))), obj=st.sampled_from(OBJECTIVES))
def test_chain_dp_equals_exhaustive_with_latency(inst, obj):
    coef = coefficients(inst, obj)
    P, val = chain_dp(coef, inst.data)
    Pe, vale = exhaustive(coef, inst.graph, inst.data)
    assert same_cost(val, vale)
    assert same_cost(evaluate(coef, inst.graph, inst.data, P), vale)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=with_latency(instances_st(dag_st(7, chain_prob=0.1), allow_zero=True)), obj=st.sampled_from(OBJECTIVES))
def test_mincut_equals_exhaustive_with_latency(inst, obj):
    coef = coefficients(inst, obj)
    P, val = dag_mincut(coef, inst.graph, inst.data)
    _, vale = exhaustive(coef, inst.graph, inst.data)
    assert same_cost(val, vale)
    assert same_cost(evaluate(coef, inst.graph, inst.data, P), vale)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=with_latency(instances_st(dag_st(6), allow_zero=False, batch=1)))
def test_ilp_agrees_with_latency(inst):
    coef = coefficients(inst)
    _, vale = exhaustive(coef, inst.graph, inst.data)
    pair = edge_cost_matrices(coef, inst.data)
    scale = float(vale[0]) if vale[0] > 0 else 1.0
    if max(float(np.max(coef.unary[0])), float(np.max(pair[0]))) > 1e9 * scale:
        return  # beyond an LP solver's tolerances
    v = ilp_optimum(coef.unary[0] / scale, pair[0] / scale, inst.graph) * scale
    assert v == pytest.approx(vale[0], rel=1e-5, abs=2e-6 * scale)


def test_latency_changes_the_optimum_and_policies_see_it():
    # 1 subtask of 1e9 cycles: device 1 s; edge (4 GHz) 0.25 s + 0.1 MB up/down at 1 MB/s = 0.45 s.
    # With 0.7 s one-way wireless latency the edge costs 1.85 s (greedy, myopic, sees 0.7 + 0.1 + 0.25 = 1.05):
    # local wins for both. (A slow WAN keeps the cloud out.)
    g = TaskGraph.chain(1)
    obs = Observation(g, np.array([1e9]), np.array([1e5, 1e5]), 1e9, 4e9, 1e6, 1e4)
    assert OptimalPolicy().decide(obs).tolist() == [1] and GreedyPolicy().decide(obs).tolist() == [1]
    obs.lat1_s = obs.lat1_down_s = 0.7
    assert OptimalPolicy().decide(obs).tolist() == [0] and GreedyPolicy().decide(obs).tolist() == [0]
    inst = obs.instances()
    assert latency(inst, [[1]])[0] == pytest.approx(1.85) and latency(inst, [[0]])[0] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- scenarios

SMALL = {"seed": 3, "horizon": "10 min", "task": {"subtasks": 3, "distribution": "paper-5.2"},
         "devices": {"count": 2, "cpu": "500 MHz", "arrivals": {"poisson": {"rate": "0.05 /s"}}},
         "network": {"wireless": {"up": "2 MB/s"}, "wan": {"up": "3 MB/s"}},
         "policies": ["local", "edge", "cloud", "optimal"]}


def _with(**hops):
    net = {k: dict(v) for k, v in SMALL["network"].items()}
    for k, v in hops.items():
        net[k].update(v)
    return parse_scenario(dict(SMALL, network=net))


def test_zero_latency_is_bit_identical_to_none():
    a = tables_from(run_scenario(parse_scenario(SMALL)))
    b = tables_from(run_scenario(_with(wireless={"latency": "0 ms"}, wan={"latency": 0})))
    pd.testing.assert_frame_equal(a.tasks, b.tasks, check_exact=True)
    pd.testing.assert_frame_equal(a.links, b.links, check_exact=True)


def test_constant_latency_adds_exactly_per_hop_to_an_all_cloud_run():
    # all-cloud on an uncontended system: each task pays 2 x (wireless + WAN) latencies more
    one = {**SMALL, "devices": {**SMALL["devices"], "count": 1, "arrivals": {"periodic": {"interval": "60 s"}}}}
    base = tables_from(run_scenario(parse_scenario(one))).tasks
    net = {"wireless": {"up": "2 MB/s", "latency": "15 ms"}, "wan": {"up": "3 MB/s", "latency": "40 ms", "latency_down": "60 ms"}}
    lat = tables_from(run_scenario(parse_scenario(dict(one, network=net)))).tasks
    b, lt = base[base.policy == "cloud"], lat[lat.policy == "cloud"]
    np.testing.assert_allclose(lt["latency_s"].to_numpy() - b["latency_s"].to_numpy(), 0.015 + 0.04 + 0.06 + 0.015,
                               rtol=1e-9)


def test_random_latency_is_common_to_every_policy_and_seeded():
    sc = _with(wireless={"latency": {"exponential": {"mean": "30 ms"}}})
    sc.policies = [p for p in sc.policies if p.name == "edge"] * 1
    from simoffload.config import PolicyConfig

    sc.policies = [PolicyConfig(name="edge", label="e1"), PolicyConfig(name="edge", label="e2")]
    t = tables_from(run_scenario(sc)).tasks
    e1, e2 = t[t.policy == "e1"], t[t.policy == "e2"]
    np.testing.assert_array_equal(e1["latency_s"].to_numpy(), e2["latency_s"].to_numpy())
    base = tables_from(run_scenario(_with())).tasks
    extra = e1["latency_s"].to_numpy() - base[base.policy == "edge"]["latency_s"].to_numpy()
    assert (extra > 0).mean() > 0.9  # every edge task pays two draws (up and down)


def test_trace_latency_column(tmp_path):
    # ping column in ms, round trip: scale 0.5. 0-10 s: 100 ms RTT (50 ms one way), 10-20 s: 300 ms (150 ms).
    (tmp_path / "ping.csv").write_text("t,rtt\n0,100\n10,300\n20,300\n")
    one = {**SMALL, "horizon": "20 s", "devices": {"count": 1, "cpu": "1 GHz", "arrivals": {"times": [1, 12]}},
           "task": {"subtasks": 1, "distribution": {"cycles": 0, "bytes": "1 MB"}},
           "network": {"wireless": {"up": "1 MB/s", "latency": {"trace": {"file": "ping.csv", "column": "rtt",
                                                                          "time_column": "t", "unit": "ms", "scale": 0.5}}},
                       "wan": {"up": "1 MB/s"}}, "policies": ["edge"]}
    sc = parse_scenario(one, base_dir=tmp_path)
    t = tables_from(run_scenario(sc)).tasks
    # task at 1 s: up 1-2 + 50 ms, down 2.05-3.05 + 50 ms -> 2.1; at 12 s: 2 x (1 + 0.15) = 2.3
    np.testing.assert_allclose(t["latency_s"].to_numpy(), [2.1, 2.3], rtol=1e-12)


@pytest.mark.parametrize("bad,field", [("-5 ms", "network.wan.latency"), ({"weird": 1}, "network.wan.latency"),
                                       ({"trace": {"file": "x.csv"}}, "network.wan.latency")])
def test_bad_latency_is_one_line_error(tmp_path, capsys, bad, field):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(dict(SMALL, network={"wireless": {"up": "1 MB/s"}, "wan": {"up": "1 MB/s", "latency": bad}})))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {f}:") and field in err


def test_missing_latency_trace_is_one_line_error(tmp_path, capsys):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(dict(SMALL, network={"wireless": {"up": "1 MB/s"}, "wan": {
        "up": "1 MB/s", "latency": {"trace": {"file": "nope.csv", "column": "rtt"}}}})))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.csv" in err


def test_batched_compiled_cut_with_latency_equals_exhaustive():
    # moderate ranges: every instance takes the compiled batched path (PyMaxflow), latency terms included
    from simoffload.model.solvers import _fast_eligible

    rng = np.random.default_rng(11)
    g = random_dag(6, 0.5, rng)
    B = 200
    data = rng.uniform(1e4, 5e6, (B, g.m))
    data[rng.random((B, g.m)) < 0.15] = 0.0  # zero-byte edges pay no latency
    inst = Instances(g, rng.uniform(1e8, 2e9, (B, g.n)), data, rng.uniform(2e8, 1e9, B), rng.uniform(1e9, 4e9, B),
                     rng.uniform(2e5, 2e6, B), rng.uniform(2e5, 3e6, B), lat1=rng.uniform(0.001, 0.3, B),
                     lat2=rng.uniform(0.01, 0.5, B), lat1_down=rng.uniform(0.001, 0.3, B), lat2_down=rng.uniform(0.01, 0.5, B),
                     p3=2e10)
    coef = coefficients(inst)
    assert _fast_eligible(coef, inst.data).all()
    P, val = dag_mincut(coef, g, inst.data)
    _, vale = exhaustive(coef, g, inst.data)
    np.testing.assert_allclose(val, vale, rtol=1e-9)
    # and the latencies matter: ignoring them would pick other placements for some instances
    P0, _ = dag_mincut(coefficients(Instances(g, inst.cycles, inst.data, inst.p1, inst.p2, inst.b1, inst.b2, p3=2e10)),
                       g, inst.data)
    assert (P0 != P).any()
