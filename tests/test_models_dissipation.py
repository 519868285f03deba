"""Friction and driving forces: Rayleigh dissipation, generalized forces, the learned
damping model, the energy balance, and the learned damping coefficient in physical units."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from helpers import assert_close, rand
from lnn import data, io, metrics
from lnn.errors import DataError, ModelTypeError, ShapeError, SingularMassMatrixError
from lnn.mechanics import damping_rates, dissipated_power, rayleigh
from lnn.models import BlackBox, Dissipative, RayleighDissipation, with_dissipation
from lnn.training import TrainConfig, acceleration_loss, fit

# ------------------------------------------------------- accelerations, closed forms


def test_damped_pendulum_accelerations_match_closed_form():
    # θ̈ = −(g/l) sin θ − b θ̇ / (m l²), for several masses, lengths and dampings.
    q, qdot = rand(0, (50, 1), -3, 3), rand(1, (50, 1), -4, 4)
    for m, l, b in [(1.0, 1.0, 0.1), (0.3, 2.0, 1.7), (2.5, 0.4, 0.02)]:
        system = lnn.systems.get("damped_pendulum", m=m, l=l, b=b)
        want = -(9.8 / l) * np.sin(q) - b * qdot / (m * l**2)
        got = lnn.accelerations(system.lagrangian, q, qdot, dissipation=rayleigh([[b]]))
        assert_close(got, want, rtol=1e-12)
        assert_close(jax.vmap(system.acceleration)(jnp.asarray(q), jnp.asarray(qdot)), want, rtol=1e-12)
        assert_close(system.closed_form_accelerations(q, qdot), want, rtol=1e-12)


def test_driven_pendulum_accelerations_match_closed_form():
    # m l² θ̈ = −m g l sin θ − b θ̇ + τ, with τ = A cos Ωt from the system's drive.
    m, l, b, A, w = 0.7, 1.3, 0.25, 0.9, 1.7
    system = lnn.systems.get("damped_pendulum", m=m, l=l, b=b, drive=A, omega=w)
    q, qdot, t = rand(2, (40, 1), -3, 3), rand(3, (40, 1), -4, 4), rand(4, (40,), 0, 20)
    tau = jax.vmap(system.drive)(jnp.asarray(t))
    assert_close(tau[:, 0], A * np.cos(w * t), rtol=1e-14, scale=A)
    want = -(9.8 / l) * np.sin(q) - (b * qdot - A * np.cos(w * t)[:, None]) / (m * l**2)
    got = lnn.accelerations(system.lagrangian, q, qdot, dissipation=system.dissipation, force=tau)
    assert_close(got, want, rtol=1e-12)
    assert_close(jax.vmap(system.acceleration)(jnp.asarray(q), jnp.asarray(qdot), tau), want, rtol=1e-12)


def test_double_pendulum_with_damping_matrix_and_torques_matches_closed_form():
    # M q̈ = M q̈_conservative − K q̇ + τ with the double pendulum's known mass matrix.
    system = lnn.systems.get("double_pendulum")
    p = system.parameters
    q, qdot, tau = rand(5, (30, 2), -3, 3), rand(6, (30, 2), -3, 3), rand(7, (30, 2), -2, 2)
    K = np.array([[0.4, 0.1], [0.1, 0.2]])
    c = np.cos(q[:, 0] - q[:, 1])
    M = np.empty((30, 2, 2))
    M[:, 0, 0] = (p["m1"] + p["m2"]) * p["l1"] ** 2
    M[:, 1, 1] = p["m2"] * p["l2"] ** 2
    M[:, 0, 1] = M[:, 1, 0] = p["m2"] * p["l1"] * p["l2"] * c
    want = (
        np.asarray(system.closed_form_accelerations(q, qdot)) + np.linalg.solve(M, (tau - qdot @ K)[..., None])[..., 0]
    )
    D = rayleigh(K)
    got = jax.jit(lambda a, b, f: lnn.accelerations(system.lagrangian, a, b, dissipation=D, force=f))(q, qdot, tau)
    assert_close(got, want, rtol=1e-11)


def test_no_damping_and_no_drive_is_the_plain_pendulum():
    damped = lnn.systems.get("damped_pendulum", b=0.0)
    plain = lnn.systems.get("pendulum")
    q, qdot = rand(8, (20, 1), -3, 3), rand(9, (20, 1), -3, 3)
    assert damped.drive_fn is None
    assert_close(
        jax.vmap(damped.acceleration)(jnp.asarray(q), jnp.asarray(qdot)),
        plain.closed_form_accelerations(q, qdot),
        rtol=1e-13,
    )


def test_dissipated_power_is_twice_rayleigh_and_rates_are_K_over_M():
    K = np.array([[0.3, -0.1], [-0.1, 0.5]])
    D = rayleigh(K)
    q, qdot = rand(10, (25, 2)), rand(11, (25, 2), -3, 3)
    assert_close(
        jax.jit(lambda a, b: dissipated_power(D, a, b))(q, qdot), np.einsum("bi,ij,bj->b", qdot, K, qdot), rtol=1e-13
    )
    L = lambda q, v: 0.5 * v @ jnp.array([[2.0, 0.5], [0.5, 1.0]]) @ v - jnp.sum(q**2)
    assert_close(
        jax.jit(lambda a: damping_rates(L, D, a))(q[:3]),
        np.broadcast_to(np.linalg.solve([[2.0, 0.5], [0.5, 1.0]], K), (3, 2, 2)),
        rtol=1e-12,
    )


# ------------------------------------------------------------------------ rollouts


def _driven_oscillator(t, x0, v0, m, k, c, A, w):
    """Exact x(t) of m ẍ + c ẋ + k x = A cos ωt (underdamped): transient + steady state."""
    w0, g = np.sqrt(k / m), c / m
    H = (A / m) / (w0**2 - w**2 + 1j * g * w)  # steady state Re[H e^{iωt}]
    xp0, vp0 = H.real, (1j * w * H).real
    wd = np.sqrt(w0**2 - g**2 / 4)
    c1 = x0 - xp0
    c2 = (v0 - vp0 + 0.5 * g * c1) / wd
    return np.exp(-0.5 * g * t) * (c1 * np.cos(wd * t) + c2 * np.sin(wd * t)) + (H * np.exp(1j * w * t)).real


def test_driven_damped_oscillator_rollout_matches_exact_solution():
    m, k, c, A, w = 1.5, 4.0, 0.6, 0.8, 1.3
    spring = lnn.systems.get("spring", m=m, k=k)
    f = lnn.EulerLagrange(spring.lagrangian, 1, rayleigh([[c]]))
    ts = np.linspace(0.0, 10.0, 101)
    want = _driven_oscillator(ts, 0.5, -0.2, m, k, c, A, w)
    force = lambda t: jnp.stack([A * jnp.cos(w * t)])
    q, _ = lnn.rollout(f, [0.5], [-0.2], ts, solver=lnn.RK4(0.01), force=force)
    assert_close(q[:, 0], want, rtol=1e-7, scale=1.0)
    q, _ = lnn.rollout(
        f,
        [0.5],
        [-0.2],
        ts,
        solver=diffrax.Tsit5(),
        stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-10),
        force=force,
    )
    assert_close(q[:, 0], want, rtol=1e-7, scale=1.0)
    # Sampled torques, linearly interpolated between frames: second-order accurate in the spacing.
    fine = np.linspace(0.0, 10.0, 1001)
    q, _ = lnn.rollout(f, [0.5], [-0.2], fine, solver=lnn.RK4(0.01), force=(A * np.cos(w * fine))[:, None])
    assert_close(q[::10, 0], want, rtol=1e-4, scale=1.0)
    # Without the drive the transient decays to rest; with it the motion is the steady state.
    assert abs(float(q[-1, 0])) > 0.05


def test_per_trajectory_force_samples_drive_each_initial_condition():
    spring = lnn.systems.get("spring")
    ts = np.linspace(0.0, 2.0, 21)
    series = np.stack([np.zeros((21, 1)), np.ones((21, 1))])  # no push, then a constant push of 1
    q, _ = lnn.rollout(spring.lagrangian, np.zeros((2, 1)), np.zeros((2, 1)), ts, force=series)
    assert_close(q[0, :, 0], np.zeros(21), rtol=0, scale=1e-15)
    assert_close(q[1, :, 0], 1.0 - np.cos(ts), rtol=1e-9, scale=1.0)  # ẍ = −x + 1 from rest


# ------------------------------------------------------------------ energy balance


@pytest.fixture(scope="module")
def damped_motion():
    system = lnn.systems.get("damped_pendulum", b=0.2, drive=0.6, omega=2.5)
    ds = data.trajectories(system, jax.random.key(5), 3, duration=12.0, fps=20.0)
    T = ds.q.shape[0] // 3
    return system, ds.t[:T], ds.q.reshape(3, T, 1), ds.qdot.reshape(3, T, 1), ds.force.reshape(3, T, 1)


def test_energy_balance_holds_along_true_damped_and_driven_motion(damped_motion):
    system, ts, q, qdot, force = damped_motion
    bal = metrics.energy_balance(system.lagrangian, ts, q, qdot, dissipation=system.dissipation, force=force)
    scale = system.energy_scale
    assert np.max(np.abs(bal.residual)) < 1e-4 * scale
    assert np.all(np.diff(bal.dissipated, axis=-1) >= 0) and np.all(bal.dissipated[:, -1] > 0.1 * scale)
    assert np.max(np.abs(bal.work[:, -1])) > 0.1 * scale  # the drive did real work
    # Leaving a term out breaks the balance: it is not trivially satisfied.
    no_work = metrics.energy_balance(system.lagrangian, ts, q, qdot, dissipation=system.dissipation)
    assert np.max(np.abs(no_work.residual)) > 0.1 * scale


def test_undriven_damped_energy_decays_at_the_damping_rate():
    # Small swings: E − E_rest ∝ e^{−γ t} with γ = b / (m l²).
    system = lnn.systems.get("damped_pendulum", m=2.0, l=0.5, b=0.05)
    ts = np.linspace(0.0, 20.0, 401)
    q, qdot = lnn.rollout(
        system,
        [[0.05]],
        [[0.0]],
        ts,
        solver=diffrax.Tsit5(),
        stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-10),
    )
    E = np.asarray(system.energy(q, qdot))
    assert np.all(np.diff(E) <= 1e-12)
    rate = metrics.energy_decay_rate(ts, E, metrics.rest_energy(system))
    assert rate[0] == pytest.approx(0.05 / (2.0 * 0.25), rel=0.02)


def test_metrics_report_the_energy_balance_not_the_decay_as_error(key):
    system = lnn.systems.get("damped_pendulum", b=0.3)
    protocol = metrics.Protocol(n_initial=4, t_end=8.0, fps=20.0, solver=lnn.RK4(0.01))
    truth = metrics.true_rollouts(system, key=key, protocol=protocol)
    exact = metrics.evaluate(system, system, key=key, protocol=protocol, truth=truth).metrics
    frictionless = metrics.evaluate(
        lnn.systems.get("pendulum"), system, key=key, protocol=protocol, truth=truth
    ).metrics
    assert exact["energy_error"] < 1e-4 and exact["true_energy_error"] < 1e-4
    assert exact["energy_decay_rate"] == pytest.approx(exact["true_energy_decay_rate"], rel=1e-3)
    assert exact["true_energy_decay_rate"] > 0.1
    # A model without friction keeps its energy, which breaks the true balance by what friction took.
    assert frictionless["energy_error"] > 100 * exact["energy_error"]
    assert abs(frictionless["energy_decay_rate"]) < 0.05


# --------------------------------------------------------------- the learned model


def test_learned_damping_matrix_is_positive_semidefinite():
    model = RayleighDissipation(3, key=jax.random.key(1), angles=(True, False, True), network=True, width=8)
    # Random weights everywhere (the network's last layer starts at zero otherwise).
    leaves, tree = jax.tree.flatten(model)
    rng = np.random.default_rng(0)
    model = jax.tree.unflatten(
        tree, [jnp.asarray(rng.normal(size=x.shape)) if eqx.is_inexact_array(x) else x for x in leaves]
    )
    q, qdot = rand(12, (200, 3), -4, 4), rand(13, (200, 3), -4, 4)
    K = jax.vmap(model.matrix)(jnp.asarray(q))
    assert np.all(np.linalg.eigvalsh(K) >= -1e-12 * np.max(np.abs(K)))
    D = jax.vmap(model)(jnp.asarray(q), jnp.asarray(qdot))
    assert np.all(D >= 0)
    assert_close(D, 0.5 * np.einsum("bi,bij,bj->b", qdot, K, qdot), rtol=1e-12)
    assert float(jnp.std(K[:, 0, 0])) > 1e-3  # K really depends on q


def test_dissipative_model_composes_and_saves(tmp_path):
    lnn_model = lnn.LagrangianNN(2, key=jax.random.key(2), width=8, depth=1, angles=(True, True))
    model = with_dissipation(lnn_model, key=jax.random.key(3), rate=0.2)
    q, qdot = jnp.asarray(rand(14, (2,))), jnp.asarray(rand(15, (2,)))
    want = lnn.EulerLagrange(lnn_model.lagrangian, 2, model.dissipation).acceleration(q, qdot)
    assert_close(model.acceleration(q, qdot), want, rtol=1e-13)
    assert float(model.lagrangian(q, qdot)) == float(lnn_model.lagrangian(q, qdot))  # its Lagrangian is the LNN's
    # The initial damping rate is `rate` for the kinetic prior's mass matrix I/s².
    assert_close(model.dissipation.matrix(q), 0.2 * np.eye(2), rtol=1e-14)
    io.save_model(tmp_path / "m.eqx", model)
    loaded, _ = io.load_model(tmp_path / "m.eqx")
    assert isinstance(loaded, Dissipative)
    assert_close(loaded.acceleration(q, qdot), model.acceleration(q, qdot), rtol=0, scale=1e-300)


@pytest.mark.parametrize("kind", [lnn.LagrangianNN, lnn.StructuredLagrangian])
def test_dissipative_fast_path_equals_the_general_euler_lagrange_path(kind):
    # Friction as the force −∂D/∂q̇ through the model's own solve, against lnn.mechanics on L and D.
    model = with_dissipation(
        kind(2, key=jax.random.key(30), width=12, depth=2, angles=(True, False)),
        key=jax.random.key(31),
        network=True,
        width=5,
        rate=0.3,
    )
    q, qdot, tau = (jnp.asarray(rand(s, (8, 2), -2, 2)) for s in (32, 33, 34))
    general = lnn.EulerLagrange(model.model.lagrangian, 2, model.dissipation)
    batched = eqx.filter_jit(lambda m, *a: m.accelerations(*a))
    per_state = eqx.filter_jit(lambda m, *a: jax.vmap(m.acceleration)(*a))
    for extra in ((), (tau,)):
        want = per_state(general, q, qdot, *extra)
        assert_close(per_state(model, q, qdot, *extra), want, rtol=1e-10, scale=1.0)
        assert_close(batched(model, q, qdot, *extra), want, rtol=1e-10, scale=1.0)


def test_loss_gradient_through_dissipation_and_forces_matches_finite_differences():
    system = lnn.systems.get("damped_pendulum", b=0.4)
    q, qdot, tau = (jnp.asarray(rand(s, (6, 1), -2, 2)) for s in (16, 17, 18))
    qddot = jax.vmap(system.acceleration)(q, qdot, tau)
    model = with_dissipation(
        lnn.LagrangianNN(1, key=jax.random.key(4), width=6, depth=1, angles=(True,)),
        key=jax.random.key(5),
        network=True,
        width=4,
    )
    params, static = eqx.partition(model, eqx.is_inexact_array)
    rng = np.random.default_rng(1)
    params = jax.tree.map(lambda x: x + 0.1 * jnp.asarray(rng.normal(size=x.shape)), params)

    @jax.jit
    def loss(p):
        return acceleration_loss(eqx.combine(p, static), q, qdot, qddot, jnp.ones(1), "l2", tau)

    grads = jax.jit(jax.grad(loss))(params)
    flat = lambda t: jnp.concatenate([x.ravel() for x in jax.tree.leaves(t)])
    for _ in range(3):
        d = jax.tree.map(lambda x: jnp.asarray(rng.standard_normal(x.shape)), params)
        eps = 1e-6
        fd = (
            loss(jax.tree.map(lambda p, v, eps=eps: p + eps * v, params, d))
            - loss(jax.tree.map(lambda p, v, eps=eps: p - eps * v, params, d))
        ) / (2 * eps)
        analytic = jnp.dot(flat(grads), flat(d))
        assert abs(fd - analytic) <= 1e-6 * max(1.0, abs(analytic)), (fd, analytic)


def test_learned_damping_coefficient_is_within_ten_percent_of_the_truth():
    # Exact accelerations of a damped pendulum (b = 0.3 N·m·s/rad, m l² = 1 kg·m²); an
    # LNN + Rayleigh dissipation, a few hundred steps. The rate Γ = K/M is what motion
    # fixes; with the true inertia it becomes b in N·m·s/rad.
    b = 0.3
    system = lnn.systems.get("damped_pendulum", b=b)
    ds = data.random_states(system, jax.random.key(0), 1000)
    model = with_dissipation(
        lnn.LagrangianNN(1, key=jax.random.key(1), width=16, angles=(True,), qdot_scale=float(ds.qdot.std())),
        key=jax.random.key(2),
    )
    config = TrainConfig(steps=350, batch_size=128, warmup_steps=50, eval_every=350)
    model, history = fit(model, ds, key=jax.random.key(3), config=config, progress=False)
    report = metrics.damping_report(model, inertia=1.0)
    assert report["coefficient"][0][0] == pytest.approx(b, rel=0.10)
    assert report["rate"][0] == pytest.approx(b, rel=0.10)
    assert report["frequency"][0] == pytest.approx(np.sqrt(9.8), rel=0.05)
    assert report["damping_ratio"][0] == pytest.approx(b / (2 * np.sqrt(9.8)), rel=0.15)


def test_fit_trains_on_driven_trajectories(damped_motion):
    system, ts, q, qdot, force = damped_motion
    qddot = jax.vmap(jax.vmap(system.acceleration))(q, qdot, force)
    ds = data.Dataset(
        q.reshape(-1, 1),
        qdot.reshape(-1, 1),
        np.asarray(qddot).reshape(-1, 1),
        np.repeat(np.arange(3), len(ts)),
        np.tile(ts, 3),
        force=force.reshape(-1, 1),
    )
    model = with_dissipation(
        lnn.LagrangianNN(1, key=jax.random.key(6), width=8, depth=1, angles=(True,)), key=jax.random.key(7)
    )
    config = TrainConfig(steps=100, batch_size=64, warmup_steps=10, eval_every=50, val_fraction=0.34, chunk=25)
    _, history = fit(model, ds, key=jax.random.key(8), config=config, progress=False)
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    with pytest.raises(DataError, match="takes none|no generalized force"):
        fit(
            BlackBox(1, key=jax.random.key(0), width=4, depth=1),
            ds,
            key=jax.random.key(8),
            config=config,
            progress=False,
        )


# --------------------------------------------------------------------- bad input


@pytest.mark.wrong_types
def test_bad_forces_and_dampings_are_refused_with_a_fix():
    system = lnn.systems.get("pendulum")
    q = np.zeros((4, 1))
    with pytest.raises(ShapeError, match="one component per coordinate"):
        lnn.accelerations(system.lagrangian, q, q, force=np.zeros((4, 2)))
    ts = np.linspace(0, 1, 5)
    with pytest.raises(ShapeError, match=r"\(T, 1\)"):
        lnn.rollout(system.lagrangian, q, q, ts, force=np.zeros((4, 1)))
    with pytest.raises(ShapeError, match="do not fit"):
        lnn.rollout(system.lagrangian, q, q, ts, force=np.zeros((3, 5, 1)))
    with pytest.raises(ShapeError, match="must return shape"):
        lnn.rollout(system.lagrangian, q, q, ts, force=lambda t: jnp.zeros(2))
    with pytest.raises(DataError, match="NaN"):
        lnn.rollout(system.lagrangian, q, q, ts, force=np.full((5, 1), np.nan))
    with pytest.raises(ModelTypeError, match="no generalized force"):
        lnn.rollout(BlackBox(1, key=jax.random.key(0)), q, q, ts, force=np.zeros((5, 1)))
    with pytest.raises(ValueError, match="positive semi-definite"):
        rayleigh([[1.0, 0.0], [0.0, -0.5]])
    with pytest.raises(ValueError, match="positive semi-definite"):
        rayleigh([[1.0, 0.3], [0.0, 1.0]])  # not symmetric
    with pytest.raises(ShapeError, match="square"):
        rayleigh(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="b must be >= 0"):
        lnn.systems.get("damped_pendulum", b=-0.1)
    with pytest.raises(DataError, match="generate trajectories"):
        data.random_states(lnn.systems.get("damped_pendulum", drive=1.0), jax.random.key(0), 4)
    with pytest.raises(DataError, match="force has shape"):
        data.Dataset(q, q, q, np.arange(4), np.zeros(4), force=np.zeros((4, 2)))
    with pytest.raises(DataError, match="force has 1 row"):
        data.Dataset(q, q, q, np.arange(4), np.zeros(4), force=np.array([[0.0], [np.nan], [0], [0]]))
    model = with_dissipation(lnn.LagrangianNN(1, key=jax.random.key(0), width=4, depth=1), key=jax.random.key(1))
    with pytest.raises(ShapeError, match="inertia"):
        metrics.damping_report(model, inertia=np.ones((2, 2)))
    upside_down = Dissipative(lnn.EulerLagrange(lambda q, v: -0.5 * v @ v - q @ q, 1), model.dissipation)  # M = −1
    with pytest.raises(SingularMassMatrixError, match="not positive definite"):
        metrics.damping_report(upside_down)
    with pytest.raises(ValueError, match="damping rate must be positive"):
        RayleighDissipation(1, key=jax.random.key(0), rate=0.0)


def test_dataset_with_forces_saves_loads_and_subsets(tmp_path, damped_motion):
    _, ts, q, qdot, force = damped_motion
    ds = data.Dataset(
        q.reshape(-1, 1),
        qdot.reshape(-1, 1),
        qdot.reshape(-1, 1),
        np.repeat(np.arange(3), len(ts)),
        np.tile(ts, 3),
        {"note": "driven"},
        force=force.reshape(-1, 1),
    )
    loaded = data.load(data.save(ds, tmp_path / "d.npz"))
    np.testing.assert_array_equal(loaded.force, ds.force)
    assert data.load(data.save(ds.subset(np.arange(3)), tmp_path / "e.npz")).force.shape == (3, 1)
    a, b = data.split(ds, 0.34, jax.random.key(0))
    assert a.force.shape == a.q.shape and b.force.shape == b.q.shape


def test_experiments_build_an_lnn_with_friction():
    # `lnn train --model lnn+dissipation` and `lnn compare --models ...` go through build_model.
    system = lnn.systems.get("damped_pendulum")
    ds = data.Dataset(np.ones((4, 1)), np.ones((4, 1)), np.ones((4, 1)), np.arange(4), np.zeros(4))
    model = lnn.build_model("lnn+dissipation", ds, jax.random.key(0), angles=system.angles, width=8, depth=1)
    assert isinstance(model, Dissipative) and model.model.features.angles == (True,)
