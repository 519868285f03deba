"""Euler–Lagrange mechanics: accelerations, energy, momenta, mass matrix, input checks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lnn
from helpers import assert_close, full_hessian_accelerations, jitted, rand, sample_states
from lnn.errors import ShapeError, SingularMassMatrixError
from lnn.systems import _double_pendulum as double_pendulum

SYSTEM_NAMES = lnn.systems.names()


def _double_pendulum_mass(q, p):
    """M(q) of the double pendulum, written out by hand."""
    m1, m2, l1, l2 = p["m1"], p["m2"], p["l1"], p["l2"]
    c = jnp.cos(q[..., 0] - q[..., 1])
    m11 = jnp.full_like(c, (m1 + m2) * l1**2)
    m22 = jnp.full_like(c, m2 * l2**2)
    m12 = m2 * l1 * l2 * c
    return jnp.stack([jnp.stack([m11, m12], -1), jnp.stack([m12, m22], -1)], -2)


def _double_pendulum_potential(q, p):
    m1, m2, l1, l2, g = p["m1"], p["m2"], p["l1"], p["l2"], p["g"]
    return -(m1 + m2) * g * l1 * jnp.cos(q[..., 0]) - m2 * g * l2 * jnp.cos(q[..., 1])


# A hand-written Lagrangian that is not T(q̇) − V(q): the mass matrix depends on q
# and on q̇ (quartic kinetic term), and there are terms linear in q̇ (gyroscopic).
def nonseparable_lagrangian(q, v):
    x, y = q
    vx, vy = v
    kinetic = (
        0.5 * (1.5 + jnp.sin(x) ** 2) * vx**2
        + 0.5 * (2.0 + jnp.cos(y)) * vy**2
        + 0.3 * jnp.cos(x * y) * vx * vy
        + 0.05 * vx**4
    )
    gyroscopic = 0.7 * (x * vy - y * vx) + jnp.tanh(x + y) * vx
    potential = 0.5 * x**2 + jnp.cos(y) + 0.1 * x * y**3
    return kinetic + gyroscopic - potential


@pytest.fixture(scope="module")
def states():
    """A few sampled states per system, (64, n)."""
    out = {}
    for i, name in enumerate(SYSTEM_NAMES):
        system = lnn.systems.get(name)
        out[name] = sample_states(system, jax.random.key(i), 64)
    return out


# ---------------------------------------------------------------- accelerations


@pytest.mark.parametrize("name", SYSTEM_NAMES)
def test_accelerations_match_closed_form_equations_of_motion(name, states):
    system = lnn.systems.get(name)
    q, qdot = states[name]
    # A system with friction has it in its equations of motion, so pass its D.
    dissipation = system.dissipation if system.dissipation_fn is not None else None
    got = jax.jit(lambda a, b: lnn.accelerations(system.lagrangian, a, b, dissipation=dissipation))(q, qdot)
    assert_close(jax.jit(system.accelerations)(q, qdot), got, rtol=1e-12)
    want = system.closed_form_accelerations(q, qdot)
    assert got.dtype == jnp.float64
    assert got.shape == q.shape
    assert np.all(np.isfinite(got))
    # Relative to each state's own size, with the system's typical acceleration as
    # a floor for entries that happen to pass near zero.
    assert_close(got, want, rtol=1e-9)


@pytest.mark.parametrize("name", SYSTEM_NAMES)
def test_accelerations_are_not_trivially_zero(name, states):
    # Guards the test above: the states must actually exercise the dynamics.
    system = lnn.systems.get(name)
    q, qdot = states[name]
    # (0.01: the relativistic particle's weak field, g = 0.1, caps its q̈ at 0.1.)
    assert float(jnp.max(jnp.abs(system.closed_form_accelerations(q, qdot)))) > 0.01


_PARAMS = st.floats(0.5, 2.0)
_ANGLE = st.floats(-np.pi, np.pi)
_SPEED = st.floats(-10.0, 10.0)


@jax.jit
def _double_pendulum_both(q, qdot, params):
    L = lambda a, b: double_pendulum._lagrangian(a, b, **params)
    return lnn.accelerations(L, q, qdot), double_pendulum._closed_form(q, qdot, **params)


@given(
    m1=_PARAMS,
    m2=_PARAMS,
    l1=_PARAMS,
    l2=_PARAMS,
    g=st.floats(1.0, 20.0),
    q=st.tuples(_ANGLE, _ANGLE),
    qdot=st.tuples(_SPEED, _SPEED),
)
def test_double_pendulum_accelerations_for_random_parameters(m1, m2, l1, l2, g, q, qdot):
    params = {"m1": m1, "m2": m2, "l1": l1, "l2": l2, "g": g}
    got, want = _double_pendulum_both(jnp.array(q), jnp.array(qdot), params)
    # Typical acceleration: gravity g/l plus centripetal l ω² terms.
    scale = g / min(l1, l2) + max(l1, l2) / min(l1, l2) * max(abs(qdot[0]), abs(qdot[1])) ** 2
    assert_close(got, want, rtol=1e-9, scale=scale)


def test_double_pendulum_with_parameters_uses_new_parameters():
    system = lnn.systems.get("double_pendulum", m1=0.7, m2=1.9, l1=1.3, l2=0.6, g=3.0)
    q, qdot = sample_states(system, jax.random.key(3), 16)
    got = jitted(lnn.accelerations, system.lagrangian)(q, qdot)
    assert_close(got, system.closed_form_accelerations(q, qdot), rtol=1e-9)
    default = lnn.systems.get("double_pendulum")
    assert not np.allclose(got, default.closed_form_accelerations(q, qdot), rtol=1e-3)


def test_magnetic_lagrangian_gives_lorentz_force():
    # L = ½|v|² + (B/2)(x v_y − y v_x): a charge in a uniform field B, q̈ = B (v_y, −v_x).
    # Half the force comes from ∂L/∂q and half from the mixed term (∂²L/∂q̇∂q) q̇, so a
    # dropped or transposed mixed term gives half the force or none.
    B = 1.7
    L = lambda q, v: 0.5 * jnp.dot(v, v) + 0.5 * B * (q[0] * v[1] - q[1] * v[0])
    q, v = rand(0, (8, 2), -2, 2), rand(1, (8, 2), -2, 2)
    want = B * jnp.stack([v[:, 1], -v[:, 0]], axis=-1)
    assert_close(jitted(lnn.accelerations, L)(q, v), want, rtol=1e-12)


# ------------------------------------------------- agreement with a full Hessian


def _lnn(angles, key, **kw):
    return lnn.LagrangianNN(len(angles), key=key, width=16, depth=2, angles=angles, **kw)


@pytest.mark.parametrize(
    "angles, init, kinetic_prior",
    [((True, False), "paper", True), ((False, False, False), "standard", False)],
)
def test_accelerations_match_full_hessian_for_random_network(angles, init, kinetic_prior):
    model = _lnn(angles, jax.random.key(7), init=init, kinetic_prior=kinetic_prior)
    n = len(angles)
    q, qdot = rand(11, (32, n), -3, 3), rand(12, (32, n), -3, 3)
    got = jitted(lnn.accelerations, model)(q, qdot)
    general = jitted(lnn.accelerations, model.lagrangian)(q, qdot)  # the general path, not the analytic one
    want, M = jax.jit(jax.vmap(lambda a, b: full_hessian_accelerations(model, a, b)))(q, qdot)
    # Random networks can have a poorly conditioned mass matrix; the two solves
    # see the same matrix, so allow for its conditioning.
    cond = np.linalg.cond(np.asarray(M))
    assert np.all(np.isfinite(cond))
    for i in range(q.shape[0]):
        assert_close(got[i], want[i], rtol=1e-11 * max(1.0, float(cond[i])))
        assert_close(general[i], want[i], rtol=1e-11 * max(1.0, float(cond[i])))


def test_accelerations_match_full_hessian_for_nonseparable_lagrangian():
    q, qdot = rand(0, (40, 2), -2, 2), rand(1, (40, 2), -3, 3)
    got = jitted(lnn.accelerations, nonseparable_lagrangian)(q, qdot)
    want, M = jax.jit(jax.vmap(lambda a, b: full_hessian_accelerations(nonseparable_lagrangian, a, b)))(q, qdot)
    assert_close(got, want, rtol=1e-10)
    # The mass matrix genuinely depends on q̇ (quartic term), and the gyroscopic
    # terms matter: dropping the mixed term gives a different answer.
    assert_close(M[:, 0, 0], 1.5 + jnp.sin(q[:, 0]) ** 2 + 0.6 * qdot[:, 0] ** 2, rtol=1e-12)
    dL_dq = jax.vmap(jax.grad(nonseparable_lagrangian))(q, qdot)
    assert not np.allclose(jnp.linalg.solve(M, dL_dq[..., None])[..., 0], got, rtol=1e-3)


def test_learned_energy_is_conserved_along_the_learned_flow():
    # dE/dt = ∇_q E · q̇ + ∇_q̇ E · q̈ = 0 for the Euler–Lagrange q̈ of any L(q, q̇).
    model = _lnn((True, False), jax.random.key(5))
    q, qdot = rand(0, (16, 2), -2, 2), rand(1, (16, 2), -2, 2)
    E = lambda a, b: lnn.energy(model, a, b)
    dE_dq, dE_dv = jax.jit(jax.vmap(jax.grad(E, argnums=(0, 1))))(q, qdot)
    qddot = jitted(lnn.accelerations, model)(q, qdot)
    rate = jnp.sum(dE_dq * qdot, -1) + jnp.sum(dE_dv * qddot, -1)
    size = jnp.sum(jnp.abs(dE_dq * qdot), -1) + jnp.sum(jnp.abs(dE_dv * qddot), -1)
    assert np.all(np.abs(rate) <= 1e-10 * size)


# ---------------------------------------------------------------------- batching


def test_batched_shapes_are_consistent():
    system = lnn.systems.get("double_pendulum")
    q, qdot = sample_states(system, jax.random.key(9), 6)
    fns = (lnn.accelerations, lnn.energy, lnn.momenta, lnn.mass_matrix)
    everything = jax.jit(lambda a, b: [fn(system.lagrangian, a, b) for fn in fns])
    flat = everything(q, qdot)  # (6, ...)
    singles = [everything(q[i], qdot[i]) for i in range(6)]
    nested = everything(q.reshape(2, 3, 2), qdot.reshape(2, 3, 2))
    for k, fn in enumerate(fns):
        tail = {lnn.accelerations: (2,), lnn.energy: (), lnn.momenta: (2,), lnn.mass_matrix: (2, 2)}[fn]
        assert flat[k].shape == (6,) + tail, fn.__name__
        assert singles[0][k].shape == tail, fn.__name__
        assert nested[k].shape == (2, 3) + tail, fn.__name__
        stacked = np.stack([np.asarray(s[k]) for s in singles])
        np.testing.assert_allclose(flat[k], stacked, rtol=1e-13, atol=1e-13, err_msg=fn.__name__)
        np.testing.assert_allclose(np.asarray(nested[k]).reshape(flat[k].shape), flat[k], rtol=1e-13, atol=1e-13)


def test_accepts_python_lists_and_integers():
    system = lnn.systems.get("spring", k=4.0)
    got = lnn.accelerations(system.lagrangian, [1], [0])
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, [-4.0])


# ------------------------------------------------------ energy, momenta, M(q)


def _all_quantities(L, q, qdot):
    """(M, p, E) of ``L``, compiled as one program."""
    return jax.jit(lambda a, b: (lnn.mass_matrix(L, a, b), lnn.momenta(L, a, b), lnn.energy(L, a, b)))(q, qdot)


@pytest.fixture(scope="module")
def dp():
    system = lnn.systems.get("double_pendulum", m1=1.3, m2=0.8, l1=0.9, l2=1.4)
    q, qdot = sample_states(system, jax.random.key(21), 32)
    return system, q, qdot, _all_quantities(system.lagrangian, q, qdot)


def test_double_pendulum_mass_matrix_is_known_M(dp):
    system, q, qdot, (M, _, _) = dp
    assert M.shape == (32, 2, 2)
    assert_close(M, _double_pendulum_mass(q, system.parameters), rtol=1e-13)


def test_double_pendulum_momenta_are_M_qdot(dp):
    system, q, qdot, (_, p, _) = dp
    want = jnp.einsum("bij,bj->bi", _double_pendulum_mass(q, system.parameters), qdot)
    assert_close(p, want, rtol=1e-13)


def test_double_pendulum_energy_is_kinetic_plus_potential(dp):
    system, q, qdot, (_, _, E) = dp
    M = _double_pendulum_mass(q, system.parameters)
    T = 0.5 * jnp.einsum("bi,bij,bj->b", qdot, M, qdot)
    V = _double_pendulum_potential(q, system.parameters)
    assert E.shape == (32,)
    assert_close(E, T + V, rtol=1e-12, scale=system.energy_scale)
    assert_close(system.energy(q[:4], qdot[:4]), (T + V)[:4], rtol=1e-12, scale=system.energy_scale)


@pytest.mark.parametrize("name", ["pendulum", "spring"])
def test_one_dof_energy_momentum_mass(name):
    system = lnn.systems.get(name)
    p = system.parameters
    q, qdot = sample_states(system, jax.random.key(2), 20)
    if name == "pendulum":
        inertia = p["m"] * p["l"] ** 2
        V = -p["m"] * p["g"] * p["l"] * jnp.cos(q[:, 0])
    else:
        inertia = p["m"]
        V = 0.5 * p["k"] * q[:, 0] ** 2
    M, p, E = _all_quantities(system.lagrangian, q, qdot)
    assert_close(M, jnp.full((20, 1, 1), inertia), rtol=1e-13)
    assert_close(p, inertia * qdot, rtol=1e-13)
    assert_close(E, 0.5 * inertia * qdot[:, 0] ** 2 + V, rtol=1e-12, scale=system.energy_scale)


def test_energy_of_lagrangian_linear_in_velocity_excludes_that_term():
    # E = q̇·∂L/∂q̇ − L drops terms linear in q̇ (they do no work).
    L = lambda q, v: 0.5 * jnp.sum(v**2) + jnp.dot(q, v) - jnp.sum(q**2)
    q = jnp.array([[0.3, -1.2], [2.0, 0.5]])
    v = jnp.array([[1.1, 0.4], [-0.7, 0.2]])
    want = 0.5 * jnp.sum(v**2, -1) + jnp.sum(q**2, -1)
    assert_close(lnn.energy(L, q, v), want, rtol=1e-14)
    assert_close(lnn.momenta(L, q, v), v + q, rtol=1e-14)


# ------------------------------------------------------------ mass-matrix health


@pytest.mark.parametrize("name", SYSTEM_NAMES)
def test_true_systems_have_positive_definite_mass_matrix(name, states):
    system = lnn.systems.get(name)
    q, qdot = states[name]
    report = lnn.mass_matrix_report(system.lagrangian, q, qdot)
    assert report.eigenvalues.shape == q.shape
    assert report.condition_number.shape == q.shape[:1]
    assert report.positive_definite.shape == q.shape[:1]
    assert bool(jnp.all(report.positive_definite))
    assert bool(jnp.all(report.eigenvalues > 0))
    assert bool(jnp.all(jnp.diff(report.eigenvalues, axis=-1) >= 0)), "eigenvalues must be ascending"
    assert bool(jnp.all(report.condition_number >= 1))
    returned = lnn.check_mass_matrix(system.lagrangian, q, qdot)
    np.testing.assert_array_equal(returned.eigenvalues, report.eigenvalues)


def test_mass_matrix_report_eigenvalues_and_condition_are_right(dp):
    system, q, qdot, _ = dp
    M = _double_pendulum_mass(q, system.parameters)
    eig = np.linalg.eigvalsh(np.asarray(M))
    report = lnn.mass_matrix_report(system.lagrangian, q, qdot)
    assert_close(report.eigenvalues, eig, rtol=1e-12)
    assert_close(report.condition_number, eig[:, 1] / eig[:, 0], rtol=1e-12)


_SINGULAR = {
    "potential_only": lambda q, v: -jnp.sum(jnp.cos(q)),
    "indefinite": lambda q, v: v[0] ** 2 - v[1] ** 2 - jnp.sum(q**2),
    "one_direction_missing": lambda q, v: 0.5 * v[0] ** 2 - jnp.sum(q**2),
    "negative_definite": lambda q, v: -0.5 * jnp.sum(v**2),
}


@pytest.mark.parametrize("name", sorted(_SINGULAR))
def test_singular_or_indefinite_mass_matrix_is_flagged(name):
    L = _SINGULAR[name]
    q, qdot = rand(0, (5, 2), -2, 2), rand(1, (5, 2), -2, 2)
    report = lnn.mass_matrix_report(L, q, qdot)
    assert not bool(jnp.any(report.positive_definite))
    with pytest.raises(SingularMassMatrixError, match="5 of 5 states"):
        lnn.check_mass_matrix(L, q, qdot)


def test_check_mass_matrix_counts_only_bad_states():
    # M = diag(1, q₀): positive definite only where q₀ > 0.
    L = lambda q, v: 0.5 * v[0] ** 2 + 0.5 * q[0] * v[1] ** 2
    q = jnp.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0], [-0.5, 3.0]])
    qdot = jnp.ones_like(q)
    report = lnn.mass_matrix_report(L, q, qdot)
    np.testing.assert_array_equal(report.positive_definite, [True, False, True, False])
    with pytest.raises(SingularMassMatrixError, match="2 of 4 states"):
        lnn.check_mass_matrix(L, q, qdot)
    lnn.check_mass_matrix(L, q[::2], qdot[::2])  # the good ones pass


def test_check_mass_matrix_rejects_ill_conditioned():
    L = lambda q, v: 0.5 * v[0] ** 2 + 0.5e-12 * v[1] ** 2
    q = jnp.zeros((3, 2))
    report = lnn.mass_matrix_report(L, q, q)
    assert bool(jnp.all(report.positive_definite))
    assert_close(report.condition_number, jnp.full(3, 1e12), rtol=1e-9)
    with pytest.raises(SingularMassMatrixError):
        lnn.check_mass_matrix(L, q, q)
    lnn.check_mass_matrix(L, q, q, max_condition=1e13)


def test_singular_mass_matrix_gives_nonfinite_accelerations_not_silent_values():
    # The solve is never a pseudo-inverse: a singular M must not produce finite garbage.
    L = _SINGULAR["potential_only"]
    got = lnn.accelerations(L, jnp.array([0.3, 0.4]), jnp.array([0.1, 0.2]))
    assert not np.all(np.isfinite(got))


# ------------------------------------------------------------------- bad input


@pytest.mark.wrong_types
@pytest.mark.parametrize("fn", [lnn.accelerations, lnn.energy, lnn.momenta, lnn.mass_matrix, lnn.mass_matrix_report])
def test_mismatched_shapes_raise_shape_error(fn):
    L = lnn.systems.get("double_pendulum").lagrangian
    with pytest.raises(ShapeError) as info:
        fn(L, jnp.zeros(2), jnp.zeros(3))
    message = str(info.value)
    assert "q(2,)" in message and "qdot(3,)" in message
    assert "same shape" in message
    with pytest.raises(ShapeError):
        fn(L, jnp.zeros((4, 2)), jnp.zeros((2,)))


@pytest.mark.wrong_types
def test_scalar_state_raises_shape_error():
    L = lnn.systems.get("spring").lagrangian
    with pytest.raises(ShapeError, match=r"n >= 1"):
        lnn.accelerations(L, 1.0, 0.0)
    with pytest.raises(ShapeError):
        lnn.energy(L, jnp.float64(1.0), jnp.float64(0.0))


@pytest.mark.wrong_types
def test_shape_error_is_a_value_error_and_lnn_error():
    from lnn.errors import LnnError

    with pytest.raises(ValueError):
        lnn.accelerations(lambda q, v: 0.0, jnp.zeros(1), jnp.zeros(2))
    with pytest.raises(LnnError):
        lnn.accelerations(lambda q, v: 0.0, jnp.zeros(1), jnp.zeros(2))


# ------------------------------------------------------------ matrix-free (CG) solve


def test_cg_accelerations_match_dense_for_nonseparable_lagrangian():
    q, qdot = rand(20, (30, 2), -2, 2), rand(21, (30, 2), -3, 3)
    dense = jax.jit(lambda a, b: lnn.accelerations(nonseparable_lagrangian, a, b, linear_solver=lnn.mechanics.LU()))(
        q, qdot
    )
    solver = lnn.mechanics.CG()
    cg = jax.jit(lambda a, b: lnn.accelerations(nonseparable_lagrangian, a, b, linear_solver=solver))(q, qdot)
    assert_close(cg, dense, rtol=1e-8)


def test_cg_accelerations_match_closed_form_for_a_long_chain(key):
    system = lnn.systems.get("spring_chain", n=64, beta=0.5)
    q, qdot = sample_states(system, key, 8)
    auto = jitted(lnn.accelerations, system.lagrangian)(q, qdot)  # 64 coordinates: "auto" is CG
    assert lnn.mechanics.CG_FROM_DOF <= 64
    assert_close(auto, system.closed_form_accelerations(q, qdot), rtol=1e-8)


def test_cg_reports_singular_mass_matrix_as_nan():
    # L = ½ v0² − ½ q1²: no kinetic term for q1, M = diag(1, 0).
    L = lambda q, v: 0.5 * v[0] ** 2 - 0.5 * q[1] ** 2
    got = lnn.accelerations(L, jnp.array([0.3, 0.2]), jnp.array([0.1, 0.0]), linear_solver=lnn.mechanics.CG())
    assert np.all(np.isnan(got))


def test_cg_that_cannot_converge_in_maxiter_is_nan_not_wrong():
    system = lnn.systems.get("double_pendulum")
    q, qdot = jnp.array([0.5, -1.0]), jnp.array([0.3, 0.7])
    one_step = lnn.mechanics.CG(max_steps=1)
    assert np.all(np.isnan(lnn.accelerations(system.lagrangian, q, qdot, linear_solver=one_step)))
    solver = lnn.mechanics.CG()
    assert np.all(np.isfinite(lnn.accelerations(system.lagrangian, q, qdot, linear_solver=solver)))


def test_lnn_training_gradients_through_cg_match_dense():
    from lnn.training import acceleration_loss

    system = lnn.systems.get("spring_chain", n=6, beta=0.5)
    q, qdot = sample_states(system, jax.random.key(3), 16)
    qddot = system.closed_form_accelerations(q, qdot)
    grads = {}
    for solver in ("dense", "cg"):
        linear_solver = lnn.mechanics.LU() if solver == "dense" else lnn.mechanics.CG()
        model = lnn.LagrangianNN(6, key=jax.random.key(4), width=16, depth=2, linear_solver=linear_solver)
        grads[solver] = jax.tree.leaves(
            eqx.filter_jit(eqx.filter_grad(acceleration_loss))(model, q, qdot, qddot, jnp.ones(6))
        )
    for a, b in zip(grads["cg"], grads["dense"], strict=True):
        assert_close(a, b, rtol=1e-7, scale=float(jnp.max(jnp.abs(b))))


def test_dissipation_and_solver_apply_to_a_lagrangian_function_not_a_model():
    from lnn.errors import ConfigurationError

    model = lnn.LagrangianNN(2, key=jax.random.key(0), width=8, depth=1)
    with pytest.raises(ConfigurationError, match="lnn.Dissipative"):
        lnn.accelerations(model, jnp.ones(2), jnp.ones(2), dissipation=lambda q, v: 0.5 * v @ v)


@pytest.mark.wrong_types
def test_a_black_box_has_no_lagrangian():
    from lnn.errors import ModelTypeError

    box = lnn.BlackBox(2, key=jax.random.key(0), width=8, depth=1)
    assert lnn.accelerations(box, jnp.ones(2), jnp.ones(2)).shape == (2,)
    with pytest.raises(ModelTypeError, match="no Lagrangian"):
        lnn.energy(box, jnp.ones(2), jnp.ones(2))
