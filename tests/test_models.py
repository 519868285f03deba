"""The models' fast acceleration paths agree with the general Euler–Lagrange machinery.

LagrangianNN.acceleration uses analytic MLP derivatives and StructuredLagrangian
uses its mass matrix directly; both must give the q̈ that lnn.mechanics (and the
independent full-Hessian formula) give for the same L, and training must see the
same gradients.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from helpers import assert_close, full_hessian_accelerations, general_path, jitted, rand
from lnn import data, metrics, training
from lnn.models import MLP, from_config
from lnn.training import acceleration_loss


def _batch(model, f, q, qdot):
    return eqx.filter_jit(lambda m, a, b: jax.vmap(f(m))(a, b))(model, q, qdot)


def test_mlp_curvature_matches_hessian_along_tangents():
    mlp = MLP([5, 12, 9, 1], key=jax.random.key(0), init="standard")
    x, T = rand(0, (5,), -2, 2), rand(1, (5, 3), -1, 1)
    grad, curvature = eqx.filter_jit(MLP.gradient_and_curvature)(mlp, x, T)
    f = lambda x: mlp(x)[0]
    assert_close(grad, jax.jit(jax.grad(f))(x), rtol=1e-13)
    assert_close(curvature, T.T @ jax.jit(jax.hessian(f))(x) @ T, rtol=1e-12)


def test_mlp_curvature_needs_a_scalar_network():
    mlp = MLP([3, 4, 2], key=jax.random.key(0))
    with pytest.raises(ValueError, match="scalar"):
        mlp.gradient_and_curvature(jnp.ones(3), jnp.ones((3, 1)))


@pytest.mark.parametrize("k, sizes", [(3, [5, 12, 9, 1]), (3, [4, 10, 1]), (6, [5, 8, 8, 7, 1])])
def test_mlp_batch_curvature_and_its_hand_written_gradient_match_autodiff(k, sizes):
    # k = 3 takes the unrolled contractions, k = 6 the einsum ones.
    mlp = MLP(sizes, key=jax.random.key(k), init="standard")
    X, T = rand(10, (7, sizes[0]), -2, 2), rand(11, (7, sizes[0], k), -1, 1)
    weights = rand(12, (k, k), -1, 1)

    def objective(per_state):
        def f(mlp, X, T):
            g, C = per_state(mlp, X, T)
            return jnp.sum(jnp.sin(g)) + jnp.sum(jnp.cos(C) * weights)

        return f

    autodiff = objective(lambda m, X, T: jax.vmap(m.gradient_and_curvature)(X, T))
    by_hand = objective(lambda m, X, T: m.batch_gradient_and_curvature(X, T))
    for a, b in zip(mlp.batch_gradient_and_curvature(X, T), jax.vmap(mlp.gradient_and_curvature)(X, T), strict=True):
        assert_close(a, b, rtol=1e-13)
    expected = jax.jit(jax.grad(autodiff, argnums=(0, 1, 2)))(mlp, X, T)
    got = jax.jit(jax.grad(by_hand, argnums=(0, 1, 2)))(mlp, X, T)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        assert_close(a, b, rtol=1e-12, scale=float(jnp.max(jnp.abs(b))) + 1e-300)


@pytest.mark.parametrize("solver", ["dense", "cg"])
def test_lnn_batched_accelerations_equal_per_state_ones_with_and_without_forces(solver):
    linear_solver = None if solver == "dense" else lnn.mechanics.CG()
    model = lnn.LagrangianNN(
        3, key=jax.random.key(13), width=20, depth=2, angles=(True, False, True), linear_solver=linear_solver
    )
    q, qdot, tau = rand(14, (9, 3), -3, 3), rand(15, (9, 3), -2, 2), rand(16, (9, 3), -1, 1)
    batched = eqx.filter_jit(lambda m, *a: m.accelerations(*a))
    per_state = eqx.filter_jit(lambda m, *a: jax.vmap(m.acceleration)(*a))
    assert_close(batched(model, q, qdot), per_state(model, q, qdot), rtol=1e-12)
    assert_close(batched(model, q, qdot, tau), per_state(model, q, qdot, tau), rtol=1e-12)


def test_lnn_training_gradients_under_a_force_match_the_general_path():
    model = lnn.LagrangianNN(2, key=jax.random.key(17), width=16, depth=3, angles=(True, False))
    q, qdot, tau = rand(18, (32, 2), -2, 2), rand(19, (32, 2), -2, 2), rand(20, (32, 2), -1, 1)
    target = rand(21, (32, 2), -3, 3)

    def loss(accelerations):
        return lambda m: jnp.mean((accelerations(m) - target) ** 2)

    fast = eqx.filter_jit(eqx.filter_grad(loss(lambda m: m.accelerations(q, qdot, tau))))(model)
    general = eqx.filter_jit(eqx.filter_grad(loss(lambda m: jax.vmap(general_path(m))(q, qdot, tau))))(model)
    for a, b in zip(jax.tree.leaves(fast), jax.tree.leaves(general), strict=True):
        assert_close(a, b, rtol=1e-9, scale=float(jnp.max(jnp.abs(b))) + 1e-300)


@pytest.mark.parametrize("encoding", ["sincos", "wrap"])
@pytest.mark.parametrize("kinetic_prior, depth", [(True, 1), (True, 3), (False, 2)])
def test_lnn_analytic_accelerations_match_general_path(encoding, kinetic_prior, depth):
    model = lnn.LagrangianNN(
        3,
        key=jax.random.key(depth),
        width=24,
        depth=depth,
        angles=(True, False, True),
        angle_encoding=encoding,
        kinetic_prior=kinetic_prior,
        q_scale=2.0,
        qdot_scale=3.0,
    )
    q, qdot = rand(2, (40, 3), -3, 3), rand(3, (40, 3), -4, 4)
    fast = _batch(model, lambda m: m.acceleration, q, qdot)
    general = _batch(model, general_path, q, qdot)
    independent, M = jax.jit(jax.vmap(lambda a, b: full_hessian_accelerations(model, a, b)))(q, qdot)
    cond = np.linalg.cond(np.asarray(M))
    for i in range(q.shape[0]):
        assert_close(fast[i], general[i], rtol=1e-11 * max(1.0, float(cond[i])))
        assert_close(fast[i], independent[i], rtol=1e-11 * max(1.0, float(cond[i])))


def test_lnn_training_gradients_match_general_path():
    model = lnn.LagrangianNN(2, key=jax.random.key(4), width=16, depth=2, angles=(True, True), qdot_scale=2.0)
    system = lnn.systems.get("double_pendulum")
    q, qdot = system.sample_states(jax.random.key(5), 64)
    qddot = system.closed_form_accelerations(q, qdot)
    scale = jnp.ones(2)

    grad = eqx.filter_jit(lambda m: eqx.filter_grad(acceleration_loss)(m, q, qdot, qddot, scale, "l2"))
    fast = jax.tree.leaves(grad(model))
    slow = jax.tree.leaves(grad(lnn.EulerLagrange(model.lagrangian, 2)))  # the general path, same parameters
    for a, b in zip(fast, slow, strict=True):
        assert_close(a, b, rtol=1e-9, scale=float(jnp.max(jnp.abs(b))))


def test_float32_lnn_gives_float32_accelerations_close_to_float64():
    kw = dict(key=jax.random.key(6), width=32, depth=2, angles=(True, True))
    m64 = lnn.LagrangianNN(2, **kw)
    m32 = jax.tree.map(lambda x: x.astype(jnp.float32) if eqx.is_inexact_array(x) else x, m64)
    q, qdot = rand(7, (16, 2), -3, 3), rand(8, (16, 2), -2, 2)
    a32 = _batch(m32, lambda m: m.acceleration, q, qdot)
    a64 = _batch(m64, lambda m: m.acceleration, q, qdot)
    assert a32.dtype == jnp.float32
    assert_close(a32, a64, rtol=1e-3)


@pytest.mark.parametrize("encoding", ["sincos", "wrap"])
def test_structured_accelerations_match_general_path(encoding):
    model = lnn.StructuredLagrangian(
        3,
        key=jax.random.key(9),
        width=24,
        depth=2,
        angles=(True, False, True),
        angle_encoding=encoding,
        q_scale=2.0,
        qdot_scale=3.0,
    )
    q, qdot = rand(10, (40, 3), -3, 3), rand(11, (40, 3), -4, 4)
    fast = _batch(model, lambda m: m.acceleration, q, qdot)
    general = _batch(model, general_path, q, qdot)
    assert_close(fast, general, rtol=1e-10, scale=float(jnp.max(jnp.abs(general))))


def test_structured_lagrangian_is_quadratic_in_velocity_with_its_mass_matrix():
    s = 3.0
    model = lnn.StructuredLagrangian(2, key=jax.random.key(12), width=16, angles=(True, False), qdot_scale=s)
    q, qdot = rand(13, (20, 2), -3, 3), rand(14, (20, 2), -4, 4)
    M, V = _batch(model, lambda m: lambda a, b: m.mass_and_potential(a), q, qdot)
    assert_close(jitted(lnn.mass_matrix, model)(q, qdot), M / s**2, rtol=1e-12)
    L = _batch(model, lambda m: m.lagrangian, q, qdot)
    assert_close(L, 0.5 * jnp.einsum("bi,bij,bj->b", qdot, M, qdot) / s**2 - V, rtol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_structured_mass_matrix_is_positive_definite_for_any_weights(seed):
    # Weights far from initialisation (scaled up 5×) must still give M ≥ εI.
    model = lnn.StructuredLagrangian(4, key=jax.random.key(seed), width=16, epsilon=1e-3)
    model = jax.tree.map(lambda x: 5 * x if eqx.is_inexact_array(x) else x, model)
    q = rand(seed, (50, 4), -5, 5)
    M, _ = _batch(model, lambda m: lambda a, b: m.mass_and_potential(a), q, q)
    eig = np.linalg.eigvalsh(np.asarray(M))
    # Rounding in an eigensolver is relative to the largest eigenvalue.
    assert np.all(eig >= 1e-3 - 1e-13 * eig.max(axis=-1, keepdims=True))


def test_structured_model_learns_the_pendulum():
    system = lnn.systems.get("pendulum")
    dataset = data.random_states(system, jax.random.key(0), 2000)
    model = lnn.StructuredLagrangian(1, key=jax.random.key(1), width=32, angles=(True,), qdot_scale=3.0)
    before = metrics.acceleration_error(model, dataset.q, dataset.qdot, dataset.qddot)["accel_relative_error"]
    model, _ = training.fit(
        model,
        dataset,
        key=jax.random.key(2),
        progress=False,
        config=training.TrainConfig(steps=1500, batch_size=128, warmup_steps=100),
    )
    after = metrics.acceleration_error(model, dataset.q, dataset.qdot, dataset.qddot)["accel_relative_error"]
    assert after < 0.05 < before


def test_structured_config_round_trip():
    model = lnn.StructuredLagrangian(2, key=jax.random.key(3), width=8, depth=1, angles=(True, True), epsilon=0.01)
    rebuilt = from_config(model.config())
    assert rebuilt.config() == model.config()
    assert jax.tree.structure(eqx.filter(rebuilt, eqx.is_array)) == jax.tree.structure(eqx.filter(model, eqx.is_array))
