"""Long trace files: validated in one streaming pass, then served to links block by block.

A trace file larger than :data:`WHOLE_TRACE_BYTES` is not read whole. At load
(:func:`parse_streaming`) it is read in chunks of about :data:`CHUNK_BYTES`, cut
at line ends, and parsed line by line with exactly the checks and messages of
the whole-file parsers in :mod:`simoffload.net.traces` (the same first error,
``path:line: field: message``, before anything simulates). What the parse keeps
goes to an unnamed temporary file (deleted when closed, and by the OS if the
process dies), not to memory: the trace's steps as ``(start_s, rate_Bps)``
float64 pairs, or for a Mahimahi file its runs of equal per-ms packet counts as
``(start_ms, packets)`` int64 pairs. Memory during the pass is one chunk.

A link's model (:func:`blocked_trace`) is a
:class:`~simoffload.net.blocked.BlockedBandwidth` over the *virtual* steps the
options describe (the steps from the start offset on, wrapped around for a
looping trace, scaled, offset and clipped, runs of equal rates merged), indexed
in one streaming pass that keeps a checkpoint every :data:`BLOCK_STEPS` virtual
steps (the run being merged and the capacity so far). A block is rebuilt from
its checkpoint by reading that stretch of the temporary file again. Every
number is computed with the same float operations, in the same order, as the
whole-file path (:func:`simoffload.net.traces.load_trace` on a small file), so
the two give bit-identical models; ``tests/test_trace_stream.py`` checks it.
"""

from __future__ import annotations

import csv
import os
import tempfile
from bisect import bisect_right
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .blocked import CACHE_BLOCKS, BlockedBandwidth

#: files larger than this (bytes) are streamed; smaller ones are parsed whole as before
WHOLE_TRACE_BYTES = 4 * 2**20
#: bytes read at a time by the streaming pass (cut at a line end)
CHUNK_BYTES = 1 << 18
#: virtual steps per block of a streamed trace's model
BLOCK_STEPS = 4096
#: kept steps buffered before they are appended to the temporary file
_FLUSH = 16384

MAHIMAHI_PACKET_BYTES = 1500
_STEP = np.dtype([("s", "<f8"), ("r", "<f8")])
_RUN = np.dtype([("m", "<i8"), ("c", "<i8")])


