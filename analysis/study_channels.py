"""Channel-fluctuation study: how policies degrade on real and stochastic links, and what stale estimates cost.

Runs the sweep of ``scenarios/study_channels.yaml`` (real wireless traces: LTE,
3G HSDPA, 5G; Gauss-Markov links of growing variance at a 1 MB/s mean; a
constant 1 MB/s reference; scaled FCC broadband on the WAN), each with the
oracle estimator (the true current bandwidth) and the ``last``, ``ewma`` and
``harmonic`` estimators, and writes to ``analysis/results/study_channels/``:

* ``latency_by_link.png`` - mean latency per link and policy (oracle), 95 % CI over replicates;
* ``latency_vs_gm_std.png`` - mean latency vs Gauss-Markov std per policy (oracle);
* ``stale_penalty.png`` - latency with each estimator relative to the oracle, per link (optimal and greedy);
* ``numbers.csv`` (mean latency, CI, per link x estimator x policy) and ``findings.json``.

Usage: ``python analysis/study_channels.py [--quick] [--jobs N] [--scheduler ADDR] [--out DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _study import finish_study, run_study  # noqa: E402

SCENARIO = ROOT / "scenarios" / "study_channels.yaml"
NAME = "study_channels"


def _paired(s: pd.DataFrame, num: pd.Series, den: pd.Series) -> tuple[float, float, int]:
    """Mean and 95 % t half-width over replicates of the per-replicate ratio num / den (same seed: paired)."""
    from simoffload.experiments.stats import t_halfwidth

    r = (num / den).dropna()
    return float(r.mean()), t_halfwidth(r.to_numpy(float)), int(len(r))


def analyse(summary: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Per (link, estimator, policy): post-warm-up mean over replicates, 95 % t CI, unfinished share, steadiness."""
    from _study import steady_table

    s = summary.rename(columns={"decision.estimator": "estimator", "name": "link"})
    tab = steady_table(s, ["link", "estimator"])
    tab = tab.rename(columns={"mean": "mean_latency_s", "ci": "ci95_s", "n": "replicates"})
    f: dict = {"replicates": int(tab["replicates"].max())}
    orc = tab[tab["estimator"] == "oracle"].set_index(["link", "policy"])["mean_latency_s"]
    orc_ci = tab[tab["estimator"] == "oracle"].set_index(["link", "policy"])["ci95_s"]
    links = list(dict.fromkeys(tab["link"]))
    pols = list(dict.fromkeys(tab["policy"]))
    f["best_policy_per_link"] = {l: orc.loc[l].idxmin() for l in links
                                 if l in orc.index.get_level_values(0) and orc.loc[l].notna().any()}
    f["oracle_latency_s"] = {l: {p: [round(float(orc.loc[(l, p)]), 3), round(float(orc_ci.loc[(l, p)]), 3)]
                                 for p in pols if (l, p) in orc.index} for l in links}
    f["not_steady"] = [f"{r.policy} on {r.link} ({r.estimator}): {r.why}" for r in tab[~tab["steady"]].itertuples()]
    per = s.pivot_table(index=["link", "estimator", "replicate"], columns="policy", values="ss_mean_latency_s")
    gm = sorted([l for l in links if l.startswith("gm-")], key=lambda l: float(l.split("std")[1]))
    if len(gm) >= 2:
        a = per.xs((gm[0], "oracle"), level=("link", "estimator"))
        b = per.xs((gm[-1], "oracle"), level=("link", "estimator"))
        f["gm_degradation"] = {p: [round(x, 4) for x in _paired(s, b[p], a[p])[:2]] for p in pols}
        f["gm_links"] = [gm[0], gm[-1]]
    pen = {}
    for l in links:
        for e in dict.fromkeys(tab["estimator"]):
            if e == "oracle":
                continue
            for p in ("optimal", "greedy"):
                try:
                    num = per.xs((l, e), level=("link", "estimator"))[p]
                    den = per.xs((l, "oracle"), level=("link", "estimator"))[p]
                except KeyError:
                    continue
                m, ci, _ = _paired(s, num, den)
                pen.setdefault(p, {}).setdefault(l, {})[e] = [round(m, 4), round(ci, 4)]
    f["stale_penalty_ratio"] = pen
    return tab, f


