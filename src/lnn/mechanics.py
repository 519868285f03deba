r"""Euler–Lagrange mechanics for any Lagrangian :math:`L(q, \dot q)`.

A Lagrangian is any function ``L(q, qdot) -> scalar`` written with ``jax.numpy``,
``q`` and ``qdot`` of shape ``(n,)``. From it, by automatic differentiation:

* accelerations, from :math:`\frac{d}{dt}\partial_{\dot q} L = \partial_q L`:

  .. math:: \ddot q = M^{-1}\,[\partial_q L - (\partial_q \partial_{\dot q}^\top L)\,\dot q],
            \qquad M = \partial_{\dot q}\partial_{\dot q}^\top L

* energy :math:`E = \dot q \cdot \partial_{\dot q} L - L` (conserved when L has no
  explicit time dependence),
* canonical momenta :math:`p = \partial_{\dot q} L`.

Dissipation and driving forces compose onto the conservative dynamics (they are
arguments, not model classes). A Rayleigh dissipation function
:math:`D(q, \dot q) = \tfrac12 \dot q^\top K(q)\, \dot q` with K positive
semi-definite (:func:`rayleigh`) and generalized forces τ (measured torques,
controls) enter the right-hand side:

.. math:: M\,\ddot q = \partial_q L - (\partial_q \partial_{\dot q}^\top L)\,\dot q
          - \partial_{\dot q} D + \tau

and the energy then obeys :math:`\dot E = -\dot q\cdot\partial_{\dot q} D + \dot q\cdot\tau`
(:func:`dissipated_power`, checked along rollouts by ``lnn.metrics.energy_balance``).

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

from lnn.errors import DataError, ShapeError, SingularMassMatrixError

Lagrangian = Callable[[Array, Array], Array]
Dynamics = Callable[..., Array]  # f(q, qdot[, tau]) -> qddot
Dissipation = Callable[[Array, Array], Array]  # D(q, qdot) -> scalar


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


def _right_hand_side(dL_dq, mixed, q, qdot, dissipation, tau):
    """∂L/∂q − (∂²L/∂q̇∂qᵀ) q̇ − ∂D/∂q̇ + τ: what M q̈ equals."""
    rhs = dL_dq - mixed
    if dissipation is None and tau is None:
        return rhs
    return rhs + generalized_force(q, qdot, dissipation, tau)


def generalized_force(q: Array, qdot: Array, dissipation: Dissipation | None = None,
                      tau: Array | None = None) -> Array:
    r"""The non-conservative generalized force :math:`Q = -\partial D/\partial\dot q + \tau` at one state.

    What the Euler–Lagrange equations add to ∂L/∂q: friction from the Rayleigh
    dissipation function D (if given) and the applied force τ (if given); zero
    without either. Shape ``(n,)``.
    """
    force = jnp.zeros_like(qdot) if tau is None else jnp.asarray(tau, dtype=qdot.dtype)
    if dissipation is not None:
        force = force - jax.grad(dissipation, argnums=1)(q, qdot)
    return force


def _acceleration(L: Lagrangian, q: Array, qdot: Array, dissipation: Dissipation | None = None,
                  tau: Array | None = None) -> Array:
    dL_dq, _, M, mixed = _terms(L, q, qdot)
    return jnp.linalg.solve(M, _right_hand_side(dL_dq, mixed, q, qdot, dissipation, tau))


def _acceleration_cg(L: Lagrangian, q: Array, qdot: Array, tol: float | None, maxiter: int | None,
                     dissipation: Dissipation | None = None, tau: Array | None = None) -> Array:
    r"""q̈ by conjugate gradients on M x = ∂L/∂q − (∂²L/∂q̇∂qᵀ) q̇ (− ∂D/∂q̇ + τ), never forming M.

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
    b = _right_hand_side(dL_dq, push(qdot, zeros)[1], q, qdot, dissipation, tau)
    tol = (1e-10 if q.dtype == jnp.float64 else 1e-5) if tol is None else tol
    maxiter = 2 * q.shape[0] if maxiter is None else maxiter
    x, _ = jax.scipy.sparse.linalg.cg(hvp, b, tol=tol, maxiter=maxiter)
    residual = jnp.linalg.norm(hvp(x) - b)
    converged = residual <= 100 * tol * jnp.linalg.norm(b)
    return jnp.where(converged, x, jnp.nan)


