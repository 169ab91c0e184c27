"""Device mobility, association with edge sites, and distance-based wireless bandwidth.

Everything here is a deterministic function of time computed before a run (from the run's named random
streams), so every policy of a run sees the same movement, the same handovers and the same radio rates.
The engine only replays it.

* Positions are sampled on a regular grid of ``step`` seconds (``times`` (T,), ``xy`` (T, D, 2) metres);
  between grid points a device is taken to be where it was at the last one (piecewise constant), so
  association and radio rates change only on the grid.
* Random waypoint (Johnson and Maltz 1996; Camp, Boleng and Davies 2002): start uniform in the
  rectangle, pick a uniform destination, go there in a straight line at a speed uniform in
  [speed_min, speed_max], pause, repeat.
* Traces: a CSV with a header ``time,device,x,y`` (device = 0-based index; positions linearly
  interpolated between a device's rows, held before its first and after its last), or SUMO's FCD export
  (``sumo --fcd-output``: ``<timestep time=..><vehicle id=.. x=.. y=../></timestep>``; vehicles are mapped
  to devices in order of first appearance; parsed with the standard library's expat, no DTD allowed).
* Radio: Shannon capacity over a log-distance path loss, no interference (an SNR, not an SINR, model):
  ``PL(dB) = A + B log10(d / 1 km)`` with the 3GPP TR 36.814 (v9.0.0, Table A.2.1.1-2) macro-cell values
  A = 128.1, B = 37.6 by default; ``SNR = P_tx - PL - (N0 + 10 log10(W) + NF)`` in dB with thermal noise
  N0 = -174 dBm/Hz, UE noise figure NF = 9 dB (same table); rate = W log2(1 + SNR) bits/s over the
  device's allocated bandwidth W. Defaults: W = 5 MHz, uplink P_tx = 23 dBm (UE maximum power, same
  table), downlink 40 dBm (the part of a 46 dBm base station a device's share of the band receives);
  the distance is clipped below at ``min_distance`` (35 m: the table's minimum UE-to-site distance).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BeforeValidator, Field, ValidationError, model_validator

from ..errors import UserError
from ..strict import StrictModel
from ..units import UnitError, parse_quantity
from .bandwidth import PiecewiseBandwidth


def _seconds(v: Any) -> float:
    try:
        return parse_quantity(v, "s")
    except UnitError as exc:
        raise ValueError(str(exc)) from None


Seconds = Annotated[float, BeforeValidator(_seconds)]


class _Spec(StrictModel):
    """Unknown fields, booleans as numbers and non-finite numbers are refused (:mod:`simoffload.strict`)."""


class RandomWaypointSpec(_Spec):
    area: tuple[float, float] = Field(description="[width, height] of the rectangle, metres")
    speed: tuple[float, float] = Field(description="[min, max] speed, m/s")
    pause: Seconds = Field(default=0.0, ge=0, description="pause at each waypoint")
    step: Seconds = Field(default=1.0, gt=0, description="sampling step of positions")

    @model_validator(mode="after")
    def _check(self) -> "RandomWaypointSpec":
        if min(self.area) <= 0:
            raise ValueError(f"area: width and height must be > 0 (got {list(self.area)})")
        lo, hi = self.speed
        if not (0 < lo <= hi):
            raise ValueError(f"speed: need 0 < min <= max (got {list(self.speed)})")
        return self


class TraceMobilitySpec(_Spec):
    file: str = Field(description="CSV (time,device,x,y) or SUMO FCD XML")
    format: str = Field(default="csv", pattern="^(csv|sumo-fcd)$")
    step: Seconds = Field(default=1.0, gt=0, description="sampling step of positions")


class MobilitySpec(_Spec):
    """Exactly one of random_waypoint, trace."""

    random_waypoint: RandomWaypointSpec | None = None
    trace: TraceMobilitySpec | None = None

    @model_validator(mode="after")
    def _one(self) -> "MobilitySpec":
        given = [k for k in ("random_waypoint", "trace") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of random_waypoint, trace (got {given or 'none'})")
        return self


class RadioSpec(_Spec):
    """Distance-based wireless: path loss + Shannon (module docstring)."""

    bandwidth: float = Field(default=5e6, gt=0, description="allocated bandwidth per device, Hz")
    up_power_dbm: float = 23.0
    down_power_dbm: float = 40.0
    noise_dbm_per_hz: float = -174.0
    noise_figure_db: float = 9.0
    path_loss: tuple[float, float] = (128.1, 37.6)
    min_distance: float = Field(default=35.0, gt=0, description="metres")


def _validation(exc: ValidationError) -> ValueError:
    e = exc.errors()[0]
    loc = ".".join(str(x) for x in e["loc"])
    msg = e["msg"].removeprefix("Value error, ")
    return ValueError(f"{loc}: {msg}" if loc else msg)


def parse_mobility(v: Any) -> MobilitySpec:
    if isinstance(v, MobilitySpec):
        return v
    try:
        return MobilitySpec.model_validate(v)
    except ValidationError as exc:
        raise _validation(exc) from None


class WirelessSpec(_Spec):
    """``topology.wireless``: ``{distance: {...}}`` (the form it is written in and dumped as)."""

    distance: RadioSpec


def parse_radio(v: Any) -> WirelessSpec:
    if isinstance(v, WirelessSpec):
        return v
    if not isinstance(v, dict) or set(v) != {"distance"}:
        raise ValueError("wireless: expected {distance: {...}} (path loss + Shannon)")
    d = dict(v["distance"] or {})
    if "bandwidth" in d:
        try:
            d["bandwidth"] = parse_quantity(d["bandwidth"], "hz")
        except UnitError as exc:
            raise ValueError(f"distance.bandwidth: {exc}") from None
    try:
        return WirelessSpec(distance=RadioSpec.model_validate(d))
    except ValidationError as exc:
        raise _validation(exc) from None


@dataclass
class Positions:
    """Device positions on a regular time grid: ``times`` (T,) seconds from 0, ``xy`` (T, D, 2) metres."""

    times: np.ndarray
    xy: np.ndarray


def grid(horizon_s: float, step_s: float) -> np.ndarray:
    return np.arange(0.0, horizon_s, step_s)


def random_waypoint(spec: RandomWaypointSpec, n_dev: int, horizon_s: float, rngs: list[np.random.Generator]) -> Positions:
    """Random-waypoint positions of ``n_dev`` devices (one random stream each) on the sampling grid."""
    t = grid(horizon_s, spec.step)
    w, h = spec.area
    lo, hi = spec.speed
    xy = np.empty((len(t), n_dev, 2))
    for i in range(n_dev):
        rng = rngs[i]
        p = rng.uniform((0.0, 0.0), (w, h))
        kt, kx, ky = [0.0], [p[0]], [p[1]]
        now = 0.0
        while now < horizon_s:
            q = rng.uniform((0.0, 0.0), (w, h))
            v = rng.uniform(lo, hi)
            now += float(np.hypot(*(q - p))) / v
            kt.append(now), kx.append(q[0]), ky.append(q[1])
            if spec.pause > 0:
                now += spec.pause
                kt.append(now), kx.append(q[0]), ky.append(q[1])
            p = q
        xy[:, i, 0] = np.interp(t, kt, kx)
        xy[:, i, 1] = np.interp(t, kt, ky)
    return Positions(t, xy)


class _Tracks:
    """A trace's kept positions by device, in memory: ``add(device, time, x, y)`` in file order."""

    def __init__(self) -> None:
        self._rows: dict[int, list[tuple[float, float, float]]] = {}

    def add(self, dev: int, tm: float, x: float, y: float) -> None:
        self._rows.setdefault(dev, []).append((tm, x, y))

    def rows(self, dev: int) -> tuple[Any, Any, Any] | None:
        """(times, xs, ys) of ``dev`` sorted by time (ties in file order), or None if it has none."""
        rows = self._rows.get(dev)
        if not rows:
            return None
        rows.sort(key=lambda r: r[0])
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


