"""A scenario's workload, generated lazily in arrival order: no list of every future task.

:class:`Workload` is what :func:`~simoffload.sim.scenario.build_world` puts in
``SystemSpec.tasks``. Iterating it draws the tasks a block at a time, with the
same random draws in the same order as drawing every task at once (so every
table stays bit for bit what it was):

* each device's arrival times come from its own stream (``arrivals/device{i}``),
  Poisson gaps drawn in the same batches as before and cut into blocks (a
  cumulative sum carried across blocks adds in the same order);
* its sizes from ``tasks/device{i}``: all cycles first, then all bytes. Two
  copies of the stream are kept, the second advanced past the device's
  ``T x n`` cycle draws (drawn and thrown away once per pass), so cycles and bytes
  of a block come from where one draw of shape ``(T, n)`` then ``(T, m)`` would
  have put them; deadlines (``deadlines/device{i}``) and accuracy requirements
  (``accuracy/device{i}``) likewise;
* the devices' blocks are merged by (arrival time, device, index), the order
  of the former global sort, task ids counting up in that order.

numpy draws ``uniform``, ``normal`` and ``exponential`` values one after
another, so a block of draws equals the same slice of one big draw. A
``choice`` distribution does not (numpy's bounded integers use a 32-bit buffer
that a new call starts afresh): a device with a ``choice`` size, deadline or
requirement has its arrays drawn whole, as before (memory grows with its
tasks; documented in docs/scale.md).

Counting the tasks (``len``) is one pass over the arrival streams at build time.
A workload of at most :data:`CACHE_TASKS` tasks is kept as a list after its
first pass (so running several policies draws it once); a bigger one is drawn
again for each policy. Indexing (``tasks[i]``) materialises the list (small
runs, tests, calibration).
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from ..model.task import Dist
from ..rng import rng_for
from .engine import TaskSpec

#: a workload of at most this many tasks is kept as a list after its first pass
CACHE_TASKS = 200_000
#: tasks per device drawn at a time
BLOCK = 4096


def _poisson_blocks(rng: np.random.Generator, rate: float, horizon: float, limit: float,
                    block: int) -> Iterator[np.ndarray]:
    """Arrival times of a Poisson stream, in blocks, equal to :func:`scenario._arrival_times`'s draws.

    That function draws gaps in batches of ``k`` (from the remaining horizon),
    adds ``last + cumsum(gaps)``, and keeps the times before the horizon and the
    first ``limit``. Here each batch is drawn in blocks (numpy's exponential
    draws are sequential, so the values are the same) and the cumulative sum is
    carried across blocks (the same additions in the same order).
    """
    total, last, kept = 0, 0.0, 0
    while last < horizon and total < limit:
        k = int(min(max(16, rate * (horizon - last) * 1.2 + 10), 1_000_000))
        carry = 0.0
        t = np.zeros(0)
        for a in range(0, k, block):
            gaps = rng.exponential(1.0 / rate, min(block, k - a))
            c = np.cumsum(np.concatenate(([carry], gaps)))[1:]
            carry = c[-1]
            t = last + c
            out = t[t < horizon]
            if math.isfinite(limit):
                out = out[: max(int(limit) - kept, 0)]
            kept += len(out)
            if len(out):
                yield out
        total += k
        last = float(t[-1])


def arrival_blocks(sc: Any, rng: np.random.Generator, arr: Any, cap: int | None, block: int = BLOCK) -> Iterator[np.ndarray]:
    """One device's arrival times in blocks (the values of :func:`scenario._arrival_times`)."""
    from .scenario import _arrival_times

    arr = sc.devices.arrivals if arr is None else arr
    cap = sc.devices.max_tasks if cap is None else cap
    limit = cap if cap is not None else math.inf
    if arr.poisson is not None and arr.times is None and arr.periodic is None:
        yield from _poisson_blocks(rng, arr.poisson.rate, sc.horizon, limit, block)
        return
    if arr.periodic is not None and arr.times is None:
        horizon = sc.horizon
        k = int(min(limit, math.floor((horizon - arr.periodic.offset) / arr.periodic.interval) + 1))
        for a in range(0, max(k, 0), block):
            t = arr.periodic.offset + arr.periodic.interval * np.arange(a, min(k, a + block))
            t = t[t < horizon]
            if len(t):
                yield t
        return
    t = _arrival_times(sc, rng, arr, cap)  # a list of times: small, given in the scenario
    for a in range(0, len(t), block):
        yield t[a:a + block]


