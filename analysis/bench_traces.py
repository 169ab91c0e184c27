"""Long bandwidth traces and stochastic paths: peak memory whole vs block by block.

Two long links, each run through the real command (``simoffload run FILE --out
DIR --no-plots``) in a fresh child process (``resource.getrusage`` max RSS):

* **trace**: a Mahimahi file of about 10M delivery opportunities (lines), made
  in a temporary directory by repeating the measured
  ``../shared/traces/mahimahi/ATT-LTE-driving.down`` (338,895 lines, 786 s) end to
  end, about 30 times (6.5 hours); the repository never holds it. Both wireless
  hops replay it (the uplink from a random start), one device offloads every
  task (all-edge 6-chain) every 30 s over the whole trace.
* **stochastic**: a day-long Gauss-Markov wireless path at 10 ms steps (8.64M
  steps), one device, a task a minute for 24 h.

* **latency**: a latency trace (CSV, one RTT sample every 10 ms: ``t_ms,rtt_ms``)
  made in a temporary directory (3M rows, 8.3 hours; deterministic pseudo-random
  values), one way = half the RTT, on the wireless hop of the same one-device run.
* **mobility**: a mobility trace (CSV ``time,device,x,y``, one row per device per
  second: 20 devices over 24 hours, 1.73M rows) of devices swinging between two
  edge sites 2 km apart (nearest-site association, per-cell wireless), a task
  per device a minute.

Each runs **whole** (the trace parsed into memory, the path drawn in one go: the
code before issue 14's chunking, still used for small files and short paths,
forced here by raising the thresholds) and **chunked** (the default for these
sizes: :mod:`simoffload.net.trace_stream`, :mod:`simoffload.net.stochastic`
block by block). A **baseline** runs the same workload over constant links, so
the bandwidth model's own memory is RSS above it (the latency case's baseline:
the same run with a constant 20 ms latency; the mobility case's: the same run
with a two-row-per-device trace, so the positions grid is in both). The whole
and chunked runs' tables are compared (they must be identical) in the same run.

**Build time of a long stochastic path**: building the day-long path of the
stochastic case (8.64M steps) now draws one block (a block is drawn when a
query first needs it); the time to draw every block, which building took before,
is measured in the same process (``m.complete()``), best of 3, fresh process.

Results: ``analysis/results/bench_traces.json`` (``--quick``: a 1M-line trace, a
2-hour path, 100K latency rows and a 1-hour mobility trace, ``bench_traces_quick.json``).

Usage: ``nice python analysis/bench_traces.py [--quick] [--lines N] [--latency-rows N]
[--mobility-hours H] [--out FILE]``
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

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "traces" / "mahimahi" / "ATT-LTE-driving.down"


def make_trace(path: Path, lines: int) -> tuple[int, int]:
    """Write ``SOURCE`` repeated end to end until about ``lines`` lines; return (lines, period_ms)."""
    stamps = np.array(SOURCE.read_text().split(), dtype=np.int64)
    period = int(stamps[-1])
    reps = max(1, round(lines / len(stamps)))
    with open(path, "w") as f:
        for r in range(reps):
            f.write("\n".join(map(str, (stamps + r * period).tolist())))
            f.write("\n")
    return reps * len(stamps), reps * period


def make_latency(path: Path, rows: int) -> None:
    """A ``t_ms,rtt_ms`` CSV: one sample every 10 ms, RTTs of 20-220 ms (a fixed pseudo-random sequence)."""
    rtt = np.round(20 + 200 * np.random.default_rng(0).random(rows), 3)
    with open(path, "w") as f:
        f.write("t_ms,rtt_ms\n")
        for a in range(0, rows, 100_000):
            b = min(a + 100_000, rows)
            f.write("".join(f"{10 * k},{v}\n" for k, v in zip(range(a, b), rtt[a:b].tolist())))


MOBILITY_DEVICES = 20


def make_mobility(path: Path, hours: float, thin: bool = False) -> None:
    """``time,device,x,y``: each device swings along x between the sites (period 1 h), a row a second
    (``thin``: only its first and last rows)."""
    n = int(hours * 3600)
    ts = [0, n] if thin else range(n + 1)
    with open(path, "w") as f:
        f.write("time,device,x,y\n")
        for t in ts:
            f.write("".join(f"{t},{d},{1000 + 900 * np.sin(2 * np.pi * (t / 3600 + d / MOBILITY_DEVICES)):.2f},"
                            f"{10 * d}\n" for d in range(MOBILITY_DEVICES)))


def mobility_scenario(arg: dict, file: str) -> dict:
    return {
        "name": "bench-mobility", "seed": 1, "horizon": arg["horizon_s"],
        "task": {"subtasks": 6, "distribution": "paper-5.1"},
        "devices": {"count": MOBILITY_DEVICES, "cpu": "550 MHz", "arrivals": {"periodic": {"interval": 60.0}}},
        "edge": [{"name": "a", "cpu": "2.75 GHz", "position": [0, 0], "wireless": {"up": "2 MB/s"}},
                 {"name": "b", "cpu": "2.75 GHz", "position": [2000, 0], "wireless": {"up": "2 MB/s"}}],
        "topology": {"man": [{"between": ["a", "b"], "bandwidth": "10 MB/s"}], "association": {"nearest": True},
                     "mobility": {"trace": {"file": file}}},
        "limits": {"trace_bytes": 2**31},
        "policies": ["edge"],
    }


def scenario(kind: str, arg: dict) -> dict:
    """A one-device all-edge 6-chain run over the long link (``trace``/``stochastic``) or constant links."""
    horizon = arg["horizon_s"]
    if kind.startswith("mobility"):
        return mobility_scenario(arg, arg["thin_file"] if kind == "mobility-baseline" else arg["file"])
    latency = None
    if kind == "latency":
        latency = {"trace": {"file": arg["file"], "column": "rtt_ms", "time_column": "t_ms", "time_unit": "ms",
                             "unit": "ms", "scale": 0.5}}
    elif kind == "latency-baseline":
        latency = "20 ms"
    if kind == "trace":
        tr = {"file": arg["file"], "format": "mahimahi"}
        wireless = {"up": {"trace": dict(tr, start="random")}, "down": {"trace": tr}}
    elif kind == "stochastic":
        wireless = {"up": {"gauss_markov": {"mean": "1 MB/s", "std": "0.3 MB/s", "tau_s": 10, "step_s": 0.01}}}
    else:
        wireless = {"up": "1 MB/s"}
    if latency is not None:
        wireless["latency"] = latency
    return {
        "name": f"bench-{kind}", "seed": 1, "horizon": horizon,
        "task": {"subtasks": 6, "distribution": "paper-5.1"},
        "devices": {"count": 1, "cpu": "550 MHz", "arrivals": {"periodic": {"interval": arg["interval_s"]}}},
        "edge": {"cores": 1, "cpu": "2.75 GHz"},
        "network": {"wireless": wireless, "wan": {"up": "1.5 MB/s"}},
        "limits": {"trace_bytes": 2**31, "bandwidth_steps": 10**9},
        "policies": ["edge"],
    }


def _child(mode: str, path: str, out: str) -> None:
    t0 = time.perf_counter()
    from simoffload.net import stochastic, trace_stream

    if mode == "whole":
        trace_stream.WHOLE_TRACE_BYTES = 1 << 62
        stochastic.WHOLE_STEPS = 1 << 62
    else:  # the default for files above 4 MiB; forced so that the quick mode's smaller file streams too
        trace_stream.WHOLE_TRACE_BYTES = 0
    from simoffload.cli import main

    rc = main(["run", path, "--out", out, "--no-plots", "-q"])
    print(json.dumps({"rc": rc, "wall_s": time.perf_counter() - t0,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _child_build(hours: float) -> None:
    """Build the stochastic case's path (lazily), then draw every block; best of 3 each."""
    from simoffload.net import stochastic
    from simoffload.rng import rng_for

    build, full = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        m = stochastic.gauss_markov(1e6, 3e5, tau_s=10, step_s=0.01, horizon_s=hours * 3600.0,
                                    rng=rng_for(1, "bandwidth/device0/wireless/up"))
        t1 = time.perf_counter()
        m.complete()
        full.append(time.perf_counter() - t1)
        build.append(t1 - t0)
    print(json.dumps({"build_s": min(build), "draw_every_block_s": min(full), "blocks": m.n_blocks,
                      "steps": m.n_steps}))


