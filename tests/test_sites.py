"""Several edge sites: the K-place cost model, its exact solvers, and the engine against a brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simoffload.model.cost import (
    LATENCY,
    Objective,
    SiteTopology,
    coefficients,
    evaluate,
    evaluate_places,
    evaluate_places_each,
    place_coefficients,
)
from simoffload.model.solvers import (
    all_place_codes,
    all_placements,
    place_chain_dp_one,
    places_chain_dp,
    places_exhaustive,
    places_milp,
    solve_places,
)
from simoffload.model.task import Instances, TaskGraph, random_dag


def random_topology(rng, B, S, latency=True):
    bw = rng.uniform(0.5e6, 5e6, (B, S, S))
    return SiteTopology(
        site_hz=rng.uniform(1e9, 4e9, (B, S)), wan_up_Bps=rng.uniform(0.5e6, 3e6, (B, S)),
        wan_down_Bps=rng.uniform(0.5e6, 3e6, (B, S)), man_Bps=bw,
        man_latency_s=rng.uniform(0, 0.01, (B, S, S)) if latency else None,
        wan_latency_s=rng.uniform(0, 0.05, (B, S)) if latency else None,
        wireless_latency_s=rng.uniform(0, 0.005, B) if latency else None,
    )


def random_instances(rng, graph, B):
    return Instances(graph, rng.uniform(0, 2e9, (B, graph.n)), rng.uniform(0, 5e6, (B, graph.m)),
                     rng.uniform(1e8, 1e9, B), rng.uniform(1e9, 4e9, B), rng.uniform(0.2e6, 2e6, B),
                     rng.uniform(0.2e6, 3e6, B), rng.uniform(0.2e6, 2e6, B), None, math.inf)


def brute_cost(inst, topo, b, place, graph):
    """Cost of one placement by walking every data edge's route, written without the cost model."""
    S = topo.site_hz.shape[1]

    def site(p):  # relative site of a place code, or None
        return 0 if p == 1 else (p - 2 if p >= 3 else None)

    def hop_sum(a, z, d):  # seconds to move d bytes from place a to place z
        if a == z or d <= 0:
            return 0.0
        wu, wd = d / inst.b1[b], d / inst.down1[b]
        wl = topo.wireless_latency_s[b]
        sa, sz = site(a), site(z)
        if a == 0:  # up the wireless to the own site, then onward
            rest = 0.0 if z == 1 else hop_sum(1, z, d)
            return wu + wl + rest
        if z == 0:
            before = 0.0 if a == 1 else hop_sum(a, 1, d)
            return before + wd + wl
        if a == 2:
            return d / topo.wan_down_Bps[b, sz] + topo.wan_latency_s[b, sz]
        if z == 2:
            return d / topo.wan_up_Bps[b, sa] + topo.wan_latency_s[b, sa]
        return d / topo.man_Bps[b, sa, sz] + topo.man_latency_s[b, sa, sz]

    total = 0.0
    for v, p in enumerate(place):
        c = inst.cycles[b, v]
        if p == 0:
            total += c / inst.p1[b]
        elif p != 2:
            total += c / topo.site_hz[b, site(p)]
    ext = list(place) + [0]
    for k in range(graph.m):
        s, d = int(graph.src[k]), int(graph.dst[k])
        a = 0 if s < 0 else ext[s]
        total += hop_sum(a, ext[d], inst.data[b, k])
    assert S >= 1
    return total


def test_place_costs_equal_route_by_route_brute_force():
    rng = np.random.default_rng(0)
    g = TaskGraph.chain(3)
    inst = random_instances(rng, g, 4)
    topo = random_topology(rng, 4, 3)
    coef = place_coefficients(inst, topo)
    P = all_place_codes(3, 5)
    got = evaluate_places(coef, g, inst.data, P)
    for b in range(4):
        for r, place in enumerate(P):
            want = brute_cost(inst, topo, b, place.tolist(), g)
            assert got[b, r] == pytest.approx(want, rel=1e-12)