def _chunkable(d: Dist | None) -> bool:
    # a per-position list (model.task.PositionDists, no ``form``) draws column by column: only whole
    return d is None or getattr(d, "form", "choice") != "choice"


class _Device:
    """One device's tasks, block by block: times, cycles, bytes, deadlines, requirements (and variants)."""

    def __init__(self, w: "Workload", i: int):
        from .scenario import _requirements, task_variants

        self.w, self.i = w, i
        sc, seed = w.sc, w.seed
        j = int(w.dev_app[i])
        self.app, self.graph = w.apps[j], w.graphs[j]
        self.j = j
        cdist, ddist = w.dists[j]
        self.cdist, self.ddist = cdist, ddist
        self.T = w.counts[i]
        self.times = arrival_blocks(sc, rng_for(seed, f"arrivals/device{i}"), self.app.arrivals, self.app.max_tasks)
        n, m = self.graph.n, self.graph.m
        dl = w.task_deadline[j]
        req_spec = self.app.task.accuracy_req
        if isinstance(req_spec, dict) and "per_device" in req_spec:
            req_spec = req_spec["per_device"][i % len(req_spec["per_device"])]
        self.req = Dist(req_spec, "fraction")
        self.whole = not all(_chunkable(d) for d in (cdist, ddist, dl, self.req))
        self._task_variants, self._requirements = task_variants, _requirements
        if self.whole:  # draw this device's arrays whole, exactly as before streaming
            rng = rng_for(seed, f"tasks/device{i}")
            self.cyc = cdist.sample(rng, (self.T, n))
            self.dat = ddist.sample(rng, (self.T, m))
            self.dl = (dl.sample(rng_for(seed, f"deadlines/device{i}"), self.T) if dl is not None else None)
            self.reqs = _requirements(sc, i, self.T, seed, self.app.task)
            self.pos = 0
            return
        self.rng_c = rng_for(seed, f"tasks/device{i}")
        self.rng_d = rng_for(seed, f"tasks/device{i}")
        left = self.T
        while left > 0:  # move the bytes stream past the device's cycle draws
            k = min(left, BLOCK)
            cdist.sample(self.rng_d, (k, n))
            left -= k
        self.rng_dl = rng_for(seed, f"deadlines/device{i}") if dl is not None else None
        self.rng_req = rng_for(seed, f"accuracy/device{i}")

    def blocks(self) -> Iterator[tuple]:
        """(times, cycles, bytes, deadlines, requirements, variants or None) per block."""
        w, i = self.w, self.i
        n, m = self.graph.n, self.graph.m
        dl = w.task_deadline[self.j]
        for t in self.times:
            k = len(t)
            if self.whole:
                a, self.pos = self.pos, self.pos + k
                cyc, dat = self.cyc[a:a + k], self.dat[a:a + k]
                dls = self.dl[a:a + k] if self.dl is not None else None
                req = self.reqs[a:a + k]
            else:
                cyc, dat = self.cdist.sample(self.rng_c, (k, n)), self.ddist.sample(self.rng_d, (k, m))
                dls = dl.sample(self.rng_dl, k) if dl is not None else None
                req = np.full(k, self.req.args[0]) if self.req.form == "constant" else self.req.sample(self.rng_req, k)
            if dls is None:
                dls = np.full(k, math.inf if w.dev_deadline is None else float(w.dev_deadline[i]))
            var = (self._task_variants(w.sc, self.graph, cyc, dat, self.app.task) if self.app.task.variants
                   else None)
            yield t, cyc, dat, dls, req, var