class Spill:
    """A parsed trace's steps (or Mahimahi runs) in an unnamed temporary file.

    Attributes:
        packets: True for Mahimahi runs ``(start_ms, packets per ms)``, else steps ``(start_s, rate_Bps)``.
        n: number of records.
        end: the end of the last record (s for steps, ms for runs: the loop period).
    """

    def __init__(self, packets: bool, dtype: np.dtype | None = None):
        self.packets = packets
        self.dtype = dtype if dtype is not None else _RUN if packets else _STEP
        self._f = tempfile.TemporaryFile(prefix="simoffload-trace-")
        self.n = 0
        self.end: float | int = 0
        self._buf: list[tuple] = []

    def add(self, a: Any, b: Any) -> None:
        self._buf.append((a, b))
        if len(self._buf) >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._write(np.array(self._buf, dtype=self.dtype))
            self._buf = []

    def _write(self, arr: np.ndarray) -> None:
        self._f.seek(0, os.SEEK_END)
        self._f.write(arr.tobytes())
        self._f.flush()  # reads go straight to the descriptor (os.pread)
        self.n += len(arr)

    def read(self, a: int, b: int) -> np.ndarray:
        """Records ``a`` to ``b - 1`` (clamped to the file)."""
        a, b = max(a, 0), min(b, self.n)
        if b <= a:
            return np.zeros(0, dtype=self.dtype)
        size = self.dtype.itemsize
        data = os.pread(self._f.fileno(), (b - a) * size, a * size)
        return np.frombuffer(data, dtype=self.dtype)

    def first(self, i: int) -> Any:
        """Field 0 of record ``i`` (a start)."""
        return self.read(i, i + 1)[0][0]

    def search_start(self, x: Any) -> int:
        """``bisect_right`` of ``x`` over the starts, minus 1 (the record holding ``x``); O(log n) reads."""
        lo, hi = 0, self.n
        while lo < hi:
            mid = (lo + hi) // 2
            if x < self.first(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo - 1

    def close(self) -> None:
        self._f.close()

    def __del__(self) -> None:
        try:
            self._f.close()
        except Exception:
            pass


class GroupedSpill(Spill):
    """Records of several keys (the first field, an integer) in an unnamed temporary file, read back by key.

    Each flush writes its buffered records sorted by key (a stable sort, so a
    key's records stay in the order they were added) and notes where each key's
    run lies; :meth:`group` reads a key's runs, flush after flush: the key's
    records in the order they were added. Memory: the buffer and three small
    arrays per flush (the keys present, their offsets and counts).
    """

    def __init__(self, dtype: np.dtype):
        super().__init__(False, np.dtype(dtype))
        self._runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, *row: Any) -> None:  # type: ignore[override]
        self._buf.append(row)
        if len(self._buf) >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            arr = np.array(self._buf, dtype=self.dtype)
            arr = arr[np.argsort(arr[self.dtype.names[0]], kind="stable")]
            keys, first, counts = np.unique(arr[self.dtype.names[0]], return_index=True, return_counts=True)
            self._runs.append((keys, first + self.n, counts))
            self._write(arr)
            self._buf = []

    def group(self, key: int) -> np.ndarray:
        """Every record of ``key``, in the order added (an empty array if none)."""
        parts = []
        for keys, offsets, counts in self._runs:
            k = int(np.searchsorted(keys, key))
            if k < len(keys) and keys[k] == key:
                parts.append(self.read(int(offsets[k]), int(offsets[k] + counts[k])))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=self.dtype)


class SpillSteps:
    """A spill's step function served block by block: ``value(x)`` is the value of the step holding ``x``.

    The step holding ``x`` is ``bisect_right(starts, x) - 1`` clamped to the
    records (``np.searchsorted(times, x, "right") - 1`` clamped, as a whole
    array gives it). Memory: the first start of every block of ``block``
    records, and at most :data:`~simoffload.net.blocked.CACHE_BLOCKS` decoded
    blocks, each ``convert(values)`` of its records' second field as a list
    (``convert`` does per element what the whole-array code does to the array).
    """

    def __init__(self, spill: Spill, convert: Callable[[np.ndarray], np.ndarray], block: int | None = None):
        self.sp, self.convert = spill, convert
        self.block = block or BLOCK_STEPS
        self._keep = CACHE_BLOCKS
        name = spill.dtype.names[0]
        first: list = []
        for r0 in range(0, spill.n, 16 * self.block):  # one pass, 16 blocks at a time
            first.extend(spill.read(r0, r0 + 16 * self.block)[name][:: self.block].tolist())
        self._first = first
        self._cache: "OrderedDict[int, tuple[list, list]]" = OrderedDict()
        self.loads = 0

    def _load(self, b: int) -> tuple[list, list]:
        blk = self._cache.get(b)
        if blk is None:
            rec = self.sp.read(b * self.block, (b + 1) * self.block)
            names = rec.dtype.names
            blk = (rec[names[0]].tolist(), self.convert(rec[names[1]]).tolist())
            self.loads += 1
            self._cache[b] = blk
            while len(self._cache) > self._keep:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(b)
        return blk

    def value(self, x: float) -> float:
        b = bisect_right(self._first, x) - 1
        starts, values = self._load(b if b > 0 else 0)
        j = bisect_right(starts, x) - 1
        return values[j if j > 0 else 0]


# ---------------------------------------------------------------- the streaming pass


