"""Simulation throughput with fluctuating channels versus constant ones (issue: fluctuating channels).

The same multi-user scenario is run twice in one process: with constant
bandwidth on both hops, and with a 1-second-step fluctuating path on both hops
(Gauss-Markov around the same mean). A transfer's completion is one event
computed from the cumulative capacity, so bandwidth steps cost no events; the
ratio fluctuating / constant should be close to 1 (target >= 0.5).

Usage: python analysis/bench_channels.py [--quick]
Writes analysis/results/bench_channels.json and bench_channels.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simoffload.config import parse_scenario  # noqa: E402
from simoffload.sim.scenario import build_world, make_policies, run_world  # noqa: E402

OUT = ROOT / "analysis" / "results"


def scenario(horizon_s: float, fluctuating: bool) -> dict:
    wl = {"gauss_markov": {"mean": "20 MB/s", "std": "8 MB/s", "tau_s": 5, "step_s": 1}} if fluctuating else "20 MB/s"
    wan = {"gauss_markov": {"mean": "10 MB/s", "std": "4 MB/s", "tau_s": 5, "step_s": 1}} if fluctuating else "10 MB/s"
    return {
        "name": "bench-channels", "seed": 1, "horizon": horizon_s,
        "task": {"subtasks": 6, "distribution": "paper-5.2"},
        "devices": {"count": 20, "cpu": {"uniform": ["100 MHz", "1 GHz"]}, "arrivals": {"poisson": {"rate": "0.01 /s"}}},
        "edge": {"cores": 4, "cpu": "2.75 GHz"},
        "network": {"shared_cell": True, "wireless": {"up": wl}, "wan": {"up": wan}},
        "policies": ["edge", "cloud", "random"],
        "output": {"record": {"subtasks": False, "links": False, "queues": False}},
    }


def measure(horizon_s: float, fluctuating: bool, repeats: int) -> dict:
    sc = parse_scenario(scenario(horizon_s, fluctuating))
    world = build_world(sc)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = run_world(world, make_policies(sc, sc.seed))
        best = min(best, time.perf_counter() - t0)
    n = sum(len(r.tasks) for r in res.runs)
    done = sum(1 for r in res.runs for t in r.tasks if t[-1] == "done")
    return {"tasks": n, "wall_s": best, "tasks_per_s": n / best, "done_fraction": done / max(n, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    horizon = 1800.0 if a.quick else 36000.0
    reps = 1 if a.quick else 3
    const = measure(horizon, False, reps)
    fluct = measure(horizon, True, reps)
    ratio = fluct["tasks_per_s"] / const["tasks_per_s"]
    print(f"constant bandwidth:         {const['tasks_per_s']:9.0f} tasks/s ({const['tasks']} task-runs)")
    print(f"1-s-step fluctuating paths: {fluct['tasks_per_s']:9.0f} tasks/s ({fluct['tasks']} task-runs)")
    print(f"ratio fluctuating / constant: {ratio:.2f}x (target >= 0.5x)")
    OUT.mkdir(parents=True, exist_ok=True)
    name = "bench_channels_quick" if a.quick else "bench_channels"
    (OUT / f"{name}.json").write_text(json.dumps({"constant": const, "fluctuating": fluct, "ratio": ratio}, indent=2))
    plot(const, fluct, ratio, OUT / f"{name}.png")


def plot(const: dict, fluct: dict, ratio: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    ax.bar(["constant\nbandwidth", "1-s-step Gauss-Markov\non both hops"], [const["tasks_per_s"], fluct["tasks_per_s"]],
           color=["tab:gray", "tab:blue"])
    ax.set_ylabel("throughput (task-runs / s of wall time)")
    ax.set_title(f"20 devices, shared cell: fluctuating / constant = {ratio:.2f}x", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
