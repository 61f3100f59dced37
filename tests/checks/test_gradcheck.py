"""gradcheck(): per-parameter rows, CS231n's bands, relu's kink, sampling large networks."""

from __future__ import annotations

import numpy as np
import pytest

import symbackprop as sb

RTOL_EXACT = 1e-9  # two float64 evaluations of one formula differ only by rounding


def test_gradcheck_rows_and_verdicts():
    net = sb.mlp([2, 2, 1], "tanh")
    result = sb.gradcheck(net, net.init_params(1), [[0.3, 0.4]], [[0.5]])
    assert result.ok and len(result.rows) == len(net.parameter_names())
    row = result.row("w1_1_1")
    assert row.verdict in (sb.Verdict.EXCELLENT, sb.Verdict.GOOD)
    assert row.analytic == pytest.approx(row.numeric, rel=1e-5)


@pytest.mark.parametrize(
    ("error", "verdict"),
    [(1e-9, "EXCELLENT"), (1e-5, "GOOD"), (1e-3, "SUSPICIOUS"), (0.5, "WRONG")],
)
def test_cs231n_bands(error, verdict):
    from symbackprop.checks.gradcheck import verdict_for

    assert verdict_for(error).name == verdict


def test_a_point_on_relus_kink_is_reported_as_a_kink_not_a_failure():
    net = sb.mlp([1, 1, 1], ["relu", "identity"])
    # z1_1 = w x + b = 0 exactly: central differences straddle the kink.
    params = {"w1_1_1": 1.0, "b1_1": -1.0, "w2_1_1": 1.0, "b2_1": 0.0}
    result = sb.gradcheck(net, params, [[1.0]], [[1.0]])
    assert result.row("w1_1_1").verdict is sb.Verdict.KINK
    assert result.ok


def test_gradcheck_samples_a_large_network():
    net = sb.mlp([50, 50, 3])
    result = sb.gradcheck(net, net.init_params(0), np.ones((2, 50)), np.zeros((2, 3)))
    assert result.sampled and len(result.rows) == 200 and result.ok


def test_a_true_zero_gradient_is_not_judged_against_the_quotients_rounding_noise():
    from symbackprop.checks.gradcheck import noise_floor, relative_error, verdict_for

    floor = noise_floor(1.0, 1.0, 6e-6)  # eps |L| / h is about 4e-11 here
    assert verdict_for(relative_error(0.0, 2e-11, floor)) in (sb.Verdict.EXCELLENT, sb.Verdict.GOOD)
    assert verdict_for(relative_error(0.0, 1e-3, floor)) is sb.Verdict.WRONG
    assert verdict_for(relative_error(1e-6, 2e-6, floor)) is sb.Verdict.WRONG


def test_a_bias_feeding_batch_norm_has_a_zero_gradient_that_gradcheck_accepts():
    net = sb.sequential(3, [sb.Dense(4), sb.BatchNorm(), "tanh", sb.Dense(2)], "mse")
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    result = sb.gradcheck(net, net.init_params(3), X, Y)
    bias_rows = [row for row in result.rows if row.name.startswith("0.bias")]
    assert all(abs(row.analytic) < 1e-12 for row in bias_rows)
    assert result.ok, [row for row in result.rows if not row.ok]