def lines(path: Path, err: Callable[..., Exception]) -> Iterator[str]:
    """The file's lines as ``str.splitlines`` gives them for the whole text, read a chunk at a time.

    A NUL byte anywhere fails first (as the whole-file reader does), found by a
    quick binary scan before any line is yielded.
    """
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise err(None, "trace file not found") from None
    except IsADirectoryError:
        raise err(None, "is a directory, not a trace file") from None
    except OSError as exc:
        raise err(None, f"cannot read trace file ({exc.strerror})") from None
    with f:
        newlines = 0
        while True:
            chunk = f.read(CHUNK_BYTES)
            if not chunk:
                break
            nul = chunk.find(b"\x00")
            if nul >= 0:
                raise err(newlines + chunk.count(b"\n", 0, nul) + 1, "a NUL byte: not a text trace file", field="file")
            newlines += chunk.count(b"\n")
        f.seek(0)
        first, rest = True, b""
        while True:
            chunk = f.read(CHUNK_BYTES)
            data = rest + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # no line end yet: read on
                    rest = data
                    continue
                data, rest = data[:cut], data[cut:]
            elif not data:
                return
            else:
                rest = b""
            # a cut just after b"\n" is a character boundary and a line end under splitlines too
            text = data.decode("utf-8-sig" if first else "utf-8", errors="replace")
            first = False
            yield from text.splitlines()
            if not chunk:
                return


def negative(value: str, v: float) -> str:
    """The message for a negative sample of a ``value`` column (``bandwidth``: bytes/s; ``latency``: the trace's unit)."""
    return f"negative {value} (got {v:g}{' B/s' if value == 'bandwidth' else ''})"


class _Samples:
    """Step function from streamed samples, as ``traces._steps_from_samples`` builds it at once.

    Samples arrive in file order; the checks (negative bandwidth, decreasing time)
    are those of the whole-file code, and the first failing sample is kept and
    raised at the end (the whole-file code parses everything first, so a later
    parse error wins).
    """

    def __init__(self, path: Path, err: Callable[..., Exception], value: str = "bandwidth"):
        self.path, self.err, self.value = path, err, value
        self.spill = Spill(packets=False)
        self.count = 0
        self.t0 = 0.0
        self.prev_t = 0.0          # absolute time of the previous sample (decrease check)
        self.prev_T = 0.0          # relative time of the previous sample
        self.prev_v = 0.0
        self.last_line = 0
        self.first_bad: Exception | None = None

    def add(self, t: float, v: float, line: int) -> None:
        if self.first_bad is None:
            if v < 0:
                self.first_bad = self.err(line, negative(self.value, v), field=self.value)
            elif self.count and t < self.prev_t:
                self.first_bad = self.err(line, f"time {t:g} decreases (previous {self.prev_t:g})", field="time")
        if self.count == 0:
            self.t0 = t
        T = t - self.t0
        if self.count and T > self.prev_T:
            self.spill.add(self.prev_T, self.prev_v)  # the previous sample holds until this one
        self.prev_t, self.prev_T, self.prev_v, self.last_line = t, T, v, line
        self.count += 1

    def finish(self, last_holds_s: float | None, empty_line: int, empty_field: str, empty_msg: str) -> Spill:
        if not self.count:
            raise self.err(empty_line, empty_msg, field=empty_field)
        if self.first_bad is not None:
            raise self.first_bad
        if last_holds_s is None:
            if self.count < 2 or self.prev_T <= 0:
                raise self.err(self.last_line, "need at least two samples with increasing time", field="time")
            end = self.prev_T
        else:
            end = self.prev_T + last_holds_s
            if end > self.prev_T:
                self.spill.add(self.prev_T, self.prev_v)
        self.spill.flush()
        self.spill.end = end
        return self.spill


def parse_pensieve(path: Path, err: Callable[..., Exception], show: Callable[[str], str],
                   parse_float: Callable[..., float]) -> Spill:
    """Streaming twin of ``traces._parse_pensieve``."""
    acc = _Samples(path, err)
    for i, s in enumerate(lines(path, err), start=1):
        parts = s.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise err(i, f"expected 2 columns 'time_s Mbps', found {len(parts)} (got {show(s)})", field="row")
        t = parse_float(path, i, parts[0], "time")
        v = parse_float(path, i, parts[1], "bandwidth") * 1e6 / 8
        acc.add(t, v, i)
    return acc.finish(None, 1, "bandwidth", "empty trace file (no samples)")


