"""Scale: peak memory and throughput of long runs with every record streamed to Parquet.

The workload of issue 14: the paper's 6-subtask chain (``scenarios/quickstart.yaml``'s
task, paper-5.1 sizes), all-edge, 20 devices (Poisson arrivals, one task per
20 minutes each: the edge core is lightly loaded, as in ``bench_engine.py``),
every record on (subtasks, transfers, flows, queues), run through the real
command (``simoffload run FILE --out DIR --no-plots``: streamed Parquet row
groups in the staging directory, the one-pass summary, the atomic move into
place). Each point is a fresh child process (``resource.getrusage`` max RSS,
so an earlier point's memory never counts); tasks/s is tasks over the wall
time of the whole command inside the child (build, simulate, write, summarise).

Each point also records the child's CPU time (user + system, every thread:
the Parquet row groups are written by a background thread), a steadier
figure than wall time on a shared machine.

The baseline is the same command with the subtask/link/queue records off
(only the tasks table), measured in the same run at every size up to 1M; 10M
tasks run with records on only (the records-off point would take as long
again). The import of simoffload and pandas alone is measured too.

``--repeats K`` (for a shared machine) runs every size up to ``--off-up-to``
K times, records on and off alternating, and keeps for each the run with the
best wall time (its CPU time is the best too, reported beside); every run is
kept in ``runs``. The ratios are then best against best.

``--baseline REV`` (full mode default ``58bb805``, the last revision before issue 14's work) also runs
the records-off command with the code of ``REV`` (a temporary git worktree), in turn with the other runs
of each size: issue 14 asks for tasks/s with every record "within 10% of today's records-off rate",
today being the day the issue was written; ``on_over_baseline_off`` is that ratio (``_cpu``: in CPU
time). The scenario drops the limits fields that revision did not know (they only raise the limits).

Results: ``analysis/results/bench_scale.json`` and ``bench_scale.png``
(``--quick``: 10K and 100K tasks, ``bench_scale_quick.json``, no plot).

Usage: ``nice python analysis/bench_scale.py [--quick] [--sizes 10000 100000 ...] [--repeats 3]``
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

ROOT = Path(__file__).resolve().parents[1]
#: the last revision before issue 14's work (streamed records): its records-off rate is "today's" in the issue
BASELINE_REV = "58bb805"


def scenario(n_tasks: int, records: bool) -> dict:
    """The scale scenario for ``n_tasks`` tasks (20 devices x n/20 each)."""
    per = n_tasks // 20
    return {
        "name": "scale", "seed": 1, "horizon": 1200.0 * per * 2 + 1e4,  # every device's arrivals end before
        "task": {"subtasks": 6, "distribution": "paper-5.1"},
        "devices": {"count": 20, "cpu": "550 MHz", "arrivals": {"poisson": {"rate": 1 / 1200}}, "max_tasks": per},
        "edge": {"cores": 1, "cpu": "2.75 GHz"},
        "network": {"wireless": {"up": "1 MB/s"}, "wan": {"up": "1.5 MB/s"}},
        "output": {"record": {"subtasks": records, "links": records, "queues": records}},
        # the limits' memory estimate counts every record as held in memory (true of the Python API); the
        # streamed command holds none of them, so the estimate (67 GB at 10M tasks) is raised out of the way
        "limits": {"tasks": max(2 * n_tasks, 2_000_000), "subtasks": max(12 * n_tasks, 20_000_000),
                   "memory_bytes": 10 ** 13},
        "policies": ["edge"],
    }


def _child(path: str, out: str) -> None:
    t0 = time.perf_counter()
    from simoffload.cli import main

    rc = main(["run", path, "--out", out, "--no-plots", "-q"])
    wall = time.perf_counter() - t0
    meta = json.loads((Path(out) / "meta.json").read_text())
    ru = resource.getrusage(resource.RUSAGE_SELF)
    import simoffload

    print(json.dumps({"rc": rc, "wall_s": wall, "run_s": meta.get("wall_clock", {}).get("edge", {}).get("run_s"),
                      "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024,
                      "code": str(Path(simoffload.__file__).parents[1])}))


def point(n_tasks: int, records: bool, tmp: Path, root: Path = ROOT) -> dict:
    """One fresh ``simoffload run`` of the scale scenario with the code under ``root`` (this tree by default)."""
    import yaml

    sc = scenario(n_tasks, records)
    if root != ROOT:  # an older revision: the limits it knows (memory_bytes came with issue 14)
        sc["limits"].pop("memory_bytes")
    tag = "" if root == ROOT else "-baseline"
    f = tmp / f"scale-{n_tasks}-{int(records)}{tag}.yaml"
    f.write_text(yaml.safe_dump(sc))
    out = tmp / f"out-{n_tasks}-{int(records)}{tag}"
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run([sys.executable, __file__, "--child", str(f), str(out)], capture_output=True, text=True,
                       env=env, cwd=root)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    res = json.loads(r.stdout.strip().splitlines()[-1])
    import pyarrow.parquet as pq

    res["rows"] = {t: pq.ParquetFile(out / f"{t}.parquet").metadata.num_rows for t in ("tasks", "subtasks", "links")}
    res["row_groups"] = {t: pq.ParquetFile(out / f"{t}.parquet").num_row_groups for t in ("tasks", "subtasks", "links")}
    res["bytes_on_disk"] = sum(p.stat().st_size for p in out.iterdir())
    res.update(tasks=n_tasks, records=records, tasks_per_s=n_tasks / res["wall_s"],
               measured_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    import shutil

    shutil.rmtree(out)
    return res


def import_rss() -> float:
    r = subprocess.run([sys.executable, "-c", "import resource, simoffload.sim.scenario, simoffload.sim.results, pandas,"
                        " pyarrow.parquet; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
                       capture_output=True, text=True, check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return float(r.stdout)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    on = [p for p in res["points"] if p["records"]]
    off = [p for p in res["points"] if not p["records"]]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.plot([p["tasks"] for p in on], [p["peak_rss_mb"] for p in on], "o-", label="every record, streamed to Parquet")
    a.plot([p["tasks"] for p in off], [p["peak_rss_mb"] for p in off], "s--", label="records off (tasks table only)")
    a.axhline(res["import_rss_mb"], color="0.5", lw=0.8, ls=":", label="import only")
    a.axhline(500, color="C3", lw=0.8, label="target at 1M: 500 MB")
    a.set_xscale("log")
    a.set_ylim(0, max(600, max(p["peak_rss_mb"] for p in res["points"]) * 1.15))
    a.set_xlabel("tasks in the run")
    a.set_ylabel("peak RSS (MB)")
    a.set_title("memory (fresh process per point)")
    a.legend(fontsize=7.5, loc="lower right")
    # throughput only of points measured by invocations of this version of the script (an --append may keep
    # older points, measured with older code: their memory is shown, their speed is not comparable)
    if "run_utc" in res:  # points measured by this script's invocations (an --append adds its own)
        on = [p for p in on if "run_utc" in p]
        off = [p for p in off if "run_utc" in p]
    else:
        last = max((p.get("measured_utc", "")[:13] for p in res["points"]), default="")
        on = [p for p in on if p.get("measured_utc", "")[:13] == last]
        off = [p for p in off if p.get("measured_utc", "")[:13] == last]
    # tasks per CPU second (every thread) beside tasks per wall second: on a shared machine the wall time
    # depends on what else runs, the CPU time much less
    cpu = lambda ps: [p["tasks"] / p["cpu_s"] for p in ps]  # noqa: E731
    b.plot([p["tasks"] for p in on], cpu(on), "o-", color="C0", label="every record, streamed: per CPU s")
    b.plot([p["tasks"] for p in off], cpu(off), "s--", color="C1", label="records off: per CPU s")
    # wall time only of the last invocation's points: an earlier invocation (an --append) may have run on a
    # machine loaded differently, where its CPU time still compares and its wall time does not
    now = lambda ps: [p for p in ps if p.get("run_utc") == res.get("run_utc")]  # noqa: E731
    b.plot([p["tasks"] for p in now(on)], [p["tasks_per_s"] for p in now(on)], "o:", color="C0", alpha=0.4, ms=4,
           label="every record: per wall s")
    b.plot([p["tasks"] for p in now(off)], [p["tasks_per_s"] for p in now(off)], "s:", color="C1", alpha=0.4, ms=4,
           label="records off: per wall s")
    base = res.get("baseline_points") or []
    if base:
        b.plot([p["tasks"] for p in base], cpu(base), "^-.", color="C2",
               label=f"records off, code before issue 14 ({res['baseline_rev']}): per CPU s")
    b.set_xscale("log")
    b.set_ylim(0, max([p["tasks_per_s"] for p in on + off] + cpu(on + off + base)) * 1.2)
    b.set_xlabel("tasks in the run")
    b.set_ylabel("tasks / s (whole run command)")
    b.set_title("throughput (6-chain, all-edge, 20 devices)")
    b.legend(fontsize=7.5, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=150)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10K and 100K tasks only (tests)")
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--off-up-to", type=int, default=1_000_000, help="records-off baseline up to this size")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each size up to --off-up-to, records on and off "
                    "alternating; the best of each is kept (a shared machine)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--append", action="store_true", help="add the points to those already in --out (a long "
                    "point run on its own)")
    ap.add_argument("--baseline", default=None, help=f"git revision whose records-off command is run beside "
                    f"(full mode default: {BASELINE_REV}, the code before issue 14; 'none' skips)")
    args = ap.parse_args()
    baseline = args.baseline if args.baseline is not None else (None if args.quick or args.append else BASELINE_REV)
    baseline = None if baseline == "none" else baseline
    sizes = args.sizes or ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000, 10_000_000])
    out = Path(args.out or ROOT / "analysis" / "results" / f"bench_scale{'_quick' if args.quick else ''}.json")
    run_utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    res = {"import_rss_mb": import_rss(), "points": [], "runs": [], "repeats": args.repeats, "run_utc": run_utc,
           "machine_load": os.getloadavg()}
    if args.append and out.exists():
        old = json.loads(out.read_text())
        res["points"] = [p for p in old["points"] if p["tasks"] not in sizes]
        res["runs"] = [p for p in old.get("runs", []) if p["tasks"] not in sizes]
        res["machine_load_earlier_points"] = old.get("machine_load_earlier_points", old.get("machine_load"))
    print(f"import only: {res['import_rss_mb']:.0f} MB", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=os.environ.get("TMPDIR")) as tmp:
        tree = None
        if baseline is not None:
            tree = Path(tmp) / "baseline-tree"
            r = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), baseline],
                               capture_output=True, text=True)
            if r.returncode != 0:
                res["baseline_error"] = f"cannot check out {baseline}: {r.stderr.strip()}"
                print(res["baseline_error"], flush=True)
                tree = None
            else:
                res["baseline_rev"], res["baseline_points"] = baseline, []
        try:
            _measure(sizes, args, Path(tmp), tree, run_utc, res)
        finally:
            if tree is not None:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    _finish(res, out, args.quick)


def _measure(sizes: list[int], args: argparse.Namespace, tmp: Path, tree: Path | None, run_utc: str,
             res: dict) -> None:
    for n in sizes:
        both = n <= args.off_up_to
        runs, base = [], []
        for _ in range(max(1, args.repeats) if both else 1):
            for records in ((True, False) if both else (True,)):
                p = point(n, records, tmp)
                p["run_utc"] = run_utc
                runs.append(p)
                print(f"{n:>11,d} tasks  records={'on ' if records else 'off'}  {p['wall_s']:8.1f} s "
                      f"(CPU {p['cpu_s']:6.1f} s)  "
                      f"{p['tasks_per_s']:8.0f} tasks/s  peak RSS {p['peak_rss_mb']:6.0f} MB  "
                      f"rows {sum(p['rows'].values()):,}", flush=True)
            if both and tree is not None:
                p = point(n, False, tmp, tree)
                p["run_utc"] = run_utc
                base.append(p)
                print(f"{n:>11,d} tasks  records=off {p['wall_s']:8.1f} s (CPU {p['cpu_s']:6.1f} s)  "
                      f"{p['tasks_per_s']:8.0f} tasks/s  peak RSS {p['peak_rss_mb']:6.0f} MB  "
                      f"[{res['baseline_rev']}]", flush=True)
        res["runs"] += runs
        if base:
            best = dict(max(base, key=lambda p: p["tasks_per_s"]))
            best.update(cpu_s=min(p["cpu_s"] for p in base), peak_rss_mb=max(p["peak_rss_mb"] for p in base),
                        runs=len(base))
            res["baseline_points"].append(best)
        for records in {p["records"] for p in runs}:
            mine = [p for p in runs if p["records"] == records]
            best = dict(max(mine, key=lambda p: p["tasks_per_s"]))
            best.update(cpu_s=min(p["cpu_s"] for p in mine),
                        peak_rss_mb=max(p["peak_rss_mb"] for p in mine), runs=len(mine))
            res["points"].append(best)


def _finish(res: dict, out: Path, quick: bool) -> None:
    res["points"].sort(key=lambda p: (p["tasks"], not p["records"]))
    by = {(p["tasks"], p["records"]): p for p in res["points"]}
    res["on_over_off"] = {str(n): by[(n, True)]["tasks_per_s"] / by[(n, False)]["tasks_per_s"]
                          for n in sorted({p["tasks"] for p in res["points"]}) if (n, False) in by and (n, True) in by}
    res["on_over_off_cpu"] = {str(n): by[(n, False)]["cpu_s"] / by[(n, True)]["cpu_s"]
                              for n in sorted({p["tasks"] for p in res["points"]})
                              if (n, False) in by and (n, True) in by and "cpu_s" in by[(n, True)]}
    for n, r in res["on_over_off"].items():
        print(f"{int(n):>11,d} tasks: records on / off throughput ratio {r:.3f}"
              f" (CPU time off / on {res['on_over_off_cpu'].get(n, float('nan')):.3f})")
    if res.get("baseline_points"):
        base = {p["tasks"]: p for p in res["baseline_points"]}
        res["on_over_baseline_off"] = {str(n): by[(n, True)]["tasks_per_s"] / b["tasks_per_s"]
                                       for n, b in base.items() if (n, True) in by}
        res["on_over_baseline_off_cpu"] = {str(n): b["cpu_s"] / by[(n, True)]["cpu_s"]
                                           for n, b in base.items() if (n, True) in by}
        for n, r in res["on_over_baseline_off"].items():
            print(f"{int(n):>11,d} tasks: records on / records off of {res['baseline_rev']} {r:.3f}"
                  f" (CPU time {res['on_over_baseline_off_cpu'][n]:.3f})")
    res["machine_load_after"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"results: {out}")
    if not quick:
        png = out.with_suffix(".png")
        plot(res, png)
        print(f"plot: {png}")


if __name__ == "__main__":
    main()
