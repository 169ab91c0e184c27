"""Steady-state statistics for studies: warm-up deletion, overload detection, confidence intervals.

The rules, applied by :func:`run_stats` to every run (one policy, one sweep
point, one replicate) and by :func:`point_table` across replicates:

* **Warm-up deletion: MSER-5** (White 1997; White, Cobb & Spratt 2000). The
  latencies of completed tasks, in arrival order, are grouped into batches of 5;
  the truncation point d minimises MSER(d) = sum_{i>d} (z_i - mean_{>d})^2 / (k - d)^2
  over the first half of the k batch means; the first 5d tasks are dropped.
* **Overload: offered load against capacity.** From the placements the policy
  actually chose, the work offered to each shared resource over the horizon
  divided by what it can serve: edge CPU (cycles on the edge plus the decision
  hold, over cores x speed x horizon), the WAN and, with a shared cell, the
  wireless up/down links (bytes over the link's mean capacity x horizon).
  A resource offered 98 % of its capacity or more cannot reach a steady state
  within any useful horizon.
* **Overload: trend test.** Kendall's tau between arrival time and latency over
  20 post-warm-up batch means (long batches, so the correlation between
  neighbouring tasks, which share queues, does not make the test fire on a
  stationary series); an increasing trend with p < 0.01 means queues are still
  growing.
* A run is **not steady** if a resource is offered >= 98 % of its capacity, the
  trend test fires, or more than 10 % of its tasks are unfinished at the horizon.
  A point (policy x sweep point) is not steady if any replicate is overloaded
  (capacity or unfinished work) or the trend test fires in more than a quarter
  of its replicates (one 1 % test in a dozen fires by chance about 11 % of the
  time); tables and plots then show it flagged instead of a mean.
* **Confidence intervals from replicate means**: each replicate's post-warm-up
  mean latency is one observation; the interval is Student t over replicates
  (never 1.96 sigma over the correlated tasks of one run). With one replicate
  there is no interval.
* **Replicates until precise**: :func:`replicates_needed` says how many more
  replicates bring the half-width under a relative target, with a cap.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

OVERLOAD_RHO = 0.98
TREND_P = 0.01
UNFINISHED_MAX = 0.10
BATCH = 5
TREND_BATCHES = 20
RISING_SHARE = 0.25


def mser5(y: np.ndarray) -> int:
    """Number of leading observations MSER-5 deletes from the series ``y``."""
    y = np.asarray(y, dtype=float)
    k = len(y) // BATCH
    if k < 4:
        return 0
    z = y[: k * BATCH].reshape(k, BATCH).mean(axis=1)
    # suffix sums give every MSER(d) in one pass
    rev = z[::-1]
    s1 = np.cumsum(rev)[::-1]
    s2 = np.cumsum(rev * rev)[::-1]
    m = k - np.arange(k)
    sse = s2 - s1 * s1 / m
    mser = sse / (m * m)
    half = k // 2
    d = int(np.argmin(mser[: half + 1]))
    return d * BATCH


def trend_p(t: np.ndarray, y: np.ndarray, batches: int = TREND_BATCHES) -> tuple[float, float]:
    """Kendall's tau of ``y`` against ``t`` over ``batches`` batch means, and the one-sided p-value of an increase.

    Latencies of neighbouring tasks are positively correlated (they share queues), which makes a rank
    test on single tasks or short batches fire on stationary series; a few long batches are close to
    independent (the batch-means argument), so the test keeps its level.
    """
    from scipy import stats

    n = len(y)
    size = n // batches
    if size < 1 or batches < 8:
        return math.nan, 1.0
    tb = np.asarray(t[: batches * size], dtype=float).reshape(batches, size).mean(axis=1)
    yb = np.asarray(y[: batches * size], dtype=float).reshape(batches, size).mean(axis=1)
    res = stats.kendalltau(tb, yb, alternative="greater")
    tau = float(res.statistic)
    return tau, float(res.pvalue) if math.isfinite(res.pvalue) else 1.0


def offered_load(world: Any, tasks: Any, hold_s: float) -> dict[str, float]:
    """Work offered to each shared resource by one policy's placements, over its capacity.

    Args:
        world: the run's :class:`~simoffload.sim.scenario.World`.
        tasks: that policy's rows of the tasks table.
        hold_s: edge-core seconds one decision holds (0 if decisions do not use an edge core).

    Returns:
        ``{"edge_cpu": rho, "wan": rho, "cell": rho}`` (cell only with a shared cell); rho >= 1 is overload.
    """
    sys_ = world.system
    horizon = sys_.horizon_s
    specs = {s.task_id: s for s in sys_.tasks}
    edge_cycles = 0.0
    wan = np.zeros(2)
    cell = np.zeros(2)
    # each application has its own structure (SystemSpec.graphs[task.app])
    ends = [(g, np.asarray(g.src), np.asarray(g.dst)) for g in (getattr(sys_, "graphs", None) or [sys_.graph])]
    n_dec = 0
    for tid, pl in zip(tasks["task_id"].to_numpy(), tasks["placement"].to_numpy()):
        if not pl:
            continue
        n_dec += 1
        s = specs[int(tid)]
        g, src, dst = ends[getattr(s, "app", 0)]
        place = np.frombuffer(pl.encode("ascii"), dtype=np.uint8) - 48
        edge_cycles += float(s.cycles[place == 1].sum())
        ext = np.concatenate([place, [0]])  # index -1 / n -> the device
        a = np.where((src < 0) | (src >= g.n), 0, ext[np.clip(src, 0, g.n)])
        b = np.where((dst < 0) | (dst >= g.n), 0, ext[np.clip(dst, 0, g.n)])
        d = np.asarray(s.data, dtype=float)
        cell[0] += d[(a == 0) & (b > 0)].sum()
        cell[1] += d[(b == 0) & (a > 0)].sum()
        wan[0] += d[(a < 2) & (b == 2)].sum()
        wan[1] += d[(a == 2) & (b < 2)].sum()
    out = {"edge_cpu": (edge_cycles / sys_.edge_hz + n_dec * hold_s) / (sys_.edge_cores * horizon)}
    cap_up = sys_.wan_up.cumulative(horizon)
    cap_down = sys_.wan_down.cumulative(horizon)
    out["wan"] = max(wan[0] / cap_up if cap_up > 0 else math.inf, wan[1] / cap_down if cap_down > 0 else math.inf)
    if sys_.shared_cell:
        cu, cd = sys_.devices[0].up.cumulative(horizon), sys_.devices[0].down.cumulative(horizon)
        out["cell"] = max(cell[0] / cu if cu > 0 else math.inf, cell[1] / cd if cd > 0 else math.inf)
    return out


def run_stats(tasks: Any, load: dict[str, float]) -> dict[str, Any]:
    """Steady-state statistics of one policy's run (its rows of the tasks table).

    Returns:
        warmup_tasks, ss_mean_latency_s (post-warm-up mean), ss_tasks, unfinished_frac, trend_tau,
        trend_p, rho_max, rho_resource, steady (bool) and why (text, empty when steady).
    """
    t = tasks.sort_values("arrival_s", kind="stable")
    finished = t["status"].isin(("done", "missed"))
    done = t[finished]
    y = done["latency_s"].to_numpy(float)
    x = done["arrival_s"].to_numpy(float)
    w = mser5(y)
    ys, xs = y[w:], x[w:]
    tau, p = trend_p(xs, ys)
    unf = float((t["status"] == "unfinished").mean()) if len(t) else 0.0
    res, rho = max(load.items(), key=lambda kv: kv[1]) if load else ("", 0.0)
    why = []
    if rho >= OVERLOAD_RHO:
        why.append(f"{res} offered {rho:.2f}x capacity")
    if unf > UNFINISHED_MAX:
        why.append(f"{unf:.0%} unfinished")
    overloaded = bool(why)
    rising = p < TREND_P
    if rising:
        why.append(f"latency still rising (Kendall tau {tau:.2f}, p {p:.1g})")
    return {"warmup_tasks": int(w), "ss_tasks": int(len(ys)),
            "ss_mean_latency_s": float(ys.mean()) if len(ys) else math.nan,
            "unfinished_frac": unf, "trend_tau": tau, "trend_p": p, "rho_max": float(rho), "rho_resource": res,
            "overloaded": overloaded, "rising": rising, "steady": not why, "why": "; ".join(why)}


def t_halfwidth(values: np.ndarray, level: float = 0.95) -> float:
    """Student-t half-width of the mean of independent replicate values (nan with fewer than 2)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def replicates_needed(values: np.ndarray, rel_target: float, cap: int) -> int:
    """Replicates (in all, at most ``cap``) expected to bring the 95 % half-width under ``rel_target`` x mean.

    Uses the sample standard deviation of the replicates so far: n = (t s / (target mean))^2.
    """
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return min(cap, max(2, len(v) + 1))
    mean, sd = abs(float(v.mean())), float(v.std(ddof=1))
    if mean == 0 or sd == 0:
        return len(v)
    n = len(v)
    while n < cap:
        if stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) <= rel_target * mean:
            break
        n += 1
    return max(n, len(v))