def parse_csv(path: Path, err: Callable[..., Exception], show: Callable[[str], str],
              parse_float: Callable[..., float], rate_column: str, time_column: str | None,
              rate_f: float, time_f: float, step_s: float, value: str = "bandwidth") -> Spill:
    """Streaming twin of ``traces._parse_csv`` (units already converted to factors)."""
    n_lines = 0

    def counted() -> Iterator[str]:
        nonlocal n_lines
        for s in lines(path, err):
            n_lines += 1
            yield s

    it = counted()
    first = next(it, None)
    if first is None or not first.strip():
        raise err(1, "empty trace file (no header row)", field="header")

    def all_lines() -> Iterator[str]:
        yield first
        yield from it

    rows = CsvRows(csv.reader(all_lines()), path, err, show, parse_float, rate_column, time_column, rate_f, time_f, step_s)
    acc = _Samples(path, err, value)
    for tt, v, i in rows:
        acc.add(tt, v, i)
    if not acc.count:
        raise err(2 if n_lines > 1 else 1, "empty trace file (no values in this column)", field=rate_column)
    if rows.fixed_step:
        return acc.finish(rows.count * step_s - acc.prev_t, 1, rate_column, "")
    return acc.finish(None, 1, rate_column, "")


class CsvRows:
    """A CSV trace's rows after its header, checked as both readers check them (the whole
    ``traces._parse_csv`` and the streaming :func:`parse_csv`).

    Reads the header from ``reader`` at once (a missing column is an error on line 1);
    iterating gives ``(time_s, rate_Bps, line)`` for every row with a value. Without a
    time column the rows are ``step_s`` apart (``fixed_step``), and ``count`` ends as the
    number of rows read, those with a missing value included (the trace's length).
    """

    def __init__(self, reader: Iterator[list[str]], path: Path, err: Callable[..., Exception], show: Callable[[str], str],
                 parse_float: Callable[..., float], rate_column: str, time_column: str | None,
                 rate_f: float, time_f: float, step_s: float):
        header = [h.strip() for h in next(reader)]
        cols = {name: j for j, name in enumerate(header)}
        if rate_column not in cols:
            raise err(1, f"no column {show(rate_column)} (columns: {show(', '.join(header))})", field="column")
        if time_column is not None and time_column not in cols:
            raise err(1, f"no column {show(time_column)} (columns: {show(', '.join(header))})", field="time_column")
        self.reader, self.path, self.err, self.parse_float, self.width = reader, path, err, parse_float, len(header)
        self.rate_column, self.time_column = rate_column, time_column
        self.rate_f, self.time_f, self.step_s = rate_f, time_f, step_s
        self.jr = cols[rate_column]
        self.jt = cols.get(time_column) if time_column is not None else None
        self.fixed_step = self.jt is None
        self.count = 0

    def __iter__(self) -> Iterator[tuple[float, float, int]]:
        jr, jt, path, parse_float, err = self.jr, self.jt, self.path, self.parse_float, self.err
        for i, row in enumerate(self.reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) <= max(jr, jt if jt is not None else 0):
                raise err(i, f"row has {len(row)} columns, expected {self.width}", field="row")
            cell = row[jr].strip()
            if jt is not None:
                tt = parse_float(path, i, row[jt].strip(), self.time_column) * self.time_f
            else:
                tt = self.count * self.step_s
            self.count += 1
            if cell in _MISSING:
                continue
            yield tt, parse_float(path, i, cell, self.rate_column) * self.rate_f, i


_MISSING = {"-", "", "nan", "NaN", "NA"}


