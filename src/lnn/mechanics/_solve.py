r"""Solving M x = b for the mass matrix M = ∂²L/∂q̇²: a direct solve of M, or matrix-free conjugate gradients.

The solver is an object:

* :class:`LU` — M formed (from n Hessian-vector products, or by a model that
  computes it analytically) and solved by LU: any invertible M; cost ~n forward
  passes + n³/3;
* :class:`Cholesky` — the same with a Cholesky factorisation: M must be positive
  definite (a physical kinetic energy);
* :class:`CG` — matrix-free conjugate gradients, one Hessian-vector product per
  iteration, for many coordinates; it needs M positive definite.

``None`` means :func:`default_linear_solver`: LU below :data:`CG_FROM_DOF`
coordinates, CG from there on. A solve that fails (a singular or indefinite M,
CG not converged) gives NaN, never a silently regularised answer and never an
exception, so a training step that meets one is skipped and counted
(:func:`lnn.fit`); :func:`lnn.mechanics.mass_matrix_report` finds such states.

These are JAX's own solves rather than lineax's: lineax raises an error from the
derivative of any solve whose result is not finite (its tangent solves always
throw), which would turn that skipped training step into a crash.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, Float

from lnn.errors import ConfigurationError

# Above this many coordinates the default goes matrix-free: forming M costs n
# Hessian-vector products, conjugate gradients a number that depends on M's
# conditioning, not on n (benchmarks/scaling.py measures the crossover).
CG_FROM_DOF = 48


class LU(eqx.Module):
    """Form M and solve by LU (partial pivoting): any invertible M."""


class Cholesky(eqx.Module):
    """Form M and solve by Cholesky: M must be positive definite (NaN where it is not)."""


class CG(eqx.Module):
    """Matrix-free conjugate gradients on Hessian-vector products; M must be positive definite.

    ``rtol``: the relative residual ‖Mx − b‖/‖b‖ to reach (default 1e-10 in
    float64, 1e-5 in float32); ``max_steps``: the iteration cap (default 2n).
    Where it has not converged, the residual is above 100·rtol and the result
    is NaN. Gradients go through ``lax.custom_linear_solve``: one more CG solve,
    not backpropagation through the iterations.
    """

    rtol: float | None = eqx.field(static=True, default=None)
    max_steps: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.rtol is not None and not self.rtol > 0:
            raise ConfigurationError(f"CG's rtol must be positive; got {self.rtol}.")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigurationError(f"CG's max_steps must be >= 1; got {self.max_steps}.")


LinearSolver = LU | Cholesky | CG


def default_linear_solver(n: int) -> LinearSolver:
    """LU below :data:`CG_FROM_DOF` coordinates, :class:`CG` from there on."""
    return LU() if n < CG_FROM_DOF else CG()


def is_matrix_free(solver: LinearSolver | None, n: int) -> bool:
    """Whether ``solver`` (``None``: the default for n coordinates) solves from products M v alone."""
    return isinstance(solver if solver is not None else default_linear_solver(n), CG)


def check_linear_solver(solver: object) -> LinearSolver | None:
    """``solver`` itself if it is one (or None); a clear error otherwise."""
    if solver is not None and not isinstance(solver, (LU, Cholesky, CG)):
        raise ConfigurationError(f"unknown linear solver {solver!r}; use lnn.mechanics.LU(), Cholesky() or CG().")
    return solver


def solve_matrix(
    M: Float[Array, "n n"], b: Float[Array, " n"], solver: LinearSolver | None = None
) -> Float[Array, " n"]:
    """x with M x = b for M given as a matrix (a direct solve; CG asks for :func:`solve_products`)."""
    if isinstance(solver, Cholesky):
        return jsl.cho_solve((jnp.linalg.cholesky(M), True), b)
    return jnp.linalg.solve(M, b)


def solve_products(
    mv: Callable[[Array], Array], b: Float[Array, " n"], solver: LinearSolver | None = None
) -> Float[Array, " n"]:
    """x with M x = b for a symmetric M given by its products ``mv(v) = M v``.

    A direct solver forms M from n products; :class:`CG` never does.
    """
    n = b.shape[0]
    solver = default_linear_solver(n) if solver is None else solver
    if not isinstance(solver, CG):
        return solve_matrix(jax.vmap(mv)(jnp.eye(n, dtype=b.dtype)), b, solver)
    rtol = (1e-10 if b.dtype == jnp.float64 else 1e-5) if solver.rtol is None else solver.rtol
    max_steps = 2 * n if solver.max_steps is None else solver.max_steps
    x, _ = jax.scipy.sparse.linalg.cg(mv, b, tol=rtol, maxiter=max_steps)
    converged = jnp.linalg.norm(mv(x) - b) <= 100 * rtol * jnp.linalg.norm(b)
    return jnp.where(converged, x, jnp.nan)