class _SpilledTracks(_Tracks):
    """The same, for a long trace: the positions in a temporary file grouped by device
    (:class:`~simoffload.net.trace_stream.GroupedSpill`), one device's read back at a time.

    The same numbers in the same order as :class:`_Tracks` (a stable sort by time of the
    device's rows in file order), so the positions are bit-identical.
    """

    def __init__(self) -> None:
        from .trace_stream import GroupedSpill

        self.spill = GroupedSpill([("d", "<i8"), ("t", "<f8"), ("x", "<f8"), ("y", "<f8")])

    def add(self, dev: int, tm: float, x: float, y: float) -> None:
        self.spill.add(dev, tm, x, y)

    def rows(self, dev: int) -> tuple[Any, Any, Any] | None:
        self.spill.flush()
        rec = self.spill.group(dev)
        if not len(rec):
            return None
        rec = rec[np.argsort(rec["t"], kind="stable")]
        return rec["t"], rec["x"], rec["y"]


def _tracks_for(path: Path) -> _Tracks:
    """Where a trace's positions are kept: in memory, or on disk for a file above ``WHOLE_TRACE_BYTES``."""
    from . import trace_stream

    try:
        big = path.stat().st_size > trace_stream.WHOLE_TRACE_BYTES
    except OSError:  # the reader names the problem
        big = False
    return _SpilledTracks() if big else _Tracks()


