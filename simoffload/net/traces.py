"""Loaders for measured bandwidth traces, returning :class:`PiecewiseBandwidth` (bytes/s).

Formats (see ``shared/traces/SOURCES.md`` for the files themselves):

* ``mahimahi``: one integer per line, a timestamp in ms of one 1500-byte delivery
  opportunity; repeated stamps mean several packets; the file loops with period =
  the last timestamp. Represented as 1 ms bins: the packets stamped ``T`` are
  spread over ``[T-1, T)`` ms at rate ``packets * 1500 / 0.001`` B/s, so the
  cumulative capacity over ``(a, b]`` for integer ms ``0 < a <= b`` equals exactly
  the bytes mahimahi delivers at its opportunities in that interval. Stamps equal
  to 0 are the same instant as stamp ``P`` in the looped schedule (mahimahi itself
  delivers loop ``k-1``'s stamp ``P`` and loop ``k``'s stamp 0 at ``k*P``), so they
  are placed at the end of the period; only the very first loop's time-0 packets
  (usually one) are therefore shifted by one period. A file starting at a non-zero
  stamp has zero capacity before its first stamp, as in mahimahi. Runs of equal
  bins are merged, and the parsed file is held as its distinct stamps and their
  packet counts, so memory is O(lines), not O(duration): a 12-byte file whose
  last stamp is 2e9 ms costs a few hundred bytes. The byte count per step
  is kept as an exact integer, so ``cumulative`` at a period boundary is exactly
  ``packets * 1500``.
* ``pensieve``: ``time_s Mbps`` per line (tab or spaces). A step function: each value
  holds until the next timestamp, the last sample gets no weight, loop period =
  last t - first t (Pensieve's own replay). Equal consecutive timestamps: the
  earlier sample has zero duration and is dropped.
* ``5g``: the uccmisl 5G dataset's CSV (header row, ``DL_bitrate``/``UL_bitrate`` in
  kbit/s). Its ``Timestamp`` has 1 s resolution and repeats or skips, so rows are
  taken **in file order at row index * 1 s**, each row holding for 1 s (period =
  number of rows s). The time-averaged rate then equals the arithmetic mean of the
  rows, which is how SOURCES.md summarises these files.
* ``csv``: a generic CSV with a header row: a rate column in a declared unit and
  optionally a time column in a declared unit (step function as for Pensieve;
  without a time column rows are ``step_s`` apart, each holding ``step_s``).

In the CSV formats a missing value ``-`` (or an empty cell) in the rate column
means the row is skipped, i.e. the previous value holds on.

Options applied in this order: start (rotate for a looping trace, cut otherwise),
``scale``, ``offset_Bps`` (added; results below 0 become 0, so a negative offset
models cross traffic), ``clip_Bps`` to ``[lo, hi]``. Parsed files are cached per
(path, mtime, size, parse options) and built models per full option set, so a
long trace costs memory once per process.

Malformed files raise :class:`~simoffload.errors.UserError` as ``path:line: field: message``
(``field`` names the column or the kind of value, e.g. ``timestamp`` or ``bandwidth``).
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..units import UnitError, parse_quantity
from . import trace_stream
from .bandwidth import PiecewiseBandwidth
from .blocked import BlockedBandwidth

log = logging.getLogger(__name__)

MAHIMAHI_PACKET_BYTES = 1500
FORMATS = ("mahimahi", "pensieve", "5g", "csv")


class ExactBytesBandwidth(PiecewiseBandwidth):
    """A :class:`PiecewiseBandwidth` whose per-step byte counts are exact integers.

    Used for packet traces: the cumulative table is built from integer bytes, so
    ``cumulative`` at every step boundary (and over whole periods) is exact.
    """

    def __init__(self, times: Any, rates: Any, step_bytes: np.ndarray, after: str = "loop"):
        super().__init__(times, rates, after=after)
        cum = np.concatenate([[0], np.cumsum(np.asarray(step_bytes, dtype=np.int64))])
        self.cum = cum.astype(float)
        self.total = float(cum[-1])

    def _c_in(self, t: float) -> float:
        if t >= self.period:
            return self.total
        return super()._c_in(t)


#: largest Mahimahi timestamp accepted (ms): about 31 years
MAX_MAHIMAHI_MS = 10**12


@dataclass(frozen=True)
class _Raw:
    """A parsed trace before options: boundaries (s) and rates (B/s), or Mahimahi's sparse packet bins."""

    times: np.ndarray | None
    rates: np.ndarray | None
    bins: np.ndarray | None = None        # mahimahi only: sorted distinct 1 ms bins holding packets
    bin_counts: np.ndarray | None = None  # packets in bin [k, k+1) ms for each of ``bins``
    period_ms: int = 0                    # mahimahi only: the loop period (the last stamp)
    spill: Any = None                     # a long file: its steps/runs in a temporary file (trace_stream.Spill)


