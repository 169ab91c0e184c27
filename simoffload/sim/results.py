"""Result tables: records turned into tidy pandas DataFrames once, written atomically.

Tables (one row per ...):

* ``tasks`` - task and policy: ``policy, task_id, device, arrival_s, start_s``
  (first subtask may start), ``finish_s, latency_s`` (finish - arrival, NaN if
  unfinished), ``decision_s`` (arrival to start: request, queueing for an edge
  core, deciding, reply), ``placement`` (one digit per subtask in topological
  order: 0 device, 1 edge, 2 cloud), ``energy_j`` (device energy), ``app``
  (the task's application; ``default`` for the single ``task:`` form), ``deadline_s``
  (relative to arrival; ``inf``: none), ``site`` (edge site the device was
  associated with at arrival; one edge: 0), ``reason`` (why a task was
  ``failed`` or ``dropped``; empty otherwise), ``status``: ``done`` (finished by
  its deadline), ``missed`` (finished after it), ``dropped`` (abandoned at its
  deadline, ``execution.on_deadline: drop``), ``failed`` (lost, e.g. on a
  handover; see ``reason``), ``unfinished`` (still running at the horizon).
  When the workload has task variants, three more columns follow: ``variant``
  (the index run, -1 if never decided), ``accuracy`` (its accuracy, a
  fraction) and ``accuracy_req`` (the task's requirement, 0 = none); without
  variants the table is unchanged.
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
import shutil
import tempfile
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UserError
from .engine import LINK_FIELDS, SUBTASK_FIELDS, TASK_FIELDS

log = logging.getLogger(__name__)

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
    fields = max((run.task_fields for run in result.runs), key=len, default=TASK_FIELDS)
    tasks = pd.DataFrame([r for run in result.runs for r in run.tasks], columns=list(fields))
    subtasks = pd.DataFrame([r for run in result.runs for r in run.subtasks], columns=list(SUBTASK_FIELDS))
    links = pd.DataFrame(result.link_rows() + [r for run in result.runs for r in run.links], columns=list(LINK_FIELDS))
    task_ints = ("task_id", "device", "site") + (("variant",) if "variant" in tasks else ())
    for df, ints in ((tasks, task_ints), (subtasks, ("task_id", "subtask", "place")), (links, ("task_id",))):
        for c in ints:
            df[c] = df[c].astype("int64")
    order = [run.policy for run in result.runs]
    summary = summarize(tasks, order)
    # wall-clock timings differ from run to run: they go to meta.json, never into a table, so the
    # same scenario and seed give byte-identical tables
    timing = {}
    for run in result.runs:
        calls = getattr(run, "decisions", 0)
        timing[run.policy] = {"prepare_s": getattr(result, "prepare_s", {}).get(run.policy), "run_s": run.wall_s,
                              "decide_calls": calls,
                              "decide_mean_s": getattr(run, "decide_wall_s", 0.0) / calls if calls else None}
    meta = {"seed": result.world.seed, "scenario": result.world.scenario.name, "policies": order,
            "failed": dict(getattr(result, "failed", {})), "interrupted": bool(getattr(result, "interrupted", False)),
            "wall_clock": timing}
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

    With task variants (an ``accuracy`` column in ``tasks``) two more columns:
    ``mean_accuracy`` (over completed tasks, a fraction) and ``below_req``
    (share of completed tasks whose variant's accuracy is below their
    requirement).
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
        if "accuracy" in t:
            rows[-1]["mean_accuracy"] = float(done["accuracy"].mean()) if len(done) else np.nan
            rows[-1]["below_req"] = float((done["accuracy"] < done["accuracy_req"]).mean()) if len(done) else np.nan
    s = pd.DataFrame(rows)
    for col in ("mean_latency_s", "p50_latency_s", "p95_latency_s", "p99_latency_s", "mean_energy_j"):
        best = s[col].min()
        s[col.removesuffix("_s").removesuffix("_j") + "_norm"] = s[col] / best if best and best > 0 else np.nan
    return s


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, writer: Any) -> None:
    """Write ``path`` through a temporary file in its directory and rename it into place.

    The file gets the permissions an ordinary ``open`` would give (0666 minus the
    umask), not the 0600 of the temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
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


# ----------------------------------------------------------------------------- result directories

