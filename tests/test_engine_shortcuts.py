"""The engine's event-loop shortcuts change no outcome, even when events tie.

Three shortcuts save events without changing their order (see engine.py):
a task's process without SimPy's completion event (``_TaskProcess``), the run
loop with ``step()`` written out (``_run_until``), and a finished transfer or
queued CPU job resuming its waiter at once when nothing else is scheduled for
that instant (``_trigger_last``). The reference is plain SimPy: ``env.process``,
``env.run`` and ``Event.succeed``. The scenarios are built for exact ties:
constant links, equal task sizes, devices arriving in the same instants, so many
events share a timestamp and their order decides queue positions and rows.
"""

from __future__ import annotations

import numpy as np
import pytest

from simoffload.config import parse_scenario
from simoffload.policy import Policy
from simoffload.sim import engine
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import build_world, make_policies, run_world


def _tied(sharing: str, drop: bool, latency: bool) -> dict:
    net = {"wireless": {"up": "1 MB/s"}, "wan": {"up": "2 MB/s"}, "sharing": sharing, "shared_cell": True}
    if latency:
        net["wireless"]["latency"] = "250 ms"  # a round number: arrivals + latencies meet other events exactly
        net["wan"]["latency"] = "500 ms"
    sc = {
        "name": "tied", "seed": 3, "horizon": "120 s",
        "task": {"subtasks": 3, "distribution": {"cycles": {"uniform": ["1000 Mcycles", "1000 Mcycles"]},
                                                 "bytes": {"uniform": ["1 MB", "1 MB"]}}},
        "devices": {"count": 4, "cpu": "1 GHz", "arrivals": {"periodic": {"interval": "2 s"}}, "max_tasks": 12},
        "edge": {"cores": 2, "cpu": "2 GHz"},
        "cloud": {"cpu": "4 GHz"},
        "network": net,
        "policies": ["local", "edge", "cloud", "random", "greedy", "optimal"],
        "output": {"record": {"links": True, "subtasks": True, "queues": True}},
    }
    if drop:
        sc["execution"] = {"on_deadline": "drop"}
        sc["devices"]["deadline"] = "4 s"
    return sc


class _Crowd(Policy):
    """Places by what the observation says of the others now: devices in the system, edge queue and cores busy.

    Its answers change if a task decides before or after another task of the same instant has
    arrived, or sees a queue one job longer or shorter: it exposes any change of order.
    """

    name = "crowd"

    def decide(self, obs):
        code = (obs.active_devices + obs.edge_queue + 2 * obs.edge_busy) % 3
        return np.full(obs.graph.n, code, dtype=np.int64)


def _tables(sc: dict):
    s = parse_scenario(sc)
    return tables_from(run_world(build_world(s, s.seed), make_policies(s, s.seed) + [("crowd", _Crowd())]))


@pytest.mark.parametrize("sharing, drop, latency", [("fair", False, False), ("fifo", True, False),
                                                     ("fair", True, True)])
def test_shortcuts_equal_plain_simpy_under_ties(monkeypatch, sharing, drop, latency):
    sc = _tied(sharing, drop, latency)
    fast = _tables(sc)
    with monkeypatch.context() as m:
        m.setattr(engine, "_trigger_last", lambda env, ev: ev.succeed())
        m.setattr(engine, "_TaskProcess", lambda env, gen: env.process(gen))
        m.setattr(engine, "_run_until", lambda env, until: env.run(until=until))
        plain = _tables(sc)
    # the scenario really ties: many steps of different tasks of one policy end at the same instant
    st = plain.subtasks
    assert st.duplicated(["policy", "end_s"]).sum() >= 20
    assert (st.groupby("policy").end_s.nunique() < st.groupby("policy").size()).sum() >= 4
    for name in ("tasks", "subtasks", "links", "summary"):
        a, b = getattr(fast, name), getattr(plain, name)
        assert a.shape == b.shape and len(a) > 0, name
        assert a.to_csv(index=False) == b.to_csv(index=False), name
