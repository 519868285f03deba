"""The gallery systems (magnetic particle, spherical and triple pendulum, wave string) against physics
written out by hand: Lagrangian accelerations vs independent equations of motion over parameters,
conserved quantities of true rollouts, closed-form motions, and the samplers' guarantees."""

import functools
import math

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lnn
from helpers import assert_close
from lnn.systems import _spherical_pendulum as spherical_pendulum
from lnn.systems import _wave as wave

positive = st.floats(0.3, 3.0)


@functools.cache
def _states_and_check(name, n=None):
    """States sampled once (default parameters), and a compiled check taking the parameters as
    arrays: one compile per system however many examples hypothesis draws."""
    system = lnn.systems.get(name, **({} if n is None else {"n": n, "modes": 1}))
    q, qdot = system.sample_states(jax.random.key(1), 16)

    @jax.jit
    def both(p):
        L = lambda a, b: system.lagrangian_fn(a, b, **p)
        closed = jnp.vectorize(lambda a, b: system.closed_form_fn(a, b, **p), signature="(n),(n)->(n)")
        return lnn.accelerations(L, q, qdot), closed(q, qdot)

    return system, both


def _compare(name, params, n=None):
    """Euler–Lagrange and closed-form accelerations agree for these parameters."""
    system, both = _states_and_check(name, n)
    p = {**system.parameters, **params}
    got, want = both({k: jnp.asarray(v, dtype=float) for k, v in p.items() if k not in ("n", "modes")})
    assert float(jnp.max(jnp.abs(want))) > 0.1, "the states must exercise the dynamics"
    assert_close(got, want, rtol=1e-9)


@given(m=positive, charge=st.floats(-2.0, 2.0).filter(lambda e: abs(e) > 0.2), B=positive, trap=st.floats(-0.5, 0.5))
@settings(max_examples=10)
def test_magnetic_particle_is_the_lorentz_force(m, charge, B, trap):
    _compare("magnetic_particle", dict(m=m, charge=charge, B=B, trap=trap))


@given(m=positive, l=positive, g=st.floats(1.0, 20.0))
@settings(max_examples=10)
def test_spherical_pendulum_matches_its_equations_of_motion(m, l, g):
    _compare("spherical_pendulum", dict(m=m, l=l, g=g))


@given(m1=positive, m2=positive, m3=positive, l1=positive, l2=positive, l3=positive)
@settings(max_examples=10)
def test_triple_pendulum_matches_its_equations_of_motion(m1, m2, m3, l1, l2, l3):
    _compare("triple_pendulum", dict(m1=m1, m2=m2, m3=m3, l1=l1, l2=l2, l3=l3))


@given(n=st.sampled_from([3, 30]), density=positive, tension=positive, length=positive)
@settings(max_examples=8)
def test_wave_string_matches_the_discrete_wave_equation(n, density, tension, length):
    _compare("wave", dict(density=density, tension=tension, length=length), n=n)


# ------------------------------------------------------------ true rollouts


@pytest.mark.parametrize(
    "name, params, t_end",
    [
        ("magnetic_particle", {"trap": 0.3}, 10.0),
        ("triple_pendulum", {}, 5.0),
        ("wave", {"n": 32}, 3.0),
    ],
)
def test_true_rollouts_conserve_energy(name, params, t_end):
    system = lnn.systems.get(name, **params)
    q0, qdot0 = system.sample_states(jax.random.key(5), 4)
    ts = np.linspace(0.0, t_end, 51)
    q, qdot = lnn.rollout(
        system.lagrangian,
        q0,
        qdot0,
        ts,
        solver=diffrax.Dopri8(),
        stepsize_controller=diffrax.PIDController(rtol=1e-11, atol=1e-11),
    )
    E = np.asarray(system.energy(q, qdot))
    assert np.all(np.isfinite(E))
    moved = np.max(np.abs(np.asarray(q[:, -1] - q[:, 0])))
    assert moved > 0.1, "the rollouts must actually move"
    assert np.max(np.abs(E - E[:, :1])) < 1e-8 * system.energy_scale


