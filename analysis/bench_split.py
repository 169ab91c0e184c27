"""One run split by policy over a 2-worker Dask LocalCluster vs the same run in one process.

A 20-device scenario (the paper's 6-subtask chain, one shared edge, four
policies of similar cost) is run

* in this process (``run_scenario``, the baseline), and
* with its policies as 2 shards on a Dask ``LocalCluster`` of 2 single-threaded
  worker processes (``run_split``, what ``simoffload run --scheduler`` does),

in the same process run. Both results are written as Parquet tables and their
bytes compared (they must be identical: the split is exact).

**Memory.** A split run's records are not streamed: each shard keeps its
policies' records in memory and sends them back, and the parent holds them all
until it writes the tables (docs/scale.md). Measured by running the real
command on the same scenario over a longer horizon (``--memory-horizon``,
default 12 h) in fresh processes: ``simoffload run FILE --out DIR`` (streamed)
vs ``simoffload run FILE --out DIR --jobs 2`` (local workers), each child's own
peak RSS (``ru_maxrss``; the parent's, not its workers'), tables compared. The speed-up is
``T(one process) / T(2 workers)``; the Dask time includes connecting a client to
the already started cluster and rebuilding the world in each worker and in the
parent (for the link table), not starting the cluster. Writes
``analysis/results/bench_split.json`` (``--quick``: ``bench_split_quick.json``).

Usage: ``python analysis/bench_split.py [--quick] [--horizon "2 h"] [--memory-horizon "12 h"]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """
name: bench-split
seed: 11
horizon: {horizon}
task: {{subtasks: 6, distribution: paper-5.2}}
devices:
  count: 20
  cpu: {{uniform: [100 MHz, 1 GHz]}}
  arrivals: {{poisson: {{rate: 0.05 /s}}}}
edge: {{cores: 4, cpu: 2.75 GHz}}
network: {{shared_cell: false, wireless: {{up: 40 MB/s}}, wan: {{up: 3 MB/s}}}}
policies: [local, edge, greedy, optimal]
"""


def _digests(res, out: Path) -> dict[str, str]:
    from simoffload.sim.results import write_tables

    write_tables(res, out, "parquet")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir()) if p.is_file()}


def _child(args: list[str]) -> None:
    """Run ``simoffload run ARGS`` here and print this process's peak RSS (MB) and wall time."""
    import resource

    t0 = time.perf_counter()
    from simoffload.cli import main

    rc = main(["-q", "run", *args, "--no-plots"])
    print(json.dumps({"rc": rc, "wall_s": time.perf_counter() - t0,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def memory(horizon: str, tmp: Path) -> dict:
    """Peak RSS of the streamed one-process command vs the split one (``--jobs 2``), fresh processes."""
    import subprocess

    import pandas as pd

    f = tmp / "memory.yaml"
    f.write_text(SCENARIO.format(horizon=horizon), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    pts = {}
    for mode, extra in (("streamed", []), ("split_jobs2", ["--jobs", "2"])):
        out = tmp / f"out-{mode}"
        r = subprocess.run([sys.executable, __file__, "--child", str(f), "--out", str(out), *extra],
                           capture_output=True, text=True, env=env, cwd=ROOT)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        pts[mode] = dict(json.loads(r.stdout.strip().splitlines()[-1]), out=out)
    same = all(pd.read_parquet(pts["streamed"]["out"] / t).equals(pd.read_parquet(pts["split_jobs2"]["out"] / t))
               for t in ("tasks.parquet", "subtasks.parquet", "links.parquet"))
    rows = len(pd.read_parquet(pts["streamed"]["out"] / "tasks.parquet", columns=["task_id"]))
    return {"horizon": horizon, "task_rows": rows, "tables_identical": same,
            **{f"{m}_{k}": round(p[k], 2) for m, p in pts.items() for k in ("peak_rss_mb", "wall_s")}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny run (tests)")
    ap.add_argument("--horizon", default=None, help="simulated time (default 2 h; quick: 2 min)")
    ap.add_argument("--memory-horizon", default=None, help="simulated time of the memory comparison "
                                                             "(default 12 h; quick: 2 min)")
    ap.add_argument("--out", default=None)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1:])
        return 0
    args = ap.parse_args(argv)
    horizon = args.horizon or ("2 min" if args.quick else "2 h")
    mem_horizon = args.memory_horizon or ("2 min" if args.quick else "12 h")
    out = Path(args.out or ROOT / "analysis" / "results" / f"bench_split{'_quick' if args.quick else ''}.json")
    from distributed import LocalCluster

    from simoffload.config import parse_scenario
    from simoffload.sim.results import tables_from
    from simoffload.sim.scenario import run_scenario
    from simoffload.sim.split import run_split
    import yaml

    sc = parse_scenario(yaml.safe_load(SCENARIO.format(horizon=horizon)), "bench-split", base_dir=ROOT)
    tmp = Path(tempfile.mkdtemp(prefix="bench_split_"))
    try:
        t0 = time.perf_counter()
        one = run_scenario(sc)
        t1 = time.perf_counter() - t0
        d1 = _digests(tables_from(one), tmp / "one")
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        try:
            t0 = time.perf_counter()
            split = run_split(sc, scheduler=cluster.scheduler_address)
            td = time.perf_counter() - t0
        finally:
            cluster.close()
        d2 = _digests(tables_from(split), tmp / "dask")
        mem = memory(mem_horizon, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tasks = len(one.world.system.tasks)
    res = {"tasks_per_policy": tasks, "policies": [p.display for p in sc.policies], "horizon": horizon,
           "cpus": os.cpu_count(), "t_one_process_s": round(t1, 3), "t_dask_2workers_s": round(td, 3),
           "speedup": round(t1 / td, 3), "tables_identical": d1 == d2, "tables": sorted(d1),
           "load_average_1min_at_end": round(os.getloadavg()[0], 2),
           "note": "dask time includes connecting to an already started LocalCluster and building the world "
                   "in each worker and in the parent; not starting the cluster",
           "memory": mem}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2), encoding="utf-8")
    print(f"{tasks} tasks x {len(sc.policies)} policies, {os.cpu_count()} CPUs (load {res['load_average_1min_at_end']})")
    print(f"one process {t1:.2f} s; Dask LocalCluster 2 workers {td:.2f} s; speed-up {t1 / td:.2f}x; "
          f"tables identical: {d1 == d2}")
    print(f"memory, {mem['task_rows']} task rows ({mem_horizon}): peak RSS streamed one process "
          f"{mem['streamed_peak_rss_mb']:.0f} MB, split --jobs 2 (parent) {mem['split_jobs2_peak_rss_mb']:.0f} MB; "
          f"tables identical: {mem['tables_identical']}")
    print(f"written: {out}")
    return 0 if d1 == d2 and mem["tables_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
