"""Records that stream: tables written in chunks during a run equal the in-memory tables; exact one-pass summaries."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from simoffload.cli import main
from simoffload.config import parse_scenario
from simoffload.sim import records
from simoffload.sim.engine import LINK_FIELDS, Simulation
from simoffload.sim.records import PairwiseSum, order_statistics, percentiles
from simoffload.sim.results import load_results, summarize, summarize_file, tables_from
from simoffload.sim.scenario import run_scenario

ROOT = Path(__file__).resolve().parents[1]

BUSY = {  # 6 devices on one cell and one edge core, deadlines with drop: tasks leave out of arrival order
    "name": "busy", "seed": 3, "horizon": 300,
    "task": {"subtasks": 4, "distribution": {"cycles": {"uniform": [1e8, 1e9]}, "bytes": {"uniform": [1e4, 2e5]}},
             "deadline": {"uniform": [1.0, 4.0]}},
    "execution": {"on_deadline": "drop"},
    "devices": {"count": 6, "cpu": {"uniform": [2e8, 1e9]}, "arrivals": {"poisson": {"rate": 0.08}}},
    "edge": {"cores": 1, "cpu": 2e9},
    "network": {"wireless": {"up": 1e6}, "wan": {"up": 5e5}, "shared_cell": True},
    "policies": ["local", "edge", "cloud", "random"],
}


def _write(tmp_path: Path, data: dict, name: str = "s.yaml") -> Path:
    f = tmp_path / name
    f.write_text(yaml.safe_dump(data))
    return f


def _memory_tables(data: dict, base_dir: Path) -> dict[str, pd.DataFrame]:
    res = tables_from(run_scenario(parse_scenario(copy.deepcopy(data), base_dir=base_dir)))
    return {t: getattr(res, t) for t in ("tasks", "subtasks", "links", "summary")}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_streamed_tables_equal_the_in_memory_tables(tmp_path, monkeypatch, fmt):
    want = _memory_tables(BUSY, tmp_path)
    assert len(want["tasks"]) > 4 * 60 and (want["tasks"].status == "dropped").any()  # a busy, dropping run
    monkeypatch.setenv("SIMOFFLOAD_CHUNK_ROWS", "37")  # many chunks, cut anywhere
    f = _write(tmp_path, BUSY)
    assert main(["run", str(f), "--out", str(tmp_path / "out"), "--format", fmt, "-q", "--no-plots"]) == 0
    got = load_results(tmp_path / "out")
    for t, df in want.items():
        if fmt == "csv" and t != "summary":  # CSV reads placement back as text: compare through the same reader
            df = pd.read_csv(pd.io.common.StringIO(df.to_csv(index=False)), dtype={"placement": str},
                             keep_default_na=True)
            if "placement" in df:
                df["placement"] = df["placement"].fillna("")
        pd.testing.assert_frame_equal(getattr(got, t), df, check_exact=True)
    if fmt == "parquet":
        groups = pq.ParquetFile(tmp_path / "out" / "tasks.parquet").num_row_groups
        assert groups >= len(want["tasks"]) // 37  # written chunk by chunk, not at the end
        assert pq.ParquetFile(tmp_path / "out" / "subtasks.parquet").num_row_groups > 10


def test_a_small_run_writes_the_same_bytes_as_before(tmp_path):
    """No chunk fills: the tables are written in one piece, as by the in-memory path (Python API)."""
    import simoffload

    data = dict(BUSY, horizon=60)
    f = _write(tmp_path, data)
    assert main(["run", str(f), "--out", str(tmp_path / "cli"), "-q", "--no-plots"]) == 0
    simoffload.run(parse_scenario(copy.deepcopy(data), base_dir=tmp_path), out=tmp_path / "api")
    for t in ("tasks", "subtasks", "links", "summary"):
        assert (tmp_path / "cli" / f"{t}.parquet").read_bytes() == (tmp_path / "api" / f"{t}.parquet").read_bytes()


def test_rows_emitted_during_the_run_equal_rows_built_at_the_end(monkeypatch):
    """The in-order release window (with drops, whose withdrawn jobs still end later) changes no row."""
    sc = parse_scenario(copy.deepcopy(BUSY))
    from simoffload.sim.scenario import build_world, make_policies

    world = build_world(sc)
    pols = make_policies(sc, sc.seed)
    streamed = [Simulation(world.system, p, label).run() for label, p in pols]
    real = Simulation._release

    def only_at_the_end(self, final=False):  # the old way: every row built from the states after the run
        if final:
            real(self, True)

    monkeypatch.setattr(Simulation, "_release", only_at_the_end)
    pols = make_policies(sc, sc.seed)
    at_end = [Simulation(world.system, p, label).run() for label, p in pols]
    for a, b in zip(streamed, at_end):
        assert list(a.tasks) == list(b.tasks)
        assert [r[1] for r in a.tasks] == sorted(r[1] for r in a.tasks)  # arrival order


def test_a_failing_policy_leaves_no_rows_in_the_streamed_files(tmp_path, monkeypatch):
    mod = tmp_path / "flaky.py"
    mod.write_text(
        "import numpy as np\nfrom simoffload.policy import Policy\n"
        "class Flaky(Policy):\n"
        "    def __init__(self, after=30):\n        self.after = after\n        self.n_ = 0\n"
        "    def decide(self, obs):\n        self.n_ += 1\n"
        "        if self.n_ > self.after:\n            raise RuntimeError('boom')\n"
        "        return np.ones(obs.graph.n, dtype=int)\n")
    data = dict(BUSY, policies=["local", {"name": "flaky:Flaky", "params": {"after": 60}}, "cloud"])
    monkeypatch.setenv("SIMOFFLOAD_CHUNK_ROWS", "13")
    f = _write(tmp_path, data)
    assert main(["run", str(f), "--out", str(tmp_path / "out"), "-q", "--no-plots"]) == 1  # a policy failed
    got = load_results(tmp_path / "out")
    monkeypatch.delenv("SIMOFFLOAD_CHUNK_ROWS")
    want = _memory_tables(dict(BUSY, policies=["local", "cloud"]), tmp_path)
    for t in ("tasks", "subtasks", "links", "summary"):
        pd.testing.assert_frame_equal(getattr(got, t), want[t], check_exact=True)
    assert list(got.meta["failed"]) == ["flaky:Flaky"]


def test_a_killed_streaming_run_leaves_nothing_that_looks_complete(tmp_path):
    mod = tmp_path / "killer.py"
    mod.write_text(
        "import os, signal\nimport numpy as np\nfrom simoffload.policy import Policy\n"
        "class Killer(Policy):\n"
        "    def __init__(self, after=200):\n        self.after = after\n        self.n_ = 0\n"
        "    def decide(self, obs):\n        self.n_ += 1\n"
        "        if self.n_ > self.after:\n            os.kill(os.getpid(), signal.SIGKILL)\n"
        "        return np.zeros(obs.graph.n, dtype=int)\n")
    data = dict(BUSY, policies=["local", {"name": "killer:Killer", "params": {"after": 100}}])
    f = _write(tmp_path, data)
    env = dict(os.environ, SIMOFFLOAD_CHUNK_ROWS="16", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "simoffload", "run", str(f), "--out", str(tmp_path / "out"), "-q",
                           "--no-plots"], env=env, cwd=tmp_path, capture_output=True, timeout=300)
    assert proc.returncode == -9
    assert not (tmp_path / "out").exists()  # only the hidden staging directory, with the rows written so far
    stages = [p for p in tmp_path.iterdir() if p.name.startswith(".out.partial-")]
    assert len(stages) == 1 and (stages[0] / "tasks.parquet").exists() and not (stages[0] / "meta.json").exists()
    with pytest.raises(Exception):
        load_results(stages[0])
    # a new run into the same place removes the abandoned staging directory and completes
    g = _write(tmp_path, dict(BUSY, policies=["local"]), "again.yaml")
    assert main(["run", str(g), "--out", str(tmp_path / "out"), "-q", "--no-plots"]) == 0
    assert not stages[0].exists() and list(load_results(tmp_path / "out").summary.policy) == ["local"]


def test_summary_from_a_file_equals_summarize_bit_for_bit(tmp_path):
    rng = np.random.default_rng(5)
    n = 5000
    tasks = pd.DataFrame({
        "policy": np.repeat(["a", "b", "c"], [2500, 2499, 1]),
        "status": rng.choice(["done", "missed", "dropped", "failed", "unfinished"], n, p=[.6, .2, .1, .05, .05]),
        "latency_s": rng.lognormal(0, 2, n), "decision_s": rng.exponential(1e-3, n), "energy_j": rng.gamma(2, 3, n),
        "accuracy": rng.uniform(0.5, 0.8, n), "accuracy_req": rng.uniform(0.5, 0.8, n),
    })
    tasks.loc[tasks.status.isin(["dropped", "failed", "unfinished"]), "latency_s"] = np.nan
    tasks.loc[2500:2600, "status"] = "failed"
    p = tmp_path / "tasks.parquet"
    import pyarrow as pa

    t = pa.Table.from_pandas(tasks, preserve_index=False)
    with pq.ParquetWriter(p, t.schema) as w:
        for i in range(0, n, 333):
            w.write_table(t.slice(i, 333))
    got = summarize_file(p, ["a", "b", "c"], accuracy=True)
    want = summarize(tasks, ["a", "b", "c"])
    pd.testing.assert_frame_equal(got, want, check_exact=True)


@pytest.mark.parametrize("n", [0, 1, 5, 7, 8, 9, 127, 128, 129, 255, 1000, 8193, 70001])
def test_pairwise_sum_is_numpy_sum_bit_for_bit(n):
    rng = np.random.default_rng(n)
    a = rng.exponential(3.0, n) * rng.choice([1.0, 1e-3, 1e7], n) * rng.choice([1.0, -1.0], n)
    for chunk in (1, 3, 64, 1000, max(n, 1)):
        s = PairwiseSum(n)
        for i in range(0, n, chunk):
            s.add(a[i:i + chunk])
        assert s.total() == float(np.sum(a))
        assert n == 0 or s.total() / n == float(a.mean())


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 4000])
def test_percentiles_are_numpy_percentiles_bit_for_bit(n):
    rng = np.random.default_rng(100 + n)
    a = np.concatenate([rng.lognormal(0, 3, n - n // 4), np.full(n // 4, 2.5)])  # ties too
    rng.shuffle(a)
    q = [0, 1, 50, 95, 99, 99.9, 100]
    assert percentiles(lambda: (a[i:i + 97] for i in range(0, n, 97)), n, q) == [float(x) for x in np.percentile(a, q)]


def test_order_statistics_narrow_until_few_values_remain():
    rng = np.random.default_rng(9)
    # values packed into a tiny range (one first-level bin), with negatives, zeros and a wide tail
    a = np.concatenate([10 + rng.normal(0, 1e-9, 30000), -rng.exponential(1, 500), np.zeros(100),
                        rng.exponential(1e6, 500)])
    rng.shuffle(a)
    ranks = [0, 1, 599, 600, 15000, len(a) - 1]
    got = order_statistics(lambda: (a[i:i + 4096] for i in range(0, len(a), 4096)), len(a), ranks, limit=50)
    s = np.sort(a)
    assert got == {r: float(s[r]) for r in ranks}


def test_record_buffer_moves_full_chunks_out_and_keeps_order():
    b = records.RecordBuffer(("policy", "task_id", "start_s"), chunk=4)
    rows = [("p", i, i / 3) for i in range(10)]
    for r in rows:
        b.append(r)
        b.check()
    assert len(b.chunks) == 2 and len(b.rows) == 2 and len(b) == 10
    assert list(b) == rows and b[3] == rows[3]
    df = b.frame()
    assert df.task_id.tolist() == list(range(10)) and str(df.task_id.dtype) == "int64"



def _packed_links(chunk=4):
    return records.RecordBuffer(LINK_FIELDS, chunk=chunk, const={"policy": "edge"},
                                codes={"link": [], "kind": ("bandwidth", "transfer", "flows", "queue")})


def test_packed_buffer_gives_back_the_rows_it_was_given():
    """Packed rows (policy constant, link and kind coded, numbers as float64) come back as the same tuples,
    whether appended whole or as ``put(pack(...))`` of the stored columns; codes grow as names appear."""
    import math
    import pickle

    b = _packed_links(chunk=100)
    assert b.stored == ("link", "kind", "start_s", "end_s", "value", "bytes", "task_id")
    b.append(("edge", "device0_up", "transfer", 0.5, 1.25, math.nan, 3000.0, 7))
    up, q = b.code("link", "device0_up"), b.code("link", "edge_cpu")
    assert (up, q) == (0, 1) and b.codes["link"] == ["device0_up", "edge_cpu"]
    b.put(b.pack(q, 3, 2.0, math.nan, 4, math.nan, -1))  # ints stored as float64, given back as ints
    b.put(b.pack(up, 2, 2.5, math.nan, 1, math.nan, -1))
    want = [("edge", "device0_up", "transfer", 0.5, 1.25, math.nan, 3000.0, 7),
            ("edge", "edge_cpu", "queue", 2.0, math.nan, 4.0, math.nan, -1),
            ("edge", "device0_up", "flows", 2.5, math.nan, 1.0, math.nan, -1)]
    got = list(b)
    assert len(b) == 3 and len(got) == 3
    for g, w in zip(got, want):
        assert [type(x) for x in g] == [type(x) for x in w]
        assert all(x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y)) for x, y in zip(g, w))
    assert b[1][1:3] == ("edge_cpu", "queue")
    c = pickle.loads(pickle.dumps(b))  # split runs send records back
    assert repr(list(c)) == repr(got)
    c.put(c.pack(c.code("link", "wan_up"), 1, 3.0, 4.0, math.nan, 10.0, 8))
    assert list(c)[-1][1:3] == ("wan_up", "transfer") and len(b) == 3


def test_packed_rows_come_back_as_the_tuples_appended_many_and_mixed():
    """Many packed rows (random names, kinds, times with NaN, ids up to 2**40, negative ids) come back as
    exactly the tuples appended, with the same Python types, in order; a packed subtasks buffer too; an
    empty buffer gives no rows. The rows to compare with are the ones built here, not read from the buffer."""
    import math
    import random

    from simoffload.sim.engine import SUBTASK_FIELDS

    rnd = random.Random(5)
    names = [f"device{i}_up" for i in range(7)] + ["edge_cpu", "wan_up"]
    kinds = ("bandwidth", "transfer", "flows", "queue")
    b = _packed_links(chunk=10_000)
    assert list(b) == [] and b.tuples() == []
    want = []
    for i in range(2_000):
        name, kind = rnd.choice(names), rnd.choice(kinds)
        start = rnd.uniform(0, 1e6)
        end = math.nan if rnd.random() < 0.5 else start + rnd.expovariate(1.0)
        value = float(rnd.randrange(0, 50)) if kind != "transfer" else math.nan
        nbytes = rnd.uniform(0, 1e7) if kind == "transfer" else math.nan
        tid = rnd.choice((-1, rnd.randrange(0, 2 ** 40)))
        row = ("edge", name, kind, start, end, value, nbytes, tid)
        want.append(row)
        if i % 2:
            b.append(row)
        else:
            b.put(b.pack(b.code("link", name), kinds.index(kind), start, end, value, nbytes, float(tid)))
    got = b.tuples()
    assert len(got) == len(want) == len(b)
    for g, w in zip(got, want):
        assert [type(x) for x in g] == [type(x) for x in w]
        assert all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(g[3:7], w[3:7]))
        assert g[:3] == w[:3] and g[7] == w[7]
    b.put(b.pack(0, 1, 1.0, 2.0, math.nan, 3.0, 4))  # the buffer can still grow after being read
    assert len(b) == 2_001 and b.tuples()[-1][7] == 4

    s = records.RecordBuffer(SUBTASK_FIELDS, chunk=100, const={"policy": "p"})
    rows = [("p", t, v, t % 3, t * 0.5, t * 0.5 + v, t * 0.5 + 2 * v) for t in range(40) for v in range(6)]
    for r in rows:
        s.put(s.pack(*r[1:]))
    assert s.tuples() == rows and [type(x) for x in s.tuples()[7]] == [str, int, int, int, float, float, float]


def test_packed_chunks_equal_the_tuples_typed_as_before():
    """A chunk built from packed rows equals, byte for byte (NaN bits included), the batch built from the same
    rows as tuples by :func:`records.to_batch` (the plain path), and the frame equals the plain one."""
    import math

    import pyarrow as pa

    rows = []
    for i in range(11):
        link = ("device0_up", "wan_down", "edge_cpu")[i % 3]
        kind = ("transfer", "flows", "queue")[i % 3]
        rows.append(("edge", link, kind, i / 7, i / 3 if kind == "transfer" else math.nan,
                     math.nan if kind == "transfer" else float(i % 4), 1e6 + i if kind == "transfer" else math.nan,
                     i if kind == "transfer" else -1))
    b = _packed_links(chunk=4)
    for r in rows:
        b.append(r)
        b.check()
    assert len(b.chunks) == 2 and b.pending == 3
    sch = records.schema(LINK_FIELDS)

    def ipc(batches):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, sch) as w:
            for x in batches:
                w.write_batch(x)
        return sink.getvalue().to_pybytes()

    plain = [records.to_batch(LINK_FIELDS, rows[i:i + 4], sch) for i in (0, 4)] + [
        records.to_batch(LINK_FIELDS, rows[8:], sch)]
    assert ipc(b.chunks + [b.pending_batch(sch)]) == ipc(plain)
    p = records.RecordBuffer(LINK_FIELDS, chunk=100)
    for r in rows:
        p.append(r)
    assert b.frame().equals(p.frame())


def test_table_file_writes_row_groups_in_order_in_the_background_and_reports_errors(tmp_path):
    """Row groups written by the background thread land in order (one per batch), a mark taken after them
    counts them, a cut goes back to it; a batch the file cannot take raises at the next operation."""
    fields = ("policy", "task_id", "start_s")
    f = records._TableFile(tmp_path / "t.parquet", "parquet", fields)
    sch = f.schema
    for k in range(5):
        f.write(records.to_batch(fields, [("p", 10 * k + i, k + i / 4) for i in range(3)], sch))
    mark = f.mark()
    assert mark == (5, 15)
    f.write(records.to_batch(fields, [("q", 99, 9.5)], sch))
    f.cut(mark)
    f.close()
    df = pq.read_table(tmp_path / "t.parquet").to_pandas()
    assert pq.ParquetFile(tmp_path / "t.parquet").num_row_groups == 5
    assert df.task_id.tolist() == [10 * k + i for k in range(5) for i in range(3)]
    assert df.start_s.tolist() == [k + i / 4 for k in range(5) for i in range(3)]
    g = records._TableFile(tmp_path / "u.parquet", "parquet", fields)
    g.write(records.to_batch(fields, [("p", 1, 0.5)], sch))
    import pyarrow as pa

    bad = pa.RecordBatch.from_pydict({"x": [1.0]})  # not this file's schema: fails in the writing thread
    g.write(bad)
    with pytest.raises(ValueError):
        g.close()


def test_packed_chunks_streamed_are_built_in_the_writing_thread_from_a_copy(tmp_path):
    """A packed buffer's chunk is handed to the file as a function built later in the writing thread; rows and
    link names added after the hand-over (the buffer cleared and reused at once) do not leak into it."""
    import math

    b = _packed_links(chunk=2)
    f = records._TableFile(tmp_path / "links.parquet", "parquet", LINK_FIELDS)
    b.sink = f.write
    b.append(("edge", "device0_up", "flows", 1.0, math.nan, 1.0, math.nan, -1))
    b.append(("edge", "device0_up", "flows", 2.0, math.nan, 0.0, math.nan, -1))
    b.check()  # full: handed over
    assert b.pending == 0 and len(b) == 2
    b.append(("edge", "wan_up", "transfer", 2.5, 3.5, math.nan, 64.0, 4))  # a new name, code 1
    b.flush()
    f.close()
    df = pq.read_table(tmp_path / "links.parquet").to_pandas()
    assert df.link.tolist() == ["device0_up", "device0_up", "wan_up"]
    assert df.kind.tolist() == ["flows", "flows", "transfer"] and df.policy.tolist() == ["edge"] * 3
    assert df.start_s.tolist() == [1.0, 2.0, 2.5] and df.task_id.tolist() == [-1, -1, 4]
    assert pq.ParquetFile(tmp_path / "links.parquet").num_row_groups == 2

# ----------------------------------------------------------------------------- the workload streams


def _eager_tasks(sc, seed):
    """The workload drawn the way build_world drew it before streaming: every task at once, then one sort."""
    import math

    from simoffload.model.task import Dist
    from simoffload.rng import rng_for
    from simoffload.sim.scenario import _arrival_times, _requirements, app_of_device, task_graphs

    graphs, apps = task_graphs(sc), sc.apps()
    dev_app = app_of_device(sc, seed)
    dev_deadline = (Dist(sc.devices.deadline, "s").sample(rng_for(seed, "deadlines/devices"), sc.devices.count)
                    if sc.devices.deadline is not None else None)
    per_dev = []
    for i in range(sc.devices.count):
        j = int(dev_app[i])
        app, g = apps[j], graphs[j]
        cdist, ddist = app.task.dists()
        t = _arrival_times(sc, rng_for(seed, f"arrivals/device{i}"), app.arrivals, app.max_tasks)
        rng = rng_for(seed, f"tasks/device{i}")
        cyc, dat = cdist.sample(rng, (len(t), g.n)), ddist.sample(rng, (len(t), g.m))
        if app.task.deadline is not None:
            dl = Dist(app.task.deadline, "s").sample(rng_for(seed, f"deadlines/device{i}"), len(t))
        else:
            dl = np.full(len(t), math.inf if dev_deadline is None else float(dev_deadline[i]))
        per_dev.append((t, cyc, dat, dl, _requirements(sc, i, len(t), seed, app.task)))
    order = sorted((float(t), i, k) for i, (ts, *_) in enumerate(per_dev) for k, t in enumerate(ts))
    return [(tid, i, t, per_dev[i][1][k].tobytes(), per_dev[i][2][k].tobytes(), float(per_dev[i][3][k]),
             float(per_dev[i][4][k]), int(dev_app[i])) for tid, (t, i, k) in enumerate(order)]


WORKLOADS = {
    "periodic_ties": {  # every device arrives at the same instants: ties broken by device
        "name": "p", "horizon": 100,
        "task": {"subtasks": 3, "distribution": "paper-5.1", "deadline": {"exponential": {"mean": 3}}},
        "devices": {"count": 5, "cpu": 1e9, "arrivals": {"periodic": {"interval": 0.7}}}, "policies": ["local"]},
    "poisson_deadlines": {
        "name": "m", "horizon": 900,
        "task": {"subtasks": 4, "distribution": {"cycles": {"exponential": {"mean": 1e8}},
                                                 "bytes": {"normal": {"mean": 1e5, "std": 5e4}}},
                 "deadline": {"uniform": [1, 2]}},
        "devices": {"count": 7, "cpu": 1e9, "arrivals": {"poisson": {"rate": 1.3}}}, "policies": ["local"]},
    "choice_capped": {  # a choice distribution: that device's arrays are drawn whole
        "name": "c", "horizon": 300,
        "task": {"subtasks": 2, "distribution": {"cycles": {"choice": [1e8, 2e8, 5e8]}, "bytes": {"uniform": [0, 1e5]}}},
        "devices": {"count": 3, "cpu": 1e9, "arrivals": {"poisson": {"rate": 2.0}}, "max_tasks": 150,
                    "deadline": 4.0},
        "policies": ["local"]},
}


@pytest.mark.parametrize("name", sorted(WORKLOADS))
@pytest.mark.parametrize("block", [1, 7, 4096])
def test_streamed_workload_equals_the_eager_draw(monkeypatch, name, block):
    import simoffload.sim.workload as W
    from simoffload.sim.scenario import build_world

    monkeypatch.setattr(W, "CACHE_TASKS", 0)  # stream even a small workload
    monkeypatch.setattr(W, "BLOCK", block)
    sc = parse_scenario(copy.deepcopy(WORKLOADS[name]))
    want = _eager_tasks(sc, sc.seed)
    tasks = build_world(sc).system.tasks
    got = [(t.task_id, t.device, t.arrival_s, t.cycles.tobytes(), t.data.tobytes(), t.deadline_s, t.accuracy_req, t.app)
           for t in tasks]
    assert len(want) > 100 and len(tasks) == len(want)
    assert got == want
    assert [t.task_id for t in tasks] == list(range(len(want)))  # a second pass draws the same tasks again


def test_poisson_blocks_carry_the_cumulative_sum_exactly():
    from simoffload.rng import rng_for
    from simoffload.sim.scenario import _arrival_times
    from simoffload.sim.workload import arrival_blocks

    sc = parse_scenario({"name": "x", "horizon": 5000, "task": {"subtasks": 1},
                         "devices": {"count": 1, "arrivals": {"poisson": {"rate": 3.0}}}, "policies": ["local"]})
    want = _arrival_times(sc, rng_for(1, "a"), None, None)
    for block in (1, 3, 1000, 10 ** 6):
        got = np.concatenate(list(arrival_blocks(sc, rng_for(1, "a"), None, None, block)))
        assert got.tobytes() == want.tobytes()


def test_lazy_load_gives_dataset_views_of_the_same_rows(tmp_path, monkeypatch):
    import pyarrow.dataset as ds

    monkeypatch.setenv("SIMOFFLOAD_CHUNK_ROWS", "50")
    f = _write(tmp_path, BUSY)
    assert main(["run", str(f), "--out", str(tmp_path / "out"), "-q", "--no-plots"]) == 0
    full, lazy = load_results(tmp_path / "out"), load_results(tmp_path / "out", lazy=True)
    edge = lazy.tasks.to_table(filter=ds.field("policy") == "edge").to_pandas()
    pd.testing.assert_frame_equal(edge, full.tasks[full.tasks.policy == "edge"].reset_index(drop=True))
    assert lazy.subtasks.count_rows() == len(full.subtasks)
