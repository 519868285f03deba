r"""Each candidate's Euler–Lagrange terms at a batch of states, by automatic differentiation.

For a candidate φ(q, q̇) the Euler–Lagrange expression is

.. math:: \frac{d}{dt}\frac{\partial\phi}{\partial\dot q} - \frac{\partial\phi}{\partial q}
          = H\,\ddot q - g,\qquad H = \frac{\partial^2\phi}{\partial\dot q^2},\quad
          g = \frac{\partial\phi}{\partial q} - \frac{\partial^2\phi}{\partial\dot q\,\partial q}\,\dot q,

so a Lagrangian L = Σ ξₖ φₖ has the mass matrix M = Σ ξₖ Hₖ and the force
Σ ξₖ gₖ, and its equations of motion are linear in ξ. H and g are differentiated
symbolically by SymPy and lambdified to NumPy (common subexpressions shared), so
they are exact and cost no compilation: the same quantities by nested JAX
``jacfwd`` over the lambdified candidates take longer to compile than the whole
fit takes to run. The formula itself is lambdified to JAX (:func:`lambdified`) so
that its :class:`lnn.System` rolls out compiled.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
import sympy as sp
from jaxtyping import Array, ArrayLike, Float

from lnn.distillation._library import Library


def lambdified(library: Library, expressions: tuple[sp.Expr, ...]) -> Callable[[Array, Array], Array]:
    """``f(q, qdot) -> (len(expressions),)`` for one state, written with ``jax.numpy``."""
    fn = sp.lambdify([list(library.q), list(library.qdot)], list(expressions), modules="jax")

    def values(q: Array, qdot: Array) -> Array:
        out = fn(q, qdot)
        return jnp.stack([jnp.broadcast_to(jnp.asarray(v, dtype=q.dtype), ()) for v in out])

    return values


def euler_lagrange_terms(
    library: Library, q: Float[ArrayLike, "S n"], qdot: Float[ArrayLike, "S n"]
) -> tuple[Float[np.ndarray, "S K n n"], Float[np.ndarray, "S K n"]]:
    """(H, g) of every candidate at every state (module docstring), float64 NumPy arrays."""
    n, K = len(library.q), len(library.terms)
    entries: list[sp.Expr] = []
    for phi in library.terms:
        momentum = [sp.diff(phi, v) for v in library.qdot]
        entries += [sp.diff(p, v) for p in momentum for v in library.qdot]
        entries += [
            sp.diff(phi, x) - sum((sp.diff(p, y) * v for y, v in zip(library.q, library.qdot, strict=True)), sp.S.Zero)
            for x, p in zip(library.q, momentum, strict=True)
        ]
    fn = sp.lambdify([list(library.q), list(library.qdot)], entries, modules="numpy", cse=True)
    q, qdot = np.asarray(q, dtype=np.float64), np.asarray(qdot, dtype=np.float64)
    values = fn(list(q.T), list(qdot.T))
    out = np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), q.shape[:1]) for v in values], axis=1)
    out = out.reshape(q.shape[0], K, n * n + n)
    return out[:, :, : n * n].reshape(q.shape[0], K, n, n), out[:, :, n * n :]