def parse_mahimahi(path: Path, err: Callable[..., Exception], show: Callable[[str], str], max_ms: int) -> Spill:
    """Streaming twin of ``traces._parse_mahimahi``: runs of equal per-ms packet counts over one period.

    Packets stamped ``T > 0`` go to bin ``T - 1``; those stamped 0 to bin ``P - 1``
    (the same instant as the period's end), added when the last bin is written.
    """
    spill = Spill(packets=True)
    n = 0
    zeros = 0
    prev = None
    first_dec: Exception | None = None
    cur_bin, cur_count = -1, 0          # the bin being counted
    run_start, run_count = 0, None      # the run of equal counts being merged (None: none yet)
    last_line = 0

    def segment(start: int, end: int, c: int) -> None:
        nonlocal run_start, run_count
        if end <= start:
            return
        if run_count is None:
            run_start, run_count = start, c
        elif c != run_count:
            spill.add(run_start, run_count)
            run_start, run_count = start, c

    def close_bin(b: int, c: int, next_start: int) -> None:
        segment(b, b + 1, c)
        segment(b + 1, next_start, 0)

    for i, s in enumerate(lines(path, err), start=1):
        if not s.strip():
            continue
        try:
            v = int(s)
        except ValueError:
            raise err(i, f"expected an integer timestamp in ms (got {show(s)})", field="timestamp") from None
        if v < 0:
            raise err(i, f"negative timestamp (got {v})", field="timestamp")
        if v > max_ms:
            raise err(i, f"above {max_ms:.0e} ms, about 31 years (got {show(s)})", field="timestamp")
        if prev is not None and v < prev and first_dec is None:
            first_dec = err(i, f"timestamp {v} decreases (previous {prev})", field="timestamp")
        prev, last_line = v, i
        n += 1
        if first_dec is not None:
            continue  # the file fails at the end; nothing more to build
        if v == 0:
            zeros += 1
            continue
        b = v - 1
        if b == cur_bin:
            cur_count += 1
            continue
        if cur_bin >= 0:
            close_bin(cur_bin, cur_count, b)
        else:
            segment(0, b, 0)  # zero capacity before the first stamped bin
        cur_bin, cur_count = b, 1
    if not n:
        raise err(1, "empty trace file (no timestamps)", field="timestamp")
    if first_dec is not None:
        raise first_dec
    period_ms = int(prev)
    if period_ms <= 0:
        raise err(last_line, "last timestamp must be > 0 ms (it is the loop period)", field="timestamp")
    # the last bin is P - 1 (the last stamp is P): the time-0 packets join it
    close_bin(cur_bin, cur_count + zeros, period_ms)
    spill.add(run_start, run_count)
    spill.flush()
    spill.end = period_ms
    return spill


# ---------------------------------------------------------------- a link's model


