"""Build the several-site :class:`~simoffload.sim.engine_sites.Topology` of a scenario (``edge:`` a list).

Draws the mobility of every device from its own named stream (``mobility/device<i>``), derives the
association and handovers, and, for distance-based wireless, replaces each device's wireless models by
its rate to the site it is associated with over time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import Scenario, site_index
from ..errors import UserError
from ..net import mobility as mob
from ..rng import rng_for
from .engine import DeviceSpec
from .engine_sites import ManLinkSpec, SiteSpec, Topology


def _path(sc: Scenario, f: str) -> Path:
    p = Path(f)
    return p if p.is_absolute() else sc.base_dir / p


def positions(sc: Scenario, seed: int) -> mob.Positions | None:
    """Device positions on the mobility grid, or ``None`` without a mobility model."""
    m = sc.topology.mobility
    if m is None:
        return None
    n = sc.devices.count
    if m.random_waypoint is not None:
        rngs = [rng_for(seed, f"mobility/device{i}") for i in range(n)]
        return mob.random_waypoint(m.random_waypoint, n, sc.horizon, rngs)
    tr = m.trace
    reader = mob.read_csv_positions if tr.format == "csv" else mob.read_sumo_fcd
    try:
        return reader(_path(sc, tr.file), n, sc.horizon, tr.step)
    except UserError as exc:  # the trace's own FILE:LINE, then the scenario line that named it
        from .scenario import blame

        raise blame(sc, exc, "topology", "mobility", "trace", "file") from None


def build_topology(sc: Scenario, seed: int, devices: list[DeviceSpec], models: dict[str, Any],
                   bw: Callable[[Any, str], Any]) -> Topology:
    """The topology of ``sc`` for ``seed``; may replace ``devices[i].up/down`` (distance-based wireless)."""
    topo_cfg = sc.topology
    n_dev = len(devices)
    sites = []
    for i, s in enumerate(sc.edge):
        wan = s.wan or sc.network.wan
        if s.wan is None:
            up, down = models["wan_up"], models["wan_down"]
        else:
            up = bw(wan.up, f"bandwidth/{s.name}/wan/up")
            down = up if wan.down is None else bw(wan.down, f"bandwidth/{s.name}/wan/down")
            models[f"{s.name}_wan_up"], models[f"{s.name}_wan_down"] = up, down
        sites.append(SiteSpec(s.name, s.cores, s.cpu, up, down, float(getattr(wan, "latency", 0.0) or 0.0),
                              None if s.position is None else (float(s.position[0]), float(s.position[1]))))
    man = []
    names = [s.name for s in sites]
    for link in topo_cfg.man:
        a, b = (site_index(sc, x, "topology.man") for x in link.between)
        ab = bw(link.bandwidth, f"bandwidth/man/{names[a]}-{names[b]}")
        ba = ab if link.back is None else bw(link.back, f"bandwidth/man/{names[b]}-{names[a]}")
        models[f"man_{names[a]}_{names[b]}"] = ab
        if link.back is not None:
            models[f"man_{names[b]}_{names[a]}"] = ba
        man.append(ManLinkSpec(a, b, ab, ba, link.latency))

    pos = positions(sc, seed)
    assoc_cfg = topo_cfg.association
    grid_assoc = None
    if assoc_cfg.fixed is not None:
        fixed = [site_index(sc, x, "topology.association.fixed") for x in assoc_cfg.fixed]
        initial = [fixed[i % len(fixed)] for i in range(n_dev)]
        changes: list[tuple[float, int, int]] = []
        if pos is not None:
            grid_assoc = np.tile(np.asarray(initial), (len(pos.times), 1))
    elif assoc_cfg.nearest:
        xy = np.array([s.position for s in sites], dtype=float)
        grid_assoc = mob.nearest_sites(pos, xy)
        initial, changes = mob.association_changes(pos.times, grid_assoc)
    else:
        try:
            initial, changes = mob.read_association(_path(sc, assoc_cfg.trace), n_dev, len(sites), names)
        except UserError as exc:
            from .scenario import blame

            raise blame(sc, exc, "topology", "association", "trace") from None
        if pos is not None:
            grid_assoc = np.tile(np.asarray(initial), (len(pos.times), 1))
            for t, d, s in changes:
                grid_assoc[np.searchsorted(pos.times, t, side="left"):, d] = s
    if topo_cfg.wireless is not None:
        if pos is None or grid_assoc is None:
            raise UserError("topology.wireless: distance-based wireless needs topology.mobility")
        xy = np.array([s.position for s in sites], dtype=float)
        for i, (up, down) in enumerate(mob.radio_models(topo_cfg.wireless.distance, pos, grid_assoc, xy, sc.horizon)):
            devices[i] = DeviceSpec(devices[i].cpu_hz, up, down)
            models.pop(f"device{i}_up", None)
            models.pop(f"device{i}_down", None)
            models[f"device{i}_up"], models[f"device{i}_down"] = up, down
    if sc.edge[0].wireless is not None:  # per-cell wireless: each device follows its cell's model
        cells_up, cells_down = [], []
        for s in sc.edge:
            up = bw(s.wireless.up, f"bandwidth/{s.name}/wireless/up")
            down = up if s.wireless.down is None else bw(s.wireless.down, f"bandwidth/{s.name}/wireless/down")
            models[f"{s.name}_cell_up"], models[f"{s.name}_cell_down"] = up, down
            cells_up.append(up)
            cells_down.append(down)
        per_dev: list[list[tuple[float, int]]] = [[] for _ in range(n_dev)]
        for t, d, site in changes:
            per_dev[d].append((t, site))
        for i in range(n_dev):
            up = mob.switched_model(cells_up, initial[i], per_dev[i], sc.horizon)
            down = mob.switched_model(cells_down, initial[i], per_dev[i], sc.horizon)
            devices[i] = DeviceSpec(devices[i].cpu_hz, up, down)
            models.pop(f"device{i}_up", None)
            models.pop(f"device{i}_down", None)
    return Topology(sites=sites, man=man, reach=topo_cfg.placement, association=[int(x) for x in initial],
                    handovers=changes, handover=topo_cfg.handover, wireless_latency_s=topo_cfg.wireless_latency)