_RAW_CACHE: "OrderedDict[tuple, _Raw]" = OrderedDict()
_MODEL_CACHE: "OrderedDict[tuple, PiecewiseBandwidth]" = OrderedDict()
_CACHE_SIZE = 32


def clear_cache() -> None:
    """Forget every cached parsed trace and model."""
    _RAW_CACHE.clear()
    _MODEL_CACHE.clear()


def _cache_put(cache: OrderedDict, key: tuple, value: Any) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (shorter messages)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _err(path: Path, line: int, field: str, msg: str) -> UserError:
    return UserError(f"{_shown_path(path)}:{line}: {field}: {msg}")


def _show(text: str) -> str:
    from ..yamlio import shorten

    return shorten(text.strip())


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise UserError(f"{path}:1: file: trace file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}:1: file: is a directory, not a trace file") from None
    except OSError as exc:
        raise UserError(f"{path}:1: file: cannot read trace file ({exc.strerror})") from None
    nul = text.find("\x00")
    if nul >= 0:
        raise _err(path, text.count("\n", 0, nul) + 1, "file", "a NUL byte: not a text trace file")
    return text.splitlines()


# ---------------------------------------------------------------- parsers


def _parse_mahimahi(path: Path) -> _Raw:
    lines = _read_lines(path)
    idx = [i for i, s in enumerate(lines) if s.strip()]
    if not idx:
        raise _err(path, 1, "timestamp", "empty trace file (no timestamps)")
    values = []
    for i in idx:
        try:
            v = int(lines[i])
        except ValueError:
            raise _err(path, i + 1, "timestamp", f"expected an integer timestamp in ms (got {_show(lines[i])})") from None
        if v < 0:
            raise _err(path, i + 1, "timestamp", f"negative timestamp (got {v})")
        if v > MAX_MAHIMAHI_MS:
            raise _err(path, i + 1, "timestamp", f"above {MAX_MAHIMAHI_MS:.0e} ms, about 31 years (got {_show(lines[i])})")
        values.append(v)
    stamps = np.array(values, dtype=np.int64)
    dec = np.flatnonzero(np.diff(stamps) < 0)
    if len(dec):
        j = dec[0] + 1
        raise _err(path, idx[j] + 1, "timestamp", f"timestamp {stamps[j]} decreases (previous {stamps[j - 1]})")
    period_ms = int(stamps[-1])
    if period_ms <= 0:
        raise _err(path, idx[-1] + 1, "timestamp", "last timestamp must be > 0 ms (it is the loop period)")
    # packets stamped T go to bin [T-1, T); stamp 0 is the same instant as stamp P
    shifted = np.where(stamps == 0, period_ms, stamps) - 1
    bins, counts = np.unique(shifted, return_counts=True)
    return _Raw(None, None, bins.astype(np.int64), counts.astype(np.int64), period_ms)


