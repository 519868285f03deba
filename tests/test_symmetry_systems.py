"""The systems with continuous symmetries: two bodies on a spring, Kepler in Cartesian and polar coordinates.

Their Lagrangians and closed-form equations of motion are also checked against each
other for every registered system in test_mechanics.py; here: what is specific to them.
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from helpers import assert_close


def test_two_body_equations_of_motion_are_newtons_with_the_spring_force_by_hand():
    system = lnn.systems.get("two_body", m1=1.5, m2=0.5, k=3.0, r0=0.8, field=0.4)
    q = jnp.array([[0.3, -0.2, -0.5, 0.4]])
    qdot = jnp.array([[0.1, 0.7, -0.3, 0.2]])
    d = np.array([0.8, -0.6])  # r1 − r2, |d| = 1
    force_on_1 = -3.0 * (1.0 - 0.8) * d  # Hooke: −k (r − r0) d/r
    want = np.concatenate([force_on_1 / 1.5 + [0.4, 0.0], -force_on_1 / 0.5 + [0.4, 0.0]])[None]
    assert_close(system.closed_form_accelerations(q, qdot), want, rtol=1e-13)
    assert_close(lnn.accelerations(system.lagrangian, q, qdot), want, rtol=1e-12)


def test_kepler_samples_the_annulus_uniformly_by_area(key):
    system = lnn.systems.get("kepler", r_min=0.5, r_max=2.0)
    q = np.asarray(system.sample_configurations(key, 20000))
    r2 = np.sum(q**2, axis=1)
    assert r2.min() >= 0.25 - 1e-12 and r2.max() <= 4.0 + 1e-12
    assert np.mean(r2) == pytest.approx((0.25 + 4.0) / 2, rel=0.02)  # r² uniform
    assert abs(np.mean(np.arctan2(q[:, 1], q[:, 0]))) < 0.05
    # The energy-bounded sampler sees the well's depth: no state below −k/r_min.
    qs, vs = system.sample_states(key, 500)
    assert float(jnp.min(system.energy(qs, vs))) >= -system.energy_scale - 1e-12


def test_kepler_rejects_a_bad_annulus():
    with pytest.raises(ValueError, match="r_min"):
        lnn.systems.get("kepler", r_min=2.0, r_max=1.0)


def test_kepler_in_polar_and_cartesian_coordinates_is_the_same_motion():
    cart, polar = lnn.systems.get("kepler"), lnn.systems.get("kepler_polar")
    r, phi, rdot, phidot = 1.2, 0.4, 0.1, 0.6
    q_c = jnp.array([r * math.cos(phi), r * math.sin(phi)])
    v_c = jnp.array(
        [rdot * math.cos(phi) - r * phidot * math.sin(phi), rdot * math.sin(phi) + r * phidot * math.cos(phi)]
    )
    ts = np.linspace(0.0, 3.0, 31)
    qc, _ = lnn.rollout(cart.lagrangian, q_c, v_c, ts, solver=lnn.RK4(0.002))
    qp, _ = lnn.rollout(polar.lagrangian, jnp.array([r, phi]), jnp.array([rdot, phidot]), ts, solver=lnn.RK4(0.002))
    assert_close(jnp.hypot(qc[:, 0], qc[:, 1]), qp[:, 0], rtol=1e-7)
    assert_close(jnp.unwrap(jnp.arctan2(qc[:, 1], qc[:, 0])), qp[:, 1], rtol=1e-7, scale=1.0)
    # and the polar closed form agrees with the polar Lagrangian
    assert_close(
        polar.closed_form_accelerations(qp, jnp.ones_like(qp)),
        lnn.accelerations(polar.lagrangian, qp, jnp.ones_like(qp)),
        rtol=1e-12,
    )


def test_cartesian_pairs_are_declared():
    assert lnn.systems.get("two_body").cartesian_pairs == ((0, 1), (2, 3))
    assert lnn.systems.get("kepler").cartesian_pairs == ((0, 1),)
    assert lnn.systems.get("pendulum").cartesian_pairs == ()


@pytest.mark.parametrize("name", ["kepler", "kepler_polar"])
def test_kepler_motion_sampler_gives_orbits_that_stay_near_the_annulus(name, key):
    system = lnn.systems.get(name)
    q0, v0 = system.motion_sampler(key, 16, **system.parameters)
    assert q0.shape == v0.shape == (16, 2)
    assert bool(jnp.all(system.energy(q0, v0) < 0)), "bound orbits"
    q, _ = lnn.rollout(system.lagrangian, q0, v0, np.linspace(0, 5, 51), solver=lnn.RK4(0.005))
    r = jnp.hypot(q[..., 0], q[..., 1]) if name == "kepler" else q[..., 0]
    assert float(r.min()) > 0.35 and float(r.max()) < system.parameters["r_max"]


def test_two_body_motion_sampler_spins_about_a_resting_centre_of_mass(key):
    system = lnn.systems.get("two_body")
    p = system.parameters
    q0, v0 = system.motion_sampler(key, 16, **p)
    momentum = p["m1"] * v0[:, :2] + p["m2"] * v0[:, 2:]
    assert_close(momentum, np.zeros((16, 2)), rtol=1e-12, scale=1.0)
    q, _ = lnn.rollout(system.lagrangian, q0, v0, np.linspace(0, 5, 51), solver=lnn.RK4(0.01))
    assert float(jnp.max(jnp.abs(q))) <= p["half_width"], "the pair stays in its training box"
