r"""Euler–Lagrange mechanics for any Lagrangian :math:`L(q, \dot q)`.

A Lagrangian is any function ``L(q, qdot) -> scalar`` written with ``jax.numpy``,
``q`` and ``qdot`` of shape ``(n,)``. From it, by automatic differentiation:

* accelerations, from :math:`\frac{d}{dt}\partial_{\dot q} L = \partial_q L`:

  .. math:: \ddot q = M^{-1}\,[\partial_q L - (\partial_q \partial_{\dot q}^\top L)\,\dot q],
            \qquad M = \partial_{\dot q}\partial_{\dot q}^\top L

* energy :math:`E = \dot q \cdot \partial_{\dot q} L - L` (conserved when L has no
  explicit time dependence),
* canonical momenta :math:`p = \partial_{\dot q} L`.

Only what the formula needs is computed: the gradient of L is linearised once
and pushed along the n unit q̇-tangents (the q̇-block of the Hessian, M) and along
the single tangent (q̇, 0) (the mixed term times q̇). The full 2n × 2n Hessian is
never formed, and M is inverted with a linear solve — never a pseudo-inverse, so
a singular M shows up as inf/NaN instead of being silently hidden; use
:func:`mass_matrix_report` to find such states.

Public functions take states batched over any leading axes, ``(..., n)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from lnn.errors import ShapeError, SingularMassMatrixError

Lagrangian = Callable[[Array, Array], Array]
Dynamics = Callable[[Array, Array], Array]


def as_state(q, qdot) -> tuple[Array, Array]:
    """Check and convert a state ``(q, qdot)`` of shape ``(..., n)`` to float arrays."""
    q = jnp.asarray(q)
    qdot = jnp.asarray(qdot)
    if q.ndim == 0 or q.shape != qdot.shape:
        raise ShapeError(
            f"q and qdot must have the same shape (..., n) with n >= 1; got "
            f"q{tuple(q.shape)} and qdot{tuple(qdot.shape)}. Pass one velocity per coordinate."
        )
    dtype = jnp.result_type(q.dtype, qdot.dtype, float)
    return q.astype(dtype), qdot.astype(dtype)


def _terms(L: Lagrangian, q: Array, qdot: Array) -> tuple[Array, Array, Array, Array]:
    """(∂L/∂q, ∂L/∂q̇, M = ∂²L/∂q̇², (∂²L/∂q∂q̇)ᵀ-term q̇) for one state of shape (n,)."""
    (dL_dq, dL_dqdot), push = jax.linearize(jax.grad(L, argnums=(0, 1)), q, qdot)
    zeros = jnp.zeros_like(q)
    # Row j of M is ∂(∂L/∂q̇)/∂q̇_j; M is symmetric, so rows = columns.
    M = jax.vmap(lambda e: push(zeros, e)[1])(jnp.eye(q.shape[0], dtype=q.dtype))
    # Σ_j ∂²L/∂q̇_i∂q_j q̇_j: the q̇-gradient differentiated along q in direction q̇.
    mixed = push(qdot, zeros)[1]
    return dL_dq, dL_dqdot, M, mixed


SOLVERS = ("auto", "dense", "cg")
# Above this many coordinates "auto" goes matrix-free: forming M costs n
# Hessian-vector products, conjugate gradients a number that depends on M's
# conditioning, not on n (benchmarks/scaling.py measures the crossover).
CG_FROM_DOF = 48


def _acceleration(L: Lagrangian, q: Array, qdot: Array) -> Array:
    dL_dq, _, M, mixed = _terms(L, q, qdot)
    return jnp.linalg.solve(M, dL_dq - mixed)


def _acceleration_cg(L: Lagrangian, q: Array, qdot: Array, tol: float | None, maxiter: int | None) -> Array:
    r"""q̈ by conjugate gradients on M x = ∂L/∂q − (∂²L/∂q̇∂qᵀ) q̇, never forming M.

    Each iteration is one Hessian-vector product M v, a push of (0, v) through the
    linearised gradient. CG is guaranteed to converge only for a symmetric
    positive definite M (a physical kinetic energy). Wherever it has not
    converged in ``maxiter`` iterations (a singular, indefinite or badly
    conditioned M), the relative residual ‖Mx − b‖/‖b‖ is above 100·tol and the
    state's accelerations are NaN — reported, like a singular M in the dense
    path, never silently wrong. Gradients (training) go through
    ``lax.custom_linear_solve``: one more CG solve, not backpropagation through
    the iterations.
    """
    (dL_dq, _), push = jax.linearize(jax.grad(L, argnums=(0, 1)), q, qdot)
    zeros = jnp.zeros_like(q)
    hvp = lambda v: push(zeros, v)[1]  # noqa: E731
    b = dL_dq - push(qdot, zeros)[1]
    tol = (1e-10 if q.dtype == jnp.float64 else 1e-5) if tol is None else tol
    maxiter = 2 * q.shape[0] if maxiter is None else maxiter
    x, _ = jax.scipy.sparse.linalg.cg(hvp, b, tol=tol, maxiter=maxiter)
    residual = jnp.linalg.norm(hvp(x) - b)
    converged = residual <= 100 * tol * jnp.linalg.norm(b)
    return jnp.where(converged, x, jnp.nan)


def dynamics(L: Lagrangian, *, solver: str = "auto", tol: float | None = None,
             maxiter: int | None = None) -> Dynamics:
    """Build the dynamics ``f(q, qdot) -> qddot`` of a Lagrangian, for one state ``(n,)``.

    Use this where a dynamics function is wanted (rollouts, training); it is the
    unbatched, un-checked core of :func:`accelerations`.

    ``solver``: ``"dense"`` forms M = ∂²L/∂q̇² (n Hessian-vector products) and
    solves with LU — any invertible M, cost ~n forward passes + n³/3;
    ``"cg"`` is matrix-free conjugate gradients (needs M positive definite; see
    :func:`_acceleration_cg`; ``tol`` is its relative residual, ``maxiter`` its
    iteration cap, default 2n); ``"auto"`` is dense below ``CG_FROM_DOF``
    coordinates and CG from there on.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}.")

    def f(q, qdot):
        if solver == "cg" or (solver == "auto" and q.shape[0] >= CG_FROM_DOF):
            return _acceleration_cg(L, q, qdot, tol, maxiter)
        return _acceleration(L, q, qdot)

    return f


