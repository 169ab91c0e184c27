"""Throughput of the several-site engine against the one-edge engine and a bare SimPy program.

In one run, on the same workload (the quickstart chain: 6 subtasks, one device, periodic arrivals, records
off) and for each static policy (local, edge, cloud):

* ``one_edge``: the one-edge engine (``edge:`` a mapping; the fast path every shipped scenario uses);
* ``one_site_list``: the same system written as a one-element ``edge:`` list (the several-site engine);
* ``four_sites``: four sites on a MAN ring, the device fixed at the first, ``placement: man``;
* ``bare``: a bare SimPy program of the same event structure as ``analysis/bench_engine.py``'s (per
  subtask one link request + hold and one CPU request + hold).

Ratios: ``one_edge / bare`` and ``one_site_list / bare`` (>= 2 wanted), ``one_site_list / one_edge``.
Each figure is the best of ``repeats`` runs, the four variants run in turn within each repeat, each timed
in CPU seconds of this process (``time.process_time``: the engine's ``Simulation.run``, the bare program's
whole run), so that other jobs on a shared machine do not count; on an idle machine it is the wall time. Also the city (``scenarios/city.yaml``, 120 moving devices,
distance-based wireless, 4 sites) in tasks per second per policy.

Usage: python analysis/bench_sites.py [--quick]
Writes analysis/results/bench_sites.json (bench_sites_quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import bare_simpy, scenario  # noqa: E402

from simoffload.config import parse_scenario, load_scenario  # noqa: E402
from simoffload.sim.engine import Simulation  # noqa: E402
from simoffload.sim.engine_sites import SiteSimulation  # noqa: E402
from simoffload.sim.scenario import build_world, make_policies  # noqa: E402

OUT = ROOT / "analysis" / "results"


def _as_sites(sc, n_sites: int):
    d = sc.model_dump(mode="json", exclude={"base_dir"})
    e = d["edge"]
    d["edge"] = [dict(e, name=f"s{i}") for i in range(n_sites)]
    if n_sites > 1:
        d["topology"] = {"man": [{"between": [f"s{i}", f"s{(i + 1) % n_sites}"], "bandwidth": "125 MB/s",
                                  "latency": "1 ms"} for i in range(n_sites)],
                         "placement": "man", "association": {"fixed": ["s0"]}}
    return parse_scenario(d, base_dir=sc.base_dir)


def _cpu(sc, world) -> float:
    """CPU seconds of one run of the scenario's (one) policy: ``Simulation.run``, as ``run_world`` makes it."""
    (label, pol), = make_policies(sc, sc.seed)
    sim = (Simulation if world.system.topology is None else SiteSimulation)(world.system, pol, label)
    t0 = time.process_time()
    sim.run()
    return time.process_time() - t0


def _cpu_bare(world) -> float:
    """CPU seconds of the bare SimPy program (``bench_engine.bare_simpy``) on the world's workload."""
    t0 = time.process_time()
    bare_simpy(world)
    return time.process_time() - t0


def throughput(n_tasks: int, repeats: int) -> dict:
    out = {}
    for pol in ("local", "edge", "cloud"):
        base = scenario(n_tasks, records=False, policies=[pol])
        scs = [base, _as_sites(base, 1), _as_sites(base, 4)]
        worlds = [build_world(sc) for sc in scs]
        best = [np.inf] * 4
        for _ in range(repeats):  # interleaved, so a busy spell of a shared machine hits every variant alike
            for i, (sc, world) in enumerate(zip(scs, worlds)):
                best[i] = min(best[i], _cpu(sc, world))
            best[3] = min(best[3], _cpu_bare(worlds[0]))
        t_one, t_list, t_four, t_bare = best
        out[pol] = {
            "tasks": n_tasks,
            "one_edge_tasks_per_s": n_tasks / t_one,
            "one_site_list_tasks_per_s": n_tasks / t_list,
            "four_sites_tasks_per_s": n_tasks / t_four,
            "bare_simpy_tasks_per_s": n_tasks / t_bare,
            "one_edge_over_bare": t_bare / t_one,
            "one_site_list_over_bare": t_bare / t_list,
            "four_sites_over_bare": t_bare / t_four,
            "one_site_list_over_one_edge": t_one / t_list,
        }
    return out


def city(horizon_s: float) -> dict:
    sc = load_scenario(ROOT / "scenarios" / "city.yaml")
    sc.horizon = horizon_s
    t0 = time.perf_counter()
    world = build_world(sc)
    build_s = time.perf_counter() - t0
    n = len(world.system.tasks)
    per_s = {}
    for label, pol in make_policies(sc, sc.seed):  # each policy's run in CPU seconds, as in throughput()
        sim = SiteSimulation(world.system, pol, label)
        t0 = time.process_time()
        sim.run()
        per_s[label] = n / (time.process_time() - t0)
    return {"horizon_s": horizon_s, "tasks": n, "devices": sc.devices.count, "build_s": build_s,
            "tasks_per_s": per_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, reps, hz = (500, 2, 20.0) if args.quick else (5000, 9, 300.0)
    result = {"throughput": throughput(n, reps), "city": city(hz), "quick": args.quick}
    path = OUT / ("bench_sites_quick.json" if args.quick else "bench_sites.json")
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    for pol, r in result["throughput"].items():
        print(f"{pol:6s} one edge {r['one_edge_tasks_per_s']:8.0f}/s  one-site list {r['one_site_list_tasks_per_s']:8.0f}/s  "
              f"4 sites {r['four_sites_tasks_per_s']:8.0f}/s  bare SimPy {r['bare_simpy_tasks_per_s']:8.0f}/s  "
              f"one edge/bare {r['one_edge_over_bare']:.2f}  list/bare {r['one_site_list_over_bare']:.2f}  "
              f"list/one edge {r['one_site_list_over_one_edge']:.2f}")
    c = result["city"]
    print(f"city: {c['tasks']} tasks, {c['devices']} devices, world built in {c['build_s']:.2f} s; tasks/s: "
          + ", ".join(f"{k} {v:.0f}" for k, v in c["tasks_per_s"].items()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
