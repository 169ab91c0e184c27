"""One-way propagation latency of a link: a constant, a distribution, or a trace column.

A transfer of d bytes on a link with latency takes the bandwidth integral
*plus* the latency. The flow joins the link at once and shares it while it
transmits; after its last byte the latency passes before the data is at the
far end, and the flow holds no share meanwhile: latency never overlaps with
bandwidth sharing (see README, Propagation delay).

Forms, as a scenario's ``network.<hop>.latency`` (and ``latency_down``):

* a time: ``20 ms`` (constant);
* a distribution (``DIST`` with units of time): ``{uniform: [10 ms, 30 ms]}``,
  ``{exponential: {mean: 5 ms}}``, ... drawn afresh for every transfer from
  the link's own random stream (``latency/<link>``), restarted for every
  policy so the k-th transfer on a link sees the same draw under every policy;
* a trace column: ``{trace: {file: F, column: C, format: csv, time_column: T,
  time_unit: s, unit: ms, scale: 0.5}}`` - a step function of time (the value
  at the instant the last byte leaves), looping after the trace's end; ``scale``
  turns a round-trip column (ping) into one way. ``format: 5g`` reads the 5G
  dataset's CSV (``PINGAVG`` etc., one row a second).

What a policy is told (its observation): the constant, the distribution's
mean, or the trace's value at decision time.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..model.task import Dist
from ..rng import rng_for
from ..units import UnitError, parse_quantity

_DIST_FORMS = ("constant", "uniform", "normal", "exponential", "choice")
_TRACE_KEYS = {"file", "column", "format", "time_column", "time_unit", "unit", "scale", "start_s", "step_s"}


class LatencyModel:
    """Base: ``estimate(t)`` is what a policy is told; ``sampler(seed)`` gives a run's per-transfer delays."""

    def estimate(self, t: float) -> float:
        raise NotImplementedError

    def sampler(self, seed: int) -> Callable[[float], float]:
        """A fresh function from a transfer's start time to its propagation delay (s), for one run."""
        raise NotImplementedError


class ConstantLatency(LatencyModel):
    def __init__(self, value_s: float):
        self.value_s = float(value_s)

    def estimate(self, t: float) -> float:
        return self.value_s

    def sampler(self, seed: int) -> Callable[[float], float]:
        v = self.value_s
        return lambda t: v

    def __repr__(self) -> str:
        return f"ConstantLatency({self.value_s:g} s)"


class DistLatency(LatencyModel):
    """An i.i.d. delay per transfer from ``dist``, drawn from the stream ``stream`` of the run's seed."""

    def __init__(self, dist: Dist, stream: str, batch: int = 256):
        self.dist, self.stream, self.batch = dist, stream, batch

    def estimate(self, t: float) -> float:
        return float(self.dist.mean())

    def sampler(self, seed: int) -> Callable[[float], float]:
        rng = rng_for(seed, self.stream)
        buf: list[float] = []
        dist, batch = self.dist, self.batch

        def draw(t: float) -> float:
            if not buf:
                buf.extend(reversed(dist.sample(rng, batch).tolist()))  # draws in order, popped from the end
            return buf.pop()

        return draw

    def __repr__(self) -> str:
        return f"DistLatency({self.dist!r}, stream={self.stream!r})"


class TraceLatency(LatencyModel):
    """A step function: ``values[i]`` on ``[times[i], times[i+1])``, looping with period ``times[-1]``.

    ``offset_s``: the trace time at simulated time 0.
    """

    def __init__(self, times: Any, values: Any, offset_s: float = 0.0):
        self.offset_s = float(offset_s)
        self.times = np.asarray(times, dtype=float)
        self.values = np.asarray(values, dtype=float)
        if len(self.times) != len(self.values) + 1 or not len(self.values):
            raise ValueError("need K+1 boundaries for K values")
        self.period = float(self.times[-1])

    def value(self, t: float) -> float:
        x = math.fmod(t + self.offset_s, self.period) if self.period > 0 else 0.0
        i = int(np.searchsorted(self.times, x, side="right")) - 1
        return float(self.values[min(max(i, 0), len(self.values) - 1)])

    def estimate(self, t: float) -> float:
        return self.value(t)

    def sampler(self, seed: int) -> Callable[[float], float]:
        return self.value

    def __repr__(self) -> str:
        return f"TraceLatency({len(self.values)} steps over {self.period:g} s)"