def test_one_site_without_latency_equals_the_line_model():
    rng = np.random.default_rng(1)
    g = TaskGraph.chain(4)
    inst = random_instances(rng, g, 6)
    topo = SiteTopology(site_hz=inst.p2[:, None], wan_up_Bps=inst.b2[:, None], wan_down_Bps=inst.down2[:, None],
                        man_Bps=np.ones((6, 1, 1)))
    for obj in (LATENCY, Objective(latency_weight=0.3, energy_weight=2.0)):
        coef = place_coefficients(inst, topo, obj)
        P = all_placements(4)
        want = np.stack([evaluate(coefficients(inst, obj), g, inst.data, p[None, :]) for p in P], axis=1)
        np.testing.assert_allclose(evaluate_places(coef, g, inst.data, P), want, rtol=1e-13)


def test_chain_dp_over_k_states_equals_exhaustive():
    rng = np.random.default_rng(2)
    for n, S in ((1, 1), (3, 2), (5, 3), (6, 4)):
        g = TaskGraph.chain(n)
        inst = random_instances(rng, g, 40)
        inst.data[rng.random(inst.data.shape) < 0.15] = 0.0
        coef = place_coefficients(inst, random_topology(rng, 40, S), Objective(1.0, 0.5))
        p_dp, v_dp = places_chain_dp(coef, inst.data)
        p_ex, v_ex = places_exhaustive(coef, g, inst.data)
        np.testing.assert_allclose(v_dp, v_ex, rtol=1e-12)
        np.testing.assert_allclose(evaluate_places_each(coef, g, inst.data, p_dp), v_ex, rtol=1e-12)
        # the plain-Python single-instance DP returns the same placements
        from simoffload.model.cost import place_edge_costs
        pair = place_edge_costs(coef, inst.data)
        for b in range(40):
            one = place_chain_dp_one(coef.unary[b].tolist(), pair[b].tolist(), n, 2 + S)
            assert one == p_dp[b].tolist()


def test_dag_ilp_equals_exhaustive_on_random_dags():
    rng = np.random.default_rng(3)
    for trial in range(6):
        n = int(rng.integers(2, 6))
        g = random_dag(n, 0.5, rng)
        S = int(rng.integers(2, 4))
        inst = random_instances(rng, g, 5)
        inst.data[rng.random(inst.data.shape) < 0.1] = 0.0
        coef = place_coefficients(inst, random_topology(rng, 5, S))
        p_ilp, v_ilp = places_milp(coef, g, inst.data)
        _, v_ex = places_exhaustive(coef, g, inst.data)
        np.testing.assert_allclose(v_ilp, v_ex, rtol=1e-9)
        _, v_s = solve_places(coef, g, inst.data)
        np.testing.assert_allclose(v_s, v_ex, rtol=1e-9)


def test_hand_computed_other_site_cost():
    # one subtask of 2e9 cycles, input 1 MB, output 0.5 MB; placed at other site j=1 (code 3)
    g = TaskGraph.chain(1)
    inst = Instances(g, [[2e9]], [[1e6, 0.5e6]], [1e9], [1e9], [2e6], [1e6], [4e6], None, math.inf)
    topo = SiteTopology(site_hz=[[1e9, 4e9]], wan_up_Bps=[[1e6, 1e6]], wan_down_Bps=[[1e6, 1e6]],
                        man_Bps=[[[1.0, 10e6], [5e6, 1.0]]], man_latency_s=[[[0, 0.002], [0.003, 0]]],
                        wan_latency_s=[[0.02, 0.02]], wireless_latency_s=[0.001])
    coef = place_coefficients(inst, topo)
    # up: 1e6/2e6 + 0.001 + 1e6/10e6 + 0.002 = 0.603; run 2e9/4e9 = 0.5; down: 0.5e6/5e6 + 0.003 + 0.5e6/4e6 + 0.001 = 0.229
    assert evaluate_places(coef, g, inst.data, np.array([[3]]))[0, 0] == pytest.approx(0.603 + 0.5 + 0.229, rel=1e-12)


# ----------------------------------------------------------------------------- the engine with several sites

from simoffload.net.bandwidth import ConstantBandwidth  # noqa: E402
from simoffload.policy import Policy  # noqa: E402
from simoffload.sim.engine import TASK_FIELDS, DeviceSpec, SystemSpec, TaskSpec  # noqa: E402
from simoffload.sim.engine_sites import ManLinkSpec, SiteSimulation, SiteSpec, Topology  # noqa: E402


