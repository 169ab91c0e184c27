"""Parameter sweeps: a ``sweep:`` section in a scenario, run locally (joblib) or on Dask.

Format (full reference in ``docs/sweeps.md``)::

    sweep:
      grid:                       # Cartesian product of the lists
        devices.count: [5, 10, 20]
        edge.cores: [1, 4]
      zip:                        # lists of equal length, advanced together
        network.wireless.up.gauss_markov.std: ["0.1 MB/s", "0.5 MB/s"]
        decision.estimator: [oracle, last]
      replicates: 3               # seeds: scenario seed + 0, 1, 2
      quick:                      # used by --quick only
        set: {horizon: 60 s}
        replicates: 1
        max_values: 2

A point is one combination of values (grid x zip); each point is run once per
replicate with seed ``scenario.seed + r``. Replicate seeds are outside the grid,
so every point of replicate ``r`` sees the same random streams (common random
numbers, the Mesa ``batch_run`` habit), and every policy of one run sees the same
workload and bandwidth. A dotted path addresses any scenario field; a path that
does not exist is a one-line :class:`~simoffload.errors.UserError` naming it.
Values are validated when the point runs: a bad value fails that point only, and
its error names the sweep file's line of the swept value (as ``simoffload validate``,
which checks every point beforehand, does).

Layout of the output directory::

    DIR/points/<id>.parquet           tasks of one point x replicate (+ swept columns, replicate, seed, point)
    DIR/points/<id>.inputs.json       what it was computed from: simoffload version, sha256 of every input file
    DIR/points/<id>.summary.parquet   its per-policy summary (written first; the tasks file marks completion)
    DIR/failed/<id>.json              error of a failed point (removed when it later succeeds)
    DIR/tasks.parquet, DIR/summary.parquet, DIR/sweep.json   combined, written after all points

``<id>`` is a hash of the point's effective scenario and seed. A rerun skips a
finished point only if its ``inputs.json`` still matches: the simoffload version
and the contents of every file the point reads (traces, model weights, policy
source files; see :mod:`simoffload.sim.provenance`). A changed scenario gets a
new id; a changed input file reruns the point and says so.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import itertools
import json
import logging
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import UserError

log = logging.getLogger(__name__)

_SWEEP_KEYS = {"grid", "zip", "replicates", "quick"}
_QUICK_KEYS = {"set", "replicates", "max_values"}


# ----------------------------------------------------------------------------- the sweep section


@dataclass
class SweepSpec:
    """A validated ``sweep:`` section.

    Attributes:
        grid: dotted path -> list of values (Cartesian product).
        zip: dotted path -> list of values, all of one length (advanced together).
        replicates: seeds per point (seed = scenario seed + replicate index).
        quick_set: dotted path -> value applied to every point in quick mode.
        quick_replicates: replicates in quick mode.
        quick_max_values: in quick mode, each grid/zip axis keeps at most this many values
            (evenly spaced, first and last kept).
    """

    grid: dict[str, list] = field(default_factory=dict)
    zip: dict[str, list] = field(default_factory=dict)
    replicates: int = 1
    quick_set: dict[str, Any] = field(default_factory=dict)
    quick_replicates: int = 1
    quick_max_values: int = 3

    @property
    def params(self) -> list[str]:
        """Swept dotted paths, grid first, in file order."""
        return list(self.grid) + list(self.zip)

    def points(self, quick: bool = False) -> list[dict[str, Any]]:
        """Every combination of values, grid-major then zip, as {path: value}."""
        grid, zipped = self.grid, self.zip
        if quick:
            grid = {k: _thin(v, self.quick_max_values) for k, v in grid.items()}
            zipped = {k: _thin(v, self.quick_max_values) for k, v in zipped.items()}
        zn = len(next(iter(zipped.values()))) if zipped else 1
        zrows = [{k: v[i] for k, v in zipped.items()} for i in range(zn)]
        out = []
        for combo in itertools.product(*grid.values()):
            g = dict(zip(grid.keys(), combo))
            for z in zrows:
                out.append({**g, **z})
        return out


def _thin(values: list, k: int) -> list:
    if len(values) <= k:
        return list(values)
    if k == 1:
        return [values[0]]
    idx = sorted({round(i * (len(values) - 1) / (k - 1)) for i in range(k)})
    return [values[i] for i in idx]


def _check_axes(section: Any, where: str) -> dict[str, list]:
    if section is None:
        return {}
    from ..yamlio import shorten

    if not isinstance(section, dict):
        raise UserError(f"{where}: expected a mapping of dotted.path: [values...] (got {shorten(section)})")
    out = {}
    for k, v in section.items():
        if not isinstance(k, str) or not k:
            raise UserError(f"{where}: keys are dotted scenario paths (got {shorten(k)})")
        if not isinstance(v, list) or not v:
            raise UserError(f"{where}.{k}: expected a non-empty list of values (got {shorten(v)})")
        out[k] = v
    return out


def parse_sweep(section: Any, base: dict[str, Any], where: str = "sweep") -> SweepSpec:
    """Validate a ``sweep:`` mapping against the scenario it belongs to.

    Args:
        section: the mapping under ``sweep:``.
        base: the scenario as a plain dict with defaults filled in (used to check paths).
        where: location for error messages (``file: sweep``).

    Raises:
        UserError: one line naming the bad key, path or value.
    """
    if section is None:
        raise UserError(f"{where}: the scenario has no sweep section (add sweep: {{grid: {{path: [values]}}}})")
    if not isinstance(section, dict):
        from ..yamlio import shorten

        raise UserError(f"{where}: expected a mapping with grid, zip, replicates (got {shorten(section)})")
    extra = set(section) - _SWEEP_KEYS
    if extra:
        raise UserError(f"{where}.{sorted(extra)[0]}: unknown sweep key (expected {', '.join(sorted(_SWEEP_KEYS))})")
    grid = _check_axes(section.get("grid"), f"{where}.grid")
    zipped = _check_axes(section.get("zip"), f"{where}.zip")
    if not grid and not zipped:
        raise UserError(f"{where}: give at least one of grid and zip")
    both = set(grid) & set(zipped)
    if both:
        raise UserError(f"{where}.zip.{sorted(both)[0]}: already swept in grid")
    lens = {k: len(v) for k, v in zipped.items()}
    if len(set(lens.values())) > 1:
        raise UserError(f"{where}.zip: lists must have equal lengths (got {str(lens)[:100]})")
    reps = _pos_int(section.get("replicates", 1), f"{where}.replicates")
    from ..limits import current, exceeded

    n_points = math.prod(len(v) for v in grid.values()) * (next(iter(lens.values())) if lens else 1)
    msg = exceeded("sweep_runs", f"sweep runs ({n_points:,} points x {reps:,} replicates)", n_points * reps,
                   current(base.get("limits") or None))
    if msg:
        raise UserError(f"{where}.{'replicates' if 'replicates' in section else 'grid' if grid else 'zip'}: {msg}")
    quick = section.get("quick") or {}
    if not isinstance(quick, dict):
        raise UserError(f"{where}.quick: expected a mapping with set, replicates, max_values (got {str(quick)[:100]})")
    extra = set(quick) - _QUICK_KEYS
    if extra:
        raise UserError(f"{where}.quick.{sorted(extra)[0]}: unknown key (expected {', '.join(sorted(_QUICK_KEYS))})")
    qset = quick.get("set") or {}
    if not isinstance(qset, dict):
        raise UserError(f"{where}.quick.set: expected a mapping of dotted.path: value (got {str(qset)[:100]})")
    for axis, paths in (("grid", grid), ("zip", zipped), ("quick.set", qset)):
        for path in paths:
            if path.split(".")[0] == "sweep":
                raise UserError(f"{where}.{axis}.{path}: cannot sweep the sweep section itself")
            set_path(copy.deepcopy(base), path, None, f"{where}.{axis}.{path}")  # checks the path exists
    return SweepSpec(grid, zipped, reps, dict(qset), _pos_int(quick.get("replicates", 1), f"{where}.quick.replicates"),
                     _pos_int(quick.get("max_values", 3), f"{where}.quick.max_values"))


def _pos_int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        from ..yamlio import shorten

        raise UserError(f"{where}: expected an integer >= 1 (got {shorten(v)})")
    return v


def set_path(data: dict[str, Any], path: str, value: Any, where: str = "sweep") -> None:
    """Set ``data[a][b][c] = value`` for ``path = "a.b.c"`` (list items by index: ``policies.0.params.x``).

    An optional section that is unset (``None``) is created as an empty mapping.

    Raises:
        UserError: the path names a field the scenario does not have.
    """
    keys = path.split(".")
    node: Any = data
    for i, key in enumerate(keys):
        here = ".".join(keys[: i + 1])
        last = i == len(keys) - 1
        if isinstance(node, list):
            try:
                j = int(key)
                node[j]  # noqa: B018 - index check
            except (ValueError, IndexError):
                raise UserError(f"{where}: unknown scenario field {path!r} ({here}: no item {key!r})") from None
            if last:
                node[j] = value
            else:
                if node[j] is None:
                    node[j] = {}
                node = node[j]
            continue
        if not isinstance(node, dict):
            raise UserError(f"{where}: unknown scenario field {path!r} ({'.'.join(keys[:i])} is a value, not a section)")
        if key not in node:
            known = ", ".join(sorted(map(str, node))) if node else "none"
            raise UserError(f"{where}: unknown scenario field {path!r} (no {key!r} in "
                            f"{'.'.join(keys[:i]) or 'the scenario'}; known: {known})")
        if last:
            node[key] = value
        else:
            if node[key] is None:
                node[key] = {}
            node = node[key]


# ----------------------------------------------------------------------------- planning


@dataclass
class Plan:
    """Every point x replicate of one sweep, ready to run."""

    file: str
    base_dir: str
    params: list[str]
    jobs: list[dict[str, Any]]  # payloads for _run_point
    policies: list[str]
    quick: bool
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> provenance record


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, sort_keys=True, default=str))


def plan_sweep(path: Any, quick: bool = False, replicates: int | None = None) -> Plan:
    """Load a scenario with a ``sweep:`` section (a file, or a :class:`~simoffload.config.Scenario`) and list every point x replicate.

    ``replicates`` overrides the file's count (studies that add replicates until their CIs are tight).
    """
    from ..config import Scenario, load_scenario, scenario_dict, sweep_value_locations
    from ..sim.provenance import provenance

    if isinstance(path, Scenario):
        sc, path = path, f"<scenario {path.name}>"
    else:
        sc = load_scenario(path)
    base = scenario_dict(sc)
    # policies given as Python objects travel to the workers by class (rebuilt from their parameters)
    classes = {p.name: type(p.instance) for p in sc.policies if p.instance is not None}
    section = base.pop("sweep")
    spec = parse_sweep(section, base, f"{path}: sweep")
    # sweep points keep the tasks table and summary only; the per-event records are not collected
    base["output"]["record"] = {"subtasks": False, "links": False, "queues": False}
    if quick:
        for k, v in spec.quick_set.items():
            set_path(base, k, v, f"{path}: sweep.quick.set")
    reps = spec.quick_replicates if quick else spec.replicates
    if replicates is not None:
        if replicates < 1:
            raise UserError(f"replicates must be >= 1, got {replicates}")
        reps = replicates
    jobs = []
    inputs: dict[str, dict[str, Any]] = {}
    hashes: dict[str, str] = {}  # each file hashed once per plan
    for idx, point in enumerate(spec.points(quick)):
        data = copy.deepcopy(base)
        for k, v in point.items():
            set_path(data, k, copy.deepcopy(v), f"{path}: sweep")
        record = provenance(data, base_dir=sc.base_dir, cache=hashes)
        where = sweep_value_locations(sc, spec, point)  # a failing point names its swept values' lines
        for r in range(reps):
            seed = sc.seed + r
            key = json.dumps({"scenario": data, "seed": seed}, sort_keys=True, default=str)
            pid = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
            jobs.append({"id": pid, "index": idx, "replicate": r, "seed": seed, "params": _jsonable(point),
                         "scenario": data, "base_dir": str(sc.base_dir), "file": str(path), "classes": classes,
                         "where": where})
            inputs[pid] = record
    return Plan(str(path), str(sc.base_dir), spec.params, jobs, [p.display for p in sc.policies], quick, inputs)


def _column_value(v: Any) -> Any:
    """A swept value as a table cell: scalars as they are, anything else as compact JSON."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return json.dumps(v, sort_keys=True)


