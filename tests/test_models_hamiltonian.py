"""The Hamiltonian network: Hamilton's equations, state conversion, rollouts, derivative loss, saving."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from helpers import assert_close, rand
from lnn import io
from lnn.data import random_states
from lnn.models import HamiltonianNN
from lnn.training import derivative_loss, derivative_targets


class ClosedForm(eqx.Module):
    """Stands in for the MLP: H as a closed-form function of the model's features."""

    fn: callable = eqx.field(static=True)

    def __call__(self, x):
        return jnp.atleast_1d(self.fn(x))


def with_hamiltonian(fn, dof=1, angles=None, **kwargs):
    """An HNN whose H(q, p) is ``fn(features)`` exactly (unit scales, no kinetic term)."""
    model = HamiltonianNN(dof, key=jax.random.key(0), angles=angles, kinetic_prior=False, **kwargs)
    return eqx.tree_at(lambda m: m.mlp, model, ClosedForm(fn))


def test_hamiltons_equations_of_a_harmonic_oscillator():
    # H = ½ q² + ½ p²: q̇ = p, ṗ = −q; the motion from (1, 0) is q = cos t.
    model = with_hamiltonian(lambda x: 0.5 * x[0] ** 2 + 0.5 * x[1] ** 2)
    q, p = jnp.array([0.3]), jnp.array([-1.2])
    qdot, pdot = model.phase_field(q, p)
    assert_close(qdot, p, rtol=1e-14)
    assert_close(pdot, -q, rtol=1e-14)
    assert_close(model.acceleration(q, p), -q, rtol=1e-14)
    ts = np.linspace(0, 2 * np.pi, 41)
    qs, vs = lnn.rollout(model, jnp.array([[1.0]]), jnp.array([[0.0]]), ts, solver=lnn.RK4(0.01))
    assert_close(qs[0, :, 0], np.cos(ts), rtol=1e-8, scale=1.0)
    assert_close(vs[0, :, 0], -np.sin(ts), rtol=1e-8, scale=1.0)


def test_hamiltons_equations_of_a_pendulum_with_angle_features():
    # Features of an angle are (sin q, cos q, p): H = ½ p² − 9.8 cos q.
    model = with_hamiltonian(lambda x: 0.5 * x[2] ** 2 - 9.8 * x[1], angles=(True,))
    q, p = rand(0, (20, 1), -3, 3), rand(1, (20, 1), -5, 5)
    qdot, pdot = jax.vmap(model.phase_field)(jnp.asarray(q), jnp.asarray(p))
    assert_close(qdot, p, rtol=1e-13)
    assert_close(pdot, -9.8 * np.sin(q), rtol=1e-13)
    pendulum = lnn.systems.get("pendulum")  # m = l = 1, so p = q̇ is canonical here
    assert_close(jax.vmap(model.acceleration)(q, p), pendulum.closed_form_accelerations(q, p), rtol=1e-12)


def test_phase_field_is_the_symplectic_gradient_of_a_random_network():
    model = HamiltonianNN(
        2,
        key=jax.random.key(3),
        width=16,
        angles=(True, False),
        q_scale=2.0,
        qdot_scale=1.5,
        momentum_scale=3.0,
        dtype=jnp.float64,
    )
    q, p = jnp.array([0.4, -1.1]), jnp.array([2.0, -0.7])
    qdot, pdot = model.phase_field(q, p)
    h = 1e-6
    for i in range(2):
        e = jnp.zeros(2).at[i].set(h)
        dH_dq = (model.hamiltonian(q + e, p) - model.hamiltonian(q - e, p)) / (2 * h)
        dH_dp = (model.hamiltonian(q, p + e) - model.hamiltonian(q, p - e)) / (2 * h)
        assert float(qdot[i]) == pytest.approx(float(dH_dp), rel=1e-6, abs=1e-8)
        assert float(pdot[i]) == pytest.approx(-float(dH_dq), rel=1e-6, abs=1e-8)


def _true_relativistic_hamiltonian(x):
    # H = √(p² + 1) − 1 − g q for m = c = 1, g = 0.1 (features are q, p with unit scales).
    return jnp.sqrt(x[1] ** 2 + 1.0) - 1.0 - 0.1 * x[0]


@pytest.fixture(scope="module")
def relativistic():
    system = lnn.systems.get("relativistic")
    return system, random_states(system, jax.random.key(5), 256)


