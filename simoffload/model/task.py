"""Task model: a task is a graph of subtasks with CPU cycles and data sizes.

A task's *structure* is a :class:`TaskGraph`: ``n`` subtasks and ``m`` data
edges. Edge ``k`` carries ``data[k]`` bytes from ``src[k]`` to ``dst[k]``;
``src = -1`` is the device's input (the task starts on the device) and
``dst = n`` the device's output (results end on the device). A chain of ``n``
subtasks has ``m = n + 1`` edges ``(-1,0), (0,1), ..., (n-1,n)``, so
``data[0]`` is the task input d_0 and ``data[n]`` its output d_n, exactly the
paper's d_0..d_|A|.

A batch of problem instances that share one structure is an
:class:`Instances`: arrays over the batch for cycles, data, device speed
``p1``, edge speed ``p2``, and the device-edge (``b1``) and edge-cloud
(``b2``) bandwidths, the paper's requirement S = (E, D, p1, p2, b1, b2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import networkx as nx
import numpy as np

from ..units import parse_quantity

DEVICE, EDGE, CLOUD = 0, 1, 2
PLACES = ("device", "edge", "cloud")


class TaskGraph:
    """Structure of a task (no sizes): subtasks ``0..n-1`` and data edges.

    Args:
        n: number of subtasks.
        src: source of each data edge (``-1`` = the device's input).
        dst: destination of each data edge (``n`` = the device's output).

    Nodes must be numbered in a topological order (every edge goes from a
    lower to a higher index), so ``range(n)`` is an execution order.
    """

    def __init__(self, n: int, src: Any, dst: Any):
        self.n = int(n)
        self.src = np.asarray(src, dtype=np.int64)
        self.dst = np.asarray(dst, dtype=np.int64)
        if self.n < 1:
            raise ValueError("a task needs at least one subtask")
        if self.src.shape != self.dst.shape or self.src.ndim != 1:
            raise ValueError("src and dst must be 1-d arrays of equal length")
        if np.any(self.src >= self.dst):
            raise ValueError("edges must go from a lower to a higher node index (topological numbering)")
        if np.any(self.src < -1) or np.any(self.dst > self.n):
            raise ValueError("edge endpoints must lie in -1..n")
        self.m = len(self.src)
        self.is_chain = bool(
            self.m == self.n + 1
            and np.array_equal(self.src, np.arange(-1, self.n))
            and np.array_equal(self.dst, np.arange(0, self.n + 1))
        )
        # incoming / outgoing edge indices per node (n+1 slots: node n = output sink)
        self.in_edges: list[list[int]] = [[] for _ in range(self.n + 1)]
        self.out_edges: list[list[int]] = [[] for _ in range(self.n)]
        self.input_edges: list[int] = []
        for k, (s, d) in enumerate(zip(self.src.tolist(), self.dst.tolist())):
            self.in_edges[d].append(k)
            if s == -1:
                self.input_edges.append(k)
            else:
                self.out_edges[s].append(k)
        self.output_edges = self.in_edges[self.n]
        for v in range(self.n):
            if not self.in_edges[v]:
                raise ValueError(f"subtask {v} has no input edge; give it an edge from the device input (-1)")
            if not self.out_edges[v]:
                raise ValueError(f"subtask {v} has no output edge; give it an edge to the device output (n)")

    @classmethod
    def chain(cls, n: int) -> "TaskGraph":
        """The paper's chain of ``n`` subtasks."""
        return cls(n, np.arange(-1, n), np.arange(0, n + 1))

    @classmethod
    def from_networkx(cls, g: nx.DiGraph) -> tuple["TaskGraph", list]:
        """Build a structure from a DAG of subtasks.

        Entry nodes (no predecessor) get an edge from the device input and
        exit nodes (no successor) an edge to the device output. Nodes are
        renumbered in a topological order (ties broken by node label).

        Returns:
            The structure and the list of original node labels, index = new number.
        """
        if not nx.is_directed_acyclic_graph(g):
            raise ValueError("the task graph must be a directed acyclic graph")
        order = list(nx.lexicographical_topological_sort(g, key=str))
        index = {v: i for i, v in enumerate(order)}
        n = len(order)
        src, dst = [], []
        for v in order:
            if g.in_degree(v) == 0:
                src.append(-1)
                dst.append(index[v])
        for u, v in sorted(g.edges(), key=lambda e: (index[e[0]], index[e[1]])):
            src.append(index[u])
            dst.append(index[v])
        for v in order:
            if g.out_degree(v) == 0:
                src.append(index[v])
                dst.append(n)
        # keep edges sorted by destination then source so chains come out canonical
        perm = sorted(range(len(src)), key=lambda k: (dst[k], src[k]))
        return cls(n, [src[k] for k in perm], [dst[k] for k in perm]), order

    def to_networkx(self, cycles: Any = None, data: Any = None) -> nx.DiGraph:
        """The structure as a networkx DiGraph with nodes ``"in"``, ``0..n-1``, ``"out"``."""
        g = nx.DiGraph()
        g.add_node("in", place=DEVICE)
        for v in range(self.n):
            g.add_node(v, cycles=None if cycles is None else float(cycles[v]))
        g.add_node("out", place=DEVICE)
        for k in range(self.m):
            s = "in" if self.src[k] == -1 else int(self.src[k])
            d = "out" if self.dst[k] == self.n else int(self.dst[k])
            g.add_edge(s, d, bytes=None if data is None else float(data[k]), index=k)
        return g

    def key(self) -> str:
        """A short stable description (used in file names and caches)."""
        if self.is_chain:
            return f"chain{self.n}"
        pairs = ",".join(f"{s}>{d}" for s, d in zip(self.src.tolist(), self.dst.tolist()))
        return f"dag{self.n}[{pairs}]"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TaskGraph)
            and self.n == other.n
            and np.array_equal(self.src, other.src)
            and np.array_equal(self.dst, other.dst)
        )

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return f"TaskGraph(n={self.n}, m={self.m}, chain={self.is_chain})"


