r"""What mechanics derives from a Lagrangian or a model, batched over leading axes ``(..., n)``.

Each function takes a Lagrangian — a function ``L(q, qdot) -> scalar`` written
with ``jax.numpy``, or an :class:`AbstractLagrangian` (its ``lagrangian``) — or,
for :func:`accelerations`, any :class:`AbstractDynamics`:

* accelerations q̈ (Euler–Lagrange, or the model's own dynamics),
* energy :math:`E = \dot q\cdot\partial_{\dot q} L - L` (conserved when L has no
  explicit time dependence and nothing else acts),
* canonical momenta :math:`p = \partial_{\dot q} L`,
* the mass matrix :math:`M = \partial_{\dot q}\partial_{\dot q}^\top L`, its health report,
* Rayleigh dissipation D = ½ q̇ᵀK(q)q̇ (:func:`rayleigh`), the power it dissipates and the
  damping rates M⁻¹K; the energy then obeys
  :math:`\dot E = -\dot q\cdot\partial_{\dot q} D + \dot q\cdot\tau`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Real

from lnn._typing import States
from lnn.errors import ConfigurationError, ModelTypeError, ShapeError, SingularMassMatrixError
from lnn.mechanics._dynamics import AbstractDynamics, AbstractLagrangian
from lnn.mechanics._euler_lagrange import (
    Dissipation,
    Lagrangian,
    as_force,
    as_state,
    lagrangian_acceleration,
    mass_matrix_of_state,
)
from lnn.mechanics._solve import LinearSolver, check_linear_solver


def as_lagrangian(lagrangian: AbstractLagrangian | Lagrangian) -> Lagrangian:
    """The function L(q, q̇) of a Lagrangian model, or the function itself.

    Raises :class:`~lnn.errors.ModelTypeError` for dynamics without a Lagrangian
    (a black box, a Hamiltonian network).
    """
    if isinstance(lagrangian, AbstractLagrangian):
        return lagrangian.lagrangian
    if isinstance(lagrangian, AbstractDynamics) or not callable(lagrangian):
        raise ModelTypeError(
            f"a {type(lagrangian).__name__} has no Lagrangian L(q, qdot); pass a Lagrangian model (LagrangianNN, "
            "StructuredLagrangian, a System, ...) or a function L(q, qdot) -> scalar."
        )
    return lagrangian


def accelerations(
    dynamics: AbstractDynamics | Lagrangian,
    q: States,
    qdot: States,
    *,
    dissipation: Dissipation | None = None,
    force: States | None = None,
    linear_solver: LinearSolver | None = None,
) -> Float[Array, "... n"]:
    r"""Accelerations :math:`\ddot q`, batched over ``...``.

    ``dynamics``: any :class:`AbstractDynamics` (a model or a system: its own
    ``acceleration``), or a Lagrangian function, whose Euler–Lagrange equations
    are solved with ``dissipation`` D and generalized ``force`` τ (broadcast
    against the states): :math:`M\ddot q = \partial_q L - (\partial_q\partial_{\dot q}^\top L)\dot q
    - \partial_{\dot q} D + \tau`. ``linear_solver``: :class:`~lnn.mechanics.LU`,
    :class:`~lnn.mechanics.Cholesky` or :class:`~lnn.mechanics.CG` (default: LU
    below ``CG_FROM_DOF`` coordinates, CG above).
    """
    q, qdot = as_state(q, qdot)
    if isinstance(dynamics, AbstractDynamics):
        if dissipation is not None or linear_solver is not None:
            raise ConfigurationError(
                "dissipation and linear_solver apply to a Lagrangian function; a model has its own "
                "(compose friction with lnn.Dissipative, choose a model's solver when building it)."
            )
        f = dynamics.acceleration
    else:
        check_linear_solver(linear_solver)
        f = _EulerLagrange(as_lagrangian(dynamics), dissipation, linear_solver)
    tau = None if force is None else as_force(force, q.shape[-1], q.dtype)
    return _accelerations(f, q, qdot, tau)


class _EulerLagrange(eqx.Module):
    """q̈ of one state from L, D and a solver: a module, so that the compiled batch caches on it."""

    L: Lagrangian
    dissipation: Dissipation | None
    linear_solver: LinearSolver | None

    def __call__(self, q: Array, qdot: Array, force: Array | None = None) -> Array:
        return lagrangian_acceleration(
            self.L, q, qdot, dissipation=self.dissipation, force=force, linear_solver=self.linear_solver
        )


@eqx.filter_jit
def _accelerations(f: Callable[..., Array], q: Array, qdot: Array, tau: Array | None) -> Array:
    if tau is None:
        return jnp.vectorize(lambda a, b: f(a, b), signature="(n),(n)->(n)")(q, qdot)
    return jnp.vectorize(lambda a, b, t: f(a, b, force=t), signature="(n),(n),(n)->(n)")(q, qdot, tau)


def mass_matrix(lagrangian: AbstractLagrangian | Lagrangian, q: States, qdot: States) -> Float[Array, "... n n"]:
    r""":math:`M = \partial^2 L / \partial\dot q\,\partial\dot q^\top`, shape ``(..., n, n)``."""
    q, qdot = as_state(q, qdot)
    return _over_states(mass_matrix_of_state, as_lagrangian(lagrangian), q, qdot, "(n),(n)->(n,n)")


def momenta(lagrangian: AbstractLagrangian | Lagrangian, q: States, qdot: States) -> Float[Array, "... n"]:
    r"""Canonical momenta :math:`p = \partial L/\partial\dot q`, shape ``(..., n)``."""
    q, qdot = as_state(q, qdot)
    return _over_states(_momentum_of_state, as_lagrangian(lagrangian), q, qdot, "(n),(n)->(n)")


def energy(lagrangian: AbstractLagrangian | Lagrangian, q: States, qdot: States) -> Float[Array, "..."]:
    r"""Energy :math:`E = \dot q\cdot\partial L/\partial\dot q - L` (the Noether charge of time translation)."""
    q, qdot = as_state(q, qdot)
    return _over_states(_energy_of_state, as_lagrangian(lagrangian), q, qdot, "(n),(n)->()")


@eqx.filter_jit
def _over_states(per_state: Callable, L: Lagrangian, q: Array, qdot: Array, signature: str) -> Array:
    """``per_state(L, q, qdot)`` over the leading axes, compiled: op by op, batched derivatives of L take
    seconds per call. L's arrays (a network's weights) are traced; the rest of it is static."""
    return jnp.vectorize(functools.partial(per_state, L), signature=signature)(q, qdot)


def _momentum_of_state(L: Lagrangian, q: Array, qdot: Array) -> Array:
    return jax.grad(L, argnums=1)(q, qdot)


def _energy_of_state(L: Lagrangian, q: Array, qdot: Array) -> Array:
    value, p = jax.value_and_grad(L, argnums=1)(q, qdot)
    return jnp.dot(qdot, p) - value


def _constant(value: Array, q: Array) -> Array:
    return value


def rayleigh(damping: Real[ArrayLike, "n n"] | Sequence[Any] | Callable[[Array], Array]) -> Dissipation:
    r"""The Rayleigh dissipation function :math:`D = \tfrac12 \dot q^\top K(q)\,\dot q`.

    ``damping`` is K: a constant ``(n, n)`` array, or a function ``q -> (n, n)``.
    K must be positive semi-definite for D to dissipate (never create) energy;
    a constant K is checked here, a function is the caller's responsibility
    (lnn's learned one is PSD by construction, K = C Cᵀ).
    """
    K_of: Callable[[Array], Array]
    if callable(damping):
        K_of = damping
    else:
        K = jnp.asarray(damping, dtype=jnp.result_type(float))
        if K.ndim != 2 or K.shape[0] != K.shape[1]:
            raise ShapeError(f"the damping matrix K must be square (n, n); got {tuple(K.shape)}.")
        eig = jnp.linalg.eigvalsh(0.5 * (K + K.T))
        if not bool(jnp.allclose(K, K.T)) or float(eig[0]) < -1e-12 * max(float(jnp.max(jnp.abs(eig))), 1.0):
            raise ConfigurationError(
                f"the damping matrix K must be symmetric positive semi-definite (eigenvalues {eig}); "
                "a negative eigenvalue would feed energy in. Use K = C Cᵀ."
            )

        K_of = functools.partial(_constant, K)

    return lambda q, qdot: 0.5 * qdot @ K_of(q) @ qdot


def dissipated_power(dissipation: Dissipation, q: States, qdot: States) -> Float[Array, "..."]:
    r"""Power lost to dissipation, :math:`\dot q\cdot\partial D/\partial\dot q` (2D for Rayleigh), batched."""
    q, qdot = as_state(q, qdot)

    def one(a, b):
        return jnp.dot(b, jax.grad(dissipation, argnums=1)(a, b))

    return jnp.vectorize(one, signature="(n),(n)->()")(q, qdot)


def damping_rates(
    lagrangian: AbstractLagrangian | Lagrangian, dissipation: Dissipation, q: States
) -> Float[Array, "... n n"]:
    r"""The damping-rate matrix :math:`\Gamma(q) = M^{-1} K` (units 1/time), shape ``(..., n, n)``.

    Near rest the damped equations read :math:`\ddot q = \dots - \Gamma\dot q`, so
    Γ is what motion measures: it does not change when L and D are multiplied
    by the same constant (which leaves the dynamics unchanged), unlike K alone.
    K = ∂²D/∂q̇² and M = ∂²L/∂q̇², both taken at q̇ = 0.
    """
    q = jnp.asarray(q, dtype=jnp.result_type(jnp.asarray(q).dtype, float))
    zeros = jnp.zeros_like(q)
    M = mass_matrix(lagrangian, q, zeros)
    K = jnp.vectorize(jax.hessian(dissipation, argnums=1), signature="(n),(n)->(n,n)")(q, zeros)
    return jnp.linalg.solve(M, K)


class MassMatrixReport(NamedTuple):
    """Health of ∂²L/∂q̇² per state.

    ``eigenvalues`` ``(..., n)`` ascending; ``condition_number`` ``(...)`` is
    max|λ| / min|λ| (inf when singular); ``positive_definite`` ``(...)`` is True
    where every eigenvalue is > 0 (a physical kinetic energy).
    """

    eigenvalues: Float[Array, "... n"]
    condition_number: Float[Array, "..."]
    positive_definite: Bool[Array, "..."]


def mass_matrix_report(lagrangian: AbstractLagrangian | Lagrangian, q: States, qdot: States) -> MassMatrixReport:
    """Eigenvalues, conditioning and definiteness of ∂²L/∂q̇² at each state ``(..., n)``."""
    eig = jnp.linalg.eigvalsh(mass_matrix(lagrangian, q, qdot))
    absolute = jnp.abs(eig)
    cond = jnp.max(absolute, axis=-1) / jnp.min(absolute, axis=-1)
    return MassMatrixReport(eig, cond, jnp.all(eig > 0, axis=-1))


def check_mass_matrix(
    lagrangian: AbstractLagrangian | Lagrangian,
    q: States,
    qdot: States,
    *,
    max_condition: float = 1e10,
) -> MassMatrixReport:
    """Raise :class:`~lnn.errors.SingularMassMatrixError` if ∂²L/∂q̇² is indefinite or ill-conditioned.

    ``max_condition`` bounds the condition number; beyond it the solve for q̈
    loses most of its digits. Returns the report when all states pass.
    """
    report = mass_matrix_report(lagrangian, q, qdot)
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
