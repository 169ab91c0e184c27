"""Shipped study scenarios and analysis scripts run in quick mode and write their plots; run plots; queue-aware policy."""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from simoffload.cli import main as cli_main
from simoffload.config import load_scenario
from simoffload.model.cost import LATENCY, coefficients, evaluate_all
from simoffload.model.task import TaskGraph
from simoffload.policy import Observation

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "analysis" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("scenario", ["study_channels", "study_multiuser", "quickstart", "multiuser", "city",
                                      "study_topology"])
def test_shipped_scenarios_validate(scenario: str) -> None:
    sc = load_scenario(ROOT / "scenarios" / f"{scenario}.yaml")
    assert sc.policies


@pytest.mark.parametrize("study, plots", [
    ("study_channels", ["latency_by_link.png", "stale_penalty.png"]),
    ("study_multiuser", ["latency_vs_devices.png", "optimal_gap.png"]),
    ("study_topology", ["miss_vs_devices.png", "miss_vs_speed.png", "failure_vs_speed.png", "latency_vs_devices.png",
                        "latency_vs_speed.png"]),
    ("study_decision_time", ["latency_vs_size_calibrated.png", "latency_vs_size_measured.png", "kd_over_large.png",
                             "edge_load.png"]),
])
def test_study_quick_mode_writes_plots_and_findings(study: str, plots: list[str], tmp_path: Path) -> None:
    scenario = ROOT / "scenarios" / f"{study}.yaml"
    if "shared/traces" in scenario.read_text() and not (ROOT.parent / "shared" / "traces").is_dir():
        pytest.skip("the shared trace set is not beside the repository")
    mod = load_script(study)
    assert mod.main(["--quick", "--jobs", "1", "--out", str(tmp_path)]) == 0
    for p in plots:
        f = tmp_path / p
        assert f.exists() and f.stat().st_size > 5000 and f.read_bytes()[:4] == b"\x89PNG"
        assert f.with_suffix(".pdf").read_bytes()[:4] == b"%PDF" and b"<svg" in f.with_suffix(".svg").read_bytes()[:2000]
    findings = json.loads((tmp_path / "findings.json").read_text())
    assert findings["quick"] is True and len(findings["text"]) > 100 and not findings["failed_runs"]
    assert (tmp_path / "numbers.csv").stat().st_size > 0


def test_run_and_plot_commands_write_pngs(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("name: p\nhorizon: 10 min\ndevices: {arrivals: {periodic: {interval: 30 s}}}\n"
                 "network: {wireless: {up: {gilbert_elliott: {good: 2 MB/s, bad: 0.2 MB/s, mean_good_s: 20, "
                 "mean_bad_s: 5}}}}\npolicies: [local, edge, optimal]\n", encoding="utf-8")
    assert cli_main(["run", str(p), "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    names = ["latency_cdf.png", "latency_time.png", "decision_latency.png"]
    for n in names:
        assert (tmp_path / "r" / n).exists()
        (tmp_path / "r" / n).unlink()
    assert cli_main(["plot", str(tmp_path / "r")]) == 0
    assert all((tmp_path / "r" / n).exists() for n in names)
    assert cli_main(["plot", str(tmp_path)]) == 2  # neither a run nor a sweep directory


def _obs(queue: int, cores: int = 2) -> Observation:
    g = TaskGraph.chain(4)
    return Observation(graph=g, cycles=np.array([2e9, 1e9, 3e9, 1e9]), data=np.array([1e6, 2e5, 1e5, 3e5, 1e5]),
                       p1_hz=5e8, p2_hz=3e9, b1_Bps=2e6, b2_Bps=5e5, edge_queue=queue, edge_cores=cores)


@pytest.mark.parametrize("queue", [0, 2, 6, 40])
def test_queue_aware_matches_exhaustive_with_wait(queue: int) -> None:
    from policies.queue_aware import QueueAwarePolicy

    obs = _obs(queue)
    pol = QueueAwarePolicy()
    got = pol.decide(obs)
    # independent: score all 3^4 placements with the shared cost model, add the wait per edge subtask by hand
    P = np.array(list(itertools.product(range(3), repeat=4)))
    inst = obs.instances()
    base = evaluate_all(coefficients(inst, LATENCY), inst.graph, inst.data, P)[0]
    wait = queue / 2 * (7e9 / 4) / 3e9  # edge_queue / cores x mean(cycles) / p2
    total = base + wait * (P == 1).sum(axis=1)
    assert total[np.flatnonzero((P == got).all(axis=1))[0]] == pytest.approx(total.min(), rel=1e-12)
    if queue == 0:
        assert 1 in got  # idle edge: offloading is worth it here
    if queue == 40:
        assert 1 not in got  # a long queue drives every subtask off the edge


def test_size_scaled_policy_decides_scaled_tasks_as_the_inner_policy_decides_the_originals() -> None:
    from simoffload.model.cost import latency
    from simoffload.model.task import Instances
    from simoffload.registry import make_policy

    rng = np.random.default_rng(7)
    g = TaskGraph.chain(6)
    B = 300
    inst = Instances(g, rng.uniform(0, 2e9, (B, 6)), rng.uniform(0, 1e7, (B, 7)), rng.uniform(1e8, 1e9, B),
                     rng.uniform(5e8, 5e9, B), rng.uniform(1e4, 2e6, B), rng.uniform(1e4, 3e6, B))
    s = 1e-4
    small = Instances(g, inst.cycles * s, inst.data * s, inst.p1, inst.p2, inst.b1, inst.b2)
    for name in ("greedy", "optimal", "exhaustive"):
        inner = make_policy(name).decide_batch(inst)
        wrapped = make_policy("policies.scaled:SizeScaled", policy=name, size_scale=s)
        wrapped.prepare(g)
        got = wrapped.decide_batch(small)
        assert np.array_equal(got, inner)
        # the single-decision path agrees, and every cost is linear in the sizes: latency x s exactly
        obs = Observation(g, small.cycles[0], small.data[0], float(inst.p1[0]), float(inst.p2[0]),
                          float(inst.b1[0]), float(inst.b2[0]))
        assert np.array_equal(wrapped.decide(obs), inner[0])
        assert np.allclose(latency(small, got), s * latency(inst, inner), rtol=1e-12)
