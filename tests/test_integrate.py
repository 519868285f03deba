"""Rollouts: accuracy (energy conservation, order of convergence), inputs, batching, errors."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from helpers import assert_close, sample_states
from lnn.errors import ShapeError

OMEGA = 2.0  # spring with k = 4, m = 1


@pytest.fixture(scope="module")
def spring():
    return lnn.systems.get("spring", k=OMEGA**2, m=1.0)


@pytest.fixture(scope="module")
def spring_ic():
    x0 = jnp.array([[1.0], [-0.3], [0.0]])
    v0 = jnp.array([[0.0], [2.5], [-1.0]])
    return x0, v0


def exact_oscillator(x0, v0, ts):
    """x(t) = x0 cos ωt + v0/ω sin ωt and its derivative, shape (B, T, 1)."""
    t = jnp.asarray(ts)[None, :, None] - ts[0]
    x0, v0 = x0[:, None, :], v0[:, None, :]
    x = x0 * jnp.cos(OMEGA * t) + v0 / OMEGA * jnp.sin(OMEGA * t)
    v = -x0 * OMEGA * jnp.sin(OMEGA * t) + v0 * jnp.cos(OMEGA * t)
    return x, v


def oscillator(q, qdot):
    return -(OMEGA**2) * q


oscillator_dynamics = lnn.FunctionDynamics(oscillator, 1)


# ------------------------------------------------------------ energy conservation


def test_true_double_pendulum_conserves_energy_over_100_seconds(key):
    system = lnn.systems.get("double_pendulum")
    q0, qdot0 = sample_states(system, key, 3)
    ts = np.linspace(0.0, 100.0, 401)
    q, qdot = lnn.rollout(
        system.lagrangian,
        q0,
        qdot0,
        ts,
        solver=diffrax.Dopri8(),
        stepsize_controller=diffrax.PIDController(rtol=1e-12, atol=1e-12),
    )
    assert q.shape == qdot.shape == (3, 401, 2)
    assert np.all(np.isfinite(q)) and np.all(np.isfinite(qdot))
    E = system.energy(q, qdot)
    drift = np.abs(E - E[:, :1]) / system.energy_scale
    assert float(drift.max()) < 1e-8, f"relative energy drift {drift.max():.2e}"
    # The motions actually move (a frozen integrator would conserve energy too).
    assert np.all(np.ptp(np.asarray(q), axis=1) > 0.5)
    np.testing.assert_array_equal(q[:, 0], q0)
    np.testing.assert_array_equal(qdot[:, 0], qdot0)


# ----------------------------------------------------------- harmonic oscillator


def _max_error(x0, v0, ts, **kw):
    x, v = lnn.rollout(oscillator_dynamics, x0, v0, ts, **kw)
    xe, ve = exact_oscillator(x0, v0, ts)
    return float(jnp.max(jnp.abs(x - xe))), float(jnp.max(jnp.abs(v - ve)))


def test_rk4_converges_at_fourth_order(spring_ic):
    x0, v0 = spring_ic
    ts = np.linspace(0.0, 5.0, 6)
    errors = [_max_error(x0, v0, ts, solver=lnn.RK4(dt)) for dt in (0.1, 0.05, 0.025)]
    for coarse, fine in zip(errors, errors[1:], strict=False):
        for e_coarse, e_fine in zip(coarse, fine, strict=True):
            assert 1e-12 < e_fine < e_coarse
            assert 13.0 < e_coarse / e_fine < 19.0, f"halving dt divided the error by {e_coarse / e_fine:.2f}"


def test_rk4_matches_exact_solution(spring, spring_ic):
    x0, v0 = spring_ic
    ts = np.linspace(0.0, 4.0, 41)
    x, v = lnn.rollout(spring.lagrangian, x0, v0, ts, solver=lnn.RK4(1e-3))
    xe, ve = exact_oscillator(x0, v0, ts)
    assert x.shape == v.shape == (3, 41, 1)
    assert_close(x, xe, rtol=1e-10, scale=2.0)
    assert_close(v, ve, rtol=1e-10, scale=2.0 * OMEGA)


def test_rk4_with_uneven_output_times(spring_ic):
    x0, v0 = spring_ic
    ts = np.array([0.5, 0.51, 0.9, 2.0, 2.001, 3.7])  # starts at t = 0.5, uneven gaps
    x, v = lnn.rollout(oscillator_dynamics, x0, v0, ts, solver=lnn.RK4(1e-3))
    xe, ve = exact_oscillator(x0, v0, ts)
    assert_close(x, xe, rtol=1e-10, scale=2.0)
    assert_close(v, ve, rtol=1e-10, scale=2.0 * OMEGA)


def test_rk4_substeps_are_no_longer_than_dt(spring_ic):
    # One output interval of 1 s with dt = 0.1 must take 10 steps, not one 1-s step.
    x0, v0 = spring_ic
    ts = np.array([0.0, 1.0])
    e_fine = _max_error(x0, v0, ts, solver=lnn.RK4(0.1))[0]
    e_one_step = _max_error(x0, v0, ts, solver=lnn.RK4(1.0))[0]
    assert e_fine < 1e-3 * e_one_step


@pytest.mark.parametrize("solver", [diffrax.Tsit5(), diffrax.Dopri8()], ids=["tsit5", "dopri8"])
def test_adaptive_matches_exact_solution(spring, spring_ic, solver):
    x0, v0 = spring_ic
    ts = np.linspace(0.0, 10.0, 21)
    x, v = lnn.rollout(
        spring, x0, v0, ts, solver=solver, stepsize_controller=diffrax.PIDController(rtol=1e-11, atol=1e-11)
    )
    xe, ve = exact_oscillator(x0, v0, ts)
    assert_close(x, xe, rtol=1e-8, scale=2.0)
    assert_close(v, ve, rtol=1e-8, scale=2.0 * OMEGA)


# ------------------------------------------------------- what can be integrated


@pytest.fixture(scope="module")
def pendulum_case():
    system = lnn.systems.get("pendulum")
    q0 = jnp.array([[0.3], [-2.0]])
    qdot0 = jnp.array([[0.0], [1.5]])
    return system, q0, qdot0, np.linspace(0.0, 2.0, 21)


def test_lagrangian_system_and_dynamics_function_give_the_same_motion(pendulum_case):
    system, q0, qdot0, ts = pendulum_case
    rk4 = lnn.RK4(0.01)
    from_L = lnn.rollout(system.lagrangian, q0, qdot0, ts, solver=rk4)
    closed = lnn.FunctionDynamics(lambda q, v: system.closed_form_fn(q, v, **system.parameters), 1)
    from_f = lnn.rollout(closed, q0, qdot0, ts, solver=rk4)
    from_system = lnn.rollout(system, q0, qdot0, ts, solver=rk4)
    for a, b, c in zip(from_L, from_f, from_system, strict=True):
        assert_close(a, b, rtol=1e-11, scale=1.0)
        assert_close(a, c, rtol=1e-14, scale=1.0)
    # ...and the motion is the pendulum's, not something trivial.
    assert float(jnp.ptp(from_L[0][0])) > 0.5


def test_rollout_accepts_a_lagrangian_model(pendulum_case):
    _, q0, qdot0, ts = pendulum_case
    model = lnn.LagrangianNN(1, key=jax.random.key(0), width=16, depth=2, angles=(True,))
    as_model = lnn.rollout(model, q0, qdot0, ts, solver=lnn.RK4(0.05))
    as_function = lnn.rollout(model.lagrangian, q0, qdot0, ts, solver=lnn.RK4(0.05))  # the general path
    for a, b in zip(as_model, as_function, strict=True):
        assert a.shape == (2, 21, 1)
        assert np.all(np.isfinite(a))
        assert_close(a, b, rtol=1e-12, scale=1.0)
    assert not np.allclose(as_model[0][:, -1], q0)


def test_rollout_of_a_black_box_is_classical_rk4(pendulum_case):
    _, q0, qdot0, ts = pendulum_case
    model = lnn.BlackBox(1, key=jax.random.key(0), width=16, depth=2, angles=(True,), accel_scale=3.0)
    as_model = lnn.rollout(model, q0, qdot0, ts, solver=lnn.RK4(0.05))
    as_function = lnn.rollout(lnn.FunctionDynamics(model.acceleration, 1), q0, qdot0, ts, solver=lnn.RK4(0.05))
    for a, b in zip(as_model, as_function, strict=True):
        assert_close(a, b, rtol=1e-12, scale=1.0)
    # Classical RK4 by hand: the first output interval (0.1 s) is two steps of 0.05 s.
    f = model.acceleration

    def step(q, v, h):
        k1 = (v, f(q, v))
        k2 = (v + h / 2 * k1[1], f(q + h / 2 * k1[0], v + h / 2 * k1[1]))
        k3 = (v + h / 2 * k2[1], f(q + h / 2 * k2[0], v + h / 2 * k2[1]))
        k4 = (v + h * k3[1], f(q + h * k3[0], v + h * k3[1]))
        return (
            q + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]),
            v + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1]),
        )

    q, v = step(*step(q0[1], qdot0[1], 0.05), 0.05)
    np.testing.assert_allclose(as_model[0][1, 1], q, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(as_model[1][1, 1], v, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------- batching


coupled_pendula = lnn.FunctionDynamics(lambda q, qdot: -jnp.sin(q) + 0.5 * (q[::-1] - q) - 0.1 * qdot**2 * q[::-1], 2)
"""Two nonlinear pendula coupled by a spring (closed form, cheap to compile)."""


def test_batched_shapes_and_consistency():
    rng = np.random.default_rng(4)
    q0, qdot0 = rng.uniform(-2, 2, (4, 2)), rng.uniform(-1, 1, (4, 2))
    ts = np.linspace(0.0, 0.5, 6)
    qs, vs = lnn.rollout(coupled_pendula, q0, qdot0, ts, solver=lnn.RK4(0.01))
    assert qs.shape == vs.shape == (4, 6, 2)
    nested_q, nested_v = lnn.rollout(
        coupled_pendula, q0.reshape(2, 2, 2), qdot0.reshape(2, 2, 2), ts, solver=lnn.RK4(0.01)
    )
    assert nested_q.shape == nested_v.shape == (2, 2, 6, 2)
    np.testing.assert_allclose(nested_q.reshape(4, 6, 2), qs, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(nested_v.reshape(4, 6, 2), vs, rtol=1e-13, atol=1e-13)
    # Each motion is its own: coordinates and batch entries are not mixed up.
    assert not np.allclose(qs[0], qs[1]) and not np.allclose(qs[..., 0], qs[..., 1])
    single_q, single_v = lnn.rollout(coupled_pendula, q0[2], qdot0[2], ts, solver=lnn.RK4(0.01))
    assert single_q.shape == single_v.shape == (6, 2)
    np.testing.assert_allclose(single_q, qs[2], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(single_v, vs[2], rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(qs[:, 0], q0)
    np.testing.assert_array_equal(vs[:, 0], qdot0)
    assert qs.dtype == jnp.float64


def test_rollout_compiles_once_per_dynamics_and_shapes(spring_ic):
    # integrate.py promises "one compiled program per (dynamics, shapes, method)":
    # a second identical call must not trace the dynamics again.
    x0, v0 = spring_ic
    traces = []

    def f(q, qdot):
        traces.append(None)  # runs only while JAX traces f
        return -(OMEGA**2) * q

    f = lnn.FunctionDynamics(f, 1)
    ts = np.linspace(0.0, 1.0, 5)
    lnn.rollout(f, x0, v0, ts, solver=lnn.RK4(0.1))
    after_first = len(traces)
    assert after_first > 0
    lnn.rollout(f, x0, v0, ts, solver=lnn.RK4(0.1))
    assert len(traces) == after_first, "the second identical rollout re-traced (and recompiled) the dynamics"


def test_cached_rollouts_use_each_models_own_weights(pendulum_case):
    # The compiled program is shared between models of one structure; their weights
    # must be inputs to it, not constants baked in by the first call.
    _, q0, qdot0, ts = pendulum_case
    make = lambda seed: lnn.BlackBox(1, key=jax.random.key(seed), width=16, depth=2)
    a, b = make(1), make(2)
    qa = lnn.rollout(a, q0, qdot0, ts, solver=lnn.RK4(0.05))[0]
    qb = lnn.rollout(b, q0, qdot0, ts, solver=lnn.RK4(0.05))[0]
    assert not np.allclose(qa, qb)
    np.testing.assert_array_equal(lnn.rollout(a, q0, qdot0, ts, solver=lnn.RK4(0.05))[0], qa)
    # Two different functions of the same shapes are not confused either.
    q1 = lnn.rollout(lnn.FunctionDynamics(lambda q, v: -q, 1), q0, qdot0, ts, solver=lnn.RK4(0.05))[0]
    q2 = lnn.rollout(lnn.FunctionDynamics(lambda q, v: -4.0 * q, 1), q0, qdot0, ts, solver=lnn.RK4(0.05))[0]
    assert not np.allclose(q1, q2)


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize("dt", [0.0, -0.01, float("nan"), float("inf")])
def test_bad_dt_raises(dt):
    from lnn.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"time step dt must be positive"):
        lnn.RK4(dt)


@pytest.mark.parametrize("ts", [[0.0, 1.0, 1.0], [0.0, 2.0, 1.0], [1.0, 0.0], [0.0, float("nan")], [0.0, float("inf")]])
@pytest.mark.parametrize("solver", [lnn.RK4(), diffrax.Tsit5()], ids=["rk4", "tsit5"])
def test_non_increasing_or_nonfinite_times_raise(ts, solver, spring_ic):
    x0, v0 = spring_ic
    with pytest.raises(ValueError, match="strictly increasing"):
        lnn.rollout(oscillator_dynamics, x0, v0, ts, solver=solver)


@pytest.mark.wrong_types
@pytest.mark.parametrize("ts", [[0.0], [], [[0.0, 1.0]], 1.0])
def test_too_few_or_misshapen_times_raise_shape_error(ts, spring_ic):
    x0, v0 = spring_ic
    with pytest.raises(ShapeError, match="ts must be a 1-D array of at least 2 times"):
        lnn.rollout(oscillator_dynamics, x0, v0, ts)


def test_a_controller_with_rk4_is_refused(spring_ic):
    from lnn.errors import ConfigurationError

    x0, v0 = spring_ic
    with pytest.raises(ConfigurationError, match="Diffrax solver"):
        lnn.rollout(oscillator_dynamics, x0, v0, [0.0, 1.0], stepsize_controller=diffrax.PIDController(1e-6, 1e-6))


@pytest.mark.wrong_types
def test_something_that_is_no_dynamics_is_refused(spring_ic):
    from lnn.errors import ModelTypeError

    x0, v0 = spring_ic
    with pytest.raises(ModelTypeError, match="Lagrangian function"):
        lnn.rollout("spring", x0, v0, [0.0, 1.0])


def test_a_lagrangian_function_of_the_wrong_shape_is_reported(spring_ic):
    x0, v0 = spring_ic
    with pytest.raises((TypeError, ValueError)):
        lnn.rollout(lambda q, v: jnp.zeros(3), x0, v0, [0.0, 1.0])


def test_a_failed_adaptive_solve_is_nan_not_an_exception(spring_ic):
    x0, v0 = spring_ic
    blow_up = lnn.FunctionDynamics(lambda q, v: q**3 * 1e6, 1)
    q, _ = lnn.rollout(blow_up, x0, v0, [0.0, 10.0], solver=diffrax.Tsit5(), max_steps=64)
    assert not np.all(np.isfinite(q[:, -1]))


@pytest.mark.wrong_types
def test_mismatched_initial_state_raises(spring_ic):
    with pytest.raises(ShapeError):
        lnn.rollout(oscillator_dynamics, jnp.zeros((3, 1)), jnp.zeros((3, 2)), [0.0, 1.0])


def test_repeated_rollouts_of_the_same_shapes_do_not_recompile():
    compiles, recording = [], [True]
    # JAX has no public way to remove a listener, so this one switches itself off.
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, *_, **__: (
            compiles.append(name) if recording[0] and name.endswith("backend_compile_duration") else None
        )
    )
    q0 = np.full((5, 2), 0.1)
    ts = np.linspace(0, 1, 5)
    first = lnn.LagrangianNN(2, key=jax.random.key(0), width=8, angles=(True, True))
    lnn.rollout(first, q0, q0, ts)
    assert compiles, "the listener must see the first compilation"
    compiles.clear()
    # New weights, initial conditions and times of the same shapes reuse the program.
    second = lnn.LagrangianNN(2, key=jax.random.key(1), width=8, angles=(True, True))
    lnn.rollout(second, q0 + 0.2, -q0, ts + 1.0)
    recording[0] = False
    assert compiles == []
