"""sha256 of every table of the shipped scenarios (shortened), to check that engine speed-ups change nothing.

Each case is a shipped scenario (``scenarios/*.yaml``, the base scenario of a
sweep file) with its horizon and task count cut down so the whole set runs in
about a minute, plus a few variants exercising engine paths the shipped files
leave out (propagation latency with drop-at-deadline on one edge, a serial
DAG, a shared FIFO cell). Policies that would train a model first are left
out (their decisions come from a cached model, not the engine).

Each table (tasks, subtasks, links, summary, and sites for several-site runs)
is written as CSV (floats as their shortest round-trip repr) and hashed.

Usage:
    python analysis/golden_tables.py                # print the hashes
    python analysis/golden_tables.py --write FILE   # save them as JSON
    python analysis/golden_tables.py --check FILE   # compare with a saved set; exit 1 on any difference
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (horizon s, devices.max_tasks) per shipped scenario; None keeps the file's value
SHORTEN = {
    "quickstart": (3600.0, 40),
    "dag": (3600.0, 30),
    "model_selection": (120.0, 6),
    "multiuser": (300.0, 10),
    "online": (900.0, 20),
    "stochastic": (1800.0, 30),
    "study_channels": (600.0, 10),
    "study_decision_time": (10000.0, 8),
    "study_multiuser": (180.0, 10),
    "study_online": (30.0, 4),
    "study_topology": (20.0, None),
    "city": (20.0, None),
    "traces_lte": (600.0, 10),
}

#: scenarios/city.yaml as it was at main 58bb805 (inline: the shipped file may be retuned; these cases must not move)
CITY = {
    "name": "city-golden", "seed": 11, "horizon": "20 s",
    "task": {"subtasks": 4, "deadline": "1.5 s", "distribution": {
        "cycles": {"uniform": ["200 Mcycles", "800 Mcycles"]}, "bytes": {"uniform": ["200 kB", "1.5 MB"]}}},
    "devices": {"count": 40, "cpu": {"uniform": ["500 MHz", "1.5 GHz"]}, "arrivals": {"poisson": {"rate": "0.1 /s"}}},
    "edge": [
        {"name": "north", "cores": 8, "cpu": "3 GHz", "position": [500, 1500], "wan": {"up": "12.5 MB/s", "latency": "20 ms"}},
        {"name": "east", "cores": 4, "cpu": "2.5 GHz", "position": [1500, 1500], "wan": {"up": "12.5 MB/s", "latency": "20 ms"}},
        {"name": "south", "cores": 8, "cpu": "3 GHz", "position": [1500, 500], "wan": {"up": "12.5 MB/s", "latency": "20 ms"}},
        {"name": "west", "cores": 2, "cpu": "2 GHz", "position": [500, 500], "wan": {"up": "12.5 MB/s", "latency": "20 ms"}},
    ],
    "cloud": {"cpu": "4 GHz"},
    "topology": {
        "man": [{"between": ["north", "east"], "bandwidth": "125 MB/s", "latency": "1 ms"},
                {"between": ["east", "south"], "bandwidth": "125 MB/s", "latency": "1 ms"},
                {"between": ["south", "west"], "bandwidth": "125 MB/s", "latency": "1 ms"},
                {"between": ["west", "north"], "bandwidth": "125 MB/s", "latency": "1 ms"}],
        "placement": "man", "association": {"nearest": True}, "handover": "continue", "wireless_latency": "5 ms",
        "mobility": {"random_waypoint": {"area": [2000, 2000], "speed": [1, 15], "pause": "10 s", "step": "1 s"}},
        "wireless": {"distance": {"bandwidth": "5 MHz"}},
    },
    "policies": ["local", "edge", "cloud", "greedy", {"name": "optimal", "label": "optimal-own", "params": {"reach": "own"}},
                 "optimal"],
    "output": {"record": {"links": True, "subtasks": True, "queues": True}},
}

#: devices at 20-40 m/s: handovers during transfers within the short horizon
FAST = {"random_waypoint": {"area": [2000, 2000], "speed": [20, 40], "pause": "1 s", "step": "0.5 s"}}

#: variants (of quickstart unless ``__base__`` names another case) exercising engine paths the shipped files do not: (name, dotted overrides)
VARIANTS = {
    "latency_drop_apps": {  # issue 11's richer model on one edge (bench_engine.py's MODEL)
        "network": {"wireless": {"up": "1 MB/s", "latency": "10 ms"},
                    "wan": {"up": "1.5 MB/s", "latency": {"uniform": ["20 ms", "60 ms"]}}},
        "execution": {"on_deadline": "drop"},
        "devices": {"count": 3, "max_tasks": 15, "arrivals": {"poisson": {"rate": 0.2}}},
        "applications": [
            {"name": "a", "share": 1, "task": {"subtasks": 6, "distribution": "paper-5.1", "deadline": "20 s"}},
            {"name": "b", "share": 1, "task": {"subtasks": 4, "distribution": "paper-5.1",
                                              "deadline": {"uniform": ["5 s", "60 s"]}}},
        ],
    },
    "dag_serial": {"__base__": "dag", "execution": {"dag": "serial"}},
    "dag_latency_drop": {  # parallel DAG branches withdrawn at the deadline, latency on both hops
        "__base__": "dag",
        "network": {"wireless": {"up": "4 MB/s", "latency": "15 ms"}, "wan": {"up": "3 MB/s", "latency": "30 ms"}},
        "execution": {"dag": "parallel", "on_deadline": "drop"},
        "devices": {"count": 3, "cpu": "550 MHz", "max_tasks": 30, "deadline": {"uniform": ["3 s", "40 s"]},
                    "arrivals": {"poisson": {"rate": 0.05}}},
    },
    "online_latency_drop": {  # observing (online) policies told of dropped tasks
        "__base__": "online",
        "network": {"wireless": {"up": "2 MB/s", "latency": "10 ms"}, "wan": {"up": "1 MB/s", "latency": "40 ms"}},
        "execution": {"on_deadline": "drop"},
        "devices": {"count": 8, "cpu": "500 MHz", "max_tasks": 20, "deadline": {"uniform": ["2 s", "30 s"]},
                    "arrivals": {"poisson": {"rate": 0.02}}},
    },
    "sites_records": {"__base__": "city_inline"},  # several sites with mobility, every record on
    "sites_restart": {  # handover restart: a device's wireless transfers start again over the new cell
        "__base__": "city_inline", "topology": dict(CITY["topology"], handover="restart", mobility=FAST),
    },
    "sites_fail": {  # handover fail: the task fails with reason handover
        "__base__": "city_inline", "topology": dict(CITY["topology"], handover="fail", mobility=FAST),
    },
    "shared_fifo_cell": {
        "__base__": "multiuser",
        "network": {"shared_cell": True, "sharing": "fifo"},
    },
}


#: policies that train a model before they run (by registered name; also when wrapped by SizeScaled)
TRAINED = {"large-dil", "kd-dil", "baseline-dil", "dqn"}


def _learned(p) -> bool:  # noqa: ANN001 - a PolicyConfig
    return p.name in TRAINED or (p.params or {}).get("policy") in TRAINED


def cases() -> dict:
    """name -> a validated Scenario (shortened, learned policies that need training removed)."""
    from simoffload.config import load_scenario, parse_scenario

    out = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        sc = load_scenario(path)
        horizon, max_tasks = SHORTEN.get(path.stem, (None, None))
        if horizon is not None:
            sc.horizon = min(sc.horizon, horizon)
        if max_tasks is not None:
            sc.devices.max_tasks = max_tasks
            for app in sc.applications or ():
                app.max_tasks = None
        out[path.stem] = sc
    out["city_inline"] = parse_scenario(CITY)
    for name, over in VARIANTS.items():
        over = dict(over)
        base = out[over.pop("__base__", "quickstart")]
        data = base.model_dump(mode="json", exclude={"base_dir", "task"} if "applications" in over else {"base_dir"})
        for k, v in over.items():
            data[k] = dict(data.get(k) or {}, **v) if isinstance(v, dict) and k != "applications" else v
        if "applications" in over:
            data["devices"].pop("max_tasks", None)
            data["devices"]["max_tasks"] = over["devices"]["max_tasks"]
        sc = parse_scenario(data)
        sc.base_dir = base.base_dir
        out[name] = sc
    return out


def _frame_hash(df) -> str:  # noqa: ANN001
    return hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()


def table_hashes(sc) -> dict:  # noqa: ANN001
    """sha256 of each table of a run of ``sc`` (policies needing training left out)."""
    from simoffload.sim.results import tables_from
    from simoffload.sim.scenario import build_world, run_world

    keep = [p for p in sc.policies if not _learned(p)]
    sc = sc.model_copy(update={"policies": keep})
    from simoffload.sim.scenario import make_policies

    world = build_world(sc, sc.seed)
    res = tables_from(run_world(world, make_policies(sc, sc.seed)))
    out = {"policies": [p.display for p in keep]}
    for name in ("tasks", "subtasks", "links", "summary", "sites"):
        df = getattr(res, name)
        if df is not None:
            out[name] = _frame_hash(df)
    return out


def all_hashes(only: list[str] | None = None) -> dict:
    return {name: table_hashes(sc) for name, sc in cases().items() if not only or name in only}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", type=Path)
    ap.add_argument("--check", type=Path)
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    os.environ.setdefault("SIMOFFLOAD_CACHE", tempfile.mkdtemp(prefix="golden-cache-"))  # never a user's trained model
    got = all_hashes(a.only)
    for name, h in got.items():
        print(f"{name:22s} {' '.join(f'{k}={v[:12]}' for k, v in h.items() if k != 'policies')}  {h['policies']}")
    if a.write:
        a.write.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    if a.check:
        want = json.loads(a.check.read_text())
        bad = [n for n in got if got[n] != want.get(n)]
        for n in bad:
            print(f"DIFFERENT: {n}: {want.get(n)} != {got[n]}")
        if bad:
            sys.exit(1)
        print(f"all {len(got)} cases identical")


if __name__ == "__main__":
    main()
