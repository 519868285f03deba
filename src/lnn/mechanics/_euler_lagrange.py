r"""The Euler–Lagrange equations of one state, for any Lagrangian function L(q, q̇).

.. math:: M\,\ddot q = \partial_q L - (\partial_q \partial_{\dot q}^\top L)\,\dot q
          - \partial_{\dot q} D + \tau, \qquad M = \partial_{\dot q}\partial_{\dot q}^\top L

with an optional Rayleigh dissipation D(q, q̇) and generalized force τ.

Only what the formula needs is computed: the gradient of L is linearised once
and pushed along the n unit q̇-tangents (M, when a direct solver needs it) and
along the single tangent (q̇, 0) (the mixed term times q̇). The full 2n × 2n
Hessian is never formed, and M is inverted by a linear solve (:mod:`._solve`),
never a pseudo-inverse, so a singular M shows up as inf/NaN instead of being
silently hidden.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from lnn._typing import States
from lnn.errors import ShapeError
from lnn.mechanics._solve import LinearSolver, solve_products

Lagrangian = Callable[[Array, Array], Array]
"""A Lagrangian ``L(q, qdot) -> scalar`` of one state, ``q`` and ``qdot`` of shape ``(n,)``."""
Dissipation = Callable[[Array, Array], Array]
"""A Rayleigh dissipation function ``D(q, qdot) -> scalar`` of one state."""


def as_state(q: States, qdot: States) -> tuple[Array, Array]:
    """Check and convert a state ``(q, qdot)`` of shape ``(..., n)`` to float arrays of one dtype."""
    q = jnp.asarray(q)
    qdot = jnp.asarray(qdot)
    if q.ndim == 0 or q.shape != qdot.shape:
        raise ShapeError(
            f"q and qdot must have the same shape (..., n) with n >= 1; got "
            f"q{tuple(q.shape)} and qdot{tuple(qdot.shape)}. Pass one velocity per coordinate."
        )
    dtype = jnp.result_type(q.dtype, qdot.dtype, float)
    return q.astype(dtype), qdot.astype(dtype)


def as_force(force: States, n: int, dtype=None) -> Array:
    """Check a generalized force τ: a float array whose last axis has the ``n`` coordinates."""
    tau = jnp.asarray(force, dtype=dtype)
    if tau.ndim == 0 or tau.shape[-1] != n:
        raise ShapeError(
            f"the generalized force must have one component per coordinate, shape (..., {n}); got {tuple(tau.shape)}."
        )
    return tau


def lagrangian_terms(L: Lagrangian, q: Float[Array, " n"], qdot: Float[Array, " n"]):
    """(∂L/∂q, M v ↦ product, (∂²L/∂q̇∂qᵀ) q̇) for one state: the pieces of the Euler–Lagrange equations.

    The second entry is the Hessian-vector product v ↦ M v with M = ∂²L/∂q̇², a
    push of (0, v) through the linearised gradient.
    """
    (dL_dq, _), push = jax.linearize(jax.grad(L, argnums=(0, 1)), q, qdot)
    zeros = jnp.zeros_like(q)
    # Σ_j ∂²L/∂q̇_i∂q_j q̇_j: the q̇-gradient differentiated along q in direction q̇.
    mixed = push(qdot, zeros)[1]
    return dL_dq, lambda v: push(zeros, v)[1], mixed


def generalized_force(
    q: Float[Array, " n"],
    qdot: Float[Array, " n"],
    dissipation: Dissipation | None = None,
    force: Float[Array, " n"] | None = None,
) -> Float[Array, " n"]:
    r"""The non-conservative generalized force :math:`Q = -\partial D/\partial\dot q + \tau` at one state.

    What the Euler–Lagrange equations add to ∂L/∂q: friction from the Rayleigh
    dissipation function D (if given) and the applied force τ (if given); zero
    without either. Shape ``(n,)``.
    """
    total = jnp.zeros_like(qdot) if force is None else jnp.asarray(force, dtype=qdot.dtype)
    if dissipation is not None:
        total = total - jax.grad(dissipation, argnums=1)(q, qdot)
    return total


def lagrangian_acceleration(
    L: Lagrangian,
    q: Float[Array, " n"],
    qdot: Float[Array, " n"],
    *,
    dissipation: Dissipation | None = None,
    force: Float[Array, " n"] | None = None,
    linear_solver: LinearSolver | None = None,
) -> Float[Array, " n"]:
    """q̈ of one state ``(n,)`` from the Euler–Lagrange equations of ``L`` (module docstring).

    ``linear_solver``: how M q̈ = … is solved (see :mod:`lnn.mechanics._solve`;
    ``None``: LU below ``CG_FROM_DOF`` coordinates, conjugate gradients above).
    """
    dL_dq, mv, mixed = lagrangian_terms(L, q, qdot)
    rhs = dL_dq - mixed
    if dissipation is not None or force is not None:
        rhs = rhs + generalized_force(q, qdot, dissipation, force)
    return solve_products(mv, rhs, linear_solver)


def mass_matrix_of_state(L: Lagrangian, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, "n n"]:
    """M = ∂²L/∂q̇² at one state, from n Hessian-vector products (M is symmetric: rows = columns)."""
    _, mv, _ = lagrangian_terms(L, q, qdot)
    return jax.vmap(mv)(jnp.eye(q.shape[0], dtype=q.dtype))