class Fixed(Policy):
    def __init__(self, place=None):
        self.place = place

    def decide(self, obs):
        return np.asarray(self.place)


C = ConstantBandwidth
# three sites in a line a - b - c; the device sits at a (own site); wireless 2 MB/s up, 4 MB/s down
SITE_HZ = (1e9, 3e9, 2e9)
WAN = ((1e6, 1.5e6, 0.02), (2e6, 1e6, 0.03), (0.5e6, 0.8e6, 0.01))  # up, down B/s, one-way latency s
MAN = ((0, 1, 10e6, 8e6, 0.002), (1, 2, 5e6, 6e6, 0.004))  # a, b, a->b, b->a, latency
W_UP, W_DOWN, W_LAT, P1 = 2e6, 4e6, 0.001, 0.5e9


def three_site_system(graph, cycles, data, reach="man", dag_execution="serial", cloud_hz=math.inf):
    sites = [SiteSpec(f"s{i}", 1, SITE_HZ[i], C(WAN[i][0]), C(WAN[i][1]), WAN[i][2]) for i in range(3)]
    man = [ManLinkSpec(a, b, C(ab), C(ba), lat) for a, b, ab, ba, lat in MAN]
    topo = Topology(sites, man, reach=reach, association=[0], wireless_latency_s=W_LAT)
    return SystemSpec(graph=graph, tasks=[TaskSpec(0, 0, 0.0, np.asarray(cycles), np.asarray(data))],
                      devices=[DeviceSpec(P1, C(W_UP), C(W_DOWN))], edge_hz=SITE_HZ[0],
                      wan_up=C(WAN[0][0]), wan_down=C(WAN[0][1]), horizon_s=1e9, topology=topo,
                      dag_execution=dag_execution, cloud_hz=cloud_hz)


def brute_route_seconds(a, b, d):
    """Seconds to carry d bytes from absolute place a to b; places 'dev', 'cloud', 0, 1, 2 (sites). By hand."""
    if a == b or d <= 0:
        return 0.0
    if a == "dev":
        return d / W_UP + W_LAT + brute_route_seconds(0, b, d)
    if b == "dev":
        return brute_route_seconds(a, 0, d) + d / W_DOWN + W_LAT
    if a == "cloud":
        return d / WAN[b][1] + WAN[b][2]
    if b == "cloud":
        return d / WAN[a][0] + WAN[a][2]
    # the MAN is a line 0 - 1 - 2: walk it hop by hop
    t, step = 0.0, (1 if b > a else -1)
    for x in range(a, b, step):
        y = x + step
        lo = min(x, y)
        ab, ba, lat = MAN[lo][2], MAN[lo][3], MAN[lo][4]
        t += d / (ab if y > x else ba) + lat
    return t


def brute_latency(graph, cycles, data, codes, cloud_hz=math.inf):
    """Closed form of one task on an idle system: code 0 dev, 1 own site (0), 2 cloud, 3 site 1, 4 site 2."""
    place = {0: "dev", 1: 0, 2: "cloud", 3: 1, 4: 2}
    abs_ = [place[c] for c in codes]
    t = 0.0
    for v, p in enumerate(abs_):
        if p == "dev":
            t += cycles[v] / P1
        elif p != "cloud":
            t += cycles[v] / SITE_HZ[p]
        elif math.isfinite(cloud_hz):
            t += cycles[v] / cloud_hz
    for k in range(graph.m):
        s, d = int(graph.src[k]), int(graph.dst[k])
        a = "dev" if s < 0 else abs_[s]
        b = "dev" if d >= graph.n else abs_[d]
        t += brute_route_seconds(a, b, data[k])
    return t


def test_one_task_idle_system_equals_brute_force_for_every_placement_over_five_places():
    g = TaskGraph.chain(3)
    cycles = [0.8e9, 1.5e9, 0.6e9]
    data = [1.2e6, 0.7e6, 0.0, 0.3e6]  # one zero-size edge: no transfer, no latency
    for codes in all_place_codes(3, 5).tolist():
        rec = SiteSimulation(three_site_system(g, cycles, data), Fixed(codes), "fixed").run()
        (row,) = rec.tasks
        assert row[-1] == "done"
        assert row[6] == pytest.approx(brute_latency(g, cycles, data, codes), rel=1e-12, abs=1e-12), codes


