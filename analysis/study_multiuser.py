"""Multi-user load study: where snapshot-optimal decisions stop being optimal once queues form.

Runs the sweep of ``scenarios/study_multiuser.yaml`` (devices sharing one cell,
one WAN link and a 2-core edge server, Poisson arrivals, the device count swept
from light load to saturation) and writes to ``analysis/results/study_multiuser/``:

* ``latency_vs_devices.png`` (+ .pdf, .svg) - post-warm-up mean latency per policy vs number of devices,
  95 % CI over replicates; points that are not steady (overloaded, still rising) are flagged, not averaged;
* ``optimal_gap.png`` - paired per-replicate ratio of optimal's mean latency to queue-aware's and to
  the best other steady policy's, 95 % CI;
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
    from _study import steady_table

    from simoffload.experiments.stats import point_table

    tab = steady_table(summary, [X])
    tab["load_tasks_per_s"] = tab[X] * rate_per_device
    # paired ratios per replicate (same workload for every policy of a run), on post-warm-up means,
    # only where both policies of the ratio are steady
    piv = summary.pivot_table(index=[X, "replicate"], columns="policy", values="ss_mean_latency_s")
    ok = summary.pivot_table(index=[X, "replicate"], columns="policy", values="steady", aggfunc="all")
    others = [p for p in piv.columns if p != "optimal"]
    rows = []
    for (n, r), row in piv.iterrows():
        st = ok.loc[(n, r)]
        steady_others = [p for p in others if st[p]]
        best_other = row[steady_others].min() if steady_others else float("nan")
        rows.append({X: n, "replicate": r, "policy": "optimal / queue-aware", "ratio": row["optimal"] / row["queue-aware"],
                     "steady": bool(st["optimal"] and st["queue-aware"]), "why": "" if st["optimal"] and st["queue-aware"]
                     else "optimal or queue-aware not steady", "unfinished_frac": 0.0, "rho_max": 0.0})
        rows.append({X: n, "replicate": r, "policy": "optimal / best other steady", "ratio": row["optimal"] / best_other,
                     "steady": bool(st["optimal"] and steady_others), "why": "" if st["optimal"] else "optimal not steady",
                     "unfinished_frac": 0.0, "rho_max": 0.0})
    gaps = point_table(pd.DataFrame(rows), [X], metric="ratio")
    f: dict = {"rate_per_device_per_s": rate_per_device}
    f["points"] = {int(n): {r["policy"]: ({"mean_s": round(r["mean"], 3), "ci95_s": round(r["ci"], 3)} if r["steady"]
                                          else {"not_steady": r["why"]}) | {"unfinished": round(r["unfinished_frac"], 4),
                                                                            "rho_max": round(r["rho_max"], 3)}
                            for _, r in g.iterrows()} for n, g in tab.groupby(X)}
    f["replicates_per_point"] = int(tab["n"].max())
    g1 = gaps[gaps["policy"] == "optimal / queue-aware"]
    sig = g1[g1["steady"] & g1["ci"].notna() & ((g1["mean"] - g1["ci"]) > 1.0)][X].tolist()
    f["first_count_optimal_beaten"] = int(min(sig)) if sig else None
    f["opt_over_qa"] = {int(r[X]): ([round(float(r["mean"]), 4), round(float(r["ci"]), 4)] if r["steady"] else "not steady")
                        for _, r in g1.iterrows()}
    f["not_steady"] = {p: sorted(int(n) for n in g.loc[~g["steady"], X]) for p, g in tab.groupby("policy")}
    best = {}
    for n, g in tab[tab["steady"]].groupby(X):
        best[int(n)] = str(g.loc[g["mean"].idxmin(), "policy"])
    f["best_steady_policy"] = best
    return tab, gaps, f


def findings_text(f: dict) -> str:
    pts, r = f["points"], f["rate_per_device_per_s"]
    counts = sorted(pts)
    parts = [f"{f['replicates_per_point']} replicates per point; means over replicates of the post-warm-up (MSER-5) "
             f"mean latency, 95% t CI over replicates."]
    for n in counts:
        row = []
        for p in ("optimal", "queue-aware", "edge", "local"):
            e = pts[n].get(p)
            if e is None:
                continue
            if "mean_s" not in e:
                row.append(f"{p} not steady")
            else:
                ci = "" if e["ci95_s"] != e["ci95_s"] else f" +- {e['ci95_s']:.2f}"
                row.append(f"{p} {e['mean_s']:.2f}{ci} s (unfinished {e['unfinished']:.1%})")
        parts.append(f"{n} devices ({n * r:.2f} tasks/s): " + ", ".join(row) + ".")
    first = f["first_count_optimal_beaten"]
    q = f["opt_over_qa"]
    if first is None:
        parts.append("At no steady load is snapshot-optimal significantly worse than queue-aware.")
    else:
        parts.append(f"Snapshot-optimal is significantly worse than queue-aware from {first} devices "
                     f"({q[first][0]:.3f}x, CI +-{q[first][1]:.3f}).")
    ns = {p: v for p, v in f["not_steady"].items() if v}
    if ns:
        parts.append("Not steady (overloaded or still rising; no mean reported): " +
                     "; ".join(f"{p} at {', '.join(map(str, v))} devices" for p, v in ns.items()) + ".")
    return " ".join(parts)


def plots(tab: pd.DataFrame, gaps: pd.DataFrame, out: Path, quick: bool) -> list[Path]:
    from simoffload.experiments.plots import steady_plot

    return [
        steady_plot(tab, X, out / "latency_vs_devices.png", "mean latency (s)", "devices sharing the edge and cell (0.01 tasks/s each)",
                    "Latency vs load (2-core edge, shared cell and WAN)", logy=True, quick=quick),
        steady_plot(gaps, X, out / "optimal_gap.png", "latency ratio (paired)", "devices sharing the edge and cell (0.01 tasks/s each)",
                    "Snapshot-optimal relative to queue-aware and to the best other steady policy", quick=quick),
    ]


def main(argv: list[str] | None = None) -> int:
    from simoffload.config import load_scenario

    args, out, outcome, summary = run_study(__doc__, SCENARIO, NAME, argv)
    tab, gaps, f = analyse(summary, load_scenario(SCENARIO).devices.arrivals.poisson.rate)
    tab.to_csv(out / "numbers.csv", index=False)
    gaps.to_csv(out / "optimal_gap.csv", index=False)
    return finish_study(out, f, args, outcome, findings_text, plots(tab, gaps, out, args.quick))


if __name__ == "__main__":
    sys.exit(main())
