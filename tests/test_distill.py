"""lnn.distillation: closed-form Lagrangians (no training) distilled back to their formulas.

States are drawn without the systems' energy-shell sampler (configurations from
each system's box or annulus, Gaussian velocities) so nothing here compiles the
systems' potentials; the fit itself runs in NumPy.
"""

import json

import jax
import jax.numpy as jnp
import pytest

import lnn
from lnn.distillation import build_library
from lnn.errors import ConfigurationError
from test_cli import run_main

# Non-unit parameters, so a coefficient that happens to be 1 proves nothing.
SYSTEMS = {
    "pendulum": ({"m": 1.3, "l": 0.7, "g": 9.81}, {}),
    "double_pendulum": ({"m1": 1.2, "m2": 0.8, "l1": 0.9, "l2": 1.1, "g": 9.81}, {}),
    "spring": ({"m": 0.7, "k": 2.3}, {}),
    "kepler": ({"m": 1.5, "k": 2.0}, {"inverse_distances": True}),
    "magnetic_particle": ({"m": 0.9, "charge": 1.1, "B": 1.7, "trap": 0.3}, {}),
}


def expected(name: str, p: dict) -> dict[str, float]:
    """The true terms of each Lagrangian as the library writes them, with their coefficients."""
    if name == "pendulum":
        return {"theta_dot**2/2": p["m"] * p["l"] ** 2, "cos(theta)": p["m"] * p["g"] * p["l"]}
    if name == "double_pendulum":
        m1, m2, l1, l2, g = (p[k] for k in ("m1", "m2", "l1", "l2", "g"))
        return {
            "theta1_dot**2/2": (m1 + m2) * l1**2,
            "theta2_dot**2/2": m2 * l2**2,
            "theta1_dot*theta2_dot*cos(theta1 - theta2)": m2 * l1 * l2,
            "cos(theta1)": (m1 + m2) * g * l1,
            "cos(theta2)": m2 * g * l2,
        }
    if name == "spring":
        return {"x_dot**2/2": p["m"], "x**2": -p["k"] / 2}
    if name == "kepler":
        return {"x_dot**2/2": p["m"], "y_dot**2/2": p["m"], "1/sqrt(x**2 + y**2)": p["k"]}
    eb, k = p["charge"] * p["B"], p["trap"]  # ½ e B (x ẏ − y ẋ) in the symmetric gauge, −½k(z² − ½(x² + y²))
    return {
        "x_dot**2/2": p["m"],
        "y_dot**2/2": p["m"],
        "z_dot**2/2": p["m"],
        "x*y_dot": eb / 2,
        "x_dot*y": -eb / 2,
        "x**2": k / 4,
        "y**2": k / 4,
        "z**2": -k / 2,
    }


def states(system, seed: int = 0, n: int = 300):
    kq, kv = jax.random.split(jax.random.key(seed))
    q = system.sample_configurations(kq, n)
    return q, jax.random.normal(kv, q.shape, dtype=q.dtype)


def found(result) -> dict[str, float]:
    return {t.term: t.coefficient for t in result.terms}


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_closed_form_lagrangians_are_recovered_exactly(name):
    params, options = SYSTEMS[name]
    system = lnn.systems.get(name, **params)
    result = lnn.distill(system, system, states=states(system), **options)
    assert result.explained and result.acceleration_error < 1e-9
    want, got = expected(name, params), found(result)
    assert set(got) == set(want), (got, want)
    for term, value in want.items():
        assert got[term] == pytest.approx(value, rel=1e-6), term
    assert result.data_error is not None and result.data_error < 1e-9  # the system is its own data here
    assert result.pareto[result.chosen].complexity == len(want)


def test_a_total_derivative_distills_to_the_same_formula():
    params, _ = SYSTEMS["magnetic_particle"]
    system = lnn.systems.get("magnetic_particle", **params)

    def gauge(q):  # F(q), not in the library
        return q[0] * q[1] ** 2 + jnp.sin(q[2]) * q[0] + 3.0 * q[1] * q[2]

    def shifted(q, qdot):  # L + dF/dt = L + ∇F·q̇
        return system.lagrangian(q, qdot) + jnp.dot(jax.grad(gauge)(q), qdot)

    xs = states(system, seed=1)
    plain, gauged = lnn.distill(system, system, states=xs), lnn.distill(shifted, system, states=xs)
    assert set(found(gauged)) == set(found(plain))
    for term, value in found(plain).items():
        assert found(gauged)[term] == pytest.approx(value, rel=1e-6)
    assert plain.gauge > 0 and "x*x_dot" in plain.dropped  # x ẋ = d(x²/2)/dt vanishes identically