def findings_text(f: dict) -> str:
    """A paragraph of findings computed from the numbers."""
    parts = [f"{f['replicates']} replicates; post-warm-up (MSER-5) means, 95% t CI over replicates; ratios are "
             f"paired per replicate (same workload and bandwidth path)."]
    lat = {l: {p: v[0] for p, v in d.items()} for l, d in f["oracle_latency_s"].items()}
    best = f["best_policy_per_link"]
    if lat:
        wins = pd.Series(best).value_counts()
        parts.append(f"With the oracle estimate, the lowest mean latency comes from {wins.index[0]} on "
                     f"{wins.iloc[0]} of {len(best)} links ({', '.join(f'{l}: {p}' for l, p in best.items())}).")
        if "optimal" in next(iter(lat.values())):
            lo = min(lat, key=lambda l: lat[l]["optimal"])
            hi = max(lat, key=lambda l: lat[l]["optimal"])
            parts.append(f"Optimal's mean latency ranges from {lat[lo]['optimal']:.2f} s ({lo}) to "
                         f"{lat[hi]['optimal']:.2f} s ({hi}).")
    if "gm_degradation" in f:
        d = f["gm_degradation"]
        a, b = f["gm_links"]
        order = sorted(d, key=lambda p: d[p][0])
        parts.append(f"On Gauss-Markov links at a 1 MB/s mean, going from {a} to {b} changes mean latency by a "
                     f"factor of {', '.join(f'{p} {d[p][0]:.3f} +- {d[p][1]:.3f}' for p in order)}; local does not "
                     f"use the link, so its factor is the reference for pure workload noise.")
    pen = f["stale_penalty_ratio"].get("optimal", {})
    if pen:
        flat = [(l, e, r[0]) for l, es in pen.items() for e, r in es.items()]
        worst = max(flat, key=lambda x: x[2])
        meanpen = float(np.mean([r for _, _, r in flat]))
        by_est = {e: float(np.mean([r for _, e2, r in flat if e2 == e])) for e in dict.fromkeys(e for _, e, _ in flat)}
        verdict = ("costs" if meanpen > 1 else "does not cost; it changes")
        parts.append(f"Deciding on a past-sample estimate instead of the true current bandwidth {verdict} optimal "
                     f"{(meanpen - 1) * 100:+.1f}% latency on average over links and estimators "
                     f"({', '.join(f'{e} {(r - 1) * 100:+.1f}%' for e, r in by_est.items())}); the worst case is "
                     f"{worst[1]} on {worst[0]} ({(worst[2] - 1) * 100:+.1f}%). The current rate is not the rate a multi-second "
                     f"transfer will see, so a smoothed past estimate can predict it better than the instantaneous truth.")
        const = [r[0] for l, es in pen.items() if l.startswith("constant") for r in es.values()]
        if const:
            parts.append(f"On the constant link the estimators are exact (ratio {np.mean(const):.3f}), as expected.")
    if f.get("not_steady"):
        parts.append(f"Not steady (flagged, no mean): {'; '.join(f['not_steady'][:6])}.")
    return " ".join(parts)