def test_charged_particle_gyrates_on_a_circle_at_the_cyclotron_frequency():
    # Without a trap: a circle of radius v⊥/ω_c in the xy-plane, period 2π/ω_c, uniform drift along B.
    system = lnn.systems.get("magnetic_particle", m=2.0, charge=1.5, B=0.8)
    omega = 1.5 * 0.8 / 2.0
    q0 = jnp.array([[0.1, -0.2, 0.3]])
    v0 = jnp.array([[0.4, 0.1, 0.25]])
    period = 2 * math.pi / omega
    ts = np.linspace(0.0, period, 41)
    q, qdot = lnn.rollout(
        system.lagrangian,
        q0,
        v0,
        ts,
        solver=diffrax.Dopri8(),
        stepsize_controller=diffrax.PIDController(rtol=1e-11, atol=1e-11),
    )
    # Closed form: v(t) = R(−ω_c t) v⊥(0), x(t) = x(0) + (R(−ω_c t) − 1) J v⊥ / ω_c with J a quarter turn.
    c, s = np.cos(omega * ts), np.sin(omega * ts)
    vx = 0.4 * c + 0.1 * s
    vy = -0.4 * s + 0.1 * c
    x = 0.1 + (0.4 * s - 0.1 * c + 0.1) / omega
    y = -0.2 + (0.4 * c + 0.1 * s - 0.4) / omega
    z = 0.3 + 0.25 * ts
    assert_close(q[0], np.stack([x, y, z], -1), rtol=1e-8, scale=1.0)
    assert_close(qdot[0], np.stack([vx, vy, np.full_like(ts, 0.25)], -1), rtol=1e-8, scale=1.0)


def test_magnetic_mass_matrix_is_constant_but_the_mixed_term_is_not():
    system = lnn.systems.get("magnetic_particle", m=1.5, B=2.0)
    q, qdot = system.sample_states(jax.random.key(6), 16)
    M = lnn.mass_matrix(system.lagrangian, q, qdot)
    assert_close(M, np.broadcast_to(1.5 * np.eye(3), M.shape), rtol=1e-14, scale=1.0)
    # With no potential, every acceleration is the velocity-dependent magnetic force: ⊥ to v.
    a = lnn.accelerations(system.lagrangian, q, qdot)
    assert float(jnp.min(jnp.linalg.norm(a, axis=-1))) > 0
    assert_close(jnp.sum(a * qdot, axis=-1), np.zeros(16), rtol=1e-12, scale=1.0)
    # The energy contains no vector potential: E = ½ m |v|².
    assert_close(system.energy(q, qdot), 0.75 * jnp.sum(qdot**2, -1), rtol=1e-13)


def test_magnetic_near_rest_states_move_at_the_gyration_speed():
    system = lnn.systems.get("magnetic_particle", B=2.0, half_width=0.5)
    q, qdot = system.sample_near_rest(jax.random.key(7), 200)
    assert np.all(np.abs(q) <= 0.5)
    assert_close(jnp.linalg.norm(qdot, axis=-1), np.full(200, 1.0), rtol=1e-12)  # v₀ = eBa/m = 1


def test_magnetic_rejects_a_zero_field():
    with pytest.raises(ValueError, match="non-zero"):
        lnn.systems.get("magnetic_particle", B=0.0)


# ------------------------------------------------------------ spherical pendulum


@pytest.mark.parametrize("sampler", ["sample_states", "sample_near_rest"])
def test_spherical_pendulum_states_keep_off_the_poles_for_their_whole_motion(sampler):
    system = lnn.systems.get("spherical_pendulum")
    q0, qdot0 = getattr(system, sampler)(jax.random.key(8), 16)
    assert np.all(np.asarray(spherical_pendulum.stays_off_the_poles(q0, qdot0, system.parameters)))
    ts = np.linspace(0.0, 10.0, 401)
    q, qdot = lnn.rollout(
        system.lagrangian,
        q0,
        qdot0,
        ts,
        solver=diffrax.Dopri8(),
        stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-10),
    )
    theta = np.asarray(q[..., 0])
    margin = spherical_pendulum.POLE_MARGIN
    assert theta.min() >= margin - 1e-6 and theta.max() <= math.pi - margin + 1e-6
    # L_z = m l² sin²θ φ̇ is conserved (φ is cyclic).
    lz = np.sin(theta) ** 2 * np.asarray(qdot[..., 1])
    assert np.max(np.abs(lz - lz[:, :1])) < 1e-7
    E = np.asarray(system.energy(q, qdot))  # (the energy test for the other systems is above)
    assert np.max(np.abs(E - E[:, :1])) < 1e-7 * system.energy_scale


