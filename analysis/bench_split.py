"""One run split by policy over a 2-worker Dask LocalCluster vs the same run in one process.

A 20-device scenario (the paper's 6-subtask chain, one shared edge, four
policies of similar cost) is run

* in this process (``run_scenario``, the baseline), and
* with its policies as 2 shards on a Dask ``LocalCluster`` of 2 single-threaded
  worker processes (``run_split``, what ``simoffload run --scheduler`` does),

in the same process run. Both results are written as Parquet tables and their
bytes compared (they must be identical: the split is exact). The speed-up is
``T(one process) / T(2 workers)``; the Dask time includes connecting a client to
the already started cluster and rebuilding the world in each worker and in the
parent (for the link table), not starting the cluster. Writes
``analysis/results/bench_split.json`` (``--quick``: ``bench_split_quick.json``).

Usage: ``python analysis/bench_split.py [--quick] [--horizon "2 h"]``
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny run (tests)")
    ap.add_argument("--horizon", default=None, help="simulated time (default 2 h; quick: 2 min)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    horizon = args.horizon or ("2 min" if args.quick else "2 h")
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
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tasks = len(one.world.system.tasks)
    res = {"tasks_per_policy": tasks, "policies": [p.display for p in sc.policies], "horizon": horizon,
           "cpus": os.cpu_count(), "t_one_process_s": round(t1, 3), "t_dask_2workers_s": round(td, 3),
           "speedup": round(t1 / td, 3), "tables_identical": d1 == d2, "tables": sorted(d1),
           "load_average_1min_at_end": round(os.getloadavg()[0], 2),
           "note": "dask time includes connecting to an already started LocalCluster and building the world "
                   "in each worker and in the parent; not starting the cluster"}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2), encoding="utf-8")
    print(f"{tasks} tasks x {len(sc.policies)} policies, {os.cpu_count()} CPUs (load {res['load_average_1min_at_end']})")
    print(f"one process {t1:.2f} s; Dask LocalCluster 2 workers {td:.2f} s; speed-up {t1 / td:.2f}x; "
          f"tables identical: {d1 == d2}")
    print(f"written: {out}")
    return 0 if d1 == d2 else 1


if __name__ == "__main__":
    sys.exit(main())
