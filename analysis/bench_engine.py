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
3. The richer model (issue 11): propagation delay on both hops (10 ms
   wireless, 40 ms WAN), a deadline per task with drop-at-deadline, and two
   applications, against a bare SimPy program of the same event structure
   (per task a deadline timer; per subtask a latency timeout, a link
   request+hold and a CPU request+hold). Target: engine >= 2x bare.
4. The default path (no latency, no deadline, one application) against the
   code before issue 11 (``--baseline``, a git revision checked out in a
   temporary worktree), both in fresh child processes, interleaved, best of
   several rounds, timing the whole run (``run_world``: the event loop and
   building the tasks table, which the code before built after its own
   clock stopped and the streaming engine builds during the run).
   Target: >= 0.9x (no more than 10% lost).

Usage: python analysis/bench_engine.py [--quick] [--baseline REV] [--topology-only]
(``--topology-only``: parts 3 and 4 alone, into bench_engine_topology.json)
Writes analysis/results/bench_engine.json and bench_engine.png.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import simpy

HERE = Path(__file__).resolve().parents[1]
# a child measuring another revision of the engine imports it from BENCH_ROOT (a worktree of that revision)
ROOT = Path(os.environ.get("BENCH_ROOT", HERE))
sys.path.insert(0, str(ROOT))

#: the last revision before issue 11's model (deadlines, propagation delay, applications)
BASELINE_REV = "ceb251e"

from simoffload.config import load_scenario  # noqa: E402
from simoffload.sim.scenario import build_world, make_policies, run_world  # noqa: E402

OUT = HERE / "analysis" / "results"


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


MODEL = {  # the richer model: latencies on both hops, deadlines with drop, two applications
    "network": {"wireless": {"up": "1 MB/s", "latency": "10 ms"}, "wan": {"up": "1.5 MB/s", "latency": "40 ms"}},
    "execution": {"on_deadline": "drop"},
}


def model_scenario(n_tasks: int, policies: list[str]):
    """The quickstart workload (two devices at half the rate each) under :data:`MODEL`, one application per device."""
    from simoffload.config import PolicyConfig, parse_scenario

    sc = scenario(n_tasks, records=False, policies=policies)
    data = sc.model_dump(mode="json", exclude={"base_dir", "task"})
    data.update(MODEL)
    data["devices"] = dict(data["devices"], count=2, max_tasks=n_tasks // 2,
                           arrivals={"periodic": {"interval": 120.0}})
    task = {"subtasks": 6, "distribution": "paper-5.1"}
    data["applications"] = [{"name": "a", "share": 1, "task": dict(task, deadline="40 s")},
                            {"name": "b", "share": 1, "task": dict(task, deadline={"uniform": ["30 s", "60 s"]})}]
    out = parse_scenario(data)
    out.policies = [PolicyConfig(name=p) for p in policies]
    return out


def bare_simpy_model(world) -> float:
    """:func:`bare_simpy` plus a deadline timer per task and a latency timeout before every link request."""
    spec = world.system
    env = simpy.Environment()
    link = simpy.Resource(env, 1)
    cpu = simpy.Resource(env, 1)
    b = spec.devices[0].up.rate(0.0)
    p = spec.devices[0].cpu_hz
    lat = spec.devices[0].lat_up.estimate(0.0)
    done: set = set()

    def deadline(tid, _):
        if tid not in done:
            pass  # a real run would withdraw the task here

    def task(ts):
        env.timeout(ts.deadline_s).callbacks.append(lambda e, tid=ts.task_id: deadline(tid, e))
        for v in range(world.graph.n):
            yield env.timeout(lat)
            with link.request() as r:
                yield r
                yield env.timeout(ts.data[v] / b)
            with cpu.request() as r:
                yield r
                yield env.timeout(ts.cycles[v] / p)
        done.add(ts.task_id)

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


def _measure(n_tasks: int, repeats: int, model: bool) -> dict:
    """Best-of-``repeats`` engine wall time per static policy (records off), and the bare SimPy program's."""
    from simoffload.sim.scenario import build_world, make_policies, run_world

    out = {}
    for pol in ("local", "edge", "cloud"):
        sc = model_scenario(n_tasks, [pol]) if model else scenario(n_tasks, records=False, policies=[pol])
        world = build_world(sc)
        best_engine, best_bare, best_run = np.inf, np.inf, np.inf
        for _ in range(repeats):
            policies = make_policies(sc, sc.seed)
            t0 = time.perf_counter()
            res = run_world(world, policies)
            best_run = min(best_run, time.perf_counter() - t0)
            best_engine = min(best_engine, res.runs[0].wall_s)
            if model:
                best_bare = min(best_bare, bare_simpy_model(world))
        n = len(world.system.tasks)
        # ``wall_s`` times the event loop; the whole run also builds the tasks table, which the code before
        # issue 14 did after the clock stopped and the streaming engine does inside it: ``run`` covers both
        out[pol] = {"tasks": n, "engine_tasks_per_s": n / best_engine, "engine_run_tasks_per_s": n / best_run}
        if model:
            out[pol].update(bare_simpy_tasks_per_s=n / best_bare, ratio_engine_over_bare=best_bare / best_engine)
    return out


