"""Offline datasets of requirements and their exact optimal decisions (imitation-learning labels).

A dataset is a table with one row per sampled requirement S = (E, D, p1, p2, b1, b2):

* ``cycles_0 .. cycles_{n-1}``: CPU cycles of each subtask;
* ``bytes_0 .. bytes_{m-1}``: bytes on each data edge, in the task graph's edge
  order. For a chain of n subtasks m = n + 1, ``bytes_0`` is the task's input
  and ``bytes_n`` its output (the paper's d_0 .. d_|A|);
* ``p1_hz``, ``p2_hz``: device and edge CPU speed (Hz);
* ``b1_Bps``, ``b2_Bps``: device-edge and edge-cloud bandwidth (bytes/s);
* ``place_0 .. place_{n-1}``: the exact optimum of the objective (0 device, 1 edge, 2 cloud);
* ``latency_s``: the latency of that optimal placement (seconds);
* only when the objective is not pure latency: ``energy_J`` (device energy of the
  placement, joules) and ``objective`` (its objective value).

The task structure and provenance (distribution, seed, objective) travel with
the table: in ``DataFrame.attrs["simoffload"]`` in memory, in the Parquet
schema metadata under the key ``simoffload`` (JSON), and for CSV in a sidecar
file ``FILE.csv.json`` beside it: the CSV itself is a plain table that
``pandas.read_csv(path)`` reads as is (:func:`read_dataset` reads both; it also
accepts the older CSV whose first line was ``# simoffload {json}``). The structure is
``{"n": n, "src": [...], "dst": [...]}`` as in :class:`~simoffload.model.task.TaskGraph`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import UserError
from ..model.cost import LATENCY, Objective, coefficients, cost, energy, latency
from ..model.solvers import solve
from ..model.task import Instances, RequirementDistribution, TaskGraph, random_dag
from ..rng import rng_for

log = logging.getLogger(__name__)

META_KEY = "simoffload"
FORMAT_VERSION = 1
SUFFIXES = (".parquet", ".pq", ".csv")


def feature_columns(graph: TaskGraph) -> list[str]:
    """The requirement columns of a dataset for ``graph``, in file order."""
    return ([f"cycles_{i}" for i in range(graph.n)] + [f"bytes_{k}" for k in range(graph.m)]
            + ["p1_hz", "p2_hz", "b1_Bps", "b2_Bps"])


def label_columns(graph: TaskGraph) -> list[str]:
    """The decision columns ``place_0 .. place_{n-1}``."""
    return [f"place_{i}" for i in range(graph.n)]


def graph_to_dict(graph: TaskGraph) -> dict[str, Any]:
    return {"n": graph.n, "src": graph.src.tolist(), "dst": graph.dst.tolist()}


def graph_from_dict(d: Mapping[str, Any]) -> TaskGraph:
    return TaskGraph(int(d["n"]), d["src"], d["dst"])


def label(inst: Instances, objective: Objective = LATENCY, chunk: int = 100_000,
          progress: bool = False) -> np.ndarray:
    """(B, n) exact optimal placements of ``inst`` (chain DP or DAG min cut), in chunks.

    Args:
        inst: the requirements.
        objective: what the placements minimise.
        chunk: instances per solver call (DAGs use at most 1000, so progress shows).
        progress: show a tqdm progress bar when there is more than one chunk.
    """
    B = len(inst)
    if not inst.graph.is_chain:
        chunk = min(chunk, 1000)
    chunk = max(1, int(chunk))
    starts = range(0, B, chunk)
    if progress and B > chunk:
        from .._progress import bar as progress_bar

        bar = progress_bar(total=B, enabled=progress, desc="exact labels", unit="sample")
    else:
        bar = None
    out = np.empty((B, inst.graph.n), dtype=np.int64)
    for lo in starts:
        part = inst[lo:lo + chunk]
        out[lo:lo + chunk] = solve(coefficients(part, objective), part.graph, part.data)[0]
        if bar is not None:
            bar.update(len(part))
    if bar is not None:
        bar.close()
    return out


def sample_dataset(dist: RequirementDistribution, graph: TaskGraph, n: int, seed: int,
                   objective: Objective = LATENCY, *, chunk: int = 100_000, progress: bool = False,
                   stream: str = "dataset") -> pd.DataFrame:
    """Sample ``n`` requirements from ``dist`` and label them with the exact optimum.

    The draws come from the stream ``rng_for(seed, stream)`` in one call, so a
    seed fixes the table whatever ``chunk`` is.

    Args:
        dist: requirement distribution (e.g. ``RequirementDistribution.from_spec("paper-5.1")``).
        graph: task structure shared by all samples.
        n: number of samples (>= 1).
        seed: root seed.
        objective: what the labels minimise (``latency_s`` is always the label's latency).
        chunk: samples per solver call.
        progress: show a progress bar when labelling in more than one chunk.
        stream: name of the random stream (distinct names give independent datasets).

    Returns:
        The table described in the module docstring, with metadata in ``df.attrs["simoffload"]``.
    """
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    inst = dist.sample(graph, int(n), rng_for(seed, stream))
    return frame_from_instances(inst, label(inst, objective, chunk, progress), objective, meta={
        "distribution": dist.spec, "distribution_name": dist.name, "seed": int(seed), "stream": stream,
    })


def frame_from_instances(inst: Instances, placements: np.ndarray, objective: Objective = LATENCY,
                         meta: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The dataset table for given requirements and placements (labels), with metadata."""
    g = inst.graph
    cols: dict[str, np.ndarray] = {}
    for i in range(g.n):
        cols[f"cycles_{i}"] = inst.cycles[:, i]
    for k in range(g.m):
        cols[f"bytes_{k}"] = inst.data[:, k]
    cols.update(p1_hz=np.asarray(inst.p1, float), p2_hz=np.asarray(inst.p2, float),
                b1_Bps=np.asarray(inst.b1, float), b2_Bps=np.asarray(inst.b2, float))
    for i in range(g.n):
        cols[f"place_{i}"] = placements[:, i].astype(np.int64)
    cols["latency_s"] = latency(inst, placements)
    if objective.energy_weight != 0 or objective.latency_weight != 1:
        cols["energy_J"] = energy(inst, placements, objective)
        cols["objective"] = cost(inst, placements, objective)
    df = pd.DataFrame(cols)
    df.attrs[META_KEY] = {"format": FORMAT_VERSION, "graph": graph_to_dict(g),
                          "objective": objective.to_dict(), **dict(meta or {})}
    return df


def instances_from_frame(df: pd.DataFrame, graph: TaskGraph | None = None) -> Instances:
    """The requirements of a dataset table as an :class:`Instances` batch (the inverse of sampling).

    Args:
        df: a dataset table (labels are ignored).
        graph: its task structure; default: from ``df.attrs["simoffload"]``, else a
            chain with as many subtasks as ``cycles_*`` columns.
    """
    if graph is None:
        meta = df.attrs.get(META_KEY) or {}
        if "graph" in meta:
            graph = graph_from_dict(meta["graph"])
        else:
            graph = TaskGraph.chain(sum(1 for c in df.columns if str(c).startswith("cycles_")))
    missing = [c for c in feature_columns(graph) if c not in df.columns]
    if missing:
        raise ValueError(f"dataset lacks column(s) {missing[:5]}{'...' if len(missing) > 5 else ''} for {graph!r}")
    # C order, as sampled: numpy's reductions then add in the same order as when the labels were made
    cycles = np.ascontiguousarray(df[[f"cycles_{i}" for i in range(graph.n)]].to_numpy(float))
    data = np.ascontiguousarray(df[[f"bytes_{k}" for k in range(graph.m)]].to_numpy(float))
    return Instances(graph, cycles, data, df["p1_hz"].to_numpy(float), df["p2_hz"].to_numpy(float),
                     df["b1_Bps"].to_numpy(float), df["b2_Bps"].to_numpy(float))


def placements_from_frame(df: pd.DataFrame, graph: TaskGraph) -> np.ndarray:
    """(B, n) label placements of a dataset table."""
    return np.ascontiguousarray(df[label_columns(graph)].to_numpy(np.int64))


# ----------------------------------------------------------------------------- files


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"{path}: unknown file type {path.suffix!r} (expected .parquet, .pq or .csv)")
    return "csv" if suffix == ".csv" else "parquet"


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where a CSV dataset's metadata lives: ``FILE.csv.json`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def write_dataset(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a dataset as Parquet or CSV (by suffix), atomically (temp file + ``os.replace``).

    A CSV gets its metadata in the sidecar :func:`sidecar_path`, written first (so a
    CSV that exists always has its metadata beside it).
    """
    path = Path(path)
    kind = _check_suffix(path)
    meta = json.dumps(df.attrs.get(META_KEY, {}), sort_keys=True)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UserError(f"{path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        if kind == "csv":
            side = sidecar_path(path)
            side_tmp = side.with_name(f".{side.name}.tmp")
            side_tmp.write_text(json.dumps({META_KEY: json.loads(meta)}, sort_keys=True, indent=1) + "\n")
            os.replace(side_tmp, side)
            with os.fdopen(fd, "w", newline="") as fh:
                df.to_csv(fh, index=False, float_format="%.17g")
        else:
            os.close(fd)
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY.encode(): meta.encode()})
            pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_dataset(path: str | os.PathLike) -> pd.DataFrame:
    """Read a dataset written by :func:`write_dataset`, metadata in ``df.attrs["simoffload"]``."""
    path = Path(path)
    kind = _check_suffix(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    meta: dict[str, Any] = {}
    if kind == "csv":
        with open(path) as fh:
            first = fh.readline()
        prefix = f"# {META_KEY} "
        side = sidecar_path(path)
        if first.startswith(prefix):  # the older format: metadata as a comment line
            meta = json.loads(first[len(prefix):])
            df = pd.read_csv(path, comment="#")
        else:
            if side.is_file():
                try:
                    meta = json.loads(side.read_text())[META_KEY]
                except (ValueError, KeyError, TypeError) as exc:
                    raise UserError(f"{side}: not a simoffload dataset sidecar ({exc})") from None
            df = pd.read_csv(path)
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(META_KEY.encode())
        if raw:
            meta = json.loads(raw.decode())
        df = table.to_pandas()
    df.attrs[META_KEY] = meta
    return df


class ScenarioDistribution:
    """Requirements drawn from what a scenario's devices will face.

    Task sizes come from the scenario's task distribution, ``p1`` from its device
    CPU distribution, ``p2`` is its edge core speed, and ``b1``/``b2`` are what
    its bandwidth estimator reports for the wireless and WAN uplinks at a
    uniformly random time in [0, horizon) of the scenario's bandwidth
    realisation (traces or stochastic paths for the scenario's seed). A policy
    trained on this sees the conditions it will be evaluated in.
    """

    def __init__(self, scenario: Any):
        from ..sim.scenario import build_world, task_graph

        self.scenario = scenario
        self.graph = task_graph(scenario)
        self.world = build_world(scenario)  # bandwidth models for the scenario's own seed
        self.name = f"scenario:{scenario.name}"
        self.spec = {"scenario": scenario.name, "scenario_seed": scenario.seed}

    def sample(self, graph: TaskGraph, size: int, rng: np.random.Generator) -> Instances:
        from ..model.task import Dist

        sc, sysspec = self.scenario, self.world.system
        cdist, ddist = sc.task.dists()
        cycles = cdist.sample(rng, (size, graph.n))
        data = ddist.sample(rng, (size, graph.m))
        p1 = Dist(sc.devices.cpu, "hz").sample(rng, size)
        times = rng.uniform(0.0, sc.horizon, size)
        dev = rng.integers(0, len(sysspec.devices), size)
        est = sysspec.estimator
        b1 = np.array([est.estimate(sysspec.devices[d].up, t) for d, t in zip(dev.tolist(), times.tolist())])
        b2 = np.array([est.estimate(sysspec.wan_up, t) for t in times.tolist()])
        return Instances(graph, cycles, data, p1, np.full(size, sysspec.edge_hz), b1, b2, p3=sysspec.cloud_hz)


# ----------------------------------------------------------------------------- command line


def load_distribution(spec: str) -> RequirementDistribution | ScenarioDistribution:
    """A paper distribution by name, a YAML file with a ``distribution:`` mapping, or a scenario file."""
    if spec.lower().endswith((".yaml", ".yml")):
        from ..yamlio import load_yaml

        doc = load_yaml(spec, "distribution file")  # the bounded safe loader: errors are FILE:LINE: field
        p = Path(spec)
        if isinstance(doc.data, Mapping) and "distribution" not in doc.data:
            from ..config import load_scenario

            return ScenarioDistribution(load_scenario(p))  # a scenario file
        if not isinstance(doc.data, Mapping):
            raise UserError(f"{doc.where(())}: (top level): needs a top-level 'distribution:' mapping, or a scenario")
        try:
            return RequirementDistribution.from_spec(doc.data["distribution"])
        except (ValueError, TypeError) as exc:
            raise UserError(f"{doc.where(('distribution',))}: distribution: {exc}") from None
    try:
        return RequirementDistribution.from_spec(spec)
    except ValueError as exc:
        raise UserError(f"--dist: {exc}") from None


def objective_from_args(args: argparse.Namespace) -> Objective:
    energy_params = dict(kappa=args.kappa, tx_power_w=args.tx_power_w, rx_power_w=args.rx_power_w)
    for name, v in energy_params.items():
        if not v >= 0:
            raise UserError(f"--{name.replace('_', '-')} must be >= 0, got {v}")
    if args.objective == "latency":
        return Objective(1.0, 0.0, **energy_params)
    if args.objective == "energy":
        return Objective(0.0, 1.0, **energy_params)
    lw, ew = args.latency_weight, args.energy_weight
    if not (lw >= 0 and ew >= 0) or lw + ew == 0:
        raise UserError(f"--latency-weight and --energy-weight must be >= 0 and not both 0, got {lw} and {ew}")
    return Objective(lw, ew, **energy_params)


def _run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UserError(f"-n must be >= 1, got {args.n}")
    if args.chunk < 1:
        raise UserError(f"--chunk must be >= 1, got {args.chunk}")
    if args.subtasks < 1:
        raise UserError(f"--subtasks must be >= 1, got {args.subtasks}")
    out = Path(args.out)
    _check_suffix(out)
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise UserError(f"--out: directory {out.parent} does not exist")
    dist = load_distribution(args.dist)
    objective = objective_from_args(args)
    if isinstance(dist, ScenarioDistribution):
        graph = dist.graph  # the scenario's task structure and objective
        objective = dist.world.system.objective
    elif args.dag_edge_prob is None:
        graph = TaskGraph.chain(args.subtasks)
    else:
        if not 0.0 <= args.dag_edge_prob <= 1.0:
            raise UserError(f"--dag-edge-prob must lie in [0, 1], got {args.dag_edge_prob}")
        graph = random_dag(args.subtasks, args.dag_edge_prob, rng_for(args.seed, "dataset/structure"))
    df = sample_dataset(dist, graph, args.n, args.seed, objective, chunk=args.chunk, progress=not args.quiet)
    write_dataset(df, out)
    log.info("wrote %d samples of %r to %s", len(df), graph, out)
    return 0


def register_cli(subparsers: Any) -> None:
    """Add ``simoffload dataset``."""
    p = subparsers.add_parser(
        "dataset", help="sample requirements and label them with the exact optimum",
        description="Sample N requirements from a distribution and write them with their exact optimal "
                    "placements (Parquet or CSV by the suffix of --out).")
    p.add_argument("--dist", required=True, metavar="paper-5.1|paper-5.2|FILE.yaml",
                   help="a paper distribution, a YAML file with a 'distribution:' mapping, or a scenario file "
                        "(its workload, device speeds, and its bandwidth traces as its estimator sees them; "
                        "the scenario's task structure and objective are used)")
    p.add_argument("-n", type=int, required=True, metavar="N", help="number of samples")
    p.add_argument("--seed", type=int, default=0, help="root seed (same seed, same file; default 0)")
    p.add_argument("--out", required=True, metavar="FILE", help="output file, .parquet/.pq or .csv")
    p.add_argument("--subtasks", type=int, default=6, help="subtasks per task (default 6, the paper's |A|)")
    p.add_argument("--dag-edge-prob", type=float, default=None, metavar="P",
                   help="sample one random DAG structure (each forward pair an edge with probability P) "
                        "instead of a chain")
    p.add_argument("--objective", choices=("latency", "energy", "weighted"), default="latency",
                   help="what the labels minimise (default latency)")
    p.add_argument("--latency-weight", type=float, default=1.0, help="weight of latency (s) for --objective weighted")
    p.add_argument("--energy-weight", type=float, default=1.0, help="weight of energy (J) for --objective weighted")
    p.add_argument("--kappa", type=float, default=Objective.kappa, help="device energy per cycle / p1^2 (default 1e-27)")
    p.add_argument("--tx-power-w", type=float, default=Objective.tx_power_w, help="device transmit power, W")
    p.add_argument("--rx-power-w", type=float, default=Objective.rx_power_w, help="device receive power, W")
    p.add_argument("--chunk", type=int, default=100_000, help="samples per solver call (default 100000)")
    p.set_defaults(func=_run)
