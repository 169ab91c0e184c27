"""Learning curves of the online agents (tabular-q, online-dqn) against optimal and queue-aware.

Runs ``scenarios/online.yaml`` (a stationary multi-user system) for several
replicate seeds. Per policy and replicate, tasks are grouped by arrival time
into equal windows of simulated time; the curve is the replicate mean of the
window's mean latency (completed tasks) with a 95% t confidence interval over
replicates. The learning effect is the paired difference of mean latency over
the first and the last third of the run (by arrival), with its 95% CI;
unfinished tasks are counted beside it.

Usage: python analysis/study_learning.py [--quick] [--out DIR]
Writes DIR/learning_curves.png (default: analysis/results/learning_curves.png),
DIR/study_learning/numbers.csv (the curves) and findings.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simoffload.config import load_scenario  # noqa: E402
from simoffload.sim.results import tables_from  # noqa: E402
from simoffload.sim.scenario import run_scenario  # noqa: E402

POLICIES = ["local", "optimal", "queue-aware", "tabular-q", "online-dqn"]


def ci95(x: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% t interval."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return (float(x.mean()) if len(x) else math.nan, math.nan)
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 replicates of 20 simulated minutes (seconds)")
    ap.add_argument("--out", default=str(ROOT / "analysis" / "results"))
    ap.add_argument("--replicates", type=int, default=None)
    a = ap.parse_args(argv)
    import pandas as pd

    sc = load_scenario(ROOT / "scenarios" / "online.yaml")
    reps = a.replicates or (2 if a.quick else 5)
    windows = 6 if a.quick else 12
    if a.quick:
        sc.horizon = 20 * 60.0
    rows, thirds = [], []
    for r in range(reps):
        seed = 1 + r
        t = tables_from(run_scenario(sc, seed)).tasks
        edges = np.linspace(0.0, sc.horizon, windows + 1)
        t["window"] = np.clip(np.searchsorted(edges, t.arrival_s, side="right") - 1, 0, windows - 1)
        for pol, g in t.groupby("policy"):
            done = g[g.status == "done"]
            for w in range(windows):
                x = done[done.window == w].latency_s
                rows.append({"policy": pol, "replicate": seed, "window": w, "t_mid_s": (edges[w] + edges[w + 1]) / 2,
                             "mean_latency_s": float(x.mean()) if len(x) else math.nan,
                             "tasks": int((g.window == w).sum()), "unfinished": int(((g.window == w) & (g.status != "done")).sum())})
            g = g.sort_values("arrival_s")
            k = len(g) // 3
            first, last = g.iloc[:k], g.iloc[-k:]
            thirds.append({"policy": pol, "replicate": seed,
                           "first_s": float(first.latency_s[first.status == "done"].mean()),
                           "last_s": float(last.latency_s[last.status == "done"].mean()),
                           "overall_s": float(done.latency_s.mean()),
                           "unfinished": int((g.status != "done").sum()), "tasks": len(g),
                           "decision_s": float(g.decision_s.mean())})
    curves = pd.DataFrame(rows)
    th = pd.DataFrame(thirds)
    summary = {}
    for pol in POLICIES:
        d = th[th.policy == pol]
        diff = ci95((d.first_s - d.last_s).to_numpy())
        summary[pol] = {
            "first_third_s": ci95(d.first_s.to_numpy()), "last_third_s": ci95(d.last_s.to_numpy()),
            "overall_s": ci95(d.overall_s.to_numpy()), "first_minus_last_s": diff,
            "improves": bool(diff[0] - diff[1] > 0) if np.isfinite(diff[1]) else None,
            "unfinished": int(d.unfinished.sum()), "tasks": int(d.tasks.sum()),
            "mean_decision_s": float(d.decision_s.mean()),
        }
    # last third relative to the optimum, paired by replicate
    opt = th[th.policy == "optimal"].set_index("replicate")
    for pol in POLICIES:
        d = th[th.policy == pol].set_index("replicate")
        summary[pol]["last_third_over_optimal"] = ci95((d.last_s / opt.last_s).to_numpy())

    out = Path(a.out)
    sub = out / ("study_learning_quick" if a.quick else "study_learning")
    sub.mkdir(parents=True, exist_ok=True)
    curves.to_csv(sub / "numbers.csv", index=False)
    th.to_csv(sub / "thirds.csv", index=False)
    findings = {"scenario": "scenarios/online.yaml", "replicates": reps, "horizon_s": sc.horizon, "windows": windows,
                "quick": a.quick, "policies": summary}
    (sub / "findings.json").write_text(json.dumps(findings, indent=2), encoding="utf-8")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    styles = {"local": ("0.5", ":"), "optimal": ("k", "-"), "queue-aware": ("tab:green", "--"),
              "tabular-q": ("tab:blue", "-"), "online-dqn": ("tab:red", "-")}
    for pol in POLICIES:
        c = curves[curves.policy == pol]
        stats_ = [ci95(c[c.window == w].mean_latency_s.to_numpy()) for w in range(windows)]
        x = np.array([c[c.window == w].t_mid_s.iloc[0] for w in range(windows)]) / 60.0
        m = np.array([s[0] for s in stats_])
        h = np.array([s[1] for s in stats_])
        col, ls = styles[pol]
        ax.plot(x, m, ls, color=col, marker="o", ms=3, label=pol)
        ax.fill_between(x, m - h, m + h, color=col, alpha=0.15, lw=0)
    ax.set_xlabel("simulated time (min), tasks grouped by arrival")
    ax.set_ylabel("mean latency of the window (s)")
    ax.set_yscale("log")
    ax.set_title(f"Online learning, {sc.devices.count} devices, stationary links; {reps} replicates, 95% CI")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    png = out / ("learning_curves_quick.png" if a.quick else "learning_curves.png")
    fig.savefig(png, dpi=120)
    print(f"plot: {png}")
    print(f"numbers: {sub / 'numbers.csv'}, {sub / 'findings.json'}")
    for pol, s in summary.items():
        f, l_, d = s["first_third_s"], s["last_third_s"], s["first_minus_last_s"]
        print(f"{pol:12s} first third {f[0]:7.3f} +- {f[1]:.3f} s  last third {l_[0]:7.3f} +- {l_[1]:.3f} s  "
              f"first-last {d[0]:+.3f} +- {d[1]:.3f} s  last/optimal {s['last_third_over_optimal'][0]:.3f}  "
              f"unfinished {s['unfinished']}/{s['tasks']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
