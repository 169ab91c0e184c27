"""simoffload: a discrete-event simulator for mobile edge computation offloading."""

from .model.cost import Objective, cost, energy, latency
from .model.task import Instances, RequirementDistribution, TaskGraph
from .policy import Observation, Policy

__version__ = "0.1.0"

__all__ = [
    "Instances", "Objective", "Observation", "Policy", "RequirementDistribution", "TaskGraph",
    "cost", "energy", "latency", "load_results",
]


def load_results(directory):  # noqa: ANN001 - thin lazy wrapper
    """Load a run's result tables (``tasks``, ``subtasks``, ``links``, ``summary``) as pandas DataFrames."""
    from .sim.results import load_results as _load

    return _load(directory)
