"""Engine throughput and memory (issue: simoffload core).

1. Throughput in tasks per second for the quickstart chain (6 subtasks, one
   device) under static policies, side by side in one run with a bare SimPy
   program of the same event structure: per subtask one link request + hold and
   one CPU request + hold. Reported as the ratio engine / bare.
   Also the cost of reporting outcomes: the same all-edge run with a policy
   that overrides ``observe`` (a no-op) against the plain one, interleaved,
   best of the repeats: the throughput ratio listening / plain.
2. Peak memory (max RSS of a fresh process) and wall time of runs of 10K, 100K
   and 1M tasks, with full records and with records off.

Usage: python analysis/bench_engine.py [--quick]
Writes analysis/results/bench_engine.json and bench_engine.png.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import simpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simoffload.config import load_scenario  # noqa: E402
from simoffload.sim.scenario import build_world, make_policies, run_world  # noqa: E402

OUT = ROOT / "analysis" / "results"


def scenario(n_tasks: int, records: bool, policies: list[str]):
    sc = load_scenario(ROOT / "scenarios" / "quickstart.yaml")
    sc.devices.arrivals.periodic.interval = 60.0
    sc.devices.max_tasks = n_tasks
    sc.horizon = 60.0 * n_tasks + 1e6
    sc.output.record.subtasks = sc.output.record.links = sc.output.record.queues = records
    sc.policies = [p for p in sc.policies if p.name in policies] or sc.policies[:1]
    from simoffload.config import PolicyConfig

    sc.policies = [PolicyConfig(name=p) for p in policies]
    return sc


def bare_simpy(world) -> float:
    """The same workload with per-subtask link request+hold and CPU request+hold; returns wall seconds."""
    spec = world.system
    env = simpy.Environment()
    link = simpy.Resource(env, 1)
    cpu = simpy.Resource(env, 1)
    b = spec.devices[0].up.rate(0.0)
    p = spec.devices[0].cpu_hz

    def task(ts):
        for v in range(spec.graph.n):
            with link.request() as r:
                yield r
                yield env.timeout(ts.data[v] / b)
            with cpu.request() as r:
                yield r
                yield env.timeout(ts.cycles[v] / p)

    def source():
        for ts in spec.tasks:
            dt = ts.arrival_s - env.now
            if dt > 0:
                yield env.timeout(dt)
            env.process(task(ts))

    env.process(source())
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


def throughput(n_tasks: int, repeats: int) -> dict:
    out = {}
    for pol in ("local", "edge", "cloud"):
        sc = scenario(n_tasks, records=False, policies=[pol])
        world = build_world(sc)
        best_engine, best_bare = np.inf, np.inf
        for _ in range(repeats):
            policies = make_policies(sc, sc.seed)
            res = run_world(world, policies)
            best_engine = min(best_engine, res.runs[0].wall_s)
            best_bare = min(best_bare, bare_simpy(world))
        out[pol] = {
            "tasks": n_tasks,
            "engine_tasks_per_s": n_tasks / best_engine,
            "bare_simpy_tasks_per_s": n_tasks / best_bare,
            "ratio_engine_over_bare": best_bare / best_engine,
        }
    return out


def outcome_overhead(n_tasks: int, repeats: int) -> dict:
    """All-edge throughput with a no-op ``observe`` (outcomes built and reported) vs without."""
    sc = scenario(n_tasks, records=False, policies=["edge"])
    world = build_world(sc)
    best = {"plain": np.inf, "observing": np.inf}
    for _ in range(repeats):
        for kind in best:
            (label, pol), = make_policies(sc, sc.seed)
            if kind == "observing":
                pol.observe = lambda outcome: None  # the engine now builds and reports every Outcome
            best[kind] = min(best[kind], run_world(world, [(label, pol)]).runs[0].wall_s)
    return {"tasks": n_tasks, "plain_tasks_per_s": n_tasks / best["plain"],
            "observing_tasks_per_s": n_tasks / best["observing"],
            "ratio_observing_over_plain": best["plain"] / best["observing"]}


def _child(n_tasks: int, records: bool) -> None:
    from simoffload.sim.results import tables_from

    sc = scenario(n_tasks, records=records, policies=["edge"])
    t0 = time.perf_counter()
    world = build_world(sc)
    res = run_world(world, make_policies(sc, sc.seed))
    tables = tables_from(res)
    wall = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tasks": n_tasks, "records": records, "wall_s": wall, "peak_rss_mb": rss_mb,
                      "rows": {k: len(getattr(tables, k)) for k in ("tasks", "subtasks", "links")}}))


def scaling(sizes: list[int]) -> list[dict]:
    base = subprocess.run([sys.executable, "-c", "import resource, simoffload.sim.scenario, pandas;"
                           "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    rows = [{"tasks": 0, "records": None, "wall_s": 0.0, "peak_rss_mb": float(base.stdout)}]
    for n in sizes:
        for records in (True, False):
            if records and n > 100_000:
                continue  # 1M tasks with every subtask and transfer recorded: tens of millions of rows
            r = subprocess.run([sys.executable, __file__, "--child", str(n), str(int(records))],
                               capture_output=True, text=True, check=True, cwd=ROOT)
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
            print(f"  {n:>9,d} tasks records={records!s:5}  {rows[-1]['wall_s']:7.2f} s  {rows[-1]['peak_rss_mb']:8.1f} MB", flush=True)
    return rows


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    pols = list(result["throughput"])
    x = np.arange(len(pols))
    a.bar(x - 0.2, [result["throughput"][p]["engine_tasks_per_s"] for p in pols], 0.4, label="simoffload engine")
    a.bar(x + 0.2, [result["throughput"][p]["bare_simpy_tasks_per_s"] for p in pols], 0.4, label="bare SimPy (2 req+hold / subtask)")
    a.set_xticks(x, [f"all-{p}" for p in pols])
    a.set_ylabel("throughput (tasks / s of wall time)")
    a.set_title("6-subtask chain, one device")
    a.legend(fontsize=8)
    rows = [r for r in result["scaling"] if r["tasks"]]
    for rec, style in ((True, "o-"), (False, "s--")):
        rr = [r for r in rows if r["records"] == rec]
        if rr:
            b.loglog([r["tasks"] for r in rr], [r["peak_rss_mb"] for r in rr], style, label=f"peak RSS, records {'on' if rec else 'off'}")
    b2 = b.twinx()
    rr = [r for r in rows if not r["records"]]
    b2.loglog([r["tasks"] for r in rr], [r["wall_s"] for r in rr], "k:", label="wall time, records off")
    b2.set_ylabel("wall time (s)")
    b.set_xlabel("tasks in the run")
    b.set_ylabel("peak memory (MB)")
    b.set_title("growth with run length (all-edge)")
    b.legend(fontsize=8, loc="upper left")
    b2.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _child(a.child[0], bool(a.child[1]))
        return
    n = 2000 if a.quick else 20000
    print(f"throughput, {n} tasks (best of {2 if a.quick else 3}):")
    thr = throughput(n, 2 if a.quick else 3)
    for pol, r in thr.items():
        print(f"  all-{pol:6s} engine {r['engine_tasks_per_s']:9.0f} tasks/s   bare SimPy {r['bare_simpy_tasks_per_s']:9.0f} tasks/s"
              f"   ratio {r['ratio_engine_over_bare']:.2f}x")
    obs = outcome_overhead(n, 3 if a.quick else 5)
    print(f"  outcomes reported (no-op observe) {obs['observing_tasks_per_s']:9.0f} tasks/s vs "
          f"{obs['plain_tasks_per_s']:9.0f} without: ratio {obs['ratio_observing_over_plain']:.2f}x")
    print("scaling (fresh process per size):")
    sizes = [2000, 10000] if a.quick else [10_000, 100_000, 1_000_000]
    result = {"throughput": thr, "outcomes": obs, "scaling": scaling(sizes)}
    OUT.mkdir(parents=True, exist_ok=True)
    name = "bench_engine_quick" if a.quick else "bench_engine"
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2))
    plot(result, OUT / f"{name}.png")
    print(f"wrote {OUT / name}.json and .png")


if __name__ == "__main__":
    main()
