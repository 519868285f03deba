"""The built-in systems: registry, parameters, potentials, state sampling."""

import json
import math

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from helpers import assert_close, sample_states
from lnn.errors import LnnError, UnknownSystemError

SYSTEM_NAMES = lnn.systems.names()


def _potential(name, q, p):
    """V(q) written out by hand for each built-in system."""
    if name == "double_pendulum":
        return -(p["m1"] + p["m2"]) * p["g"] * p["l1"] * jnp.cos(q[..., 0]) - p["m2"] * p["g"] * p["l2"] * jnp.cos(
            q[..., 1]
        )
    if name in ("pendulum", "damped_pendulum"):
        return -p["m"] * p["g"] * p["l"] * jnp.cos(q[..., 0])
    if name == "spring":
        return 0.5 * p["k"] * q[..., 0] ** 2
    if name == "spring_chain":
        padded = np.pad(np.asarray(q), [(0, 0)] * (q.ndim - 1) + [(1, 1)])
        d = padded[..., 1:] - padded[..., :-1]
        return np.sum(0.5 * p["k"] * d**2 + 0.25 * p["beta"] * d**4, axis=-1)
    if name == "relativistic":
        return -p["m"] * p["g"] * q[..., 0] + 0.5 * p["k"] * q[..., 0] ** 2
    if name == "two_body":
        r = jnp.hypot(q[..., 0] - q[..., 2], q[..., 1] - q[..., 3])
        return 0.5 * p["k"] * (r - p["r0"]) ** 2 - p["field"] * (p["m1"] * q[..., 0] + p["m2"] * q[..., 2])
    if name == "kepler":
        return -p["k"] / jnp.hypot(q[..., 0], q[..., 1])
    if name == "kepler_polar":
        return -p["k"] / q[..., 0]
    if name == "triple_pendulum":
        return -p["g"] * (
            (p["m1"] + p["m2"] + p["m3"]) * p["l1"] * jnp.cos(q[..., 0])
            + (p["m2"] + p["m3"]) * p["l2"] * jnp.cos(q[..., 1])
            + p["m3"] * p["l3"] * jnp.cos(q[..., 2])
        )
    if name == "spherical_pendulum":
        return -p["m"] * p["g"] * p["l"] * jnp.cos(q[..., 0])
    if name == "magnetic_particle":
        return 0.5 * p["trap"] * (q[..., 2] ** 2 - 0.5 * (q[..., 0] ** 2 + q[..., 1] ** 2))
    if name == "wave":
        h = p["length"] / p["n"]
        return 0.5 * p["tension"] / h * jnp.sum((jnp.roll(q, -1, axis=-1) - q) ** 2, axis=-1)
    raise AssertionError(f"no hand-written potential for {name}; add one")


# ---------------------------------------------------------------------- registry


def test_names_are_sorted_unique_and_nonempty():
    names = lnn.systems.names()
    assert names == sorted(set(names))
    assert {"double_pendulum", "pendulum", "spring"} <= set(names)
    names.append("mutated")  # callers get a copy, not the registry
    assert "mutated" not in lnn.systems.names()


@pytest.mark.parametrize("name", SYSTEM_NAMES)
def test_get_returns_a_consistent_system(name):
    system = lnn.systems.get(name)
    assert system.name == name
    assert system.dof == len(system.coordinates) == len(system.angles) >= 1
    assert len(system.q_low) == len(system.q_high) == system.dof
    assert all(lo < hi for lo, hi in zip(system.q_low, system.q_high, strict=True))
    assert system.energy_scale > 0
    assert system.description
    summary = system.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["name"] == name and summary["dof"] == system.dof
    assert summary["parameters"] == dict(system.parameters)


@pytest.mark.parametrize("alias, name", [("harmonic_oscillator", "spring"), ("double-pendulum", "double_pendulum")])
def test_aliases(alias, name):
    assert lnn.systems.get(alias).name == name


def test_unknown_system_lists_valid_names():
    with pytest.raises(UnknownSystemError) as info:
        lnn.systems.get("tripple_pendulum")
    message = str(info.value)
    assert "tripple_pendulum" in message
    for name in SYSTEM_NAMES:
        assert name in message
    assert not message.startswith(("'", '"')), "message must not be quoted like a bare KeyError"
    assert isinstance(info.value, KeyError) and isinstance(info.value, LnnError)