class StreamedTraceLatency(TraceLatency):
    """:class:`TraceLatency` of a long trace file, its steps on disk and served block by block.

    ``spill``: the file's steps (:class:`~simoffload.net.trace_stream.Spill`, values in
    the column's plain numbers), each multiplied by ``unit`` (s per number) when its
    block is read: the same product per step as the whole array's, so every value is
    bit-identical to :class:`TraceLatency` over the same file.
    """

    def __init__(self, spill: Any, unit: float, offset_s: float = 0.0, block: int | None = None):
        from .trace_stream import SpillSteps

        self.offset_s = float(offset_s)
        self.period = float(spill.end)
        self.n_steps = spill.n
        self.steps = SpillSteps(spill, lambda r: r * unit, block)

    def value(self, t: float) -> float:
        x = math.fmod(t + self.offset_s, self.period) if self.period > 0 else 0.0
        return self.steps.value(x)

    def __repr__(self) -> str:
        return f"StreamedTraceLatency({self.n_steps} steps over {self.period:g} s)"


def parse_latency_spec(v: Any) -> Any:
    """Validate a latency description (see the module docstring); returns it unchanged (plain YAML data).

    Raises:
        ValueError: with a one-line message naming what is wrong.
    """
    if isinstance(v, Mapping) and "trace" in v:
        if len(v) != 1:
            raise ValueError(f"a latency trace is {{trace: {{...}}}} alone, got keys {sorted(v)}")
        tr = v["trace"]
        if not isinstance(tr, Mapping) or "file" not in tr or "column" not in tr:
            raise ValueError("trace needs at least file and column")
        extra = set(tr) - _TRACE_KEYS
        if extra:
            raise ValueError(f"unknown trace key(s) {sorted(extra)} (expected {sorted(_TRACE_KEYS)})")
        if tr.get("format", "csv") not in ("csv", "5g"):
            raise ValueError(f"latency traces are format csv or 5g, got {tr.get('format')!r}")
        try:
            parse_quantity(f"1 {tr.get('unit', 'ms')}", "s")
            parse_quantity(f"1 {tr.get('time_unit', 's')}", "s")
        except UnitError as exc:
            raise ValueError(str(exc)) from None
        scale = tr.get("scale", 1.0)
        if not isinstance(scale, (int, float)) or not (math.isfinite(scale) and scale >= 0):
            raise ValueError(f"trace scale must be a finite number >= 0, got {scale!r}")
        return v
    if isinstance(v, Mapping) and (len(v) != 1 or next(iter(v)) not in _DIST_FORMS):
        raise ValueError(f"a latency is a time, a distribution ({', '.join(_DIST_FORMS)}) or {{trace: ...}}, "
                         f"got keys {sorted(v)}")
    try:
        d = Dist(v, "s")
    except (ValueError, UnitError) as exc:
        raise ValueError(str(exc)) from None
    if not math.isfinite(d.args[0]) or any(not math.isfinite(a) for a in d.args):
        raise ValueError(f"a latency must be finite, got {v!r}")
    return v


def build_latency(spec: Any, *, stream: str, base_dir: Path | str = ".") -> LatencyModel | None:
    """The model a (validated) latency spec describes; ``None`` for no latency (0 s constant or None).

    Args:
        spec: from :func:`parse_latency_spec`.
        stream: this link's random stream name (for distributions), e.g. ``"latency/wan_up"``.
        base_dir: directory relative trace paths resolve against (the scenario's).
    """
    if spec is None:
        return None
    if isinstance(spec, Mapping) and "trace" in spec:
        from .traces import _raw

        tr = spec["trace"]
        path = Path(tr["file"]).expanduser()
        if not path.is_absolute():
            path = Path(base_dir) / path
        fmt = tr.get("format", "csv")
        # read the column's plain numbers (a unit factor of 1), then convert them to seconds here
        # a file above trace_stream.WHOLE_TRACE_BYTES is validated in one streaming pass and served by block
        raw = _raw(path, fmt, tr["column"], tr.get("time_column") if fmt == "csv" else None,
                   tr.get("time_unit", "s"), "B/s", float(tr.get("step_s", 1.0)), value="latency")
        unit = parse_quantity(f"1 {tr.get('unit', 'ms')}", "s") * float(tr.get("scale", 1.0))
        if raw.spill is not None:
            return StreamedTraceLatency(raw.spill, unit, float(tr.get("start_s", 0.0)))
        times, values = raw.times, raw.rates * unit
        return TraceLatency(times, values, float(tr.get("start_s", 0.0)))
    d = Dist(spec, "s")
    if d.form == "constant":
        return None if d.args[0] == 0 else ConstantLatency(d.args[0])
    return DistLatency(d, stream)

