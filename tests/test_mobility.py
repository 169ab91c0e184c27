"""Mobility, association, handover in whole scenarios, and the radio model, against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from simoffload.config import parse_scenario
from simoffload.net import mobility as mob
from simoffload.net.bandwidth import ConstantBandwidth, PiecewiseBandwidth
from simoffload.rng import rng_for
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import build_world, run_scenario


def test_random_waypoint_stays_in_the_area_moves_no_faster_than_max_and_is_seeded():
    spec = mob.RandomWaypointSpec(area=(300.0, 200.0), speed=(2.0, 5.0), pause=3.0, step=0.5)
    pos = mob.random_waypoint(spec, 4, 600.0, [rng_for(1, f"mobility/device{i}") for i in range(4)])
    assert pos.xy.shape == (1200, 4, 2)
    assert pos.xy[..., 0].min() >= 0 and pos.xy[..., 0].max() <= 300 and pos.xy[..., 1].max() <= 200
    step_m = np.linalg.norm(np.diff(pos.xy, axis=0), axis=-1)
    assert step_m.max() <= 5.0 * 0.5 + 1e-9  # never faster than the top speed
    assert (step_m < 1e-12).mean() > 0  # pauses happen
    again = mob.random_waypoint(spec, 4, 600.0, [rng_for(1, f"mobility/device{i}") for i in range(4)])
    np.testing.assert_array_equal(pos.xy, again.xy)
    assert not np.allclose(pos.xy[:, 0], pos.xy[:, 1])


def write_csv_trace(path: Path) -> None:
    # device 0 walks from x=0 to x=1000 along y=0 in 100 s; device 1 stands at (1000, 0)
    path.write_text("time,device,x,y\n0,0,0,0\n100,0,1000,0\n0,1,1000,0\n")


def write_fcd(path: Path) -> None:
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<fcd-export>\n'
        '  <timestep time="0.00"><vehicle id="car" x="0.00" y="0.00" speed="10"/>'
        '<vehicle id="bus" x="1000.00" y="0.00" speed="0"/></timestep>\n'
        '  <timestep time="100.00"><vehicle id="car" x="1000.00" y="0.00" speed="10"/>'
        '<vehicle id="bus" x="1000.00" y="0.00" speed="0"/></timestep>\n</fcd-export>\n')


def test_csv_and_sumo_fcd_traces_give_the_same_positions(tmp_path):
    write_csv_trace(tmp_path / "m.csv")
    write_fcd(tmp_path / "m.xml")
    a = mob.read_csv_positions(tmp_path / "m.csv", 2, 120.0, 1.0)
    b = mob.read_sumo_fcd(tmp_path / "m.xml", 2, 120.0, 1.0)
    np.testing.assert_array_equal(a.xy, b.xy)
    assert a.xy[37, 0].tolist() == [370.0, 0.0] and a.xy[110, 0].tolist() == [1000.0, 0.0]  # held after the end
    # nearest of sites at x=0 and x=1000: device 0 hands over when it passes x=500 -> first grid time with x > 500
    assoc = mob.nearest_sites(a, np.array([[0.0, 0.0], [1000.0, 0.0]]))
    initial, changes = mob.association_changes(a.times, assoc)
    assert initial == [0, 1] and changes == [(51.0, 0, 1)]  # at t=50 x=500 is a tie: the lower index keeps it


def test_radio_rate_hand_computed():
    # 500 m: PL = 128.1 + 37.6 log10(0.5) = 116.782 dB; noise = -174 + 66.990 + 9 = -98.010 dBm
    # uplink SNR = 23 - 116.782 + 98.010 = 4.228 dB = 2.6470 -> 5e6 * log2(3.6470) / 8 = 1.1671e6 B/s
    up, down = mob.radio_rates(mob.RadioSpec(), np.array([500.0, 10.0]))
    assert up[0] == pytest.approx(1.1671e6, rel=2e-4)
    # downlink 40 dBm: SNR = 21.228 dB = 132.73 -> 5e6 * log2(133.73) / 8 = 5e6 * 7.0632 / 8 = 4.4145e6 B/s
    assert down[0] == pytest.approx(4.4145e6, rel=2e-4)
    # below 35 m the distance is clipped: 10 m gives the rate at 35 m
    assert up[1] == pytest.approx(mob.radio_rates(mob.RadioSpec(), np.array([35.0]))[0][0], rel=1e-15)


def test_switched_model_follows_the_cells():
    cells = [ConstantBandwidth(1e6), PiecewiseBandwidth([0, 10, 20], [3e6, 5e6], after="loop")]
    m = mob.switched_model(cells, 0, [(5.0, 1), (15.0, 0)], 40.0)
    assert [m.rate(t) for t in (0, 4.9, 5, 9.9, 10, 14.9, 15, 39)] == [1e6, 1e6, 3e6, 3e6, 5e6, 5e6, 1e6, 1e6]
    assert m.cumulative(20.0) == pytest.approx(5 * 1e6 + 5 * 3e6 + 5 * 5e6 + 5 * 1e6)


def city_like(tmp_path, rule, **over):
    write_csv_trace(tmp_path / "m.csv")
    d = {
        "name": "walk", "seed": 2, "horizon": "100 s",
        "task": {"subtasks": 1, "distribution": {"cycles": "1 Gcycles", "bytes": "4 MB"}},
        "devices": {"count": 2, "cpu": "100 MHz", "arrivals": {"times": [45.0]}},
        "edge": [{"name": "a", "cpu": "1 GHz", "position": [0, 0], "wireless": {"up": "1 MB/s"}},
                 {"name": "b", "cpu": "1 GHz", "position": [1000, 0], "wireless": {"up": "2 MB/s"}}],
        "topology": {"man": [{"between": ["a", "b"], "bandwidth": "10 MB/s", "latency": "2 ms"}],
                     "association": {"nearest": True}, "handover": rule,
                     "mobility": {"trace": {"file": str(tmp_path / "m.csv")}}},
        "policies": ["edge"],
    }
    d.update(over)
    return parse_scenario(yaml.safe_load(yaml.safe_dump(d)))


@pytest.mark.parametrize("rule", ["continue", "restart", "fail"])
def test_walking_device_hands_over_during_its_upload_hand_computed(tmp_path, rule):
    """Device 0 walks x = 10 t m from site a (x=0) toward b (x=1000); it hands over at t = 51 s.

    Its task arrives at t = 45 (nearest site a) and uploads 8 MB at cell a's 1 MB/s: 6 MB are sent when
    it reaches cell b (2 MB/s). The placement is the own site a, so under ``continue``/``restart`` the
    input lands at b and crosses the MAN to a, and the result crosses it back to reach the device at b.
    """
    sc = city_like(tmp_path, rule, task={"subtasks": 1, "distribution": {"cycles": "1 Gcycles", "bytes": "8 MB"}})
    res = tables_from(run_scenario(sc))
    t = res.tasks.set_index("device")
    row = t.loc[0]
    assert row["site"] == 0
    if rule == "fail":
        assert (row["status"], row["reason"]) == ("failed", "handover")
        return
    if rule == "continue":
        up_end = 51.0 + (8e6 - 6e6) / 2e6  # 6 MB by t=51, the last 2 MB at b's 2 MB/s -> 52.0, bytes at b
    else:
        up_end = 51.0 + 8e6 / 2e6  # restart at b: 8 MB at 2 MB/s -> 55.0
    at_a = up_end + 8e6 / 10e6 + 0.002  # MAN b -> a (the decision was taken at a: own site a)
    done_run = at_a + 1.0  # 1 Gcycles at 1 GHz
    back = done_run + 8e6 / 10e6 + 0.002 + 8e6 / 2e6  # the result follows the device to b, then b's downlink
    assert row["status"] == "done"
    assert row["finish_s"] == pytest.approx(back, rel=1e-12)
    # device 1 stands at b the whole time: upload 4 s, run 1 s, download 4 s at b
    assert t.loc[1, "site"] == 1 and t.loc[1, "latency_s"] == pytest.approx(8e6 / 2e6 * 2 + 1.0, rel=1e-12)
    assert res.sites.set_index("site").loc["a", "subtasks"] == 1


def test_world_replays_the_same_mobility_for_every_policy_and_seed(tmp_path):
    sc = city_like(tmp_path, "continue")
    w1, w2 = build_world(sc), build_world(sc)
    assert w1.system.topology.handovers == w2.system.topology.handovers == [(51.0, 0, 1)]


def test_city_scenario_effective_yaml_round_trips(tmp_path):
    """The effective scenario saved with the results (and used by sweeps) loads back to the same world."""
    from simoffload.config import load_scenario, scenario_to_yaml

    root = Path(__file__).resolve().parents[1]
    sc = load_scenario(root / "scenarios" / "city.yaml")
    sc.horizon = 30.0
    p = tmp_path / "eff.yaml"
    p.write_text(scenario_to_yaml(sc))
    again = load_scenario(p)
    a, b = build_world(sc), build_world(again)
    assert a.system.topology.handovers == b.system.topology.handovers
    assert [d.up.rates.tolist() for d in a.system.devices] == [d.up.rates.tolist() for d in b.system.devices]


def test_nearest_sites_in_blocks_equals_a_brute_force():
    """Nearest site by a plain loop over (time, device) and squared distances; ties go to the lower index."""
    rng = np.random.default_rng(5)
    t = np.arange(7.0)
    xy = rng.integers(0, 4, size=(7, 5, 2)).astype(float)  # integer grid: many exact ties
    sites = np.array([[0.0, 0.0], [2.0, 2.0], [3.0, 0.0], [0.0, 3.0]])
    want = np.empty((7, 5), dtype=int)
    for k in range(7):
        for i in range(5):
            d2 = [(xy[k, i, 0] - sx) ** 2 + (xy[k, i, 1] - sy) ** 2 for sx, sy in sites]
            want[k, i] = d2.index(min(d2))
    for chunk in (1, 8, 40, 2**22):  # one time row at a time ... everything at once
        assert mob.nearest_sites(mob.Positions(t, xy), sites, chunk_values=chunk).tolist() == want.tolist()


@pytest.mark.parametrize("fmt", ["csv", "sumo-fcd"])
def test_a_trace_holds_at_most_mobility_samples_positions(tmp_path, monkeypatch, fmt):
    """Rows of the scenario's devices are counted while reading: the 4th of 3 allowed is refused on its own line."""
    from simoffload.errors import UserError

    monkeypatch.setenv("SIMOFFLOAD_LIMIT_MOBILITY_SAMPLES", "3")
    if fmt == "csv":
        f = tmp_path / "m.csv"  # line 1 header; device 9 is not in the scenario and does not count
        f.write_text("time,device,x,y\n0,0,0,0\n0,9,0,0\n1,0,1,0\n2,0,2,0\n3,0,3,0\n")
        read, line = mob.read_csv_positions, 6
    else:
        f = tmp_path / "m.xml"
        f.write_text('<fcd-export>\n' + "".join(f'<timestep time="{t}"><vehicle id="v" x="{t}" y="0"/></timestep>\n'
                                                for t in range(4)) + '</fcd-export>\n')
        read, line = mob.read_sumo_fcd, 5
    with pytest.raises(UserError, match=rf"^m\.\w+:{line}: row: more than 3 positions .*SIMOFFLOAD_LIMIT_MOBILITY_SAMPLES=N"):
        monkeypatch.chdir(tmp_path)
        read(f, 1, 10.0, 1.0)
    monkeypatch.setenv("SIMOFFLOAD_LIMIT_MOBILITY_SAMPLES", "4")
    assert read(f, 1, 10.0, 1.0).xy.shape == (10, 1, 2)
