"""Multi-user load study: where snapshot-optimal decisions stop being optimal once queues form.

Runs the sweep of ``scenarios/study_multiuser.yaml`` (devices sharing one cell,
one WAN link and a 2-core edge server, Poisson arrivals, the device count swept
from light load to saturation) and writes to ``analysis/results/study_multiuser/``:

* ``latency_vs_devices.png`` - mean latency per policy vs number of devices, 95 % CI over replicates;
* ``optimal_gap.png`` - paired per-replicate ratio of optimal's mean latency to queue-aware's and to
  the best other policy's, 95 % CI;
* ``numbers.csv`` and ``findings.json``.

Usage: ``python analysis/study_multiuser.py [--quick] [--jobs N] [--scheduler ADDR] [--out DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _study import finish_study, run_study  # noqa: E402

SCENARIO = ROOT / "scenarios" / "study_multiuser.yaml"
NAME = "study_multiuser"
X = "devices.count"


def analyse(summary: pd.DataFrame, rate_per_device: float) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    from simoffload.experiments.plots import ci_table

    tab = ci_table(summary, X)
    unf = summary.groupby(["policy", X])[["unfinished", "tasks"]].sum().reset_index()
    tab = tab.merge(unf, on=["policy", X])
    tab["unfinished_frac"] = tab["unfinished"] / tab["tasks"]
    tab["load_tasks_per_s"] = tab[X] * rate_per_device
    # paired ratios per replicate (same workload for every policy of a run)
    piv = summary.pivot_table(index=[X, "replicate"], columns="policy", values="mean_latency_s")
    others = [p for p in piv.columns if p != "optimal"]
    rows = []
    for (n, r), row in piv.iterrows():
        best_other = row[others].min()
        rows.append({X: n, "replicate": r, "opt_over_qa": row["optimal"] / row["queue-aware"],
                     "opt_over_best_other": row["optimal"] / best_other, "best_other": row[others].idxmin()})
    gap = pd.DataFrame(rows)
    g1 = ci_table(gap.assign(policy="optimal / queue-aware"), X, "opt_over_qa")
    g2 = ci_table(gap.assign(policy="optimal / best other"), X, "opt_over_best_other")
    gaps = pd.concat([g1, g2], ignore_index=True)
    f: dict = {"rate_per_device_per_s": rate_per_device}
    m = tab.pivot(index=X, columns="policy", values="mean")
    f["mean_latency_s"] = {int(n): {p: round(float(v), 3) for p, v in r.items()} for n, r in m.iterrows()}
    counts = sorted(m.index)
    # first load where optimal is significantly worse than queue-aware (CI of the paired ratio above 1)
    sig = g1[(g1["mean"] - g1["ci"].fillna(0)) > 1.0][X].tolist()
    f["first_count_optimal_beaten"] = int(min(sig)) if sig else None
    f["opt_over_qa"] = {int(r[X]): [round(float(r["mean"]), 4), round(float(r["ci"]), 4)] for _, r in g1.iterrows()}
    f["best_policy"] = {int(n): str(m.loc[n].idxmin()) for n in counts}
    ed = tab[tab["policy"] == "edge"].set_index(X)["mean"]
    f["edge_latency_growth"] = round(float(ed.iloc[-1] / ed.iloc[0]), 3) if len(ed) > 1 else None
    return tab, gaps, f


def findings_text(f: dict) -> str:
    lat, counts = f["mean_latency_s"], sorted(f["mean_latency_s"])
    lo, hi = counts[0], counts[-1]
    r = f["rate_per_device_per_s"]
    parts = [f"From {lo} to {hi} devices ({lo * r:.2f} to {hi * r:.2f} tasks/s in all), optimal's mean latency "
             f"goes from {lat[lo]['optimal']:.2f} s to {lat[hi]['optimal']:.2f} s, edge-only from "
             f"{lat[lo]['edge']:.2f} s to {lat[hi]['edge']:.2f} s, and queue-aware from {lat[lo]['queue-aware']:.2f} s "
             f"to {lat[hi]['queue-aware']:.2f} s."]
    first = f["first_count_optimal_beaten"]
    if first is None:
        parts.append("At no load is snapshot-optimal significantly worse than queue-aware (95% CI of the paired ratio).")
    else:
        q = f["opt_over_qa"]
        parts.append(f"Snapshot-optimal stops being optimal at {first} devices ({first * r:.2f} tasks/s): there its "
                     f"latency is {q[first][0]:.3f}x queue-aware's (95% CI +-{q[first][1]:.3f}), rising to "
                     f"{q[hi][0]:.3f}x at {hi} devices, because it plans as if the edge CPU were idle while "
                     f"edge jobs queue.")
    best = f["best_policy"]
    parts.append("Lowest mean latency per load: " + ", ".join(f"{n}: {p}" for n, p in best.items()) + ".")
    return " ".join(parts)


def plots(tab: pd.DataFrame, gaps: pd.DataFrame, out: Path) -> list[Path]:
    from simoffload.experiments.plots import line_ci

    order = sorted(tab[X].unique())
    return [
        line_ci(tab, X, out / "latency_vs_devices.png", "mean latency (s), 95% CI", "devices sharing the edge and cell",
                "Latency vs load (2-core edge, shared cell and WAN)", logy=True, order=order),
        line_ci(gaps, X, out / "optimal_gap.png", "latency ratio (paired), 95% CI", "devices sharing the edge and cell",
                "Snapshot-optimal relative to queue-aware and to the best other policy", order=order),
    ]


def main(argv: list[str] | None = None) -> int:
    from simoffload.config import load_scenario

    args, out, outcome, summary = run_study(__doc__, SCENARIO, NAME, argv)
    tab, gaps, f = analyse(summary, load_scenario(SCENARIO).devices.arrivals.poisson.rate)
    tab.to_csv(out / "numbers.csv", index=False)
    gaps.to_csv(out / "optimal_gap.csv", index=False)
    return finish_study(out, f, args, outcome, findings_text, plots(tab, gaps, out))


if __name__ == "__main__":
    sys.exit(main())
