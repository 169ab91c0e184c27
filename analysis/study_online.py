"""Model-selection study: variant-aware offloading vs placement-only offloading (arXiv 2202.10541's claim).

Runs the sweep of ``scenarios/study_online.yaml`` (MobileNetV1 family, users sharing a measured LTE
cell and a 4-core edge, swept over two LTE traces, 5/20/40 users and three accuracy requirements,
replicates) and compares, per point and replicate (paired: the same workload and bandwidth):

* ``placement-only`` - the exact snapshot optimum placement of the most accurate variant (the paper's
  "state of the art": offloading without model selection), and ``qa-placement-only`` (the same with the
  expected edge queueing delay);
* ``optimal`` / ``queue-aware`` - the exact best feasible (variant x placement) of the snapshot;
* the static policies and greedy (cheapest variant meeting the requirement);
* the online learners, labelled ``online-*`` in the scenario (any policy whose label starts with
  ``online``): ``online-tabular-q`` (tabular-q) and ``online-dqn`` (over all 7 variants), which start
  empty at every run and learn from the outcomes of that run only.

Statistics are over tasks arriving after a warm-up (the first 10 % of the horizon). Per replicate:
mean latency of completed tasks, unfinished share, mean accuracy, share below the requirement; then
the paired ratio of a policy's mean latency to placement-only's (response-time reduction = 1 - ratio)
and its accuracy loss (placement-only's mean accuracy minus its own, in points and relative), with
95 % Student-t intervals over replicates. A (point, policy) is flagged overloaded when the policy (or the baseline) leaves
more than 1 % of the tasks unfinished; flagged pairs are left out of the averages.

Writes to ``analysis/results/study_online/``: ``reduction_vs_requirement.png``,
``accuracy_loss_vs_requirement.png``, ``latency_vs_users.png``, ``numbers.csv``, ``paired.csv``,
``findings.json``.

Usage: ``python analysis/study_online.py [--quick] [--jobs N] [--scheduler ADDR] [--out DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _study import finish_study, run_study  # noqa: E402

SCENARIO = ROOT / "scenarios" / "study_online.yaml"
NAME = "study_online"
BASE = "placement-only"
WARMUP = 0.10
OVERLOAD_UNFINISHED = 0.01
KEYS = ["name", "devices.count", "task.accuracy_req"]


def _ci(x: np.ndarray) -> tuple[float, float, int]:
    from scipy import stats

    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return np.nan, np.nan, 0
    if n == 1:
        return float(x[0]), np.nan, 1
    return float(x.mean()), float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n)), n


def per_replicate(tasks: pd.DataFrame, horizon_s: float) -> pd.DataFrame:
    """One row per (point, replicate, policy) over tasks arriving after the warm-up."""
    t = tasks[tasks["arrival_s"] >= WARMUP * horizon_s]
    rows = []
    for key, g in t.groupby(KEYS + ["replicate", "policy"], sort=False):
        done = g[g["status"].isin(["done", "missed"])]
        rows.append(dict(zip(KEYS + ["replicate", "policy"], key),
                         tasks=len(g), unfinished=float((g["status"] == "unfinished").mean()),
                         latency_s=float(done["latency_s"].mean()) if len(done) else np.nan,
                         accuracy=float(done["accuracy"].mean()) if len(done) else np.nan,
                         below_req=float((done["accuracy"] < done["accuracy_req"]).mean()) if len(done) else np.nan))
    return pd.DataFrame(rows)


def paired(rep: pd.DataFrame) -> pd.DataFrame:
    """Per (point, replicate, policy): latency ratio to placement-only and accuracy loss in points."""
    base = rep[rep["policy"] == BASE][KEYS + ["replicate", "latency_s", "accuracy"]]
    out = rep.merge(base, on=KEYS + ["replicate"], suffixes=("", "_base"), how="left")
    out["ratio"] = out["latency_s"] / out["latency_s_base"]
    out["acc_loss_pts"] = 100 * (out["accuracy_base"] - out["accuracy"])
    out["acc_loss_rel"] = 100 * (out["accuracy_base"] - out["accuracy"]) / out["accuracy_base"]
    return out


def summarise(pr: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for key, g in pr.groupby(KEYS + ["policy"], sort=False):
        r = dict(zip(KEYS + ["policy"], key))
        for col in ("latency_s", "accuracy", "below_req", "unfinished", "ratio", "acc_loss_pts", "acc_loss_rel"):
            r[col], r[col + "_ci"], r["n"] = _ci(g[col].to_numpy())
        r["reduction_pct"] = 100 * (1 - r["ratio"])
        r["reduction_pct_ci"] = 100 * r["ratio_ci"] if np.isfinite(r["ratio_ci"]) else np.nan
        rows.append(r)
    tab = pd.DataFrame(rows)
    # a (point, policy) is overloaded when that policy or the baseline leaves > 1 % of the tasks unfinished
    base = tab[tab["policy"] == BASE].set_index(KEYS)["unfinished"]
    base_unf = tab.set_index(KEYS).index.map(base).to_numpy(dtype=float)
    tab["overloaded"] = (tab["unfinished"].to_numpy() > OVERLOAD_UNFINISHED) | (base_unf > OVERLOAD_UNFINISHED)
    return tab


def analyse(tab: pd.DataFrame) -> dict:
    f: dict = {"warmup_fraction": WARMUP, "baseline": BASE}
    agents = sorted(p for p in tab["policy"].unique() if p.startswith("online"))
    f["online_agents"] = agents
    ok = tab[~tab["overloaded"]]
    f["overloaded"] = [dict(zip(KEYS + ["policy"], [*k, p])) for k, g in tab.groupby(KEYS)
                       for p in g.loc[g["overloaded"], "policy"]]
    compare = ["optimal", "queue-aware", "greedy", "local"] + agents
    f["by_point"] = {}
    for key, g in tab.groupby(KEYS):
        label = f"{key[0]}, {int(key[1])} users, req {key[2]:.2f}"
        gi = g.set_index("policy")
        f["by_point"][label] = {p: {"reduction_pct": round(float(gi.loc[p, "reduction_pct"]), 1),
                                    "ci": round(float(gi.loc[p, "reduction_pct_ci"]), 1)
                                    if np.isfinite(gi.loc[p, "reduction_pct_ci"]) else None,
                                    "acc_loss_pts": round(float(gi.loc[p, "acc_loss_pts"]), 2),
                                    "latency_s": round(float(gi.loc[p, "latency_s"]), 4)}
                                for p in compare if p in gi.index}
    # averaged over the non-overloaded points, per requirement (each point weighs the same)
    f["by_requirement"] = {}
    for req, g in ok.groupby("task.accuracy_req"):
        f["by_requirement"][f"{req:.2f}"] = {
            p: {"reduction_pct": round(float(h["reduction_pct"].mean()), 1),
                "acc_loss_pts": round(float(h["acc_loss_pts"].mean()), 2),
                "acc_loss_rel_pct": round(float(h["acc_loss_rel"].mean()), 2),
                "below_req": round(float(h["below_req"].mean()), 4)}
            for p, h in g.groupby("policy") if p in compare}
    return f


def findings_text(f: dict) -> str:
    parts = []
    for req, d in f["by_requirement"].items():
        o = d.get("optimal")
        if o is None:
            continue
        parts.append(f"requirement {float(req) * 100:.0f} %: the variant-aware exact optimum has "
                     f"{o['reduction_pct']:.1f} % lower mean response time than placement-only offloading with "
                     f"{o['acc_loss_pts']:.2f} accuracy points lost ({o['acc_loss_rel_pct']:.2f} % relative)")
    s = ("Averaged over the non-overloaded points (paper: 35 % lower response time, < 0.9 % accuracy loss): "
         + "; ".join(parts) + ".")
    if f["online_agents"]:
        s += f" Online agents compared: {', '.join(f['online_agents'])} (see numbers.csv)."
    else:
        s += " No online learning agent was registered when this ran, so none is compared."
    if f["overloaded"]:
        pols = sorted({o["policy"] for o in f["overloaded"]})
        s += (f" {len(f['overloaded'])} (point, policy) pairs flagged overloaded (> 1 % unfinished; policies: "
              f"{', '.join(pols)}) are left out of the averages.")
    return s


def plots(tab: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    pols = [p for p in ["optimal", "queue-aware", "greedy", "local"] if p in set(tab["policy"])]
    pols += sorted(p for p in tab["policy"].unique() if p.startswith("online"))
    nets = sorted(tab["name"].unique())
    for metric, ylabel, fname, title in (
            ("reduction_pct", "response-time reduction vs placement-only (%), 95% CI", "reduction_vs_requirement.png",
             "Lower mean response time than placement-only offloading"),
            ("acc_loss_pts", "accuracy loss vs placement-only (points), 95% CI", "accuracy_loss_vs_requirement.png",
             "Accuracy given up for it")):
        fig, axes = plt.subplots(1, len(nets), figsize=(max(8.0, 5.5 * len(nets)), 4.2), sharey=True, squeeze=False)
        for ax, net in zip(axes[0], nets):
            sub = tab[(tab["name"] == net) & ~tab["overloaded"]]  # as in the averages: flagged pairs left out
            users = sorted(sub["devices.count"].unique())
            for i, p in enumerate(pols):
                for j, u in enumerate(users):
                    s = sub[(sub["policy"] == p) & (sub["devices.count"] == u)].sort_values("task.accuracy_req")
                    ci = s[metric + "_ci"] if metric + "_ci" in s else s["reduction_pct_ci"]
                    ax.errorbar(100 * s["task.accuracy_req"] + 0.15 * (j - 1), s[metric], yerr=ci.fillna(0),
                                color=f"C{i}", marker="osx"[j % 3], linestyle="-" if j == 0 else "--" if j == 1 else ":",
                                capsize=3, label=f"{p}, {u} users")
            ax.axhline(35 if metric == "reduction_pct" else 0.9, color="grey", lw=0.8, ls="-.")
            ax.set_title(net)
            ax.set_xlabel("accuracy requirement (%)")
        axes[0][0].set_ylabel(ylabel)
        axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.suptitle(title + " (grey: the paper's 35 % / 0.9 %;\n(point, policy) pairs with > 1 % unfinished "
                     "tasks omitted, see numbers.csv)", fontsize=9)
        fig.tight_layout()
        p = out / fname
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    fig, axes = plt.subplots(1, len(nets), figsize=(5.5 * len(nets), 4.2), sharey=True, squeeze=False)
    req = sorted(tab["task.accuracy_req"].unique())
    mid = req[len(req) // 2]
    for ax, net in zip(axes[0], nets):
        sub = tab[(tab["name"] == net) & (tab["task.accuracy_req"] == mid)]
        for i, p in enumerate(sorted(sub["policy"].unique())):
            s = sub[sub["policy"] == p].sort_values("devices.count")
            ax.errorbar(s["devices.count"], s["latency_s"], yerr=s["latency_s_ci"].fillna(0), marker="o", capsize=3,
                        color=f"C{i % 10}", linestyle="-" if i < 10 else "--", label=p)
            bad = s[s["overloaded"]]
            for _, r in bad.iterrows():  # the mean covers finished tasks only: say how many were not
                ax.annotate(f"{100 * r['unfinished']:.0f}%", (r["devices.count"], r["latency_s"]), fontsize=6,
                            color=f"C{i % 10}", xytext=(4, 2), textcoords="offset points")
        over = sub[sub["overloaded"]]
        ax.plot(over["devices.count"], over["latency_s"], "o", mfc="none", mec="red", ms=11, mew=1.2,
                label="overloaded (> 1 % unfinished; % = unfinished)" if ax is axes[0][-1] else None)
        ax.set_yscale("log")
        ax.set_title(f"{net}, requirement {mid * 100:.0f} %")
        ax.set_xlabel("users sharing the cell and the edge")
    axes[0][0].set_ylabel("mean response time (s), 95% CI")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    p = out / "latency_vs_users.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> int:
    from simoffload.config import load_scenario
    from simoffload.experiments.sweep import load_sweep

    args, out, outcome, _ = run_study(__doc__, SCENARIO, NAME, argv)
    sc = load_scenario(SCENARIO)
    from simoffload.units import parse_quantity

    horizon = parse_quantity(sc.sweep["quick"]["set"]["horizon"], "s") if args.quick else sc.horizon
    tasks = load_sweep(out / ("sweep-quick" if args.quick else "sweep")).tasks
    rep = per_replicate(tasks, horizon)
    pr = paired(rep)
    tab = summarise(pr)
    pr.to_csv(out / "paired.csv", index=False)
    tab.to_csv(out / "numbers.csv", index=False)
    f = analyse(tab)
    return finish_study(out, f, args, outcome, findings_text, plots(tab, out))


if __name__ == "__main__":
    sys.exit(main())
