"""Long latency and mobility traces: one streaming pass, the same first error, bit-identical results.

Files above ``trace_stream.WHOLE_TRACE_BYTES`` are streamed; here that threshold is set to 0
(and the chunk, block and flush sizes small) so small files, the shipped 5G traces and the
bad-input corpus go through the streamed path and are compared with the whole-file path.
"""

from __future__ import annotations

import io
import math
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import yaml

from simoffload.errors import UserError
from simoffload.net import mobility as mob
from simoffload.net import trace_stream, traces
from simoffload.net.latency import StreamedTraceLatency, TraceLatency, build_latency

from test_traces import TRACES, needs_traces

BAD = Path(__file__).resolve().parent / "bad_inputs" / "bad"


@pytest.fixture
def small(monkeypatch):
    """Small chunks, blocks and flushes: many cuts, blocks and appends inside small files."""
    monkeypatch.setattr(trace_stream, "CHUNK_BYTES", 257)
    monkeypatch.setattr(trace_stream, "BLOCK_STEPS", 7)
    monkeypatch.setattr(trace_stream, "_FLUSH", 11)
    yield
    traces.clear_cache()


def _streamed(monkeypatch, on: bool) -> None:
    traces.clear_cache()
    monkeypatch.setattr(trace_stream, "WHOLE_TRACE_BYTES", 0 if on else 1 << 40)


def _latency(monkeypatch, on: bool, **trace):
    _streamed(monkeypatch, on)
    return build_latency({"trace": trace}, stream="latency/x")


def _probe_times(m: TraceLatency) -> np.ndarray:
    """A dense grid over three periods, every step boundary (and just before), and far beyond."""
    b = np.asarray(m.times, dtype=float)
    p = m.period
    return np.concatenate([np.linspace(0.0, 3 * p, 4001), b, np.nextafter(b, -np.inf), b + p, [1e7, 123456.789]])


# ----------------------------------------------------------------------------- latency traces

FIVE_G = ["5g-uccmisl/Download/Driving/B_2020.02.27_17.30.15.csv",
          "5g-uccmisl/Download/Static/B_2020.02.14_13.21.26.csv",
          "5g-uccmisl/Download/Driving/B_2019.12.16_14.23.32.csv"]
LAT_OPTIONS = [dict(), dict(scale=0.5), dict(start_s=17.25), dict(unit="us", scale=0.25, start_s=1e4),
               dict(column="PINGMAX", unit="s"), dict(column="PINGMIN", start_s=-3.0)]


@needs_traces
@pytest.mark.parametrize("rel", FIVE_G, ids=[r.split("/")[-1] for r in FIVE_G])
def test_streamed_5g_latency_equals_the_whole_files(rel, monkeypatch, small):
    for opts in LAT_OPTIONS:
        spec = dict(file=str(TRACES / rel), format="5g", column="PINGAVG")
        spec.update(opts)
        whole = _latency(monkeypatch, False, **spec)
        streamed = _latency(monkeypatch, True, **spec)
        assert type(whole) is TraceLatency and isinstance(streamed, StreamedTraceLatency)
        assert streamed.period == whole.period and streamed.n_steps == len(whole.values)
        ts = _probe_times(whole)
        assert [streamed.value(t) for t in ts] == [whole.value(t) for t in ts], opts
        assert [streamed.estimate(t) for t in ts[:50]] == [whole.estimate(t) for t in ts[:50]]
        draw = streamed.sampler(7)
        assert [draw(t) for t in ts[:50]] == [whole.value(t) for t in ts[:50]]
        assert streamed.steps.loads >= 2  # several blocks were read


def _random_csv(path: Path, rng: np.random.Generator, n: int = 900) -> None:
    """A ping column in ms with a time column in ms: repeated times, missing values, uneven steps."""
    t = np.cumsum(rng.choice([0, 250, 1000, 3500], size=n))
    lines = ["when_ms,rtt"]
    for k in range(n):
        v = "-" if rng.random() < 0.1 else f"{rng.uniform(5, 400):.3f}"
        lines.append(f"{t[k]},{v}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("opts", [dict(time_column="when_ms", time_unit="ms"),
                                  dict(time_column="when_ms", time_unit="ms", scale=0.5, start_s=33.3),
                                  dict(step_s=0.5), dict(step_s=2.0, unit="us", start_s=5.0)])