def _run_point(job: dict[str, Any]) -> dict[str, Any]:
    """Run one point x replicate (all policies); never raises: errors come back as data."""
    from ..config import parse_scenario
    from ..sim.results import tables_from
    from ..sim.scenario import run_scenario

    from ..registry import _CLASSES

    _CLASSES.update(job.get("classes") or {})
    t0 = time.perf_counter()
    label = f"{job['file']} [sweep point {job['id']}]"
    try:
        sc = parse_scenario(job["scenario"], label, base_dir=Path(job["base_dir"]))
        result = run_scenario(sc, seed=job["seed"])
        if result.interrupted:
            raise KeyboardInterrupt
        if result.failed:  # a point is complete only with every policy's run
            raise RuntimeError("; ".join(result.failed.values()))
        res = tables_from(result)
        res.summary = _with_steady_state(res.summary, res.tasks, result, sc)
        extra = {"point": job["id"], "point_index": job["index"], "replicate": job["replicate"], "seed": job["seed"]}
        extra.update({k: _column_value(v) for k, v in job["params"].items()})
        tasks, summary = res.tasks, res.summary
        for i, (k, v) in enumerate(extra.items()):
            tasks.insert(i, k, [v] * len(tasks))
            summary.insert(i, k, [v] * len(summary))
        return {"id": job["id"], "ok": True, "tasks": tasks, "summary": summary,
                "wall_s": time.perf_counter() - t0}
    except Exception as exc:  # noqa: BLE001 - a failing point must not stop the sweep
        return {"id": job["id"], "ok": False, "error": point_error(exc, job, label),
                "traceback": traceback.format_exc(), "wall_s": time.perf_counter() - t0}


