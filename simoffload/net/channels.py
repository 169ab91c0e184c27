"""Bandwidth specifications for scenario files, their builders, and bandwidth estimators.

Scenario YAML describes a link's bandwidth in one of these forms (full reference
in ``docs/channels.md``)::

    bandwidth: "20 Mbit/s"                       # constant (a number is bytes/s)
    bandwidth: {constant: "2 MB/s"}
    bandwidth: {piecewise: {times_s: [0, 10, 15, 30], rates: ["2 MB/s", 0, "1 MB/s"], after: loop}}
    bandwidth: {trace: {file: traces/x.down, format: mahimahi, scale: 2, start: random}}
    bandwidth: {gauss_markov: {mean: "2 MB/s", std: "0.5 MB/s", tau_s: 5, step_s: 1}}
    bandwidth: {gilbert_elliott: {good: "5 MB/s", bad: "0.2 MB/s", mean_good_s: 20, mean_bad_s: 3}}

:func:`parse_bandwidth_spec` validates (errors name the field), :func:`build_bandwidth`
turns a spec into a :class:`~simoffload.net.bandwidth.BandwidthModel`, taking its
randomness only from ``rng_for(seed, stream)``.

Estimators model what a policy *knows* about a link at decision time (see
:func:`make_estimator`): ``oracle`` (the true current rate, an upper bound no real
system has), ``last``, ``ewma`` and ``harmonic`` over measurement samples. A
sample is the link's mean capacity over a window ``[(k-1)S, kS)`` of ``sample_s``
= S seconds, computed exactly from ``model.cumulative``; at time t the complete
samples are those with ``kS <= t``. Estimators are pure functions of (model, t).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_serializer,
    model_validator,
)

from ..errors import UserError
from ..rng import rng_for
from ..strict import StrictModel
from ..units import UnitError, parse_quantity
from .bandwidth import BandwidthModel, ConstantBandwidth, PiecewiseBandwidth
from .stochastic import gauss_markov, gilbert_elliott
from .traces import load_trace

#: path length generated for a stochastic link when the run has no finite horizon (it then loops)
DEFAULT_STOCHASTIC_HORIZON_S = 3600.0


# ---------------------------------------------------------------- field types


def _to_rate(v: Any) -> Any:
    if v is None:
        return v
    try:
        return parse_quantity(v, "bytes_per_s")
    except UnitError as exc:
        raise ValueError(str(exc)) from None


def _to_seconds(v: Any) -> Any:
    if v is None or (isinstance(v, str) and v == "random"):
        return v
    try:
        return parse_quantity(v, "s")
    except UnitError as exc:
        raise ValueError(str(exc)) from None


def _nonneg_finite(v: float) -> float:
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"must be finite and >= 0, got {v:g}")
    return v


def _pos_finite(v: float) -> float:
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"must be finite and > 0, got {v:g}")
    return v


def _to_start(v: Any) -> Any:
    if v is None or v == "random":
        return v
    try:
        return parse_quantity(v, "s")
    except UnitError as exc:
        raise ValueError(f"expected a time in s or 'random': {exc}") from None


Rate = Annotated[float, BeforeValidator(_to_rate)]  # bytes/s, number or "20 Mbit/s"
Seconds = Annotated[float, BeforeValidator(_to_seconds)]  # s, number or "500 ms"


class _Spec(StrictModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PiecewiseSpec(_Spec):
    """Inline step function: ``rates[i]`` holds on ``[times_s[i], times_s[i+1])``.

    ``times_s`` has one entry more than ``rates`` (the end of the last step); with
    ``after: hold`` it may have the same length (the last rate then holds for ever).
    """

    times_s: list[Seconds]
    rates: list[Rate]
    after: Literal["loop", "hold", "zero"] = "loop"

    @model_validator(mode="after")
    def _check(self) -> "PiecewiseSpec":
        t, r = self.times_s, self.rates
        if not r:
            raise ValueError("rates: need at least one rate")
        for i, x in enumerate(r):
            if not (math.isfinite(x) and x >= 0):
                raise ValueError(f"rates[{i}]: must be finite and >= 0, got {x:g}")
        if len(t) == len(r) and self.after != "hold":
            raise ValueError(f"times_s: needs {len(r) + 1} entries (one more than rates: the end of the last step) "
                             f"unless after is hold")
        if len(t) not in (len(r), len(r) + 1):
            raise ValueError(f"times_s: has {len(t)} entries for {len(r)} rates (expected {len(r) + 1})")
        if t[0] != 0:
            raise ValueError(f"times_s[0]: must be 0, got {t[0]:g}")
        for i in range(1, len(t)):
            if not t[i] > t[i - 1]:
                raise ValueError(f"times_s[{i}]: must be > times_s[{i - 1}] ({t[i]:g} <= {t[i - 1]:g})")
        return self


class TraceSpec(_Spec):
    """A trace file replayed as a step function (see :func:`simoffload.net.traces.load_trace`)."""

    file: str
    format: Literal["mahimahi", "pensieve", "5g", "csv"]
    column: str | None = None
    time_column: str | None = None
    time_unit: str = "s"
    rate_unit: str | None = None
    step_s: Seconds = 1.0
    scale: float = 1.0
    offset: Rate = 0.0
    start_s: Seconds | None = None
    start: Annotated[Any, BeforeValidator(_to_start)] = None  # float s or "random"
    loop: bool = True
    after: Literal["hold", "zero"] = "hold"
    clip: tuple[Rate | None, Rate | None] | None = None

    @model_validator(mode="after")
    def _check(self) -> "TraceSpec":
        if self.start_s is not None and self.start is not None:
            raise ValueError("start: give start or start_s, not both")
        if not (math.isfinite(self.scale) and self.scale >= 0):
            raise ValueError(f"scale: must be finite and >= 0, got {self.scale:g}")
        if not math.isfinite(self.offset):
            raise ValueError(f"offset: must be finite, got {self.offset:g}")
        if not (self.step_s > 0 and math.isfinite(self.step_s)):
            raise ValueError(f"step_s: must be > 0, got {self.step_s:g}")
        s = self.start_s if self.start_s is not None else self.start
        if isinstance(s, float) and not (math.isfinite(s) and s >= 0):
            raise ValueError(f"start: must be a finite time >= 0 or 'random', got {s:g}")
        if self.clip is not None:
            lo, hi = self.clip
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"clip: lower bound {lo:g} exceeds upper bound {hi:g}")
        for name, unit, kind in (("rate_unit", self.rate_unit, "bytes_per_s"), ("time_unit", self.time_unit, "s")):
            if unit is not None:
                try:
                    parse_quantity(f"1 {unit}", kind)
                except UnitError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        if self.format == "csv":
            if self.column is None:
                raise ValueError("column: required for format csv")
            if self.rate_unit is None:
                raise ValueError("rate_unit: required for format csv (e.g. 'Mbit/s', 'kbit/s', 'B/s')")
        elif self.time_column is not None:
            raise ValueError(f"time_column: only applies to format csv, not {self.format}")
        if self.format in ("mahimahi", "pensieve") and (self.column is not None or self.rate_unit is not None):
            raise ValueError(f"column: the {self.format} format has fixed columns and units")
        if self.format == "5g" and self.column not in (None, "DL_bitrate", "UL_bitrate"):
            raise ValueError(f"column: expected DL_bitrate or UL_bitrate for format 5g, got {self.column!r}")
        return self


class GaussMarkovSpec(_Spec):
    """AR(1) bandwidth (see :func:`simoffload.net.stochastic.gauss_markov`)."""

    mean: Rate
    std: Rate
    correlation: float | None = Field(default=None, ge=0.0, lt=1.0)
    tau_s: Seconds | None = None
    step_s: Seconds = 1.0
    after: Literal["loop", "hold"] = "loop"

    @model_validator(mode="after")
    def _check(self) -> "GaussMarkovSpec":
        for name in ("mean", "std"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: must be finite and >= 0, got {v:g}")
        if (self.correlation is None) == (self.tau_s is None):
            raise ValueError("correlation: give exactly one of correlation and tau_s")
        if self.tau_s is not None and not (self.tau_s > 0 and math.isfinite(self.tau_s)):
            raise ValueError(f"tau_s: must be > 0, got {self.tau_s:g}")
        if not (self.step_s > 0 and math.isfinite(self.step_s)):
            raise ValueError(f"step_s: must be > 0, got {self.step_s:g}")
        return self


class GilbertElliottSpec(_Spec):
    """Two-state bandwidth (see :func:`simoffload.net.stochastic.gilbert_elliott`)."""

    good: Rate
    bad: Rate
    mean_good_s: Seconds
    mean_bad_s: Seconds
    step_s: Seconds | None = None
    after: Literal["loop", "hold"] = "loop"

    @model_validator(mode="after")
    def _check(self) -> "GilbertElliottSpec":
        for name in ("good", "bad"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: must be finite and >= 0, got {v:g}")
        if self.step_s is not None and not (self.step_s > 0 and math.isfinite(self.step_s)):
            raise ValueError(f"step_s: must be > 0, got {self.step_s:g}")
        for name in ("mean_good_s", "mean_bad_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name}: must be > 0, got {v:g}")
            if self.step_s is not None and v < self.step_s:
                raise ValueError(f"{name}: must be >= step_s ({v:g} < {self.step_s:g})")
        return self


_KINDS = ("constant", "piecewise", "trace", "gauss_markov", "gilbert_elliott")


class BandwidthSpec(_Spec):
    """Exactly one of the forms; a bare number or quantity string means ``constant``."""

    constant: Rate | None = None
    piecewise: PiecewiseSpec | None = None
    trace: TraceSpec | None = None
    gauss_markov: GaussMarkovSpec | None = None
    gilbert_elliott: GilbertElliottSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, obj: Any) -> Any:
        if isinstance(obj, BandwidthSpec):
            return obj
        if not isinstance(obj, dict):
            return {"constant": obj}
        return obj

    @model_validator(mode="after")
    def _one(self) -> "BandwidthSpec":
        given = [k for k in _KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of {', '.join(_KINDS)}, got "
                             f"{', '.join(given) if given else 'none'}")
        if self.constant is not None and not (math.isfinite(self.constant) and self.constant >= 0):
            raise ValueError(f"constant: must be finite and >= 0, got {self.constant:g}")
        return self

    @property
    def kind(self) -> str:
        """The form in use: one of ``constant piecewise trace gauss_markov gilbert_elliott``."""
        return next(k for k in _KINDS if getattr(self, k) is not None)


def _user_error(exc: ValidationError, where: str, bare: bool) -> UserError:
    from ..yamlio import shorten

    parts = []
    for e in exc.errors()[:1]:  # one line: the first problem
        loc = [str(x) for x in e["loc"]]
        if bare and loc[:1] == ["constant"]:
            loc = loc[1:]
        msg = e["msg"].removeprefix("Value error, ")
        # a validator message "field: ..." names a sub-field of this location
        head, sep, rest = msg.partition(": ")
        if sep and " " not in head and head.replace("_", "").replace("[", "").replace("]", "").isalnum():
            loc.append(head)
            msg = rest
        path = ".".join([where] + loc) if where else ".".join(loc)
        got = e.get("input")
        if e["type"] not in ("value_error", "missing") and not isinstance(got, (dict, list)) and "got " not in msg:
            msg += f" (got {shorten(got)})"
        parts.append(f"{path}: {msg}")
    return UserError("; ".join(parts))


def parse_bandwidth_spec(obj: Any, where: str = "bandwidth") -> BandwidthSpec:
    """Validate a bandwidth description from a scenario file.

    Args:
        obj: a number (bytes/s), a quantity string (``"20 Mbit/s"``), a mapping with
            one of the keys ``constant piecewise trace gauss_markov gilbert_elliott``,
            or an existing :class:`BandwidthSpec`.
        where: dotted location of ``obj`` in the scenario, used in error messages.

    Raises:
        UserError: one line naming the field and the bad value.
    """
    if isinstance(obj, BandwidthSpec):
        return obj
    try:
        return BandwidthSpec.model_validate(obj)
    except ValidationError as exc:
        raise _user_error(exc, where, bare=not isinstance(obj, dict)) from None


def build_bandwidth(spec: BandwidthSpec | Any, *, seed: int, stream: str, horizon_s: float,
                    base_dir: Path | str = ".") -> BandwidthModel:
    """Build the bandwidth model a spec describes.

    Args:
        spec: a :class:`BandwidthSpec` (or anything :func:`parse_bandwidth_spec` accepts).
        seed: the run's root seed.
        stream: stable name of this link's random stream (e.g. ``"link/wireless/0/up"``);
            randomness (stochastic paths, random trace start) comes only from
            ``rng_for(seed, stream)``.
        horizon_s: the simulated horizon (s); stochastic paths cover at least this
            long and then loop. Not finite: ``DEFAULT_STOCHASTIC_HORIZON_S``.
        base_dir: directory against which relative trace paths resolve (the scenario
            file's directory).

    Returns:
        A deterministic model: same (spec, seed, stream) gives the same bandwidth.
    """
    spec = parse_bandwidth_spec(spec)
    if not (horizon_s is not None and math.isfinite(horizon_s) and horizon_s > 0):
        horizon_s = DEFAULT_STOCHASTIC_HORIZON_S
    kind = spec.kind
    try:
        if kind == "constant":
            return ConstantBandwidth(spec.constant)
        if kind == "piecewise":
            p = spec.piecewise
            times = list(p.times_s)
            if len(times) == len(p.rates):  # after: hold, last rate for ever
                times.append(times[-1] + 1.0)
            return PiecewiseBandwidth(times, p.rates, after=p.after)
        if kind == "trace":
            tr = spec.trace
            path = Path(tr.file).expanduser()
            if not path.is_absolute():
                path = Path(base_dir) / path
            start = tr.start_s if tr.start_s is not None else tr.start
            if start is None:
                start = 0.0
            return load_trace(
                path, tr.format, column=tr.column, time_column=tr.time_column, time_unit=tr.time_unit,
                rate_unit=tr.rate_unit, step_s=tr.step_s, scale=tr.scale, offset_Bps=tr.offset,
                start_s=start, rng=rng_for(seed, stream) if start == "random" else None,
                loop=tr.loop, after_end=tr.after, clip_Bps=tr.clip,
            )
        if kind == "gauss_markov":
            g = spec.gauss_markov
            return gauss_markov(g.mean, g.std, correlation=g.correlation, tau_s=g.tau_s, step_s=g.step_s,
                                horizon_s=horizon_s, rng=rng_for(seed, stream), after=g.after)
        ge = spec.gilbert_elliott
        return gilbert_elliott(ge.good, ge.bad, mean_good_s=ge.mean_good_s, mean_bad_s=ge.mean_bad_s,
                               step_s=ge.step_s, horizon_s=horizon_s, rng=rng_for(seed, stream), after=ge.after)
    except ValueError as exc:
        raise UserError(f"bandwidth.{kind} ({stream}): {exc}") from None


# ---------------------------------------------------------------- estimators

_EST_KINDS = ("oracle", "last", "ewma", "harmonic")
_EST_PARAMS = {"oracle": set(), "last": {"sample_s"}, "ewma": {"sample_s", "alpha", "lookback"},
               "harmonic": {"sample_s", "window"}}


class EstimatorSpec(_Spec):
    """What the policy sees of a link's bandwidth.

    Attributes:
        kind: ``oracle`` | ``last`` | ``ewma`` | ``harmonic``.
        sample_s: measurement window (s) of one sample (not oracle).
        alpha: ewma weight of the newest sample, in (0, 1].
        lookback: ewma: number of most recent samples folded in (bounds the work).
        window: harmonic: number of most recent samples averaged.
    """

    kind: Literal["oracle", "last", "ewma", "harmonic"]
    sample_s: Seconds = 1.0
    alpha: float = Field(default=0.3, gt=0.0, le=1.0)
    lookback: int = Field(default=50, ge=1, le=100_000)
    window: int = Field(default=5, ge=1, le=100_000)

    @model_validator(mode="after")
    def _check(self) -> "EstimatorSpec":
        if not (self.sample_s > 0 and math.isfinite(self.sample_s)):
            raise ValueError(f"sample_s: must be > 0, got {self.sample_s:g}")
        extra = (self.model_fields_set - {"kind"}) - _EST_PARAMS[self.kind]
        if extra:
            name = sorted(extra)[0]
            raise ValueError(f"{name}: does not apply to estimator {self.kind}")
        return self

    @model_serializer(mode="wrap")
    def _applicable_only(self, handler: Any) -> dict:
        """Dump only the parameters of this kind, so a dumped spec validates again (sweep points, records)."""
        data = handler(self)
        return {k: v for k, v in data.items() if k == "kind" or k in _EST_PARAMS[self.kind]}


def parse_estimator_spec(obj: Any, where: str = "estimator") -> EstimatorSpec:
    """Validate an estimator description.

    Accepts a name (``"ewma"``), a mapping with ``kind`` (``{kind: ewma, alpha: 0.5}``)
    or a one-key mapping (``{ewma: {alpha: 0.5}}``).

    Raises:
        UserError: one line naming the field and the bad value.
    """
    if isinstance(obj, EstimatorSpec):
        return obj
    data = obj
    if isinstance(obj, str):
        data = {"kind": obj}
    elif isinstance(obj, dict) and "kind" not in obj and len(obj) == 1:
        (k, v), = obj.items()
        if v is None:
            v = {}
        if not isinstance(v, dict):
            raise UserError(f"{where}.{k}: expected a mapping of parameters, got {v!r}")
        data = {"kind": k, **v}
    try:
        return EstimatorSpec.model_validate(data)
    except ValidationError as exc:
        raise _user_error(exc, where, bare=False) from None


def measurement_samples(model: BandwidthModel, t: float, sample_s: float, n: int) -> np.ndarray:
    """The last ``n`` (at most) complete measurement samples at time ``t``, oldest first.

    Sample k (k = 1, 2, ...) is the mean capacity over ``[(k-1)S, kS)``, exactly
    ``(C(kS) - C((k-1)S)) / S``; it is complete once ``kS <= t`` (with a 1e-9
    relative tolerance so ``t = kS`` computed in floating point counts).

    Returns:
        (m,) samples in bytes/s, m = min(n, floor(t/S)); empty before the first.
    """
    k_last = math.floor(t / sample_s + 1e-9) if t > 0 else 0
    if k_last <= 0:
        return np.zeros(0)
    k0 = max(0, k_last - n)
    c = np.array([model.cumulative(k * sample_s) for k in range(k0, k_last + 1)])
    return np.maximum(np.diff(c) / sample_s, 0.0)


class Estimator:
    """Bandwidth estimate a policy sees: a pure function of (model, t)."""

    name = "estimator"
    #: true if the estimate uses the future/present truth no real device has
    upper_bound = False

    def __init__(self, spec: EstimatorSpec):
        self.spec = spec

    def estimate(self, model: BandwidthModel, t: float) -> float:
        """Estimated bandwidth (bytes/s) of ``model`` at time ``t`` (s)."""
        raise NotImplementedError

    def _no_sample(self, model: BandwidthModel) -> float:
        # before the first window completes: an initial probe at time 0
        return float(model.rate(0.0))

    def __repr__(self) -> str:
        params = {k: getattr(self.spec, k) for k in sorted(_EST_PARAMS[self.spec.kind])}
        inner = ", ".join(f"{k}={v:g}" for k, v in params.items())
        return f"{type(self).__name__}({inner})"


class OracleEstimator(Estimator):
    """The true current rate: an upper bound on what any real estimator can know."""

    name = "oracle"
    upper_bound = True

    def estimate(self, model: BandwidthModel, t: float) -> float:
        return float(model.rate(t))


class LastEstimator(Estimator):
    """The last complete measurement sample."""

    name = "last"

    def estimate(self, model: BandwidthModel, t: float) -> float:
        s = measurement_samples(model, t, self.spec.sample_s, 1)
        return float(s[-1]) if len(s) else self._no_sample(model)


class EwmaEstimator(Estimator):
    """Exponentially weighted moving average of the last ``lookback`` samples.

    ``E = s_oldest``, then ``E = alpha * s + (1 - alpha) * E`` for each newer sample.
    """

    name = "ewma"

    def estimate(self, model: BandwidthModel, t: float) -> float:
        s = measurement_samples(model, t, self.spec.sample_s, self.spec.lookback)
        if not len(s):
            return self._no_sample(model)
        a = self.spec.alpha
        e = float(s[0])
        for x in s[1:]:
            e = a * float(x) + (1.0 - a) * e
        return e


class HarmonicEstimator(Estimator):
    """Harmonic mean of the last ``window`` samples (the ABR convention, e.g. MPC/Pensieve).

    A zero sample makes the harmonic mean 0 (its limit), without dividing by zero.
    """

    name = "harmonic"

    def estimate(self, model: BandwidthModel, t: float) -> float:
        s = measurement_samples(model, t, self.spec.sample_s, self.spec.window)
        if not len(s):
            return self._no_sample(model)
        if np.any(s <= 0):
            return 0.0
        return float(len(s) / np.sum(1.0 / s))


_EST_CLASSES = {"oracle": OracleEstimator, "last": LastEstimator, "ewma": EwmaEstimator,
                "harmonic": HarmonicEstimator}


def make_estimator(spec: EstimatorSpec | Any) -> Estimator:
    """The estimator a spec (or anything :func:`parse_estimator_spec` accepts) describes."""
    spec = parse_estimator_spec(spec)
    return _EST_CLASSES[spec.kind](spec)