def test_streamed_csv_latency_equals_the_whole_files(tmp_path, monkeypatch, small, opts):
    f = tmp_path / "ping.csv"
    _random_csv(f, np.random.default_rng(4))
    spec = dict(file=str(f), column="rtt", **opts)
    whole = _latency(monkeypatch, False, **spec)
    streamed = _latency(monkeypatch, True, **spec)
    assert streamed.period == whole.period and streamed.n_steps == len(whole.values) > 100
    ts = _probe_times(whole)
    assert [streamed.value(t) for t in ts] == [whole.value(t) for t in ts]


def test_streamed_latency_hand_computed(tmp_path, monkeypatch, small):
    # 1000 ms on [0, 0.5), 100 ms on [0.5, 100), then again from 100 s (the loop); one way = half the RTT
    f = tmp_path / "lat.csv"
    f.write_text("t,ms\n0,1000\n0.5,100\n" + "".join(f"{1 + k},100\n" for k in range(100)))
    m = _latency(monkeypatch, True, file=str(f), column="ms", time_column="t", scale=0.5)
    assert isinstance(m, StreamedTraceLatency) and m.period == 100.0
    assert [m.value(t) for t in (0.0, 0.2, 0.5, 0.7, 99.9, 100.2, 100.5, 200.49)] == \
           [0.5, 0.5, 0.05, 0.05, 0.05, 0.5, 0.05, 0.5]
    m = _latency(monkeypatch, True, file=str(f), column="ms", time_column="t", start_s=99.75)
    assert [m.value(t) for t in (0.0, 0.25, 0.74, 0.75, 1.0)] == [0.1, 1.0, 1.0, 0.1, 0.1]


@pytest.mark.parametrize("text,kw", [
    ("t,ms\n0,10\n1,20\n0.5,30\n" + "2,1\n" * 300, dict(time_column="t")),       # decreasing time
    ("t,ms\n0,10\n1,-20\n" + "2,1\n" * 300, dict(time_column="t")),               # negative value
    ("t,ms\n0,10\n1,x\n" + "2,1\n" * 300, dict(time_column="t")),                 # not a number
    ("t,ms\n0,10\n1,20\n" + "2,1\n" * 300 + "3,1\x00\n", dict(time_column="t")),  # a NUL far down
    ("t,ms\n0,10\n1,20\n" + "2,1\n" * 300 + "4\n", dict(time_column="t")),        # a short row at the end
    ("t,rtt\n" + "".join(f"{k},1\n" for k in range(300)), dict(time_column="t")),  # no column ms
    ("t,ms\n" + "".join(f"{k},-\n" for k in range(300)), dict(time_column="t")),   # no values at all
    ("t,ms\n" + "5,1\n" * 300, dict(time_column="t")),                            # no increasing time
])
def test_bad_latency_trace_fails_with_the_same_line_streamed(tmp_path, monkeypatch, small, text, kw):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    errs = []
    for on in (False, True):
        with pytest.raises(UserError) as exc:
            _latency(monkeypatch, on, file=str(f), column="ms", **kw)
        errs.append(str(exc.value))
    assert errs[0] == errs[1] and "\n" not in errs[0] and "bad.csv:" in errs[0]


def test_a_negative_latency_is_named_as_a_latency_in_both_readers(tmp_path, monkeypatch, small):
    # a latency trace is read by the bandwidth trace reader: its error must still say latency, not bandwidth
    f = tmp_path / "lat.csv"
    f.write_text("t,ms\n0,10\n1,-3\n" + "2,1\n" * 300)
    for on in (False, True):
        with pytest.raises(UserError) as exc:
            _latency(monkeypatch, on, file=str(f), column="ms", time_column="t")
        assert str(exc.value) == f"{f}:3: latency: negative latency (got -3)"
    # a bandwidth trace keeps its own words
    b = tmp_path / "bw.csv"
    b.write_text("t,r\n0,10\n1,-3\n2,1\n")
    with pytest.raises(UserError, match=r"bw.csv:3: bandwidth: negative bandwidth \(got -3 B/s\)"):
        traces._raw(b, "csv", "r", "t", "s", "B/s", 1.0)


