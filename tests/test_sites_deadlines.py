"""Drop-at-deadline in the several-site engine (it crashed: a dropped task's next wireless move used its
withdrawn work list).

One site (1 core, 1 GHz), one device (1 GHz, 1 MB/s wireless both ways), one task at t = 0: a two-subtask
chain of 2e9 and 1e9 cycles, subtask 0 on the device and subtask 1 on the own site; 1 MB goes from the
device to the site between them, 0.5 MB comes back. Hand-computed: 2 s on the device, 1 s up, 1 s on the
site, 0.5 s down: 4.5 s. With a 1.5 s deadline the task is late; under ``on_deadline: drop`` it is dropped
at 1.5 s while subtask 0 runs on the device, and nothing of it reaches the link or the site.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simoffload.model.task import TaskGraph
from simoffload.net.bandwidth import ConstantBandwidth as C
from simoffload.policy import Policy
from simoffload.sim.engine import TASK_FIELDS, DeviceSpec, SystemSpec, TaskSpec
from simoffload.sim.engine_sites import SiteSimulation, SiteSpec, Topology


class DeviceThenSite(Policy):
    name = "device-then-site"

    def decide(self, obs):
        return np.array([0, 1])


def system(on_deadline: str) -> SystemSpec:
    topo = Topology([SiteSpec("a", 1, 1e9, C(1e6), C(1e6))], association=[0])
    task = TaskSpec(0, 0, 0.0, np.array([2e9, 1e9]), np.array([0.0, 1e6, 0.5e6]), deadline_s=1.5)
    return SystemSpec(graph=TaskGraph.chain(2), tasks=[task], devices=[DeviceSpec(1e9, C(1e6), C(1e6))],
                      edge_hz=1e9, wan_up=C(1e6), wan_down=C(1e6), horizon_s=100.0, topology=topo,
                      on_deadline=on_deadline)


def test_late_task_kept_runs_to_the_end_hand_computed():
    rec = SiteSimulation(system("keep"), DeviceThenSite(), "p").run()
    row = dict(zip(TASK_FIELDS, rec.tasks[0]))
    assert row["status"] == "missed"
    assert row["latency_s"] == pytest.approx(4.5, rel=1e-12)


def test_dropped_task_stops_and_withdraws_its_work():
    sim = SiteSimulation(system("drop"), DeviceThenSite(), "p")
    rec = sim.run()  # crashed with AttributeError before the fix
    row = dict(zip(TASK_FIELDS, rec.tasks[0]))
    assert (row["status"], row["reason"]) == ("dropped", "deadline")
    assert math.isnan(row["finish_s"]) and math.isnan(row["latency_s"])
    assert sim.w_up[0].active == 0 and sim.site_subtasks == [0]  # nothing sent up, nothing run on the site