class _Virtual:
    """The steps a link sees: the spill from a start offset, wrapped (loop) or cut, as numpy blocks.

    ``read(m0, m1)`` returns (starts, rates, keys, bytes) of virtual steps ``m0..m1-1``
    and ``end`` is the model's period. ``keys`` decide merging: the transformed
    rate (float path) or the packet count (exact path); ``bytes`` (exact path
    only) the exact bytes of each step.
    """

    def __init__(self, spill: Spill, start: float, loop: bool, scale: float, offset: float,
                 lo: float | None, hi: float | None, identity: bool):
        self.sp = spill
        self.loop = loop
        self.scale, self.offset, self.lo, self.hi = scale, offset, lo, hi
        self.transform = not identity
        K = spill.n
        if spill.packets:
            n = int(spill.end)
            k = int(round(start * 1000.0))
            self.k = k
            if k:
                i = spill.search_start(k)
                self.i = i
                self.split = int(spill.first(i)) < k  # run i straddles k: its head comes back at the end
                if loop:
                    self.M = K + (1 if self.split else 0)
                    self.end = n / 1000.0
                else:
                    self.M = K - i
                    self.end = (n - k) / 1000.0
            else:
                self.i, self.split, self.M, self.end = 0, False, K, n / 1000.0
            self.n_ms = n
        else:
            P = float(spill.end)
            self.s = start
            if start > 0:
                i = spill.search_start(start)
                self.i = i
                self.exact = float(spill.first(i)) == start
                if loop:
                    self.M = K if self.exact else K + 1
                    self.end = P
                else:
                    self.M = K - i
                    self.end = P - start
            else:
                self.i, self.exact, self.M, self.end = 0, True, K, P
            self.P = P

    # raw records j0..j1-1 with the start of record j1 (or the end) for run lengths
    def _raw(self, j0: int, j1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rec = self.sp.read(j0, j1 + 1)
        a = rec[rec.dtype.names[0]]
        b = rec[rec.dtype.names[1]]
        if len(rec) == j1 - j0 + 1:
            nxt = a[1:]
            a, b = a[:-1], b[:-1]
        else:
            nxt = np.append(a[1:], self.sp.end).astype(a.dtype)
        return a, b, nxt

    def read(self, m0: int, m1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        m1 = min(m1, self.M)
        K = self.sp.n
        parts = []
        if self.sp.packets:
            k, i, n = self.k, self.i, self.n_ms
            head = K - i  # piece A: runs i..K-1 (run i from k)
            for lo, hi, piece in ((m0, min(m1, head), "A"), (max(m0, head), min(m1, K), "B"),
                                  (max(m0, K), m1, "C")):
                if hi <= lo:
                    continue
                if piece == "A":
                    ms, c, nxt = self._raw(i + lo, i + hi)
                    ms = ms.copy()
                    if lo == 0:
                        ms[0] = k
                    st, en = ms - k, nxt - k
                elif piece == "B":
                    ms, c, nxt = self._raw(lo - head, hi - head)
                    st, en = ms + (n - k), nxt + (n - k)
                else:  # the head of run i, [m_i, k), at the end of the loop
                    ms, c, _ = self._raw(i, i + 1)
                    st, en = ms + (n - k), np.array([n], dtype=np.int64)
                parts.append((st, en, c))
            st = np.concatenate([p[0] for p in parts])
            en = np.concatenate([p[1] for p in parts])
            c = np.concatenate([p[2] for p in parts])
            starts = st / 1000.0
            rates = c * (MAHIMAHI_PACKET_BYTES * 1000.0)
            nbytes = c * MAHIMAHI_PACKET_BYTES * (en - st)
            keys: np.ndarray = c
        else:
            i, s, P = self.i, self.s, self.P
            head = K - i
            for lo, hi, piece in ((m0, min(m1, head), "A"), (max(m0, head), min(m1, K), "B"),
                                  (max(m0, K), m1, "C")):
                if hi <= lo:
                    continue
                if piece == "A":
                    rec = self.sp.read(i + lo, i + hi)
                    st = rec["s"] - s if s > 0 else rec["s"].copy()
                    if lo == 0 and s > 0:
                        st[0] = s - s
                    r = rec["r"]
                elif piece == "B":
                    rec = self.sp.read(lo - head, hi - head)
                    st = (P + rec["s"]) - s
                    r = rec["r"]
                else:
                    rec = self.sp.read(i, i + 1)
                    st = (P + rec["s"]) - s
                    r = rec["r"]
                parts.append((st, r))
            starts = np.concatenate([p[0] for p in parts])
            rates = np.concatenate([p[1] for p in parts])
            nbytes = None
            keys = rates
        if self.transform:
            rates = np.maximum(rates * self.scale + self.offset, 0.0)
        if self.lo is not None or self.hi is not None:
            rates = np.clip(rates, self.lo, self.hi)
        if nbytes is None or self.transform or self.clipped:
            keys, nbytes = rates, None
        return starts, rates, keys, nbytes

    clipped = False


def _clip_changes(v: _Virtual) -> bool:
    """Whether clipping changes any rate (the whole-file path then drops exact bytes), one streaming pass."""
    for m0 in range(0, v.M, 16 * BLOCK_STEPS):
        _, rates, keys, _ = v.read(m0, m0 + 16 * BLOCK_STEPS)
        raw = keys * (MAHIMAHI_PACKET_BYTES * 1000.0)
        if not np.array_equal(rates, raw):
            return True
    return False


def blocked_trace(spill: Spill, *, start: float, loop: bool, after: str, scale: float, offset: float,
                  lo: float | None, hi: float | None, source: str, block: int | None = None) -> BlockedBandwidth:
    """A link's model of a streamed trace (the options as :func:`simoffload.net.traces.load_trace` applies them).

    One pass over the virtual steps builds the index (a checkpoint per ``block``
    virtual steps); a block is rebuilt from its checkpoint on demand.
    """
    block = block or BLOCK_STEPS
    identity = scale == 1.0 and offset == 0.0
    v = _Virtual(spill, start, loop, scale, offset, lo, hi, identity)
    if spill.packets and identity and (lo is not None or hi is not None):
        v.clipped = _clip_changes(v)
    exact = spill.packets and identity and not v.clipped

    # carry: (pending run start, its rate, its key, cum at its start (float), bytes before m0 (int))
    def make(m0: int, carry: tuple | None) -> tuple[list, list, list, tuple]:
        starts, rates, keys, nbytes = v.read(m0, m0 + block)
        if carry is None:
            new = np.ones(len(keys), dtype=bool)
            new[1:] = keys[1:] != keys[:-1]
        else:
            prev_key = carry[2]
            new = np.empty(len(keys), dtype=bool)
            new[0] = keys[0] != prev_key
            new[1:] = keys[1:] != keys[:-1]
        ts, rs = starts[new], rates[new]
        if exact:
            before = carry[4] if carry is not None else 0
            csum = np.cumsum(nbytes)  # int64, as the whole-file cumsum
            at_start = before + np.concatenate([[0], csum[:-1]])
            cs = at_start[new].astype(float)
            after_bytes = int(before + csum[-1])
            last_cum = float(cs[-1]) if len(cs) else carry[3]
        else:
            if carry is None:
                seq_t, seq_r, c0 = ts, rs, 0.0
                cs = np.cumsum(np.concatenate([[c0], seq_r[:-1] * np.diff(seq_t)]))
            else:
                seq_t = np.concatenate([[carry[0]], ts])
                seq_r = np.concatenate([[carry[1]], rs])
                cs = np.cumsum(np.concatenate([[carry[3]], seq_r[:-1] * np.diff(seq_t)]))[1:]
            after_bytes = 0
            last_cum = float(cs[-1]) if len(cs) else carry[3]
        if len(ts):
            nxt = (float(ts[-1]), float(rs[-1]), keys[new][-1], last_cum, after_bytes)
        else:
            nxt = (carry[0], carry[1], carry[2], carry[3], after_bytes)
        return ts.tolist(), rs.tolist(), cs.tolist(), nxt

    first_idx, first_time, first_cum, carries, m0s = [0], [], [], [], []
    carry = None
    count = 0
    for m0 in range(0, v.M, block):
        ts, rs, cs, nxt = make(m0, carry)
        if ts:
            carries.append(carry)
            m0s.append(m0)
            first_time.append(ts[0])
            first_cum.append(cs[0])
            count += len(ts)
            first_idx.append(count)
        carry = nxt
    if exact:
        total = float(carry[4])
    else:
        total = float(np.cumsum(np.array([carry[3], carry[1] * (v.end - carry[0])]))[-1])

    def loader(b: int) -> tuple[list[float], list[float], list[float]]:
        ts, rs, cs, _ = make(m0s[b], carries[b])
        return ts, rs, cs

    return BlockedBandwidth(first_idx, first_time, first_cum, period=v.end, total=total, after=after,
                            loader=loader, exact_end=exact, source=source)