def _interp_tracks(tracks: _Tracks, n_dev: int, t: np.ndarray, path: Path, last_line: int) -> Positions:
    xy = np.empty((len(t), n_dev, 2))
    for i in range(n_dev):
        rows = tracks.rows(i)
        if rows is None:
            raise _err(path, last_line, "device", f"no positions for device {i} (the scenario has {n_dev} devices; "
                                                  f"a trace needs rows for devices 0..{n_dev - 1})")
        tt, xs, ys = rows
        xy[:, i, 0] = np.interp(t, tt, xs)
        xy[:, i, 1] = np.interp(t, tt, ys)
    return Positions(t, xy)


def _err(path: Path, line: int, field: str, msg: str) -> UserError:
    """A one-line error naming ``FILE:LINE: field`` of a mobility or association trace."""
    from ..errors import shown_path

    return UserError(f"{shown_path(path)}:{line}: {field}: {msg}")


def _got(text: str) -> str:
    from ..yamlio import shorten

    return shorten(text)


def _open_trace(path: Path, what: str) -> Any:
    """Open a mobility/association trace for reading text (a missing file, a directory or a file beyond
    the ``trace_bytes`` limit is one line naming the file)."""
    from ..limits import current, how_to_raise

    try:
        if path.is_dir():
            raise _err(path, 1, "file", "is a directory, not a file")
        size = path.stat().st_size
        lim = current().trace_bytes
        if size > lim:
            raise _err(path, 1, "file", f"{size:,} bytes, above the limit of {lim:,} for a {what} "
                                        f"({how_to_raise('trace_bytes')})")
        return path.open(newline="", encoding="utf-8-sig", errors="strict")
    except FileNotFoundError:
        raise _err(path, 1, "file", f"{what} not found") from None
    except OSError as exc:
        raise _err(path, 1, "file", f"cannot read the {what} ({exc.strerror or exc})") from None


def _csv_rows(path: Path, what: str, header: list[str]) -> Any:
    """``(line, row)`` of a CSV trace after checking its header; bad UTF-8 and NUL bytes name their line."""
    f = _open_trace(path, what)
    line = 1
    with f:
        reader = csv.reader(f)
        try:
            first = next(reader, None)
            if first is None or [h.strip() for h in first] != header:
                raise _err(path, 1, "header", f"expected {','.join(header)} (got {_got(','.join(first or []))})")
            for row in reader:
                line = reader.line_num
                if row:
                    yield line, row
        except UnicodeDecodeError as exc:
            raise _err(path, line + 1, "file", f"not valid UTF-8 ({exc.reason})") from None
        except csv.Error as exc:
            raise _err(path, reader.line_num or line, "row", f"not valid CSV ({exc})") from None


def _positions_cap() -> int:
    """Positions a trace may hold in memory for the scenario's devices: the ``mobility_samples`` limit."""
    from ..limits import current

    return current().mobility_samples


def _too_many(path: Path, line: int, cap: int) -> UserError:
    from ..limits import how_to_raise

    return _err(path, line, "row", f"more than {cap:,} positions of the scenario's devices in the trace "
                                   f"(the mobility_samples limit; {how_to_raise('mobility_samples')})")


def _number(text: str, kind: type) -> float:
    """A finite number (``kind`` float) or a whole number (``kind`` int) from a CSV field."""
    t = text.strip()
    v = kind(t)
    if kind is float and not math.isfinite(v):
        raise ValueError(f"not a finite number: {t!r}")
    return v


def read_csv_positions(path: Path, n_dev: int, horizon_s: float, step_s: float) -> Positions:
    """Positions from a CSV with header ``time,device,x,y`` (errors name ``FILE:LINE: field``)."""
    tracks = _tracks_for(path)
    line, kept, cap = 1, 0, _positions_cap()
    for line, row in _csv_rows(path, "mobility trace", ["time", "device", "x", "y"]):
        if len(row) != 4:
            raise _err(path, line, "row", f"expected 4 fields time,device,x,y, got {len(row)} (got {_got(','.join(row))})")
        for k, (name, kind) in enumerate((("time", float), ("device", int), ("x", float), ("y", float))):
            try:
                v = _number(row[k], kind)
            except ValueError:
                want = "a whole number" if kind is int else "a finite number"
                raise _err(path, line, name, f"expected {want} (got {_got(row[k])})") from None
            if name in ("time", "device") and v < 0:
                raise _err(path, line, name, f"must be >= 0 (got {_got(row[k])})")
        tm, dev, x, y = float(row[0]), int(row[1]), float(row[2]), float(row[3])
        if dev < n_dev:
            tracks.add(dev, tm, x, y)
            kept += 1
            if kept > cap:
                raise _too_many(path, line, cap)
    return _interp_tracks(tracks, n_dev, grid(horizon_s, step_s), path, line)