def point(kind: str, mode: str, arg: dict, tmp: Path) -> dict:
    import yaml

    f = tmp / f"{kind}-{mode}.yaml"
    f.write_text(yaml.safe_dump(scenario(kind, arg)))
    out = tmp / f"out-{kind}-{mode}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run([sys.executable, __file__, "--child", mode, str(f), str(out)], capture_output=True,
                       text=True, env=env, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res.update(kind=kind, mode=mode, out=str(out))
    return res


def same_tables(a: str, b: str) -> bool:
    import pandas as pd

    names = sorted(p.name for p in Path(a).glob("*.parquet"))
    if not {"tasks.parquet", "subtasks.parquet", "links.parquet"} <= set(names) or \
            names != sorted(p.name for p in Path(b).glob("*.parquet")):
        return False
    return all(pd.read_parquet(Path(a) / t).equals(pd.read_parquet(Path(b) / t)) for t in names)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-build":
        _child_build(float(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 1M-line trace and a 2-hour path (tests)")
    ap.add_argument("--lines", type=int, default=None, help="lines of the generated trace (default 10M)")
    ap.add_argument("--path-hours", type=float, default=None, help="hours of the stochastic path (default 24)")
    ap.add_argument("--latency-rows", type=int, default=None, help="rows of the latency trace (default 3M)")
    ap.add_argument("--mobility-hours", type=float, default=None, help="hours of the mobility trace (default 24)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    lines = args.lines or (1_000_000 if args.quick else 10_000_000)
    hours = args.path_hours or (2.0 if args.quick else 24.0)
    lat_rows = args.latency_rows or (100_000 if args.quick else 3_000_000)
    mob_hours = args.mobility_hours or (1.0 if args.quick else 24.0)
    out = Path(args.out) if args.out else ROOT / "analysis" / "results" / (
        "bench_traces_quick.json" if args.quick else "bench_traces.json")
    res: dict = {"load_before": os.getloadavg(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-traces-") as d:
        tmp = Path(d)
        tf = tmp / "long.mahimahi"
        n_lines, period_ms = make_trace(tf, lines)
        res["trace"] = {"lines": n_lines, "bytes": tf.stat().st_size, "duration_s": period_ms / 1000,
                        "source": str(SOURCE.relative_to(ROOT.parent))}
        targ = {"file": str(tf), "horizon_s": period_ms / 1000, "interval_s": 30.0}
        sarg = {"horizon_s": hours * 3600.0, "interval_s": 60.0}
        res["stochastic"] = {"hours": hours, "steps": int(hours * 3600 / 0.01) + 1}
        lf = tmp / "latency.csv"
        make_latency(lf, lat_rows)
        larg = {"file": str(lf), "horizon_s": lat_rows * 0.01, "interval_s": 30.0}
        res["latency"] = {"rows": lat_rows, "bytes": lf.stat().st_size, "duration_s": lat_rows * 0.01}
        mf, mthin = tmp / "mobility.csv", tmp / "mobility-thin.csv"
        make_mobility(mf, mob_hours)
        make_mobility(mthin, mob_hours, thin=True)
        marg = {"file": str(mf), "thin_file": str(mthin), "horizon_s": mob_hours * 3600.0}
        res["mobility"] = {"rows": (int(mob_hours * 3600) + 1) * MOBILITY_DEVICES, "devices": MOBILITY_DEVICES,
                           "bytes": mf.stat().st_size, "hours": mob_hours}
        pts = {}
        for kind, arg in (("baseline", targ), ("trace", targ), ("stochastic", sarg), ("latency-baseline", larg),
                          ("latency", larg), ("mobility-baseline", marg), ("mobility", marg)):
            for mode in (("chunked",) if kind.endswith("baseline") else ("whole", "chunked")):
                p = point(kind, mode, arg, tmp)
                pts[f"{kind}/{mode}"] = p
                print(f"{kind:10s} {mode:8s} peak RSS {p['peak_rss_mb']:8.1f} MB  wall {p['wall_s']:7.1f} s", flush=True)
        for kind in ("trace", "stochastic", "latency", "mobility"):
            w, c = pts[f"{kind}/whole"], pts[f"{kind}/chunked"]
            base = pts[f"{kind}-baseline/chunked" if kind in ("latency", "mobility") else "baseline/chunked"][
                "peak_rss_mb"]
            res[kind].update(
                whole_rss_mb=w["peak_rss_mb"], chunked_rss_mb=c["peak_rss_mb"], baseline_rss_mb=base,
                whole_above_baseline_mb=w["peak_rss_mb"] - base, chunked_above_baseline_mb=c["peak_rss_mb"] - base,
                rss_ratio_whole_over_chunked=w["peak_rss_mb"] / c["peak_rss_mb"],
                whole_wall_s=w["wall_s"], chunked_wall_s=c["wall_s"],
                identical_tables=same_tables(w["out"], c["out"]))
            print(f"{kind}: whole {w['peak_rss_mb']:.0f} MB, chunked {c['peak_rss_mb']:.0f} MB "
                  f"(baseline {base:.0f} MB): ratio {w['peak_rss_mb'] / c['peak_rss_mb']:.2f}x; "
                  f"tables identical: {res[kind]['identical_tables']}")
        res["baseline_rss_mb"] = pts["baseline/chunked"]["peak_rss_mb"]
        res["baseline_wall_s"] = pts["baseline/chunked"]["wall_s"]
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        r = subprocess.run([sys.executable, __file__, "--child-build", str(hours)], capture_output=True, text=True,
                           env=env, cwd=ROOT, check=True)
        res["stochastic"]["build"] = json.loads(r.stdout.strip().splitlines()[-1])
        b = res["stochastic"]["build"]
        print(f"stochastic path of {b['steps']} steps: build {b['build_s'] * 1e3:.1f} ms (one block drawn); "
              f"drawing every block {b['draw_every_block_s']:.2f} s", flush=True)
    res["load_after"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