def _tables(sc_data: dict, base: Path) -> dict:
    from simoffload.config import parse_scenario
    from simoffload.sim.results import tables_from
    from simoffload.sim.scenario import run_scenario

    res = tables_from(run_scenario(parse_scenario(yaml.safe_load(yaml.safe_dump(sc_data)), base_dir=base)))
    return {k: getattr(res, k) for k in ("tasks", "subtasks", "links")}


def _same_tables(a: dict, b: dict) -> None:
    for k in a:
        assert a[k].equals(b[k]), k


def test_a_run_with_a_streamed_latency_trace_gives_the_whole_files_tables(tmp_path, monkeypatch, small):
    _random_csv(tmp_path / "ping.csv", np.random.default_rng(9))
    lat = {"trace": {"file": "ping.csv", "column": "rtt", "time_column": "when_ms", "time_unit": "ms",
                     "scale": 0.5, "start_s": 40}}
    data = {"name": "lat", "seed": 3, "horizon": "20 min", "task": {"subtasks": 3, "distribution": "paper-5.2"},
            "devices": {"count": 2, "arrivals": {"poisson": {"rate": "0.05 /s"}}},
            "network": {"wireless": {"up": "1 MB/s", "latency": lat}, "wan": {"up": "2 MB/s", "latency": lat}},
            "policies": ["edge", "cloud", "optimal"]}
    out = []
    for on in (False, True):
        _streamed(monkeypatch, on)
        out.append(_tables(data, tmp_path))
    _same_tables(*out)
    done = out[0]["tasks"]["latency_s"].dropna()
    assert (done > 0).all() and len(done) > 60


# ----------------------------------------------------------------------------- mobility traces


def _mobility_rows(rng: np.random.Generator, n_dev: int, n: int) -> list[tuple[float, int, float, float]]:
    """Rows of ``n_dev + 1`` devices (the last not in the scenario), times out of order with ties."""
    rows = []
    for _ in range(n):
        t = float(rng.choice([0.0, -0.0, 2.5, 7.0, 7.0, 30.0]) + rng.integers(0, 40) * 1.5)
        rows.append((abs(t) if t else t, int(rng.integers(0, n_dev + 1)),
                     float(rng.uniform(0, 2000)), float(rng.uniform(0, 1000))))
    for d in range(n_dev):  # every scenario device has a row
        rows.append((float(d), d, 10.0 * d, 5.0))
    return rows


def _write_mobility(tmp_path: Path, rows) -> tuple[Path, Path]:
    csv_f = tmp_path / "m.csv"
    csv_f.write_text("time,device,x,y\n" + "".join(f"{t!r},{d},{x!r},{y!r}\n" for t, d, x, y in rows))
    # FCD: one timestep per row, vehicles named so that first appearance order is the device index
    xml_f = tmp_path / "m.xml"
    n_dev = max(d for _, d, _, _ in rows) + 1
    head = "".join(f'<timestep time="0"><vehicle id="v{d}" x="0" y="0"/></timestep>\n' for d in range(n_dev))
    body = "".join(f'<timestep time="{t!r}"><vehicle id="v{d}" x="{x!r}" y="{y!r}"/></timestep>\n'
                   for t, d, x, y in rows)
    xml_f.write_text(f"<fcd-export>\n{head}{body}</fcd-export>\n")
    return csv_f, xml_f


@pytest.mark.parametrize("n_dev,step", [(1, 1.0), (4, 0.5), (6, 2.0)])
def test_streamed_mobility_positions_equal_the_whole_files(tmp_path, monkeypatch, small, n_dev, step):
    rows = _mobility_rows(np.random.default_rng(n_dev), n_dev, 400)
    csv_f, xml_f = _write_mobility(tmp_path, rows)
    for read, f in ((mob.read_csv_positions, csv_f), (mob.read_sumo_fcd, xml_f)):
        got = []
        for on in (False, True):
            _streamed(monkeypatch, on)
            got.append(read(f, n_dev, 90.0, step))
        np.testing.assert_array_equal(got[0].times, got[1].times)
        assert got[0].xy.tobytes() == got[1].xy.tobytes(), read.__name__