def random_dag(n: int, edge_prob: float, rng: np.random.Generator) -> TaskGraph:
    """A random DAG of ``n`` subtasks: each forward pair is an edge with ``edge_prob``."""
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for u in range(n):
        for v in range(u + 1, n):
            if rng.random() < edge_prob:
                g.add_edge(u, v)
    return TaskGraph.from_networkx(g)[0]


@dataclass
class Instances:
    """A batch of offloading problems sharing one task structure (SI units).

    Attributes:
        graph: the shared structure.
        cycles: (B, n) CPU cycles of each subtask.
        data: (B, m) bytes on each data edge.
        p1: (B,) device CPU speed, Hz.
        p2: (B,) edge CPU speed, Hz.
        b1: (B,) device->edge (uplink) bandwidth, bytes/s.
        b2: (B,) edge->cloud bandwidth, bytes/s.
        b1_down: (B,) edge->device bandwidth; ``None`` means equal to ``b1``.
        b2_down: (B,) cloud->edge bandwidth; ``None`` means equal to ``b2``.
        p3: cloud CPU speed, Hz (scalar or (B,)); ``inf`` = zero execution time.
        variant_cycles: (B, V, n) cycles per variant, or ``None`` (one implicit
            variant: ``cycles``). When given, ``cycles`` is variant 0's.
        variant_data: (B, V, m) bytes per variant (with ``variant_cycles``).
        variant_accuracy: (B, V) accuracy per variant, a fraction in [0, 1]
            (``None``: the implicit variant's 1.0).
        accuracy_req: (B,) accuracy requirement (0 = none); ``None`` = 0.
        lat1, lat2: (B,) one-way propagation latency (s) device->edge and edge->cloud; ``None``: 0.
        lat1_down, lat2_down: (B,) the same edge->device and cloud->edge; ``None``: equal to ``lat1`` / ``lat2``.
    """

    graph: TaskGraph
    cycles: np.ndarray
    data: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    b1: np.ndarray
    b2: np.ndarray
    b1_down: np.ndarray | None = None
    b2_down: np.ndarray | None = None
    p3: Any = math.inf
    variant_cycles: np.ndarray | None = None
    variant_data: np.ndarray | None = None
    variant_accuracy: np.ndarray | None = None
    accuracy_req: np.ndarray | None = None
    lat1: np.ndarray | None = None
    lat2: np.ndarray | None = None
    lat1_down: np.ndarray | None = None
    lat2_down: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.cycles = np.atleast_2d(np.asarray(self.cycles, dtype=float))
        self.data = np.atleast_2d(np.asarray(self.data, dtype=float))
        B = self.cycles.shape[0]
        for name in ("p1", "p2", "b1", "b2", "b1_down", "b2_down", "accuracy_req", "lat1", "lat2", "lat1_down",
                     "lat2_down"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, np.broadcast_to(np.asarray(v, dtype=float), (B,)))
        if self.cycles.shape[1] != self.graph.n or self.data.shape != (B, self.graph.m):
            raise ValueError(
                f"shapes do not match the graph: cycles {self.cycles.shape}, data {self.data.shape}, "
                f"graph n={self.graph.n} m={self.graph.m}"
            )
        if (self.variant_cycles is None) != (self.variant_data is None):
            raise ValueError("variant_cycles and variant_data go together")
        if self.variant_cycles is not None:
            vc = np.asarray(self.variant_cycles, dtype=float)
            vd = np.asarray(self.variant_data, dtype=float)
            V = vc.shape[1] if vc.ndim == 3 else -1
            if vc.shape != (B, V, self.graph.n) or vd.shape != (B, V, self.graph.m):
                raise ValueError(f"variant shapes must be (B, V, n) and (B, V, m), got {vc.shape}, {vd.shape}")
            acc = np.ones((B, V)) if self.variant_accuracy is None else np.asarray(self.variant_accuracy, dtype=float)
            if acc.shape != (B, V):
                raise ValueError(f"variant_accuracy must be (B, V) = ({B}, {V}), got {acc.shape}")
            self.variant_cycles, self.variant_data, self.variant_accuracy = vc, vd, acc
        elif self.variant_accuracy is not None:
            raise ValueError("variant_accuracy needs variant_cycles and variant_data")

    @property
    def n_variants(self) -> int:
        """Variants per instance (1 when the batch has none: the implicit variant)."""
        return 1 if self.variant_cycles is None else self.variant_cycles.shape[1]

    @property
    def accuracy(self) -> np.ndarray:
        """(B, V) accuracy of each variant (the implicit variant: 1.0)."""
        return np.ones((len(self), 1)) if self.variant_accuracy is None else self.variant_accuracy

    @property
    def requirement(self) -> np.ndarray:
        """(B,) accuracy requirement (0 = none)."""
        return np.zeros(len(self)) if self.accuracy_req is None else np.asarray(self.accuracy_req)

    def variant(self, k: int) -> "Instances":
        """The batch with every instance running variant ``k`` (no variant arrays)."""
        if self.variant_cycles is None:
            if k != 0:
                raise IndexError(f"variant {k} does not exist (1 variant)")
            c, d = self.cycles, self.data
        else:
            c, d = self.variant_cycles[:, k, :], self.variant_data[:, k, :]
        return Instances(self.graph, c, d, self.p1, self.p2, self.b1, self.b2, self.b1_down, self.b2_down, self.p3,
                         lat1=self.lat1, lat2=self.lat2, lat1_down=self.lat1_down, lat2_down=self.lat2_down)

    def chosen(self, variant: Any) -> "Instances":
        """The batch with instance b running variant ``variant[b]`` (no variant arrays)."""
        v = np.broadcast_to(np.asarray(variant, dtype=np.int64), (len(self),))
        if self.variant_cycles is None:
            if np.any(v != 0):
                raise IndexError("variant index > 0 in a batch without variants")
            c, d = self.cycles, self.data
        else:
            rows = np.arange(len(self))
            c, d = self.variant_cycles[rows, v], self.variant_data[rows, v]
        return Instances(self.graph, c, d, self.p1, self.p2, self.b1, self.b2, self.b1_down, self.b2_down, self.p3,
                         lat1=self.lat1, lat2=self.lat2, lat1_down=self.lat1_down, lat2_down=self.lat2_down)

    def __len__(self) -> int:
        return self.cycles.shape[0]

    @property
    def up1(self) -> np.ndarray:
        return self.b1

    @property
    def down1(self) -> np.ndarray:
        return self.b1 if self.b1_down is None else self.b1_down

    @property
    def up2(self) -> np.ndarray:
        return self.b2

    @property
    def down2(self) -> np.ndarray:
        return self.b2 if self.b2_down is None else self.b2_down

    @property
    def has_latency(self) -> bool:
        """True if any propagation latency is given (the cost model then adds per-transfer terms)."""
        return any(x is not None for x in (self.lat1, self.lat2, self.lat1_down, self.lat2_down))

    def _lat(self, x: np.ndarray | None) -> np.ndarray:
        return np.zeros(len(self)) if x is None else x

    @property
    def lat_up1(self) -> np.ndarray:
        return self._lat(self.lat1)

    @property
    def lat_up2(self) -> np.ndarray:
        return self._lat(self.lat2)

    @property
    def lat_down1(self) -> np.ndarray:
        return self._lat(self.lat1 if self.lat1_down is None else self.lat1_down)

    @property
    def lat_down2(self) -> np.ndarray:
        return self._lat(self.lat2 if self.lat2_down is None else self.lat2_down)

    def __getitem__(self, idx: Any) -> "Instances":
        def sl(v: Any) -> Any:
            if v is None or np.ndim(v) == 0:
                return v
            return np.atleast_1d(v[idx])

        return Instances(
            self.graph, np.atleast_2d(self.cycles[idx]), np.atleast_2d(self.data[idx]),
            sl(self.p1), sl(self.p2), sl(self.b1), sl(self.b2), sl(self.b1_down), sl(self.b2_down),
            sl(self.p3) if np.ndim(self.p3) else self.p3,
            None if self.variant_cycles is None else np.asarray(self.variant_cycles[idx]).reshape(-1, *self.variant_cycles.shape[1:]),
            None if self.variant_data is None else np.asarray(self.variant_data[idx]).reshape(-1, *self.variant_data.shape[1:]),
            None if self.variant_accuracy is None else np.atleast_2d(self.variant_accuracy[idx]),
            sl(self.accuracy_req),
            sl(self.lat1), sl(self.lat2), sl(self.lat1_down), sl(self.lat2_down),
        )


