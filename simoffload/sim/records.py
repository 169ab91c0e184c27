"""Records that stream: typed columnar chunks, written as Parquet row groups (or CSV chunks) during a run.

The engine appends one row per record to a :class:`RecordBuffer`: a tuple for
the tasks table; for the subtasks and links tables (about 13 rows a task) the
row's numbers packed into float64 bytes, with the policy kept once per buffer
and link names and row kinds as small codes (:class:`RecordBuffer`'s packed
form: cheaper to append, nothing for the garbage collector, and a chunk is one
``numpy.frombuffer``). Every ``chunk_rows`` rows
(:data:`CHUNK_ROWS`, checked once per task arrival) the buffer turns its rows
into one typed Arrow record batch (:data:`TYPES` gives each column's type) and
hands it on:

* with no sink (the Python API, :func:`~simoffload.sim.scenario.run_scenario`),
  the batches stay in memory and :func:`~simoffload.sim.results.tables_from`
  builds the DataFrames from them;
* with a :class:`RunSink` (``simoffload run --out DIR``), each batch becomes one
  Parquet row group (``pyarrow.parquet.ParquetWriter``) or one appended CSV chunk
  in the run's hidden staging directory, which is moved into place only when the
  run is complete (:class:`~simoffload.sim.results.StagedDirectory`).

A table none of whose buffers ever filled a chunk is built from the tuples
exactly as before and written in one piece, so small runs (every shipped
scenario) give byte-identical files. Rows keep the order of the in-memory
tables: policies one after another; within a policy the tasks table is in
arrival order (the engine emits a task's row once it and every earlier task have
left the system), subtasks and links in event order; bandwidth rows (policy
``*``) first in the links table.

A policy that fails (or is interrupted) leaves no rows: the sink remembers
where each policy's rows begin and cuts the files back to there (a copy of the
kept row groups for Parquet, a truncation for CSV; only on that path).

Summaries of a streamed tasks table are computed by reading the file back in
row groups (:func:`summarize_file`), without loading it: counts exactly; means
with numpy's own pairwise summation replayed over the stream
(:func:`pairwise_sum`); percentiles exactly (numpy's ``linear`` method) from the
order statistics found by narrowing histogram passes (:func:`order_statistics`).
The result equals :func:`~simoffload.sim.results.summarize` of the loaded table
bit for bit, in memory bounded by a chunk and a few 65,536-bin histograms per
policy.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

#: rows per chunk (one Parquet row group); ``SIMOFFLOAD_CHUNK_ROWS`` overrides it (tests use small chunks)
CHUNK_ROWS = 65536

_FLOAT = ("arrival_s", "start_s", "finish_s", "latency_s", "decision_s", "energy_j", "deadline_s", "ready_s",
          "end_s", "value", "bytes", "accuracy", "accuracy_req")
_INT = ("task_id", "device", "site", "variant", "subtask", "place")
_STR = ("policy", "placement", "app", "reason", "status", "link", "kind")


def chunk_rows() -> int:
    """Rows per chunk: :data:`CHUNK_ROWS` unless ``SIMOFFLOAD_CHUNK_ROWS`` is set (>= 1)."""
    raw = os.environ.get("SIMOFFLOAD_CHUNK_ROWS", "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n >= 1:
            return n
    return CHUNK_ROWS


def _type(name: str) -> Any:
    import pyarrow as pa

    if name in _FLOAT:
        return pa.float64()
    if name in _INT:
        return pa.int64()
    if name in _STR:
        return pa.large_string()
    raise KeyError(f"no type declared for record column {name!r}")


def schema(fields: Iterable[str]) -> Any:
    """The Arrow schema of a table with these columns, with the pandas metadata ``to_parquet`` writes."""
    import pandas as pd
    import pyarrow as pa

    fields = list(fields)
    empty = pa.schema([(f, _type(f)) for f in fields]).empty_table().to_pandas()
    return pa.Schema.from_pandas(pd.DataFrame(empty), preserve_index=False)


def _row_dtype(fields: tuple) -> np.dtype:
    return np.dtype([(f, "O" if f in _STR else ("i8" if f in _INT else "f8")) for f in fields])


def to_batch(fields: tuple, rows: list[tuple], sch: Any = None) -> Any:
    """Rows (tuples in ``fields`` order) as one typed Arrow record batch.

    numpy parses the tuples into a structured array in C (about three times
    faster than transposing them in Python); numbers become float64/int64
    columns, text an object column that Arrow takes as it is.
    """
    import pyarrow as pa

    sch = schema(fields) if sch is None else sch
    if not rows:
        return pa.RecordBatch.from_pylist([], schema=sch)
    a = np.array(rows, dtype=_row_dtype(tuple(fields)))
    arrays = [pa.array(np.ascontiguousarray(a[f]), type=sch.field(f).type) for f in fields]
    return pa.RecordBatch.from_arrays(arrays, schema=sch)


class RecordBuffer:
    """Append-only rows of one table for one policy's run.

    Plain form (no ``const``, no ``codes``): rows are tuples in ``fields`` order
    and ``append`` is the underlying list's own ``append``.

    Packed form (``const`` or ``codes`` given; the subtasks and links tables):
    a column named in ``const`` holds one value for the whole buffer (the
    policy) and is not stored; a column named in ``codes`` is stored as the
    index of its value in that vocabulary (link and CPU names, the row kind),
    which grows as new values are met (:meth:`code`); every stored column is a
    number. A row is the stored columns (:attr:`stored`, in ``fields`` order
    without the constant ones) packed into float64 bytes, appended by the
    engine as ``put(pack(...))`` (two C calls onto one ``bytearray``: no object
    per row kept alive, nothing for the garbage collector to track). A chunk is
    then one ``numpy.frombuffer``; integer columns are cast back (exact below 2**53),
    coded columns taken from their vocabulary, constant ones repeated. The
    rows (:meth:`__iter__`, :meth:`tuples`) and the tables are the same as
    from plain tuples. ``append(row)`` still takes a whole row in ``fields``
    order (slower: for the paths that are not hot).

    :meth:`check` (called by the engine once per task arrival) moves the rows
    into one typed batch when there are ``chunk`` of them; the batch goes to
    the attached sink, or stays here (:attr:`chunks`) without one.
    """

    def __init__(self, fields: tuple, chunk: int | None = None, const: dict | None = None,
                 codes: dict | None = None):
        self.fields = tuple(fields)
        self.const = dict(const or {})
        self.codes = {f: list(v) for f, v in (codes or {}).items()}
        for f in list(self.const) + list(self.codes):
            if f not in self.fields:
                raise KeyError(f"{f!r} is not a column of this table")
        self.packed = bool(self.const or self.codes)
        self.stored = tuple(f for f in self.fields if f not in self.const)
        self._row_bytes = 8 * len(self.stored) if self.packed else 1
        self.rows: Any = bytearray() if self.packed else []  # packed: the rows' bytes, one after another
        self.chunk = chunk_rows() if chunk is None else int(chunk)
        self.full = self.chunk * self._row_bytes  # ``len(rows)`` of a full chunk
        self.chunks: list[Any] = []  # Arrow record batches kept in memory (no sink)
        self.sink: Callable[[Any], None] | None = None
        self.flushed = 0  # rows moved out of ``rows`` so far
        self._schema: Any = None
        self._bind()

    def _bind(self) -> None:
        if not self.packed:
            self.put = self.append = self.rows.append
            return
        self.put = self.rows.extend
        self._index = {f: {v: i for i, v in enumerate(vs)} for f, vs in self.codes.items()}
        self._struct = struct.Struct(f"<{len(self.stored)}d")
        self.pack = self._struct.pack
        self.append = self._append_row

    def code(self, field: str, value: Any) -> int:
        """The stored code of ``value`` in coded column ``field`` (added to its vocabulary if new)."""
        index = self._index[field]
        i = index.get(value)
        if i is None:
            i = index[value] = len(self.codes[field])
            self.codes[field].append(value)
        return i

    def _append_row(self, row: tuple) -> None:
        """A whole row in ``fields`` order (the constant columns' values are not checked)."""
        vals = []
        for f, x in zip(self.fields, row):
            if f in self.const:
                continue
            vals.append(self.code(f, x) if f in self.codes else x)
        self.put(self.pack(*vals))

    @property
    def pending(self) -> int:
        """Rows appended and not yet moved out."""
        return len(self.rows) // self._row_bytes

    def __len__(self) -> int:
        return self.flushed + self.pending

    def __getstate__(self) -> dict:  # split runs send their records back as data
        if self.sink is not None and self.flushed:
            raise RuntimeError("records streamed to a file cannot be sent to another process")
        state = dict(self.__dict__)
        for k in ("append", "put", "pack", "_struct"):
            state.pop(k, None)
        state["sink"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bind()

    @property
    def spilled(self) -> bool:
        """Whether any rows have left the tuple list (into a batch)."""
        return self.flushed > 0

    def tuples(self) -> list[tuple]:
        """The pending rows as tuples in ``fields`` order (as plain buffers hold them)."""
        if not self.packed:
            return list(self.rows)
        n = self.pending
        if n == 0:
            return []
        # column by column in numpy (a Python loop per row cost about 1 us a row: a 10K-task run's
        # subtasks table built at the end took a quarter of a second); the values are the same
        # Python objects: floats as unpacked, ints as int(float), text the vocabulary's own strings
        a = np.frombuffer(self.rows, dtype="<f8", count=n * len(self.stored)).reshape(n, len(self.stored))
        j = {f: i for i, f in enumerate(self.stored)}
        cols, c = [], None
        for f in self.fields:
            if f in self.const:
                cols.append([self.const[f]] * n)
                continue
            c = a[:, j[f]]
            if f in self.codes:
                vocab = np.empty(len(self.codes[f]), dtype=object)
                vocab[:] = self.codes[f]
                cols.append(vocab[c.astype(np.intp)].tolist())
            elif f in _INT:
                cols.append(c.astype(np.int64).tolist())
            else:
                cols.append(c.tolist())
        del a, c  # no view left on ``rows`` (a bytearray with an export cannot be resized)
        return list(zip(*cols))

    def pending_batch(self, sch: Any = None) -> Any:
        """The pending rows as one typed batch (they stay pending)."""
        if sch is None:
            if self._schema is None:
                self._schema = schema(self.fields)
            sch = self._schema
        if not self.packed:
            return to_batch(self.fields, self.rows, sch)
        return self._deferred(sch)()

    def _deferred(self, sch: Any = None) -> Any:
        """A function building the pending rows' batch later, from a copy of their bytes and vocabularies."""
        import pyarrow as pa

        if sch is None:
            if self._schema is None:
                self._schema = schema(self.fields)
            sch = self._schema
        n = self.pending
        data = bytes(self.rows)
        codes = {f: list(v) for f, v in self.codes.items()}
        fields, stored, const = self.fields, self.stored, self.const

        def build() -> Any:
            if n == 0:
                return pa.RecordBatch.from_pylist([], schema=sch)
            cols = np.frombuffer(data, dtype="<f8").reshape(n, len(stored)).T.copy()
            j = {f: i for i, f in enumerate(stored)}
            arrays = []
            for f in fields:
                t = sch.field(f).type
                if f in const:
                    arrays.append(pa.repeat(pa.scalar(const[f], type=t), n))
                elif f in codes:
                    arrays.append(pa.array(codes[f], type=t).take(pa.array(cols[j[f]].astype(np.int32))))
                elif f in _INT:
                    arrays.append(pa.array(cols[j[f]].astype(np.int64), type=t))
                else:
                    arrays.append(pa.array(cols[j[f]], type=t))
            return pa.RecordBatch.from_arrays(arrays, schema=sch)

        build.num_rows = n
        return build

    def batch(self) -> Any:
        """The pending rows as one batch (they leave the list)."""
        b = self.pending_batch()
        self.flushed += self.pending
        self.rows.clear()  # in place: ``append`` and ``put`` stay bound to it
        return b

    def flush(self) -> None:
        """Move the pending rows out now (to the sink, or into :attr:`chunks`)."""
        if not self.rows:
            return
        if self.sink is not None and self.packed:  # built and written by the sink's writing thread
            b = self._deferred()
            self.flushed += self.pending
            self.rows.clear()
            self.sink(b)
            return
        b = self.batch()
        if self.sink is not None:
            self.sink(b)
        else:
            self.chunks.append(b)

    def check(self) -> None:
        if len(self.rows) >= self.full:
            self.flush()

    def __iter__(self) -> Iterator[tuple]:
        """Every row as a tuple (rows kept in memory only; a streamed table is in its file)."""
        if self.sink is not None and self.flushed:
            raise RuntimeError("the rows of this table were streamed to a file; load them from there")
        for b in self.chunks:
            yield from zip(*(c.to_pylist() for c in b.columns))
        yield from self.tuples()

    def __getitem__(self, i: Any) -> Any:
        """Row(s) by position (in memory; a convenience for small runs and tests)."""
        return self.tuples()[i] if not self.flushed else list(self)[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecordBuffer):
            return list(self) == list(other)
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def frame(self) -> Any:
        """The rows as a DataFrame (in memory)."""
        import pandas as pd
        import pyarrow as pa

        if not self.chunks:
            return pd.DataFrame(self.tuples(), columns=list(self.fields))
        return pa.Table.from_batches(self.chunks + [self.pending_batch(self.chunks[0].schema)]).to_pandas()


# ----------------------------------------------------------------------------- writing to a directory


class _TableFile:
    """One table's file in the staging directory, written in chunks; can be cut back to a mark.

    A Parquet row group is encoded and written by a background thread (pyarrow
    releases the GIL while it writes) while the simulation goes on; a packed
    buffer's chunk is handed over as a function (``build.num_rows`` rows, from
    a copy of the bytes and vocabularies) and built there too; at most one
    row group per file is under way, and every other operation (mark, cut,
    close) first waits for it, so the file's contents and order are those of
    writing in line. A writing error is raised at the next operation.
    """

    def __init__(self, path: Path, fmt: str, fields: tuple):
        self.path, self.fmt, self.fields = path, fmt, tuple(fields)
        self.schema = schema(fields)
        self.writer: Any = None
        self.groups = 0  # parquet: row groups written; csv: bytes written
        self.rows = 0
        self._file: Any = None
        self._thread: Any = None  # one writing thread (parquet)
        self._pending: Any = None  # the row group being written (a Future)

    def _wait(self) -> None:
        """Wait for the row group being written (re-raises its error)."""
        f, self._pending = self._pending, None
        if f is not None:
            f.result()

    def write(self, batch: Any) -> None:
        """Write a batch, or a function building one (a packed buffer's chunk, built in the writing thread)."""
        if batch.num_rows == 0 and self.rows:
            return
        if callable(batch) and self.fmt == "csv":
            batch = batch()
        if self.fmt == "csv":
            if self._file is None:
                self._file = open(self.path, "w", encoding="utf-8", newline="")
            df = batch.to_pandas()
            text = df.to_csv(index=False, header=self.rows == 0 and self._file.tell() == 0)
            self._file.write(text)
            self.groups = self._file.tell()
        else:

            if self.writer is None:
                self.writer = self._writer()
            self._wait()
            if self._thread is None:
                from concurrent.futures import ThreadPoolExecutor

                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simoffload-parquet")
            w = self.writer
            self._pending = self._thread.submit(lambda: w.write_batch(batch() if callable(batch) else batch))
            self.groups += 1
        self.rows += batch.num_rows

    def _writer(self) -> Any:
        """Snappy, dictionary encoding for text columns only (times and sizes rarely repeat: six
        times faster to write than trying a dictionary on every column, and smaller)."""
        import pyarrow.parquet as pq

        text = [f for f in self.fields if f in _STR]
        return pq.ParquetWriter(self.path, self.schema, compression="snappy", use_dictionary=text)

    def mark(self) -> tuple[int, int]:
        self._wait()
        if self._file is not None:
            self._file.flush()
            return self._file.tell(), self.rows
        return self.groups, self.rows

    def cut(self, mark: tuple[int, int]) -> None:
        """Drop everything written after ``mark`` (a failed or interrupted policy's rows)."""
        where, rows = mark
        self._wait()
        if self.rows == rows:
            return
        if self.fmt == "csv":
            self._file.flush()
            self._file.truncate(where)
            self._file.seek(where)
            self.groups, self.rows = where, rows
            return
        import pyarrow.parquet as pq

        self.writer.close()
        old = self.path.with_name(self.path.name + ".cut")
        os.replace(self.path, old)
        self.writer = self._writer()
        pf = pq.ParquetFile(old)
        for i in range(where):
            self.writer.write_table(pf.read_row_group(i))
        del pf
        old.unlink()
        self.groups, self.rows = where, rows

    def close(self, quiet: bool = False) -> None:
        """Finish the file (waiting for the row group under way; ``quiet``: ignore its error)."""
        try:
            self._wait()
        except Exception:
            if not quiet:
                raise
        finally:
            if self._thread is not None:
                self._thread.shutdown(wait=True)
                self._thread = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def open(self) -> bool:
        return self.rows > 0 or self.writer is not None or self._file is not None


class RunSink:
    """Streams the tasks, subtasks and links tables of one run into ``directory`` as they fill.

    A table is written to ``<name>.parquet`` (or ``.csv``) from the moment one of
    its buffers fills a chunk; earlier policies' rows of that table (still
    tuples) are written first, and for the links table the bandwidth rows
    (policy ``*``) before everything. Tables that never fill a chunk are left to
    :func:`~simoffload.sim.results.write_tables`, which writes them in one piece
    as before.

    Args:
        directory: the run's staging directory.
        fmt: ``parquet`` or ``csv``.
        bandwidth_rows: called once, when the links file opens, for the bandwidth rows.
    """

    def __init__(self, directory: str | Path, fmt: str = "parquet",
                 bandwidth_rows: Callable[[], list[tuple]] | None = None):
        self.dir = Path(directory)
        self.fmt = fmt
        self.bandwidth_rows = bandwidth_rows or (lambda: [])
        self.files: dict[str, _TableFile] = {}
        self.records: list[Any] = []  # RunRecords of the policies so far (current one last)
        self._marks: dict[str, tuple[int, int]] = {}
        self.bandwidth_written = False

    def suffix(self) -> str:
        return ".csv" if self.fmt == "csv" else ".parquet"

    def begin(self, rec: Any) -> None:
        """A policy's run starts: its buffers stream through this sink."""
        self.records.append(rec)
        self._marks = {name: f.mark() for name, f in self.files.items()}
        for name in ("tasks", "subtasks", "links"):
            buf = getattr(rec, name)
            buf.sink = (lambda b, name=name: self._write(name, b))

    def _file(self, name: str) -> _TableFile:
        f = self.files.get(name)
        if f is None:
            fields = self.records[-1].task_fields if name == "tasks" else getattr(self.records[-1], name).fields
            f = self.files[name] = _TableFile(self.dir / f"{name}{self.suffix()}", self.fmt, fields)
            self._marks[name] = (0, 0)
            if name == "links":
                from ..sim.engine import LINK_FIELDS

                rows = self.bandwidth_rows()
                self.bandwidth_written = True
                if rows:
                    f.write(to_batch(LINK_FIELDS, rows, f.schema))
                self._marks[name] = f.mark()
            for rec in self.records[:-1]:  # earlier policies' rows, still tuples, come first
                buf = getattr(rec, name)
                if buf.rows:
                    f.write(buf.batch())
        return f

    def _write(self, name: str, batch: Any) -> None:
        self._file(name).write(batch)

    def end(self, rec: Any, ok: bool) -> None:
        """A policy's run ended: complete (its remaining rows go to the open files) or not (cut back)."""
        if not ok:
            if self.records and self.records[-1] is rec:
                self.records.pop()
            for name, f in self.files.items():
                f.cut(self._marks.get(name, (0, 0)))
            return
        for name, f in self.files.items():
            buf = getattr(rec, name)
            if buf.rows:
                f.write(buf.batch())

    def streamed(self, name: str) -> bool:
        """Whether table ``name`` is (being) written by this sink."""
        return name in self.files

    def close(self) -> None:
        for f in self.files.values():
            f.close()

    def discard(self) -> None:
        """Close and remove what was written (the staging directory is removed by its owner)."""
        for f in self.files.values():
            f.close(quiet=True)
        for f in self.files.values():
            for p in (f.path, f.path.with_name(f.path.name + ".cut")):
                if p.exists():
                    p.unlink()


# ----------------------------------------------------------------------------- exact statistics over a stream


def _pairwise_leaves(n: int, start: int = 0, out: list | None = None) -> list:
    """The leaves of numpy's pairwise summation of ``n`` values: (start, length) in order.

    numpy (``pairwise_sum`` in ``loops_utils.h.src``) sums fewer than 8 values
    one by one, up to 128 with 8 accumulators, and splits longer runs at
    ``n // 2`` rounded down to a multiple of 8.
    """
    if out is None:
        out = []
    stack = [(start, n)]
    while stack:
        s, m = stack.pop()
        if m <= 128:
            out.append((s, m))
        else:
            m2 = m // 2
            m2 -= m2 % 8
            stack.append((s + m2, m - m2))  # right part after the left one (stack: pushed first)
            stack.append((s, m2))
    return out


def _leaf_sums(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """numpy's pairwise-sum leaf of each consecutive run of ``lengths`` values (all the same length)."""
    k = len(lengths)
    if k == 0:
        return np.zeros(0)
    m = int(lengths[0])
    a = values.reshape(k, m)
    if m < 8:
        res = np.full(k, -0.0)
        for i in range(m):
            res = res + a[:, i]
        return res
    r = a[:, :8].copy()
    full = m - m % 8
    for i in range(8, full, 8):
        r += a[:, i:i + 8]
    res = ((r[:, 0] + r[:, 1]) + (r[:, 2] + r[:, 3])) + ((r[:, 4] + r[:, 5]) + (r[:, 6] + r[:, 7]))
    for i in range(full, m):
        res = res + a[:, i]
    return res


class PairwiseSum:
    """``np.sum`` of ``n`` float64 values fed in chunks, bit for bit (numpy's pairwise summation).

    The total count ``n`` must be known before the first value (it fixes where
    numpy splits); values then arrive in order through :meth:`add`.
    """

    def __init__(self, n: int):
        self.n = int(n)
        leaves = _pairwise_leaves(self.n) if self.n else []
        self.lengths = np.array([m for _, m in leaves], dtype=np.int64)
        self.sums = np.zeros(len(leaves))
        self._leaf = 0  # next leaf to complete
        self._pending = np.zeros(0)

    def add(self, values: np.ndarray) -> None:
        buf = np.concatenate([self._pending, np.asarray(values, dtype=np.float64)]) if len(self._pending) else \
            np.asarray(values, dtype=np.float64)
        pos = 0
        while self._leaf < len(self.lengths):
            m = int(self.lengths[self._leaf])
            # the run of leaves of this same length that fit in the buffer
            j = self._leaf
            avail = len(buf) - pos
            count = 0
            while j < len(self.lengths) and self.lengths[j] == m and (count + 1) * m <= avail:
                j += 1
                count += 1
            if count == 0:
                break
            self.sums[self._leaf:j] = _leaf_sums(buf[pos:pos + count * m], self.lengths[self._leaf:j])
            pos += count * m
            self._leaf = j
        self._pending = buf[pos:].copy()

    def total(self) -> float:
        if self._leaf != len(self.lengths) or len(self._pending):
            raise ValueError("PairwiseSum: the values fed do not add up to n")
        if self.n == 0:
            return 0.0
        return float(self._combine(0, self.n, iter(self.sums)))

    def _combine(self, start: int, n: int, it: Iterator[float]) -> float:
        if n <= 128:
            return next(it)
        n2 = n // 2
        n2 -= n2 % 8
        left = self._combine(start, n2, it)
        right = self._combine(start + n2, n - n2, it)
        return left + right


def _keys(values: np.ndarray) -> np.ndarray:
    """Monotone int64 keys of float64 values (no NaN): a < b iff key(a) < key(b)."""
    bits = np.asarray(values, dtype=np.float64).view(np.int64)
    return np.where(bits < 0, bits ^ np.int64(0x7FFFFFFFFFFFFFFF), bits)


def order_statistics(chunks: Callable[[], Iterable[np.ndarray]], n: int, ranks: Iterable[int],
                     limit: int = 1 << 20) -> dict[int, float]:
    """The values of the given ranks (0-based, in sorted order) of ``n`` float64 values read in chunks.

    ``chunks()`` yields the values again on each call. A key range (the values
    whose :func:`_keys` share a prefix) that holds a wanted rank and more than
    ``limit`` values is split into 65,536 bins by the next 16 bits, one pass over
    the values; a range of at most ``limit`` values is collected and sorted.
    Exact; memory bounded by ``limit`` values and one histogram per wanted rank,
    whatever ``n``; at most four narrowing passes.
    """
    out: dict[int, float] = {}
    # a key range: (prefix, shift): the keys k with k >> shift == prefix (shift 64: every key)
    pending = {int(r): (0, 64, 0, n) for r in ranks}  # rank -> (prefix, shift, values below the range, values in it)
    while pending:
        groups: dict[tuple, list[int]] = {}
        for r, (p, s, off, cnt) in pending.items():
            groups.setdefault((p, s, off, cnt), []).append(r)
        collect = [g for g in groups if g[3] <= limit or g[1] <= 0]
        refine = [g for g in groups if g not in collect]
        hists = {g: np.zeros(1 << 16, dtype=np.int64) for g in refine}
        parts: dict[tuple, list[np.ndarray]] = {g: [] for g in collect}
        for c in chunks():
            c = np.asarray(c, dtype=np.float64)
            k = _keys(c)
            for g in refine:
                p, s = g[0], g[1]
                sel = k if s >= 64 else k[(k >> s) == p]
                idx = (sel >> 48) + (1 << 15) if s >= 64 else (sel >> (s - 16)) & 0xFFFF
                hists[g] += np.bincount(idx, minlength=1 << 16)
            for g in collect:
                p, s = g[0], g[1]
                parts[g].append(c if s >= 64 else c[(k >> s) == p])
        for g in collect:
            vals = np.sort(np.concatenate(parts[g])) if parts[g] else np.zeros(0)
            for r in groups[g]:
                out[r] = float(vals[r - g[2]])
        new: dict[int, tuple] = {}
        for g in refine:
            p, s, off, _ = g
            h = hists[g]
            cum = np.cumsum(h)
            for r in groups[g]:
                b = int(np.searchsorted(cum, r - off, side="right"))
                below = off + (int(cum[b - 1]) if b else 0)
                prefix = b - (1 << 15) if s >= 64 else (p << 16) | b
                new[r] = (prefix, 48 if s >= 64 else s - 16, below, int(h[b]))
        pending = new
    return out


def percentiles(chunks: Callable[[], Iterable[np.ndarray]], n: int, q: Iterable[float]) -> list[float]:
    """``np.percentile(values, q)`` (method ``linear``) of ``n`` values read in chunks, bit for bit."""
    if n == 0:
        return [math.nan for _ in q]
    qa = np.true_divide(np.asanyarray(list(q), dtype=np.float64), 100)
    virtual = (n - 1) * qa
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1
    prev_i = np.where(above, n - 1, prev).astype(np.int64)
    next_i = np.where(above, n - 1, nxt).astype(np.int64)
    below = virtual < 0
    prev_i[below] = 0
    next_i[below] = 0
    stats = order_statistics(chunks, n, list(prev_i) + list(next_i))
    a = np.array([stats[int(i)] for i in prev_i])
    b = np.array([stats[int(i)] for i in next_i])
    gamma = np.asanyarray(virtual - prev, dtype=np.float64)  # equal ends where numpy clamps: gamma is moot
    diff = b - a
    res = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=res, where=gamma >= 0.5)
    return [float(x) for x in res]