class Workload:
    """The tasks of one (scenario, seed), in arrival order, drawn block by block when iterated.

    Behaves as a read-only sequence of :class:`~simoffload.sim.engine.TaskSpec`:
    ``len``, iteration (a fresh pass each time, or the kept list), indexing
    (materialises the list). ``has_variants`` tells the engine whether any task
    has model variants without a pass.
    """

    def __init__(self, sc: Any, seed: int, graphs: list, apps: list, dev_app: np.ndarray, dists: list,
                 dev_deadline: np.ndarray | None, task_deadline: list):
        self.sc, self.seed, self.graphs, self.apps = sc, seed, graphs, apps
        self.dev_app, self.dists = dev_app, dists
        self.dev_deadline, self.task_deadline = dev_deadline, task_deadline
        self.has_variants = any(bool(a.task.variants) for a in apps)
        self.counts = [sum(len(t) for t in arrival_blocks(sc, rng_for(seed, f"arrivals/device{i}"),
                                                          apps[int(dev_app[i])].arrivals,
                                                          apps[int(dev_app[i])].max_tasks))
                       for i in range(sc.devices.count)]
        self._n = int(sum(self.counts))
        self._list: list[TaskSpec] | None = None

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __iter__(self) -> Iterator[TaskSpec]:
        if self._list is not None:
            return iter(self._list)
        if self._n <= CACHE_TASKS:
            self._list = list(self._generate())
            return iter(self._list)
        return self._generate()

    def __getitem__(self, i: Any) -> Any:
        return self.materialize()[i]

    def materialize(self) -> list[TaskSpec]:
        """Every task as a list (kept): for indexing; memory grows with the tasks."""
        if self._list is None:
            self._list = list(self._generate())
        return self._list

    def _generate(self) -> Iterator[TaskSpec]:
        devices = [_Device(self, i) for i in range(self.sc.devices.count)]
        streams = [d.blocks() for d in devices]
        # per device: buffered (times, cycles, bytes, deadlines, requirements, variants, index of first)
        buf: list[list | None] = [None] * len(devices)
        seen = [0] * len(devices)

        def refill(i: int) -> None:
            try:
                t, cyc, dat, dls, req, var = next(streams[i])
            except StopIteration:
                return
            k0 = seen[i]
            seen[i] += len(t)
            b = buf[i]
            if b is None or not len(b[0]):
                buf[i] = [t, cyc, dat, dls, req, var, np.arange(k0, k0 + len(t))]
            else:
                buf[i] = [np.concatenate([b[0], t]), np.concatenate([b[1], cyc]), np.concatenate([b[2], dat]),
                          np.concatenate([b[3], dls]), np.concatenate([b[4], req]),
                          None if var is None else list(b[5]) + list(var),
                          np.concatenate([b[6], np.arange(k0, k0 + len(t))])]

        tid = 0
        app_of = [int(a) for a in self.dev_app]
        n_dev = len(devices)
        while True:
            for i in range(n_dev):  # every device still drawing has something buffered
                if seen[i] < devices[i].T and (buf[i] is None or not len(buf[i][0])):
                    refill(i)
            live = [i for i in range(n_dev) if buf[i] is not None and len(buf[i][0])]
            if not live:
                break
            # a buffered task earlier than the last buffered time of every device still drawing is final
            bound = min((float(buf[i][0][-1]) for i in live if seen[i] < devices[i].T), default=math.inf)
            cuts = {}
            for i in live:
                t = buf[i][0]
                cut = len(t) if bound == math.inf else int(np.searchsorted(t, bound, side="left"))
                if cut:
                    cuts[i] = cut
            if cuts:
                dev = np.concatenate([np.full(c, i) for i, c in cuts.items()])
                tt = np.concatenate([buf[i][0][:c] for i, c in cuts.items()])
                kk = np.concatenate([np.arange(c) for c in cuts.values()])
                order = np.lexsort((np.concatenate([buf[i][6][:c] for i, c in cuts.items()]), dev, tt))
                view = {i: (list(buf[i][1][:c]), list(buf[i][2][:c]), buf[i][3][:c].tolist(), buf[i][4][:c].tolist(),
                            buf[i][5]) for i, c in cuts.items()}
                emit = []
                for t, i, k in zip(tt[order].tolist(), dev[order].tolist(), kk[order].tolist()):
                    cyc, dat, dls, req, var = view[i]
                    if var is not None:
                        v = var[k]
                        emit.append(TaskSpec(tid, i, t, v.cycles[0], v.data[0], dls[k], v, req[k], app=app_of[i]))
                    else:
                        emit.append(TaskSpec(tid, i, t, cyc[k], dat[k], dls[k], None, req[k], app=app_of[i]))
                    tid += 1
                for i, c in cuts.items():
                    b = buf[i]
                    buf[i] = [b[0][c:], b[1][c:], b[2][c:], b[3][c:], b[4][c:], None if b[5] is None else b[5][c:],
                              b[6][c:]]
                view = None
                yield from emit
            for i in live:  # the devices that set the bound draw their next block
                if seen[i] < devices[i].T and (not len(buf[i][0]) or float(buf[i][0][-1]) <= bound):
                    refill(i)