# ----------------------------------------------------------------------------- distributions


class Dist:
    """A scalar distribution written in YAML, in SI units after conversion.

    Accepted forms: a number or quantity string (constant), ``{constant: v}``,
    ``{uniform: [low, high]}``, ``{normal: {mean: m, std: s}}`` (clipped at 0,
    since every quantity here is non-negative), ``{exponential: {mean: m}}``,
    ``{choice: [v1, v2, ...]}``.
    """

    def __init__(self, spec: Any, kind: str):
        self.spec = spec
        self.kind = kind
        q = lambda v: parse_quantity(v, kind)  # noqa: E731
        if isinstance(spec, Mapping):
            if len(spec) != 1:
                raise ValueError(f"a distribution has exactly one key (constant, uniform, normal, choice), got {sorted(spec)}")
            (form, arg), = spec.items()
        else:
            form, arg = "constant", spec
        if form == "constant":
            self.form, self.args = "constant", (q(arg),)
        elif form == "uniform":
            if not isinstance(arg, (list, tuple)) or len(arg) != 2:
                raise ValueError("uniform needs [low, high]")
            lo, hi = q(arg[0]), q(arg[1])
            if hi < lo:
                raise ValueError(f"uniform needs low <= high, got [{arg[0]}, {arg[1]}]")
            self.form, self.args = "uniform", (lo, hi)
        elif form == "normal":
            if not isinstance(arg, Mapping) or set(arg) != {"mean", "std"}:
                raise ValueError("normal needs {mean: ..., std: ...}")
            mean, std = q(arg["mean"]), q(arg["std"])
            if std < 0:
                raise ValueError(f"normal needs std >= 0, got {arg['std']}")
            self.form, self.args = "normal", (mean, std)
        elif form == "exponential":
            if not isinstance(arg, Mapping) or set(arg) != {"mean"}:
                raise ValueError("exponential needs {mean: ...}")
            mean = q(arg["mean"])
            if mean <= 0:
                raise ValueError(f"exponential needs mean > 0, got {arg['mean']}")
            self.form, self.args = "exponential", (mean,)
        elif form == "choice":
            if not isinstance(arg, (list, tuple)) or not arg:
                raise ValueError("choice needs a non-empty list")
            self.form, self.args = "choice", tuple(q(v) for v in arg)
        else:
            raise ValueError(f"unknown distribution {form!r} (expected constant, uniform, normal, exponential, choice)")
        lo = {"constant": self.args[0], "uniform": self.args[0], "normal": 0.0, "exponential": 0.0,
              "choice": min(self.args)}[self.form]
        if lo < 0:
            raise ValueError(f"values must be non-negative, got {spec!r}")

    def sample(self, rng: np.random.Generator, size: Any) -> np.ndarray:
        if self.form == "constant":
            return np.full(size, self.args[0], dtype=float)
        if self.form == "uniform":
            return rng.uniform(self.args[0], self.args[1], size)
        if self.form == "normal":
            return np.maximum(rng.normal(self.args[0], self.args[1], size), 0.0)
        if self.form == "exponential":
            return rng.exponential(self.args[0], size)
        return rng.choice(np.asarray(self.args), size)

    def mean(self) -> float:
        if self.form == "constant":
            return self.args[0]
        if self.form == "uniform":
            return 0.5 * (self.args[0] + self.args[1])
        if self.form in ("normal", "exponential"):
            return self.args[0]  # normal: before clipping at 0
        return float(np.mean(self.args))

    def __repr__(self) -> str:
        return f"Dist({self.form}{self.args})"


