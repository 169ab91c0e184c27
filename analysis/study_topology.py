"""Topology study: deadline misses, handover failures and latency versus device count and speed.

Runs the sweep of ``scenarios/study_topology.yaml`` (the city of ``scenarios/city.yaml``: four edge sites
on a metro ring, random-waypoint devices, distance-based wireless, two applications with deadlines (AR
object detection, 300 ms; analytics, 10 s), handover rule
``fail``) over the number of devices and their speed, with replicates, and writes to
``analysis/results/study_topology/``:

* ``miss_vs_devices.png`` / ``miss_vs_speed.png`` - deadline-miss rate per policy, 95 % CI over replicates;
* ``failure_vs_speed.png`` - handover-failure rate per policy vs speed;
* ``latency_vs_devices.png`` / ``latency_vs_speed.png`` - mean latency of finished tasks, 95 % CI;
* ``numbers.csv`` (every point: mean, CI, replicates, unfinished fraction, overloaded flag) and
  ``findings.json``; with several applications also ``numbers_by_app.csv`` and, per application,
  ``miss_vs_devices_<app>.png``, ``latency_vs_devices_<app>.png``, ``latency_vs_speed_<app>.png``.

Statistics are over tasks arriving after a warm-up (the first 10 % of the horizon) and before the
last 10 % (so tasks cut by the horizon do not bias latency); rates are over all those tasks (a failed
or unfinished task counts in the denominator). Deadline misses are counted as everywhere in simoffload
(:mod:`simoffload.sim.deadlines`: finished late, dropped, or still unfinished at the horizon after the
deadline had passed); latency is over the tasks that finished, so read it beside the unfinished fraction
(``numbers.csv``). A point is flagged overloaded (open circle on the plots) when more than 2 % of its tasks
are unfinished at the horizon. Replicate r of every point shares the same random streams (common random
numbers), so differences between policies are paired.

Usage: ``python analysis/study_topology.py [--quick] [--jobs N] [--scheduler ADDR] [--out DIR]``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _study import finish_study, run_study  # noqa: E402

SCENARIO = ROOT / "scenarios" / "study_topology.yaml"
NAME = "study_topology"
DEV = "devices.count"
SPEED = "topology.mobility.random_waypoint.speed"


def per_run(tasks: pd.DataFrame, horizon_s: float, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per (point, replicate, policy[, by]): rates and latency over the tasks of the measured window.

    Deadline misses, failures and unfinished work follow the one definition of
    :func:`simoffload.sim.results.deadline_flags` (the same as the run summary's ``miss_rate``).
    """
    from simoffload.sim.results import deadline_flags

    lo, hi = 0.1 * horizon_s, 0.9 * horizon_s
    t = tasks[(tasks["arrival_s"] >= lo) & (tasks["arrival_s"] < hi)]
    f = deadline_flags(t, horizon_s)
    t = t.assign(miss=f["miss"], fail=f["failed"], unf=f["unfinished"], lat=t["latency_s"].where(f["finished"]))
    g = t.groupby(["point_index", "replicate", "policy", *by, DEV, SPEED], sort=False)
    out = g.agg(tasks=("task_id", "size"), miss_rate=("miss", "mean"), failure_rate=("fail", "mean"),
                unfinished_frac=("unf", "mean"), mean_latency_s=("lat", "mean")).reset_index()
    out["speed_mps"] = out[SPEED].map(lambda s: float(np.mean(json.loads(s) if isinstance(s, str) else s)))
    return out