def test_streamed_mobility_hand_computed(tmp_path, monkeypatch, small):
    # device 0 walks from x=0 to x=1000 in 100 s (rows out of order, many of them); device 1 stands at 1000
    rows = [(100.0 - k, 0, 1000.0 - 10.0 * k, 0.0) for k in range(0, 101, 4)] + [(0.0, 1, 1000.0, 0.0)]
    f = tmp_path / "m.csv"
    f.write_text("time,device,x,y\n" + "".join(f"{t},{d},{x},{y}\n" for t, d, x, y in rows))
    _streamed(monkeypatch, True)
    pos = mob.read_csv_positions(f, 2, 120.0, 1.0)
    assert pos.xy[37, 0].tolist() == [370.0, 0.0] and pos.xy[110, 0].tolist() == [1000.0, 0.0]
    assert pos.xy[:, 1, 0].tolist() == [1000.0] * 120


def _validate(path: Path) -> tuple[int, str]:
    from simoffload.cli import main

    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        rc = main(["validate", str(path)])
    return rc, err.getvalue()


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.glob("mobility_*.yaml")) +
                         sorted(p.name for p in BAD.glob("association_*.yaml")))
def test_bad_mobility_files_fail_with_the_same_line_streamed(name, monkeypatch, small):
    monkeypatch.chdir(BAD)
    got = []
    for on in (False, True):
        _streamed(monkeypatch, on)
        got.append(_validate(BAD / name))
    assert got[0] == got[1]
    assert got[0][0] == 2 and len(got[0][1].strip().splitlines()) == 1


def test_a_run_with_a_streamed_mobility_trace_gives_the_whole_files_tables(tmp_path, monkeypatch, small):
    rows = _mobility_rows(np.random.default_rng(11), 3, 300)
    csv_f, xml_f = _write_mobility(tmp_path, rows)
    for f, fmt in ((csv_f, "csv"), (xml_f, "sumo-fcd")):
        data = {"name": "walk", "seed": 2, "horizon": "90 s",
                "task": {"subtasks": 2, "distribution": "paper-5.2"},
                "devices": {"count": 3, "arrivals": {"poisson": {"rate": "0.3 /s"}}},
                "edge": [{"name": "a", "position": [0, 0]}, {"name": "b", "position": [1500, 500]}],
                "topology": {"man": [{"between": ["a", "b"], "bandwidth": "10 MB/s"}],
                             "association": {"nearest": True}, "wireless": {"distance": {}},
                             "mobility": {"trace": {"file": str(f), "format": fmt, "step": 0.5}}},
                "policies": ["edge", "local"]}
        out = []
        for on in (False, True):
            _streamed(monkeypatch, on)
            out.append(_tables(data, tmp_path))
        _same_tables(*out)
        assert len(out[0]["tasks"]) > 20 and math.isfinite(out[0]["tasks"]["latency_s"].max())


def test_streamed_latency_and_mobility_memory_is_bounded(tmp_path, monkeypatch):
    """Twice the file, not twice the memory: the traced peak of reading and querying a streamed trace."""
    import tracemalloc

    monkeypatch.setattr(trace_stream, "WHOLE_TRACE_BYTES", 0)
    peaks: dict[str, list[int]] = {"latency": [], "mobility": []}
    for n in (30_000, 60_000):
        lat, mf = tmp_path / f"lat{n}.csv", tmp_path / f"mob{n}.csv"
        lat.write_text("t,ms\n" + "".join(f"{k * 0.5},{1 + k % 7}\n" for k in range(n)))
        # two devices over the same 100 s: more rows per second, the same positions grid
        mf.write_text("time,device,x,y\n" + "".join(f"{k * 200 / n},{k % 2},{k % 1000},{k % 3}\n" for k in range(n)))
        traces.clear_cache()
        tracemalloc.start()
        m = build_latency({"trace": {"file": str(lat), "column": "ms", "time_column": "t"}}, stream="l")
        vals = [m.value(t) for t in np.linspace(0, 3 * m.period, 2000)]
        peaks["latency"].append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert vals[0] == 0.001 and m.n_steps == n - 1
        tracemalloc.start()
        pos = mob.read_csv_positions(mf, 2, 100.0, 1.0)
        peaks["mobility"].append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert pos.xy.shape == (100, 2, 2)
    traces.clear_cache()
    for kind, (a, b) in peaks.items():
        assert b < 1.25 * a and b < 8e6, (kind, peaks)
