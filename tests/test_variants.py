"""Task variants and accuracy requirements: exact optimum vs brute force, engine vs closed form, tables, config.

The reference numbers here come from an independent closed form written in
this file (``chain_latency``: execution plus per-hop transfers, the paper's
Sec. 3.2) and an exhaustive loop over every variant and every placement, not
from :mod:`simoffload.model.cost` or the solvers under test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from simoffload.config import parse_scenario, scenario_to_yaml
from simoffload.errors import UserError
from simoffload.model.cost import Objective
from simoffload.model.solvers import solve_variants
from simoffload.model.task import Instances, TaskGraph
from simoffload.model.variants import (
    Variants,
    accuracy_cost,
    feasible_mask,
    pick_variant,
)
from simoffload.policy import (
    Decision,
    Observation,
    Policy,
    check_batch_decision,
    check_decision,
)
from simoffload.registry import make_policy, registered
from simoffload.sim.engine import TASK_FIELDS, VARIANT_TASK_FIELDS
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import build_world, run_scenario


def chain_latency(cycles, data, place, p1, p2, b1, b2):
    """Closed-form latency of one chain placement (cloud in zero time), written independently."""
    speed = {0: p1, 1: p2}
    t = 0.0
    prev = 0
    for v, p in enumerate(list(place) + [0]):
        d = data[v]
        if p != prev and d > 0:
            hops = range(min(prev, p), max(prev, p))  # hop 0 = device-edge, hop 1 = edge-cloud
            t += sum(d / (b1 if h == 0 else b2) for h in hops)
        if v < len(place) and p in speed:
            t += cycles[v] / speed[p]
        prev = p
    return t


def brute_force(variants, req, p1, p2, b1, b2, mode="constrain", weight=0.0):
    """Best (cost, variant, placement) over every variant and every placement, by enumeration."""
    acc = list(variants.accuracy)
    meets = [a >= req for a in acc]
    if not any(meets):  # nothing meets the requirement: the most accurate ones are the best possible
        meets = [a == max(acc) for a in acc]
    best = (math.inf, None, None)
    n = variants.cycles.shape[1]
    for k in range(len(acc)):
        if mode == "constrain" and not meets[k]:
            continue
        extra = weight * max(0.0, req - acc[k]) if mode == "penalty" else 0.0
        for place in itertools.product(range(3), repeat=n):
            c = chain_latency(variants.cycles[k], variants.data[k], place, p1, p2, b1, b2) + extra
            if c < best[0]:
                best = (c, k, place)
    return best


def random_case(rng, n, V):
    cyc = rng.uniform(1e8, 2e9, (V, n))
    dat = rng.uniform(0, 4e6, (V, n + 1))
    acc = rng.uniform(0.4, 0.8, V)
    return Variants(acc, cyc, dat), float(rng.choice([0.0, rng.uniform(0.4, 0.85)]))


@pytest.mark.parametrize("mode,weight", [("constrain", 0.0), ("penalty", 20.0)])
def test_exact_optimum_over_variants_equals_brute_force(mode, weight):
    rng = np.random.default_rng(11)
    g = TaskGraph.chain(4)
    obj = Objective(accuracy_mode=mode, accuracy_weight=weight)
    opt, exh = make_policy("optimal"), make_policy("exhaustive")
    for _ in range(40):
        V = int(rng.integers(2, 5))
        var, req = random_case(rng, 4, V)
        p1, p2, b1, b2 = rng.uniform(2e8, 1e9), rng.uniform(1e9, 4e9), rng.uniform(1e5, 2e6), rng.uniform(1e5, 3e6)
        want, wk, wp = brute_force(var, req, p1, p2, b1, b2, mode, weight)
        obs = Observation(g, var.cycles[0], var.data[0], p1, p2, b1, b2, objective=obj, variants=var, accuracy_req=req)
        for pol in (opt, exh):
            k, P = check_decision(pol.decide(obs), g, V)
            extra = weight * max(0.0, req - var.accuracy[k]) if mode == "penalty" else 0.0
            got = chain_latency(var.cycles[k], var.data[k], P, p1, p2, b1, b2) + extra
            assert got == pytest.approx(want, rel=1e-12)
            assert (k, tuple(P)) == (wk, wp)  # continuous random sizes: the optimum is unique
            if mode == "constrain":
                assert feasible_mask(var.accuracy, req)[0, k]


def test_placement_only_optimum_runs_the_most_accurate_variant():
    rng = np.random.default_rng(3)
    g = TaskGraph.chain(3)
    pol = make_policy("optimal", variant="most-accurate")
    for _ in range(10):
        var, _ = random_case(rng, 3, 3)
        obs = Observation(g, var.cycles[0], var.data[0], 5e8, 2e9, 1e6, 2e6, variants=var, accuracy_req=0.0)
        k, P = check_decision(pol.decide(obs), g, 3)
        assert k == int(np.argmax(var.accuracy))
        only = Variants(var.accuracy[[k]], var.cycles[[k]], var.data[[k]])
        want = brute_force(only, 0.0, 5e8, 2e9, 1e6, 2e6)
        assert tuple(P) == want[2]


def test_engine_runs_the_chosen_variant_and_matches_the_closed_form():
    """One task in an idle system, constant links, free decisions: the simulated latency is the closed form."""
    acc = [0.706, 0.684, 0.637, 0.506]
    cycles = [[4e8, 9e8, 1.2e9], [2e8, 5e8, 6e8], [1e8, 2e8, 3e8], [3e7, 5e7, 8e7]]
    data = [[1.5e5, 3.2e6, 8e5, 4e3], [1.5e5, 2.4e6, 6e5, 4e3], [1.5e5, 1.6e6, 4e5, 4e3], [1.5e5, 8e5, 2e5, 4e3]]
    var = Variants(acc, cycles, data)
    p1, p2, b1, b2 = 6e8, 3e9, 2.5e6, 1e6
    for req in (0.0, 0.65, 0.69, 0.8):
        sc = parse_scenario({
            "seed": 1, "horizon": "1 h",
            "task": {"subtasks": 3, "variants": [{"accuracy": a, "cycles": c, "bytes": d} for a, c, d in zip(acc, cycles, data)],
                     "accuracy_req": req},
            "devices": {"count": 1, "cpu": p1, "arrivals": {"times": [0]}},
            "edge": {"cores": 1, "cpu": p2},
            "network": {"wireless": {"up": b1}, "wan": {"up": b2}},
            "decision": {"cycles_per_op": 0},
            "policies": ["optimal", {"name": "optimal", "label": "placement-only", "params": {"variant": "most-accurate"}},
                         "local", "greedy"],
        })
        t = tables_from(run_scenario(sc)).tasks.set_index("policy")
        want, wk, wp = brute_force(var, req, p1, p2, b1, b2)
        row = t.loc["optimal"]
        assert (int(row["variant"]), row["placement"]) == (wk, "".join(map(str, wp)))
        assert row["latency_s"] == pytest.approx(want, rel=1e-9)
        assert row["accuracy"] == acc[wk] and row["accuracy_req"] == req
        po = t.loc["placement-only"]
        assert int(po["variant"]) == 0
        assert po["latency_s"] == pytest.approx(brute_force(Variants(acc[:1], cycles[:1], data[:1]), 0, p1, p2, b1, b2)[0], rel=1e-9)
        # local: the cheapest variant meeting the requirement, all on the device
        k_local = {0.0: 3, 0.65: 1, 0.69: 0, 0.8: 0}[req]  # 0.65: 0.706 and 0.684 qualify; 0.8: none, the most accurate
        assert int(t.loc["local", "variant"]) == k_local
        assert t.loc["local", "latency_s"] == pytest.approx(sum(cycles[k_local]) / p1, rel=1e-12)
        assert t.loc["optimal", "latency_s"] <= t.loc["placement-only", "latency_s"] * (1 + 1e-12)


def test_cheapest_rule_by_hand():
    acc = np.array([0.7, 0.6, 0.6, 0.5])
    cyc = np.array([[3.0, 3.0], [2.0, 1.0], [1.0, 2.0], [1.0, 1.0]])
    dat = np.array([[1, 1, 1], [1, 1, 1], [1, 0, 1], [0, 0, 0]], dtype=float)
    # req 0.55: variants 0-2 qualify; 1 and 2 tie on cycles (3), 2 has fewer bytes
    assert pick_variant("cheapest", acc, cyc, dat, 0.55).tolist() == [2]
    assert pick_variant("cheapest", acc, cyc, dat, 0.0).tolist() == [3]
    assert pick_variant("cheapest", acc, cyc, dat, 0.9).tolist() == [0]  # none qualifies: the most accurate
    assert pick_variant("most-accurate", acc, cyc, dat, 0.0).tolist() == [0]
    assert pick_variant(1, acc, cyc, dat, 0.0).tolist() == [1]
    assert accuracy_cost(acc, 0.65, "penalty", 10.0)[0].tolist() == pytest.approx([0.0, 0.5, 0.5, 1.5])
    assert accuracy_cost(acc, 0.65).tolist() == [[0.0, math.inf, math.inf, math.inf]]


def test_solve_variants_batch_equals_single_decisions():
    rng = np.random.default_rng(8)
    g = TaskGraph.chain(5)
    B, V = 30, 3
    vc, vd = rng.uniform(1e8, 2e9, (B, V, 5)), rng.uniform(0, 5e6, (B, V, 6))
    acc, req = rng.uniform(0.5, 0.8, (B, V)), rng.uniform(0, 0.8, B)
    inst = Instances(g, vc[:, 0], vd[:, 0], rng.uniform(1e8, 1e9, B), rng.uniform(5e8, 5e9, B),
                     rng.uniform(1e5, 2e6, B), rng.uniform(1e5, 3e6, B), variant_cycles=vc, variant_data=vd,
                     variant_accuracy=acc, accuracy_req=req)
    _, _, c = solve_variants(inst)
    for name in ("optimal", "exhaustive", "greedy", "local", "queue-aware"):
        pol = make_policy(name)
        bv, bP = check_batch_decision(pol.decide_batch(inst), g, B, V)
        single = [check_decision(pol.decide(o), g, V) for o in _observations(inst)]
        assert bv.tolist() == [s[0] for s in single]
        np.testing.assert_array_equal(bP, np.array([s[1] for s in single]))
        cost = np.array([chain_latency(vc[b, bv[b]], vd[b, bv[b]], bP[b], inst.p1[b], inst.p2[b], inst.b1[b], inst.b2[b])
                         for b in range(B)])
        feas = feasible_mask(acc, req)[np.arange(B), bv]
        assert feas.all()  # every rule respects the requirement (or falls back to the most accurate)
        assert np.all(cost >= c * (1 - 1e-12))  # nobody beats the variant-aware optimum
    # a batch slice keeps its variants
    assert inst[3:5].n_variants == V and inst[3].variant_cycles.shape == (1, V, 5)


def _observations(inst):
    from simoffload.policy import observations

    return observations(inst)


def test_a_variant_unaware_policy_runs_variant_0_and_bad_decisions_are_refused():
    g = TaskGraph.chain(2)
    var = Variants([0.7, 0.5], [[1e9, 1e9], [1e8, 1e8]], [[1e5, 1e5, 1e3], [1e5, 1e5, 1e3]])
    obs = Observation(g, var.cycles[0], var.data[0], 1e9, 2e9, 1e6, 1e6, variants=var)
    assert check_decision(np.array([0, 1]), g, 2) == (0, pytest.approx([0, 1]))
    with pytest.raises(ValueError, match="variant"):
        check_decision(Decision(2, [0, 0]), g, 2)
    with pytest.raises(ValueError, match="variant"):
        check_decision(Decision(1.0, [0, 0]), g, 2)
    with pytest.raises(ValueError):
        check_decision(Decision(1, [0, 3]), g, 2)

    class OnlyDecide(Policy):
        def decide(self, o):
            return Decision(len(o.variants) - 1, np.zeros(o.graph.n, dtype=int))

    b = OnlyDecide().decide_batch(obs.instances())
    assert isinstance(b, Decision) and b.variant.tolist() == [1]
    # without variants: exactly one implicit variant of accuracy 1.0 and a plain array back
    plain = Observation(g, var.cycles[0], var.data[0], 1e9, 2e9, 1e6, 1e6)
    assert len(plain.variants) == 1 and plain.variants.accuracy.tolist() == [1.0]
    assert isinstance(OnlyDecide().decide_batch(plain.instances()), np.ndarray)


SMALL = {
    "name": "small", "seed": 3, "horizon": "20 min",
    "task": {"subtasks": 3, "distribution": "paper-5.2"},
    "devices": {"count": 3, "cpu": "1 GHz", "arrivals": {"poisson": {"rate": "0.02 /s"}}},
    "edge": {"cores": 2, "cpu": "3 GHz"},
    "network": {"wireless": {"up": "5 MB/s"}, "wan": {"up": "3 MB/s"}},
    "policies": ["local", "optimal", "greedy"],
}


def test_without_variants_tables_and_saved_scenario_keep_their_columns():
    sc = parse_scenario(yaml.safe_load(yaml.safe_dump(SMALL)))
    r = tables_from(run_scenario(sc))
    assert tuple(r.tasks.columns) == TASK_FIELDS
    assert "mean_accuracy" not in r.summary and "below_req" not in r.summary
    text = scenario_to_yaml(sc)
    assert "variants" not in text and "accuracy" not in text


def test_compact_variants_scale_the_drawn_sizes_and_tables_gain_accuracy_columns():
    d = yaml.safe_load(yaml.safe_dump(SMALL))
    d["task"]["variants"] = [
        {"name": "full", "accuracy": "70.6 %"},
        {"name": "half", "accuracy": 0.637, "cycles_scale": 0.5, "input_bytes": "100 kB"},
    ]
    d["task"]["accuracy_req"] = {"per_device": [0.0, 0.65, {"uniform": [0.6, 0.7]}]}
    sc = parse_scenario(d)
    world = build_world(sc)
    base = build_world(parse_scenario(yaml.safe_load(yaml.safe_dump(SMALL))))
    for t, b in zip(world.system.tasks, base.system.tasks):
        np.testing.assert_array_equal(t.variants.cycles[0], b.cycles)  # the base draw is unchanged
        np.testing.assert_array_equal(t.variants.cycles[1], 0.5 * b.cycles)
        assert t.variants.data[1][0] == 1e5 and t.variants.data[1][1:].tolist() == b.data[1:].tolist()
        assert t.variants.accuracy.tolist() == [0.706, 0.637]
        if t.device == 0:
            assert t.accuracy_req == 0.0
        elif t.device == 1:
            assert t.accuracy_req == 0.65
        else:
            assert 0.6 <= t.accuracy_req <= 0.7
    r = tables_from(run_scenario(sc))
    assert tuple(r.tasks.columns) == TASK_FIELDS + VARIANT_TASK_FIELDS
    done = r.tasks[r.tasks.status == "done"]
    # local picks the cheapest variant meeting the requirement: "half" unless the requirement exceeds 0.637
    loc = done[done.policy == "local"]
    assert (loc["variant"] == np.where(loc["accuracy_req"] > 0.637, 0, 1)).all()
    s = r.summary.set_index("policy")
    for pol, g in done.groupby("policy"):
        assert s.loc[pol, "mean_accuracy"] == pytest.approx(g["accuracy"].mean())
        assert s.loc[pol, "below_req"] == pytest.approx((g["accuracy"] < g["accuracy_req"]).mean())
    assert s.loc["optimal", "below_req"] == 0.0  # constrain mode: every requirement here can be met
    assert s.loc["optimal", "mean_latency_s"] <= s.loc["local", "mean_latency_s"]
    again = tables_from(run_scenario(sc))
    pd.testing.assert_frame_equal(r.tasks, again.tasks)


@pytest.mark.parametrize("patch,where", [
    ({"variants": [{"accuracy": 0.7, "cycles": [1, 2]}]}, "task.variants: variant 0: cycles"),
    ({"variants": [{"accuracy": 1.5}]}, "task.variants.0.accuracy"),
    ({"variants": [{"accuracy": 0.5, "cycles": [1, 2, 3], "cycles_scale": 2}]}, "task.variants.0"),
    ({"accuracy_req": 1.2}, "task.accuracy_req"),
    ({"accuracy_req": {"per_device": []}}, "task.accuracy_req"),
])
def test_bad_variant_input_is_one_line_naming_the_field(tmp_path, patch, where):
    d = yaml.safe_load(yaml.safe_dump(SMALL))
    d["task"].update(patch)
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(d))
    from simoffload.config import load_scenario

    with pytest.raises(UserError) as e:
        load_scenario(f)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{f}:") and where in msg


LEARNED = {"large-dil", "kd-dil", "baseline-dil", "dqn", "sb3"}  # trained on one task: they run variant 0 (sb3 also needs a model file)


@pytest.mark.parametrize("name", sorted(set(registered()) - LEARNED))
def test_every_policy_on_tasks_with_variants_valid_single_equal_batched_never_beating_the_optimum(name):
    """Conformance over variants: feasible decisions, single = batched, no policy beats the variant-aware optimum."""
    from simoffload.model.cost import cost
    from simoffload.model.task import RequirementDistribution
    from simoffload.policy import observations
    from simoffload.rng import rng_for

    g = TaskGraph.chain(6)
    inst = RequirementDistribution.from_spec("paper-5.1").sample(g, 60, rng_for(5, "tests/variants/conformance"))
    V = 3
    rng = rng_for(9, "tests/variants/conformance/scale")
    scale = rng.uniform(0.2, 1.0, (len(inst), V, 1))
    scale[:, 0] = 1.0
    vinst = Instances(g, inst.cycles, inst.data, inst.p1, inst.p2, inst.b1, inst.b2,
                      variant_cycles=inst.cycles[:, None, :] * scale, variant_data=np.repeat(inst.data[:, None, :], V, 1),
                      variant_accuracy=rng.uniform(0.5, 0.8, (len(inst), V)))
    pol = make_policy(name)
    pol.reset(rng_for(0, "a"))
    single = [check_decision(pol.decide(o), g, V) for o in observations(vinst)]
    v, P = check_batch_decision(pol.decide_batch(vinst), g, len(inst), V)
    if not pol.stochastic:
        assert v.tolist() == [s[0] for s in single]
        np.testing.assert_array_equal(P, np.array([s[1] for s in single]))
    best = solve_variants(vinst)[2]
    assert np.all(cost(vinst.chosen(v), P) >= best * (1 - 1e-12))


def _load_analysis(name):
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(name, root / "analysis" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, root


def test_mobilenet_blocks_reproduce_the_published_multiply_adds_and_the_scenario_lists_them():
    mb, root = _load_analysis("mobilenet_v1")
    # Howard et al. 2017, Tables 6-7 (millions of multiply-adds), independent of the layer-table code
    published = {(1.0, 224): 569, (0.75, 224): 325, (0.5, 224): 149, (0.25, 224): 41,
                 (1.0, 192): 418, (1.0, 160): 290, (1.0, 128): 186}
    # by hand: the first layer, 3x3x3x32 at 112x112 output, and the classifier 1024 x 1000
    assert mb.layer_table(1.0, 224)[0][1] == 112 * 112 * 27 * 32
    assert mb.layer_table(1.0, 224)[-1][1] == 1024 * 1000
    for (a, r), pub in published.items():
        macs, data = mb.blocks(a, r)
        assert len(macs) == 7 and len(data) == 8
        assert abs(sum(macs) / 1e6 / pub - 1) < 0.005
        assert data[0] == r * r * 3 and data[-1] == 4000
    assert mb.blocks(1.0, 224)[1][1] == 112 * 112 * 64 * 4  # block 0 ends at 112x112x64 float32
    sc = load_scenario_file(root / "scenarios" / "model_selection.yaml")
    assert len(sc.task.variants) == len(mb.VARIANTS)
    for v, (name, a, r, _, top1) in zip(sc.task.variants, mb.VARIANTS):
        macs, data = mb.blocks(a, r)
        assert v.name == name and v.accuracy == top1
        assert v.cycles == [float(x) for x in macs] and v.bytes == [float(x) for x in data]


def load_scenario_file(path):
    from simoffload.config import load_scenario

    return load_scenario(path)


def test_model_selection_scenario_runs_and_prints_latency_and_accuracy(tmp_path, capsys):
    from pathlib import Path

    from simoffload.cli import main

    root = Path(__file__).resolve().parents[1]
    if not (root.parent / "shared" / "traces").is_dir():
        pytest.skip("the shared trace set is not beside the repository")
    d = yaml.safe_load((root / "scenarios" / "model_selection.yaml").read_text())
    d.update(horizon="40 s")
    d["devices"]["count"] = 4
    for hop in ("up", "down"):
        d["network"]["wireless"][hop]["trace"]["file"] = str(root / "scenarios" / d["network"]["wireless"][hop]["trace"]["file"])
    d["network"]["wan"]["up"]["trace"]["file"] = str(root / "scenarios" / d["network"]["wan"]["up"]["trace"]["file"])
    f = tmp_path / "ms.yaml"
    f.write_text(yaml.safe_dump(d))
    assert main(["run", str(f), "--out", str(tmp_path / "out"), "--no-plots", "-q"]) == 0
    text = capsys.readouterr().out
    assert "acc" in text and "<req" in text and "placement-only" in text
    from simoffload import load_results

    r = load_results(tmp_path / "out")
    s = r.summary.set_index("policy")
    assert s.loc["placement-only", "mean_accuracy"] == pytest.approx(0.706)  # always the full model
    assert s.loc["optimal", "below_req"] == 0.0 and s.loc["local", "below_req"] == 0.0
    assert s.loc["optimal", "mean_accuracy"] <= 0.706


def test_study_online_quick_mode_writes_plots_and_findings(tmp_path):
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if not (root.parent / "shared" / "traces").is_dir():
        pytest.skip("the shared trace set is not beside the repository")
    mod, _ = _load_analysis("study_online")
    assert mod.main(["--quick", "--jobs", "1", "--out", str(tmp_path)]) == 0
    for p in ("reduction_vs_requirement.png", "accuracy_loss_vs_requirement.png", "latency_vs_users.png"):
        f = tmp_path / p
        assert f.exists() and f.read_bytes()[:4] == b"\x89PNG"
    findings = json.loads((tmp_path / "findings.json").read_text())
    assert findings["quick"] is True and not findings["failed_runs"]
    tab = pd.read_csv(tmp_path / "numbers.csv")
    base = tab[tab["policy"] == "placement-only"]
    assert (base["ratio"] == 1.0).all() and (base["acc_loss_pts"] == 0.0).all()
    # the online learners are compared with the exact and static policies on the same points and replicates
    assert findings["online_agents"] == ["online-dqn", "online-tabular-q"]
    for agent in findings["online_agents"]:
        rows = tab[tab["policy"] == agent]
        assert len(rows) == len(base) and rows["n"].eq(base["n"].to_numpy()).all()
