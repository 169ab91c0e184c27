"""Decision-time study: does a faster decider give lower end-to-end latency (the paper's thesis), and where?

Runs the sweep of ``scenarios/study_decision_time.yaml``: devices share one edge
core on which every decision runs (ahead of queued subtasks); tasks shrink from
the paper's size (seconds) to 1e-5 of it (tens of microseconds) while each
device's arrival rate grows in proportion, so the subtasks' load stays the same
and only the decision time's share grows; 8 and 32 devices; decision time
``calibrated`` (``scenarios/costs/study_decision_time.yaml``, measured on this
machine by ``simoffload calibrate``) and ``measured`` (the wall clock of each
call, on a shared machine). Every policy decides through
``policies.scaled:SizeScaled``, so it makes the decisions it makes at the
paper's sizes: its placement quality is the same at every size. Writes to
``analysis/results/study_decision_time/``:

* ``latency_vs_size_<mode>.png`` (+ .pdf, .svg) - post-warm-up mean latency divided by the size scale
  (seconds per paper-sized task) per policy, vs the size scale, 32 devices; 95 % CI over replicates;
  points that are not steady (the edge core saturated by decisions) flagged;
* ``kd_over_large.png`` - paired per-replicate ratio KD-DIL / Large DIL mean latency vs the size scale;
* ``edge_load.png`` - offered edge-core load (decisions + edge subtasks) per policy vs the size scale;
* ``numbers.csv``, ``ratios.csv`` and ``findings.json`` (crossover points).

Usage: ``python analysis/study_decision_time.py [--quick] [--jobs N] [--out DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _study import finish_study, run_study, steady_table  # noqa: E402

SCENARIO = ROOT / "scenarios" / "study_decision_time.yaml"
NAME = "study_decision_time"
S = "size_scale"
N = "devices.count"
MODE = "decision.time"


def analyse(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    from simoffload.experiments.stats import point_table

    s = summary.copy()
    s[S] = s["policies.0.params.size_scale"].astype(float)
    # latency in seconds per paper-sized task: comparable across sizes
    s["norm_latency_s"] = s["ss_mean_latency_s"] / s[S]
    tab = steady_table(s.assign(ss_mean_latency_s=s["norm_latency_s"]), [S, N, MODE])
    tab["mean_latency_s"] = tab["mean"] * tab[S]
    rho = s.groupby(["policy", S, N, MODE])["rho_edge_cpu"].mean().rename("rho_edge_cpu").reset_index()
    tab = tab.merge(rho, on=["policy", S, N, MODE])
    # paired ratios per replicate (the same workload for every policy of a run)
    key = [S, N, MODE, "replicate"]
    piv = s.pivot_table(index=key, columns="policy", values="ss_mean_latency_s")
    ok = s.pivot_table(index=key, columns="policy", values="steady", aggfunc="all")
    rows = []
    for idx, row in piv.iterrows():
        st = ok.loc[idx]
        for num, den in (("kd-dil", "large-dil"), ("optimal", "exhaustive"), ("kd-dil", "optimal"),
                         ("large-dil", "optimal"), ("dqn", "optimal"), ("greedy", "optimal")):
            if num in row and den in row:
                both = bool(st[num] and st[den])
                rows.append({S: idx[0], N: idx[1], MODE: idx[2], "replicate": idx[3], "policy": f"{num} / {den}",
                             "ratio": row[num] / row[den], "steady": both, "unfinished_frac": 0.0, "rho_max": 0.0,
                             "why": "" if both else f"{num if not st[num] else den} not steady"})
    ratios = point_table(pd.DataFrame(rows), [S, N, MODE], metric="ratio")
    f: dict = {"replicates": int(tab["n"].max()), "sizes": sorted(float(x) for x in tab[S].unique())}
    f["crossovers"] = {}
    for (n, mode), g in ratios.groupby([N, MODE]):
        c: dict = {}
        kd = g[g["policy"] == "kd-dil / large-dil"].sort_values(S, ascending=False)
        c["kd_over_large"] = {f"{r[S]:g}": ([round(r["mean"], 4), round(r["ci"], 4)] if r["steady"] else "not steady")
                              for _, r in kd.iterrows()}
        win = kd[kd["steady"] & kd["ci"].notna() & (kd["mean"] + kd["ci"] < 1.0)]
        lose = kd[kd["steady"] & kd["ci"].notna() & (kd["mean"] - kd["ci"] > 1.0)]
        c["kd_beats_large_at_sizes"] = [float(x) for x in win[S]]
        c["kd_loses_at_sizes"] = [float(x) for x in lose[S]]
        c["largest_size_kd_wins"] = float(win[S].max()) if len(win) else None
        opt = tab[(tab["policy"] == "optimal") & (tab[N] == n) & (tab[MODE] == mode)].set_index(S)
        if c["largest_size_kd_wins"] is not None and c["largest_size_kd_wins"] in opt.index:
            c["optimal_latency_there_s"] = float(opt.loc[c["largest_size_kd_wins"], "mean_latency_s"])
        ex = tab[(tab["policy"] == "exhaustive") & (tab[N] == n) & (tab[MODE] == mode)].sort_values(S, ascending=False)
        bad = ex[~ex["steady"]]
        c["exhaustive_not_steady_at_sizes"] = [float(x) for x in bad[S]]
        c["largest_size_exhaustive_saturates"] = float(bad[S].max()) if len(bad) else None
        c["exhaustive_edge_load"] = {f"{r[S]:g}": round(float(r["rho_edge_cpu"]), 3) for _, r in ex.iterrows()}
        oe = g[g["policy"] == "optimal / exhaustive"]
        c["optimal_over_exhaustive"] = {f"{r[S]:g}": ([round(r["mean"], 4), round(r["ci"], 4)] if r["steady"]
                                                      else "not steady") for _, r in oe.iterrows()}
        f["crossovers"][f"{int(n)} devices, {mode}"] = c
    big = tab[tab[S] == tab[S].max()]
    f["paper_size_latency_s"] = {f"{int(r[N])} devices, {r[MODE]}, {r['policy']}":
                                 ([round(r["mean"], 3), round(r["ci"], 3)] if r["steady"] else "not steady")
                                 for _, r in big.iterrows()}
    return tab, ratios, f


def findings_text(f: dict) -> str:
    parts = [f"{f['replicates']} replicates per point; post-warm-up (MSER-5) means, 95% t CI over replicates; "
             f"ratios paired per replicate. Task size scales {', '.join(f'{x:g}' for x in sorted(f['sizes'], reverse=True))} "
             f"of the paper's (latency per paper-sized task is the same at every size unless deciding matters)."]
    for where, c in f["crossovers"].items():
        s = [f"{where}:"]
        kd = c["kd_over_large"]
        first = next(iter(kd.items()))
        if isinstance(first[1], list):
            s.append(f"KD-DIL/Large DIL latency {first[1][0]:.3f} (+-{first[1][1]:.3f}) at paper size;")
        if c["largest_size_kd_wins"] is not None:
            r = kd[f"{c['largest_size_kd_wins']:g}"]
            lat = c.get("optimal_latency_there_s")
            s.append(f"KD-DIL beats Large DIL end to end from size {c['largest_size_kd_wins']:g} down "
                     f"({r[0]:.3f} +- {r[1]:.3f}" + (f"; optimal's mean latency there {lat * 1e3:.3g} ms" if lat else "")
                     + ");")
        else:
            s.append("KD-DIL never beats Large DIL significantly;")
        if c["largest_size_exhaustive_saturates"] is not None:
            x = c["largest_size_exhaustive_saturates"]
            s.append(f"exhaustive search saturates the edge core from size {x:g} down "
                     f"(offered load {c['exhaustive_edge_load'][f'{x:g}']:.2f}).")
        else:
            s.append("exhaustive search never saturates the edge core.")
        parts.append(" ".join(s))
    return " ".join(parts)


def plots(tab: pd.DataFrame, ratios: pd.DataFrame, out: Path, quick: bool) -> list[Path]:
    from simoffload.experiments.plots import steady_plot

    paths = []
    nmax = tab[N].max()
    xlabel = "task size / paper's (cycles, bytes x size; arrivals / size)"
    for mode in dict.fromkeys(tab[MODE]):
        t = tab[(tab[N] == nmax) & (tab[MODE] == mode)]
        paths.append(steady_plot(t, S, out / f"latency_vs_size_{mode}.png",
                                 "latency / size (s per paper task)", xlabel,
                                 f"End-to-end latency, {int(nmax)} devices sharing one edge core, decision time {mode}",
                                 logy=True, logx=True, quick=quick))
    r = ratios[ratios["policy"] == "kd-dil / large-dil"].copy()
    r["policy"] = r[N].astype(int).astype(str) + " devices, " + r[MODE]
    paths.append(steady_plot(r, S, out / "kd_over_large.png", "KD-DIL / Large DIL latency (paired)", xlabel,
                             "KD-DIL vs Large DIL end to end (below 1: the faster student wins)",
                             logx=True, quick=quick))
    e = tab[(tab[N] == nmax) & (tab[MODE] == "calibrated")].copy()
    e["mean"], e["ci"], e["steady"] = e["rho_edge_cpu"], np.nan, True
    paths.append(steady_plot(e, S, out / "edge_load.png", "offered edge-core load (decisions + subtasks)", xlabel,
                             f"Edge core offered load, {int(nmax)} devices, calibrated decision time (1 = saturated)",
                             logy=True, logx=True, quick=quick, ci_note=False))
    return paths


def main(argv: list[str] | None = None) -> int:
    args, out, outcome, summary = run_study(__doc__, SCENARIO, NAME, argv, ci_target=0.03, max_replicates=6)
    tab, ratios, f = analyse(summary)
    tab.to_csv(out / "numbers.csv", index=False)
    ratios.to_csv(out / "ratios.csv", index=False)
    return finish_study(out, f, args, outcome, findings_text, plots(tab, ratios, out, args.quick))


if __name__ == "__main__":
    sys.exit(main())