class PositionDists:
    """One :class:`Dist` per position (per subtask for cycles, per data edge for bytes), drawn independently.

    ``sample(rng, (k, n))`` draws column by column (position 0 first), so a seed fixes the batch.
    """

    def __init__(self, specs: Sequence[Any], kind: str):
        self.dists = [Dist(s, kind) for s in specs]
        self.kind = kind

    def __len__(self) -> int:
        return len(self.dists)

    def sample(self, rng: np.random.Generator, size: Any) -> np.ndarray:
        k, n = size
        if n != len(self.dists):
            raise ValueError(f"{len(self.dists)} per-position distributions for {n} positions")
        return np.column_stack([d.sample(rng, k) for d in self.dists]) if n else np.zeros((k, 0))

    def mean(self) -> float:
        return float(np.mean([d.mean() for d in self.dists]))

    def __repr__(self) -> str:
        return f"PositionDists({self.dists})"


def size_dist(spec: Any, kind: str) -> "Dist | PositionDists":
    """A task-size spec: one ``DIST`` for every position, or a list with one ``DIST`` per position."""
    return PositionDists(spec, kind) if isinstance(spec, (list, tuple)) else Dist(spec, kind)


# The paper's distributions (DESIGN.md section 3). MB = 1e6 bytes, MHz = 1e6 Hz.
PAPER_DISTRIBUTIONS: dict[str, dict[str, Any]] = {
    "paper-5.1": {
        "cycles": {"uniform": [0, 2000e6]},
        "bytes": {"uniform": [0, 10e6]},
        "p1_hz": {"uniform": [100e6, 1000e6]},
        "p2_hz": {"uniform": [500e6, 5000e6]},
        "b1_Bps": {"uniform": [0, 2e6]},
        "b2_Bps": {"uniform": [0, 3e6]},
    },
    "paper-5.2": {
        "cycles": {"uniform": [500e6, 1500e6]},
        "bytes": {"uniform": [3e6, 8e6]},
        "p1_hz": {"uniform": [100e6, 1000e6]},
        "p2_hz": {"uniform": [500e6, 5000e6]},
        "b1_Bps": {"uniform": [0, 2e6]},
        "b2_Bps": {"uniform": [0, 3e6]},
    },
}

