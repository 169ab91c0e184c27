"""``simoffload reproduce paper``: the paper's Fig. 5, Fig. 6 and Table 1 from scratch.

Writes into ``--out``:

* ``fig5.png``/``fig5.csv`` - Large DIL, Greedy, DQN, Local, Edge, Cloud, Random on the
  paper-5.1 test set, latency normalised to the optimum;
* ``fig6.png``/``fig6.csv`` - KD-DIL, Baseline DIL, DQN trained on the 1K paper-5.2 set,
  Greedy, on the same test set;
* ``table1.csv`` - mean time per single decision, normalised to Greedy;
* ``fig5_decisions.parquet``/``fig6_decisions.parquet`` - the test set's requirement
  columns (dataset names) and one ``place_<policy>`` column per policy (a string of
  digits 0/1/2, subtask 0 first), including ``place_optimal``;
* ``summary.json`` and ``report.md``.

Normalised latency is reported three ways, since the paper does not say which
it shows: the ratio of mean latencies mean(L)/mean(L*), the mean of
per-sample ratios mean(L/L*), and the median of per-sample ratios (plus the
90th/99th percentiles). Every model is trained here (nothing is read from the
model cache), so the run is a reproduction from scratch.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..model.cost import coefficients, latency
from ..model.solvers import chain_dp
from ..model.task import Instances, RequirementDistribution, TaskGraph
from ..policy import Observation, Policy
from ..registry import make_policy
from ..rng import rng_for
from . import cache
from .nets import soften

log = logging.getLogger(__name__)

PAPER = {
    "fig5_large_dil": 1.095,
    "table1": {"kd-dil": 0.17, "large-dil": 0.51, "dqn": 119.72, "greedy": 1.00, "exhaustive": 122.54},
}
FILES = ("fig5.png", "fig5.csv", "fig6.png", "fig6.csv", "table1.csv", "fig5_decisions.parquet",
         "fig6_decisions.parquet", "summary.json", "report.md")


@dataclass
class Settings:
    """Sizes of one reproduction run (``full`` = the paper's, ``quick`` = a smoke run)."""

    n: int = 6
    test_samples: int = 10_000
    teacher_samples: int = 100_000
    teacher_epochs: int = 30
    small_samples: int = 1000
    small_epochs: int = 400
    dqn_samples: int = 100_000
    dqn_timesteps: int = 20_000
    dqn_small_timesteps: int = 20_000
    kd_seeds: int = 5
    timing_decisions: int = 100_000
    temperature: float = 5.0

    @classmethod
    def quick(cls) -> "Settings":
        return cls(test_samples=2000, teacher_samples=5000, teacher_epochs=8, small_samples=1000, small_epochs=60,
                   dqn_samples=2000, dqn_timesteps=600, dqn_small_timesteps=600, kd_seeds=2, timing_decisions=300)


# ----------------------------------------------------------------------------- metrics


def latency_metrics(L: np.ndarray, Lopt: np.ndarray, P: np.ndarray | None = None, Popt: np.ndarray | None = None) -> dict:
    """Normalised-latency statistics of latencies ``L`` against the optimum ``Lopt``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(Lopt > 0, L / np.where(Lopt > 0, Lopt, 1.0), np.where(L <= Lopt, 1.0, np.inf))
    out = {
        "ratio_of_means": float(L.mean() / Lopt.mean()),
        "mean_ratio": float(r.mean()),
        "median_ratio": float(np.median(r)),
        "p90_ratio": float(np.quantile(r, 0.9)),
        "p99_ratio": float(np.quantile(r, 0.99)),
        "share_optimal": float(np.mean(r <= 1.0 + 1e-9)),
        "mean_latency_s": float(L.mean()),
        "median_latency_s": float(np.median(L)),
    }
    if P is not None and Popt is not None:
        out["subtask_accuracy"] = float((P == Popt).mean())
    return out


def placement_strings(P: np.ndarray) -> list[str]:
    return ["".join(map(str, row)) for row in P.tolist()]


def test_frame(inst: Instances, places: dict[str, np.ndarray]):
    import pandas as pd

    g = inst.graph
    cols: dict[str, Any] = {}
    for i in range(g.n):
        cols[f"cycles_{i}"] = inst.cycles[:, i]
    for k in range(g.m):
        cols[f"bytes_{k}"] = inst.data[:, k]
    cols.update(p1_hz=inst.p1, p2_hz=inst.p2, b1_Bps=inst.b1, b2_Bps=inst.b2)
    for name, P in places.items():
        cols[f"place_{name}"] = placement_strings(P)
    return pd.DataFrame(cols)


# ----------------------------------------------------------------------------- timing


def observations(inst: Instances, count: int) -> list[Observation]:
    """``count`` single-decision observations cycling over the instances."""
    out = []
    for i in range(count):
        j = i % len(inst)
        out.append(Observation(inst.graph, inst.cycles[j].copy(), inst.data[j].copy(), float(inst.p1[j]),
                               float(inst.p2[j]), float(inst.b1[j]), float(inst.b2[j])))
    return out


def time_single_decisions(policies: dict[str, Policy], obs: list[Observation], block: int = 1000,
                          progress: bool = True) -> dict[str, float]:
    """Mean seconds per ``decide`` call for each policy over the same observations.

    Policies are timed in interleaved blocks of ``block`` decisions, so load
    from other processes on a shared machine hits them all alike.
    """
    from .._progress import bar

    total = {k: 0.0 for k in policies}
    for p in policies.values():  # warm up (lazy imports, caches)
        for o in obs[:20]:
            p.decide(o)
    for lo in bar(range(0, len(obs), block), enabled=progress, desc="timing", leave=False):
        chunk = obs[lo:lo + block]
        for name, p in policies.items():
            dec = p.decide
            t0 = time.perf_counter()
            for o in chunk:
                dec(o)
            total[name] += time.perf_counter() - t0
    return {k: v / len(obs) for k, v in total.items()}


def time_backends(pol: Any, obs: list[Observation], count: int = 2000) -> dict[str, float]:
    """Seconds per single decision of a DIL network from an observation: numpy (used) vs torch.inference_mode.

    The torch variant gets the precomputed features (its timing excludes computing them), so the
    comparison favours torch.
    """
    import torch

    from .nets import build_mlp, features_one, raw_log_one

    net = build_mlp(pol.sizes_)
    net.load_state_dict(pol.state_dict_)
    net.eval()
    mean = pol.scaler_mean_.astype(np.float32)
    scale = pol.scaler_scale_.astype(np.float32)
    xs = [features_one(o.cycles, o.data, o.p1_hz, o.p2_hz, o.b1_Bps, o.b2_Bps) for o in obs[:count]]
    threads = torch.get_num_threads()
    res = {}
    try:
        for label, nthreads in (("torch_inference_mode_s", threads), ("torch_inference_mode_1thread_s", 1)):
            torch.set_num_threads(nthreads)
            with torch.inference_mode():
                for x in xs[:20]:
                    net(torch.from_numpy(((x - mean) / scale).astype(np.float32))[None])
                t0 = time.perf_counter()
                for x in xs:
                    net(torch.from_numpy(((x - mean) / scale).astype(np.float32))[None]).view(-1, 3).argmax(1).numpy()
                res[label] = (time.perf_counter() - t0) / len(xs)
    finally:
        torch.set_num_threads(threads)
    f = pol.np_net_
    t0 = time.perf_counter()
    for o in obs[:count]:
        f(raw_log_one(o.cycles, o.data, o.p1_hz, o.p2_hz, o.b1_Bps, o.b2_Bps)).reshape(-1, 3).argmax(1)
    res["numpy_s"] = (time.perf_counter() - t0) / len(xs)
    return res


# ----------------------------------------------------------------------------- plots


def _bar_plot(path: Path, rows: list[dict], title: str, paper_note: str, errors: dict | None = None) -> None:
    """Two panels (ratio of means, mean ratio) with median ticks; ``errors[policy][metric]`` draws +-1 std bars.

    Wide ranges are bars on a log axis; narrow ones (all within 5x of the optimum) are points on a
    linear axis starting near the data, so gaps of a few percent (KD-DIL vs Baseline DIL) show.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["policy"] for r in rows]
    x = np.arange(len(rows))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in ((axes[0], "ratio_of_means", "ratio of mean latencies  mean(L) / mean(L*)"),
                           (axes[1], "mean_ratio", "mean per-sample ratio  mean(L / L*)")):
        vals = [r[key] for r in rows]
        finite = [v for v in vals if math.isfinite(v)] or [1.0]
        color = "tab:blue" if key == "ratio_of_means" else "tab:orange"
        if max(finite) > 5:
            ax.bar(x, vals, color=color)
        else:  # points on an axis that starts near the data (bars would need a zero baseline)
            ax.plot(x, vals, "o", ms=7, color=color, zorder=4)
        if errors:
            idx = [i for i, r in enumerate(rows) if r["policy"] in errors]
            ax.errorbar(x[idx], [vals[i] for i in idx], yerr=[errors[rows[i]["policy"]][key] for i in idx],
                        fmt="none", ecolor="k", capsize=5, lw=1)
        ax.scatter(x, [r["median_ratio"] for r in rows], marker="_", s=300, color="k", zorder=3,
                   label="median per-sample ratio")
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_ylabel(f"{label}\n(optimum = 1.0)")
        if max(finite) > 5:
            ax.set_yscale("log")
            ax.set_ylim(top=max(finite) * 4)  # room for the legend and labels
        else:
            # start near the data (every ratio is >= 1, the optimum), so gaps of a few percent are visible
            near = finite + [r["median_ratio"] for r in rows if math.isfinite(r["median_ratio"])]
            lo, hi = min(near), max(finite)
            ax.set_ylim(max(0.0, lo - 0.15 * (hi - lo + 0.02)), hi + 0.3 * (hi - lo + 0.02))
        for xi, v in zip(x, vals):
            ax.annotate(f"{v:.4g}", (xi, v), xytext=(0, 5), textcoords="offset points", ha="center", va="bottom",
                        fontsize=8)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{title}\n{paper_note}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    fig.savefig(path.with_suffix(".pdf"), metadata={"CreationDate": None})
    fig.savefig(path.with_suffix(".svg"), metadata={"Date": None})
    plt.close(fig)


