"""Trace loaders and the bandwidth spec layer, checked against SOURCES.md and hand-worked numbers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from simoffload.errors import UserError
from simoffload.net.bandwidth import ConstantBandwidth, PiecewiseBandwidth
from simoffload.net.channels import build_bandwidth, parse_bandwidth_spec
from simoffload.net.traces import load_trace
from simoffload.rng import rng_for


def _traces_dir() -> Path | None:
    for cand in (Path(__file__).resolve().parents[2] / "shared" / "traces", os.environ.get("SIMOFFLOAD_TRACES")):
        if cand and (Path(cand) / "SOURCES.md").exists():
            return Path(cand)
    return None


TRACES = _traces_dir()
needs_traces = pytest.mark.skipif(TRACES is None, reason="shared/traces not found (set SIMOFFLOAD_TRACES)")

MB = 1e6  # bytes
MBIT_S = 1e6 / 8  # bytes/s in one Mbit/s

# SOURCES.md per-file table: (time-averaged mean Mbit/s, duration or rows). For the
# two-column pensieve files the time-averaged figure is the "tw-mean" column (step
# function, last sample without weight); for mahimahi "mean" = tw-mean; for the 5G CSVs
# "mean" is the arithmetic mean over rows and the second number is the row count.
EXPECTED = {
    "5g-uccmisl/Download/Driving/B_2019.12.16_14.23.32.csv": ("5g", 57.091, 2887),
    "5g-uccmisl/Download/Driving/B_2020.01.16_12.10.03.csv": ("5g", 120.781, 384),
    "5g-uccmisl/Download/Driving/B_2020.02.27_17.30.15.csv": ("5g", 2.891, 866),
    "5g-uccmisl/Download/Static/B_2020.02.14_13.21.26.csv": ("5g", 121.021, 1013),
    "mahimahi/ATT-LTE-driving-2016.down": ("mahimahi", 4.560, 120.0),
    "mahimahi/ATT-LTE-driving-2016.up": ("mahimahi", 1.910, 120.0),
    "mahimahi/ATT-LTE-driving.down": ("mahimahi", 5.173, 786.1),
    "mahimahi/Verizon-EVDO-driving.down": ("mahimahi", 0.521, 1062.0),
    "mahimahi/Verizon-EVDO-driving.up": ("mahimahi", 0.843, 1064.7),
    "mahimahi/Verizon-LTE-short.down": ("mahimahi", 5.028, 140.0),
    "mahimahi/Verizon-LTE-short.up": ("mahimahi", 5.946, 140.0),
    "pensieve-fcc/trace_10730_http---www.facebook.com": ("pensieve", 0.490, 1675.0),
    "pensieve-fcc/trace_215252_http---www.msn.com": ("pensieve", 1.696, 1650.0),
    "pensieve-fcc/trace_30637_http---www.amazon.com": ("pensieve", 2.913, 1025.0),
    "pensieve-fcc/trace_5294_http---www.youtube.com": ("pensieve", 0.193, 1855.0),
    "pensieve-fcc/trace_7190_http---www.yahoo.com": ("pensieve", 1.030, 1760.0),
    "pensieve-fcc/trace_806172_http---www.amazon.com": ("pensieve", 1.410, 1855.0),
    "pensieve-fcc/trace_866_http---www.amazon.com": ("pensieve", 2.617, 1840.0),
    "pensieve-hsdpa/bus.ljansbakken-oslo-report.2010-09-28_1407CEST.log": ("pensieve", 2.787, 461.9),
    "pensieve-hsdpa/car.snaroya-smestad-report.2011-02-14_2032CET.log": ("pensieve", 1.785, 407.6),
    "pensieve-hsdpa/ferry.nesoddtangen-oslo-report.2010-09-20_1542CEST.log": ("pensieve", 1.705, 970.4),
    "pensieve-hsdpa/metro.kalbakken-jernbanetorget-report.2010-09-14_1415CEST.log": ("pensieve", 0.726, 354.6),
    "pensieve-hsdpa/train.oslo-vestby-report.2011-02-11_1618CET.log": ("pensieve", 1.187, 1654.5),
    "pensieve-hsdpa/tram.ljabru-jernbanetorget-report.2010-12-09_1334CET.log": ("pensieve", 0.846, 1195.2),
}
# uplink column of the 5G files (SOURCES.md notes table, UL_bitrate mean Mbit/s)
EXPECTED_5G_UL = {
    "5g-uccmisl/Download/Static/B_2020.02.14_13.21.26.csv": 0.174,
    "5g-uccmisl/Download/Driving/B_2020.01.16_12.10.03.csv": 0.157,
    "5g-uccmisl/Download/Driving/B_2019.12.16_14.23.32.csv": 0.154,
    "5g-uccmisl/Download/Driving/B_2020.02.27_17.30.15.csv": 0.055,
}


@needs_traces
def test_every_shared_trace_is_in_the_table():
    files = {str(p.relative_to(TRACES)) for p in TRACES.rglob("*") if p.is_file() and p.name != "SOURCES.md"}
    assert files == set(EXPECTED)


@needs_traces
@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_trace_loads_with_sources_mean(rel):
    fmt, mean_mbps, size = EXPECTED[rel]
    m = load_trace(TRACES / rel, fmt)
    assert isinstance(m, PiecewiseBandwidth)
    assert m.mean_rate() / MBIT_S == pytest.approx(mean_mbps, rel=0.01)
    # the same figure from the cumulative capacity over one period (what transfers experience)
    assert m.cumulative(m.period) / m.period / MBIT_S == pytest.approx(mean_mbps, rel=0.01)
    if fmt == "5g":
        assert m.period == size  # one second per row
    else:
        assert m.period == pytest.approx(size, abs=0.051)  # table rounds to 0.1 s
    assert np.all(m.rates >= 0)


@needs_traces
@pytest.mark.parametrize("rel", sorted(EXPECTED_5G_UL))
def test_5g_uplink_column(rel):
    m = load_trace(TRACES / rel, "5g", column="UL_bitrate")
    assert m.mean_rate() / MBIT_S == pytest.approx(EXPECTED_5G_UL[rel], rel=0.01, abs=0.0006)


@needs_traces
def test_mahimahi_full_period_and_multi_loop_transfer_to_the_packet():
    path = TRACES / "mahimahi/Verizon-LTE-short.up"  # starts at 7 ms: no stamp-0 subtlety
    stamps = np.array([int(s) for s in path.read_text().split()])
    n_pkts, period_ms = len(stamps), int(stamps[-1])
    assert stamps[0] > 0
    m = load_trace(path, "mahimahi")
    assert m.cumulative(period_ms / 1000) == n_pkts * 1500  # exact
    assert m.cumulative(3 * period_ms / 1000) == pytest.approx(3 * n_pkts * 1500, abs=1e-6)
    # a transfer of 2.5 periods' worth of packets starting at 12.345 s: it ends at the
    # opportunity that carries its last packet in mahimahi's looped schedule
    t0_ms = 12345
    n = int(2.5 * n_pkts)
    sched = np.concatenate([k * period_ms + stamps for k in range(5)])
    after = sched[sched > t0_ms]
    t_last_ms = after[n - 1]
    t1 = m.time_at(m.cumulative(t0_ms / 1000) + n * 1500)
    assert t_last_ms - 1 - 1e-6 < t1 * 1000 <= t_last_ms + 1e-6
    # and one packet fewer finishes no later than that; one more needs a later opportunity
    t1_minus = m.time_at(m.cumulative(t0_ms / 1000) + (n - 1) * 1500)
    t1_plus = m.time_at(m.cumulative(t0_ms / 1000) + (n + 1) * 1500)
    assert t1_minus <= t1 <= t1_plus
    assert t1_plus * 1000 > after[n] - 1 - 1e-6


def test_mahimahi_hand_written_with_zero_stamps(tmp_path):
    # opportunities: 2 at 0 ms, 3 at 5 ms, 1 at 10 ms; period 10 ms, 6 packets per loop
    f = tmp_path / "t.up"
    f.write_text("0\n0\n5\n5\n5\n10\n")
    m = load_trace(f, "mahimahi")
    assert m.period == 0.010
    assert m.cumulative(0.010) == 6 * 1500
    # mahimahi delivers in (5, 10] ms: stamp 10 of loop 0 and the two stamp-0 of loop 1 (at 10 ms)
    assert m.cumulative(0.010) - m.cumulative(0.005) == pytest.approx(3 * 1500)
    assert m.cumulative(0.005) == pytest.approx(3 * 1500)  # (0, 5]: three packets
    assert m.cumulative(0.015) - m.cumulative(0.010) == pytest.approx(3 * 1500)  # (10, 15]
    assert m.cumulative(0.014) - m.cumulative(0.010) == pytest.approx(0)  # gap 11..14 ms
    assert m.mean_rate() == pytest.approx(6 * 1500 / 0.010)
    # 7 packets from t = 5 ms: 3 by 10 ms, 3 by 15 ms, the 7th at 20 ms
    t = m.time_at(m.cumulative(0.005) + 7 * 1500)
    assert 0.019 < t <= 0.020 + 1e-12


def test_mahimahi_non_zero_first_stamp_means_initial_outage(tmp_path):
    f = tmp_path / "late.down"
    f.write_text("4\n4\n8\n")
    m = load_trace(f, "mahimahi")
    assert m.cumulative(0.003) == 0.0
    assert m.cumulative(0.004) == pytest.approx(2 * 1500)
    assert m.cumulative(0.008) == 3 * 1500
    assert m.cumulative(0.012) == pytest.approx(5 * 1500)  # loop: stamps 4,4 again at 12 ms


def _pensieve(tmp_path, text: str) -> Path:
    f = tmp_path / "p.txt"
    f.write_text(text)
    return f


def test_transfer_across_hand_written_trace_with_zero_stretch(tmp_path):
    # 8 Mbit/s = 1 MB/s on [0,2), 0 on [2,5), 16 Mbit/s = 2 MB/s on [5,6); last sample no weight; loops (period 6)
    f = _pensieve(tmp_path, "0.0\t8\n2.0\t0\n5.0 16\n6.0 4\n")
    m = load_trace(f, "pensieve")
    assert m.period == 6.0
    # 3.5 MB from t=1: 1 MB by 2, stall to 5, 2 MB by 6, loop: 0.5 MB at 1 MB/s -> 6.5
    assert m.time_at(m.cumulative(1.0) + 3.5 * MB) == pytest.approx(6.5)
    # 1 MB from 1.5: 0.5 MB by 2, stall, 0.5 MB at 2 MB/s -> 5.25
    assert m.time_at(m.cumulative(1.5) + 1.0 * MB) == pytest.approx(5.25)
    # starting inside the zero stretch
    assert m.time_at(m.cumulative(3.0) + 2.0 * MB) == pytest.approx(6.0)


def test_options_scale_offset_clip_start(tmp_path):
    f = _pensieve(tmp_path, "0 8\n2 0\n5 16\n6 4\n")  # 1, 0, 2 MB/s over 2, 3, 1 s
    m = load_trace(f, "pensieve", scale=2.0, offset_Bps=0.5 * MB, clip_Bps=(None, 3 * MB))
    assert [m.rate(t) for t in (0.5, 3.0, 5.5)] == pytest.approx([2.5 * MB, 0.5 * MB, 3.0 * MB])
    r = load_trace(f, "pensieve", start_s=1.0)  # rotated: 1 s of 1 MB/s, 3 s zero, 1 s of 2, 1 s of 1
    assert [r.rate(t) for t in (0.5, 1.5, 4.5, 5.5, 6.5)] == pytest.approx([MB, 0, 2 * MB, MB, MB])
    assert r.period == 6.0 and r.total == pytest.approx(4 * MB)
    r7 = load_trace(f, "pensieve", start_s=7.0)  # loops: same as 1.0
    assert r7 is r
    cut = load_trace(f, "pensieve", start_s=1.0, loop=False, after_end="zero")
    assert cut.period == 5.0 and cut.rate(5.5) == 0.0 and cut.cumulative(100) == pytest.approx(3 * MB)
    held = load_trace(f, "pensieve", loop=False)
    assert held.rate(100.0) == 2 * MB  # hold the last weighted value
    with pytest.raises(UserError, match="start_s"):
        load_trace(f, "pensieve", start_s=6.5, loop=False)
    lo = load_trace(f, "pensieve", offset_Bps=-1.5 * MB)  # negative offset floors at 0
    assert [lo.rate(t) for t in (0.5, 5.5)] == [0.0, 0.5 * MB]


def test_random_start_is_seeded_and_cached(tmp_path):
    f = _pensieve(tmp_path, "0 8\n2 0\n5 16\n6 4\n")
    a = load_trace(f, "pensieve", start_s="random", rng=rng_for(1, "link/a"))
    b = load_trace(f, "pensieve", start_s="random", rng=rng_for(1, "link/a"))
    c = load_trace(f, "pensieve", start_s="random", rng=rng_for(2, "link/a"))
    assert a is b  # same options -> one shared model
    assert not np.array_equal(a.times, c.times)
    assert a.total == pytest.approx(4 * MB) and a.period == 6.0  # a rotation keeps the content


def test_generic_csv_units_and_missing(tmp_path):
    f = tmp_path / "bw.csv"
    f.write_text("t_ms,rate,other\n0,8,x\n500,-,y\n1000,16,z\n3000,0,w\n")
    m = load_trace(f, "csv", column="rate", time_column="t_ms", time_unit="ms", rate_unit="Mbit/s")
    # '-' skipped: 1 MB/s holds on [0,1), then 2 MB/s on [1,3); last sample no weight
    assert m.period == 3.0
    assert m.cumulative(3.0) == pytest.approx(5 * MB)
    g = tmp_path / "rows.csv"
    g.write_text("rate\n100\n-\n300\n")
    n = load_trace(g, "csv", column="rate", rate_unit="B/s", step_s=2.0)
    assert n.period == 6.0 and n.cumulative(6.0) == pytest.approx(100 * 4 + 300 * 2)


@pytest.mark.parametrize("fmt,text,line,what", [
    ("mahimahi", "1\n2\nabc\n4\n", 3, "integer"),
    ("mahimahi", "1\n5\n3\n", 3, "decreases"),
    ("mahimahi", "", 1, "empty"),
    ("mahimahi", "1\n-2\n3\n", 2, "negative"),
    ("pensieve", "0 1\n1 x\n", 2, "not a number"),
    ("pensieve", "0 1\n2 1\n1 1\n3 1\n", 3, "decreases"),
    ("pensieve", "\n\n", 1, "empty"),
    ("pensieve", "0 1\n1 -0.5\n2 1\n", 2, "negative"),
    ("pensieve", "0 1 2\n", 1, "2 columns"),
    ("csv", "t,r\n0,1\n1,oops\n", 3, "not a number"),
    ("csv", "t,r\n0,1\n2,1\n1,1\n", 4, "decreases"),
    ("csv", "", 1, "empty"),
    ("csv", "t,r\n0,1\n1,-3\n2,1\n", 3, "negative"),
    ("csv", "t,x\n0,1\n", 1, "no column 'r'"),
    ("5g", "Timestamp,DL_bitrate\n2020.01.01_00.00.00,5\n2020.01.01_00.00.01,-7\n", 3, "negative"),
])
def test_malformed_files_give_file_line(tmp_path, fmt, text, line, what):
    f = tmp_path / f"bad.{fmt}"
    f.write_text(text)
    kw = dict(column="r", time_column="t", rate_unit="Mbit/s") if fmt == "csv" else {}
    with pytest.raises(UserError) as exc:
        load_trace(f, fmt, **kw)
    msg = str(exc.value)
    assert msg.startswith(f"{f}:{line}: ")
    assert what in msg
    assert "\n" not in msg


def test_missing_file_is_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_trace(tmp_path / "nope", "mahimahi")


# ---------------------------------------------------------------- spec layer


def test_bandwidth_spec_forms(tmp_path):
    kw = dict(seed=1, stream="link/x", horizon_s=100.0, base_dir=tmp_path)
    assert build_bandwidth(parse_bandwidth_spec("20 Mbit/s"), **kw).rate(0) == 2.5e6
    assert build_bandwidth(3e6, **kw).rate(5) == 3e6
    assert isinstance(build_bandwidth({"constant": "2 MB/s"}, **kw), ConstantBandwidth)
    pw = build_bandwidth({"piecewise": {"times_s": [0, 2, 5, 6], "rates": ["1 MB/s", 0, "2 MB/s"]}}, **kw)
    assert pw.time_at(pw.cumulative(1.0) + 3.5 * MB) == pytest.approx(6.5)
    held = build_bandwidth({"piecewise": {"times_s": [0, 2], "rates": [1, 5], "after": "hold"}}, **kw)
    assert held.rate(1) == 1 and held.rate(1000) == 5
    # relative trace paths resolve against base_dir; the trace equals the inline piecewise one
    (tmp_path / "tr").mkdir()
    _pensieve(tmp_path / "tr", "0 8\n2 0\n5 16\n6 4\n")
    tr = build_bandwidth({"trace": {"file": "tr/p.txt", "format": "pensieve"}}, **kw)
    for t in (0.0, 1.0, 2.5, 5.5, 7.0, 13.9):
        assert tr.cumulative(t) == pytest.approx(pw.cumulative(t))
    scaled = build_bandwidth({"trace": {"file": "tr/p.txt", "format": "pensieve", "scale": 2,
                                        "clip": [None, "24 Mbit/s"], "start_s": 1}}, **kw)
    assert scaled.rate(0.5) == 2 * MB and scaled.rate(4.5) == 3 * MB


def test_constant_trace_equals_constant_model(tmp_path):
    f = _pensieve(tmp_path, "0 16\n10 16\n")
    tr = build_bandwidth({"trace": {"file": str(f), "format": "pensieve"}}, seed=0, stream="s", horizon_s=1,
                         base_dir=".")
    c = build_bandwidth("2 MB/s", seed=0, stream="s", horizon_s=1, base_dir=".")
    for t0, d in [(0.0, 1e6), (3.3, 4.5e7), (9.99, 123.0)]:
        assert tr.time_at(tr.cumulative(t0) + d) == pytest.approx(c.time_at(c.cumulative(t0) + d), rel=1e-12)


@pytest.mark.parametrize("obj,field", [
    ("2 MB/q", "bandwidth: unknown unit"),
    ({"constant": -1}, "bandwidth.constant"),
    ({"trace": {"file": "x", "format": "mahimahi", "scal": 2}}, "bandwidth.trace.scal"),
    ({"trace": {"file": "x", "format": "mahimahi", "scale": "abc"}}, "bandwidth.trace.scale"),
    ({"trace": {"file": "x", "format": "mp4"}}, "bandwidth.trace.format"),
    ({"trace": {"file": "x", "format": "mahimahi", "start": "soon"}}, "bandwidth.trace.start"),
    ({"trace": {"file": "x", "format": "csv"}}, "bandwidth.trace.column"),
    ({"piecewise": {"times_s": [0, 1], "rates": [1, 2]}}, "bandwidth.piecewise.times_s"),
    ({"piecewise": {"times_s": [1, 2], "rates": [1]}}, "bandwidth.piecewise.times_s[0]"),
    ({"gauss_markov": {"mean": 1, "std": 1}}, "bandwidth.gauss_markov.correlation"),
    ({"gilbert_elliott": {"good": 1, "bad": 0, "mean_good_s": 1}}, "bandwidth.gilbert_elliott.mean_bad_s"),
    ({}, "bandwidth: expected exactly one"),
    ({"constant": 1, "piecewise": {"times_s": [0, 1], "rates": [1]}}, "bandwidth: expected exactly one"),
])
def test_spec_errors_name_the_field(obj, field):
    with pytest.raises(UserError) as exc:
        parse_bandwidth_spec(obj)
    assert str(exc.value).startswith(field)


def test_missing_trace_file_in_spec(tmp_path):
    with pytest.raises(UserError, match="not found"):
        build_bandwidth({"trace": {"file": "nope.txt", "format": "pensieve"}}, seed=0, stream="s", horizon_s=1,
                        base_dir=tmp_path)
