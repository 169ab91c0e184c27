"""Deadlines and task statuses: missed, dropped (with in-flight work withdrawn), failed; hand-computed times."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from simoffload.cli import main
from simoffload.config import parse_scenario
from simoffload.model.task import TaskGraph
from simoffload.net.bandwidth import ConstantBandwidth
from simoffload.policy import Policy
from simoffload.sim.engine import STATUSES, DeviceSpec, Simulation, SystemSpec, TaskSpec
from simoffload.sim.results import summarize, tables_from
from simoffload.sim.scenario import run_scenario


class ByDevice(Policy):
    """Placement chosen by the requesting device (test helper)."""

    def __init__(self, places=None):
        self.places = places

    def decide(self, obs):
        return np.asarray(self.places[obs.device])


def task(tid, dev, t, cycles, data, deadline=math.inf):
    return TaskSpec(tid, dev, t, np.asarray(cycles, dtype=float), np.asarray(data, dtype=float), deadline)


def system(graph, tasks, n_dev=1, p1=1e9, p2=1e9, b1=1e6, b2=1e6, **kw):
    return SystemSpec(graph=graph, tasks=tasks,
                      devices=[DeviceSpec(p1, ConstantBandwidth(b1), ConstantBandwidth(b1)) for _ in range(n_dev)],
                      edge_hz=p2, wan_up=ConstantBandwidth(b2), wan_down=ConstantBandwidth(b2), horizon_s=1e6, **kw)


def rows(rec):
    return {r[1]: dict(zip(("policy", "task_id", "device", "arrival_s", "start_s", "finish_s", "latency_s",
                            "decision_s", "placement", "energy_j", "app", "deadline_s", "site", "reason", "status"), r))
            for r in rec.tasks}


def test_keep_rule_marks_late_tasks_missed_and_counts_them():
    # one device at 1 GHz, local: task 0 takes 2 s (deadline 1.5 s: late), task 1 arrives at 10 s, 1 s (deadline 3 s)
    g = TaskGraph.chain(1)
    spec = system(g, [task(0, 0, 0.0, [2e9], [0, 0], 1.5), task(1, 0, 10.0, [1e9], [0, 0], 3.0),
                      task(2, 0, 20.0, [1e9], [0, 0], 1.0)])  # exactly on its deadline: done (late means later)
    r = rows(Simulation(spec, ByDevice([[0]]), "p").run())
    assert [r[i]["status"] for i in range(3)] == ["missed", "done", "done"]
    assert r[0]["latency_s"] == pytest.approx(2.0) and r[0]["deadline_s"] == 1.5 and r[0]["site"] == 0
    s = summarize(pd.DataFrame([tuple(v.values()) for v in r.values()], columns=list(r[0])))
    assert s.loc[0, "completed"] == 3 and s.loc[0, "missed"] == 1 and s.loc[0, "miss_rate"] == pytest.approx(1 / 3)
    assert s.loc[0, "mean_latency_s"] == pytest.approx((2 + 1 + 1) / 3)  # late tasks finished: in the latency


def test_drop_stops_the_running_job_and_frees_the_core():
    # device 1 GHz: task 0 (2 s, deadline 10) runs 0-2; task 1 (2 s, deadline 3) queued, starts at 2, dropped at 3;
    # task 2 arrives at 3.5 (1 s): the core is free since 3, so it runs 3.5-4.5 (without the drop: 4-5).
    g = TaskGraph.chain(1)
    tasks = [task(0, 0, 0.0, [2e9], [0, 0], 10.0), task(1, 0, 0.0, [2e9], [0, 0], 3.0),
             task(2, 0, 3.5, [1e9], [0, 0], 10.0)]
    r = rows(Simulation(system(g, tasks, on_deadline="drop"), ByDevice([[0]]), "p").run())
    assert [r[i]["status"] for i in range(3)] == ["done", "dropped", "done"]
    assert r[1]["reason"] == "deadline" and math.isnan(r[1]["finish_s"]) and math.isnan(r[1]["latency_s"])
    assert r[2]["finish_s"] == pytest.approx(4.5, rel=1e-12)
    keep = rows(Simulation(system(g, tasks), ByDevice([[0]]), "p").run())
    assert keep[1]["status"] == "missed" and keep[2]["finish_s"] == pytest.approx(5.0, rel=1e-12)


def test_drop_withdraws_a_queued_edge_job():
    # one edge core at 1 GHz: A (2 s) runs 0-2, B (deadline 1 s) waits and is dropped at 1 without running,
    # C (2 s) then follows A: 2-4, latency 4 (it would be 6 behind B).
    g = TaskGraph.chain(1)
    tasks = [task(0, 0, 0.0, [2e9], [0, 0]), task(1, 0, 0.0, [2e9], [0, 0], 1.0), task(2, 0, 0.0, [2e9], [0, 0])]
    r = rows(Simulation(system(g, tasks, on_deadline="drop"), ByDevice([[1]]), "p").run())
    assert [r[i]["status"] for i in range(3)] == ["done", "dropped", "done"]
    assert r[2]["latency_s"] == pytest.approx(4.0, rel=1e-12)


@pytest.mark.parametrize("sharing,b_finish", [("fair", 2.5), ("fifo", 3.0)])
def test_drop_removes_the_flow_and_the_others_speed_up(sharing, b_finish):
    # a shared 1 MB/s cell, two 2 MB uploads to the edge at t=0 (0 cycles, 0 output); A's deadline is 1 s.
    # fair: 0.5 MB/s each until 1 s, B has 1.5 MB left alone: ends at 2.5 (4.0 without the drop)
    # fifo: A first; dropped at 1 s after 1 MB; B then sends its 2 MB: ends at 3.0 (4.0 without the drop)
    g = TaskGraph.chain(1)
    tasks = [task(0, 0, 0.0, [0], [2e6, 0], 1.0), task(1, 1, 0.0, [0], [2e6, 0])]
    spec = system(g, tasks, n_dev=2, shared_cell=True, sharing=sharing, on_deadline="drop")
    spec.devices[1] = spec.devices[0]
    sim = Simulation(spec, ByDevice([[1], [1]]), "p")
    r = rows(sim.run())
    assert r[0]["status"] == "dropped" and r[1]["status"] == "done"
    assert r[1]["latency_s"] == pytest.approx(b_finish, rel=1e-12)
    # the link table records only B's finished transfer
    assert [(x[7], x[4]) for x in sim.rec.links if x[2] == "transfer"] == [(1, pytest.approx(b_finish))]


def test_drop_cancels_every_branch_of_a_parallel_dag():
    # DAG 0 -> {1, 2} -> 3, no data. Device 0's task: 1 on the device (2 s), 2 on the edge (2 s), deadline 1 s.
    # Device 0's second task (1 s local) queues behind branch 1; device 1's task (1 s on the edge) behind branch 2.
    # Dropped at 1 s, both cores free: both followers run 1-2 (latency 1.5 from arrival 0.5), not 2-3.
    import networkx as nx

    nxg = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3)])
    g = TaskGraph.from_networkx(nxg)[0]
    z = np.zeros(g.m)
    tasks = [task(0, 0, 0.0, [0, 2e9, 2e9, 0], z, 1.0), task(1, 0, 0.5, [0, 1e9, 0, 0], z),
             task(2, 1, 0.5, [0, 0, 1e9, 0], z)]
    pol = ByDevice([[0, 0, 1, 0], [0, 0, 1, 0]])
    r = rows(Simulation(system(g, tasks, n_dev=2, on_deadline="drop"), pol, "p").run())
    assert [r[i]["status"] for i in range(3)] == ["dropped", "done", "done"]
    assert r[1]["latency_s"] == pytest.approx(1.5, rel=1e-12) and r[2]["latency_s"] == pytest.approx(1.5, rel=1e-12)


def test_fail_task_from_another_process_withdraws_the_transfer():
    # what a handover rule does: at t=1 a process of the engine fails task 0 mid-upload (2 MB at 1 MB/s)
    g = TaskGraph.chain(1)
    tasks = [task(0, 0, 0.0, [0], [2e6, 0]), task(1, 0, 1.5, [0], [1e6, 0])]
    sim = Simulation(system(g, tasks), ByDevice([[1]]), "p")

    def mover():
        yield sim.env.timeout(1.0)
        sim.fail_task(0, "handover")

    sim.env.process(mover())
    r = rows(sim.run())
    assert (r[0]["status"], r[0]["reason"]) == ("failed", "handover")
    assert r[1]["status"] == "done" and r[1]["latency_s"] == pytest.approx(1.0, rel=1e-12)  # the link was free
    with pytest.raises(ValueError):
        sim.abandon(None, "done")  # the status is checked first
    assert sim.states == {}  # only tasks in the system are kept; both have left
    with pytest.raises(KeyError):
        sim.fail_task(1, "handover")


def test_drop_while_waiting_for_a_decision_core_frees_the_queue():
    # decisions of 1 s (1e9 ops on a 1 GHz edge) on one core: task 0 decides 0-1 and runs locally (0 cycles);
    # task 1 (deadline 0.5) waits for the core and is dropped at 0.5; task 2 decides 1-2, not 2-3.
    class Slow(ByDevice):
        def decision_ops(self, graph):
            return 1e9

    g = TaskGraph.chain(1)
    tasks = [task(0, 0, 0.0, [0], [0, 0]), task(1, 0, 0.0, [0], [0, 0], 0.5), task(2, 0, 0.0, [0], [0, 0])]
    r = rows(Simulation(system(g, tasks, on_deadline="drop"), Slow([[0]]), "p").run())
    assert [r[i]["status"] for i in range(3)] == ["done", "dropped", "done"]
    assert r[2]["latency_s"] == pytest.approx(2.0, rel=1e-12)


SMALL = {"seed": 5, "horizon": "10 min", "task": {"subtasks": 3, "distribution": "paper-5.2"},
         "devices": {"count": 3, "cpu": "500 MHz", "arrivals": {"poisson": {"rate": "0.05 /s"}}},
         "network": {"wireless": {"up": "2 MB/s"}, "wan": {"up": "3 MB/s"}},
         "policies": ["local", "edge", "cloud"]}


def test_scenario_deadlines_keep_the_other_draws_and_statuses_add_up():
    base = tables_from(run_scenario(parse_scenario(SMALL))).tasks
    sc = dict(SMALL, task=dict(SMALL["task"], deadline={"uniform": ["5 s", "20 s"]}))
    res = tables_from(run_scenario(parse_scenario(sc)))
    t = res.tasks
    for c in ("task_id", "arrival_s", "finish_s", "placement", "energy_j"):  # deadlines have their own stream
        pd.testing.assert_series_equal(t[c], base[c])
    assert ((t["deadline_s"] >= 5) & (t["deadline_s"] <= 20)).all()
    fin = t["status"].isin(["done", "missed"])
    assert (t.loc[fin, "status"] == np.where(t.loc[fin, "latency_s"] > t.loc[fin, "deadline_s"], "missed", "done")).all()
    s = res.summary.set_index("policy")
    for p, g in t.groupby("policy"):
        assert s.loc[p, "miss_rate"] == pytest.approx((g["status"] == "missed").mean())
    assert (s["completed"] + s["unfinished"] + s["dropped"] + s["failed"] == s["tasks"]).all()
    assert set(t["status"]) <= set(STATUSES) and s["missed"].sum() > 0

    drop = tables_from(run_scenario(parse_scenario(dict(sc, execution={"on_deadline": "drop"})))).tasks
    assert set(drop["status"]) <= {"done", "dropped", "unfinished"} and (drop["status"] == "dropped").any()
    d = drop[drop["status"] == "done"]
    assert (d["latency_s"] <= d["deadline_s"]).all()
    assert (drop.loc[drop["status"] == "dropped", "reason"] == "deadline").all()


def test_per_device_deadline_is_drawn_once_per_device():
    sc = dict(SMALL, devices=dict(SMALL["devices"], deadline={"uniform": ["5 s", "20 s"]}))
    t = tables_from(run_scenario(parse_scenario(sc))).tasks
    assert (t.groupby("device")["deadline_s"].nunique() == 1).all() and t["deadline_s"].nunique() == 3


def test_no_deadline_gives_inf_and_done(tmp_path):
    t = tables_from(run_scenario(parse_scenario(SMALL))).tasks
    assert np.isinf(t["deadline_s"]).all() and set(t["status"]) <= {"done", "unfinished"} and (t["reason"] == "").all()


def test_bad_deadline_is_one_line_error(tmp_path, capsys):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(dict(SMALL, task=dict(SMALL["task"], deadline="-2 s"))))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {f}:") and "task.deadline" in err
    f.write_text(yaml.safe_dump(dict(SMALL, execution={"on_deadline": "never"})))
    assert main(["validate", str(f)]) == 2
    assert "execution.on_deadline" in capsys.readouterr().err


def test_printed_summary_shows_dropped_failed_and_miss_rate(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(dict(SMALL, task=dict(SMALL["task"], deadline="8 s"), execution={"on_deadline": "drop"})))
    assert main(["run", str(f), "--out", str(tmp_path / "o"), "--no-progress", "--no-plots"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("policy"))
    assert header.split()[:7] == ["policy", "done", "unfin", "drop", "fail", "miss", "mean"]


@pytest.mark.parametrize("sharing,expect", [("fifo", {0: 2.0, 2: 3.0}), ("fair", {2: 1 + 4 / 3, 0: 1 + 4 / 3 + 1})])
def test_link_cancel_of_a_middle_flow(sharing, expect):
    # 1 MB/s; flows A 2 MB, B 2 MB, C 1 MB join at 0; B withdrawn at 1 s.
    # fifo: A 0-2, C 2-3.  fair: 1/3 MB each by t=1; then A and C at 0.5 MB/s: C's 2/3 MB left ends at 1+4/3,
    # then A alone with 1 MB left: 1 s more.
    import simpy

    from simoffload.sim.engine import Link

    env = simpy.Environment()
    link = Link(env, "l", ConstantBandwidth(1e6), sharing)
    done = {}
    evs = [link.transfer(b, i) for i, b in enumerate((2e6, 2e6, 1e6))]
    for i, ev in enumerate(evs):
        ev.callbacks.append(lambda _e, i=i: done.__setitem__(i, env.now))

    def cancel_b():
        yield env.timeout(1.0)
        link.cancel(evs[1])

    env.process(cancel_b())
    env.run()
    assert set(done) == {0, 2}
    for i, t in expect.items():
        assert done[i] == pytest.approx(t, rel=1e-12)


@pytest.mark.parametrize("place", [0, 1])
def test_drop_of_a_job_running_on_a_free_core_counts_only_completed_steps(place):
    # 1 GHz device (place 0) or edge core (place 1): a 2-step chain, 1 Gcycle then 2 Gcycles, deadline 2 s, drop.
    # Step 0 runs 0-1 s; step 1 gets the free core at 1 s at once (no queueing) and is withdrawn at 2 s, when the
    # task is dropped. Only step 0 completed: one subtasks row, and on the device the energy of 1 Gcycle alone,
    # kappa * f^2 * 1e9 (not kappa * f^2 * 3e9: step 1 never ended). A second task arriving at 2.5 s (1 Gcycle)
    # finds the core free since 2 s: it runs 2.5-3.5 (without the drop 3.0-4.0).
    g = TaskGraph.chain(2)
    tasks = [task(0, 0, 0.0, [1e9, 2e9], [0, 0, 0], 2.0), task(1, 0, 2.5, [1e9, 0.0], [0, 0, 0], 10.0)]
    spec = system(g, tasks, on_deadline="drop")
    rec = Simulation(spec, ByDevice([[place, place]]), "p").run()
    r = rows(rec)
    assert [r[i]["status"] for i in range(2)] == ["dropped", "done"]
    want_energy = spec.objective.kappa * 1e9 ** 2 * 1e9 if place == 0 else 0.0
    assert r[0]["energy_j"] == pytest.approx(want_energy, rel=1e-12, abs=0.0)
    sub = [s for s in rec.subtasks if s[1] == 0]
    assert [(s[2], s[4], s[6]) for s in sub] == [(0, 0.0, pytest.approx(1.0, rel=1e-12))]
    assert r[1]["finish_s"] == pytest.approx(3.5, rel=1e-12)
