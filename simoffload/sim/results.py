"""Result tables: records turned into tidy pandas DataFrames once, written atomically.

Tables (one row per ...):

* ``tasks`` - task and policy: ``policy, task_id, device, arrival_s, start_s``
  (first subtask may start), ``finish_s, latency_s`` (finish - arrival, NaN if
  unfinished), ``decision_s`` (arrival to start: request, queueing for an edge
  core, deciding, reply), ``placement`` (one digit per subtask in topological
  order: 0 device, 1 edge, 2 cloud), ``energy_j`` (device energy), ``deadline_s``
  (relative to arrival; ``inf``: none), ``site`` (edge site the device was
  associated with at arrival; one edge: 0), ``reason`` (why a task was
  ``failed`` or ``dropped``; empty otherwise), ``status``: ``done`` (finished by
  its deadline), ``missed`` (finished after it), ``dropped`` (abandoned at its
  deadline, ``execution.on_deadline: drop``), ``failed`` (lost, e.g. on a
  handover; see ``reason``), ``unfinished`` (still running at the horizon).
* ``subtasks`` - subtask and policy: ``ready_s`` (inputs arrived), ``start_s``
  (got a core), ``end_s``.
* ``links`` - ``kind`` ``bandwidth`` (capacity ``value`` B/s over
  [start_s, end_s); ``policy`` is ``*`` since every policy sees the same),
  ``transfer`` (``bytes`` of ``task_id`` from start_s to end_s), ``flows``
  (active flows on a link from start_s on), ``queue`` (jobs waiting for the
  edge CPU from start_s on).
* ``summary`` - one row per policy (see :func:`summarize`).
* ``sites`` - only with several edge sites: one row per policy and site (columns
  :data:`simoffload.sim.engine_sites.SITE_FIELDS`): load, tasks associated at arrival, missed and failed.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UserError
from .engine import LINK_FIELDS, SUBTASK_FIELDS, TASK_FIELDS

TABLES = ("tasks", "subtasks", "links", "summary")


@dataclass
class Results:
    """A run's tables as pandas DataFrames."""

    tasks: pd.DataFrame
    subtasks: pd.DataFrame
    links: pd.DataFrame
    summary: pd.DataFrame
    meta: dict[str, Any]
    sites: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return (f"Results(tasks={len(self.tasks)}, subtasks={len(self.subtasks)}, "
                f"links={len(self.links)}, policies={list(self.summary['policy'])})")


def tables_from(result: Any) -> Results:
    """Turn a :class:`~simoffload.sim.scenario.RunResult` into DataFrames."""
    tasks = pd.DataFrame([r for run in result.runs for r in run.tasks], columns=list(TASK_FIELDS))
    subtasks = pd.DataFrame([r for run in result.runs for r in run.subtasks], columns=list(SUBTASK_FIELDS))
    links = pd.DataFrame(result.link_rows() + [r for run in result.runs for r in run.links], columns=list(LINK_FIELDS))
    for df, ints in ((tasks, ("task_id", "device", "site")), (subtasks, ("task_id", "subtask", "place")), (links, ("task_id",))):
        for c in ints:
            df[c] = df[c].astype("int64")
    order = [run.policy for run in result.runs]
    summary = summarize(tasks, order)
    summary["wall_s"] = [run.wall_s for run in result.runs]
    meta = {"seed": result.world.seed, "scenario": result.world.scenario.name, "policies": order,
            "failed": dict(getattr(result, "failed", {})), "interrupted": bool(getattr(result, "interrupted", False))}
    sites = None
    if any(hasattr(run, "sites") for run in result.runs):
        from .engine_sites import SITE_FIELDS

        sites = pd.DataFrame([r for run in result.runs for r in getattr(run, "sites", [])], columns=list(SITE_FIELDS))
        sites["miss_rate"] = sites["missed"] / sites["tasks"].where(sites["tasks"] > 0)
        sites["failure_rate"] = sites["failed"] / sites["tasks"].where(sites["tasks"] > 0)
    return Results(tasks, subtasks, links, summary, meta, sites)