#: what a result directory may hold for it to be replaced as a whole by a new run
_RUN_SUFFIXES = {".parquet", ".csv", ".json", ".yaml", ".png", ".md", ".pdf", ".svg"}


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange)
    return rc == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StagedDirectory:
    """A result directory written in a fresh hidden sibling and moved into place when complete.

    ``StagedDirectory(out)`` checks the destination and creates the staging
    directory ``.<name>.partial-<pid>-<random>`` beside it at once, so an
    unwritable ``--out`` fails before any work. Write everything into
    :attr:`path`, then :meth:`commit`: the staging directory takes the
    destination's name (swapping atomically with an earlier run where the
    filesystem allows, else by two renames); the earlier run is removed only
    after the new one is in place. :meth:`discard` (or leaving a ``with`` block
    by an exception, including Ctrl-C) removes the staging directory, leaving any
    earlier run untouched. Two runs' files are never mixed.

    An existing destination must be empty or an earlier result directory (it
    holds ``marker`` and only result files); anything else is refused rather
    than deleted.

    Raises:
        UserError: empty path, a destination that is a file or holds other
            files, or a parent that cannot be created or written.
    """

    def __init__(self, out: str | Path, what: str = "--out", marker: str = "meta.json"):
        if str(out).strip() == "":
            raise UserError(f"{what}: empty path (give a directory name)")
        self.out = Path(out)
        self.what = what
        self.committed = False
        self.marker = marker
        self._check(marker)
        self._made: list[Path] = []
        parent = self.out.absolute().parent
        try:
            missing = []
            p = parent
            while not p.exists():
                missing.append(p)
                p = p.parent
            for d in reversed(missing):
                d.mkdir()
                self._made.append(d)
            self._remove_abandoned(parent)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.partial-{os.getpid()}-", dir=parent))
            os.chmod(self.path, 0o777 & ~current_umask())
        except OSError as exc:
            self._remove_made()
            raise UserError(f"{what} {self.out}: cannot write there ({exc.strerror or exc})") from None

    def _check(self, marker: str) -> None:
        out = self.out
        if out.is_symlink():
            raise UserError(f"{self.what} {out}: is a symbolic link (give the directory it points to)")
        if out.exists() and not out.is_dir():
            raise UserError(f"{self.what} {out}: exists and is not a directory")
        if out.is_dir():
            try:
                entries = list(out.iterdir())
            except OSError as exc:
                raise UserError(f"{self.what} {out}: cannot read the directory ({exc.strerror or exc})") from None
            if not entries:
                return
            names = {e.name for e in entries}
            odd = sorted(e.name for e in entries if not e.is_file() or e.suffix not in _RUN_SUFFIXES)
            if marker not in names or odd:
                why = f"it holds {odd[0]!r}" if odd else f"no {marker}"
                raise UserError(f"{self.what} {out}: exists and is not a simoffload result directory ({why}); "
                                f"give a new or empty directory (a result directory is replaced as a whole)")

    def _remove_abandoned(self, parent: Path) -> None:
        """Remove staging directories of earlier runs into this destination whose process is gone (SIGKILL)."""
        for kind in ("partial", "old"):
            prefix = f".{self.out.name}.{kind}-"
            for d in parent.glob(f"{glob_escape(prefix)}*"):
                pid = d.name[len(prefix):].split("-", 1)[0]
                if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
                    continue
                log.info("removing %s, left by process %s that no longer runs", d, pid)
                shutil.rmtree(d, ignore_errors=True)

    def _remove_made(self) -> None:
        for d in reversed(self._made):
            try:
                d.rmdir()
            except OSError:
                break
        self._made = []

    def commit(self) -> Path:
        """Move the staging directory into place (replacing an earlier run); returns the destination."""
        out, stage = self.out, self.path
        try:
            self._check(self.marker)  # what was checked at the start may have changed since
        except UserError as exc:
            self.committed = True  # keep the finished run where it is
            raise UserError(f"{exc}; the new run is kept in {stage}") from None
        if out.is_dir() and not out.is_symlink():
            if _rename_exchange(stage, out):
                shutil.rmtree(stage, ignore_errors=True)  # now holds the earlier run
            else:
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=stage.parent))
                os.replace(out, old / "run")
                os.replace(stage, out)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out)
        self.committed = True
        return out

    def discard(self) -> None:
        """Remove the staging directory (no-op after :meth:`commit`)."""
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)
            self._remove_made()
            self.committed = True

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None and not self.committed:
            self.commit()
        else:
            self.discard()


def write_tables(res: Results, out: Path, fmt: str = "parquet", scenario_yaml: str | None = None) -> None:
    """Write the tables and the effective scenario into ``out`` (no ``meta.json``: see :func:`write_meta`)."""
    out = Path(out)
    suffix = ".csv" if fmt == "csv" else ".parquet"
    for name in TABLES:
        write_table(getattr(res, name), out / f"{name}{suffix}")
    if res.sites is not None:
        write_table(res.sites, out / f"sites{suffix}")
    if scenario_yaml is not None:
        _atomic_write(out / "scenario.yaml", lambda p: Path(p).write_text(scenario_yaml, encoding="utf-8"))


def write_meta(res: Results, out: Path, fmt: str = "parquet") -> None:
    """Write ``meta.json``, last: its presence marks a complete run."""
    meta = dict(res.meta, format=fmt)
    _atomic_write(Path(out) / "meta.json",
                  lambda p: Path(p).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8"))


def write_results(res: Results, out: Path, fmt: str = "parquet", scenario_yaml: str | None = None) -> None:
    """Write a complete result directory: tables, the effective scenario, ``meta.json`` last.

    The files are written into a hidden sibling directory that replaces ``out``
    as a whole when complete (:class:`StagedDirectory`): an interrupted write
    leaves ``out`` as it was, and files of two runs are never mixed.
    """
    with StagedDirectory(out) as stage:
        write_tables(res, stage, fmt, scenario_yaml)
        write_meta(res, stage, fmt)


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
