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

Streaming (docs/scale.md): records are kept in typed columnar chunks
(:mod:`simoffload.sim.records`, 65,536 rows each). ``simoffload run`` writes
each full chunk as a Parquet row group (or CSV block) into the run's hidden
staging directory while the run goes; the directory is moved into place only
when complete. Columns, dtypes, meanings and row order are those of the
in-memory tables (tasks in arrival order per policy: a task's row is emitted
once it and every earlier task have left the system). Tables that never fill
a chunk are written in one piece exactly as before (same bytes). The summary
of a streamed tasks table is computed from its file in a few passes
(:func:`summarize_file`): counts exact, means with numpy's pairwise summation
replayed, percentiles from exact order statistics, so it equals
:func:`summarize` bit for bit without holding a per-task array.
:func:`load_results` returns the same DataFrames either way; ``lazy=True``
returns :mod:`pyarrow.dataset` views of the tables for big runs.
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
from .deadlines import deadline_miss
from .engine import LINK_FIELDS, SUBTASK_FIELDS, TASK_FIELDS

log = logging.getLogger(__name__)

TABLES = ("tasks", "subtasks", "links", "summary")


@dataclass
class Results:
    """A run's tables as pandas DataFrames.

    A table that streamed into the run directory while the run went
    (``simoffload run``: :class:`~simoffload.sim.records.RunSink`) is ``None``
    here and named in :attr:`streamed`; :func:`load_results` reads it back.
    """

    tasks: pd.DataFrame | None
    subtasks: pd.DataFrame | None
    links: pd.DataFrame | None
    summary: pd.DataFrame
    meta: dict[str, Any]
    sites: pd.DataFrame | None = None
    streamed: tuple = ()

    def __repr__(self) -> str:
        n = lambda df: "streamed" if df is None else len(df)  # noqa: E731
        return (f"Results(tasks={n(self.tasks)}, subtasks={n(self.subtasks)}, "
                f"links={n(self.links)}, policies={list(self.summary['policy'])})")


def _frame(buffers: list[Any], fields: tuple, head: list[tuple] | None = None) -> pd.DataFrame:
    """One table from the record buffers of every policy (and leading rows ``head``).

    Rows that never left their tuple lists build the DataFrame exactly as before
    streaming existed; otherwise the typed chunks are concatenated.
    """
    head = head or []
    if not any(b.spilled for b in buffers):
        return pd.DataFrame(head + [r for b in buffers for r in b.tuples()], columns=list(fields))
    import pyarrow as pa

    from .records import schema, to_batch

    sch = schema(fields)
    batches = [to_batch(fields, head, sch)] if head else []
    for b in buffers:
        batches += [c.cast(sch) if c.schema != sch else c for c in b.chunks]
        if b.rows:
            batches.append(b.pending_batch(sch) if tuple(b.fields) == tuple(fields) else
                           to_batch(fields, b.tuples(), sch))
    return pa.Table.from_batches(batches, schema=sch).to_pandas()


def tables_from(result: Any) -> Results:
    """Turn a :class:`~simoffload.sim.scenario.RunResult` into DataFrames.

    Tables that streamed into a directory (``result.sink``) are completed and
    closed there instead, and left ``None``; the summary of a streamed tasks
    table is computed from its file (:func:`summarize_file`, equal to
    :func:`summarize` bit for bit).
    """
    sink = getattr(result, "sink", None)
    streamed = tuple(name for name in ("tasks", "subtasks", "links") if sink is not None and sink.streamed(name))
    fields = max((run.task_fields for run in result.runs), key=len, default=TASK_FIELDS)
    frames: dict[str, pd.DataFrame | None] = dict.fromkeys(("tasks", "subtasks", "links"))
    if "tasks" not in streamed:
        frames["tasks"] = _frame([run.tasks for run in result.runs], fields)
    if "subtasks" not in streamed:
        frames["subtasks"] = _frame([run.subtasks for run in result.runs], SUBTASK_FIELDS)
    if "links" not in streamed:
        frames["links"] = _frame([run.links for run in result.runs], LINK_FIELDS, result.link_rows())
    elif sink.bandwidth_written and result.runs and max(r.end_s for r in result.runs) != result.world.system.horizon_s:
        raise RuntimeError("streamed links table: the run did not end at the horizon, its bandwidth rows are wrong")
    tasks, subtasks, links = frames["tasks"], frames["subtasks"], frames["links"]
    task_ints = ("task_id", "device", "site") + (("variant",) if "variant" in fields else ())
    for df, ints in ((tasks, task_ints), (subtasks, ("task_id", "subtask", "place")), (links, ("task_id",))):
        if df is None:
            continue
        for c in ints:
            df[c] = df[c].astype("int64")
    order = [run.policy for run in result.runs]
    if sink is not None:
        sink.close()
    horizon = result.world.system.horizon_s
    if tasks is None:
        summary = summarize_file(sink.files["tasks"].path, order, "accuracy" in fields, horizon)
    else:
        summary = summarize(tasks, order, horizon)
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
        n = sites["tasks"].where(sites["tasks"] > 0)
        sites["miss_rate"] = sites["deadline_misses"] / n  # deadlines.is_deadline_miss, as in the summary
        sites["failure_rate"] = sites["failed"] / n
        sites["unfinished_frac"] = sites["unfinished"] / n
    return Results(tasks, subtasks, links, summary, meta, sites, streamed)


