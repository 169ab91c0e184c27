"""Unit tests of the input-safety mechanisms behind the bad-input corpus (test_bad_inputs.py)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from simoffload import limits
from simoffload.cli import main
from simoffload.errors import UserError
from simoffload.yamlio import parse_yaml


def _dense_rle(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding of dense per-ms packet counts, written independently of traces.py."""
    times, rates, nbytes = [0], [], []
    for k, c in enumerate(counts):
        if k and c == counts[k - 1]:
            nbytes[-1] += int(c) * 1500
            continue
        if k:
            times.append(k)
        rates.append(float(c) * 1500 * 1000)
        nbytes.append(int(c) * 1500)
    times.append(len(counts))
    return np.array(times) / 1000.0, np.array(rates), np.array(nbytes)


@pytest.mark.parametrize("seed", range(20))
def test_sparse_mahimahi_equals_dense_encoding(seed: int, tmp_path) -> None:
    """The sparse loader gives the same steps as encoding the dense per-ms counts, with start/loop/cut."""
    from simoffload.net.traces import clear_cache, load_trace

    rng = np.random.default_rng(seed)
    period = int(rng.integers(1, 60))
    stamps = np.sort(rng.integers(0, period + 1, int(rng.integers(1, 40))))
    stamps = np.append(stamps, period)
    f = tmp_path / "t.mm"
    f.write_text("\n".join(map(str, stamps)) + "\n")
    dense = np.zeros(period, dtype=np.int64)
    for s in stamps:  # stamp T -> bin T-1; stamp 0 -> the last bin
        dense[(s if s > 0 else period) - 1] += 1
    clear_cache()
    start_ms = int(rng.integers(0, period))
    for loop in (True, False):
        m = load_trace(f, "mahimahi", start_s=start_ms / 1000.0, loop=loop)
        counts = np.roll(dense, -start_ms) if loop else dense[start_ms:]
        t, r, b = _dense_rle(counts)
        np.testing.assert_array_equal(m.times, t)
        np.testing.assert_array_equal(m.rates, r)
        assert m.cumulative(m.period) == pytest.approx(b.sum(), abs=1e-6)


def test_long_sparse_mahimahi_stays_small(tmp_path) -> None:
    from simoffload.net.traces import clear_cache, load_trace

    f = tmp_path / "long.mm"
    f.write_text("1\n2000000000\n")  # 12 bytes, a 23-day period
    clear_cache()
    m = load_trace(f, "mahimahi", start_s=1_000_000.0)
    assert len(m.rates) <= 5
    assert m.cumulative(2_000_000.0) == pytest.approx(3000.0)  # two packets per period


def test_alias_bomb_is_counted_not_expanded() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    t0 = time.process_time()
    with pytest.raises(UserError, match=r"^b\.yaml:\d+: YAML: expands to more than 1,000,000 nodes"):
        parse_yaml(bomb, "b.yaml")  # 9^9 = 387M leaves if expanded
    assert time.process_time() - t0 < 5.0
    small = "\n".join(bomb.splitlines()[:3])  # 1 + 10 + 91 ... nodes: fine
    assert parse_yaml(small, "s.yaml").data["c"][0][0] == ["x"] * 9


def test_yaml_node_limit_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"  # 1 map + 1 key + 1 list + 10 items = 13 nodes
    assert parse_yaml(text, "x.yaml").data == {"a": list(range(1, 11))}
    monkeypatch.setenv("SIMOFFLOAD_LIMIT_YAML_NODES", "12")
    with pytest.raises(UserError, match="more than 12 nodes"):
        parse_yaml(text, "x.yaml")
    monkeypatch.setenv("SIMOFFLOAD_LIMIT_YAML_NODES", "13")
    assert parse_yaml(text, "x.yaml").data["a"][-1] == 10


@pytest.mark.parametrize("text, line, needle", [
    ("a: 1\nb:\n  c: 1\n  c: 2\n", 4, "duplicate key 'c' (first on line 3)"),
    ("a: &x [1, *x]\n", 1, "recursive alias"),
    ("a: 1\nb: 2\x00\n", 2, "NUL byte"),
    ("a: " + "[" * 70 + "]" * 70 + "\n", 1, "nesting deeper than 64"),
])
def test_yaml_refusals_name_the_line(text: str, line: int, needle: str) -> None:
    with pytest.raises(UserError) as exc:
        parse_yaml(text, "f.yaml")
    assert str(exc.value).startswith(f"f.yaml:{line}: YAML: ") and needle in str(exc.value)