def _child_measure(root: Path, n_tasks: int, repeats: int, model: bool) -> dict:
    env = dict(os.environ, BENCH_ROOT=str(root), PYTHONPATH=str(root), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure", str(n_tasks), str(repeats),
                        str(int(model))], capture_output=True, text=True, check=True, cwd=root, env=env)
    return json.loads(r.stdout.strip().splitlines()[-1])


def model_and_baseline(n_tasks: int, repeats: int, rounds: int, baseline: str | None) -> dict:
    """The richer model vs bare SimPy, and the default path now vs ``baseline`` (interleaved child processes)."""
    result: dict = {"model": _child_measure(HERE, n_tasks, repeats, True), "baseline_rev": baseline}
    if baseline is None:
        return result
    tmp = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    tree = tmp / "tree"
    try:
        subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(tree), baseline],
                       capture_output=True, text=True, check=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        result["baseline_error"] = f"cannot check out {baseline}: {getattr(exc, 'stderr', exc)}".strip()
        return result
    try:
        best: dict = {"now": {}, "baseline": {}}
        for _ in range(rounds):  # interleaved, so load changes hit both alike
            for which, root in (("baseline", tree), ("now", HERE)):
                for pol, r in _child_measure(root, n_tasks, repeats, False).items():  # whole runs: like for like
                    best[which][pol] = max(best[which].get(pol, 0.0), r["engine_run_tasks_per_s"])
        result["default_path"] = {pol: {"now_tasks_per_s": best["now"][pol], "baseline_tasks_per_s": best["baseline"][pol],
                                        "ratio_now_over_baseline": best["now"][pol] / best["baseline"][pol]}
                                  for pol in best["now"]}
    finally:
        subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(tree)], capture_output=True)
    return result


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

    tt = result.get("topology_time")
    fig, axes = plt.subplots(1, 3 if tt else 2, figsize=(15 if tt else 10, 3.8))
    a, b = axes[0], axes[1]
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
    if tt:
        c = axes[2]
        pols = list(tt["model"])
        x = np.arange(len(pols))
        c.bar(x - 0.2, [tt["model"][p]["ratio_engine_over_bare"] for p in pols], 0.4,
              label="richer model: engine / bare SimPy")
        if "default_path" in tt:
            c.bar(x + 0.2, [tt["default_path"][p]["ratio_now_over_baseline"] for p in pols], 0.4,
                  label=f"default path: now / {tt['baseline_rev']}")
        c.axhline(2.0, color="tab:blue", ls=":", lw=1, label="target 2x bare")
        c.axhline(0.9, color="tab:orange", ls=":", lw=1, label="target 0.9x before")
        c.set_xticks(x, [f"all-{p}" for p in pols])
        c.set_ylabel("throughput ratio")
        c.set_title("issue 11's model vs bare; default vs before")
        c.set_ylim(0, max(2.3, c.get_ylim()[1]))
        c.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _print_topology(mb: dict, baseline: str | None) -> None:
    for pol, r in mb["model"].items():
        print(f"  model all-{pol:6s} engine {r['engine_tasks_per_s']:9.0f} tasks/s   bare SimPy "
              f"{r['bare_simpy_tasks_per_s']:9.0f} tasks/s   ratio {r['ratio_engine_over_bare']:.2f}x")
    for pol, r in mb.get("default_path", {}).items():
        print(f"  default all-{pol:6s} now {r['now_tasks_per_s']:9.0f} tasks/s   {baseline} {r['baseline_tasks_per_s']:9.0f}"
              f" tasks/s   ratio {r['ratio_now_over_baseline']:.3f}x")
    if "baseline_error" in mb:
        print(f"  baseline skipped: {mb['baseline_error']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--baseline", default=None,
                    help=f"git revision to compare the default path with (full mode default: {BASELINE_REV}; 'none' skips)")
    ap.add_argument("--topology-only", action="store_true", help="only the richer-model and default-path comparisons")
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    ap.add_argument("--measure", nargs=3, type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _child(a.child[0], bool(a.child[1]))
        return
    if a.measure:
        print(json.dumps(_measure(a.measure[0], a.measure[1], bool(a.measure[2]))))
        return
    n = 2000 if a.quick else 20000
    if a.topology_only:
        baseline = a.baseline if a.baseline is not None else BASELINE_REV
        baseline = None if baseline == "none" else baseline
        mb = model_and_baseline(n, 2 if a.quick else 3, 2 if a.quick else 3, baseline)
        _print_topology(mb, baseline)
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / ("bench_engine_topology_quick.json" if a.quick else "bench_engine_topology.json")
        path.write_text(json.dumps({"tasks": n, "topology_time": mb}, indent=2))
        print(f"wrote {path}")
        return
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
    baseline = a.baseline if a.baseline is not None else (None if a.quick else BASELINE_REV)
    baseline = None if baseline == "none" else baseline
    rounds = 2 if a.quick else 4
    print(f"richer model (latency, deadlines with drop, 2 applications) and default path vs {baseline or 'no baseline'}, "
          f"{n} tasks, {rounds} interleaved rounds:")
    mb = model_and_baseline(n, 2 if a.quick else 3, rounds, baseline)
    _print_topology(mb, baseline)
    result["topology_time"] = mb
    OUT.mkdir(parents=True, exist_ok=True)
    name = "bench_engine_quick" if a.quick else "bench_engine"
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2))
    plot(result, OUT / f"{name}.png")
    print(f"wrote {OUT / name}.json and .png")


if __name__ == "__main__":
    main()