def accelerations(
    L: Lagrangian, q: Float[Array, "... n"], qdot: Float[Array, "... n"], *, solver: str = "auto",
    tol: float | None = None, maxiter: int | None = None,
) -> Float[Array, "... n"]:
    r"""Accelerations :math:`\ddot q` from the Euler–Lagrange equations, batched over ``...``.

    ``solver``, ``tol``, ``maxiter``: see :func:`dynamics`.
    """
    q, qdot = as_state(q, qdot)
    f = dynamics(L, solver=solver, tol=tol, maxiter=maxiter)
    return jnp.vectorize(f, signature="(n),(n)->(n)")(q, qdot)


def mass_matrix(
    L: Lagrangian, q: Float[Array, "... n"], qdot: Float[Array, "... n"]
) -> Float[Array, "... n n"]:
    r""":math:`M = \partial^2 L / \partial\dot q\,\partial\dot q^\top`, shape ``(..., n, n)``."""
    q, qdot = as_state(q, qdot)
    return jnp.vectorize(lambda a, b: _terms(L, a, b)[2], signature="(n),(n)->(n,n)")(q, qdot)


def momenta(
    L: Lagrangian, q: Float[Array, "... n"], qdot: Float[Array, "... n"]
) -> Float[Array, "... n"]:
    r"""Canonical momenta :math:`p = \partial L/\partial\dot q`, shape ``(..., n)``."""
    q, qdot = as_state(q, qdot)
    return jnp.vectorize(jax.grad(L, argnums=1), signature="(n),(n)->(n)")(q, qdot)