_KINDS = {"cycles": "cycles", "bytes": "bytes", "p1_hz": "hz", "p2_hz": "hz", "b1_Bps": "bytes_per_s", "b2_Bps": "bytes_per_s"}


@dataclass
class RequirementDistribution:
    """Distribution of whole requirements S = (E, D, p1, p2, b1, b2).

    ``cycles`` and ``bytes`` are per subtask / per data edge (i.i.d.).
    """

    cycles: Dist
    bytes: Dist
    p1_hz: Dist
    p2_hz: Dist
    b1_Bps: Dist
    b2_Bps: Dist
    name: str = "custom"
    spec: dict = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: str | Mapping[str, Any]) -> "RequirementDistribution":
        """A named paper distribution (``paper-5.1``, ``paper-5.2``) or a mapping of the six fields.

        A mapping may start from a named one with ``base: paper-5.1`` and override fields.
        """
        if isinstance(spec, str):
            if spec not in PAPER_DISTRIBUTIONS:
                raise ValueError(f"unknown distribution {spec!r} (expected one of {sorted(PAPER_DISTRIBUTIONS)} or a mapping)")
            name, merged = spec, dict(PAPER_DISTRIBUTIONS[spec])
        else:
            spec = dict(spec)
            base = spec.pop("base", None)
            merged = dict(PAPER_DISTRIBUTIONS[base]) if base else {}
            unknown = set(spec) - set(_KINDS)
            if unknown:
                raise ValueError(f"unknown field(s) {sorted(unknown)} (expected {sorted(_KINDS)})")
            merged.update(spec)
            missing = set(_KINDS) - set(merged)
            if missing:
                raise ValueError(f"missing field(s) {sorted(missing)}")
            name = f"{base}+custom" if base else "custom"
        return cls(name=name, spec=merged, **{k: Dist(merged[k], _KINDS[k]) for k in _KINDS})

    def sample(self, graph: TaskGraph, size: int, rng: np.random.Generator) -> Instances:
        """Draw ``size`` i.i.d. instances. Draw order is fixed, so a seed fixes the batch."""
        cycles = self.cycles.sample(rng, (size, graph.n))
        data = self.bytes.sample(rng, (size, graph.m))
        p1 = self.p1_hz.sample(rng, size)
        p2 = self.p2_hz.sample(rng, size)
        b1 = self.b1_Bps.sample(rng, size)
        b2 = self.b2_Bps.sample(rng, size)
        return Instances(graph, cycles, data, p1, p2, b1, b2)
