"""Plots of runs and sweeps: matplotlib (Agg), PNG, axes with units, sized for a paper column.

* :func:`plot_run` - a run directory's tables: latency CDF per policy; latency over
  simulated time with the wireless bandwidth underneath; decision time vs latency.
* :func:`plot_sweep` - a sweep: mean latency vs each swept parameter, one line per
  policy, with 95 % confidence intervals over replicates (Student t).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)

_STYLE = {
    "figure.dpi": 150, "savefig.dpi": 150, "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9,
    "legend.fontsize": 7.5, "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "lines.linewidth": 1.4,
}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(_STYLE)
    return plt


def _colors(policies: Sequence[str]) -> dict[str, Any]:
    """A distinct colour per policy: tab10 up to 10 policies, tab20 beyond (paired shades)."""
    plt = _plt()
    if len(policies) <= 10:
        cyc = plt.get_cmap("tab10")
        return {p: cyc(i) for i, p in enumerate(policies)}
    cyc = plt.get_cmap("tab20")
    return {p: cyc(i % 20) for i, p in enumerate(policies)}


def _dashes(policies: Sequence[str]) -> dict[str, str]:
    """Line styles that tell apart policies whose colours are close when there are many."""
    styles = ("-", "--", "-.", ":")
    return {p: (styles[(i // 2) % 4] if len(policies) > 10 else "-") for i, p in enumerate(policies)}


def _legend(ax: Any, n: int, **kw: Any) -> None:
    """Inside the axes for a few entries; outside on the right for many, so no data is hidden."""
    if not ax.get_legend_handles_labels()[0]:  # nothing drawn (e.g. no task finished within the horizon)
        ax.text(0.5, 0.5, "no finished tasks", ha="center", va="center", transform=ax.transAxes, color="0.4")
        return
    if "ncol" in kw:
        kw["ncol"] = max(1, int(kw["ncol"]))
    if n > 6:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=7)
    else:
        ax.legend(**kw)


#: vector copies written beside every PNG (for papers); set to () for PNG only
VECTOR_FORMATS: tuple[str, ...] = ("pdf", "svg")


def _save(fig: Any, path: Path) -> Path:
    from ..sim.results import _atomic_write

    fig.tight_layout()
    try:  # through a temporary file: a kill while drawing into an existing directory leaves no half PNG
        _atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png"))
        for ext in VECTOR_FORMATS:  # vector copies for papers, without creation dates (same input, same bytes)
            meta = {"CreationDate": None} if ext == "pdf" else {"Date": None}
            _atomic_write(Path(path).with_suffix(f".{ext}"), lambda tmp, e=ext, m=meta: fig.savefig(tmp, format=e, metadata=m))
    finally:
        _plt().close(fig)
    return path


def merge_identical(table: Any, hue: str, x: str, value: str = "mean") -> tuple[Any, dict[str, str]]:
    """Policies whose ``value`` is identical at every ``x`` drawn once, labelled ``a = b``.

    Returns:
        (table with one ``hue`` per group, renamed to the combined label; {old name: combined label}).
    """
    groups: list[list[str]] = []
    keys: list[Any] = []
    for h in dict.fromkeys(table[hue]):
        t = table[table[hue] == h].sort_values(x)
        sig = tuple(np.round(t[value].to_numpy(float), 12).tolist()) + tuple(t["steady"].tolist() if "steady" in t else ())
        for i, k in enumerate(keys):
            if k == sig:
                groups[i].append(h)
                break
        else:
            keys.append(sig)
            groups.append([h])
    names = {h: " = ".join(g) for g in groups for h in g}
    keep = [g[0] for g in groups]
    out = table[table[hue].isin(keep)].copy()
    out[hue] = out[hue].map(names)
    return out, names


def steady_plot(table: Any, x: str, path: Path, ylabel: str, xlabel: str, title: str = "", logy: bool = False,
                logx: bool = False, quick: bool = False, hue: str = "policy", ci_note: bool = True) -> Path:
    """Mean per ``hue`` against a numeric ``x`` with t intervals over replicates; not-steady points flagged.

    ``table`` comes from :func:`simoffload.experiments.stats.point_table` (``mean, ci, n, steady``).
    Points that are not steady have no mean: they are drawn as an open marker on the top edge of the
    axes. The y label says "95 % CI over n replicates" only when n > 1. Policies with identical
    results are drawn once with a combined label.
    """
    plt = _plt()
    tab, _ = merge_identical(table, hue, x)
    hues = list(dict.fromkeys(tab[hue]))
    col = _colors(hues)
    fig, ax = plt.subplots(figsize=(4.6 + (1.4 if len(hues) > 5 else 0), 3.0))
    markers = "osD^vP*Xhp<>"
    flagged = False
    steady_vals = tab.loc[tab["steady"], "mean"]
    top = float(np.nanmax(steady_vals + tab.loc[tab["steady"], "ci"].fillna(0))) if len(steady_vals) else 1.0
    for i, h in enumerate(hues):
        t = tab[tab[hue] == h].sort_values(x)
        ok = t[t["steady"]]
        ax.errorbar(ok[x].to_numpy(float), ok["mean"].to_numpy(float), yerr=np.nan_to_num(ok["ci"].to_numpy(float)),
                    marker=markers[i % len(markers)], ms=3.5, lw=1.0, capsize=2.5, color=col[h], label=str(h))
        bad = t[~t["steady"]]
        if len(bad):
            flagged = True
            ax.plot(bad[x].to_numpy(float), np.full(len(bad), top * (1.6 if logy else 1.08)), ls="none",
                    marker=markers[i % len(markers)], mfc="none", ms=6, color=col[h], clip_on=False)
    if flagged:
        ax.plot([], [], ls="none", marker="o", mfc="none", color="0.3", label="not steady (no mean)")
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    shown = tab.loc[tab["steady"], "mean"].to_numpy(float)
    shown = shown[np.isfinite(shown) & (shown > 0)]
    if logy and len(shown) and shown.max() / shown.min() < 10:
        logy = False  # a log axis over less than a decade shows one labelled tick: linear reads better
    if logy:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    if logx:
        ax.set_xscale("log")
    n = int(tab["n"].max()) if len(tab) else 0
    ax.set_xlabel(xlabel)
    if ci_note:
        ylabel += f"\n95% CI over {n} replicates" if n > 1 else "\n(1 replicate, no CI)"
    ax.set_ylabel(ylabel)
    title = title + (" [QUICK RUN: not for citing]" if quick else "")
    if title:
        import textwrap

        ax.set_title("\n".join(textwrap.wrap(title, 60)))
    _legend(ax, len(hues) + flagged, loc="best", fontsize=7)
    return _save(fig, path)


def _policies(tasks: Any) -> list[str]:
    return list(dict.fromkeys(tasks["policy"]))


_FINISHED = ("done", "missed")  # statuses of tasks that finished (on time or late)


def _finished(tasks: Any, p: str) -> Any:
    return tasks[(tasks["policy"] == p) & tasks["status"].isin(_FINISHED)]


def _label(tasks: Any, p: str) -> str:
    """``p`` with the counts of its tasks that did not finish (unfinished, dropped, failed) and late ones."""
    st = tasks.loc[tasks["policy"] == p, "status"]
    parts = [f"{int(k)} {name}" for name, k in (("unfinished", (st == "unfinished").sum()),
                                                  ("dropped", (st == "dropped").sum()),
                                                  ("failed", (st == "failed").sum()),
                                                  ("late", (st == "missed").sum())) if k]
    return f"{p} ({', '.join(parts)})" if parts else p


def _summary_label(summary: Any, p: str) -> str:
    """``p`` with its unfinished and failed share of the tasks over the whole sweep."""
    s = summary[summary["policy"] == p]
    total = float(s["tasks"].sum()) if "tasks" in s else 0.0
    if not total:
        return p
    parts = [f"{name} {float(s[col].sum()) / total:.1%}" for name, col in (("unfinished", "unfinished"),
                                                                        ("dropped", "dropped"), ("failed", "failed"))
             if col in s and s[col].sum() > 0]
    return f"{p} ({', '.join(parts)})" if parts else p


def _bw_unit(values: np.ndarray) -> tuple[float, str]:
    m = float(np.nanmax(values)) if len(values) else 0.0
    return (1e6, "MB/s") if m >= 1e5 else (1e3, "kB/s")


# ----------------------------------------------------------------------------- single runs


def _apps(tasks: Any) -> list[str]:
    apps = list(dict.fromkeys(tasks["app"])) if "app" in tasks else []
    return apps or ["default"]


def _app_deadline(tasks: Any) -> float:
    """The deadline to mark for a set of tasks: their median (inf without deadlines)."""
    d = tasks["deadline_s"].to_numpy(float) if "deadline_s" in tasks else np.array([])
    return float(np.median(d)) if len(d) else math.inf


def _log_if_wide(ax: Any, values: np.ndarray, axis: str = "x") -> bool:
    """A log scale when the positive values span more than two decades (a few huge tails hide the rest)."""
    v = values[np.isfinite(values) & (values > 0)]
    if len(v) and v.max() / v.min() > 100:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        return True
    return False


def latency_cdf(tasks: Any, path: Path, title: str = "") -> Path:
    """Empirical CDF of the latency of completed tasks, one line per policy; one panel per application.

    Each panel marks the application's deadline (median of the drawn deadlines) and says, per policy, how
    many tasks did not finish; the latency axis is logarithmic when latencies span more than two decades.
    """
    plt = _plt()
    pols = _policies(tasks)
    apps = _apps(tasks)
    col, ls = _colors(pols), _dashes(pols)
    w = 3.6 + (1.3 if len(pols) > 6 else 0)
    many = len(apps) > 1
    fig, axes = plt.subplots(1, len(apps), figsize=(w * (0.9 * len(apps) if many else 1), 2.7 + 0.17 * len(pols) * many),
                             squeeze=False, sharey=True)
    for ax, app in zip(axes[0], apps):
        t = tasks[tasks["app"] == app] if "app" in tasks and len(apps) > 1 else tasks
        lats = []
        for p in pols:
            lat = np.sort(_finished(t, p)["latency_s"].to_numpy())
            lats.append(lat)
            if len(lat):
                ax.step(lat, np.arange(1, len(lat) + 1) / len(lat), where="post", label=_label(t, p),
                        color=col[p], ls=ls[p])
        _log_if_wide(ax, np.concatenate(lats) if lats else np.array([]))
        dl = _app_deadline(t)
        if math.isfinite(dl):
            ax.axvline(dl, color="0.25", ls=":", lw=1.0)
            ax.text(dl, 0.02, f" deadline {dl:g} s", rotation=90, va="bottom", ha="right", fontsize=7, color="0.25")
        ax.set_xlabel("end-to-end latency (s)")
        ax.set_ylim(0, 1.01)
        if len(apps) > 1:
            ax.set_title(f"{app} ({int((t['policy'] == pols[0]).sum())} tasks per policy)")
        if many:  # under its panel: each application's counts differ, and the curves stay visible
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=7, frameon=False)
        else:
            _legend(ax, len(pols), loc="lower right")
    axes[0][0].set_ylabel("fraction of completed tasks")
    if len(apps) > 1:
        fig.suptitle(title or "Latency CDF (completed tasks)")
    else:
        axes[0][0].set_title(title or "Latency CDF (completed tasks)")
    return _save(fig, path)


#: above this many finished tasks of one policy, latency over time is drawn as a mean per time bin
TIME_BINS_ABOVE = 400
TIME_BINS = 60


def latency_over_time(tasks: Any, links: Any, path: Path, title: str = "") -> Path:
    """Latency of each task at its arrival time (top) over the wireless and WAN capacity (bottom).

    With many tasks, each policy's line is the mean latency of the tasks that arrived in each of
    ``TIME_BINS`` time bins; a bin in which some arrivals never finished (unfinished, dropped or failed)
    gets an open marker on the top edge. Without recorded bandwidth there is no lower panel.
    """
    plt = _plt()
    pols = _policies(tasks)
    col, ls = _colors(pols), _dashes(pols)
    bw = links[links["kind"] == "bandwidth"] if links is not None and len(links) else None
    has_bw = bw is not None and len(bw) > 0
    wide = 5.0 + (1.6 if len(pols) > 4 else 0)
    if has_bw:
        fig, (ax, bx) = plt.subplots(2, 1, figsize=(wide, 3.9), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    else:
        fig, ax = plt.subplots(figsize=(wide, 2.9))
        bx = None
    horizon = float(tasks["arrival_s"].max()) if len(tasks) else 1.0
    edges = np.linspace(0.0, horizon * (1 + 1e-9), TIME_BINS + 1)
    binned = any(len(_finished(tasks, p)) > TIME_BINS_ABOVE for p in pols)
    all_y = []
    stuck = []
    for p in pols:
        t = _finished(tasks, p).sort_values("arrival_s")
        if binned:
            mine = tasks[tasks["policy"] == p]
            k = np.clip(np.digitize(t["arrival_s"].to_numpy(float), edges) - 1, 0, TIME_BINS - 1)
            sums = np.bincount(k, weights=t["latency_s"].to_numpy(float), minlength=TIME_BINS)
            cnt = np.bincount(k, minlength=TIME_BINS)
            mean = np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)
            mid = 0.5 * (edges[:-1] + edges[1:])
            ax.plot(mid, mean, marker=".", ms=3, lw=1.0, label=_label(tasks, p), color=col[p], ls=ls[p])
            all_y.append(mean)
            lost = mine[~mine["status"].isin(_FINISHED)]
            if len(lost):
                kb = np.unique(np.clip(np.digitize(lost["arrival_s"].to_numpy(float), edges) - 1, 0, TIME_BINS - 1))
                stuck.append((p, mid[kb]))
        else:
            ax.plot(t["arrival_s"], t["latency_s"], marker=".", ms=3, lw=0.8, label=_label(tasks, p), color=col[p],
                    ls=ls[p])
            all_y.append(t["latency_s"].to_numpy(float))
    ys = np.concatenate(all_y) if all_y else np.array([])
    logy = _log_if_wide(ax, ys, "y")
    if stuck:
        fin = ys[np.isfinite(ys) & (ys > 0)]
        top = float(fin.max()) * (1.8 if logy else 1.08) if len(fin) else 1.0
        for p, xs in stuck:
            ax.plot(xs, np.full(len(xs), top), ls="none", marker="o", mfc="none", ms=4, color=col[p], clip_on=False)
        ax.plot([], [], ls="none", marker="o", mfc="none", color="0.3", label="some arrivals never finished")
    ax.set_ylabel("mean latency per time bin (s)" if binned else "latency (s)")
    ax.set_title(title or "Latency over simulated time; link capacity below")
    _legend(ax, 99, loc="upper left")  # outside on the right (or "no finished tasks")
    if has_bw:
        names = list(dict.fromkeys(bw["link"]))
        wireless = [n for n in names if n.endswith("_up") and not n.startswith("wan")][:1]
        wan = [n for n in names if n == "wan_up"]
        scale, unit = _bw_unit(bw["value"].to_numpy())
        for name, c in zip(wireless + wan, ("tab:blue", "tab:gray")):
            s = bw[bw["link"] == name].sort_values("start_s")
            x = np.append(s["start_s"].to_numpy(), s["end_s"].to_numpy()[-1:])
            y = np.append(s["value"].to_numpy(), s["value"].to_numpy()[-1:]) / scale
            label = "wireless uplink" if name in wireless else "WAN uplink"
            if name in wireless and name != "cell_up" and name.startswith("device"):
                label += f" ({name.removesuffix('_up')})"
            bx.step(x, y, where="post", color=c, label=label, lw=1.0)
        bx.set_ylabel(f"capacity ({unit})")
        bx.set_ylim(bottom=0)
        bx.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=7)
        bx.set_xlabel("simulated time (s)")
    else:
        ax.set_xlabel("task arrival, simulated time (s)")
    return _save(fig, path)


def decision_vs_latency(tasks: Any, path: Path, title: str = "") -> Path:
    """Mean decision time against mean latency, one point per policy (95 % CI of the latency mean)."""
    plt = _plt()
    pols = _policies(tasks)
    col = _colors(pols)
    fig, ax = plt.subplots(figsize=(3.6 + (1.3 if len(pols) > 6 else 0), 2.7))
    dec_all = []
    for p in pols:
        d = _finished(tasks, p)
        if not len(d):
            continue
        lat = d["latency_s"].to_numpy()
        dec = float(d["decision_s"].mean())
        ci = 1.96 * lat.std(ddof=1) / math.sqrt(len(lat)) if len(lat) > 1 else 0.0
        ax.errorbar([dec], [lat.mean()], yerr=[ci], fmt="o", color=col[p], label=_label(tasks, p), capsize=3)
        dec_all.append(dec)
    pos = [x for x in dec_all if x > 0]
    if pos:
        ax.set_xscale("symlog", linthresh=min(pos) / 2)
    ax.set_xlabel("mean decision time (s)")
    ax.set_ylabel("mean latency (s), 95% CI")
    ax.set_title(title or "What deciding costs")
    _legend(ax, len(pols), loc="best")
    return _save(fig, path)


def plot_run(res: Any, out: str | Path) -> list[Path]:
    """The plots of one run (a :class:`~simoffload.sim.results.Results`) as PNGs in ``out``.

    Returns:
        Paths of the written files: ``latency_cdf.png``, ``latency_time.png``, ``decision_latency.png``.
    """
    out = Path(out)
    name = res.meta.get("scenario", "")
    return [
        latency_cdf(res.tasks, out / "latency_cdf.png", f"{name}: latency CDF"),
        latency_over_time(res.tasks, res.links, out / "latency_time.png", f"{name}: latency and link capacity"),
        decision_vs_latency(res.tasks, out / "decision_latency.png", f"{name}: decision time vs latency"),
    ]


# ----------------------------------------------------------------------------- sweeps


def ci_table(summary: Any, x: str, metric: str = "mean_latency_s", by: Sequence[str] = ("policy",)) -> Any:
    """Mean of ``metric`` over replicates with a 95 % Student-t half-width, per (``by``, ``x``).

    Returns:
        DataFrame with columns ``*by, x, mean, ci, n``.
    """
    from scipy import stats

    keys = list(by) + [x]
    g = summary.groupby(keys, sort=False, dropna=False)[metric]
    t = g.agg(["mean", "std", "count"]).reset_index()
    q = np.array([stats.t.ppf(0.975, n - 1) if n > 1 else np.nan for n in t["count"]])
    t["ci"] = np.where(t["count"] > 1, q * t["std"] / np.sqrt(t["count"].clip(lower=1)), 0.0)
    return t.rename(columns={"count": "n"}).drop(columns="std")


def _numeric(values: Any) -> tuple[np.ndarray | None, list]:
    """Swept values as numbers (quantity strings converted to SI), or None with category labels."""
    from ..units import parse_quantity

    out = []
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
            continue
        x = None
        for kind in ("bytes_per_s", "s", "hz", "per_s", "bytes", "cycles"):
            try:
                x = float(parse_quantity(v, kind))
                break
            except Exception:  # noqa: BLE001 - not this kind
                continue
        if x is None:
            return None, list(values)  # not quantities: plot as categories
        out.append(x)
    return np.array(out), list(values)


def line_ci(table: Any, x: str, path: Path, ylabel: str, xlabel: str | None = None, title: str = "",
            hue: str = "policy", logy: bool = False, order: Sequence[Any] | None = None,
            xscale: float = 1.0, legend: dict | None = None, flag: str | None = None,
            flag_label: str = "flagged", clip: tuple[float, float] | None = None) -> Path:
    """One line per ``hue`` with a 95 % CI band, from a :func:`ci_table` (``legend``: its text per hue).

    ``flag``: a boolean column of ``table``; its True points get a large open marker (e.g. overloaded
    points, whose means are not steady-state figures), explained in the legend by ``flag_label``.
    ``clip``: the range the quantity can take (e.g. (0, 1) for a rate); the CI band is cut to it.
    """
    plt = _plt()
    hues = list(dict.fromkeys(table[hue]))
    col = _colors(hues)
    fig, ax = plt.subplots(figsize=(3.8, 2.8))
    xs_all = list(dict.fromkeys(order if order is not None else table[x]))
    num, labels = _numeric(xs_all)
    flagged = False
    for h in hues:
        t = table[table[hue] == h].set_index(x).reindex(xs_all)
        xv = num / xscale if num is not None else np.arange(len(xs_all))
        m, c = t["mean"].to_numpy(float), t["ci"].to_numpy(float)
        ax.plot(xv, m, marker="o", ms=3, label=str((legend or {}).get(h, h)), color=col[h])
        lo, hi = m - np.nan_to_num(c), m + np.nan_to_num(c)
        if clip is not None:
            lo, hi = np.clip(lo, *clip), np.clip(hi, *clip)
        ax.fill_between(xv, lo, hi, color=col[h], alpha=0.18, lw=0)
        if flag is not None:
            f = t[flag].fillna(False).to_numpy(bool)
            if f.any():
                flagged = True
                ax.plot(np.asarray(xv)[f], m[f], ls="none", marker="o", ms=8, mfc="none", mec=col[h], mew=1.2)
    if flagged:
        ax.plot([], [], ls="none", marker="o", ms=8, mfc="none", mec="0.3", label=flag_label)
    if num is None:
        ax.set_xticks(np.arange(len(xs_all)))
        ax.set_xticklabels([str(v) for v in labels], rotation=20, ha="right")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel)
    if title:
        import textwrap

        ax.set_title("\n".join(textwrap.wrap(title, 48)))
    ax.legend(loc="best", ncol=2 if len(hues) > 4 else 1)
    return _save(fig, path)


def _param_label(p: str, values: list) -> tuple[str, float]:
    """Axis label with unit and the divisor that brings SI values to that unit."""
    num, _ = _numeric(values)
    if num is None or all(isinstance(v, (int, float)) for v in values):
        return p, 1.0
    first = next(v for v in values if isinstance(v, str))
    from ..units import parse_quantity

    big = float(np.nanmax(np.abs(num))) if len(num) else 0.0
    for kind, units in (("bytes_per_s", (("MB/s", 1e6), ("kB/s", 1e3), ("B/s", 1.0))),
                        ("hz", (("GHz", 1e9), ("MHz", 1e6), ("Hz", 1.0))), ("s", (("s", 1.0),)),
                        ("per_s", (("1/s", 1.0),)), ("bytes", (("MB", 1e6), ("kB", 1e3), ("B", 1.0)))):
        try:
            parse_quantity(first, kind)
        except Exception:  # noqa: BLE001 - not this kind
            continue
        unit, scale = next(((u, f) for u, f in units if big >= f), units[-1])
        return f"{p} ({unit})", scale
    return p, 1.0


def plot_sweep(sw: Any, out: str | Path) -> list[Path]:
    """Latency vs each swept parameter, per policy, 95 % CI over replicates (other parameters averaged).

    Args:
        sw: a :class:`~simoffload.experiments.sweep.SweepResults`.
        out: directory for ``sweep_<param>.png``.
    """
    out = Path(out)
    s = sw.summary
    paths: list[Path] = []
    if s is None or not len(s):
        return paths
    for p in sw.params:
        if p not in s.columns:
            continue
        # average other swept parameters within a replicate first, so the CI is over replicates
        per_rep = s.groupby(["policy", p, "replicate"], sort=False, dropna=False)["mean_latency_s"].mean().reset_index()
        tab = ci_table(per_rep, p)
        order = list(dict.fromkeys(s.sort_values("point_index")[p]))
        others = [q for q in sw.params if q != p]
        title = f"mean latency vs {p}" + (" (avg. over " + ", ".join(others) + ")" if others else "")
        safe = p.replace(".", "_").replace("/", "_")
        label, scale = _param_label(p, order)
        names = {q: _summary_label(s, q) for q in dict.fromkeys(s["policy"])}  # unfinished / failed work beside latency
        paths.append(line_ci(tab, p, out / f"sweep_{safe}.png", "mean latency (s), 95% CI",
                             label, title, order=order, xscale=scale, legend=names))
    return paths