def test_a_lagrangian_outside_the_library_is_reported_not_fitted():
    pendulum = lnn.systems.get("pendulum")

    def second_harmonic(q, qdot):
        return 0.5 * qdot[0] ** 2 + jnp.cos(q[0]) + 0.8 * jnp.cos(2 * q[0])

    xs = states(pendulum, seed=2)
    result = lnn.distill(second_harmonic, coordinates=["theta"], angles=[True], states=xs)
    assert not result.explained and result.terms == () and result.best_error > result.tolerance
    assert result.to_json()["lagrangian"] is None
    with pytest.raises(ConfigurationError, match="enlarge the library"):
        result.system()
    wider = lnn.distill(second_harmonic, coordinates=["theta"], angles=[True], states=xs, terms=["cos(2*theta)"])
    assert found(wider) == pytest.approx({"theta_dot**2/2": 1.0, "cos(theta)": 1.0, "cos(2*theta)": 0.8}, rel=1e-6)


def test_the_scale_can_be_fixed_by_a_known_coefficient():
    system = lnn.systems.get("pendulum")
    result = lnn.distill(
        lambda q, v: 7.0 * system.lagrangian(q, v), system, states=states(system), scale=("theta_dot**2", 0.5)
    )
    assert found(result) == pytest.approx({"theta_dot**2/2": 1.0, "cos(theta)": 9.8}, rel=1e-6)
    with pytest.raises(ConfigurationError, match="no term"):
        lnn.distill(system, system, states=states(system), scale=("sin(theta)", 1.0))


def test_the_distilled_system_rolls_out_and_conserves_its_energy():
    system = lnn.systems.get("double_pendulum")
    formula = lnn.distill(system, system, states=states(system)).system()
    assert isinstance(formula, lnn.System) and formula.coordinates == system.coordinates
    q0, qdot0 = jnp.array([[1.0, -0.5]]), jnp.array([[0.3, 0.2]])
    ts = jnp.linspace(0.0, 2.0, 201)
    q, qdot = lnn.rollout(formula, q0, qdot0, ts)
    q_true, _ = lnn.rollout(system, q0, qdot0, ts)
    e = formula.energy(q, qdot)
    assert float(jnp.max(jnp.abs(e - e[:, :1]))) < 1e-6 * float(jnp.abs(e[0, 0]))
    assert float(jnp.max(jnp.abs(q - q_true))) < 1e-8


def test_the_distilled_kepler_system_has_the_rotation_symmetry():
    system = lnn.systems.get("kepler")
    formula = lnn.distill(system, system, states=states(system), inverse_distances=True).system()
    q, qdot = states(formula, seed=3, n=200)
    found_symmetries = lnn.symmetry.discover(formula, lnn.symmetry.candidates(formula), q, qdot)
    assert [s.kind for s in found_symmetries.symmetries] == ["rotation"]


def test_library_terms_parse_or_fail_with_the_fix():
    library = build_library(["x", "y"], [False, False], extra_terms=["x*y_dot**2"])
    assert "x*y_dot**2" in {str(t) for t in library.terms}
    with pytest.raises(ConfigurationError, match="does not parse"):
        build_library(["x"], extra_terms=["cos((x"])
    with pytest.raises(ConfigurationError, match="not a coordinate or velocity"):
        build_library(["x"], extra_terms=["r**2"])


def test_cli_json_keys_and_one_line_errors(tmp_path, capsys, monkeypatch):
    code, out, _ = run_main(
        ["distill", "spring", "--n-states", "200", "--json", "--out", str(tmp_path)], capsys, monkeypatch
    )
    assert code in (0, None)
    report = json.loads(out)
    assert {"lagrangian", "latex", "terms", "acceleration_error", "pareto"} <= set(report)
    assert {"term", "coefficient"} <= set(report["terms"][0]) and report["explained"]
    assert json.loads((tmp_path / "distill.json").read_text())["lagrangian"] == report["lagrangian"]

    lnn.io.save_model(tmp_path / "bare" / "model.eqx", lnn.LagrangianNN(1, key=jax.random.key(0), width=8, depth=1))
    for args, phrase in [
        (["distill", str(tmp_path / "missing")], "neither a system"),
        (["distill", "pendulum", "--terms", "cos((theta", "--out", str(tmp_path)], "does not parse"),
        (["distill", str(tmp_path / "bare")], "no states to distill on"),
    ]:
        code, _, err = run_main(args, capsys, monkeypatch)
        assert code == 2 and phrase in err and len(err.strip().splitlines()) == 1, err
