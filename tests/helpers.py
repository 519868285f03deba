"""Test helpers shared by several test files (imported as ``helpers``; tests/ is on sys.path)."""

from collections.abc import Callable

import equinox as eqx
import jax
import numpy as np

import lnn


def full_hessian_accelerations(L, q, qdot):
    """(q̈, M) from the full 2n × 2n Hessian of L over (q, q̇) — independent of lnn.mechanics.

    H = ∂²L/∂z² with z = (q, q̇); the Euler–Lagrange equations
    H_vv q̈ + H_vq q̇ = ∇_q L give q̈ = H_vv⁻¹ (∇_q L − H_vq q̇).
    """
    n = q.shape[-1]
    L = lnn.mechanics.as_lagrangian(L)

    def L_of_z(z):
        return L(z[:n], z[n:])

    z = jax.numpy.concatenate([q, qdot])
    grad = jax.grad(L_of_z)(z)
    H = jax.hessian(L_of_z)(z)
    H_vv = H[n:, n:]
    H_vq = H[n:, :n]
    return jax.numpy.linalg.solve(H_vv, grad[:n] - H_vq @ qdot), H_vv


def assert_close(actual, expected, rtol, scale=None):
    """|actual − expected| ≤ rtol · max(|expected|, scale), elementwise.

    ``scale`` is the typical size of the quantity (so that entries that happen
    to be near zero are not held to an impossible relative bound).
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if scale is None:
        scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    bound = rtol * np.maximum(np.abs(expected), scale)
    err = np.abs(actual - expected)
    worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.size else ()
    assert np.all(err <= bound), (
        f"max excess at {worst}: |{actual[worst]} - {expected[worst]}| = {err[worst]:.3e} > {bound[worst]:.3e}"
    )


def jitted(fn, L):
    """``fn(L, q, qdot)`` compiled once for ``L``: one XLA compile is far cheaper than
    JAX's op-by-op compilation of the same derivative code on first use."""
    return jax.jit(lambda q, qdot: fn(L, q, qdot))


def sample_states(system, key, n, max_energy=None):
    """``system.sample_states`` (kept as one name the tests share)."""
    return system.sample_states(key, n, max_energy=max_energy)


def rand(seed, shape, low=-1.0, high=1.0):
    """Test inputs from NumPy's RNG: jax.random would compile a kernel per shape."""
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def general_path(model):
    """The Euler–Lagrange accelerations of ``model.lagrangian`` by lnn's general path (autodiff, LU):
    what a model's own fast path must reproduce. ``f(q, qdot[, force])`` for one state."""

    def f(q, qdot, force=None):
        return lnn.mechanics.lagrangian_acceleration(
            model.lagrangian, q, qdot, force=force, linear_solver=lnn.mechanics.LU()
        )

    return f


class OneParameterDynamics(lnn.AbstractDynamics):
    """q̈ = law(w, q) of one coordinate with one learnable parameter w: a model that compiles in a moment, for
    tests of the training loop's behaviour whatever the model."""

    w: jax.Array
    law: Callable[[jax.Array, jax.Array], jax.Array] = eqx.field(static=True)

    @property
    def dof(self):
        return 1

    def acceleration(self, q, qdot, force=None):
        return self.law(self.w, q)