def point_error(exc: BaseException, job: dict[str, Any], label: str) -> str:
    """One line for a failed point, as for a single run: ``FILE:LINE: field: message (point ID, replicate R)``.

    The line is that of the swept value the error is about in the sweep file
    (:func:`simoffload.config.blame_sweep_value`); an error about no swept field
    names the point's first swept value and keeps its own text.
    """
    from ..config import blame_sweep_value

    where = job.get("where") or {}
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    msg = blame_sweep_value(text, where, label) if isinstance(exc, UserError) else None
    if msg is None:
        text = text.replace(f"{label}:", f"{job['file']}:")
        kind = "" if isinstance(exc, UserError) else f"{type(exc).__name__}: "
        msg = f"{next(iter(where.values()))}: {kind}{text}" if where else f"{kind}{text}"
    return f"{msg} (point {job['id']}, replicate {job['replicate']})"


def _decision_hold_s(sc: Any, world: Any, label: str, tasks: Any) -> float:
    """Edge-core seconds one decision of this policy holds, for the offered-load check."""
    import numpy as np

    from ..registry import make_policy

    system = world.system
    if not system.decision_on_edge_cpu:
        return 0.0
    d = tasks["decision_s"].to_numpy(float)
    shortest = float(np.nanmin(d)) if len(d) and np.isfinite(d).any() else 0.0  # no wait: the hold itself
    if system.decision_time == "measured":
        return shortest
    pc = next((p for p in sc.policies if p.display == label), None)
    try:
        pol = make_policy(pc.name, **pc.params)
    except Exception:  # noqa: BLE001 - a policy built some other way: fall back to the shortest observed
        return shortest
    if system.decision_time == "calibrated":
        draw = system.decision_cost(label, pol)
        return float(np.mean([draw() for _ in range(200)]))
    return float(pol.decision_ops(system.graph)) * system.cycles_per_op / system.edge_hz