def read_sumo_fcd(path: Path, n_dev: int, horizon_s: float, step_s: float) -> Positions:
    """Positions from SUMO's FCD XML export; vehicles (and persons) become devices in order of first appearance.

    Parsed with the standard library's expat, streamed in 1 MiB chunks; a document type declaration
    (and so any entity definition: the "billion laughs") is refused, as FCD files never have one.
    """
    from xml.parsers import expat

    ids: dict[str, int] = {}
    tracks = _tracks_for(path)
    now: list[float | None] = [None]
    kept, cap = [0], _positions_cap()
    parser = expat.ParserCreate()

    def fail(field: str, msg: str) -> UserError:
        return _err(path, parser.CurrentLineNumber, field, msg)

    def number(attrs: dict, key: str, tag: str) -> float:
        raw = attrs.get(key)
        try:
            v = float(raw)
        except (TypeError, ValueError):
            v = math.nan
        if not math.isfinite(v):
            raise fail(f"{tag}.{key}", f"expected a finite number (got {_got(str(raw))})")
        return v

    def start(tag: str, attrs: dict) -> None:
        if tag == "timestep":
            now[0] = number(attrs, "time", tag)
        elif tag in ("vehicle", "person"):
            if now[0] is None:
                raise fail(tag, f"<{tag}> outside a <timestep time=...>")
            vid = attrs.get("id", "")
            if vid not in ids:
                ids[vid] = len(ids)
            i = ids[vid]
            x, y = number(attrs, "x", tag), number(attrs, "y", tag)
            if i < n_dev:
                tracks.add(i, now[0], x, y)
                kept[0] += 1
                if kept[0] > cap:
                    raise _too_many(path, parser.CurrentLineNumber, cap)

    def no_dtd(*_: Any) -> None:
        raise fail("DOCTYPE", "a document type declaration is not allowed in an FCD file (entities could expand "
                              "without bound)")

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = no_dtd
    parser.EntityDeclHandler = no_dtd
    f = _open_trace(path, "mobility trace")
    f.close()
    try:
        with path.open("rb") as fb:
            while chunk := fb.read(2**20):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise _err(path, exc.lineno or 1, "XML", f"not valid FCD XML ({expat.ErrorString(exc.code)})") from None
    except OSError as exc:
        raise _err(path, 1, "file", f"cannot read the mobility trace ({exc.strerror or exc})") from None
    return _interp_tracks(tracks, n_dev, grid(horizon_s, step_s), path, max(parser.CurrentLineNumber, 1))


