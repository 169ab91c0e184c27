"""simoffload: a discrete-event simulator for mobile edge computation offloading.

The public API (see ``docs/api.md``)::

    import simoffload
    sc = simoffload.Scenario.from_yaml("scenarios/quickstart.yaml")      # or from_dict / keyword arguments
    res = simoffload.run(sc, policies=["local", "optimal", MyPolicy()], seed=1, out="results/x")
    res.summary                                                          # pandas DataFrames
    sw = simoffload.sweep(sc, grid={"devices.count": [5, 10]})
    simoffload.testing.check_policy(MyPolicy)                            # the conformance suite

Names in ``__all__`` are public; everything else is private by convention.
Submodules are imported on first use, so ``import simoffload`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute); attribute None = the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "Scenario": ("simoffload.config", "Scenario"),
    "run": ("simoffload._api", "run"),
    "sweep": ("simoffload._api", "sweep"),
    "load_results": ("simoffload._api", "load_results"),
    "load_sweep": ("simoffload._api", "load_sweep"),
    "Results": ("simoffload.sim.results", "Results"),
    "SweepResults": ("simoffload.experiments.sweep", "SweepResults"),
    "Policy": ("simoffload.policy", "Policy"),
    "Observation": ("simoffload.policy", "Observation"),
    "register_policy": ("simoffload.registry", "register"),
    "TaskGraph": ("simoffload.model.task", "TaskGraph"),
    "Instances": ("simoffload.model.task", "Instances"),
    "RequirementDistribution": ("simoffload.model.task", "RequirementDistribution"),
    "Objective": ("simoffload.model.cost", "Objective"),
    "cost": ("simoffload.model.cost", "cost"),
    "energy": ("simoffload.model.cost", "energy"),
    "latency": ("simoffload.model.cost", "latency"),
    "UserError": ("simoffload.errors", "UserError"),
    "testing": ("simoffload.testing", None),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'simoffload' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