def _parse_float(path: Path, line: int, text: str, what: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise _err(path, line, what, f"not a number (got {_show(text)})") from None
    if not math.isfinite(x):
        raise _err(path, line, what, f"not finite (got {_show(text)})")
    return x


def _steps_from_samples(path: Path, t: list[float], v: list[float], lines: list[int], last_holds_s: float | None,
                        value: str = "bandwidth") -> _Raw:
    """Step function from samples: v[i] holds on [t[i], t[i+1]).

    ``last_holds_s`` None: the last sample gets no weight (period = t[-1] - t[0]);
    otherwise the last sample holds that long.
    """
    if not t:
        raise _err(path, 1, "bandwidth", "empty trace file (no samples)")
    for i in range(len(v)):
        if v[i] < 0:
            raise _err(path, lines[i], value, trace_stream.negative(value, v[i]))
        if i and t[i] < t[i - 1]:
            raise _err(path, lines[i], "time", f"time {t[i]:g} decreases (previous {t[i - 1]:g})")
    times = np.asarray(t, dtype=float) - t[0]
    rates = np.asarray(v, dtype=float)
    if last_holds_s is None:
        if len(t) < 2 or times[-1] <= 0:
            raise _err(path, lines[-1], "time", "need at least two samples with increasing time")
        rates = rates[:-1]
    else:
        times = np.append(times, times[-1] + last_holds_s)
    keep = np.diff(times) > 0  # zero-length steps (repeated stamps) carry no weight
    bounds = np.append(times[:-1][keep], times[-1])
    return _Raw(bounds, rates[keep])


def _parse_pensieve(path: Path) -> _Raw:
    t: list[float] = []
    v: list[float] = []
    ln: list[int] = []
    for i, s in enumerate(_read_lines(path), start=1):
        parts = s.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise _err(path, i, "row", f"expected 2 columns 'time_s Mbps', found {len(parts)} (got {_show(s)})")
        t.append(_parse_float(path, i, parts[0], "time"))
        v.append(_parse_float(path, i, parts[1], "bandwidth") * 1e6 / 8)
        ln.append(i)
    return _steps_from_samples(path, t, v, ln, None)


def _unit_factor(unit: str, kind: str, field: str) -> float:
    try:
        return parse_quantity(f"1 {unit}", kind)
    except UnitError as exc:
        raise UserError(f"{field}: {exc}") from None


def _parse_csv(path: Path, rate_column: str, time_column: str | None, time_unit: str, rate_unit: str, step_s: float,
               value: str = "bandwidth") -> _Raw:
    rate_f = _unit_factor(rate_unit, "bytes_per_s", "rate_unit")
    time_f = _unit_factor(time_unit, "s", "time_unit")
    lines = _read_lines(path)
    if not lines or not lines[0].strip():
        raise _err(path, 1, "header", "empty trace file (no header row)")
    rows = trace_stream.CsvRows(csv.reader(lines), path, lambda i, msg, field: _err(path, i, field, msg), _show,
                                _parse_float, rate_column, time_column, rate_f, time_f, step_s)
    t: list[float] = []
    v: list[float] = []
    ln: list[int] = []
    for tt, x, i in rows:
        t.append(tt)
        v.append(x)
        ln.append(i)
    if not t:
        raise _err(path, 2 if len(lines) > 1 else 1, rate_column, "empty trace file (no values in this column)")
    if rows.fixed_step:
        # rows at a fixed step: a skipped (missing) row extends the previous value
        last_hold = rows.count * step_s - t[-1]
        return _steps_from_samples(path, t, v, ln, last_hold, value)
    return _steps_from_samples(path, t, v, ln, None, value)


def _file_key(path: Path, st: os.stat_result | None = None) -> tuple:
    """What identifies a file's current contents for the in-process caches (a rewrite changes ctime)."""
    try:
        st = st or path.stat()
    except OSError:
        return (str(path.resolve()),)
    return (str(path.resolve()), st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _raw(path: Path, fmt: str, column: str | None, time_column: str | None, time_unit: str, rate_unit: str | None,
         step_s: float, stream: bool = True, value: str = "bandwidth") -> _Raw:
    """The parsed file (cached); a file above ``WHOLE_TRACE_BYTES`` streamed to disk unless ``stream`` is False.

    ``value`` names what the column holds, for the errors (``bandwidth``, or ``latency`` for a latency trace).
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UserError(f"{path}:1: file: trace file not found") from None
    from ..limits import current, how_to_raise

    lim = current().trace_bytes
    if st.st_size > lim:
        raise UserError(f"{path}:1: file: {st.st_size:,} bytes, above the limit of {lim:,} for a trace file "
                        f"({how_to_raise('trace_bytes')})")
    stream = stream and st.st_size > trace_stream.WHOLE_TRACE_BYTES
    key = (*_file_key(path, st), fmt, column, time_column, time_unit, rate_unit, step_s, stream, value)
    if key in _RAW_CACHE:
        _RAW_CACHE.move_to_end(key)
        return _RAW_CACHE[key]
    if stream and fmt in FORMATS:
        raw = _raw_streamed(path, fmt, column, time_column, time_unit, rate_unit, step_s, value)
        _cache_put(_RAW_CACHE, key, raw)
        return raw
    if fmt == "mahimahi":
        raw = _parse_mahimahi(path)
    elif fmt == "pensieve":
        raw = _parse_pensieve(path)
    elif fmt == "5g":
        raw = _parse_csv(path, column or "DL_bitrate", None, "s", rate_unit or "kbit/s", 1.0, value)
    elif fmt == "csv":
        if column is None:
            raise UserError("column: required for format csv (the bandwidth column's header)")
        if rate_unit is None:
            raise UserError("rate_unit: required for format csv (e.g. 'Mbit/s', 'kbit/s', 'B/s')")
        raw = _parse_csv(path, column, time_column, time_unit, rate_unit, step_s, value)
    else:
        raise UserError(f"format: unknown trace format {fmt!r} (expected one of {', '.join(FORMATS)})")
    _cache_put(_RAW_CACHE, key, raw)
    return raw


def _raw_streamed(path: Path, fmt: str, column: str | None, time_column: str | None, time_unit: str,
                  rate_unit: str | None, step_s: float, value: str = "bandwidth") -> _Raw:
    """A long file parsed in one streaming pass (:mod:`simoffload.net.trace_stream`): same checks, steps on disk."""

    def err(line: int | None, msg: str, field: str = "file") -> UserError:
        if line is None:
            return UserError(f"{path}:1: file: {msg}")
        return _err(path, line, field, msg)

    if fmt == "mahimahi":
        spill = trace_stream.parse_mahimahi(path, err, _show, MAX_MAHIMAHI_MS)
        return _Raw(None, None, period_ms=int(spill.end), spill=spill)
    if fmt == "pensieve":
        spill = trace_stream.parse_pensieve(path, err, _show, _parse_float)
        return _Raw(None, None, spill=spill)
    if fmt == "5g":
        column, time_column, time_unit, rate_unit, step_s = column or "DL_bitrate", None, "s", rate_unit or "kbit/s", 1.0
    elif column is None:
        raise UserError("column: required for format csv (the bandwidth column's header)")
    elif rate_unit is None:
        raise UserError("rate_unit: required for format csv (e.g. 'Mbit/s', 'kbit/s', 'B/s')")
    rate_f = _unit_factor(rate_unit, "bytes_per_s", "rate_unit")
    time_f = _unit_factor(time_unit, "s", "time_unit")
    spill = trace_stream.parse_csv(path, err, _show, _parse_float, column, time_column, rate_f, time_f, step_s, value)
    return _Raw(None, None, spill=spill)


# ---------------------------------------------------------------- transforms


def _merge(times: np.ndarray, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge adjacent steps with equal rates (boundaries (K+1,), rates (K,))."""
    if len(rates) <= 1:
        return times, rates
    keep = np.concatenate([[True], rates[1:] != rates[:-1]])
    return np.append(times[:-1][keep], times[-1]), rates[keep]


def _rle_sparse(bins: np.ndarray, counts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal per-ms packet counts over ``n`` ms -> (boundaries s, rates B/s, exact bytes per run).

    ``bins`` are the sorted distinct 1 ms bins in ``[0, n)`` that hold packets
    (``counts`` > 0 each); every other bin is empty. The result equals the run-length
    encoding of the dense per-ms counts, built in memory O(len(bins)).
    """
    bins = np.asarray(bins, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    edges = np.unique(np.concatenate([np.array([0, n], dtype=np.int64), bins, bins + 1]))
    starts = edges[:-1]
    c = np.zeros(len(starts), dtype=np.int64)
    c[np.searchsorted(starts, bins)] = counts  # every bin is one of the starts
    keep = np.concatenate([[True], c[1:] != c[:-1]])  # merge runs of equal counts
    run_starts, c = starts[keep], c[keep]
    run_ends = np.append(run_starts[1:], n)
    times = np.append(run_starts, n) / 1000.0
    rates = c * (MAHIMAHI_PACKET_BYTES * 1000.0)
    step_bytes = c * MAHIMAHI_PACKET_BYTES * (run_ends - run_starts)
    return times, rates.astype(float), step_bytes.astype(np.int64)


def _rotate(times: np.ndarray, rates: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """The looping trace seen from offset ``s`` in [0, period): new boundaries start at 0."""
    period = float(times[-1])
    i = int(np.searchsorted(times, s, side="right")) - 1
    if s == times[i]:
        b = np.concatenate([times[i:], period + times[1 : i + 1]]) - s
        r = np.concatenate([rates[i:], rates[:i]])
    else:
        b = np.concatenate([[s], times[i + 1 :], period + times[1 : i + 1], [period + s]]) - s
        r = np.concatenate([rates[i:], rates[:i], [rates[i]]])
    b[-1] = period  # exact period despite rounding
    return b, r


def _cut(times: np.ndarray, rates: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """The non-looping trace from ``s`` on, shifted to start at 0."""
    i = int(np.searchsorted(times, s, side="right")) - 1
    b = np.concatenate([[s], times[i + 1 :]]) - s
    return b, rates[i:].copy()


def load_trace(
    path: str | os.PathLike,
    fmt: str,
    *,
    column: str | None = None,
    time_column: str | None = None,
    time_unit: str = "s",
    rate_unit: str | None = None,
    step_s: float = 1.0,
    scale: float = 1.0,
    offset_Bps: float = 0.0,
    start_s: float | str = 0.0,
    rng: np.random.Generator | None = None,
    loop: bool = True,
    after_end: str = "hold",
    clip_Bps: tuple[float | None, float | None] | None = None,
) -> PiecewiseBandwidth:
    """Load a trace file as a piecewise-constant bandwidth model (bytes/s).

    Args:
        path: the trace file.
        fmt: ``mahimahi``, ``pensieve``, ``5g`` or ``csv``.
        column: rate column (``5g``: ``DL_bitrate`` (default) or ``UL_bitrate``;
            ``csv``: required).
        time_column: ``csv`` only: the time column; None = rows ``step_s`` apart.
        time_unit: unit of the time column (``s``, ``ms``, ...).
        rate_unit: unit of the rate column (``Mbit/s``, ``kbit/s``, ``B/s``, ...);
            ``5g`` defaults to ``kbit/s``; required for ``csv``.
        step_s: row spacing (s) for a CSV without a time column.
        scale: multiplies every rate.
        offset_Bps: added to every rate after scaling (bytes/s); negatives become 0.
        start_s: seconds into the trace at which the model's time 0 lies, or
            ``"random"``: uniform in [0, period) drawn from ``rng`` (mahimahi:
            rounded down to whole ms so the packet bins stay aligned).
        rng: the generator for a random start (from :func:`simoffload.rng.rng_for`).
        loop: replay from the start after the end (period as per format).
        after_end: when not looping, ``hold`` the last rate or drop to ``zero``.
        clip_Bps: ``(lo, hi)`` bounds in bytes/s applied last (either may be None).

    Returns:
        The model; shared with later calls with the same arguments (do not mutate).

    Raises:
        UserError: unreadable or malformed file (``path:line: message``) or bad option.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise UserError(f"format: unknown trace format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if after_end not in ("hold", "zero"):
        raise UserError(f"after: expected hold or zero, got {after_end!r}")
    if not (math.isfinite(scale) and scale >= 0):
        raise UserError(f"scale: must be finite and >= 0, got {scale!r}")
    if not math.isfinite(offset_Bps):
        raise UserError(f"offset: must be finite, got {offset_Bps!r}")
    lo, hi = clip_Bps if clip_Bps is not None else (None, None)
    if lo is not None and hi is not None and lo > hi:
        raise UserError(f"clip: lower bound {lo:g} exceeds upper bound {hi:g}")
    raw = _raw(path, fmt, column, time_column, time_unit, rate_unit, step_s)
    packets = raw.bins is not None or (raw.spill is not None and raw.spill.packets)
    if raw.spill is not None:
        period = (raw.period_ms / 1000.0) if packets else float(raw.spill.end)
    else:
        period = (raw.period_ms / 1000.0) if raw.bins is not None else float(raw.times[-1])

    if isinstance(start_s, str):
        if start_s != "random":
            raise UserError(f"start: expected a time in s or 'random', got {start_s!r}")
        if rng is None:
            raise ValueError("start='random' needs an rng")
        start = float(rng.uniform(0.0, period))
    else:
        start = float(start_s)
        if not (math.isfinite(start) and start >= 0):
            raise UserError(f"start_s: must be a finite time >= 0, got {start_s!r}")
    if packets:
        start = math.floor(start * 1000.0 + 1e-6) / 1000.0
    if loop:
        start = math.fmod(start, period)
    elif start >= period:
        raise UserError(f"start_s: {start:g} s is past the end of {path} ({period:g} s) and loop is off")

    after = "loop" if loop else after_end
    # the file's identity too: a rewritten trace must not be served from the cache
    key = (*_file_key(path), fmt, column, time_column, time_unit, rate_unit, step_s, scale, offset_Bps,
           start, loop, after, lo, hi)
    if key in _MODEL_CACHE:
        _MODEL_CACHE.move_to_end(key)
        return _MODEL_CACHE[key]

    if raw.spill is not None:
        model: PiecewiseBandwidth | BlockedBandwidth = trace_stream.blocked_trace(
            raw.spill, start=start, loop=loop, after=after, scale=scale, offset=offset_Bps, lo=lo, hi=hi,
            source=f"{path.name} streamed")
        _cache_put(_MODEL_CACHE, key, model)
        log.debug("loaded %s (%s, streamed): %r", path, fmt, model)
        return model
    identity = scale == 1.0 and offset_Bps == 0.0
    if raw.bins is not None:
        bins, counts, n = raw.bins, raw.bin_counts, raw.period_ms
        k = int(round(start * 1000.0))
        if k:
            if loop:  # rotate: bin b moves to (b - k) mod n
                bins = (bins - k) % n
                order = np.argsort(bins, kind="stable")
                bins, counts = bins[order], counts[order]
            else:  # cut: drop the bins before k
                keep = bins >= k
                bins, counts, n = bins[keep] - k, counts[keep], n - k
        times, rates, step_bytes = _rle_sparse(bins, counts, n)
    else:
        times, rates, step_bytes = raw.times, raw.rates, None
        if start > 0:
            times, rates = (_rotate if loop else _cut)(times, rates, start)
    if not identity:
        rates = np.maximum(rates * scale + offset_Bps, 0.0)
    if lo is not None or hi is not None:
        clipped = np.clip(rates, lo, hi)
        if not np.array_equal(clipped, rates):
            identity = False
        rates = clipped
    if step_bytes is not None and identity:
        model = ExactBytesBandwidth(times, rates, step_bytes, after=after)
    else:
        times, rates = _merge(np.asarray(times, float), np.asarray(rates, float))
        model = PiecewiseBandwidth(times, rates, after=after)
    _cache_put(_MODEL_CACHE, key, model)
    log.debug("loaded %s (%s): %r", path, fmt, model)
    return model


def load_mahimahi(path: str | os.PathLike, **options: Any) -> PiecewiseBandwidth:
    """Mahimahi packet-delivery trace (see module doc); ``options`` as :func:`load_trace`."""
    return load_trace(path, "mahimahi", **options)


def load_pensieve(path: str | os.PathLike, **options: Any) -> PiecewiseBandwidth:
    """Pensieve ``time_s Mbps`` trace; ``options`` as :func:`load_trace`."""
    return load_trace(path, "pensieve", **options)


def load_5g(path: str | os.PathLike, column: str = "DL_bitrate", **options: Any) -> PiecewiseBandwidth:
    """uccmisl 5G dataset CSV (kbit/s, rows 1 s apart); ``options`` as :func:`load_trace`."""
    return load_trace(path, "5g", column=column, **options)


def load_csv(path: str | os.PathLike, column: str, rate_unit: str, time_column: str | None = None,
             time_unit: str = "s", **options: Any) -> PiecewiseBandwidth:
    """Generic CSV with a header row; ``options`` as :func:`load_trace`."""
    return load_trace(path, "csv", column=column, rate_unit=rate_unit, time_column=time_column,
                      time_unit=time_unit, **options)


def packet_counts(path: str | os.PathLike) -> np.ndarray:
    """Per-ms packet counts of a Mahimahi trace (bin k covers [k, k+1) ms), as a dense array.

    The dense array has one entry per ms of the period: for long, sparse traces
    prefer :func:`load_trace`, which never builds it.
    """
    raw = _raw(Path(path), "mahimahi", None, None, "s", None, 1.0)
    if raw.spill is not None:
        runs = raw.spill.read(0, raw.spill.n)
        return np.repeat(runs["c"], np.diff(np.append(runs["m"], raw.period_ms)))
    out = np.zeros(raw.period_ms, dtype=np.int64)
    out[raw.bins] = raw.bin_counts
    return out
