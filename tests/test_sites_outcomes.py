"""An observing policy is told the same per-subtask times by the several-site engine as the tables record.

Before this test the several-site engine never filled the timings of subtasks run at an edge site,
so online learners in several-site scenarios were told NaN for them. Checked two ways: a one-site
``edge:`` list against the one-edge engine (the same system: the outcomes must be equal), and two
sites over a MAN with placements on the other site (the general path) against the subtasks table.
"""

from __future__ import annotations

import numpy as np

from simoffload.config import parse_scenario
from simoffload.policy import Policy
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import build_world, run_world

BASE = {
    "name": "watch", "seed": 4, "horizon": "900 s",
    "task": {"subtasks": 6, "distribution": "paper-5.1"},
    "devices": {"count": 3, "cpu": "550 MHz", "arrivals": {"poisson": {"rate": "0.02 /s"}}, "max_tasks": 6},
    "edge": {"cores": 1, "cpu": "2.75 GHz"},
    "network": {"wireless": {"up": "1 MB/s"}, "wan": {"up": "1.5 MB/s"}},
    "policies": ["local"],
    "output": {"record": {"subtasks": True}},
}


class _Watch(Policy):
    """A fixed mixed placement (``codes`` repeated over the subtasks) that keeps every outcome it is told."""

    name = "watch"

    def __init__(self, codes: tuple[int, ...]):
        self.codes = codes
        self.outcomes = []

    def decide(self, obs):
        return np.array([self.codes[i % len(self.codes)] for i in range(obs.graph.n)], dtype=np.int64)

    def observe(self, outcome):
        self.outcomes.append(outcome)


def _as_sites(data: dict, n: int) -> dict:
    d = parse_scenario(data).model_dump(mode="json", exclude={"base_dir"})
    d["edge"] = [dict(d["edge"], name=f"s{i}") for i in range(n)]
    if n > 1:
        d["topology"] = {"man": [{"between": ["s0", "s1"], "bandwidth": "125 MB/s", "latency": "1 ms"}],
                         "placement": "man", "association": {"fixed": ["s0"]}}
    return d


def _run(data: dict, codes: tuple[int, ...]):
    sc = parse_scenario(data)
    pol = _Watch(codes)
    res = tables_from(run_world(build_world(sc, sc.seed), [("watch", pol)]))
    return {o.task_id: o for o in pol.outcomes}, res


def _times(o) -> np.ndarray:
    return np.stack([o.ready_s, o.exec_start_s, o.end_s])


def test_one_site_list_tells_the_same_times_as_the_one_edge_engine():
    codes = (0, 1, 2, 1)  # device, edge, cloud, edge, ...
    one, _ = _run(BASE, codes)
    lst, _ = _run(_as_sites(BASE, 1), codes)
    assert sorted(one) == sorted(lst) and len(one) == 18  # 3 devices x 6 tasks
    for tid, o in one.items():
        assert o.status == lst[tid].status == "done"
        assert np.isfinite(_times(lst[tid])).all(), f"task {tid}: {_times(lst[tid])}"
        assert np.array_equal(_times(o), _times(lst[tid]))


def test_other_site_subtasks_are_told_as_recorded():
    codes = (0, 3, 1, 2, 3, 0)  # device, the other site, own site, cloud, the other site, device
    outs, res = _run(_as_sites(BASE, 2), codes)
    st = res.subtasks
    assert len(outs) == 18
    for tid, o in outs.items():
        assert o.status == "done"
        rows = st[st.task_id == tid].sort_values("subtask")
        assert len(rows) == 6
        np.testing.assert_array_equal(_times(o), rows[["ready_s", "start_s", "end_s"]].to_numpy().T)
