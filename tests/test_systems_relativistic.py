"""The relativistic particle against special relativity written out by hand."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from helpers import assert_close


@pytest.fixture(scope="module")
def particle():
    return lnn.systems.get("relativistic", g=1.5)


def test_momentum_energy_and_acceleration_are_the_textbook_ones(particle):
    v = jnp.array([[0.0], [0.6], [-0.8], [0.99]])
    q = jnp.full_like(v, 2.0)
    gamma = 1 / np.sqrt(1 - np.asarray(v) ** 2)
    # p = γ m v, E = m c² (γ − 1) + V with V = −m g q, q̈ = g / γ³.
    assert_close(lnn.momenta(particle.lagrangian, q, v), gamma * v, rtol=1e-13, scale=1.0)
    assert_close(particle.energy(q, v), (gamma - 1 - 1.5 * 2.0)[:, 0], rtol=1e-13)
    want = 1.5 / gamma**3
    assert_close(lnn.accelerations(particle.lagrangian, q, v), want, rtol=1e-12)
    assert_close(particle.closed_form_accelerations(q, v), want, rtol=1e-13)
    assert float(want[1, 0]) == pytest.approx(1.5 * 0.8**3)


def test_harmonic_term_and_units():
    s = lnn.systems.get("relativistic", m=2.0, c=3.0, g=0.5, k=4.0)
    q, v = jnp.array([[1.0]]), jnp.array([[1.8]])  # v/c = 0.6
    want = (0.5 - 4.0 * 1.0 / 2.0) * 0.8**3
    assert_close(lnn.accelerations(s.lagrangian, q, v), [[want]], rtol=1e-12)
    assert_close(s.closed_form_accelerations(q, v), [[want]], rtol=1e-13)


def test_motion_from_rest_is_hyperbolic(particle):
    # Constant proper acceleration g from rest: v(t) = g t / √(1 + (g t)²),
    # x(t) = x0 + (√(1 + (g t)²) − 1) / g  (c = 1); |v| < c forever.
    ts = np.linspace(0.0, 8.0, 33)
    q, v = lnn.rollout(
        particle.lagrangian,
        jnp.array([[-5.0]]),
        jnp.array([[0.0]]),
        ts,
        solver=diffrax.Dopri8(),
        stepsize_controller=diffrax.PIDController(rtol=1e-11, atol=1e-11),
    )
    gt = 1.5 * ts
    assert_close(v[0, :, 0], gt / np.sqrt(1 + gt**2), rtol=1e-8, scale=1.0)
    assert_close(q[0, :, 0], -5.0 + (np.sqrt(1 + gt**2) - 1) / 1.5, rtol=1e-8, scale=1.0)
    energy = particle.energy(q, v)
    # γ reaches 12 here; 1 − v² loses digits, so 1e-8 of E rather than the solver tolerance.
    assert float(jnp.max(jnp.abs(energy - energy[:, :1]))) < 1e-8 * 10 * abs(float(energy[0, 0]))


def test_sampled_states_stay_below_the_speed_of_light_and_fill_the_energy_bound():
    system = lnn.systems.get("relativistic")
    q, v = system.sample_states(jax.random.key(0), 4000)
    speed = np.abs(np.asarray(v))
    # Kinetic energies up to 2.1 m c² (γ ≤ 3.1): Newtonian to relativistic speeds.
    assert speed.max() < 1.0
    assert speed.max() > 0.94
    assert np.mean(speed > 0.8) > 0.2 and np.mean(speed < 0.5) > 0.1
    assert abs(float(jnp.mean(jnp.sign(v)))) < 0.1  # both directions
    E = system.energy(q, v)
    assert float(jnp.max(E)) <= 1.1 * system.energy_scale * (1 + 1e-12)
    assert system.energy_scale == pytest.approx(1.0)  # m g × the box's half-width


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="c > 0"):
        lnn.systems.get("relativistic", c=0.0)
