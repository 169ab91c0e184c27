"""The paper's Greedy on hand-worked examples (numbers computed by hand in the comments)."""

from __future__ import annotations

import numpy as np
import pytest

from policies.greedy import GreedyPolicy
from simoffload.model.cost import Objective, latency
from simoffload.model.task import Instances, TaskGraph
from simoffload.policy import Observation


def both(inst: Instances, obj: Objective = Objective()) -> np.ndarray:
    """Greedy's batched decision, checked equal to its single decision."""
    pol = GreedyPolicy()
    batch = pol.decide_batch(inst, obj)
    single = pol.decide(Observation(inst.graph, inst.cycles[0], inst.data[0], float(inst.p1[0]), float(inst.p2[0]),
                                    float(inst.b1[0]), float(inst.b2[0]), objective=obj))
    assert single.tolist() == batch[0].tolist()
    return batch[0]


def test_chain_of_two_is_myopic() -> None:
    # p1 = 1e9 Hz, p2 = 2e9 Hz, cloud free; b1 = 1e6 B/s, b2 = 0.5e6 B/s.
    # cycles (1e9, 5e9); data d0 = 1e6 (input), d1 = 2e6, d2 = 0.5e6 (output).
    # Subtask 0 (input on the device): device 1 s; edge 0.5 + 1 = 1.5 s; cloud 0 + 1 + 2 = 3 s -> device.
    # Subtask 1 (from the device, 2e6 B): device 5 s; edge 2.5 + 2 = 4.5 s; cloud 0 + 2 + 4 = 6 s -> edge.
    # Latency of (0, 1): 1 + 2 + 2.5 + output 0.5e6 / 1e6 = 0.5 -> 6.0 s.
    # The optimum is 4.5 s ((1, 1): 1 + 0.5 + 2.5 + 0.5), so greedy is 4/3 of it here.
    inst = Instances(TaskGraph.chain(2), [[1e9, 5e9]], [[1e6, 2e6, 0.5e6]], [1e9], [2e9], [1e6], [0.5e6])
    place = both(inst)
    assert place.tolist() == [0, 1]
    assert latency(inst, place[None, :])[0] == pytest.approx(6.0)


def test_ignores_the_output_transfer() -> None:
    # One subtask, 1e9 cycles: device 1 s, edge 1e9 / 1e10 = 0.1 s, cloud 0 s; no input data.
    # Greedy compares 1, 0.1 and 0 and picks the cloud, never looking at the 5e6 B output,
    # which then costs 5e6 / 1e6 (b2) + 5e6 / 1e6 (b1) = 10 s to come back: latency 10 s (device: 1 s).
    inst = Instances(TaskGraph.chain(1), [[1e9]], [[0.0, 5e6]], [1e9], [1e10], [1e6], [1e6])
    place = both(inst)
    assert place.tolist() == [2]
    assert latency(inst, place[None, :])[0] == pytest.approx(10.0)


def test_ties_go_to_the_lower_place() -> None:
    # cycles 2e9, p1 = 1e9 (2 s), p2 = 2e9 (1 s), d0 = 1e6 at b1 = 1e6 (1 s): device 2 s, edge 1 + 1 = 2 s,
    # cloud 0 + 1 + 1e6 / 0.5e6 = 3 s. Device and edge tie at exactly 2.0 s -> device.
    inst = Instances(TaskGraph.chain(1), [[2e9]], [[1e6, 0.0]], [1e9], [2e9], [1e6], [0.5e6])
    assert both(inst).tolist() == [0]


def test_dag_transfers_from_all_placed_predecessors() -> None:
    # Subtasks 0 and 1 take the device input, 2 takes data from both and sends 0 B back.
    # p1 = p2 = 1e9 Hz, cloud free, b1 = b2 = 1e6 B/s (1 s per MB per hop).
    # cycles (2e9, 0.5e9, 1e9); inputs 0.5e6 to 0 and 1e6 to 1; 0->2 1e6 B; 1->2 3e6 B.
    # 0: device 2; edge 2 + 0.5 = 2.5; cloud 0 + 0.5 + 0.5 = 1.0 -> cloud.
    # 1: device 0.5; edge 0.5 + 1 = 1.5; cloud 0 + 1 + 1 = 2 -> device.
    # 2: device 1 + (cloud->device 1 + 1) + 0 = 3; edge 1 + (cloud->edge 1) + (device->edge 3) = 5;
    #    cloud 0 + 0 + (device->cloud 3 + 3) = 6 -> device.
    # Latency: 1.0 + 0.5 + 3 = 4.5 s.
    g = TaskGraph(3, [-1, -1, 0, 1, 2], [0, 1, 2, 2, 3])
    inst = Instances(g, [[2e9, 0.5e9, 1e9]], [[0.5e6, 1e6, 1e6, 3e6, 0.0]], [1e9], [1e9], [1e6], [1e6])
    place = both(inst)
    assert place.tolist() == [2, 0, 0]
    assert latency(inst, place[None, :])[0] == pytest.approx(4.5)


def test_energy_objective() -> None:
    # Device energy: local 1e-27 * (1e9)^2 * 1e9 = 1 J; sending d0 = 1e6 B at b1 = 1e6 B/s with 0.5 W = 0.5 J
    # to either the edge or the cloud (the WAN hop costs the device nothing) -> tie at 0.5 J -> edge.
    obj = Objective(latency_weight=0.0, energy_weight=1.0, kappa=1e-27, tx_power_w=0.5, rx_power_w=0.5)
    inst = Instances(TaskGraph.chain(1), [[1e9]], [[1e6, 0.0]], [1e9], [1e9], [1e6], [1e6])
    assert both(inst, obj).tolist() == [1]
    # at 4 W transmitting costs 4 J > 1 J local -> device
    obj2 = Objective(latency_weight=0.0, energy_weight=1.0, kappa=1e-27, tx_power_w=4.0, rx_power_w=0.5)
    assert both(inst, obj2).tolist() == [0]


def test_zero_bandwidth_keeps_data_on_the_device() -> None:
    # b1 = 0: any offload of the 1 B input takes forever; the 1e12-cycle subtask stays local (1000 s at 1e9 Hz).
    inst = Instances(TaskGraph.chain(1), [[1e12]], [[1.0, 1.0]], [1e9], [1e10], [0.0], [1e6])
    assert both(inst).tolist() == [0]
    # with zero input bytes the edge is reachable for free, and its 100 s beat the device
    inst0 = Instances(TaskGraph.chain(1), [[1e12]], [[0.0, 0.0]], [1e9], [1e10], [0.0], [1e6])
    assert both(inst0).tolist() in ([1], [2])  # edge 100 s, cloud 0 s -> cloud actually
    assert both(inst0).tolist() == [2]