def plots(tab: pd.DataFrame, out: Path, quick: bool = False) -> list[Path]:
    from simoffload.experiments.plots import _colors, _plt, _save, steady_plot

    plt = _plt()
    paths = []
    orc = tab[tab["estimator"] == "oracle"]
    links = list(dict.fromkeys(orc["link"]))
    pols = list(dict.fromkeys(orc["policy"]))
    col = _colors(pols)
    fig, ax = plt.subplots(figsize=(7.0, 3.0))
    w = 0.8 / len(pols)
    lo = float(np.nanmin(orc["mean_latency_s"])) if orc["mean_latency_s"].notna().any() else 1.0
    for i, p in enumerate(pols):
        t = orc[orc["policy"] == p].set_index("link").reindex(links)
        xs = np.arange(len(links)) + (i - (len(pols) - 1) / 2) * w
        ax.bar(xs, t["mean_latency_s"], w, yerr=t["ci95_s"].fillna(0), capsize=1.5, color=col[p], label=p)
        for xi, st in zip(xs, t["steady"].fillna(False)):
            if not st:  # not steady: no mean, a mark instead of a bar
                ax.text(xi, lo * 0.8, "×", color=col[p], ha="center", va="bottom", fontsize=9, fontweight="bold")
    ax.set_xticks(np.arange(len(links)))
    ax.set_xticklabels(links, rotation=25, ha="right")
    n = int(tab["replicates"].max())
    ax.set_ylabel("mean latency (s)" + (f", 95% CI, {n} replicates" if n > 1 else " (1 replicate)"))
    ax.set_yscale("log")
    ax.set_title("Mean latency per wireless link (oracle bandwidth estimate)" + (" [QUICK RUN]" if quick else ""))
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_ylim(lo * 0.75, float(np.nanmax(orc["mean_latency_s"] + orc["ci95_s"].fillna(0))) * 2.5)
    ax.plot([], [], ls="none", marker="$×$", color="0.3", label="not steady (no mean)")
    ax.legend(ncol=len(pols) + 1, loc="upper left", fontsize=6.5)
    paths.append(_save(fig, out / "latency_by_link.png"))

    gm = orc[orc["link"].str.startswith("gm-")].copy()
    if gm["link"].nunique() >= 2:
        gm["std_MBps"] = gm["link"].str.split("std").str[1].astype(float)
        g = gm.rename(columns={"mean_latency_s": "mean", "ci95_s": "ci", "replicates": "n"})
        paths.append(steady_plot(g, "std_MBps", out / "latency_vs_gm_std.png", "mean latency (s)",
                                 "std of the Gauss-Markov wireless bandwidth (MB/s), mean 1 MB/s",
                                 "Latency vs channel variance (oracle estimate)", logy=True, quick=quick))

    ests = [e for e in dict.fromkeys(tab["estimator"]) if e != "oracle"]
    if ests:
        fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.0), sharey=True)
        ecol = _colors(ests)
        for ax, p in zip(axes, ("optimal", "greedy")):
            base = orc[orc["policy"] == p].set_index("link")["mean_latency_s"]
            w = 0.8 / len(ests)
            for i, e in enumerate(ests):
                t = tab[(tab["policy"] == p) & (tab["estimator"] == e)].set_index("link").reindex(links)
                ax.bar(np.arange(len(links)) + (i - (len(ests) - 1) / 2) * w,
                       t["mean_latency_s"] / base.reindex(links), w, color=ecol[e], label=e)
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_xticks(np.arange(len(links)))
            ax.set_xticklabels(links, rotation=30, ha="right", fontsize=7)
            ax.set_title(f"{p}: latency with estimator / with oracle" + (" [QUICK]" if quick else ""))
        axes[0].set_ylabel("latency ratio (estimator / oracle)")
        axes[0].legend(fontsize=7)
        paths.append(_save(fig, out / "stale_penalty.png"))
    return paths


def main(argv: list[str] | None = None) -> int:
    args, out, outcome, summary = run_study(__doc__, SCENARIO, NAME, argv)
    tab, f = analyse(summary)
    tab.to_csv(out / "numbers.csv", index=False)
    return finish_study(out, f, args, outcome, findings_text, plots(tab, out, args.quick))


if __name__ == "__main__":
    sys.exit(main())