def _with_steady_state(summary: Any, tasks: Any, result: Any, sc: Any) -> Any:
    """The run's summary plus the steady-state columns of :func:`~simoffload.experiments.stats.run_stats`."""
    import pandas as pd

    from .stats import offered_load, run_stats

    rows = []
    for label in summary["policy"]:
        t = tasks[tasks["policy"] == label]
        load = offered_load(result.world, t, _decision_hold_s(sc, result.world, label, t))
        st = run_stats(t, load)
        st.update({f"rho_{k}": v for k, v in load.items()})
        rows.append(st)
    return pd.concat([summary.reset_index(drop=True), pd.DataFrame(rows)], axis=1)


# ----------------------------------------------------------------------------- running


def _point_files(out: Path, pid: str) -> tuple[Path, Path]:
    return out / "points" / f"{pid}.parquet", out / "points" / f"{pid}.summary.parquet"


def _inputs_file(out: Path, pid: str) -> Path:
    return out / "points" / f"{pid}.inputs.json"


def _read_inputs(out: Path, pid: str) -> dict[str, Any] | None:
    try:
        rec = json.loads(_inputs_file(out, pid).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def _stale(out: Path, plan: Plan) -> tuple[list[dict], dict[str, list[str]]]:
    """Pending jobs, and for finished points whose inputs changed, what changed."""
    from ..sim.provenance import changed_inputs

    pending, stale = [], {}
    for j in plan.jobs:
        tasks_p = _point_files(out, j["id"])[0]
        if tasks_p.exists():
            why = changed_inputs(_read_inputs(out, j["id"]), plan.inputs.get(j["id"], {}))
            if not why:
                continue
            stale[j["id"]] = why
        pending.append(j)
    return pending, stale


def _save(out: Path, job: dict[str, Any], res: dict[str, Any], inputs: dict[str, Any] | None = None) -> None:
    from ..sim.results import _atomic_write, write_table

    failed = out / "failed" / f"{job['id']}.json"
    if res["ok"]:
        tasks_p, summ_p = _point_files(out, job["id"])
        if tasks_p.exists():
            tasks_p.unlink()  # the point is unfinished until its new tasks file is written
        if inputs is not None:
            _atomic_write(_inputs_file(out, job["id"]),
                          lambda p: Path(p).write_text(json.dumps(inputs, indent=1, sort_keys=True), encoding="utf-8"))
        write_table(res["summary"], summ_p)
        write_table(res["tasks"], tasks_p)  # last: its presence marks the point finished
        if failed.exists():
            failed.unlink()
    else:
        info = {"id": job["id"], "index": job["index"], "replicate": job["replicate"], "seed": job["seed"],
                "params": job["params"], "error": res["error"], "traceback": res.get("traceback", "")}
        _atomic_write(failed, lambda p: Path(p).write_text(json.dumps(info, indent=2), encoding="utf-8"))


def _exit_with_parent(parent_pid: int, interval_s: float = 0.5) -> None:
    """Worker initializer: end this worker within ``interval_s`` once ``parent_pid`` is gone.

    A SIGKILLed sweep cannot stop its workers, and loky's would otherwise wait
    for work forever. A worker that starts after its parent died (the imports
    take seconds on a busy machine) exits at once.
    """
    import threading

    def gone() -> bool:
        if os.getppid() == parent_pid:
            return False
        try:
            os.kill(parent_pid, 0)  # not (or no longer) our parent: is it still alive?
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return direct  # a direct child that was reparented: the parent died

    def watch() -> None:
        while not gone():
            time.sleep(interval_s)
        os._exit(1)

    direct = os.getppid() == parent_pid
    if not direct and gone():
        os._exit(1)
    threading.Thread(target=watch, name="simoffload-parent-watch", daemon=True).start()


def _iter_local(jobs: list[dict], n_jobs: int) -> Iterator[tuple[dict, dict]]:
    if n_jobs == 1 or len(jobs) <= 1:
        for job in jobs:
            yield job, _run_point(job)
        return
    from joblib import Parallel, delayed
    from joblib._parallel_backends import LokyBackend

    # each worker watches this process: killed (even by SIGKILL), it leaves no worker behind
    backend = LokyBackend(initializer=_exit_with_parent, initargs=(os.getpid(),))
    par = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator_unordered", batch_size=1)
    by_id = {j["id"]: j for j in jobs}
    for res in par(delayed(_run_point)(j) for j in jobs):
        yield by_id[res["id"]], res


def _iter_dask(jobs: list[dict], address: str) -> Iterator[tuple[dict, dict]]:
    from distributed import Client, as_completed

    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError, TypeError) as exc:  # ValueError: not an address
        raise UserError(f"--scheduler {address[:100]}: cannot connect ({str(exc)[:200]}); "
                        f"expected a Dask scheduler address such as tcp://host:8786") from None
    try:
        futures = client.map(_run_point, jobs, pure=False)
        by_key = {f.key: j for f, j in zip(futures, jobs)}
        for fut in as_completed(futures):
            job = by_key[fut.key]
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker died (KilledWorker)
                res = {"id": job["id"], "ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": ""}
            fut.release()
            yield job, res
    finally:
        client.close()


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did."""

    out: Path
    total: int
    skipped: int
    ran: int
    failed: dict[str, str]  # id -> error
    wall_s: float


def run_sweep(path: Any, out: str | Path, jobs: int = 1, scheduler: str | None = None,
              quick: bool = False, progress: bool = True, only: int | None = None,
              notify: Callable[[str], None] | None = None, replicates: int | None = None) -> SweepOutcome:
    """Run every point x replicate of a scenario's sweep and write the tables.

    Args:
        path: scenario file with a ``sweep:`` section (or a Scenario object).
        out: output directory (created; finished points in it are skipped).
        jobs: local worker processes (joblib/loky); 1 runs in this process.
        scheduler: address of a Dask distributed scheduler; when given, ``jobs`` is ignored.
        quick: apply the sweep's ``quick`` settings (tiny run).
        progress: show a tqdm bar with the time left.
        only: run at most this many of the pending points (for tests of interrupted sweeps).
        notify: called with one line per finished point that reruns because an input
            changed (default: a log warning).
        replicates: replicates per point instead of the file's (finished ones are reused).

    Returns:
        A :class:`SweepOutcome`; the combined tables are in ``out``.
    """
    if jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {jobs}")
    if str(out).strip() == "":
        raise UserError("--out: empty path (give a directory name)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    plan = plan_sweep(path, quick, replicates)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pending, stale = _stale(out, plan)
    skipped = len(plan.jobs) - len(pending)
    say = notify or log.warning
    for n, (pid, why) in enumerate(stale.items()):
        if n == 10:
            say(f"... and {len(stale) - 10} more finished points rerun for the same kind of reason")
            break
        say(f"point {pid}: {', '.join(why)}, rerunning")
    if only is not None:
        pending = pending[:only]
    log.info("sweep %s: %d runs, %d already finished, %d to run", path, len(plan.jobs), skipped, len(pending))
    it = _iter_dask(pending, scheduler) if scheduler else _iter_local(pending, jobs)
    failed: dict[str, str] = {}
    bar = None
    if progress and pending:
        from .._progress import bar as progress_bar

        bar = progress_bar(total=len(pending), enabled=progress, desc=f"sweep {Path(str(path)).stem}", unit="run",
                           smoothing=0.1)
    try:
        for job, res in it:
            _save(out, job, res, plan.inputs.get(job["id"]))
            if not res["ok"]:
                failed[job["id"]] = res["error"]
                log.debug("sweep point %s failed: %s", job["id"], res["error"])
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    # failures of earlier runs that were not retried now still count
    for j in plan.jobs:
        f = out / "failed" / f"{j['id']}.json"
        if j["id"] not in failed and f.exists() and not _point_files(out, j["id"])[0].exists():
            failed[j["id"]] = json.loads(f.read_text(encoding="utf-8"))["error"]
    if only is None:
        _combine(out, plan, failed)
    return SweepOutcome(out, len(plan.jobs), skipped, len(pending), failed, time.perf_counter() - t0)


def _combine(out: Path, plan: Plan, failed: dict[str, str]) -> None:
    import pandas as pd

    from ..sim.results import _atomic_write, write_table

    tasks, summaries, done = [], [], []
    for j in plan.jobs:  # plan order: deterministic however the points were scheduled
        tp, sp = _point_files(out, j["id"])
        if tp.exists():
            tasks.append(pd.read_parquet(tp))
            summaries.append(pd.read_parquet(sp))
            done.append(j["id"])
    meta_path = out / "sweep.json"
    if meta_path.exists():
        meta_path.unlink()
    if tasks:
        write_table(pd.concat(tasks, ignore_index=True), out / "tasks.parquet")
        write_table(pd.concat(summaries, ignore_index=True), out / "summary.parquet")
    meta = {
        "scenario_file": plan.file, "params": plan.params, "policies": plan.policies, "quick": plan.quick,
        "points": [{k: j[k] for k in ("id", "index", "replicate", "seed", "params")} for j in plan.jobs],
        "completed": done, "failed": failed,
        "simoffload": next(iter(plan.inputs.values()), {}).get("simoffload"),
        "inputs": dict(sorted({k: v for rec in plan.inputs.values() for k, v in rec["inputs"].items()}.items())),
    }
    _atomic_write(meta_path, lambda p: Path(p).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8"))


@dataclass
class SweepResults:
    """A sweep's combined tables (one row per task x policy x point x replicate; per policy x point x replicate)."""

    tasks: Any
    summary: Any
    meta: dict[str, Any]

    @property
    def params(self) -> list[str]:
        return list(self.meta["params"])

    def __repr__(self) -> str:
        return (f"SweepResults(tasks={len(self.tasks)}, runs={len(self.meta['completed'])}, "
                f"failed={len(self.meta['failed'])}, params={self.params})")