def dynamics(L: Lagrangian, dissipation: Dissipation | None = None, *, solver: str = "auto",
             tol: float | None = None, maxiter: int | None = None) -> Dynamics:
    """Build the dynamics ``f(q, qdot, tau=None) -> qddot`` of a Lagrangian, for one state ``(n,)``.

    ``dissipation`` is an optional D(q, q̇) -> scalar (see :func:`rayleigh`);
    ``tau``, shape ``(n,)``, an optional generalized force at that state. Use this
    where a dynamics function is wanted (rollouts, training); it is the
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

    def f(q, qdot, tau=None):
        if solver == "cg" or (solver == "auto" and q.shape[0] >= CG_FROM_DOF):
            return _acceleration_cg(L, q, qdot, tol, maxiter, dissipation, tau)
        return _acceleration(L, q, qdot, dissipation, tau)

    return f


def accelerations(
    L: Lagrangian,
    q: Float[Array, "... n"],
    qdot: Float[Array, "... n"],
    *,
    dissipation: Dissipation | None = None,
    force: Float[Array, "... n"] | None = None,
    solver: str = "auto",
    tol: float | None = None,
    maxiter: int | None = None,
) -> Float[Array, "... n"]:
    r"""Accelerations :math:`\ddot q` from the Euler–Lagrange equations, batched over ``...``.

    With ``dissipation`` D and generalized ``force`` τ (broadcast against the
    states), :math:`M\ddot q = \partial_q L - (\partial_q\partial_{\dot q}^\top L)\dot q
    - \partial_{\dot q} D + \tau`. ``solver``, ``tol``, ``maxiter``: see :func:`dynamics`.
    """
    q, qdot = as_state(q, qdot)
    f = dynamics(L, dissipation, solver=solver, tol=tol, maxiter=maxiter)
    if force is None:
        return jnp.vectorize(f, signature="(n),(n)->(n)")(q, qdot)
    return jnp.vectorize(f, signature="(n),(n),(n)->(n)")(q, qdot, as_force(force, q.shape[-1], q.dtype))


def as_force(force, n: int, dtype=None) -> Array:
    """Check a generalized force τ: a float array whose last axis has the ``n`` coordinates."""
    tau = jnp.asarray(force, dtype=dtype)
    if tau.ndim == 0 or tau.shape[-1] != n:
        raise ShapeError(
            f"the generalized force must have one component per coordinate, shape (..., {n}); "
            f"got {tuple(tau.shape)}."
        )
    return tau


def rayleigh(damping) -> Dissipation:
    r"""The Rayleigh dissipation function :math:`D = \tfrac12 \dot q^\top K(q)\,\dot q`.

    ``damping`` is K: a constant ``(n, n)`` array, or a function ``q -> (n, n)``.
    K must be positive semi-definite for D to dissipate (never create) energy;
    a constant K is checked here, a function is the caller's responsibility
    (lnn's learned one is PSD by construction, K = C Cᵀ).
    """
    if callable(damping):
        K_of = damping
    else:
        K = jnp.asarray(damping, dtype=jnp.result_type(float))
        if K.ndim != 2 or K.shape[0] != K.shape[1]:
            raise ShapeError(f"the damping matrix K must be square (n, n); got {tuple(K.shape)}.")
        eig = jnp.linalg.eigvalsh(0.5 * (K + K.T))
        if not bool(jnp.allclose(K, K.T)) or float(eig[0]) < -1e-12 * max(float(jnp.max(jnp.abs(eig))), 1.0):
            raise ValueError(
                f"the damping matrix K must be symmetric positive semi-definite (eigenvalues {eig}); "
                "a negative eigenvalue would feed energy in. Use K = C Cᵀ."
            )
        K_of = lambda q: K  # noqa: E731
    return lambda q, qdot: 0.5 * qdot @ K_of(q) @ qdot


def dissipated_power(dissipation: Dissipation, q: Float[Array, "... n"],
                     qdot: Float[Array, "... n"]) -> Float[Array, "..."]:
    r"""Power lost to dissipation, :math:`\dot q\cdot\partial D/\partial\dot q` (2D for Rayleigh), batched."""
    q, qdot = as_state(q, qdot)
    one = lambda a, b: jnp.dot(b, jax.grad(dissipation, argnums=1)(a, b))  # noqa: E731
    return jnp.vectorize(one, signature="(n),(n)->()")(q, qdot)


def damping_rates(L: Lagrangian, dissipation: Dissipation, q: Float[Array, "... n"]) -> Float[Array, "... n n"]:
    r"""The damping-rate matrix :math:`\Gamma(q) = M^{-1} K` (units 1/time), shape ``(..., n, n)``.

    Near rest the damped equations read :math:`\ddot q = \dots - \Gamma\dot q`, so
    Γ is what motion measures: it does not change when L and D are multiplied
    by the same constant (which leaves the dynamics unchanged), unlike K alone.
    K = ∂²D/∂q̇² and M = ∂²L/∂q̇², both taken at q̇ = 0.
    """
    q = jnp.asarray(q, dtype=jnp.result_type(jnp.asarray(q).dtype, float))
    zeros = jnp.zeros_like(q)
    M = mass_matrix(L, q, zeros)
    K = jnp.vectorize(jax.hessian(dissipation, argnums=1), signature="(n),(n)->(n,n)")(q, zeros)
    return jnp.linalg.solve(M, K)


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


def check_takes_force(model_or_lagrangian: Callable, n: int) -> None:
    """Raise :class:`~lnn.errors.DataError` unless the dynamics accept a generalized force τ."""
    probe = jnp.zeros((n,))
    try:
        jax.eval_shape(as_dynamics(model_or_lagrangian), probe, probe, probe)
    except TypeError:
        raise DataError(
            f"a {type(model_or_lagrangian).__name__} takes no generalized force; model a driven system "
            "with a Lagrangian (an LNN, optionally with dissipation) or dynamics f(q, qdot, tau)."
        ) from None


def as_dynamics(model_or_lagrangian: Callable) -> Dynamics:
    """Turn a model, a Lagrangian or a dynamics function into ``f(q, qdot[, tau]) -> qddot``.

    Objects with an ``acceleration`` method (every lnn model) use it. A plain
    callable is a Lagrangian if it returns a scalar for one state, and is taken
    as a dynamics function if it returns one value per coordinate (it is then
    called with a generalized force ``tau`` only when one is given).
    """
    if hasattr(model_or_lagrangian, "acceleration"):
        return model_or_lagrangian.acceleration
    fn = model_or_lagrangian

    def f(q, qdot, tau=None):
        out = jax.eval_shape(fn, q, qdot)
        if out.shape == ():
            return dynamics(fn)(q, qdot, tau)
        if out.shape == q.shape:
            return fn(q, qdot) if tau is None else fn(q, qdot, tau)
        raise ShapeError(
            f"a function of (q, qdot) with q{tuple(q.shape)} must return a scalar (a Lagrangian) "
            f"or an array of shape {tuple(q.shape)} (accelerations); it returned {tuple(out.shape)}."
        )

    return f


def batch_dynamics(model_or_lagrangian: Callable) -> Callable:
    """Accelerations for a batch, ``f(q, qdot[, tau])`` with shapes ``(B, n)`` → ``(B, n)``.

    A model's own batched ``accelerations`` where it has one (``LagrangianNN``:
    a hand-written reverse pass, faster to train), else :func:`as_dynamics` vmapped.
    """
    if hasattr(model_or_lagrangian, "accelerations"):
        return model_or_lagrangian.accelerations
    return jax.vmap(as_dynamics(model_or_lagrangian))
