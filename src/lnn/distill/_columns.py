r"""Each candidate's Euler–Lagrange terms at a batch of states, by automatic differentiation.

For a candidate φ(q, q̇) the Euler–Lagrange expression is

.. math:: \frac{d}{dt}\frac{\partial\phi}{\partial\dot q} - \frac{\partial\phi}{\partial q}
          = H\,\ddot q - g,\qquad H = \frac{\partial^2\phi}{\partial\dot q^2},\quad
          g = \frac{\partial\phi}{\partial q} - \frac{\partial^2\phi}{\partial\dot q\,\partial q}\,\dot q,

so a Lagrangian L = Σ ξₖ φₖ has the mass matrix M = Σ ξₖ Hₖ and the force
Σ ξₖ gₖ, and its equations of motion are linear in ξ. The K candidates are
lambdified once into one vector-valued JAX function φ(q, q̇) → (K,), and forward-
mode autodiff gives H and g for all of them in one compiled program: no symbolic
derivative expressions (which swell for 1/r terms) and the same Euler–Lagrange
convention as :mod:`lnn.mechanics`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from jaxtyping import Array, Float

from lnn.distill._library import Library


def lambdified(library: Library, expressions: tuple[sp.Expr, ...]) -> Callable[[Array, Array], Array]:
    """``f(q, qdot) -> (len(expressions),)`` for one state, written with ``jax.numpy``."""
    fn = sp.lambdify([list(library.q), list(library.qdot)], list(expressions), modules="jax")

    def values(q: Array, qdot: Array) -> Array:
        out = fn(q, qdot)
        return jnp.stack([jnp.broadcast_to(jnp.asarray(v, dtype=q.dtype), ()) for v in out])

    return values


def euler_lagrange_terms(
    library: Library, q: Float[np.ndarray, "S n"], qdot: Float[np.ndarray, "S n"]
) -> tuple[Float[np.ndarray, "S K n n"], Float[np.ndarray, "S K n"]]:
    """(H, g) of every candidate at every state (module docstring), as float64 NumPy arrays when x64 is on."""
    phi = lambdified(library, library.terms)
    return _terms(phi, jnp.asarray(q), jnp.asarray(qdot))


def _terms(phi: Callable[[Array, Array], Array], q: Array, qdot: Array) -> tuple[np.ndarray, np.ndarray]:
    def one(q1: Array, v1: Array) -> tuple[Array, Array]:
        momentum = jax.jacfwd(phi, argnums=1)  # ∂φ/∂q̇, (K, n)
        H = jax.jacfwd(momentum, argnums=1)(q1, v1)  # (K, n, n)
        mixed = jax.jacfwd(momentum, argnums=0)(q1, v1)  # ∂²φ/∂q̇_i∂q_j, (K, n, n)
        grad_q = jax.jacfwd(phi, argnums=0)(q1, v1)  # (K, n)
        return H, grad_q - jnp.einsum("kij,j->ki", mixed, v1)

    H, g = jax.jit(jax.vmap(one))(q, qdot)
    return np.asarray(H), np.asarray(g)