def load_sweep(directory: str | Path) -> SweepResults:
    """Load the combined tables a ``simoffload sweep`` wrote."""
    import pandas as pd

    d = Path(directory)
    meta_path = d / "sweep.json"
    if not meta_path.exists():
        raise UserError(f"{d}: not a complete sweep directory (no sweep.json)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if not meta["completed"]:
        return SweepResults(pd.DataFrame(), pd.DataFrame(), meta)
    return SweepResults(pd.read_parquet(d / "tasks.parquet"), pd.read_parquet(d / "summary.parquet"), meta)


# ----------------------------------------------------------------------------- CLI


def cmd_sweep(args: argparse.Namespace) -> int:
    oc = run_sweep(args.file, args.out, jobs=args.jobs, scheduler=args.scheduler, quick=args.quick,
                   progress=not args.no_progress, notify=lambda line: print(line, file=sys.stderr))
    print(f"sweep {args.file}: {oc.total} runs ({oc.skipped} already finished, {oc.ran} run now) "
          f"in {oc.wall_s:.1f} s; tables in {oc.out}/ (tasks.parquet, summary.parquet, sweep.json)")
    if not args.no_plots and len(oc.failed) < oc.total:
        from .plots import plot_sweep

        for p in plot_sweep(load_sweep(oc.out), oc.out):
            print(f"plot: {p}")
    if oc.failed:
        for pid, err in oc.failed.items():  # one line per failed run, naming the swept value's line
            print(f"error: {err.splitlines()[0] if err else pid}", file=sys.stderr)
        print(f"error: {len(oc.failed)} of {oc.total} sweep runs failed (details in {oc.out}/failed/)", file=sys.stderr)
        return 1
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .plots import plot_run, plot_sweep

    d = Path(args.dir)
    if (d / "sweep.json").exists():
        paths = plot_sweep(load_sweep(d), d)
    elif (d / "meta.json").exists():
        from ..sim.results import load_results

        paths = plot_run(load_results(d), d)
    else:
        raise UserError(f"{d}: neither a run directory (meta.json) nor a sweep directory (sweep.json)")
    for p in paths:
        print(f"plot: {p}")
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a scenario's sweep: every point x replicate, all policies")
    p.add_argument("file", help="scenario YAML with a sweep: section")
    p.add_argument("--out", required=True, help="output directory (finished points in it are skipped)")
    p.add_argument("--jobs", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--scheduler", default=None, help="Dask distributed scheduler address (tcp://host:port)")
    p.add_argument("--quick", action="store_true", help="tiny run: the sweep's quick settings")
    p.add_argument("--no-plots", action="store_true", help="do not draw plots")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("plot", help="draw the plots of a run or sweep directory")
    p.add_argument("dir", help="a directory written by run or sweep")
    p.set_defaults(func=cmd_plot)
