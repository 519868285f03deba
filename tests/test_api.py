"""The public API: the curated top level, a user's own system end to end, and the float32 warning."""

import runpy
import warnings
from pathlib import Path
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from lnn.errors import ConfigurationError, PrecisionWarning

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_all_is_exactly_the_public_top_level():
    names = {
        name for name, value in vars(lnn).items() if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(lnn.__all__) - {"__version__", "errors", "systems"} == names
    assert len(lnn.__all__) == len(set(lnn.__all__))
    for name in (
        "System",
        "fit",
        "TrainConfig",
        "random_states",
        "trajectories",
        "evaluate",
        "rollout",
        "accelerations",
        "energy",
        "momenta",
        "noether_charge",
        "LagrangianNN",
        "StructuredLagrangian",
        "BlackBox",
        "HamiltonianNN",
        "Dissipative",
    ):
        assert name in lnn.__all__, name


def test_the_version_is_the_package_metadata():
    from importlib.metadata import version

    assert lnn.__version__ == version("lnn")


def _planar_spring(**overrides):
    def lagrangian(q, qdot, *, m, k):
        return 0.5 * m * qdot @ qdot - 0.5 * k * q @ q

    kwargs = dict(parameters={"m": 1.0, "k": 4.0}, q_low=(-1.0, -1.0), q_high=(1.0, 1.0), cartesian_pairs=[(0, 1)])
    return lnn.System("planar_spring", ("x", "y"), lagrangian, **{**kwargs, **overrides})


def test_a_users_system_needs_only_its_lagrangian():
    system = _planar_spring()
    q, qdot = system.sample_states(jax.random.key(0), 32)
    # Its dynamics are L's Euler–Lagrange equations: q̈ = −(k/m) q.
    np.testing.assert_allclose(system.accelerations(q, qdot), -4.0 * q, rtol=1e-12)
    # The energy scale is derived from the potential over the box: max ½ k |q|² at a corner.
    assert system.energy_scale == pytest.approx(0.5 * 4.0 * 2.0, rel=0.02)
    # with_parameters rebuilds it (no registry involved), and the derived scale follows.
    softer = system.with_parameters(k=1.0)
    np.testing.assert_allclose(softer.accelerations(q, qdot), -q, rtol=1e-12)
    assert softer.energy_scale == pytest.approx(system.energy_scale / 4, rel=1e-12)
    with pytest.raises(ConfigurationError, match="no parameter"):
        system.with_parameters(g=9.8)


def test_a_users_system_without_a_box_says_what_to_give():
    system = lnn.System("free", ("x",), lambda q, qdot: 0.5 * qdot @ qdot)
    with pytest.raises(ConfigurationError, match="q_low"):
        system.sample_configurations(jax.random.key(0), 4)
    with pytest.raises(ConfigurationError, match="energy_scale="):
        system.energy_scale  # noqa: B018
    angle = lnn.System("rotor", ("phi",), lambda q, qdot: 0.5 * qdot @ qdot, angles=(True,), energy_scale=1.0)
    assert angle.q_low == (-np.pi,) and angle.q_high == (np.pi,)  # an angle's box is the circle
    with pytest.raises(ConfigurationError, match="one bound per coordinate"):
        lnn.System("bad", ("x", "y"), lambda q, qdot: 0.0, q_low=(0,), q_high=(1,))


def test_a_users_system_trains_evaluates_and_finds_its_symmetry_through_the_top_level(capsys):
    # examples/own_system.py: data, an LNN, the energy protocol and symmetry search, all through lnn.*
    runpy.run_path(str(EXAMPLES / "own_system.py"), run_name="__main__")
    printed = capsys.readouterr().out
    energy_error = float(printed.split("energy error ")[1].split("%")[0]) / 100
    assert energy_error < 0.02
    # The only symmetry is the rotation of the plane (angular momentum): the spring breaks the translations.
    assert printed.strip().endswith("symmetries: ['rotate (x, y)']")


def test_float32_physics_says_so_once():
    system = lnn.systems.get("pendulum")
    with jax.enable_x64(False), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        lnn.random_states(system, jax.random.key(0), 8)
        lnn.random_states(system, jax.random.key(1), 8)
    messages = [str(w.message) for w in caught if issubclass(w.category, PrecisionWarning)]
    assert len(messages) == 1, messages
    assert "jax_enable_x64" in messages[0] and "data generation" in messages[0]


def test_float64_physics_says_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionWarning)
        data = lnn.random_states(lnn.systems.get("pendulum"), jax.random.key(0), 8)
    assert data.q.dtype == np.float64 and jnp.zeros(1).dtype == jnp.float64
