"""Long trace files, streamed: the same errors at load, bit-identical models, bounded memory.

Streaming applies to files above ``WHOLE_TRACE_BYTES``; here that threshold is set to 0
(and the chunk and block sizes small) so the shipped traces and hand-written files go
through the streamed path and are compared with the whole-file path on the same file.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml

from simoffload.errors import UserError
from simoffload.net import trace_stream, traces
from simoffload.net.blocked import BlockedBandwidth
from simoffload.net.traces import load_trace
from simoffload.rng import rng_for

from test_blocked_bandwidth import assert_same_model
from test_traces import TRACES, needs_traces

BAD = Path(__file__).resolve().parent / "bad_inputs" / "bad"


def _load(streamed: bool, path, fmt, monkeypatch, **kw):
    traces.clear_cache()
    monkeypatch.setattr(trace_stream, "WHOLE_TRACE_BYTES", 0 if streamed else 1 << 40)
    return load_trace(path, fmt, **kw)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(trace_stream, "CHUNK_BYTES", 4099)   # many chunk cuts inside the files
    monkeypatch.setattr(trace_stream, "BLOCK_STEPS", 1500)   # many blocks
    monkeypatch.setattr(trace_stream, "_FLUSH", 1000)        # many appends to the temporary file
    yield
    traces.clear_cache()


OPTIONS = [dict(), dict(start_s=12.3456), dict(start_s=5.5, loop=False), dict(scale=0.5, offset_Bps=-1e5),
           dict(clip_Bps=(2e5, 3e6), start_s=7.0), dict(start_s=3.0, loop=False, after_end="zero"),
           dict(clip_Bps=(0.0, 1e12), start_s=1.0)]
FILES = [("mahimahi/Verizon-LTE-short.up", "mahimahi", {}),     # starts at 7 ms: an initial outage
         ("mahimahi/ATT-LTE-driving-2016.up", "mahimahi", {}),  # starts at stamp 0
         ("pensieve-hsdpa/bus.ljansbakken-oslo-report.2010-09-28_1407CEST.log", "pensieve", {}),
         ("pensieve-fcc/trace_30637_http---www.amazon.com", "pensieve", {}),
         ("5g-uccmisl/Download/Driving/B_2020.02.27_17.30.15.csv", "5g", {}),
         ("5g-uccmisl/Download/Static/B_2020.02.14_13.21.26.csv", "5g", {"column": "UL_bitrate"})]


@needs_traces
@pytest.mark.parametrize("rel,fmt,kw", FILES, ids=[f[0].split("/")[-1][:24] for f in FILES])
def test_streamed_shipped_trace_is_the_whole_files_model(rel, fmt, kw, monkeypatch, small_chunks):
    for opts in OPTIONS:
        whole = _load(False, TRACES / rel, fmt, monkeypatch, **kw, **opts)
        streamed = _load(True, TRACES / rel, fmt, monkeypatch, **kw, **opts)
        assert isinstance(streamed, BlockedBandwidth) and not isinstance(whole, BlockedBandwidth)
        assert_same_model(whole, streamed, n=80)
    # a random start draws the same offset from the same stream
    whole = _load(False, TRACES / rel, fmt, monkeypatch, start_s="random", rng=rng_for(3, "l"), **kw)
    streamed = _load(True, TRACES / rel, fmt, monkeypatch, start_s="random", rng=rng_for(3, "l"), **kw)
    assert_same_model(whole, streamed, n=80)


@needs_traces
def test_streamed_mahimahi_transfers_to_the_packet(monkeypatch, small_chunks):
    """Transfers over a streamed Mahimahi trace end at the opportunity carrying their last packet.

    The schedule is mahimahi's own (each stamp one 1500-byte opportunity, replayed
    with period = last stamp), integrated here independently of the loader.
    """
    path = TRACES / "mahimahi/Verizon-LTE-short.up"
    stamps = np.array([int(s) for s in path.read_text().split()])
    period_ms = int(stamps[-1])
    m = _load(True, path, "mahimahi", monkeypatch)
    assert m.cumulative(period_ms / 1000) == len(stamps) * 1500  # exact bytes
    sched = np.concatenate([k * period_ms + stamps for k in range(6)])
    for t0_ms, n in ((12345, 10), (100, 5000), (77777, int(2.5 * len(stamps)))):
        after = sched[sched > t0_ms]
        t1 = m.time_at(m.cumulative(t0_ms / 1000) + n * 1500)
        # the last packet goes in the 1 ms bin that ends at its stamp
        assert after[n - 1] - 1 - 1e-8 <= t1 * 1000 <= after[n - 1] + 1e-8


def test_streamed_step_traces_integrate_exactly(tmp_path, monkeypatch, small_chunks):
    """A pensieve and a CSV file with repeated stamps and missing rows: capacities by hand-summed steps."""
    r = np.random.default_rng(0)
    t = np.cumsum(r.choice([0.0, 0.5, 1.25], size=3000))
    mbps = np.round(r.uniform(0, 20, size=3000), 3)
    p = tmp_path / "long.pensieve"
    p.write_text("".join(f"{a:.2f}\t{b}\n" for a, b in zip(t, mbps)))
    m = _load(True, p, "pensieve", monkeypatch)
    # the step function by hand: each sample holds until the next later time; the last gets no weight
    def cap(x):
        total = 0.0
        for i in range(len(t) - 1):
            a, b = t[i] - t[0], min(t[i + 1] - t[0], x)
            if b > a:
                total += mbps[i] * 1e6 / 8 * (b - a)
        return total
    for x in (0.0, 1.0, 333.3, float(t[-1] - t[0]) - 0.01):
        assert m.cumulative(x) == pytest.approx(cap(x), rel=1e-12, abs=1e-6)
    assert m.period == t[-1] - t[0]
    # CSV rows 2 s apart with missing cells: a missing row extends the previous value
    c = tmp_path / "rows.csv"
    rows = ["x,rate"] + [f"{i},{'-' if i % 7 == 3 else i % 5}" for i in range(2000)]
    c.write_text("\n".join(rows) + "\n")
    whole = _load(False, c, "csv", monkeypatch, column="rate", rate_unit="B/s", step_s=2.0)
    streamed = _load(True, c, "csv", monkeypatch, column="rate", rate_unit="B/s", step_s=2.0)
    assert_same_model(whole, streamed)
    vals = [i % 5 if i % 7 != 3 else (i - 1) % 5 for i in range(2000)]
    assert streamed.cumulative(4000.0) == pytest.approx(2.0 * sum(vals))


def _trace_specs():
    for f in sorted(BAD.glob("tracefile_*.yaml")):
        up = yaml.safe_load(f.read_text())["network"]["wireless"]["up"]["trace"]
        yield f.name, up


@pytest.mark.parametrize("name,spec", list(_trace_specs()), ids=[n for n, _ in _trace_specs()])
def test_bad_trace_files_fail_with_the_same_line_streamed(name, spec, monkeypatch, small_chunks):
    kw = {k: spec[k] for k in ("column", "time_column", "rate_unit") if k in spec}
    errs = []
    for streamed in (False, True):
        with pytest.raises(UserError) as exc:
            _load(streamed, BAD / spec["file"], spec["format"], monkeypatch, **kw)
        errs.append(str(exc.value))
    assert errs[0] == errs[1]
    assert "\n" not in errs[1] and f"{spec['file'].split('/')[-1]}:" in errs[1]


@pytest.mark.parametrize("fmt,text,kw", [
    # a parse error after a semantic one: the whole-file code parses first, so the parse error wins
    ("pensieve", "0 1\n2 1\n1 1\n" + "3 1\n" * 5000 + "4 x\n", {}),
    ("mahimahi", "1\n5\n3\n" + "6\n" * 5000 + "oops\n", {}),
    # a NUL byte far after a parse error: the NUL wins (it is checked before parsing)
    ("pensieve", "0 1\n1 y\n" + "2 1\n" * 5000 + "\x00\n", {}),
    ("csv", "t,r\n0,1\n1,-3\n" + "2,1\n" * 5000, dict(column="r", time_column="t", rate_unit="Mbit/s")),
    ("csv", "t,r\n" + "".join(f"{i},-\n" for i in range(3000)), dict(column="r", time_column="t", rate_unit="Mbit/s")),
    ("mahimahi", "0\n0\n" + "0\n" * 3000, {}),
    ("pensieve", "\ufeff5 1\n" + "5 2\n" * 3000, {}),
])
def test_error_precedence_is_the_whole_files(tmp_path, monkeypatch, small_chunks, fmt, text, kw):
    f = tmp_path / f"t.{fmt}"
    f.write_text(text)
    errs = []
    for streamed in (False, True):
        with pytest.raises(UserError) as exc:
            _load(streamed, f, fmt, monkeypatch, **kw)
        errs.append(str(exc.value))
    assert errs[0] == errs[1]


def test_streaming_pass_memory_is_bounded(tmp_path, monkeypatch):
    """Loading a 0.5 MB or a 1 MB file streamed holds a chunk and a few blocks: the same traced peak, under 8 MB."""
    monkeypatch.setattr(trace_stream, "WHOLE_TRACE_BYTES", 0)
    peaks = []
    for n_parts in (2, 4):
        p = tmp_path / f"big{n_parts}.pensieve"
        with open(p, "w") as fh:
            for k in range(n_parts):
                fh.write("".join(f"{(k * 25000 + i) * 0.5:.1f}\t{1 + (i % 13)}\n" for i in range(25000)))
        traces.clear_cache()
        tracemalloc.start()
        m = load_trace(p, "pensieve")
        m.cumulative(1000.0)
        m.time_at(m.total * 0.7)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # equal rates across the parts' seams merge; the last sample has no weight
        assert isinstance(m, BlockedBandwidth) and m.n_steps == n_parts * 24999
        peaks.append(peak)
    traces.clear_cache()
    assert max(peaks) < 8e6, peaks
    assert peaks[1] < 1.25 * peaks[0], peaks  # twice the file, not twice the memory


@needs_traces
def test_a_run_over_streamed_traces_gives_the_whole_files_tables(monkeypatch):
    """Every policy, a random start per device, an estimator looking back, link rows: identical tables."""
    import pandas as pd

    from simoffload.config import parse_scenario
    from simoffload.sim.results import tables_from
    from simoffload.sim.scenario import run_scenario

    data = {"name": "s", "seed": 2, "horizon": "10 min", "task": {"subtasks": 4, "distribution": "paper-5.2"},
            "devices": {"count": 3, "arrivals": {"poisson": {"rate": "0.05 /s"}}},
            "network": {"wireless": {"up": {"trace": {"file": str(TRACES / "mahimahi/Verizon-LTE-short.up"),
                                                      "format": "mahimahi", "start": "random"}},
                                     "down": {"trace": {"file": str(TRACES / "mahimahi/Verizon-LTE-short.down"),
                                                        "format": "mahimahi", "scale": 0.5}}},
                        "wan": {"up": {"trace": {"file": str(TRACES / FILES[2][0]), "format": "pensieve",
                                                 "start": 100}}}},
            "decision": {"estimator": {"kind": "harmonic", "sample_s": 1, "window": 5}},
            "policies": ["local", "edge", "cloud", "random", "greedy"]}

    def run(streamed):
        traces.clear_cache()
        monkeypatch.setattr(trace_stream, "WHOLE_TRACE_BYTES", 0 if streamed else 1 << 40)
        return tables_from(run_scenario(parse_scenario(yaml.safe_load(yaml.safe_dump(data)))))

    monkeypatch.setattr(trace_stream, "BLOCK_STEPS", 700)
    whole, streamed = run(False), run(True)
    traces.clear_cache()
    assert len(whole.tasks) > 50
    for name in ("tasks", "subtasks", "links"):
        pd.testing.assert_frame_equal(getattr(whole, name), getattr(streamed, name))


def test_memory_estimate_counts_trace_files(tmp_path, monkeypatch):
    """Whole: 26 B per byte of file, once; streamed: 8 MiB once plus per link 4 blocks and its checkpoints."""
    from simoffload import limits
    from simoffload.config import parse_scenario

    monkeypatch.setenv("SIMOFFLOAD_LIMIT_MEMORY_BYTES", str(10**15))
    small = tmp_path / "s.pensieve"
    small.write_text("0 1\n1 2\n" * 5000)  # 40,000 bytes
    big = tmp_path / "b.pensieve"
    big.write_bytes(b"0 1\n" + b"\n" * (5 * 2**20))  # 5 MiB + 4 bytes: streamed

    def est(wireless):
        sc = parse_scenario({"name": "m", "devices": {"count": 3}, "policies": ["local"],
                             "network": {"wireless": wireless}})
        return limits.memory_estimate(sc, streamed=True)[0]

    base = est({"up": "5 MB/s"})
    tr = lambda f: {"trace": {"file": str(f), "format": "pensieve"}}  # noqa: E731
    assert est({"up": tr(small)}) - base == 26 * 40_000  # one file, whatever the number of links
    assert est({"up": tr(small), "down": tr(small)}) - base == 26 * 40_000
    blocks = -(-(5 * 2**20 + 4) // 2 // 4096)  # ceil(size / 2 / 4096) = 641
    assert est({"up": tr(big)}) - base == 8 * 2**20 + 3 * (4 * 4096 * 120 + blocks * 400)
