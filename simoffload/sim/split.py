"""One run split across worker processes or a Dask cluster, merged into the single-process result.

**By policy (exact).** The policies of one run share nothing but the world: the
workload and the bandwidth paths, drawn from streams named after their
component (``arrivals/device3``, ``bandwidth/wan/up``, ...), and each policy's
own random stream ``policy/<label>`` (and ``decision-time/<label>``). A shard
rebuilds the same world from the scenario and seed, runs its subset of
policies, and returns their records; the merge puts the runs back in the
scenario's policy order. Nothing a policy does reaches another policy's run, so
the merged tables are byte-identical to ``simoffload run`` in one process (the
tests compare the bytes). The speed-up is bounded by the slowest policy: a run
has at most as many shards as policies.

**By device (refused).** Devices of one run always share the edge site's
cores and its WAN (and the cell with ``network.shared_cell``; with several
sites, the MAN, handovers and the sites' queues): one device's offloaded work
delays another's, so a shard holding some devices would simulate a different
system. No scenario that simoffload can describe has devices sharing nothing,
so this mode is refused with a one-line reason instead of giving a wrong answer.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from ..errors import UserError

SPLIT_MODES = ("policies", "devices")


def device_split_reason(sc: Any) -> str:
    """Why the devices of ``sc`` cannot run as independent shards (one line)."""
    if sc.devices.count == 1:
        return "--split devices: the scenario has a single device, there is nothing to split; use --split policies"
    shared = "the edge site's cores and WAN"
    if isinstance(sc.edge, list) and len(sc.edge) > 1:
        shared = "the edge sites' cores and WANs, the MAN between them and handovers"
    if sc.network.shared_cell:
        shared += " and one wireless cell"
    return (f"--split devices: the {sc.devices.count} devices share {shared}, so one device's work delays "
            f"another's and a device shard would simulate a different system; use --split policies (exact)")


def plan_shards(n_policies: int, workers: int) -> list[list[int]]:
    """Policy indices per shard: at most ``workers`` shards, round-robin, none empty."""
    k = max(1, min(workers, n_policies))
    return [list(range(s, n_policies, k)) for s in range(k)]


def _run_shard(job: dict[str, Any]) -> dict[str, Any]:
    """Run a subset of a scenario's policies on its world (in a worker). Never raises for a policy error."""
    from .scenario import build_world, make_policies, run_world

    sc = job["scenario"].model_copy()  # the validated scenario (shipped in memory by joblib/Dask)
    sc.policies = [sc.policies[i] for i in job["policies"]]
    seed = job["seed"]
    world = build_world(sc, seed)
    prepare_s: dict[str, float] = {}
    result = run_world(world, make_policies(sc, seed, prepare_s))
    return {"shard": job["shard"], "runs": result.runs, "failed": result.failed,
            "interrupted": result.interrupted, "prepare_s": prepare_s}


def _iter_local(jobs: list[dict], n_jobs: int) -> Iterator[dict]:
    if n_jobs == 1 or len(jobs) <= 1:
        for job in jobs:
            yield _run_shard(job)
        return
    from joblib import Parallel, delayed
    from joblib._parallel_backends import LokyBackend

    from ..experiments.sweep import _exit_with_parent

    backend = LokyBackend(initializer=_exit_with_parent, initargs=(os.getpid(),))
    yield from Parallel(n_jobs=n_jobs, backend=backend, return_as="generator_unordered", batch_size=1)(
        delayed(_run_shard)(j) for j in jobs)


def _iter_dask(jobs: list[dict], address: str) -> Iterator[dict]:
    from distributed import Client, as_completed

    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise UserError(f"--scheduler {address}: cannot connect ({exc})") from None
    try:
        futures = client.map(_run_shard, jobs, pure=False)
        for fut in as_completed(futures):
            res = fut.result()  # a worker that died raises here: the run fails as a whole
            fut.release()
            yield res
    finally:
        client.close()


def run_split(sc: Any, seed: int | None = None, jobs: int = 1, scheduler: str | None = None,
              split: str = "policies", shards: int | None = None) -> Any:
    """Run ``sc`` with its policies spread over shards; the merged :class:`RunResult`.

    Args:
        sc: the validated scenario.
        seed: overrides the scenario's seed.
        jobs: local worker processes (joblib/loky); ignored when ``scheduler`` is given.
        scheduler: address of a Dask distributed scheduler (or a ``distributed.LocalCluster``'s).
        split: ``policies`` (exact); ``devices`` is refused with the reason (:func:`device_split_reason`).
        shards: number of shards (default: one per worker, at most one per policy); with
            ``jobs=1`` they run one after another in this process, each on its own world.

    Returns:
        The same :class:`~simoffload.sim.scenario.RunResult` as ``run_scenario(sc, seed)``:
        ``tables_from`` of it gives byte-identical tables.
    """
    from .scenario import RunResult, build_world

    if split not in SPLIT_MODES:
        raise UserError(f"--split must be one of {', '.join(SPLIT_MODES)}, got {split!r}")
    if split == "devices":
        raise UserError(device_split_reason(sc))
    if jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {jobs}")
    from .. import limits

    limits.check_in_memory(sc)  # the shards' records come back and are merged in memory
    seed = sc.seed if seed is None else int(seed)
    workers = len(sc.policies) if scheduler else jobs
    shards = plan_shards(len(sc.policies), shards or workers)
    payload = [{"shard": k, "policies": idx, "scenario": sc, "seed": seed} for k, idx in enumerate(shards)]
    it = _iter_dask(payload, scheduler) if scheduler else _iter_local(payload, jobs)
    by_shard = {res["shard"]: res for res in it}
    world = build_world(sc, seed)  # the parent's copy: link rows and task counts
    labels = [p.display for p in sc.policies]
    runs = {r.policy: r for res in by_shard.values() for r in res["runs"]}
    failed = {k: v for res in by_shard.values() for k, v in res["failed"].items()}
    prepare_s = {k: v for res in by_shard.values() for k, v in res["prepare_s"].items()}
    interrupted = any(res["interrupted"] for res in by_shard.values())
    return RunResult(world, [runs[x] for x in labels if x in runs], {x: failed[x] for x in labels if x in failed},
                     interrupted=interrupted, prepare_s=prepare_s)
