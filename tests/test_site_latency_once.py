"""Each hop's propagation latency is paid once: a scenario file with several sites (site WAN latencies, MAN
latencies, the wireless latency), one task on an idle system, latencies worked out by hand for an
other-site placement over the MAN and a cloud placement from a non-home site, and a brute force over every
placement; the policy's cost model (what ``optimal`` minimises) is checked against the same numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simoffload.config import parse_scenario
from simoffload.model.cost import evaluate_places
from simoffload.policy import Policy
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import build_world, run_world

# sites a (home), b, c on a line a - b - c; per site: cpu Hz, WAN up B/s, WAN down B/s, one-way WAN latency s
SITE = {"a": (1e9, 1e6, 2e6, 0.020), "b": (4e9, 2e6, 4e6, 0.030), "c": (2e9, 0.5e6, 1e6, 0.010)}
MAN = {("a", "b"): (10e6, 0.002), ("b", "c"): (5e6, 0.004)}  # same bandwidth both ways, one-way latency
W_UP, W_DOWN, W_LAT, P1, CLOUD_HZ = 2e6, 4e6, 0.005, 0.5e9, 4e9
CYCLES, DATA = [1e9, 2e9], [1e6, 0.5e6, 0.2e6]

SCENARIO = {
    "seed": 1, "horizon": "1 h",
    "task": {"subtasks": 2, "distribution": {"cycles": CYCLES, "bytes": DATA}},
    "devices": {"count": 1, "cpu": P1, "arrivals": {"times": [0]}},
    "edge": [{"name": n, "cores": 1, "cpu": hz, "wan": {"up": up, "down": down, "latency": lat}}
             for n, (hz, up, down, lat) in SITE.items()],
    "cloud": {"cpu": CLOUD_HZ},
    "network": {"wireless": {"up": W_UP, "down": W_DOWN}},
    "topology": {"man": [{"between": list(k), "bandwidth": bw, "latency": lat} for k, (bw, lat) in MAN.items()],
                 "placement": "man", "association": {"fixed": ["a"]}, "wireless_latency": W_LAT},
    "policies": ["local"],
}


class Fixed(Policy):
    """Always the same relative codes; keeps the observation to check the cost model it gives policies."""

    def __init__(self, codes=None):
        self.codes = codes
        self.seen = []

    def decide(self, obs):
        self.seen.append(obs)
        return np.asarray(self.codes)


def run(codes):
    sc = parse_scenario(SCENARIO)
    pol = Fixed(codes)
    t = tables_from(run_world(build_world(sc), [("fixed", pol)])).tasks
    (row,) = t.itertuples()
    assert row.status == "done"
    obs = pol.seen[0]
    model = float(evaluate_places(obs.place_coefficients(), obs.graph, obs.data[None, :],
                                  np.asarray([codes]))[0, 0])
    return float(row.latency_s), model


def seconds(a, b, d):
    """By hand: d bytes from place a to b; places 'dev', 'cloud', 'a', 'b', 'c'."""
    if a == b or d == 0:
        return 0.0
    if a == "dev":
        return d / W_UP + W_LAT + seconds("a", b, d)       # the device is in cell a
    if b == "dev":
        return seconds(a, "a", d) + d / W_DOWN + W_LAT
    if a == "cloud":
        return d / SITE[b][2] + SITE[b][3]                  # down the WAN of the site it goes to
    if b == "cloud":
        return d / SITE[a][1] + SITE[a][3]                  # up the WAN of the site it leaves
    line = "abc"
    i, j = line.index(a), line.index(b)
    step = 1 if j > i else -1
    t = 0.0
    for x in range(i, j, step):
        bw, lat = MAN[tuple(sorted((line[x], line[x + step])))]
        t += d / bw + lat
    return t


def brute(places):
    """Closed form of one task on an idle system, by hand: execution plus every data edge's route."""
    speed = {"dev": P1, "cloud": CLOUD_HZ, **{n: SITE[n][0] for n in SITE}}
    path = ["dev", *places, "dev"]
    return sum(c / speed[p] for c, p in zip(CYCLES, places)) + sum(
        seconds(path[k], path[k + 1], DATA[k]) for k in range(len(DATA)))


CODE = {0: "dev", 1: "a", 2: "cloud", 3: "b", 4: "c"}  # relative codes seen from a: other sites b, c ascending


def test_other_site_over_the_man_pays_each_hop_once():
    # up: 1 MB over the wireless (0.5 s + 5 ms), a->b (0.1 s + 2 ms), b->c (0.2 s + 4 ms) = 0.811 s;
    # run both subtasks at c (2 GHz): 1.5 s; 0.2 MB back c->b (0.04 + 0.004), b->a (0.02 + 0.002),
    # down the wireless (0.05 + 0.005) = 0.121 s
    want = 0.811 + 1.5 + 0.121
    assert brute(["c", "c"]) == pytest.approx(want, rel=1e-12)
    got, model = run([4, 4])
    assert got == pytest.approx(want, rel=1e-12) and model == pytest.approx(want, rel=1e-12)


def test_cloud_from_a_non_home_site_uses_that_sites_wan_once():
    # up to b: 0.5 + 0.005 + 0.1 + 0.002 = 0.607; run at b (4 GHz): 0.25; 0.5 MB up b's WAN: 0.25 + 0.030;
    # cloud (4 GHz): 0.5; 0.2 MB down the WAN of the device's site a: 0.1 + 0.020, then the wireless: 0.05 + 0.005
    want = 0.607 + 0.25 + 0.28 + 0.5 + 0.175
    assert brute(["b", "cloud"]) == pytest.approx(want, rel=1e-12)
    got, model = run([3, 2])
    assert got == pytest.approx(want, rel=1e-12) and model == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("codes", list(itertools.product(range(5), repeat=2)))
def test_every_placement_equals_the_brute_force(codes):
    got, model = run(list(codes))
    want = brute([CODE[c] for c in codes])
    assert got == pytest.approx(want, rel=1e-12) and model == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("site, field", [({"wan": {"up": "1 MB/s", "latency": "20 ms", "latency_down": "30 ms"}},
                                          "wan.latency_down"),
                                         ({"wireless": {"up": "1 MB/s", "latency": "3 ms"}}, "wireless.latency")])
def test_latencies_the_site_engine_would_ignore_are_refused(tmp_path, capsys, site, field):
    import yaml

    from simoffload.cli import main

    d = yaml.safe_load(yaml.safe_dump(SCENARIO))
    d["edge"][1] = dict(d["edge"][1], **site)
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(d))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {f}:") and field in err
