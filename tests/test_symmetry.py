"""Noether charges, invariance defects and symmetry discovery, on closed-form Lagrangians."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from helpers import assert_close, rand
from lnn import symmetry as sym
from lnn.errors import LnnError, SymmetryError


def _states(system, n=300, seed=0):
    return system.sample_states(jax.random.key(seed), n)


@functools.cache
def _discover_cached(name, params):
    system = lnn.systems.get(name, **dict(params))
    q, qdot = _states(system)
    return system, sym.discover(system.lagrangian, sym.candidates(system), q, qdot)


def _discover(name, **params):
    """The closed-form system and its discovery on 300 states (computed once per test session)."""
    return _discover_cached(name, tuple(sorted(params.items())))


# ------------------------------------------------------------------ discovery


def test_two_body_has_exactly_two_translations_and_one_rotation():
    _, found = _discover("two_body")
    assert len(found.symmetries) == 3
    assert [s.kind for s in found.symmetries] == ["translation", "translation", "rotation"]
    names = [c.name for c in found.candidates]
    want = np.zeros((3, len(names)))
    want[0, [names.index("translate x1"), names.index("translate x2")]] = 1  # total momentum, x
    want[1, [names.index("translate y1"), names.index("translate y2")]] = 1  # total momentum, y
    want[2, [names.index("rotate (x1, y1)"), names.index("rotate (x2, y2)")]] = 1  # angular momentum
    np.testing.assert_allclose(np.stack([s.coefficients for s in found.symmetries]), want, atol=1e-10)
    assert all(s.score < 1e-12 for s in found.symmetries)
    # a clear gap: the 4th singular value is O(0.1), the first three round-off
    assert found.singular_values[3] > 0.05 and found.gap > 1e10
    # no candidate alone is a symmetry: each body feels the spring
    assert np.all(found.scores > 0.05)


def test_a_uniform_field_along_x_breaks_x_translation_and_rotation():
    system, found = _discover("two_body", field=1.0)
    assert len(found.symmetries) == 1
    (only,) = found.symmetries
    assert only.label == "translate y1 + translate y2"
    q, qdot = _states(system)
    total_x = lambda q: jnp.array([1.0, 0.0, 1.0, 0.0])
    assert sym.symmetry_score(system.lagrangian, total_x, q, qdot) > 2 * sym.DEFAULT_THRESHOLD


@pytest.mark.parametrize("name", ["pendulum", "double_pendulum", "spring"])
def test_no_symmetry_is_invented_where_there_is_none(name):
    _, found = _discover(name)
    assert found.symmetries == ()
    assert found.singular_values.min() > 0.1


def test_central_force_has_the_rotation_in_cartesian_and_a_cyclic_angle_in_polar_coordinates():
    _, cartesian = _discover("kepler")
    assert [s.label for s in cartesian.symmetries] == ["rotate (x, y)"]
    _, polar = _discover("kepler_polar")
    assert [s.label for s in polar.symmetries] == ["translate phi"]


def test_user_given_generator_and_scaling_symmetry():
    # L = ½|q̇|² + cos y: x is cyclic; the user's shear ξ = (y, 0) changes T by q̇ₓq̇ᵧ, and
    # scalings change T, so only the x-translation survives.
    L = lambda q, v: 0.5 * jnp.dot(v, v) - jnp.cos(q[1])
    q, qdot = rand(0, (200, 2), -2, 2), rand(1, (200, 2), -1, 1)
    cands = sym.candidates(coordinates=("x", "y"), extra={"shear": lambda q: jnp.array([q[1], 0.0])})
    found = sym.discover(L, cands, q, qdot)
    assert [s.label for s in found.symmetries] == ["translate x"]
    assert [c.kind for c in cands] == ["translation", "translation", "scaling", "scaling", "user"]


def test_a_total_derivative_hides_symmetries_and_the_even_part_restores_them():
    # L' = L + dG/dt has the same motions as L; with G = sin(x1) y2 + 0.3 x1², δL' ≠ 0
    # for the translations and the rotation (quasi-symmetries). Its time-reversal-even
    # part is L again.
    system = lnn.systems.get("two_body")
    q, qdot = _states(system)
    G = lambda q: jnp.sin(q[0]) * q[3] + 0.3 * q[0] ** 2
    gauged = lambda q, v: system.lagrangian(q, v) + jnp.dot(jax.grad(G)(q), v)
    assert_close(
        lnn.accelerations(gauged, q[:20], qdot[:20]), system.closed_form_accelerations(q[:20], qdot[:20]), rtol=1e-10
    )
    assert not sym.is_time_reversal_even(gauged, q, qdot)
    assert sym.is_time_reversal_even(system.lagrangian, q, qdot)
    cands = sym.candidates(system)
    assert len(sym.discover(gauged, cands, q, qdot, threshold=1e-3).symmetries) < 3
    restored = sym.discover(sym.even_part(gauged), cands, q, qdot, threshold=1e-3)
    assert [s.kind for s in restored.symmetries] == ["translation", "translation", "rotation"]
    assert_close(jax.vmap(sym.even_part(gauged))(q, qdot), jax.vmap(system.lagrangian)(q, qdot), rtol=1e-12)


# ------------------------------------------------------------ score properties


def test_score_does_not_depend_on_units_or_on_the_scale_of_L_and_xi():
    system = lnn.systems.get("two_body", field=0.3)
    q, qdot = _states(system, 200)
    xi = lambda q: jnp.array([1.0, 0.0, 1.0, 0.0]) + 0.2 * jnp.array([-q[1], q[0], -q[3], q[2]])
    base = sym.symmetry_score(system.lagrangian, xi, q, qdot)
    # L × 7 and ξ × 3
    assert sym.symmetry_score(lambda a, b: 7 * system.lagrangian(a, b), lambda a: 3 * xi(a), q, qdot) == pytest.approx(
        base, rel=1e-10
    )
    # lengths in cm (q' = 100 q) and time in ms (q̇' = q̇ / 10): the same L and ξ in new units
    L_new = lambda a, b: system.lagrangian(a / 100, b * 10)
    xi_new = lambda a: 100 * xi(a / 100)
    assert sym.symmetry_score(L_new, xi_new, 100 * q, qdot / 10) == pytest.approx(base, rel=1e-10)
    assert 0.0 < base < 1.0


# ----------------------------------------------------------------- the defect


def _nonseparable(q, v):
    return 0.5 * (1.5 + jnp.sin(q[0]) ** 2) * v[0] ** 2 + 0.5 * v[1] ** 2 + 0.3 * q[0] * v[1] - q[0] * q[1] ** 2


def _curved_generator(q):
    return jnp.array([jnp.sin(q[1]), q[0] * q[1]])


def test_defect_matches_central_finite_differences_of_L_along_the_flow():
    q, qdot = rand(2, (20, 2)), rand(3, (20, 2))
    got = sym.invariance_defect(_nonseparable, _curved_generator, q, qdot)
    assert got.shape == (20,)
    eps = 1e-5

    def moved(sign):
        out = []
        for a, b in zip(q, qdot, strict=True):
            xi, dxi = jax.jvp(_curved_generator, (jnp.asarray(a),), (jnp.asarray(b),))
            out.append(_nonseparable(a + sign * eps * xi, b + sign * eps * dxi))
        return np.array(out)

    fd = (moved(+1) - moved(-1)) / (2 * eps)
    assert_close(got, fd, rtol=1e-8, scale=1.0)
    # batched over any leading axes
    assert_close(
        sym.invariance_defect(_nonseparable, _curved_generator, q.reshape(4, 5, 2), qdot.reshape(4, 5, 2)),
        got.reshape(4, 5),
        rtol=1e-14,
    )


def test_charge_changes_at_the_rate_of_the_defect_along_a_motion():
    # Noether: dQ/dt = δL on solutions. In a field g along x, dP_x/dt = g (m1 + m2).
    system = lnn.systems.get("two_body", field=0.5)
    total_x = lambda q: jnp.array([1.0, 0.0, 1.0, 0.0])
    q0, v0 = _states(system, 2, seed=4)
    ts = np.linspace(0, 1, 11)
    q, qdot = lnn.rollout(system.lagrangian, q0, v0, ts, solver=lnn.RK4(0.01))  # RK4 keeps linear invariants exactly
    Q = sym.noether_charge(system.lagrangian, total_x, q, qdot)
    assert_close(Q - Q[:, :1], 0.5 * 3.0 * ts[None].repeat(2, 0), rtol=1e-8, scale=1.0)
    assert_close(sym.invariance_defect(system.lagrangian, total_x, q, qdot), np.full((2, 11), 1.5), rtol=1e-12)


# ------------------------------------------------------------ Noether charges


def test_charges_are_momentum_and_angular_momentum_by_hand():
    system = lnn.systems.get("two_body")
    q, qdot = _states(system, 50)
    m1, m2 = system.parameters["m1"], system.parameters["m2"]
    total_y = lambda q: jnp.array([0.0, 1.0, 0.0, 1.0])
    rotate = lambda q: jnp.array([-q[1], q[0], -q[3], q[2]])
    assert_close(lnn.noether_charge(system.lagrangian, total_y, q, qdot), m1 * qdot[:, 1] + m2 * qdot[:, 3], rtol=1e-13)
    Lz = m1 * (q[:, 0] * qdot[:, 1] - q[:, 1] * qdot[:, 0]) + m2 * (q[:, 2] * qdot[:, 3] - q[:, 3] * qdot[:, 2])
    assert_close(lnn.noether_charge(system.lagrangian, rotate, q, qdot), Lz, rtol=1e-13)


@pytest.mark.parametrize("name", ["two_body", "kepler"])
def test_discovered_charges_are_conserved_along_true_rollouts_and_broken_ones_are_not(name):
    system, found = _discover(name)
    q0, v0 = _states(system, 4, seed=7)
    ts = np.linspace(0, 3, 31)
    q, qdot = lnn.rollout(system.lagrangian, q0, v0, ts, solver=lnn.RK4(0.005))
    qs, vs = _states(system)
    for s in found.symmetries:
        scale = float(jnp.sqrt(jnp.mean(lnn.noether_charge(system.lagrangian, s.xi, qs, vs) ** 2)))
        drift = sym.charge_drift(system.lagrangian, s.xi, q, qdot, scale=scale)
        assert drift.shape == (4,)
        assert float(jnp.max(drift)) < 1e-7, s.label
    # a candidate that is not a symmetry: its charge moves by O(1)
    broken = found.candidates[0].xi
    assert float(jnp.max(sym.charge_drift(system.lagrangian, broken, q, qdot))) > 0.1


# --------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "xi, phrase",
    [
        (lambda q: jnp.sum(q), "same shape"),
        (lambda q: jnp.concatenate([q, q]), "same shape"),
        (lambda q: (q, q), "same shape"),
        ("not a function", "not a function"),
    ],
)
@pytest.mark.wrong_types
def test_bad_generators_are_refused_with_the_fix(xi, phrase):
    L = lambda q, v: 0.5 * jnp.dot(v, v)
    q = jnp.ones((5, 2))
    for fn in (sym.noether_charge, sym.invariance_defect, sym.symmetry_score):
        with pytest.raises(SymmetryError, match=phrase) as info:
            fn(L, xi, q, q)
        assert isinstance(info.value, LnnError)


@pytest.mark.wrong_types
def test_other_user_errors():
    L = lambda q, v: 0.5 * jnp.dot(v, v) - jnp.sum(q**2)
    q = rand(0, (10, 2))
    with pytest.raises(SymmetryError, match="zero on every state"):
        sym.symmetry_score(L, lambda q: jnp.zeros_like(q), q, q)
    with pytest.raises(SymmetryError, match="scalar"):
        sym.noether_charge(lambda q, v: v, lambda q: q, q, q)
    with pytest.raises(SymmetryError, match="non-finite"):
        sym.symmetry_score(L, lambda q: q / 0.0, q, q)
    with pytest.raises(SymmetryError, match="Cartesian pair"):
        sym.candidates(coordinates=("x", "y"), cartesian_pairs=[(0, 2)])
    with pytest.raises(SymmetryError, match="threshold"):
        sym.discover(L, sym.candidates(coordinates=("x", "y")), q, q, threshold=0.0)
    with pytest.raises(SymmetryError, match="as many states"):
        sym.discover(L, sym.candidates(coordinates=("x", "y")), q[:3], q[:3])
    with pytest.raises(lnn.errors.ShapeError):
        sym.noether_charge(L, lambda q: q, q, q[:, :1])


# ------------------------------------------------------------------------ CLI


def test_cli_symmetries_of_a_system_as_json(tmp_path):
    import json

    from typer.testing import CliRunner

    from lnn.cli import app

    result = CliRunner().invoke(
        app,
        [
            "symmetries",
            "kepler",
            "--json",
            "--n-states",
            "200",
            "--n-rollouts",
            "2",
            "--t-end",
            "1",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["n_symmetries"] == 1 and len(out["singular_values"]) == 5
    (rotation,) = out["symmetries"]
    assert rotation["kind"] == "rotation" and rotation["coefficients"]["rotate (x, y)"] == 1.0
    assert rotation["drift"]["true_system"] < 1e-6 and rotation["drift"]["model"] < 1e-6
    assert (tmp_path / "figures" / "charges.png").stat().st_size > 1000
    assert json.loads((tmp_path / "symmetries.json").read_text())["n_symmetries"] == 1


def test_cli_symmetries_refuses_a_model_without_a_lagrangian(tmp_path):
    from typer.testing import CliRunner

    from lnn import io
    from lnn.cli import app

    baseline = lnn.BlackBox(1, key=jax.random.key(0), width=8, angles=(True,))
    io.save_model(tmp_path / "model.eqx", baseline, system="pendulum")
    result = CliRunner().invoke(app, ["symmetries", str(tmp_path)])
    assert result.exit_code != 0 and "no Lagrangian" in str(result.exception)
    result = CliRunner().invoke(app, ["symmetries", str(tmp_path / "nowhere")])
    assert "neither a system" in str(result.exception)
    # A Lagrangian model that names no system (a recording's) is refused, not read as some other system.
    lagrangian = lnn.LagrangianNN(1, key=jax.random.key(0), width=8, angles=(True,))
    io.save_model(tmp_path / "recorded" / "model.eqx", lagrangian)
    result = CliRunner().invoke(app, ["symmetries", str(tmp_path / "recorded")])
    assert result.exit_code != 0 and "not trained on a built-in system" in str(result.exception)