FINISHED = ("done", "missed")  # statuses of tasks that finished (on time or late)


def deadline_flags(tasks: pd.DataFrame, horizon_s: float | None) -> pd.DataFrame:
    """Per task: ``finished``, ``miss`` (:func:`~simoffload.sim.deadlines.deadline_miss`, the one
    definition of a deadline miss), ``failed`` and ``unfinished``, booleans on ``tasks``' index.

    Args:
        tasks: rows of the tasks table (``status``, ``arrival_s``, ``deadline_s``).
        horizon_s: the simulated horizon; None counts no unfinished task as a miss.
    """
    st = tasks["status"]
    miss = deadline_miss(st.to_numpy(), tasks["arrival_s"].to_numpy(), tasks["deadline_s"].to_numpy(), horizon_s)
    return pd.DataFrame({"finished": st.isin(FINISHED).to_numpy(), "miss": miss,
                         "failed": st.eq("failed").to_numpy(), "unfinished": st.eq("unfinished").to_numpy()},
                        index=tasks.index)


def deadline_rates(tasks: pd.DataFrame, horizon_s: float | None, by: list[str]) -> pd.DataFrame:
    """Counts and rates of :func:`deadline_flags` per group ``by``.

    Returns:
        One row per group: ``tasks, deadline_misses, failed, unfinished, miss_rate, failure_rate,
        unfinished_frac`` (rates over all the group's tasks).
    """
    f = deadline_flags(tasks, horizon_s)
    g = pd.concat([tasks[by], f[["miss", "failed", "unfinished"]].astype("int64")], axis=1).groupby(by, sort=False)
    out = g.agg(tasks=("miss", "size"), deadline_misses=("miss", "sum"), failed=("failed", "sum"),
                unfinished=("unfinished", "sum")).reset_index()
    n = out["tasks"].where(out["tasks"] > 0)
    out["miss_rate"] = out["deadline_misses"] / n
    out["failure_rate"] = out["failed"] / n
    out["unfinished_frac"] = out["unfinished"] / n
    return out


