"""The scripting API re-exported by :mod:`simoffload`: ``run``, ``sweep``, ``load_results``, ``load_sweep``.

See ``docs/api.md``. Everything here is also what the command line does, so a
run from Python and ``simoffload run`` write the same records.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import UserError

log = logging.getLogger("simoffload")


def as_scenario(scenario: Any) -> Any:
    """A validated :class:`~simoffload.config.Scenario` from a Scenario, a mapping or a YAML path."""
    from .config import Scenario, load_scenario, parse_scenario

    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, (str, Path)):
        return load_scenario(scenario)
    if isinstance(scenario, dict):
        return parse_scenario(scenario)
    raise TypeError(f"expected a Scenario, a mapping or a YAML path, got {type(scenario).__name__}")


def with_policies(sc: Any, policies: Iterable[Any]) -> Any:
    """A copy of ``sc`` running these policies: names, ``{name, label, params}`` mappings, Policy objects or classes."""
    from pydantic import ValidationError

    from .config import PolicyConfig, _policy

    items = list(policies)
    if not items:
        raise UserError("policies: give at least one policy")
    out = []
    for i, p in enumerate(items):
        try:
            out.append(PolicyConfig.model_validate(_policy(p), context={"base_dir": sc.base_dir}))
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(x) for x in e["loc"])
            raise UserError(f"policies.{i}{'.' + where if where else ''}: {e['msg'].removeprefix('Value error, ')}") from None
    labels = [p.display for p in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise UserError(f"policies: duplicate label(s) {dup}; give each a distinct 'label'")
    return sc.model_copy(update={"policies": out})


def record_meta(res: Any, sc: Any, result: Any) -> None:
    """Add where the run came from (software, environment, input files with hashes) to ``res.meta``."""
    from ._records import provenance

    res.meta.update(provenance(sc, getattr(result, "policies", [])))


def result_tables(result: Any, sc: Any) -> Any:
    """The tables of a finished run, with where it came from in ``meta``.

    Raises:
        KeyboardInterrupt: the run was interrupted before any policy finished.
        UserError: every policy failed (their messages, joined).
    """
    from .sim.results import tables_from

    if not result.runs:
        if result.interrupted:
            raise KeyboardInterrupt
        raise UserError("; ".join(result.failed.values()))
    res = tables_from(result)
    record_meta(res, sc, result)
    return res


def run(scenario: Any, policies: Iterable[Any] | None = None, seed: int | None = None, out: str | Path | None = None,
        *, format: str | None = None, progress: bool = False, plots: bool = False,
        notify: Callable[[str], None] | None = None) -> Any:
    """Run every policy of a scenario on the same workload and bandwidth.

    Args:
        scenario: a :class:`simoffload.Scenario`, a mapping of scenario fields, or a YAML path.
        policies: replaces the scenario's policies: registered names, ``{name, label, params}``
            mappings, :class:`~simoffload.policy.Policy` objects (used as they are) or classes
            (built with their defaults). ``None``: the scenario's own.
        seed: overrides the scenario's seed.
        out: if given, a directory to write the tables, ``scenario.yaml`` (which reruns the
            run as is) and ``meta.json`` into, as ``simoffload run`` does.
        format: ``"parquet"`` or ``"csv"`` for ``out`` (default: the scenario's).
        progress: draw a progress bar.
        plots: with ``out``, also draw the run's plots there.
        notify: receives the notice naming models that must be trained first (default: logged).

    Returns:
        :class:`~simoffload.sim.results.Results`: ``tasks``, ``subtasks``, ``links``, ``summary``
        DataFrames and ``meta``. Policies that failed are listed in ``meta["failed"]``.

    Raises:
        UserError: invalid scenario or policy, or every policy failed.
        KeyboardInterrupt: interrupted (with ``out``, the finished policies are written first).
    """
    from .config import scenario_to_yaml
    from .sim.results import write_results
    from .sim.scenario import run_scenario

    sc = as_scenario(scenario)
    if policies is not None:
        sc = with_policies(sc, policies)
    if seed is not None:
        if int(seed) < 0:
            raise UserError(f"seed must be >= 0, got {seed}")
        sc = sc.model_copy(update={"seed": int(seed)})
    fmt = format or sc.output.format
    if fmt not in ("parquet", "csv"):
        raise UserError(f"format must be parquet or csv, got {fmt!r}")
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise UserError(f"out {out}: exists and is not a directory")
    result = run_scenario(sc, progress=progress, notify=notify)
    res = result_tables(result, sc)
    for label, msg in result.failed.items():
        log.warning("%s (its results are not in the tables)", msg)
    if out is not None:
        write_results(res, Path(out), fmt, scenario_to_yaml(sc))
        if plots:
            from .experiments.plots import plot_run

            plot_run(res, Path(out))
    if result.interrupted:
        raise KeyboardInterrupt
    return res


def sweep(scenario: Any, out: str | Path | None = None, *, grid: dict[str, list] | None = None,
          zip: dict[str, list] | None = None, replicates: int | None = None, policies: Iterable[Any] | None = None,
          jobs: int = 1, scheduler: str | None = None, quick: bool = False, progress: bool = False) -> Any:
    """Run a parameter sweep and return its combined tables.

    Args:
        scenario: a Scenario, a mapping or a YAML path; its ``sweep:`` section is used
            unless ``grid``/``zip``/``replicates`` are given, which replace those parts.
        out: directory for the points and the combined tables (finished points are
            skipped on a rerun); ``None``: a temporary directory, removed afterwards.
        grid: dotted path -> values, all combinations (``{"devices.count": [5, 10]}``).
        zip: dotted path -> values of one length, advanced together.
        replicates: seeds per point (scenario seed + 0, 1, ...).
        policies: replaces the scenario's policies (as in :func:`run`). Policy objects are
            rebuilt in each point from their class and parameters (``get_params()``).
        jobs: local worker processes; ``scheduler``: a Dask scheduler address instead.
        quick: apply the sweep's ``quick:`` settings.
        progress: draw a progress bar.

    Returns:
        :class:`~simoffload.experiments.sweep.SweepResults` (``tasks``, ``summary`` with
        one column per swept path, ``meta``).

    Raises:
        UserError: invalid scenario or sweep section; or some points failed (their
            errors are named; with ``out`` the finished points are kept).
    """
    from .experiments.sweep import load_sweep, run_sweep

    sc = as_scenario(scenario)
    if policies is not None:
        sc = with_policies(sc, policies)
    section = dict(sc.sweep or {})
    if grid is not None:
        section["grid"] = dict(grid)
    if zip is not None:
        section["zip"] = dict(zip)
    if replicates is not None:
        section["replicates"] = int(replicates)
    if not (section.get("grid") or section.get("zip")):
        raise UserError("sweep: give grid= or zip= (or a scenario with a sweep: section)")
    sc = sc.model_copy(update={"sweep": section})
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="simoffload-sweep-")
        out = tmp.name
    try:
        oc = run_sweep(sc, out, jobs=jobs, scheduler=scheduler, quick=quick, progress=progress)
        if oc.failed:
            raise UserError(f"sweep: {len(oc.failed)} of {oc.total} runs failed: "
                            + "; ".join(sorted(set(oc.failed.values())))[:2000])
        res = load_sweep(out)
        if tmp is not None:  # the tables are in memory; the files go
            res.tasks, res.summary = res.tasks.copy(), res.summary.copy()
        return res
    finally:
        if tmp is not None:
            tmp.cleanup()


def load_results(directory: str | Path) -> Any:
    """Load a run's tables (``tasks``, ``subtasks``, ``links``, ``summary``) and ``meta`` as written by :func:`run`."""
    from .sim.results import load_results as _load

    return _load(directory)


def load_sweep(directory: str | Path) -> Any:
    """Load a sweep's combined tables as written by :func:`sweep`."""
    from .experiments.sweep import load_sweep as _load

    return _load(directory)