def test_dag_serial_equals_brute_force_and_cost_model_over_other_sites():
    rng = np.random.default_rng(7)
    g = random_dag(4, 0.6, rng)
    cycles = rng.uniform(1e8, 2e9, g.n).tolist()
    data = rng.uniform(1e5, 2e6, g.m).tolist()
    inst = Instances(g, [cycles], [data], [P1], [SITE_HZ[0]], [W_UP], [WAN[0][0]], [W_DOWN], None, math.inf)
    M = np.ones((3, 3))
    Lm = np.zeros((3, 3))
    for a, b, ab, ba, lat in MAN:
        M[a, b], M[b, a], Lm[a, b], Lm[b, a] = ab, ba, lat, lat
    M[0, 2] = 1.0 / (1 / M[0, 1] + 1 / M[1, 2])  # the two-hop route a -> c, store-and-forward
    M[2, 0] = 1.0 / (1 / M[2, 1] + 1 / M[1, 0])
    Lm[0, 2] = Lm[2, 0] = MAN[0][4] + MAN[1][4]
    topo = SiteTopology(site_hz=[SITE_HZ], wan_up_Bps=[[w[0] for w in WAN]], wan_down_Bps=[[w[1] for w in WAN]],
                        man_Bps=M[None], man_latency_s=Lm[None], wan_latency_s=[[w[2] for w in WAN]],
                        wireless_latency_s=[W_LAT])
    coef = place_coefficients(inst, topo)
    P = all_place_codes(g.n, 5)
    model = evaluate_places(coef, g, inst.data, P)[0]
    for r in rng.choice(len(P), 60, replace=False):
        codes = P[r].tolist()
        rec = SiteSimulation(three_site_system(g, cycles, data), Fixed(codes), "fixed").run()
        want = brute_latency(g, cycles, data, codes)
        assert rec.tasks[0][6] == pytest.approx(want, rel=1e-12)
        assert model[r] == pytest.approx(want, rel=1e-12)


def test_optimal_policy_uses_other_sites_and_matches_exhaustive_over_places():
    from policies.optimal import OptimalPolicy

    g = TaskGraph.chain(3)
    cycles = [3e9, 3e9, 3e9]  # heavy: site 1 (3 GHz) beats the own site (1 GHz) despite the MAN
    data = [1e5, 1e5, 1e5, 1e5]
    spec = three_site_system(g, cycles, data, cloud_hz=0.5e9)
    rec = SiteSimulation(spec, OptimalPolicy(), "optimal").run()
    best = min(brute_latency(g, cycles, data, c, cloud_hz=0.5e9) for c in all_place_codes(3, 5).tolist())
    decision = rec.tasks[0][7]
    assert rec.tasks[0][6] - decision == pytest.approx(best, rel=1e-12)
    assert "3" in rec.tasks[0][8]
    # the policy's own reach limit: the best of the 27 placements over device / own site / cloud
    rec = SiteSimulation(spec, OptimalPolicy(reach="own"), "optimal").run()
    best_own = min(brute_latency(g, cycles, data, c, cloud_hz=0.5e9) for c in all_place_codes(3, 3).tolist())
    assert set(rec.tasks[0][8]) <= set("012") and best_own > best
    assert rec.tasks[0][6] - rec.tasks[0][7] == pytest.approx(best_own, rel=1e-12)
    # with placements limited to the own site, code 3 is refused and the policy stays on 0/1/2
    rec = SiteSimulation(three_site_system(g, cycles, data, reach="own", cloud_hz=0.5e9), OptimalPolicy(), "optimal").run()
    assert set(rec.tasks[0][8]) <= set("012")


# ----------------------------------------------------------------------------- scenarios

import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from simoffload.cli import main  # noqa: E402
from simoffload.config import parse_scenario  # noqa: E402
from simoffload.sim.results import tables_from  # noqa: E402
from simoffload.sim.scenario import run_scenario  # noqa: E402