def test_get_with_parameters():
    system = lnn.systems.get("pendulum", l=2.0, g=3.0)
    assert system.parameters == {"m": 1.0, "l": 2.0, "g": 3.0}
    q = jnp.array([[0.4], [-1.0]])
    np.testing.assert_allclose(system.closed_form_accelerations(q, jnp.zeros_like(q)), -1.5 * jnp.sin(q))


def test_get_with_unknown_parameter_raises():
    with pytest.raises(ValueError, match="pendulum"):
        lnn.systems.get("pendulum", mass=2.0)


def test_with_parameters_changes_dynamics_and_keeps_original():
    base = lnn.systems.get("pendulum")
    heavy = base.with_parameters(g=2.0)
    assert heavy.parameters["g"] == 2.0 and base.parameters["g"] == 9.8
    q, qdot = jnp.array([[0.5]]), jnp.array([[0.0]])
    assert_close(lnn.accelerations(heavy.lagrangian, q, qdot), -2.0 * jnp.sin(q), rtol=1e-13)
    assert_close(lnn.accelerations(base.lagrangian, q, qdot), -9.8 * jnp.sin(q), rtol=1e-13)


def test_with_parameters_unknown_parameter_raises_naming_it():
    system = lnn.systems.get("double_pendulum")
    with pytest.raises(ValueError) as info:
        system.with_parameters(m3=1.0, g=1.0)
    message = str(info.value)
    assert "m3" in message
    for p in system.parameters:
        assert p in message


CHANGES = {
    "double_pendulum": {"m1": 2.0, "l2": 0.5},
    "pendulum": {"g": 3.0, "m": 0.5},
    "spring": {"k": 4.0},
    "spring_chain": {"k": 2.0, "beta": 0.5, "n": 3},
    "damped_pendulum": {"g": 3.0, "b": 0.3},
    "relativistic": {"g": 2.0, "k": 0.5},
    "two_body": {"k": 2.0, "field": 0.7, "half_width": 1.5},
    "kepler": {"k": 3.0, "r_min": 0.3},
    "kepler_polar": {"k": 3.0, "r_min": 0.3},
    "triple_pendulum": {"m3": 2.0, "l1": 0.5},
    "spherical_pendulum": {"l": 2.0, "g": 3.0},
    "magnetic_particle": {"trap": 0.2, "B": 2.0},
    "wave": {"tension": 2.0, "amplitude": 0.5},
}
# Systems whose energy_scale is not the largest potential energy over their box (see their
# modules and the tests at the end of this file): a magnetic field does no work, and a
# string's box of n coordinates has 3^n corners.
SCALE_NOT_MAX_POTENTIAL = {"magnetic_particle", "wave"}
BOX_SCALED = [name for name in SYSTEM_NAMES if name not in SCALE_NOT_MAX_POTENTIAL]


@pytest.mark.parametrize("name", BOX_SCALED)
def test_with_parameters_updates_energy_scale(name):
    # energy_scale is "the maximum potential energy"; it normalises energy errors and
    # sets the default sampling energy, so it must follow the parameters.
    changes = CHANGES[name]
    changed = lnn.systems.get(name).with_parameters(**changes)
    rebuilt = lnn.systems.get(name, **changes)
    assert changed.parameters == rebuilt.parameters
    assert changed.energy_scale == pytest.approx(_max_potential_over_box(changed), rel=1e-12)
    assert changed.energy_scale == pytest.approx(rebuilt.energy_scale, rel=1e-12)


# --------------------------------------------------------------------- potential


@pytest.mark.parametrize("name", SYSTEM_NAMES)
def test_potential_matches_closed_form(name, key):
    system = lnn.systems.get(name)
    q = system.sample_configurations(key, 50)
    got = system.potential(q)
    assert got.shape == (50,)
    assert_close(got, _potential(name, q, system.parameters), rtol=1e-13, scale=system.energy_scale)
    # Batched over any leading axes.
    assert_close(system.potential(q.reshape(5, 10, -1)), got.reshape(5, 10), rtol=1e-14)


