"""Field models of the wave string: the learned Lagrangian density and the local black box."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from helpers import assert_close, rand
from lnn import data
from lnn.errors import ShapeError
from lnn.models import LagrangianDensity, LocalBlackBox
from lnn.models import _density as density
from lnn.training import TrainConfig, acceleration_loss, fit


def _perturbed(model, seed=0, size=0.3):
    """The model with every weight moved at random, so no test passes by a symmetric initialisation."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    leaves, tree = jax.tree.flatten(params)
    leaves = [a + size * rand(seed + i, a.shape) for i, a in enumerate(leaves)]
    return eqx.combine(jax.tree.unflatten(tree, leaves), static)


MODELS = {
    "density": lambda: _perturbed(LagrangianDensity(key=jax.random.key(0), width=8, slope_scale=3.0, qdot_scale=2.0)),
    "local": lambda: _perturbed(LocalBlackBox(key=jax.random.key(0), width=8, slope_scale=3.0, accel_scale=5.0)),
}


def _state(n, seed=1):
    return jnp.asarray(rand(seed, (n,), -0.5, 0.5)), jnp.asarray(rand(seed + 1, (n,)))


@pytest.mark.parametrize("kind", MODELS)
def test_shifting_the_string_shifts_the_accelerations(kind):
    model = MODELS[kind]()
    q, qdot = _state(12)
    f = jax.jit(lambda a, b: model.acceleration(a, b))
    a = f(q, qdot)
    assert float(jnp.std(a)) > 1e-3, "the accelerations must vary along the string"
    for shift in (1, 5):
        assert_close(f(jnp.roll(q, shift), jnp.roll(qdot, shift)), jnp.roll(a, shift), rtol=1e-11)


@pytest.mark.parametrize("kind", MODELS)
def test_the_same_parameters_run_on_any_number_of_points(kind):
    model = MODELS[kind]()
    f = jax.jit(lambda a, b: model.acceleration(a, b))
    for n in (6, 17):
        q, qdot = _state(n, seed=n)
        a = f(q, qdot)
        assert a.shape == (n,) and bool(jnp.all(jnp.isfinite(a)))


@pytest.mark.parametrize("n", [12, 16, 7])  # 3 colours, 4 colours, prime (every column its own colour)
def test_banded_accelerations_equal_the_dense_euler_lagrange_solution(n):
    model = MODELS["density"]()
    q = jnp.asarray(rand(n, (3, n), -0.5, 0.5))
    qdot = jnp.asarray(rand(n + 1, (3, n)))
    fast = jax.jit(jax.vmap(lambda a, b: model.acceleration(a, b)))(q, qdot)
    dense = jax.jit(lambda a, b: lnn.accelerations(model.lagrangian, a, b))(q, qdot)  # lnn.mechanics, n tangents
    assert_close(fast, dense, rtol=1e-10)


def test_cyclic_tridiagonal_solve_matches_a_dense_solve():
    n = 9
    lower, upper = jnp.asarray(rand(2, (n,))), jnp.asarray(rand(3, (n,)))
    diag = 3.0 + jnp.asarray(rand(4, (n,)))
    b = jnp.asarray(rand(5, (n,)))
    M = jnp.diag(diag)
    for i in range(n):
        M = M.at[i, (i - 1) % n].set(lower[i]).at[i, (i + 1) % n].set(upper[i])
    assert_close(density.solve_cyclic_tridiagonal(lower, diag, upper, b), jnp.linalg.solve(M, b), rtol=1e-12)


def test_the_true_string_density_gives_the_wave_equation_on_every_grid():
    # With ℓ_θ ≡ 0 and A = diag(−T s_D², ρ s², 0) in the scaled features (slope/s_D, q̇_i/s, q̇_{i+1}/s),
    # L_θ is the string's own Lagrangian h Σ [½ ρ q̇_i² − ½ T ((q_{i+1} − q_i)/h)²], on any grid.
    rho, tension, s_D, s = 0.5, 2.0, 3.0, 2.0
    model = LagrangianDensity(key=jax.random.key(0), width=4, slope_scale=s_D, qdot_scale=s)
    model = eqx.tree_at(
        lambda m: (m.mlp.weights[-1], m.quadratic),
        model,
        (jnp.zeros_like(model.mlp.weights[-1]), jnp.diag(jnp.array([-tension * s_D**2, rho * s**2, 0.0]))),
    )
    accelerations_and_energy = jax.jit(lambda a, b: (jax.vmap(model.acceleration)(a, b), lnn.energy(model, a, b)))
    for n in (12, 30):
        system = lnn.systems.get("wave", n=n, density=rho, tension=tension)
        q, qdot = np.asarray(rand(n, (3, n))), np.asarray(rand(n + 1, (3, n)))
        a, E = accelerations_and_energy(q, qdot)
        assert_close(a, system.closed_form_accelerations(q, qdot), rtol=1e-10)
        assert_close(E, jax.jit(system.energy)(q, qdot), rtol=1e-12)


def test_a_density_model_conserves_its_own_energy_and_momentum():
    model = MODELS["density"]()
    q0, qdot0 = _state(12)
    qs, qdots = lnn.rollout(model, q0, qdot0, np.linspace(0.0, 2.0, 11), solver=lnn.RK4(2e-3))
    charges = jax.jit(lambda a, b: (lnn.energy(model, a, b), jnp.sum(lnn.momenta(model, a, b), axis=-1)))
    E, P = (np.asarray(c) for c in charges(qs, qdots))  # P: the Noether charge of q → q + c
    assert float(np.max(np.abs(qs[-1] - qs[0]))) > 0.05, "the string must move"
    assert np.max(np.abs(E - E[0])) < 1e-7 * np.max(np.abs(E))
    assert np.max(np.abs(P - P[0])) < 1e-7 * max(np.max(np.abs(P)), 1.0)


def test_a_short_training_run_reduces_the_loss():
    system = lnn.systems.get("wave", n=12, modes=2)
    train_set = data.random_states(system, jax.random.key(0), 100)
    q, qdot, qddot = data.as_arrays(train_set)
    scale = jnp.asarray(data.acceleration_scale(train_set))
    for kind in density.FIELD_MODELS:
        model = density.build_field_model(kind, q, qdot, qddot, key=jax.random.key(1), width=8)
        loss = eqx.filter_jit(acceleration_loss)
        before = float(loss(model, q, qdot, qddot, scale))
        trained, history = fit(
            model,
            train_set,
            key=jax.random.key(2),
            progress=False,
            config=TrainConfig(steps=100, batch_size=16, warmup_steps=20, eval_every=100),
        )
        after = float(loss(trained, q, qdot, qddot, scale))
        assert after < 0.75 * before, (kind, before, after)


@pytest.mark.wrong_types
def test_build_and_shape_errors():
    q = jnp.zeros((4, 8))
    with pytest.raises(ValueError, match="density"):
        density.build_field_model("lagrangian", q, q, q + 1.0, key=jax.random.key(0))
    model = MODELS["density"]()
    with pytest.raises(ShapeError, match="n >= 3"):
        model.acceleration(jnp.zeros(2), jnp.zeros(2))
    with pytest.raises(ShapeError, match="one string state"):
        MODELS["local"]().acceleration(jnp.zeros((2, 8)), jnp.zeros((2, 8)))
    config = model.config()
    assert config["class"] == "LagrangianDensity" and config["width"] == 8
    assert model.n_parameters() == sum(a.size for a in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))
