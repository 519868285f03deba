"""Metrics: the energy protocol, position error, valid-prediction time."""

import jax
import numpy as np
import pytest

import lnn
from lnn import metrics


def test_wrapped_difference_wraps_only_angles():
    from lnn._angles import wrapped_difference

    d = wrapped_difference([[3.0, 3.0]], [[-3.0, -3.0]], angles=(True, False))
    assert d[0, 0] == pytest.approx(6.0 - 2 * np.pi)
    assert d[0, 1] == pytest.approx(6.0)


def test_valid_prediction_time_is_first_crossing():
    ts = np.linspace(0, 9, 10)
    errors = np.array([[0, 0.1, 0.3, 0.1, 0.5, 0, 0, 0, 0, 0], [0] * 10, [np.nan] * 10], dtype=float)
    np.testing.assert_allclose(metrics.valid_prediction_time(ts, errors, 0.2), [2.0, 9.0, 0.0])


def test_true_system_passes_the_energy_protocol_with_tiny_error():
    system = lnn.systems.get("double_pendulum")
    protocol = metrics.Protocol(n_initial=6, t_end=20.0)
    ev = metrics.evaluate(system, system, key=jax.random.key(0), protocol=protocol)
    m = ev.metrics
    # RK4 at dt = 0.005 on the true dynamics: integrator error only, far below the paper's 0.43 %.
    assert m["energy_error"] < 1e-4
    assert m["failed"] == 0
    assert ev.q_pred.shape == (6, 201, 2)
    # The same dynamics from the same states: positions agree until chaos amplifies round-off.
    assert m["position_error_at"]["1"] < 1e-5
    assert m["valid_time"] > 5.0
    assert np.all(ev.energy_true[:, 0] <= 1.0 * system.energy_scale + 1e-9)  # started at rest


def test_a_blown_up_model_counts_as_failed_with_infinite_error():
    system = lnn.systems.get("pendulum")

    exploding = lnn.FunctionDynamics(lambda q, qdot: 100.0 * q**3, 1)  # escapes to infinity in finite time
    ev = metrics.evaluate(exploding, system, key=jax.random.key(1), protocol=metrics.Protocol(n_initial=4, t_end=10.0))
    assert ev.metrics["failed"] >= 1
    assert ev.metrics["energy_error"] == np.inf


def test_damped_model_shows_energy_error_proportional_to_damping():
    system = lnn.systems.get("spring")
    gamma = 0.01

    damped = lnn.FunctionDynamics(lambda q, qdot: -q - gamma * qdot, 1)
    protocol = metrics.Protocol(n_initial=5, t_end=10.0)
    ev = metrics.evaluate(damped, system, key=jax.random.key(2), protocol=protocol)
    # E(t) = E(0) e^{−γt} for light damping: relative loss ≈ 1 − e^{−0.1} ≈ 9.5 % of E(0) ≤ E_scale.
    e0 = ev.energy_pred[:, 0]
    expected = np.mean(e0 * (1 - np.exp(-gamma * 10.0))) / system.energy_scale
    assert ev.metrics["energy_error"] == pytest.approx(expected, rel=0.05)


def test_acceleration_error_is_zero_for_the_truth():
    system = lnn.systems.get("double_pendulum")
    q, qdot = system.sample_states(jax.random.key(3), 50)
    acc = system.closed_form_accelerations(q, qdot)
    err = metrics.acceleration_error(system, q, qdot, acc)
    assert err["accel_relative_error"] < 1e-12