def test_spherical_pendulum_rejects_motions_through_the_pole_and_reports_the_singular_chart():
    system = lnn.systems.get("spherical_pendulum")
    # A planar swing (φ̇ = 0) passes through θ = 0: rejected by the sampler's criterion.
    q = jnp.array([[1.0, 0.3]])
    assert not bool(spherical_pendulum.stays_off_the_poles(q, jnp.array([[0.0, 0.0]]), system.parameters)[0])
    # At the pole the mass matrix m l² diag(1, sin²θ) is singular, and lnn says so.
    report = lnn.mass_matrix_report(system.lagrangian, jnp.array([[0.0, 0.3]]), jnp.array([[0.1, 0.2]]))
    assert not bool(report.positive_definite[0])
    with pytest.raises(lnn.errors.SingularMassMatrixError):
        lnn.check_mass_matrix(system.lagrangian, jnp.array([[0.0, 0.3]]), jnp.array([[0.1, 0.2]]))


def test_conical_pendulum_is_a_steady_motion():
    system = lnn.systems.get("spherical_pendulum", l=2.0)
    theta = 0.6
    w_phi = math.sqrt(9.8 / (2.0 * math.cos(theta)))  # φ̇² = g / (l cos θ)
    a = lnn.accelerations(system.lagrangian, jnp.array([theta, 1.0]), jnp.array([0.0, w_phi]))
    assert_close(a, np.zeros(2), rtol=1e-12, scale=1.0)


# ------------------------------------------------------------ triple pendulum


def test_triple_pendulum_small_oscillation_frequencies():
    # Equal masses and lengths: ω² l/g are the roots of λ³ − 9λ² + 18λ − 6 = 0.
    system = lnn.systems.get("triple_pendulum", l1=0.5, l2=0.5, l3=0.5)
    rest = jnp.zeros(3)
    M = lnn.mass_matrix(system.lagrangian, rest, rest)
    K = jax.hessian(system.potential)(rest)
    omega2 = np.sort(np.linalg.eigvals(np.linalg.solve(np.asarray(M), np.asarray(K))).real)
    want = np.sort(np.roots([1.0, -9.0, 18.0, -6.0]).real) * 9.8 / 0.5
    assert_close(omega2, want, rtol=1e-10)


# ------------------------------------------------------------ wave string


def test_a_standing_wave_oscillates_at_the_discrete_dispersion_relation():
    system = lnn.systems.get("wave", n=24, tension=2.0, density=0.5)
    n, k = 24, 3
    x = np.arange(n) / n
    h, c = 1.0 / n, 2.0
    omega = 2 * c / h * math.sin(math.pi * k / n)
    ts = np.linspace(0.0, 1.0, 21)
    q, _ = lnn.rollout(
        system.lagrangian,
        np.cos(2 * np.pi * k * x),
        np.zeros(n),
        ts,
        solver=diffrax.Dopri8(),
        stepsize_controller=diffrax.PIDController(rtol=1e-11, atol=1e-11),
    )
    assert_close(q, np.cos(omega * ts)[:, None] * np.cos(2 * np.pi * k * x)[None, :], rtol=1e-8, scale=1.0)
    assert wave.fundamental_period(system) == pytest.approx(0.5)


def test_wave_samplers_give_smooth_waves():
    system = lnn.systems.get("wave", n=64, modes=3)
    q, qdot = system.sample_states(jax.random.key(9), 50)
    for field, has_mean in ((q, False), (qdot, True)):
        spectrum = np.abs(np.fft.rfft(np.asarray(field), axis=-1))
        assert (np.max(spectrum[:, 0]) > 0.1 * np.max(spectrum)) == has_mean  # the velocity's uniform part
        assert np.max(spectrum[:, 4:]) < 1e-9 * np.max(spectrum)  # modes 1..3 only
    E = np.asarray(system.energy(q, qdot))
    assert E.max() <= 1.1 * system.energy_scale * (1 + 1e-12) and E.min() >= 0
    q0, qdot0 = system.sample_near_rest(jax.random.key(10), 20)
    assert np.all(np.asarray(qdot0) == 0)
    V = np.asarray(system.potential(q0))
    assert np.all((V >= 0.5 * system.energy_scale * (1 - 1e-12)) & (V <= system.energy_scale * (1 + 1e-12)))


@pytest.mark.parametrize(
    "params, match", [({"n": 2}, "n >= 3"), ({"n": 8, "modes": 5}, "modes"), ({"tension": -1.0}, "positive")]
)
def test_wave_rejects_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        lnn.systems.get("wave", **params)