def _max_potential_over_box(system):
    if system.name.startswith("kepler"):
        # V = −k/r is unbounded below; the domain is r_min ≤ r ≤ r_max and the energy
        # scale is the depth of the well there, |V(r_min)|.
        return float(system.parameters["k"] / system.parameters["r_min"])
    # For the other built-in systems the maximum sits on a corner or the centre of the box.
    corners = np.meshgrid(*[[lo, 0.5 * (lo + hi), hi] for lo, hi in zip(system.q_low, system.q_high, strict=True)])
    grid = np.stack([c.ravel() for c in corners], axis=-1)
    return float(jnp.max(system.potential(grid)))


@pytest.mark.parametrize("name", BOX_SCALED)
@pytest.mark.parametrize("custom", [False, True], ids=["default", "custom"])
def test_energy_scale_is_the_maximum_potential_over_the_box(name, custom):
    system = lnn.systems.get(name, **(CHANGES[name] if custom else {}))
    assert _max_potential_over_box(system) == pytest.approx(system.energy_scale, rel=1e-12)
    q = system.sample_configurations(jax.random.key(0), 1000)
    assert float(jnp.max(jnp.abs(system.potential(q)))) <= system.energy_scale * (1 + 1e-12)


# ---------------------------------------------------------------------- sampling


@pytest.mark.parametrize("name", SYSTEM_NAMES)
def test_sample_states_shapes_box_and_default_energy_bound(name, key):
    system = lnn.systems.get(name)
    q, qdot = sample_states(system, key, 400)
    assert q.shape == qdot.shape == (400, system.dof)
    assert q.dtype == qdot.dtype == jnp.float64
    assert np.all(np.isfinite(q)) and np.all(np.isfinite(qdot))
    assert np.all(q >= np.asarray(system.q_low)) and np.all(q <= np.asarray(system.q_high))
    E = system.energy(q, qdot)
    e_max = 1.1 * system.energy_scale
    assert float(jnp.max(E)) <= e_max * (1 + 1e-12)
    # The bound is used, not just respected: energies fill up to near it, and
    # states are not all at rest.
    assert float(jnp.max(E)) > 0.9 * e_max
    assert float(jnp.mean(jnp.abs(qdot))) > 0.1


@pytest.mark.parametrize("name", SYSTEM_NAMES)
@pytest.mark.parametrize("fraction", [2.0, 1.0, 0.3])
def test_sample_states_respects_max_energy(name, fraction, key):
    system = lnn.systems.get(name)
    max_energy = fraction * system.energy_scale
    q, qdot = sample_states(system, key, 300, max_energy=max_energy)
    E = system.energy(q, qdot)
    worst = float(jnp.max(E))
    assert worst <= max_energy + 1e-12 * system.energy_scale, (
        f"{name}: a sampled state has energy {worst:.4g} > max_energy {max_energy:.4g}"
    )


def test_sample_states_is_deterministic_given_the_key(key):
    system = lnn.systems.get("double_pendulum")
    a = sample_states(system, key, 20)
    b = sample_states(system, key, 20)
    c = sample_states(system, jax.random.fold_in(key, 1), 20)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0])
    assert not np.allclose(a[1], c[1])


def test_sample_configurations_is_uniform_over_the_box(key):
    system = lnn.systems.get("spring", amplitude=2.0)
    q = np.asarray(system.sample_configurations(key, 20000))[:, 0]
    assert q.min() >= -2.0 and q.max() < 2.0
    # Uniform on [-2, 2): mean 0, std 4/√12; each quarter holds a quarter.
    assert abs(q.mean()) < 0.05
    assert q.std() == pytest.approx(4 / math.sqrt(12), rel=0.02)
    counts, _ = np.histogram(q, bins=4, range=(-2, 2))
    assert np.all(np.abs(counts / q.size - 0.25) < 0.02)


def test_sample_near_rest(key):
    system = lnn.systems.get("double_pendulum")
    sample = jax.jit(system.sample_near_rest, static_argnums=1)
    q, qdot = sample(key, 50)
    assert q.shape == qdot.shape == (50, 2)
    assert np.all(qdot == 0)
    assert np.all(q >= -math.pi) and np.all(q <= math.pi) and float(jnp.std(q)) > 1.0
    _, qdot2 = sample(key, 4000, speed=0.5)
    assert float(jnp.std(qdot2)) == pytest.approx(0.5, rel=0.05)
    assert abs(float(jnp.mean(qdot2))) < 0.05