def test_bom_is_accepted() -> None:
    assert parse_yaml("\ufeffname: x\n", "f.yaml").data == {"name": "x"}


def test_expected_tasks_matches_the_drawn_workload() -> None:
    """The estimate the limits use equals the tasks build_world draws (periodic: exactly)."""
    from simoffload.config import parse_scenario
    from simoffload.sim.scenario import build_world

    for interval, offset, horizon in ((10.0, 0.0, 60.0), (7.0, 3.0, 60.0), (0.5, 0.25, 10.0), (10.0, 70.0, 60.0)):
        sc = parse_scenario({"horizon": horizon, "devices": {"count": 3, "arrivals": {
            "periodic": {"interval": interval, "offset": offset}}}, "policies": ["local"]})
        est = limits.expected_tasks_per_device(sc.devices.arrivals, horizon, None) * 3
        assert est == len(build_world(sc).system.tasks)
    # Poisson: the mean rate x horizon (400 expected over 4 devices; 4 sigma = 80)
    sc = parse_scenario({"horizon": 100.0, "devices": {"count": 4, "arrivals": {"poisson": {"rate": 1.0}}},
                         "policies": ["local"]})
    est = limits.expected_tasks_per_device(sc.devices.arrivals, 100.0, None) * 4
    assert est == 400 and abs(len(build_world(sc).system.tasks) - est) < 80


def test_task_limit_from_environment_and_scenario(monkeypatch: pytest.MonkeyPatch) -> None:
    from simoffload.config import parse_scenario

    data = {"horizon": 60.0, "devices": {"arrivals": {"periodic": {"interval": 10.0}}}, "policies": ["local"]}
    parse_scenario(dict(data))  # 6 tasks
    monkeypatch.setenv("SIMOFFLOAD_LIMIT_TASKS", "5")
    with pytest.raises(UserError, match=r"about 6, above the limit of 5 .*SIMOFFLOAD_LIMIT_TASKS=N"):
        parse_scenario(dict(data))
    parse_scenario(dict(data, limits={"tasks": 6}))  # the scenario's section wins
    monkeypatch.setenv("SIMOFFLOAD_LIMIT_TASKS", "lots")
    with pytest.raises(UserError, match="SIMOFFLOAD_LIMIT_TASKS: expected a positive integer"):
        parse_scenario(dict(data))


def test_policy_params_are_validated_and_coerced() -> None:
    from pydantic import ValidationError

    from simoffload.registry import PolicyNotFound, make_policy, resolve, validate_params

    assert validate_params("queue-aware", {"weight": "2e6", "job_s": "1e-3"}) == {"weight": 2e6, "job_s": 1e-3}
    assert make_policy("queue-aware", weight="2e6").weight == 2e6
    for bad in ({"weight": "abc"}, {"weight": -5}, {"weight": math.inf}, {"weight": True}, {"speed": 1}):
        with pytest.raises(ValidationError):
            validate_params("queue-aware", bad)
    with pytest.raises(PolicyNotFound, match=r"params\.weight: .*greater than or equal to 0 \(got -5\)"):
        make_policy("queue-aware", weight=-5)
    with pytest.raises(PolicyNotFound, match="abstract"):
        resolve("simoffload.policy:Policy")


def test_train_config_bad_value_is_one_line(tmp_path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("samples: 100\nepochs: -5\n")
    assert main(["train", "large-dil", "--config", str(cfg), "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {cfg}:2: epochs: ") and "(got -5)" in err


def test_sweep_scheduler_not_an_address_is_one_line(tmp_path, capsys: pytest.CaptureFixture) -> None:
    sc = tmp_path / "s.yaml"
    sc.write_text("name: s\nhorizon: 10\npolicies: [local]\nsweep: {grid: {seed: [1, 2]}}\n")
    rc = main(["sweep", str(sc), "--out", str(tmp_path / "o"), "--scheduler", "notanaddress", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "--scheduler notanaddress" in err and "Traceback" not in err
