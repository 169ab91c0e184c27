"""Sweep execution benchmark: 2 local workers vs 1, and the per-point overhead of the Dask path.

A 16-point sweep (``edge.cores`` x ``devices.count`` grid, 1 replicate) of a
multi-user scenario whose points take about a second each is run

* with ``--jobs 1`` (in-process, the baseline),
* with ``--jobs 2`` (joblib/loky processes),
* on a Dask ``LocalCluster`` with 2 single-threaded worker processes,

each into a fresh directory, in the same process run. The speed-up is
``T(1 worker) / T(2 workers)`` (target >= 1.7x on a 2-core machine); the per-point
overhead of a path is ``(T(path) * workers - T(1 worker)) / points``, the extra
worker-seconds it spends per point beyond the simulation itself. Tables of all
paths are checked to be identical. Writes ``analysis/results/bench_sweep.json``.

Usage: ``python analysis/bench_sweep.py [--points-scale X]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """
name: bench-sweep
seed: 5
horizon: {horizon}
task: {{subtasks: 6, distribution: paper-5.2}}
devices:
  count: 10
  cpu: {{uniform: [100 MHz, 1 GHz]}}
  arrivals: {{poisson: {{rate: 0.02 /s}}}}
edge: {{cores: 2, cpu: 2.75 GHz}}
network: {{shared_cell: true, wireless: {{up: 40 MB/s}}, wan: {{up: 3 MB/s}}}}
policies: [local, edge, cloud, greedy, optimal]
sweep:
  grid:
    edge.cores: [1, 2, 3, 4]
    devices.count: [10, 20, 30, 40]
"""


def timed(fn, *a, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    r = fn(*a, **kw)
    return time.perf_counter() - t0, r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizon", default="3 h", help="simulated time per point (sets the point cost)")
    ap.add_argument("--out", default=str(ROOT / "analysis" / "results" / "bench_sweep.json"))
    args = ap.parse_args(argv)
    from distributed import LocalCluster

    from simoffload.experiments.sweep import load_sweep, run_sweep

    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        sc = tmp / "bench.yaml"
        sc.write_text(SCENARIO.format(horizon=args.horizon), encoding="utf-8")
        # warm caches (imports, page cache) and start the reusable loky pool, timed separately:
        # a one-off cost per sweep command, not per point
        run_sweep(sc, tmp / "warm1", jobs=1, progress=False, only=1)
        t_start, _ = timed(run_sweep, sc, tmp / "warm2", jobs=2, progress=False, only=2)
        t1, oc1 = timed(run_sweep, sc, tmp / "j1", jobs=1, progress=False)
        t2, oc2 = timed(run_sweep, sc, tmp / "j2", jobs=2, progress=False)
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        try:
            td, ocd = timed(run_sweep, sc, tmp / "dask", scheduler=cluster.scheduler_address, progress=False)
        finally:
            cluster.close()
        n = oc1.total
        ref = load_sweep(tmp / "j1").tasks
        same = all(load_sweep(tmp / d).tasks.equals(ref) for d in ("j2", "dask"))
        res = {
            "points": n, "cpus": os.cpu_count(), "horizon": args.horizon,
            "t_1worker_s": round(t1, 3), "t_2workers_local_s": round(t2, 3), "t_2workers_dask_s": round(td, 3),
            "speedup_local_2v1": round(t1 / t2, 3), "speedup_dask_2v1": round(t1 / td, 3),
            "mean_point_s_1worker": round(t1 / n, 4),
            "overhead_per_point_local_s": round((2 * t2 - t1) / n, 4),
            "overhead_per_point_dask_s": round((2 * td - t1) / n, 4),
            "dask_minus_local_per_point_s": round((2 * td - 2 * t2) / n, 4),
            "tables_identical": bool(same), "loky_pool_start_plus_2_points_s": round(t_start, 3),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2), "target_speedup": 1.7,
            "note": "dask time includes connecting a client to an already started LocalCluster, not starting it",
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2), encoding="utf-8")
    rows = [("1 worker (in-process)", t1, 1.0, None), ("2 workers, joblib/loky", t2, t1 / t2, res["overhead_per_point_local_s"]),
            ("2 workers, Dask LocalCluster", td, t1 / td, res["overhead_per_point_dask_s"])]
    print(f"{n}-point sweep on {os.cpu_count()} CPUs, {res['mean_point_s_1worker']:.3f} s per point with 1 worker")
    print(f"{'path':30s} {'wall s':>8s} {'speed-up':>9s} {'overhead/point s':>17s}")
    for name, t, s, o in rows:
        print(f"{name:30s} {t:8.2f} {s:8.2f}x {'' if o is None else f'{o:17.3f}'}")
    print(f"speed-up target 1.7x: {'met' if res['speedup_local_2v1'] >= 1.7 else 'NOT met'} "
          f"({res['speedup_local_2v1']:.2f}x); tables identical across paths: {same}")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