def summarize(tasks: pd.DataFrame, order: list[str] | None = None, horizon_s: float | None = None) -> pd.DataFrame:
    """One row per policy.

    Latency statistics are over completed tasks only (``done`` and ``missed``:
    both finished); ``unfinished``, ``dropped`` and ``failed`` count the rest (a
    policy that leaves work unfinished looks better on latency than it is, so
    read them together). ``miss_rate`` is the fraction of all tasks that
    missed their deadline as :mod:`simoffload.sim.deadlines` defines it (finished
    late, dropped, or unfinished at ``horizon_s`` after the deadline had passed);
    ``failure_rate`` the fraction that failed. ``*_norm`` columns divide by the best policy's value
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
        timing = (t["arrival_s"].to_numpy(), t["deadline_s"].to_numpy()) if horizon_s is not None else (None, None)
        n_miss = int(deadline_miss(status.to_numpy(), *timing, horizon_s).sum())
        rows.append({
            "policy": pol, "tasks": len(t), "completed": len(done), "unfinished": int((status == "unfinished").sum()),
            "mean_latency_s": float(lat.mean()) if len(lat) else np.nan,
            "p50_latency_s": q[0], "p95_latency_s": q[1], "p99_latency_s": q[2],
            "mean_decision_s": float(done["decision_s"].mean()) if len(done) else np.nan,
            "mean_energy_j": float(done["energy_j"].mean()) if len(done) else np.nan,
            "missed": n_missed, "dropped": n_dropped, "failed": n_failed,
            "miss_rate": n_miss / len(t) if len(t) else np.nan,
            "failure_rate": n_failed / len(t) if len(t) else np.nan,
        })
        if "accuracy" in t:
            rows[-1]["mean_accuracy"] = float(done["accuracy"].mean()) if len(done) else np.nan
            rows[-1]["below_req"] = float((done["accuracy"] < done["accuracy_req"]).mean()) if len(done) else np.nan
    return _normalised(rows)


def _normalised(rows: list[dict]) -> pd.DataFrame:
    s = pd.DataFrame(rows)
    for col in ("mean_latency_s", "p50_latency_s", "p95_latency_s", "p99_latency_s", "mean_energy_j"):
        best = s[col].min()
        s[col.removesuffix("_s").removesuffix("_j") + "_norm"] = s[col] / best if best and best > 0 else np.nan
    return s


def _task_chunks(path: Path, columns: list[str]) -> Any:
    """The columns of a written tasks table, one chunk (row group / CSV block) at a time, as numpy arrays."""
    path = Path(path)
    if path.suffix == ".csv":
        for df in pd.read_csv(path, usecols=columns, chunksize=1 << 16, keep_default_na=True,
                              dtype={c: str for c in ("policy", "status") if c in columns}):
            yield {c: df[c].to_numpy() for c in columns}
        return
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    for i in range(pf.num_row_groups):
        t = pf.read_row_group(i, columns=columns)
        yield {c: t.column(c).to_numpy() for c in columns}


def summarize_file(path: str | Path, order: list[str], accuracy: bool = False,
                   horizon_s: float | None = None) -> pd.DataFrame:
    """:func:`summarize` of a tasks table written to ``path``, read in chunks, never whole.

    Equal to ``summarize(load(path), order, horizon_s)`` bit for bit: counts are exact;
    means replay numpy's pairwise summation (:class:`~simoffload.sim.records.PairwiseSum`);
    percentiles come from exact order statistics
    (:func:`~simoffload.sim.records.percentiles`). Memory: one chunk plus a few
    histograms per policy, whatever the number of tasks; the file is read a few
    times (one pass for the counts and sums, up to five for the percentiles).
    """
    from .records import PairwiseSum, percentiles

    cols = (["policy", "status"] + (["arrival_s", "deadline_s"] if horizon_s is not None else [])
            + (["accuracy", "accuracy_req"] if accuracy else []))
    stats: dict[str, dict[str, int]] = {p: dict.fromkeys(("tasks", "completed", "unfinished", "missed", "dropped",
                                                           "failed", "below", "miss"), 0) for p in order}
    def policies_in(pol: np.ndarray) -> list:
        if not len(pol):
            return []
        return [pol[0]] if (pol == pol[0]).all() else list(dict.fromkeys(pol.tolist()))

    for c in _task_chunks(path, cols):
        pol, status = c["policy"], c["status"]
        for p in policies_in(pol):
            if p not in stats:
                continue
            mine = pol == p
            st = status[mine]
            d = stats[p]
            d["tasks"] += int(mine.sum())
            done = (st == "done") | (st == "missed")
            d["completed"] += int(done.sum())
            for k in ("unfinished", "missed", "dropped", "failed"):
                d[k] += int((st == k).sum())
            timing = (c["arrival_s"][mine], c["deadline_s"][mine]) if horizon_s is not None else (None, None)
            d["miss"] += int(deadline_miss(st, *timing, horizon_s).sum())
            if accuracy:
                d["below"] += int((c["accuracy"][mine][done] < c["accuracy_req"][mine][done]).sum())

    def done_values(p: str, col: str) -> Any:
        def gen() -> Any:
            for c in _task_chunks(path, ["policy", "status", col]):
                st = c["status"]
                sel = (c["policy"] == p) & ((st == "done") | (st == "missed"))
                if sel.any():
                    yield np.asarray(c[col][sel], dtype=np.float64)
        return gen

    mean_cols = ("latency_s", "decision_s", "energy_j") + (("accuracy",) if accuracy else ())
    adders = {p: {col: PairwiseSum(stats[p]["completed"]) for col in mean_cols} for p in order}
    for c in _task_chunks(path, ["policy", "status", *mean_cols]):
        st = c["status"]
        done = (st == "done") | (st == "missed")
        for p in policies_in(c["policy"]):
            if p not in adders:
                continue
            sel = done & (c["policy"] == p)
            if sel.any():
                for col in mean_cols:
                    adders[p][col].add(np.asarray(c[col][sel], dtype=np.float64))
    rows = []
    for p in order:
        d = stats[p]
        n, k = d["tasks"], d["completed"]
        sums = {col: adders[p][col].total() / k if k else np.nan for col in mean_cols}
        q = percentiles(done_values(p, "latency_s"), k, [50, 95, 99]) if k else [np.nan] * 3
        rows.append({
            "policy": p, "tasks": n, "completed": k, "unfinished": d["unfinished"],
            "mean_latency_s": float(sums["latency_s"]) if k else np.nan,
            "p50_latency_s": np.float64(q[0]), "p95_latency_s": np.float64(q[1]), "p99_latency_s": np.float64(q[2]),
            "mean_decision_s": float(sums["decision_s"]) if k else np.nan,
            "mean_energy_j": float(sums["energy_j"]) if k else np.nan,
            "missed": d["missed"], "dropped": d["dropped"], "failed": d["failed"],
            "miss_rate": d["miss"] / n if n else np.nan,
            "failure_rate": d["failed"] / n if n else np.nan,
        })
        if accuracy:
            rows[-1]["mean_accuracy"] = float(sums["accuracy"]) if k else np.nan
            rows[-1]["below_req"] = float(d["below"] / k) if k else np.nan
    return _normalised(rows)


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
        if name in res.streamed:  # already written there while the run went
            continue
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


#: a streamed run with more task rows than this draws no plots (they would load the tables)
PLOT_ROWS = 2_000_000


def plottable(res: Results, directory: str | Path) -> Results | None:
    """``res`` with the columns the run plots need, read back for streamed tables; None if too big.

    In-memory tables are used as they are.
    """
    if not res.streamed:
        return res
    d = Path(directory)
    suffix = ".csv" if (d / "tasks.csv").exists() or (d / "links.csv").exists() else ".parquet"
    out = Results(res.tasks, res.subtasks, res.links, res.summary, res.meta, res.sites)
    if "tasks" in res.streamed:
        if int(res.summary["tasks"].sum()) > PLOT_ROWS:
            return None
        out.tasks = _read_table(d / f"tasks{suffix}")
    if "links" in res.streamed:
        if suffix == ".csv":
            links = pd.concat([c[c["kind"] == "bandwidth"] for c in pd.read_csv(d / "links.csv", chunksize=1 << 16)])
        else:
            links = pd.read_parquet(d / "links.parquet", filters=[("kind", "==", "bandwidth")])
        out.links = links
    return out


def _read_table(p: Path) -> pd.DataFrame:
    if p.suffix == ".csv":
        df = pd.read_csv(p, dtype={"placement": str}, keep_default_na=True)
        if "placement" in df:
            df["placement"] = df["placement"].fillna("")
        return df
    return pd.read_parquet(p)


def load_results(directory: str | Path, lazy: bool = False) -> Results:
    """Load the tables a ``simoffload run`` wrote.

    Args:
        directory: the run directory.
        lazy: return ``tasks``, ``subtasks`` and ``links`` as :class:`pyarrow.dataset.Dataset`
            views (filter and project before loading: ``res.tasks.to_table(columns=[...],
            filter=pyarrow.dataset.field("policy") == "edge")``) instead of DataFrames.
    """
    d = Path(directory)
    meta_path = d / "meta.json"
    if not meta_path.exists():
        raise UserError(f"{d}: not a complete simoffload result directory (no meta.json)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("interrupted"):
        logging.getLogger(__name__).warning("%s: the run was interrupted; only policies %s finished", d, meta["policies"])
    suffix = ".csv" if meta.get("format") == "csv" else ".parquet"
    frames = {}
    if lazy:
        import pyarrow.dataset as ds

        fmt = "csv" if suffix == ".csv" else "parquet"
        for name in ("tasks", "subtasks", "links"):
            frames[name] = ds.dataset(d / f"{name}{suffix}", format=fmt)
        frames["summary"] = _read_table(d / f"summary{suffix}")
        p = d / f"sites{suffix}"
        if p.exists():
            frames["sites"] = _read_table(p)
        return Results(meta=meta, **frames)
    for name in TABLES:
        p = d / f"{name}{suffix}"
        frames[name] = pd.read_csv(p, dtype={"placement": str}, keep_default_na=True) if suffix == ".csv" else pd.read_parquet(p)
    p = d / f"sites{suffix}"
    if p.exists():
        frames["sites"] = pd.read_csv(p) if suffix == ".csv" else pd.read_parquet(p)
    if suffix == ".csv":
        frames["tasks"]["placement"] = frames["tasks"]["placement"].fillna("")
    return Results(meta=meta, **frames)
