"""Memory a run holds per task: the constants behind the ``memory_bytes`` limit (``simoffload/limits.py``).

Each configuration is run at two workload sizes, each in a fresh process
(``simoffload run --out DIR --no-plots``, the CLI path), and the peak resident
set size (``ru_maxrss`` of the child) is read. The slope between the two sizes
is the memory per task; the intercept of the smaller run is the base. The
configurations separate the terms of :data:`simoffload.limits.MEMORY_MODEL`:

* ``off-1``: ``output.record`` all off, one policy (``local``): task + task_row;
* ``off-2``: the same, two policies: task + 2 task_row;
* ``on-local``: records on, ``local``: task + task_row + n subtask rows;
* ``on-edge``: records on, ``edge`` (two transfers a task, its flows and the edge queue rows): adds its
  link rows (the edge has 4096 cores so no task is left unfinished and every row is made);
* ``devices``: records off, ``local``, 60 times the devices with one task each: device + task + task_row.

Then the model's estimate (:func:`simoffload.limits.memory_estimate`) is
compared with each measured peak (``estimate / measured``; it should be at or
somewhat above 1, never far below). Writes ``analysis/results/bench_memory.json``
(``--quick``: ``bench_memory_quick.json``, tiny sizes, the numbers meaningless).

Usage: ``python analysis/bench_memory.py [--quick] [--devices 500 2000]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """name: bench-memory
horizon: 3600
task: {{subtasks: 6}}
devices: {{count: {devices}, arrivals: {{periodic: {{interval: 60}}}}{max_tasks}}}
edge: {{cores: 4096}}
policies: {policies}
output: {{record: {{subtasks: {rec}, links: {rec}, queues: {rec}}}}}
limits: {{tasks: 100000000, subtasks: 1000000000, memory_bytes: 1000000000000}}
"""

CONFIGS = {  # name -> (policies, records on?, devices per size unit, tasks per device)
    "off-1": ("[local]", "false", 1, 60),
    "off-2": ("[local, {name: local, label: local2}]", "false", 1, 60),
    "on-local": ("[local]", "true", 1, 60),
    "on-edge": ("[edge]", "true", 1, 60),
    "devices": ("[local]", "false", 60, 1),
}

CHILD = """
import resource, sys
from simoffload.cli import main
rc = main(["-q", "run", sys.argv[1], "--out", sys.argv[2], "--no-plots", "--no-progress"])
print(rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _peak_bytes(scenario: Path, out: Path) -> int:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(scenario), str(out)], capture_output=True, text=True,
                          env=env, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    rc, peak = proc.stdout.split()[-2:]
    if rc != "0":
        raise RuntimeError(proc.stderr[-2000:])
    return int(peak)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (tests; numbers meaningless)")
    ap.add_argument("--devices", type=int, nargs=2, default=None, help="the two sizes (default 500 2000; 60 tasks each)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from simoffload.config import load_scenario
    from simoffload.limits import MEMORY_MODEL, memory_estimate

    small, big = args.devices or ((5, 20) if args.quick else (500, 2000))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, (policies, rec, dev_mult, per_dev) in CONFIGS.items():
            peaks, estimates = [], []
            for n in (small, big):
                f = d / f"{name}-{n}.yaml"
                f.write_text(SCENARIO.format(devices=n * dev_mult, policies=policies, rec=rec,
                                             max_tasks="" if per_dev == 60 else f", max_tasks: {per_dev}"))
                peaks.append(_peak_bytes(f, d / f"{name}-{n}"))
                estimates.append(memory_estimate(load_scenario(f))[0])
            tasks = (60 * small, 60 * big)  # either way: 60 tasks per size unit
            per_task = (peaks[1] - peaks[0]) / (tasks[1] - tasks[0])
            rows[name] = {"tasks": tasks, "peak_bytes": peaks, "bytes_per_task": round(per_task, 1),
                          "base_bytes": round(peaks[0] - per_task * tasks[0]),
                          "estimate_bytes": estimates,
                          "estimate_over_measured": [round(e / p, 3) for e, p in zip(estimates, peaks)]}
            print(f"{name:9s} {per_task:8.0f} B/task  peak {peaks[1] / 2**20:7.1f} MiB at {tasks[1]} tasks, "
                  f"estimate/measured {rows[name]['estimate_over_measured']}", flush=True)
    off1, off2 = rows["off-1"]["bytes_per_task"], rows["off-2"]["bytes_per_task"]
    derived = {"task_row": off2 - off1, "task": 2 * off1 - off2,
               "subtask_row": (rows["on-local"]["bytes_per_task"] - off1) / 6,
               "link_rows_of_edge_task": rows["on-edge"]["bytes_per_task"] - rows["on-local"]["bytes_per_task"],
               "device": rows["devices"]["bytes_per_task"] - off1}
    res = {"quick": bool(args.quick), "configs": rows, "derived_bytes": derived, "model": MEMORY_MODEL,
           "scenario": SCENARIO}
    out = Path(args.out) if args.out else ROOT / "analysis" / "results" / (
        "bench_memory_quick.json" if args.quick else "bench_memory.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"derived: {derived}\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