@pytest.mark.wrong_types
@pytest.mark.parametrize("name", SYSTEM_NAMES)
def test_closed_form_accelerations_check_shapes(name):
    system = lnn.systems.get(name)
    with pytest.raises(lnn.errors.ShapeError):
        system.closed_form_accelerations(jnp.zeros(system.dof), jnp.zeros(system.dof + 1))


# ------------------------------------------------------------------ spring chain


def test_spring_chain_normal_mode_oscillates_at_its_frequency():
    # Linear chain of n masses between walls: mode j is q_i = sin(i j π/(n+1)) cos(ω_j t),
    # ω_j = 2 √(k/m) sin(j π / (2(n+1))) — an independent check of L and the integrator.
    n, k, m, j = 6, 2.0, 0.5, 2
    system = lnn.systems.get("spring_chain", n=n, k=k, m=m)
    shape = np.sin(np.arange(1, n + 1) * j * np.pi / (n + 1))
    omega = 2 * math.sqrt(k / m) * math.sin(j * math.pi / (2 * (n + 1)))
    ts = np.linspace(0, 3 * 2 * math.pi / omega, 31)
    q, _ = lnn.rollout(system.lagrangian, 0.3 * shape[None], np.zeros((1, n)), ts, solver=diffrax.Tsit5())
    assert_close(q[0], 0.3 * shape[None] * np.cos(omega * ts)[:, None], rtol=1e-7, scale=0.3)


def test_fput_chain_accelerations_match_closed_form(key):
    system = lnn.systems.get("spring_chain", n=16, beta=1.5, k=0.7)
    q, qdot = sample_states(system, key, 32)
    assert_close(lnn.accelerations(system.lagrangian, q, qdot), system.closed_form_accelerations(q, qdot), rtol=1e-10)
    # The quartic term matters at these amplitudes.
    linear = system.with_parameters(beta=0.0)
    assert not np.allclose(linear.closed_form_accelerations(q, qdot), system.closed_form_accelerations(q, qdot))


@pytest.mark.wrong_types
@pytest.mark.parametrize("n", [0, 2.5])
def test_spring_chain_needs_a_whole_number_of_masses(n):
    with pytest.raises(ValueError, match="whole number"):
        lnn.systems.get("spring_chain", n=n)


@pytest.mark.parametrize("custom", [False, True], ids=["default", "custom"])
def test_magnetic_energy_scale_is_a_gyration_at_the_box_half_width_plus_the_trap(custom):
    system = lnn.systems.get("magnetic_particle", **(CHANGES["magnetic_particle"] if custom else {}))
    p = system.parameters
    omega_c = p["charge"] * p["B"] / p["m"]
    speed = omega_c * p["half_width"]  # gyroradius v/ω_c = a
    trap_max = float(jnp.max(system.potential(system.sample_configurations(jax.random.key(0), 20000))))
    assert system.energy_scale == pytest.approx(0.5 * p["m"] * speed**2 + 0.5 * p["trap"] * p["half_width"] ** 2)
    assert trap_max <= 0.5 * p["trap"] * p["half_width"] ** 2 + 1e-12
    if custom:
        assert trap_max > 0.9 * 0.5 * p["trap"] * p["half_width"] ** 2


@pytest.mark.parametrize("custom", [False, True], ids=["default", "custom"])
def test_wave_energy_scale_is_the_fundamental_mode_at_the_amplitude(custom):
    system = lnn.systems.get("wave", **(CHANGES["wave"] if custom else {}))
    p = system.parameters
    x = np.arange(p["n"]) / p["n"]
    mode = p["amplitude"] * np.sin(2 * np.pi * x)
    assert system.energy_scale == pytest.approx(float(system.potential(mode)), rel=1e-12)
    # ... which tends to the continuous string's π² T a² / ℓ.
    assert system.energy_scale == pytest.approx(np.pi**2 * p["tension"] * p["amplitude"] ** 2 / p["length"], rel=1e-3)