def point_table(runs: Any, x: list[str], metric: str = "ss_mean_latency_s") -> Any:
    """Per policy and sweep point: mean over replicates, t half-width, replicates, unfinished and failed share, steadiness.

    Args:
        runs: one row per policy x point x replicate with ``metric``, ``steady``, ``why``,
            ``unfinished_frac``, ``rho_max``, and optionally ``failed`` (bool).
        x: the sweep columns identifying a point.

    Returns:
        DataFrame: ``policy, *x, mean, ci, n, unfinished_frac, failed_frac, rho_max, steady, why``; ``mean``
        and ``ci`` are NaN where the point is not steady (shown flagged, never averaged).
    """
    import pandas as pd

    rows = []
    for key, g in runs.groupby(["policy"] + x, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        failed = g["failed"].astype(bool) if "failed" in g else pd.Series(False, index=g.index)
        ok = g[~failed]
        if "overloaded" in ok and "rising" in ok:
            # overload by capacity or unfinished work in any replicate; a rising trend in more than a quarter
            # of them (a 1 % test fires in 4 of 12 stationary replicates with probability about 1e-5)
            steady = bool(len(ok)) and not ok["overloaded"].any() and float(ok["rising"].mean()) <= RISING_SHARE
        else:
            steady = bool(len(ok)) and bool(ok["steady"].all())
        vals = ok[metric].to_numpy(float)
        why = "; ".join(sorted(set(w for w in ok["why"] if w)))[:200] if not steady else ""
        if not len(ok):
            why = "every replicate failed"
        rows.append({"policy": key[0], **dict(zip(x, key[1:])),
                     "mean": float(np.mean(vals)) if steady and len(vals) else math.nan,
                     "ci": t_halfwidth(vals) if steady else math.nan, "n": int(len(ok)),
                     "unfinished_frac": float(ok["unfinished_frac"].mean()) if len(ok) else math.nan,
                     "failed_frac": float(failed.mean()) if len(g) else 0.0,
                     "rho_max": float(ok["rho_max"].max()) if len(ok) else math.nan,
                     "steady": steady, "why": why,
                     "raw_mean": float(np.mean(vals)) if len(vals) else math.nan})
    return pd.DataFrame(rows)


def restat(summary: Any, tasks: Any) -> Any:
    """Recompute the steady-state columns of a sweep summary from its tasks table (offered loads kept).

    Sweep points are cached by scenario and seed, so a study recomputes these with the current rules
    instead of trusting the ones stored when each point ran.
    """
    import pandas as pd

    groups = {k: g for k, g in tasks.groupby(["point", "policy"], sort=False)}
    rows = []
    rho_cols = [c for c in summary.columns if c.startswith("rho_") and c not in ("rho_max", "rho_resource")]
    for _, r in summary.iterrows():
        t = groups.get((r["point"], r["policy"]))
        load = {c[4:]: float(r[c]) for c in rho_cols if pd.notna(r[c])}
        rows.append(run_stats(t, load) if t is not None else {})
    new = pd.DataFrame(rows, index=summary.index)
    out = summary.copy()
    for c in new.columns:
        out[c] = new[c]
    return out