def nearest_sites(pos: Positions, sites_xy: np.ndarray, chunk_values: int = 2**22) -> np.ndarray:
    """(T, D) index of the nearest site (ties: lowest index) at every grid time.

    Computed over blocks of grid times so the (times, devices, sites) distances never take more than
    about ``chunk_values`` numbers at once.
    """
    T, D = pos.xy.shape[:2]
    S = len(sites_xy)
    out = np.empty((T, D), dtype=np.intp)
    rows = max(1, chunk_values // max(1, D * S * 2))
    for a in range(0, T, rows):
        d = np.linalg.norm(pos.xy[a:a + rows, :, None, :] - sites_xy[None, None, :, :], axis=-1)
        out[a:a + rows] = np.argmin(d, axis=2)
    return out


def association_changes(times: np.ndarray, assoc: np.ndarray) -> tuple[list[int], list[tuple[float, int, int]]]:
    """Initial site per device and the sorted (time, device, new site) changes of a (T, D) association."""
    initial = assoc[0].tolist()
    out = []
    if len(times) > 1:
        ch = np.argwhere(assoc[1:] != assoc[:-1])
        for k, i in ch.tolist():
            out.append((float(times[k + 1]), int(i), int(assoc[k + 1, i])))
    out.sort(key=lambda r: (r[0], r[1]))
    return initial, out


def read_association(path: Path, n_dev: int, n_sites: int, names: list[str]) -> tuple[list[int], list[tuple[float, int, int]]]:
    """An association trace: CSV ``time,device,site`` (site by name or index); a device's first row must be at time 0.

    Errors name ``FILE:LINE: field`` (``time``, ``device``, ``site``, ``row``, ``header``).
    """
    initial: list[int | None] = [None] * n_dev
    changes: list[tuple[float, int, int]] = []
    line = 1
    for line, row in _csv_rows(path, "association trace", ["time", "device", "site"]):
        if len(row) != 3:
            raise _err(path, line, "row", f"expected 3 fields time,device,site, got {len(row)} (got {_got(','.join(row))})")
        try:
            tm = _number(row[0], float)
            if tm < 0:
                raise ValueError
        except ValueError:
            raise _err(path, line, "time", f"expected a finite number >= 0 (got {_got(row[0])})") from None
        try:
            dev = _number(row[1], int)
            if dev < 0:
                raise ValueError
        except ValueError:
            raise _err(path, line, "device", f"expected a whole number >= 0 (got {_got(row[1])})") from None
        s = row[2].strip()
        try:
            site = names.index(s) if s in names else int(s)
            if not 0 <= site < n_sites:
                raise ValueError
        except ValueError:
            raise _err(path, line, "site", f"expected a site name ({', '.join(names)}) or an index 0..{n_sites - 1} "
                                           f"(got {_got(s)})") from None
        if dev >= n_dev:
            continue
        if tm == 0 and initial[dev] is None:
            initial[dev] = site
        else:
            changes.append((tm, dev, site))
    missing = [i for i, s in enumerate(initial) if s is None]
    if missing:
        raise _err(path, line, "device", f"devices {missing[:5]}{' ...' if len(missing) > 5 else ''} have no row at "
                                         f"time 0 (every device of the scenario needs its site at time 0)")
    changes.sort(key=lambda r: (r[0], r[1]))
    return [int(s) for s in initial], changes  # type: ignore[arg-type]


def radio_rates(spec: RadioSpec, dist_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uplink, downlink) Shannon rates in bytes/s at distances ``dist_m`` (module docstring)."""
    d_km = np.maximum(dist_m, spec.min_distance) / 1000.0
    pl_db = spec.path_loss[0] + spec.path_loss[1] * np.log10(d_km)
    noise_dbm = spec.noise_dbm_per_hz + 10.0 * math.log10(spec.bandwidth) + spec.noise_figure_db
    out = []
    for p in (spec.up_power_dbm, spec.down_power_dbm):
        snr = 10.0 ** ((p - pl_db - noise_dbm) / 10.0)
        out.append(spec.bandwidth * np.log2(1.0 + snr) / 8.0)
    return out[0], out[1]


def radio_models(spec: RadioSpec, pos: Positions, assoc: np.ndarray, sites_xy: np.ndarray,
                 horizon_s: float) -> list[tuple[PiecewiseBandwidth, PiecewiseBandwidth]]:
    """Per device (uplink, downlink) bandwidth over time: the rate to its associated site at each grid time."""
    D = pos.xy.shape[1]
    edges = np.append(pos.times, max(horizon_s, pos.times[-1] + 1e-9))
    out = []
    for i in range(D):
        d = np.linalg.norm(pos.xy[:, i, :] - sites_xy[assoc[:, i]], axis=-1)
        up, down = radio_rates(spec, d)
        out.append((_compact(edges, up), _compact(edges, down)))
    return out


def _compact(edges: np.ndarray, rates: np.ndarray) -> PiecewiseBandwidth:
    """A piecewise model with runs of equal rates merged (held after the horizon)."""
    keep = np.concatenate([[True], rates[1:] != rates[:-1]])
    return PiecewiseBandwidth(np.append(edges[:-1][keep], edges[-1]), rates[keep], after="hold")


def switched_model(cells: list[Any], initial: int, changes: list[tuple[float, int]], horizon_s: float) -> PiecewiseBandwidth:
    """A device's wireless capacity when it follows per-cell models: cell ``s``'s rate while associated with ``s``.

    Args:
        cells: a bandwidth model per site.
        initial: the site at time 0.
        changes: sorted (time, new site) association changes of this device.
        horizon_s: the model holds its last rate after this.
    """
    bounds = [0.0] + [t for t, _ in changes if 0 < t < horizon_s] + [horizon_s]
    sites = [initial] + [s for t, s in changes if 0 < t < horizon_s]
    times, rates = [], []
    for (t0, t1), s in zip(zip(bounds[:-1], bounds[1:]), sites):
        if t1 <= t0:
            continue
        ts, rs = cells[s].steps(t0, t1)
        times.extend(np.asarray(ts, dtype=float).tolist())
        rates.extend(np.asarray(rs, dtype=float).tolist())
    return _compact(np.asarray(times + [horizon_s]), np.asarray(rates))