# ----------------------------------------------------------------------------- the run


def reproduce_paper(out: str | Path, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Run the reproduction and write every file of :data:`FILES` into ``out``. Returns the summary.

    Everything is written into a hidden sibling directory that replaces ``out``
    as a whole when complete (:class:`~simoffload.sim.results.StagedDirectory`),
    so an interrupted run (Ctrl-C, SIGTERM through the CLI) leaves ``out`` as it
    was and no work directory behind.
    """
    from ..sim.results import StagedDirectory

    stage = StagedDirectory(out, what="--out", marker="report.md")
    try:
        summary = _reproduce_into(stage.path, quick, seed, progress)
        stage.commit()
    finally:
        stage.discard()
    return summary


def _reproduce_into(out: Path, quick: bool, seed: int, progress: bool) -> dict:
    import pandas as pd

    t_start = time.perf_counter()
    st = Settings.quick() if quick else Settings()
    g = TaskGraph.chain(st.n)
    timings: dict[str, float] = {}

    def tick(name: str, t0: float) -> None:
        timings[name] = time.perf_counter() - t0
        log.info("%s: %.1f s", name, timings[name])

    # test set and optimum ---------------------------------------------------------------
    t0 = time.perf_counter()
    test = RequirementDistribution.from_spec("paper-5.1").sample(g, st.test_samples, rng_for(seed, "reproduce/test/paper-5.1"))
    Popt, Lopt = chain_dp(coefficients(test), test.data)
    Lopt_eval = latency(test, Popt)
    P_exh = make_policy("exhaustive").decide_batch(test)
    L_exh = latency(test, P_exh)
    dp_vs_exhaustive = float(np.max(np.abs(L_exh - Lopt_eval) / np.maximum(Lopt_eval, 1e-300)))
    tick("test_set_and_optimum", t0)

    # models -----------------------------------------------------------------------------
    t0 = time.perf_counter()
    teacher = make_policy("large-dil", samples=st.teacher_samples, epochs=st.teacher_epochs, seed=seed,
                          progress=progress).fit()
    tick("train_large_dil", t0)
    t0 = time.perf_counter()
    dqn51 = make_policy("dqn", distribution="paper-5.1", samples=st.dqn_samples, timesteps=st.dqn_timesteps,
                        learning_starts=min(1000, st.dqn_timesteps // 3), seed=seed, progress=progress).fit()
    tick("train_dqn_5.1", t0)
    t0 = time.perf_counter()
    dqn52 = make_policy("dqn", distribution="paper-5.2", samples=st.small_samples, timesteps=st.dqn_small_timesteps,
                        learning_starts=min(1000, st.dqn_small_timesteps // 3), seed=seed, progress=progress).fit()
    tick("train_dqn_5.2", t0)
    for pol in (teacher, dqn51, dqn52):
        cache.store(pol)  # scenarios naming these policies with the same parameters reuse them

    small_kw = dict(samples=st.small_samples, epochs=st.small_epochs, progress=False)
    kd_runs, base_runs, kd_models, base_models = [], [], {}, {}
    t0 = time.perf_counter()
    for s in range(seed, seed + st.kd_seeds):
        kd = make_policy("kd-dil", temperature=st.temperature, seed=s,
                         teacher_params=dict(samples=st.teacher_samples, epochs=st.teacher_epochs, seed=seed), **small_kw)
        kd.teacher_ = teacher  # the teacher trained above (same configuration; not read from the cache)
        kd.fit()
        base = make_policy("baseline-dil", seed=s, **small_kw).fit()
        cache.store(kd)
        cache.store(base)
        kd_models[s], base_models[s] = kd, base
        for pol, runs in ((kd, kd_runs), (base, base_runs)):
            P = pol.decide_batch(test)
            m = latency_metrics(latency(test, P), Lopt_eval, P, Popt)
            m["seed"] = s
            m["val_subtask_accuracy"] = pol.meta_["metrics"]["val_subtask_accuracy"]
            runs.append(m)
    tick("train_kd_and_baseline_all_seeds", t0)

    greedy = make_policy("greedy")
    rand = make_policy("random")
    rand.reset(rng_for(seed, "reproduce/random-policy"))

    # Fig. 5 ------------------------------------------------------------------------------
    t0 = time.perf_counter()
    fig5_pols: dict[str, Policy] = {"large-dil": teacher, "greedy": greedy, "dqn": dqn51,
                                    "local": make_policy("local"), "edge": make_policy("edge"),
                                    "cloud": make_policy("cloud"), "random": rand}
    places5 = {k: p.decide_batch(test) for k, p in fig5_pols.items()}
    rows5 = [dict(policy=k, **latency_metrics(latency(test, P), Lopt_eval, P, Popt)) for k, P in places5.items()]
    pd.DataFrame(rows5).to_csv(out / "fig5.csv", index=False)
    test_frame(test, {**places5, "optimal": Popt}).to_parquet(out / "fig5_decisions.parquet", index=False)
    _bar_plot(out / "fig5.png", rows5,
              f"Fig. 5 reproduction: latency normalised to the optimum, paper-5.1 test set ({len(test)} samples)"
              + (" [QUICK RUN: not for citing]" if quick else ""),
              "paper: Large DIL 1.095 (metric unstated); bars = metric named on each axis, black tick = median ratio")

    # Fig. 6 ------------------------------------------------------------------------------
    fig6_pols: dict[str, Policy] = {"kd-dil": kd_models[seed], "baseline-dil": base_models[seed], "dqn": dqn52,
                                    "greedy": greedy}
    places6 = {k: p.decide_batch(test) for k, p in fig6_pols.items()}
    rows6 = [dict(policy=k, **latency_metrics(latency(test, P), Lopt_eval, P, Popt)) for k, P in places6.items()]
    pd.DataFrame(rows6).to_csv(out / "fig6.csv", index=False)
    test_frame(test, {**places6, "optimal": Popt}).to_parquet(out / "fig6_decisions.parquet", index=False)
    _bar_plot(out / "fig6.png", rows6,
              f"Fig. 6 reproduction: small networks trained on {st.small_samples} paper-5.2 samples (seed {seed}), "
              f"tested on paper-5.1 ({len(test)} samples)" + (" [QUICK RUN: not for citing]" if quick else ""),
              "latency normalised to the optimum; bars = metric named on each axis, black tick = median ratio"
              + (f"; error bars = std of kd-dil / baseline-dil over {st.kd_seeds} seeds" if st.kd_seeds > 1 else ""),
              errors={name: {key: float(np.std([r[key] for r in runs], ddof=1)) if len(runs) > 1 else 0.0
                             for key in ("ratio_of_means", "mean_ratio")}
                      for name, runs in (("kd-dil", kd_runs), ("baseline-dil", base_runs))})
    tick("evaluate_figures", t0)

    # KD vs baseline across seeds ----------------------------------------------------------
    def spread(runs: list[dict], key: str) -> dict:
        v = np.array([r[key] for r in runs])
        return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                "min": float(v.min()), "max": float(v.max()), "values": v.tolist()}

    keys = ("ratio_of_means", "mean_ratio", "median_ratio", "subtask_accuracy")
    kd_vs_base = {
        "seeds": list(range(seed, seed + st.kd_seeds)),
        "kd-dil": {k: spread(kd_runs, k) for k in keys},
        "baseline-dil": {k: spread(base_runs, k) for k in keys},
        "kd_better_ratio_of_means": int(sum(a["ratio_of_means"] < b["ratio_of_means"] for a, b in zip(kd_runs, base_runs))),
        "kd_better_mean_ratio": int(sum(a["mean_ratio"] < b["mean_ratio"] for a, b in zip(kd_runs, base_runs))),
        "runs": {"kd-dil": kd_runs, "baseline-dil": base_runs},
    }

    # Table 1 -------------------------------------------------------------------------------
    t0 = time.perf_counter()
    timing_pols = {"kd-dil": kd_models[seed], "large-dil": teacher, "dqn": dqn51, "greedy": greedy,
                   "exhaustive": make_policy("exhaustive"), "optimal": make_policy("optimal")}
    obs = observations(test, st.timing_decisions)
    per = time_single_decisions(timing_pols, obs, block=min(1000, st.timing_decisions), progress=progress)
    backends = {k: time_backends(timing_pols[k], obs) for k in ("kd-dil", "large-dil")}
    rows_t = []
    for k, v in per.items():
        rows_t.append({
            "policy": k, "label": {"optimal": "DP optimum", "exhaustive": "exhaustive optimum (paper's Optimal)"}.get(k, k),
            "mean_decision_s": v, "normalised_to_greedy": v / per["greedy"],
            "paper_normalised": PAPER["table1"].get(k, float("nan")), "decision_ops": timing_pols[k].decision_ops(g),
            "decisions_timed": len(obs),
        })
    pd.DataFrame(rows_t).to_csv(out / "table1.csv", index=False)
    tick("table1_timing", t0)

    # summary and report -------------------------------------------------------------------------
    q5 = soften([0.999, 2e-4, 3e-6], 5.0)
    q10 = soften([0.999, 2e-4, 3e-6], 10.0)
    fig5 = {r["policy"]: r for r in rows5}
    edge_beats_local = {m: bool(fig5["edge"][m] < fig5["local"][m]) for m in ("ratio_of_means", "mean_ratio", "median_ratio")}
    timings["total"] = time.perf_counter() - t_start
    summary = {
        "settings": {**asdict(st), "quick": quick, "seed": seed},
        "metric_note": "ratio_of_means = mean(L)/mean(L*); mean_ratio = mean(L/L*); median_ratio = median(L/L*); L* = exact optimum (chain DP, equal to exhaustive search)",
        "dp_vs_exhaustive_max_relative_difference": dp_vs_exhaustive,
        "fig5": rows5,
        "fig6": rows6,
        "kd_vs_baseline": kd_vs_base,
        "table1": rows_t,
        "single_decision_backends_s": backends,
        "training": {
            "large-dil": {"timing_s": teacher.meta_["timing_s"], "epochs_run": teacher.meta_["metrics"]["epochs_run"],
                          "val_subtask_accuracy": teacher.meta_["metrics"]["val_subtask_accuracy"],
                          "params": teacher.meta_["params"], "macs": teacher.meta_["macs"]},
            "kd-dil": {"params": kd_models[seed].meta_["params"], "macs": kd_models[seed].meta_["macs"],
                       "teacher_agreement_with_exact_on_1k": kd_models[seed].meta_["data"]["teacher_subtask_agreement_with_exact"]},
            "dqn-5.1": {"timing_s": dqn51.meta_["timing_s"], "timesteps": st.dqn_timesteps, "params": dqn51.meta_["params"]},
            "dqn-5.2": {"timing_s": dqn52.meta_["timing_s"], "timesteps": st.dqn_small_timesteps},
        },
        "softening": {"input": [0.999, 2e-4, 3e-6], "T5": q5.tolist(), "T10": q10.tolist(),
                      "paper_T5": [0.71, 0.20, 0.09], "paper_T10": [0.53, 0.28, 0.19]},
        "edge_beats_local": edge_beats_local,
        "paper": PAPER,
        "runtime_s": timings,
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "processor": platform.processor()},
    }
    (out / "summary.json").write_text(json.dumps(_strict_json(summary), indent=2, allow_nan=False))
    (out / "report.md").write_text(_report(summary))
    return summary


def _strict_json(x: Any) -> Any:
    """Plain JSON: numpy scalars to Python, non-finite floats to null (strict parsers reject NaN)."""
    if isinstance(x, dict):
        return {str(k): _strict_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_strict_json(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _fmt(x: float) -> str:
    return "inf" if not math.isfinite(x) else f"{x:.3f}" if abs(x) < 100 else f"{x:.1f}"


def _report(s: dict) -> str:
    st = s["settings"]
    f5 = {r["policy"]: r for r in s["fig5"]}
    f6 = {r["policy"]: r for r in s["fig6"]}
    t1 = {r["policy"]: r for r in s["table1"]}
    kvb = s["kd_vs_baseline"]
    n_seeds = len(kvb["seeds"])
    L = []
    L.append("# Reproduction of Chen et al., *Knowledge Distillation for Mobile Edge Computation Offloading* (arXiv 2004.04366)\n")
    L.append(f"Run: {'QUICK smoke run (small sizes; numbers are not the paper setting)' if st['quick'] else 'full paper setting'}, "
             f"seed {st['seed']}, {st['test_samples']} paper-5.1 test samples, chains of {st['n']} subtasks, "
             f"total runtime {s['runtime_s']['total']:.0f} s.\n")
    L.append("Metrics: **ratio of means** = mean(L)/mean(L\\*), **mean ratio** = mean(L/L\\*), **median ratio** = median(L/L\\*), "
             "L\\* the exact optimum (chain DP; equal to exhaustive search, max relative difference "
             f"{s['dp_vs_exhaustive_max_relative_difference']:.1e}). The paper does not say which it plots.\n")
    L.append("## Fig. 5 (paper-5.1)\n")
    L.append("| policy | ratio of means | mean ratio | median ratio | p99 ratio | subtask accuracy | paper |")
    L.append("|---|---|---|---|---|---|---|")
    for k, r in f5.items():
        paper = "1.095" if k == "large-dil" else ""
        L.append(f"| {k} | {_fmt(r['ratio_of_means'])} | {_fmt(r['mean_ratio'])} | {_fmt(r['median_ratio'])} | "
                 f"{_fmt(r['p99_ratio'])} | {r['subtask_accuracy']:.3f} | {paper} |")
    ld = f5["large-dil"]
    L.append(f"\nLarge DIL ({st['teacher_samples']} training samples, {s['training']['large-dil']['epochs_run']} epochs, "
             f"{s['training']['large-dil']['timing_s']['training']:.0f} s of training): ratio of means {ld['ratio_of_means']:.3f} "
             f"(target <= 1.03; paper 1.095), mean ratio {ld['mean_ratio']:.3f}, optimal on {100 * ld['share_optimal']:.1f}% of samples.")
    ebl = s["edge_beats_local"]
    verdict = ("Edge beats Local" if all(ebl.values()) else "Edge does NOT beat Local" if not any(ebl.values())
               else "Edge vs Local depends on the metric")
    L.append(f"\n**Edge vs Local: {verdict}** here (ratio of means: edge {_fmt(f5['edge']['ratio_of_means'])} vs local "
             f"{_fmt(f5['local']['ratio_of_means'])}; median ratio: edge {_fmt(f5['edge']['median_ratio'])} vs local "
             f"{_fmt(f5['local']['median_ratio'])}). The paper reports Edge below Local and Cloud. Under the stated "
             "distributions all-edge ships d_0 and d_6 (5 MB each on average) over b1 ~ U[0, 2] MB/s - about 10 s at the "
             "median b1 of 1 MB/s, and E[1/b1] is unbounded as b1 -> 0 - while all-local computes 6 subtasks of "
             "1e9 cycles on average at p1 ~ U[100, 1000] MHz, about 11 s at the median p1; the edge's faster CPU "
             "usually does not pay for the two transfers. We report what the model gives rather than tuning it to match the "
             "figure.\n")
    L.append("## Fig. 6 (1K paper-5.2 training samples, tested on paper-5.1)\n")
    L.append("| policy | ratio of means | mean ratio | median ratio | subtask accuracy |")
    L.append("|---|---|---|---|---|")
    for k, r in f6.items():
        L.append(f"| {k} | {_fmt(r['ratio_of_means'])} | {_fmt(r['mean_ratio'])} | {_fmt(r['median_ratio'])} | {r['subtask_accuracy']:.3f} |")
    L.append(f"\nKD-DIL vs Baseline DIL over {n_seeds} seeds (each seed: a new 1K training set and initialisation; "
             "one teacher), mean +- standard deviation [min, max]:\n")
    L.append("| metric | KD-DIL | Baseline DIL |")
    L.append("|---|---|---|")
    for key in ("ratio_of_means", "mean_ratio", "median_ratio", "subtask_accuracy"):
        a, b = kvb["kd-dil"][key], kvb["baseline-dil"][key]
        L.append(f"| {key} | {a['mean']:.3f} +- {a['std']:.3f} [{a['min']:.3f}, {a['max']:.3f}] | "
                 f"{b['mean']:.3f} +- {b['std']:.3f} [{b['min']:.3f}, {b['max']:.3f}] |")
    L.append(f"\nKD-DIL has the lower ratio of means in {kvb['kd_better_ratio_of_means']}/{n_seeds} seeds and the lower "
             f"mean ratio in {kvb['kd_better_mean_ratio']}/{n_seeds}. The paper shows KD-DIL below Baseline DIL, DQN "
             "and Greedy (one run, no spread).")
    kd, dq = f6["kd-dil"]["ratio_of_means"], f6["dqn"]["ratio_of_means"]
    L.append(f"\nDQN vs KD-DIL in this setting: DQN {_fmt(dq)} vs KD-DIL {_fmt(kd)} (ratio of means) - "
             + ("DQN is better here, unlike the paper. " if dq < kd else "KD-DIL is better, as in the paper. ")
             + f"Note the DQN is not data-starved the way the small networks are: it draws its episodes from the same "
             f"{st['small_samples']} requirements but scores {st['dqn_small_timesteps']} trial decisions against the "
             "exact cost model, i.e. it queries the latency formula far more often than the 1K labels convey.\n")
    L.append("## Table 1 (decision time, normalised to Greedy)\n")
    L.append("| policy | ours | paper | mean time per decision | declared ops |")
    L.append("|---|---|---|---|---|")
    for k, r in t1.items():
        paper = r["paper_normalised"]
        L.append(f"| {r['label']} | {r['normalised_to_greedy']:.2f} | {'' if paper != paper else f'{paper:.2f}'} | "
                 f"{1e6 * r['mean_decision_s']:.1f} us | {r['decision_ops']:.0f} |")
    kd_over_large = t1["kd-dil"]["mean_decision_s"] / t1["large-dil"]["mean_decision_s"]
    L.append(f"\nKD-DIL / Large DIL single-decision time: {kd_over_large:.2f} (paper 0.17 / 0.51 = 0.33; target <= 0.33).")
    be = s["single_decision_backends_s"]
    L.append(f"\nTimes are wall-clock means over {t1['greedy']['decisions_timed']} single `decide` calls per policy on "
             "the same observations, timed in interleaved blocks on a shared 2-core machine, so they carry noise. "
             "Single DIL decisions use a float32 numpy forward pass; torch `inference_mode` on a batch of one measured "
             + ", ".join(f"{k}: numpy {1e6 * v['numpy_s']:.1f} us vs torch {1e6 * v['torch_inference_mode_s']:.1f} us "
                         f"({1e6 * v['torch_inference_mode_1thread_s']:.1f} us on one thread)" for k, v in be.items())
             + ". Our DQN decides with ONE forward pass giving all 3^n Q-values and an argmax; the paper evaluates "
             "the network once per action, hence its 119.72. Our 'exhaustive' is vectorised numpy over the 729 "
             "decisions; the DP optimum is exact and much cheaper, which the paper's table does not consider.\n")
    sf = s["softening"]
    L.append("## Softening formula\n")
    L.append("We implement the paper's formula q_i = exp(ln p_i / T) / sum_j exp(ln p_j / T) exactly. For p = "
             f"(0.999, 2e-4, 3e-6) it gives ({', '.join(f'{v:.3f}' for v in sf['T5'])}) at T = 5 and "
             f"({', '.join(f'{v:.3f}' for v in sf['T10'])}) at T = 10; the paper's worked examples, (0.71, 0.20, 0.09) "
             "and (0.53, 0.28, 0.19), do not follow from its formula at those temperatures (they match T of about 6.5 "
             "and 13). We keep the formula, with T = 5.\n")
    L.append("## Where and why we differ\n")
    L.append("- Our Large DIL uses log-time features (log of cycles/p1, cycles/p2, d/b1, d/b2, and of the rates) with a "
             "standard scaler; the paper does not describe its inputs. We think these features (times rather than raw "
             "magnitudes spanning orders of magnitude) are the main reason it lands closer to the optimum than the "
             "paper's 1.095; we did not run the raw-input ablation.\n"
             "- The paper's network has 1.6M parameters by its count; five 256-wide layers over our 30 inputs hold "
             f"{s['training']['large-dil']['params']} parameters, and the 32x32 student {s['training']['kd-dil']['params']}.\n"
             "- DQN: stable-baselines3 DQN over 3^6 = 729 whole-decision actions with reward log(L_local/L) (a per-state "
             "monotone transform of -L), trained for "
             f"{s['training']['dqn-5.1']['timesteps']} steps to keep the run short; its decision time is one forward pass.\n"
             "- All numbers come from one seed per model except the KD/Baseline spread above.\n")
    return "\n".join(L)
