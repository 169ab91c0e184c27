"""CLI subcommands ``validate``, ``run`` and ``policies``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import UserError


def format_summary(summary) -> str:  # noqa: ANN001 - a DataFrame
    """The per-policy summary as a fixed-width text table.

    Unfinished, dropped and failed work and the deadline-miss rate stand next to
    the latency statistics (which cover completed tasks only).
    """
    cols = [
        ("policy", "policy", "{}"),
        ("completed", "done", "{:d}"),
        ("unfinished", "unfin", "{:d}"),
        ("dropped", "drop", "{:d}"),
        ("failed", "fail", "{:d}"),
        ("miss_rate", "miss", "{:.1%}"),
        ("mean_latency_s", "mean s", "{:.4g}"),
        ("p50_latency_s", "p50 s", "{:.4g}"),
        ("p95_latency_s", "p95 s", "{:.4g}"),
        ("p99_latency_s", "p99 s", "{:.4g}"),
        ("mean_decision_s", "decide s", "{:.3g}"),
        ("mean_energy_j", "energy J", "{:.4g}"),
        ("mean_latency_norm", "lat/best", "{:.3f}"),
        ("mean_energy_norm", "E/best", "{:.3f}"),
    ]
    if "mean_accuracy" in summary:  # tasks with variants
        cols += [("mean_accuracy", "acc", "{:.2%}"), ("below_req", "<req", "{:.1%}")]
    rows = [[h for _, h, _ in cols]]
    for _, r in summary.iterrows():
        row = []
        for key, _, fmt in cols:
            v = r.get(key, float("nan"))
            try:
                row.append(fmt.format(int(v) if fmt == "{:d}" else v))
            except (ValueError, TypeError):
                row.append("nan")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def format_sites(sites) -> str:  # noqa: ANN001 - a DataFrame
    """The per-site table (several edge sites) as fixed-width text: one line per policy and site."""
    cols = [("policy", "policy", "{}"), ("site", "site", "{}"), ("cores", "cores", "{:d}"),
            ("utilisation", "util", "{:.3f}"), ("subtasks", "subtasks", "{:d}"), ("tasks", "tasks", "{:d}"),
            ("unfinished_frac", "unfin", "{:.3f}"), ("miss_rate", "miss", "{:.3f}"), ("failure_rate", "fail", "{:.3f}")]
    return _fixed_width(sites, cols, left=2)


def app_table(tasks, horizon_s: float):  # noqa: ANN001, ANN201 - a DataFrame or a written tasks table's path
    """Per policy and application: tasks, the shares unfinished / failed / missing their deadline (one
    definition: :mod:`simoffload.sim.deadlines`) and the mean latency of the finished tasks.

    ``tasks`` is the tasks table or the path of a written one (read in chunks, never whole).
    """
    import numpy as np
    import pandas as pd

    from .sim.deadlines import deadline_miss
    from .sim.results import FINISHED, _task_chunks

    cols = ["policy", "app", "status", "arrival_s", "deadline_s", "latency_s"]
    chunks = ([{c: tasks[c].to_numpy() for c in cols}] if isinstance(tasks, pd.DataFrame)
              else _task_chunks(tasks, cols))
    acc: dict = {}
    for c in chunks:
        st = np.asarray(c["status"]).astype(str)
        miss = deadline_miss(st, c["arrival_s"], c["deadline_s"], horizon_s)
        fin = np.isin(st, FINISHED)
        key = pd.MultiIndex.from_arrays([np.asarray(c["policy"]).astype(str), np.asarray(c["app"]).astype(str)])
        part = pd.DataFrame({"tasks": 1, "deadline_misses": miss.astype(int), "failed": (st == "failed").astype(int),
                             "unfinished": (st == "unfinished").astype(int), "finished": fin.astype(int),
                             "lat_sum": np.where(fin, np.asarray(c["latency_s"], dtype=float), 0.0),
                             "deadline_s": np.asarray(c["deadline_s"], dtype=float)}, index=key)
        g = part.groupby(level=[0, 1], sort=False).agg({k: ("max" if k == "deadline_s" else "sum") for k in part})
        for k, row in g.iterrows():
            a = acc.setdefault(k, dict.fromkeys(g.columns, 0.0))
            for col, v in row.items():
                a[col] = max(a[col], v) if col == "deadline_s" else a[col] + v
    out = pd.DataFrame([{"policy": k[0], "app": k[1], **v} for k, v in acc.items()])
    n = out["tasks"].where(out["tasks"] > 0)
    out["miss_rate"] = out["deadline_misses"] / n
    out["failure_rate"] = out["failed"] / n
    out["unfinished_frac"] = out["unfinished"] / n
    out["mean_latency_s"] = out["lat_sum"] / out["finished"].where(out["finished"] > 0)
    for col in ("tasks", "deadline_misses", "failed", "unfinished", "finished"):
        out[col] = out[col].astype("int64")
    return out.drop(columns="lat_sum")


def format_apps(table) -> str:  # noqa: ANN001 - a DataFrame from app_table
    """The per-application table as fixed-width text."""
    cols = [("policy", "policy", "{}"), ("app", "app", "{}"), ("tasks", "tasks", "{:d}"),
            ("deadline_s", "deadline s", "{:.4g}"), ("unfinished_frac", "unfin", "{:.3f}"),
            ("failure_rate", "fail", "{:.3f}"), ("miss_rate", "miss", "{:.3f}"),
            ("mean_latency_s", "mean s", "{:.4g}")]
    return _fixed_width(table, cols, left=2)


def _fixed_width(df, cols, left: int) -> str:  # noqa: ANN001
    rows = [[h for _, h, _ in cols]]
    for _, r in df.iterrows():
        row = []
        for key, _, fmt in cols:
            try:
                row.append(fmt.format(int(r[key]) if fmt == "{:d}" else r[key]))
            except (ValueError, TypeError):
                row.append("nan")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def cmd_validate(args: argparse.Namespace) -> int:
    from .config import check_sweep_points, load_scenario
    from .sim.scenario import build_world, check_policies

    # parsing checks fields, policy parameters, the sweep section and the workload limits
    sc = load_scenario(args.file)
    check_sweep_points(sc)  # each sweep point as a scenario (a sweep run fails such a point only)
    check_policies(sc)  # what each policy's prepare would refuse, without training
    world = build_world(sc)  # loads traces, draws the workload: catches what only building can
    print(f"{args.file}: ok ({sc.name}: {sc.devices.count} device(s), "
          f"{len(world.system.tasks)} tasks over {sc.horizon:g} s, "
          f"{len(sc.policies)} policies: {', '.join(p.display for p in sc.policies)})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ._api import result_tables
    from .config import load_scenario, scenario_to_yaml
    from .sim.results import StagedDirectory, write_meta, write_tables
    from .sim.scenario import run_scenario

    sc = load_scenario(args.file)
    if args.seed is not None:
        if args.seed < 0:
            raise UserError(f"--seed must be >= 0, got {args.seed}")
        sc.seed = args.seed
    fmt = args.format or sc.output.format
    out = Path(args.out)
    # the run is written into a hidden sibling and moved into place complete (meta.json last);
    # creating it now finds an unwritable or unsuitable --out before simulating
    split = getattr(args, "split", None)
    if split == "devices":  # refused before anything is created
        from .sim.split import device_split_reason

        raise UserError(device_split_reason(sc))
    jobs, scheduler = getattr(args, "jobs", 1), getattr(args, "scheduler", None)
    if jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {jobs}")
    stage = StagedDirectory(args.out)
    try:
        notify = (lambda line: print(line, file=sys.stderr, flush=True)) if not args.quiet else (lambda line: None)
        if jobs > 1 or scheduler:
            from .sim.split import run_split

            result = run_split(sc, jobs=jobs, scheduler=scheduler)  # workers log training notices
        else:
            # the records stream into the staging directory as they fill (flat memory for long runs)
            result = run_scenario(sc, progress=not args.no_progress, notify=notify, stream_to=stage.path, fmt=fmt)
        res = result_tables(result, sc)
        write_tables(res, stage.path, fmt, scenario_to_yaml(sc))
        plots, plot_error = [], None
        if not args.no_plots:
            try:
                from .experiments.plots import plot_run
            except ModuleNotFoundError:
                pass
            else:
                try:
                    from .sim.results import plottable

                    shown = plottable(res, stage.path)
                    plots = [] if shown is None else [Path(p).name for p in plot_run(shown, stage.path)]
                    if shown is None and not args.quiet:
                        print("note: no plots: the run has more task rows than plots read "
                              "(simoffload.sim.results.PLOT_ROWS); load_results reads the tables", file=sys.stderr)
                except Exception as exc:  # noqa: BLE001 - a plotting bug must not lose a finished run
                    plot_error = f"{type(exc).__name__}: {exc}"
                    res.meta["plot_error"] = plot_error
        write_meta(res, stage.path, fmt)
        stage.commit()
    finally:
        stage.discard()
    n = len(result.runs[0].tasks) if result.runs else 0  # rows per policy: every arrived task
    print(f"{sc.name}: seed {sc.seed}, {n} tasks x {len(result.runs)} policies; latency over completed tasks")
    print(format_summary(res.summary))
    if len(sc.apps()) > 1:
        src = res.tasks if res.tasks is not None else out / f"tasks{'.csv' if fmt == 'csv' else '.parquet'}"
        print("per application (deadline = the largest drawn; miss = finished late, dropped, or unfinished after "
              "its deadline; latency over finished tasks):")
        print(format_apps(app_table(src, result.world.system.horizon_s)))
    if res.sites is not None:
        print("per site (tasks = associated at arrival; util = busy core-s / (cores x simulated s); "
              "unfin/miss/fail: shares of those tasks):")
        print(format_sites(res.sites))
    print(f"results: {out}/ (tasks, subtasks, links, summary{', sites' if res.sites is not None else ''} as {fmt}; scenario.yaml)")
    for name in plots:
        print(f"plot: {out / name}")
    if plot_error:
        print(f"error: plotting failed ({plot_error}); the tables are complete", file=sys.stderr)
    for msg in result.failed.values():
        print(f"error: {msg} (its results are not in the tables)", file=sys.stderr)
    if result.interrupted:
        print(f"error: interrupted; the tables hold the {len(result.runs)} policies that finished "
              f"(meta.json: interrupted)", file=sys.stderr)
        return 130
    return 1 if result.failed or plot_error else 0


def cmd_policies(args: argparse.Namespace) -> int:
    from .registry import ENTRY_POINT_GROUP, listing

    rows = [(name, target, origin) for name, target, origin in listing()]
    if args.file:
        from .config import load_scenario, policy_module_dir
        from .registry import locate

        sc = load_scenario(args.file)
        for p in sc.policies:
            if p.name in {r[0] for r in rows}:
                continue
            loc = locate(p.name, policy_module_dir(p.module_dir, sc.base_dir))
            rows.append((p.name, f"{loc.cls.__module__}:{loc.cls.__qualname__}" if loc.file is None else
                         f"{loc.file.name}:{loc.cls.__qualname__}", f"named in {args.file}: {loc.origin}"))
    width = max(len(r[0]) for r in rows)
    for name, target, origin in rows:
        print(f"{name:{width}s}  {target:40s}  {origin}")
    if not args.quiet:
        print(f"(installed packages add names through the entry-point group {ENTRY_POINT_GROUP!r}; "
              f"a scenario may name 'module:Class' in a module beside it)", file=sys.stderr)
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a scenario file")
    p.add_argument("file", help="scenario YAML")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("run", help="run every policy of a scenario on the same workload and bandwidth")
    p.add_argument("file", help="scenario YAML")
    p.add_argument("--out", required=True, help="result directory")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--format", choices=("parquet", "csv"), default=None, help="table format (default: the scenario's)")
    p.add_argument("--no-plots", action="store_true", help="do not draw plots")
    p.add_argument("--jobs", type=int, default=1,
                   help="run the policies as shards on N local worker processes (exact: same tables)")
    p.add_argument("--scheduler", default=None,
                   help="run the policies as shards on a Dask distributed scheduler (tcp://host:port)")
    p.add_argument("--split", choices=("policies", "devices"), default="policies",
                   help="how --jobs/--scheduler split the run: policies (exact); devices is refused "
                        "(they share the edge)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("policies", help="list the policies that can be named in a scenario, and where each comes from")
    p.add_argument("file", nargs="?", default=None, help="also list the policies this scenario names (e.g. from a module beside it)")
    p.set_defaults(func=cmd_policies)
