"""Bandwidth estimators: hand-computed values on a small piecewise trace."""

from __future__ import annotations

import pytest

from simoffload.errors import UserError
from simoffload.net.bandwidth import ConstantBandwidth, PiecewiseBandwidth
from simoffload.net.channels import (
    make_estimator,
    measurement_samples,
    parse_estimator_spec,
)

# 4 on [0,1.5), 0 on [1.5,2), 2 on [2,3), 6 on [3,5), then holds 6.
# 1-s samples: [0,1)=4, [1,2)=(0.5*4+0.5*0)=2, [2,3)=2, [3,4)=6, [4,5)=6.
TRACE = PiecewiseBandwidth([0, 1.5, 2, 3, 5], [4, 0, 2, 6], after="hold")


def est(obj, t, model=TRACE):
    return make_estimator(obj).estimate(model, t)


def test_samples():
    assert list(measurement_samples(TRACE, 4.5, 1.0, 10)) == pytest.approx([4, 2, 2, 6])
    assert list(measurement_samples(TRACE, 4.5, 1.0, 2)) == pytest.approx([2, 6])
    assert list(measurement_samples(TRACE, 0.3, 0.1, 10)) == pytest.approx([4, 4, 4])  # 3*0.1 counts
    assert len(measurement_samples(TRACE, 0.99, 1.0, 10)) == 0


def test_oracle_is_the_true_current_rate():
    e = make_estimator("oracle")
    assert e.upper_bound
    assert e.estimate(TRACE, 1.7) == 0.0
    assert e.estimate(TRACE, 4.5) == 6.0


def test_last():
    assert est("last", 4.5) == pytest.approx(6.0)
    assert est("last", 2.0) == pytest.approx(2.0)  # window [1,2) just completed
    assert est("last", 1.99) == pytest.approx(4.0)
    assert est("last", 0.5) == 4.0  # no complete window yet: the probe at time 0
    assert est({"kind": "last", "sample_s": 0.5}, 2.0) == pytest.approx(0.0)  # [1.5,2) is the outage
    assert est({"last": {"sample_s": 2}}, 2.0) == pytest.approx((1.5 * 4 + 0.5 * 0) / 2)  # 3


def test_ewma():
    # alpha 0.5 over [4,2,2,6]: 4 -> 3 -> 2.5 -> 4.25
    assert est({"kind": "ewma", "alpha": 0.5}, 4.5) == pytest.approx(4.25)
    # lookback 2: [2,6]: 2 -> 4
    assert est({"kind": "ewma", "alpha": 0.5, "lookback": 2}, 4.5) == pytest.approx(4.0)
    # alpha 1 is "last"
    assert est({"ewma": {"alpha": 1.0}}, 3.2) == pytest.approx(2.0)
    # default alpha 0.3 over [4,2,2]: 4 -> 3.4 -> 2.98
    assert est("ewma", 3.0) == pytest.approx(2.98)


def test_harmonic():
    # window 3 at 4.5: [2,2,6] -> 3 / (1/2 + 1/2 + 1/6) = 18/7
    assert est({"kind": "harmonic", "window": 3}, 4.5) == pytest.approx(18 / 7)
    # default window 5, only 4 samples: 4 / (1/4 + 1/2 + 1/2 + 1/6) = 48/17
    assert est("harmonic", 4.5) == pytest.approx(48 / 17)
    # 2-s samples at t=4: [3, 4] -> 2 / (1/3 + 1/4) = 24/7
    assert est({"kind": "harmonic", "sample_s": 2, "window": 2}, 4.0) == pytest.approx(24 / 7)


def test_zero_samples_do_not_divide_by_zero():
    outage = PiecewiseBandwidth([0, 1, 2, 3], [5, 0, 5], after="hold")
    assert est("harmonic", 3.0, outage) == 0.0  # [5, 0, 5]: the harmonic mean's limit is 0
    assert est({"kind": "harmonic", "window": 1}, 3.0, outage) == pytest.approx(5.0)
    assert est("last", 2.5, outage) == 0.0
    assert est({"kind": "ewma", "alpha": 0.5}, 3.0, outage) == pytest.approx(3.75)  # 5 -> 2.5 -> 3.75
    dead = ConstantBandwidth(0.0)
    for k in ("oracle", "last", "ewma", "harmonic"):
        assert est(k, 10.0, dead) == 0.0


def test_estimators_are_pure_functions_of_model_and_time():
    for k in ("oracle", "last", "ewma", "harmonic"):
        e = make_estimator(k)
        first = e.estimate(TRACE, 4.5)
        e.estimate(TRACE, 1.0)
        e.estimate(TRACE, 100.0)
        assert e.estimate(TRACE, 4.5) == first


def test_spec_forms_and_errors():
    assert parse_estimator_spec("ewma") == parse_estimator_spec({"kind": "ewma"}) == parse_estimator_spec({"ewma": {}})
    assert parse_estimator_spec({"ewma": {"sample_s": "500 ms"}}).sample_s == 0.5
    for obj, field in [("median", "estimator.kind"), ({"kind": "ewma", "alpha": 0}, "estimator.alpha"),
                       ({"kind": "last", "window": 3}, "estimator.window"),
                       ({"kind": "harmonic", "window": 0}, "estimator.window"),
                       ({"kind": "last", "sample_s": 0}, "estimator.sample_s"),
                       ({"kind": "oracle", "foo": 1}, "estimator.foo")]:
        with pytest.raises(UserError) as exc:
            parse_estimator_spec(obj)
        assert str(exc.value).startswith(field), str(exc.value)