BASE = {
    "name": "sites", "seed": 5, "horizon": "10 min",
    "task": {"subtasks": 4, "distribution": "paper-5.2"},
    "devices": {"count": 4, "cpu": {"uniform": ["200 MHz", "1 GHz"]}, "arrivals": {"poisson": {"rate": "0.05 /s"}}},
    "edge": {"cores": 2, "cpu": "3 GHz"},
    "network": {"wireless": {"up": "4 MB/s"}, "wan": {"up": "3 MB/s"}},
    "policies": ["local", "edge", "cloud", "random", "greedy", "optimal", "queue-aware"],
}


@pytest.mark.parametrize("variants", [False, True])
def test_one_site_list_gives_the_same_tasks_and_subtasks_as_the_single_edge(variants):
    base = yaml.safe_load(yaml.safe_dump(BASE))
    if variants:  # task variants (a cheaper, less accurate model) go through the sites engine the same way
        base["task"]["variants"] = [{"name": "full", "accuracy": 0.9},
                                    {"name": "small", "accuracy": 0.7, "cycles_scale": 0.25, "bytes_scale": 0.5}]
        base["task"]["accuracy_req"] = {"uniform": [0.5, 0.8]}
    a = tables_from(run_scenario(parse_scenario(yaml.safe_load(yaml.safe_dump(base)))))
    d = yaml.safe_load(yaml.safe_dump(base))
    d["edge"] = [d["edge"]]
    b = tables_from(run_scenario(parse_scenario(d)))
    for t in ("tasks", "subtasks"):
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t))
    assert a.sites is None and list(b.sites["tasks"]) == [len(a.tasks) // 7] * 7
    assert not variants or (a.tasks["variant"] == 1).any()


def test_several_sites_scenario_reports_per_site_load(tmp_path, capsys):
    d = yaml.safe_load(yaml.safe_dump(BASE))
    d["edge"] = [{"name": "a", "cores": 1, "cpu": "1 GHz"}, {"name": "b", "cores": 4, "cpu": "4 GHz"}]
    d["cloud"] = {"cpu": "1 GHz"}
    d["topology"] = {"man": [{"between": ["a", "b"], "bandwidth": "100 MB/s", "latency": "1 ms"}],
                     "placement": "man", "association": {"fixed": ["a"]}}
    d["policies"] = ["edge", "optimal"]
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    assert main(["run", str(p), "--out", str(tmp_path / "out"), "--no-progress", "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "per site" in out
    from simoffload import load_results

    res = load_results(tmp_path / "out")
    s = res.sites.set_index(["policy", "site"])
    # every device is at a; 'edge' runs everything on the own site, optimal moves work to the 4x faster b
    assert s.loc[("edge", "b"), "subtasks"] == 0 and s.loc[("edge", "a"), "subtasks"] > 0
    assert s.loc[("optimal", "b"), "subtasks"] > 0
    assert (s["tasks"].groupby("policy").sum() == len(res.tasks) // 2).all()


@pytest.mark.parametrize("change, message", [
    ({"topology": {"man": [{"between": ["a", "zz"], "bandwidth": "1 MB/s"}]}}, "unknown site; sites are ['a', 'b'] (got 'zz')"),
    ({"topology": {"association": {"fixed": ["a"], "nearest": True}}}, "exactly one of fixed, nearest, trace"),
    ({"topology": {"handover": "teleport"}}, "handover"),
    ({"topology": {"mobility": {"random_waypoint": {"area": [0, 10], "speed": [1, 2]}}}}, "area"),
])
def test_bad_topology_is_one_line_with_file_and_line(tmp_path, capsys, change, message):
    d = yaml.safe_load(yaml.safe_dump(BASE))
    d["edge"] = [{"name": "a"}, {"name": "b"}]
    d.update(change)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {p}:") and message in err, err
    assert f"{p}:1:" not in err  # the line of the offending field, not the top of the file


# ----------------------------------------------------------------------------- handover (hand-computed)

from simoffload.net.bandwidth import PiecewiseBandwidth  # noqa: E402


def handover_system(rule):
    """Two sites a, b (1 GHz, one core) joined by a 10 MB/s MAN with 2 ms latency. The device starts at a and
    hands over to b at t = 1 s; its wireless link gives 1 MB/s (cell a) until 1 s, then 2 MB/s (cell b).
    One task at t = 0: one subtask of 1e9 cycles placed on the own site a, input 2 MB, output 0.5 MB."""
    wl = PiecewiseBandwidth([0.0, 1.0, 1e6], [1e6, 2e6], after="hold")
    sites = [SiteSpec(n, 1, 1e9, C(1e6), C(1e6)) for n in ("a", "b")]
    topo = Topology(sites, [ManLinkSpec(0, 1, C(10e6), C(10e6), 0.002)], reach="own", association=[0],
                    handovers=[(1.0, 0, 1)], handover=rule)
    return SystemSpec(graph=TaskGraph.chain(1), tasks=[TaskSpec(0, 0, 0.0, np.array([1e9]), np.array([2e6, 0.5e6]))],
                      devices=[DeviceSpec(1e9, wl, wl)], edge_hz=1e9, wan_up=C(1e6), wan_down=C(1e6),
                      horizon_s=100.0, topology=topo)


# continue: 1 MB sent by t=1, the other 1 MB at 2 MB/s -> 1.5 s, arriving at b; MAN b->a 2e6/10e6 + 2 ms -> 1.702;
#   run on a 1 s -> 2.702; the result follows the device: MAN a->b 0.5e6/10e6 + 2 ms -> 2.754; b's downlink
#   0.5e6 / 2e6 -> 3.004
# restart: the 1 MB sent is lost at t=1, 2 MB at 2 MB/s -> 2.0; MAN 0.202 -> 2.202; run -> 3.202; back 0.052 + 0.25 -> 3.504
@pytest.mark.parametrize("rule, latency", [("continue", 3.004), ("restart", 3.504)])
def test_handover_rules_continue_and_restart_hand_computed(rule, latency):
    rec = SiteSimulation(handover_system(rule), Fixed([1]), "fixed").run()
    row = dict(zip(TASK_FIELDS, rec.tasks[0]))
    assert row["status"] == "done" and row["site"] == 0
    assert row["latency_s"] == pytest.approx(latency, rel=1e-12)
    sub = rec.subtasks[0]
    assert sub[4] == pytest.approx(latency - 1.302, rel=1e-12)  # ready when the input reached site a


def test_handover_rule_fail_fails_the_task_at_the_handover():
    sim = SiteSimulation(handover_system("fail"), Fixed([1]), "fixed")
    rec = sim.run()
    row = dict(zip(TASK_FIELDS, rec.tasks[0]))
    assert (row["status"], row["reason"]) == ("failed", "handover")
    assert math.isnan(row["latency_s"]) and rec.subtasks == []
    assert sim.w_up[0].active == 0  # the flow left the link
    # a task whose wireless transfer is over before the handover is not touched: input of 0.5 MB ends at 0.5 s
    spec = handover_system("fail")
    spec.tasks[0].data[:] = [0.5e6, 0.0]
    row = dict(zip(TASK_FIELDS, SiteSimulation(spec, Fixed([1]), "fixed").run().tasks[0]))
    assert row["status"] == "done" and row["latency_s"] == pytest.approx(1.5, rel=1e-12)


def test_modelled_decision_time_of_optimal_counts_the_places_it_is_offered():
    from policies.optimal import OptimalPolicy

    chain = TaskGraph.chain(6)
    assert OptimalPolicy().decision_ops(chain) == 18 + 45 + 6  # K = 3: unchanged
    assert OptimalPolicy().decision_ops(chain, places=5) == 5 * 6 + 25 * 5 + 10
    g = TaskGraph.chain(3)
    cycles, data = [1e9, 1e9, 1e9], [1e5] * 4
    for reach, K in (("man", 5), ("own", 3)):
        spec = three_site_system(g, cycles, data, reach=reach)
        spec.cycles_per_op = 1e6  # 1e6 cycles per op on the deciding site's 1 GHz core
        rec = SiteSimulation(spec, OptimalPolicy(), "optimal").run()
        ops = K * 3 + K * K * 2 + 2 * K
        assert rec.tasks[0][TASK_FIELDS.index("decision_s")] == pytest.approx(ops * 1e6 / SITE_HZ[0], rel=1e-12)