def summarize(tasks: pd.DataFrame, order: list[str] | None = None) -> pd.DataFrame:
    """One row per policy.

    Latency statistics are over completed tasks only (``done`` and ``missed``:
    both finished); ``unfinished``, ``dropped`` and ``failed`` count the rest (a
    policy that leaves work unfinished looks better on latency than it is, so
    read them together). ``miss_rate`` is the fraction of all tasks that
    finished after their deadline or were dropped at it; ``failure_rate`` the
    fraction that failed. ``*_norm`` columns divide by the best policy's value
    (lowest among the policies) for latency (mean, p50, p95, p99) and energy.
    Decision time is not normalised: the static policies take none.
    """
    rows = []
    order = order or list(dict.fromkeys(tasks["policy"]))
    for pol in order:
        t = tasks[tasks["policy"] == pol]
        status = t["status"]
        done = t[(status == "done") | (status == "missed")]
        lat = done["latency_s"].to_numpy()
        q = np.percentile(lat, [50, 95, 99]) if len(lat) else [np.nan] * 3
        n_missed, n_dropped, n_failed = (int((status == k).sum()) for k in ("missed", "dropped", "failed"))
        rows.append({
            "policy": pol, "tasks": len(t), "completed": len(done), "unfinished": int((status == "unfinished").sum()),
            "mean_latency_s": float(lat.mean()) if len(lat) else np.nan,
            "p50_latency_s": q[0], "p95_latency_s": q[1], "p99_latency_s": q[2],
            "mean_decision_s": float(done["decision_s"].mean()) if len(done) else np.nan,
            "mean_energy_j": float(done["energy_j"].mean()) if len(done) else np.nan,
            "missed": n_missed, "dropped": n_dropped, "failed": n_failed,
            "miss_rate": (n_missed + n_dropped) / len(t) if len(t) else np.nan,
            "failure_rate": n_failed / len(t) if len(t) else np.nan,
        })
    s = pd.DataFrame(rows)
    for col in ("mean_latency_s", "p50_latency_s", "p95_latency_s", "p99_latency_s", "mean_energy_j"):
        best = s[col].min()
        s[col.removesuffix("_s").removesuffix("_j") + "_norm"] = s[col] / best if best and best > 0 else np.nan
    return s


def _atomic_write(path: Path, writer: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Write one table as Parquet or CSV (by suffix), atomically."""
    if path.suffix == ".csv":
        _atomic_write(path, lambda p: df.to_csv(p, index=False))
    else:
        _atomic_write(path, lambda p: df.to_parquet(p, index=False))


def write_results(res: Results, out: Path, fmt: str = "parquet", scenario_yaml: str | None = None) -> None:
    """Write the tables, the effective scenario and ``meta.json`` (written last: its presence marks a complete run)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "meta.json"
    if meta_path.exists():
        meta_path.unlink()  # the directory is incomplete until the new meta is written
    suffix = ".csv" if fmt == "csv" else ".parquet"
    for name in TABLES:
        write_table(getattr(res, name), out / f"{name}{suffix}")
    if res.sites is not None:
        write_table(res.sites, out / f"sites{suffix}")
    if scenario_yaml is not None:
        _atomic_write(out / "scenario.yaml", lambda p: Path(p).write_text(scenario_yaml, encoding="utf-8"))
    meta = dict(res.meta, format=fmt)
    _atomic_write(meta_path, lambda p: Path(p).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8"))


def load_results(directory: str | Path) -> Results:
    """Load the tables a ``simoffload run`` wrote."""
    d = Path(directory)
    meta_path = d / "meta.json"
    if not meta_path.exists():
        raise UserError(f"{d}: not a complete simoffload result directory (no meta.json)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("interrupted"):
        logging.getLogger(__name__).warning("%s: the run was interrupted; only policies %s finished", d, meta["policies"])
    suffix = ".csv" if meta.get("format") == "csv" else ".parquet"
    frames = {}
    for name in TABLES:
        p = d / f"{name}{suffix}"
        frames[name] = pd.read_csv(p, dtype={"placement": str}, keep_default_na=True) if suffix == ".csv" else pd.read_parquet(p)
    p = d / f"sites{suffix}"
    if p.exists():
        frames["sites"] = pd.read_csv(p) if suffix == ".csv" else pd.read_parquet(p)
    if suffix == ".csv":
        frames["tasks"]["placement"] = frames["tasks"]["placement"].fillna("")
    return Results(meta=meta, **frames)