def test_true_momentum_and_true_hamiltonian_reproduce_the_relativistic_particle(relativistic):
    system, ds = relativistic
    model = with_hamiltonian(_true_relativistic_hamiltonian, momentum="canonical", true_system=system)
    q, v = jnp.asarray(ds.q), jnp.asarray(ds.qdot)
    p = jax.vmap(model.encode)(q, v)
    assert_close(p, v / np.sqrt(1 - ds.qdot**2), rtol=1e-13)  # γ m v
    # Round trip (q, q̇) -> (q, p) -> (q, q̇) through Hamilton's first equation.
    assert_close(jax.vmap(model.decode)(q, p), v, rtol=1e-12)
    # The true (q̇, ṗ) from the data: ṗ = m g, and the model's prediction agree.
    targets = derivative_targets(model, ds)
    assert_close(targets, np.concatenate([ds.qdot, np.full_like(ds.qdot, 0.1)], axis=1), rtol=1e-12)
    assert_close(jax.vmap(model.derivative)(q, v), targets, rtol=1e-12)
    assert derivative_loss(model, ds) < 1e-10
    assert_close(jax.vmap(model.acceleration)(q, v), system.closed_form_accelerations(q, v), rtol=1e-10)
    # Rollouts in (q, p), reported in (q, q̇), follow the true motion.
    ts = np.linspace(0, 5, 11)
    got = lnn.rollout(model, q[:3], v[:3], ts, solver=lnn.RK4(0.01))
    want = lnn.rollout(
        system.lagrangian,
        q[:3],
        v[:3],
        ts,
        solver=diffrax.Dopri8(),
        stepsize_controller=diffrax.PIDController(rtol=1e-11, atol=1e-11),
    )
    assert_close(got[0], want[0], rtol=1e-8, scale=1.0)
    assert_close(got[1], want[1], rtol=1e-8, scale=1.0)


def test_the_same_hamiltonian_fed_p_equal_qdot_is_wrong(relativistic):
    # With p = q̇ the true H predicts q̇ = v/√(v²+1) ≠ v: not canonical coordinates.
    system, ds = relativistic
    naive = with_hamiltonian(_true_relativistic_hamiltonian, momentum="velocity")
    q, v = jnp.asarray(ds.q), jnp.asarray(ds.qdot)
    assert_close(jax.vmap(naive.encode)(q, v), v, rtol=0)
    assert_close(jax.vmap(naive.decode)(q, v), v, rtol=0)  # the round trip is the identity
    targets = derivative_targets(naive, ds)
    assert_close(targets, np.concatenate([ds.qdot, ds.qddot], axis=1), rtol=0)  # ṗ = q̈ for p = q̇
    assert derivative_loss(naive, ds) > 0.1


def test_save_and_load_keep_the_momentum_and_the_system(tmp_path, relativistic):
    system, ds = relativistic
    model = HamiltonianNN(
        1,
        key=jax.random.key(1),
        width=8,
        momentum="canonical",
        true_system=system,
        q_scale=5.0,
        qdot_scale=0.6,
        momentum_scale=1.1,
    )
    io.save_model(tmp_path / "h.eqx", model)
    loaded, _ = io.load_model(tmp_path / "h.eqx")
    assert loaded.config() == model.config()
    assert loaded.config()["qdot_scale"] == 0.6 and loaded.config()["momentum_scale"] == 1.1
    q, v = jnp.asarray(ds.q[:8]), jnp.asarray(ds.qdot[:8])
    np.testing.assert_array_equal(jax.vmap(loaded.derivative)(q, v), jax.vmap(model.derivative)(q, v))


def test_bad_momentum_settings_are_refused():
    with pytest.raises(ValueError, match="true_system="):
        HamiltonianNN(1, key=jax.random.key(0), momentum="canonical")
    with pytest.raises(ValueError, match="unknown momentum"):
        HamiltonianNN(1, key=jax.random.key(0), momentum="kinetic")
    with pytest.raises(ValueError, match="2 coordinates"):
        HamiltonianNN(1, key=jax.random.key(0), momentum="canonical", true_system=lnn.systems.get("double_pendulum"))


def test_true_momentum_of_a_cartesian_system_works_under_jit():
    from lnn import data
    from lnn.training import derivative_targets

    system = lnn.systems.get("two_body")
    ds = data.random_states(system, jax.random.key(0), 20)
    model = lnn.build_model("hnn_true_p", ds, jax.random.key(1), angles=system.angles, width=8, true_system=system)
    targets = derivative_targets(model, ds)
    assert targets.shape == (20, 8)
    # The first half is q̇; the second the true ṗ = m q̈ (p = m q̇ for free masses).
    masses = np.repeat([system.parameters["m1"], system.parameters["m2"]], 2)
    np.testing.assert_allclose(targets[:, 4:], masses * ds.qddot, rtol=1e-10, atol=1e-12)