def ci_tables(runs: pd.DataFrame, overloaded: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean and 95 % t half-width over replicates of every metric, against each axis; unfinished share and flag.

    A point is flagged ``overloaded`` when more than 2 % of its measured tasks (all applications: the
    ``overloaded`` table, if given) are unfinished at the horizon.
    """
    from simoffload.experiments.plots import ci_table

    tabs = []
    for metric in ("miss_rate", "failure_rate", "mean_latency_s"):
        for x, other in ((DEV, "speed_mps"), ("speed_mps", DEV)):
            t = ci_table(runs, x, metric, by=("policy", other))
            t.insert(0, "metric", metric)
            t.insert(1, "x", x)
            tabs.append(t)
    tab = pd.concat(tabs, ignore_index=True)
    unf = runs.groupby(["policy", DEV, "speed_mps"])["unfinished_frac"].mean().rename("unfinished_frac").reset_index()
    tab = tab.merge(unf, on=["policy", DEV, "speed_mps"], how="left")
    if overloaded is None:
        tab["overloaded"] = tab["unfinished_frac"] > 0.02
    else:
        tab = tab.merge(overloaded, on=["policy", DEV, "speed_mps"], how="left")
    return tab


def analyse(runs: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    from simoffload.experiments.plots import ci_table

    tab = ci_tables(runs)
    f: dict = {}
    devs, speeds = sorted(runs[DEV].unique()), sorted(runs["speed_mps"].unique())
    f["devices"], f["speeds_mps"] = [int(d) for d in devs], [float(s) for s in speeds]

    def cell(metric: str, pol: str, d: int, s: float) -> list[float]:
        r = tab[(tab.metric == metric) & (tab.x == DEV) & (tab.policy == pol) & (tab[DEV] == d) & (tab.speed_mps == s)]
        return [round(float(r["mean"].iloc[0]), 4), round(float(r["ci"].iloc[0]), 4)] if len(r) else [np.nan, np.nan]

    pols = list(dict.fromkeys(runs["policy"]))
    f["policies"] = pols
    for metric in ("miss_rate", "failure_rate", "mean_latency_s"):
        f[metric] = {p: {f"{int(d)}@{s:g}": cell(metric, p, d, s) for d in devs for s in speeds} for p in pols}
    over = tab[tab["overloaded"]][["policy", DEV, "speed_mps"]].drop_duplicates()
    f["overloaded"] = [f"{r.policy}@{int(r[DEV])} devices, {r.speed_mps:g} m/s" for _, r in over.iterrows()]
    # paired effect of reaching other sites over the MAN: optimal vs optimal-own, per replicate
    if {"optimal", "optimal-own"} <= set(pols):
        piv = runs.pivot_table(index=["point_index", "replicate", DEV, "speed_mps"], columns="policy",
                               values="miss_rate").reset_index()
        piv["diff"] = piv["optimal-own"] - piv["optimal"]
        g = ci_table(piv.assign(policy="own - man"), DEV, "diff", by=("policy",))
        f["man_miss_reduction"] = {int(r[DEV]): [round(float(r["mean"]), 4), round(float(r["ci"]), 4)]
                                   for _, r in g.iterrows()}
    return tab, f


def miss_by_uplink(horizon_s: float | None) -> list[dict]:
    """Miss rate of ``optimal`` in ``scenarios/city.yaml`` by quartile of the device's uplink rate at arrival."""
    from simoffload.config import PolicyConfig, load_scenario
    from simoffload.sim.results import tables_from
    from simoffload.sim.scenario import run_scenario

    sc = load_scenario(ROOT / "scenarios" / "city.yaml")
    sc.policies = [PolicyConfig(name="optimal")]
    if horizon_s is not None:
        sc.horizon = horizon_s
    r = run_scenario(sc)
    from simoffload.sim.results import deadline_flags

    t = tables_from(r).tasks
    devs = r.world.system.devices
    t["rate"] = [devs[d].up.rate(a) for d, a in zip(t["device"], t["arrival_s"])]
    t["q"] = pd.qcut(t["rate"], 4, labels=False, duplicates="drop")
    g = t.assign(miss=deadline_flags(t, r.world.system.horizon_s)["miss"]).groupby("q")
    return [{"uplink_MBps": [round(float(x.min()) / 1e6, 2), round(float(x.max()) / 1e6, 2)],
             "miss_rate": round(float(m), 4), "tasks": int(n)}
            for (_, x), m, n in zip(g["rate"], g["miss"].mean(), g.size())]


def analyse_apps(app_runs: pd.DataFrame, tab: pd.DataFrame, f: dict) -> pd.DataFrame:
    """Per application: the same tables (flags from the pooled points), and findings ``by_app``."""
    flags = tab[["policy", DEV, "speed_mps", "overloaded"]].drop_duplicates()
    out = []
    f["by_app"] = {}
    devs, speeds = sorted(app_runs[DEV].unique()), sorted(app_runs["speed_mps"].unique())
    for app, r in app_runs.groupby("app", sort=False):
        t = ci_tables(r, flags)
        t.insert(0, "app", app)
        out.append(t)
        d = f["by_app"][app] = {}
        for metric in ("miss_rate", "mean_latency_s"):
            m = t[(t.metric == metric) & (t.x == DEV)]
            d[metric] = {p: {f"{int(dv)}@{sp:g}": [round(float(v["mean"].iloc[0]), 4), round(float(v["ci"].iloc[0]), 4)]
                             for dv in devs for sp in speeds
                             if len(v := m[(m.policy == p) & (m[DEV] == dv) & (m.speed_mps == sp)])}
                         for p in dict.fromkeys(m["policy"])}
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def findings_text(f: dict) -> str:
    devs, speeds = f["devices"], f["speeds_mps"]
    d0, d1, s0, s1 = devs[0], devs[-1], speeds[0], speeds[-1]
    m, fr, lat = f["miss_rate"], f["failure_rate"], f["mean_latency_s"]

    def pc(x: list[float]) -> str:
        return f"{100 * x[0]:.1f}% (+-{100 * x[1]:.1f})"

    parts = []
    for p in [p for p in ("optimal", "edge", "cloud", "local") if p in m]:
        parts.append(f"{p}: miss {pc(m[p][f'{d0}@{s0:g}'])} at {d0} devices/{s0:g} m/s, "
                     f"{pc(m[p][f'{d1}@{s0:g}'])} at {d1} devices, {pc(m[p][f'{d0}@{s1:g}'])} at {s1:g} m/s; "
                     f"handover failures {pc(fr[p][f'{d0}@{s0:g}'])} -> {pc(fr[p][f'{d0}@{s1:g}'])} from "
                     f"{s0:g} to {s1:g} m/s; mean latency {lat[p][f'{d0}@{s0:g}'][0]:.2f} s -> "
                     f"{lat[p][f'{d1}@{s0:g}'][0]:.2f} s with {d1} devices.")
    if "man_miss_reduction" in f:
        red = f["man_miss_reduction"]
        parts.append("Letting optimal place work on other sites over the MAN changes the miss rate by " + ", ".join(
            f"{-100 * v[0]:+.2f} points (+-{100 * v[1]:.2f}) at {d} devices" for d, v in red.items())
            + " (paired, all speeds pooled; negative = fewer misses).")
    if f.get("miss_by_uplink"):
        parts.append("In scenarios/city.yaml, optimal's misses by uplink quartile at arrival: " + ", ".join(
            f"{q['uplink_MBps'][0]}-{q['uplink_MBps'][1]} MB/s: {100 * q['miss_rate']:.1f}%" for q in f["miss_by_uplink"])
            + ".")
    for app, d in f.get("by_app", {}).items():
        ms, ls = d["miss_rate"], d["mean_latency_s"]
        parts.append(f"Application {app}: " + "; ".join(
            f"{p} miss {pc(ms[p][f'{d0}@{s0:g}'])} -> {pc(ms[p][f'{d1}@{s0:g}'])} from {d0} to {d1} devices, "
            f"mean latency {ls[p][f'{d0}@{s0:g}'][0]:.3g} s -> {ls[p][f'{d1}@{s0:g}'][0]:.3g} s"
            for p in ("optimal", "cloud", "edge", "local") if p in ms and f"{d1}@{s0:g}" in ms[p]) + ".")
    if f["overloaded"]:
        parts.append("Overloaded points (>2% unfinished at the horizon): " + "; ".join(f["overloaded"]) + ".")
    return " ".join(parts)


def plots(tab: pd.DataFrame, out: Path, app_tab: pd.DataFrame | None = None) -> list[Path]:
    from simoffload.experiments.plots import line_ci

    paths = []
    specs = [("miss_rate", DEV, "miss_vs_devices.png", "deadline-miss rate, 95% CI", "devices"),
             ("miss_rate", "speed_mps", "miss_vs_speed.png", "deadline-miss rate, 95% CI", "mean speed (m/s)"),
             ("failure_rate", "speed_mps", "failure_vs_speed.png", "handover-failure rate, 95% CI", "mean speed (m/s)"),
             ("mean_latency_s", DEV, "latency_vs_devices.png", "mean latency (s), 95% CI", "devices"),
             ("mean_latency_s", "speed_mps", "latency_vs_speed.png", "mean latency (s), 95% CI", "mean speed (m/s)")]
    groups = [("", "all tasks", tab)]
    if app_tab is not None and len(app_tab):
        groups += [(f"_{app}", f"app {app}", t) for app, t in app_tab.groupby("app", sort=False)]
    for suffix, who, tb in groups:
        for metric, x, name, ylabel, xlabel in specs:
            if suffix and (metric == "failure_rate" or (metric, x) == ("miss_rate", "speed_mps")):
                continue  # per application: miss and latency vs devices, latency vs speed
            t = tb[(tb.metric == metric) & (tb.x == x)]
            other = "speed_mps" if x == DEV else DEV
            fixed = sorted(t[other].unique())[0]  # the other axis at its lowest value
            t = t[t[other] == fixed]
            what = f"{fixed:g} m/s" if other == "speed_mps" else f"{int(fixed)} devices"
            paths.append(line_ci(t, x, out / name.replace(".png", f"{suffix}.png"), ylabel, xlabel,
                                 f"City, 4 sites, {who} ({what})", order=sorted(t[x].unique()),
                                 logy=metric == "mean_latency_s", flag="overloaded",
                                 flag_label="overloaded (>2% unfinished)",
                                 clip=None if metric == "mean_latency_s" else (0.0, 1.0)))
    return paths


def main(argv: list[str] | None = None) -> int:
    from simoffload.config import load_scenario
    from simoffload.experiments.sweep import load_sweep

    args, out, outcome, _ = run_study(__doc__, SCENARIO, NAME, argv)
    sc = load_scenario(SCENARIO)
    horizon = 40.0 if args.quick else sc.horizon
    tasks = load_sweep(out / ("sweep-quick" if args.quick else "sweep")).tasks
    if tasks.empty:
        print("error: every run of the sweep failed (see the failed/ directory)", file=sys.stderr)
        return 1
    runs = per_run(tasks, horizon)
    tab, f = analyse(runs)
    app_tab = analyse_apps(per_run(tasks, horizon, by=("app",)), tab, f) if tasks["app"].nunique() > 1 else None
    f["miss_by_uplink"] = miss_by_uplink(40.0 if args.quick else None)
    tab.to_csv(out / "numbers.csv", index=False)
    if app_tab is not None:
        app_tab.to_csv(out / "numbers_by_app.csv", index=False)
    return finish_study(out, f, args, outcome, findings_text, plots(tab, out, app_tab))


if __name__ == "__main__":
    sys.exit(main())