def energy(L: Lagrangian, q: Float[Array, "... n"], qdot: Float[Array, "... n"]) -> Float[Array, "..."]:
    r"""Energy :math:`E = \dot q\cdot\partial L/\partial\dot q - L` (Noether charge of time translation)."""
    q, qdot = as_state(q, qdot)

    def one(a, b):
        value, p = jax.value_and_grad(L, argnums=1)(a, b)
        return jnp.dot(b, p) - value

    return jnp.vectorize(one, signature="(n),(n)->()")(q, qdot)


class MassMatrixReport(NamedTuple):
    """Health of ∂²L/∂q̇² per state.

    ``eigenvalues`` ``(..., n)`` ascending; ``condition_number`` ``(...)`` is
    max|λ| / min|λ| (inf when singular); ``positive_definite`` ``(...)`` is True
    where every eigenvalue is > 0 (a physical kinetic energy).
    """

    eigenvalues: Float[Array, "... n"]
    condition_number: Float[Array, "..."]
    positive_definite: Bool[Array, "..."]


def mass_matrix_report(L: Lagrangian, q, qdot) -> MassMatrixReport:
    """Eigenvalues, conditioning and definiteness of ∂²L/∂q̇² at each state ``(..., n)``."""
    M = mass_matrix(L, q, qdot)
    eig = jnp.linalg.eigvalsh(M)
    absolute = jnp.abs(eig)
    cond = jnp.max(absolute, axis=-1) / jnp.min(absolute, axis=-1)
    return MassMatrixReport(eig, cond, jnp.all(eig > 0, axis=-1))


def check_mass_matrix(L: Lagrangian, q, qdot, *, max_condition: float = 1e10) -> MassMatrixReport:
    """Raise :class:`SingularMassMatrixError` if ∂²L/∂q̇² is indefinite or ill-conditioned.

    ``max_condition`` bounds the condition number; beyond it the solve for q̈
    loses most of its digits. Returns the report when all states pass.
    """
    report = mass_matrix_report(L, q, qdot)
    bad_definite = ~report.positive_definite
    bad_condition = ~(report.condition_number <= max_condition)  # NaN counts as bad
    n_bad = int(jnp.sum(bad_definite | bad_condition))
    if n_bad:
        total = int(report.positive_definite.size)
        raise SingularMassMatrixError(
            f"∂²L/∂q̇² is not positive definite or has condition number > {max_condition:g} "
            f"at {n_bad} of {total} states ({int(jnp.sum(bad_definite))} indefinite or singular); "
            "the Euler–Lagrange accelerations are unreliable there. Train longer, restrict the "
            "states to the training domain, or use a model with a positive-definite mass matrix."
        )
    return report


def as_dynamics(model_or_lagrangian: Callable) -> Dynamics:
    """Turn a model, a Lagrangian or a dynamics function into ``f(q, qdot) -> qddot``.

    Objects with an ``acceleration`` method (every lnn model) use it. A plain
    callable is a Lagrangian if it returns a scalar for one state, and is taken
    as a dynamics function if it returns one value per coordinate.
    """
    if hasattr(model_or_lagrangian, "acceleration"):
        return model_or_lagrangian.acceleration
    fn = model_or_lagrangian

    def f(q, qdot):
        out = jax.eval_shape(fn, q, qdot)
        if out.shape == ():
            return dynamics(fn)(q, qdot)
        if out.shape == q.shape:
            return fn(q, qdot)
        raise ShapeError(
            f"a function of (q, qdot) with q{tuple(q.shape)} must return a scalar (a Lagrangian) "
            f"or an array of shape {tuple(q.shape)} (accelerations); it returned {tuple(out.shape)}."
        )

    return f
