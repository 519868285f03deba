r"""The Lagrangian Neural Network: an MLP whose scalar output is L(q, q̇)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from lnn.mechanics import (
    AbstractLagrangian,
    LinearSolver,
    check_linear_solver,
    is_matrix_free,
    lagrangian_acceleration,
    solve_matrix,
)
from lnn.models._mlp import MLP, MLPModel, make_features
from lnn.models._serialise import linear_solver_from_json, linear_solver_to_json


class LagrangianNN(MLPModel, AbstractLagrangian):
    r"""L_θ(q, q̇) = MLP(features(q, q̇)) + ½ β |q̇/s|²; q̈ follows from the Euler–Lagrange equations.

    The second term (``kinetic_prior=True``, β = exp(log β) learned, starting at 1,
    s = ``qdot_scale``) is a free-particle kinetic energy. It changes nothing
    the MLP could not represent, but it makes ∂²L/∂q̇² positive definite at
    initialisation: without it a random MLP's ∂²L/∂q̇² is indefinite on almost
    every state, the Euler–Lagrange solve gives heavy-tailed accelerations, and
    training stalls (``benchmarks/training_recipe.py`` measures both).

    Its dynamics conserve the learned energy E = q̇·∂L/∂q̇ − L by construction.

    Args:
        dof: number of coordinates n.
        key: PRNG key for the weights.
        width, depth: hidden units per layer and number of hidden layers.
        angles: which coordinates are angles (default: none).
        init: ``"standard"`` (LeCun normal, σ = 1/√fan_in) or ``"paper"`` (the
            LNN paper's per-layer scales; see ``benchmarks/training_recipe.py``).
        angle_encoding: ``"sincos"`` or ``"wrap"``.
        q_scale, qdot_scale: typical size of non-angle coordinates and of
            velocities; inputs are divided by them.
        kinetic_prior: add the learned ½ β |q̇/s|² term (default True).
        dtype: parameter dtype (default: JAX's default float).
        linear_solver: how M q̈ = … is solved — :class:`~lnn.mechanics.LU` or
            :class:`~lnn.mechanics.Cholesky` (the analytic MLP derivatives form M),
            or :class:`~lnn.mechanics.CG` (matrix-free, for many coordinates; needs
            M positive definite); ``None``: LU below ``lnn.mechanics.CG_FROM_DOF``
            coordinates, CG from there on.
    """

    log_kinetic: Array | None
    linear_solver: LinearSolver | None = eqx.field(static=True)

    def __init__(
        self,
        dof: int,
        *,
        key: Array,
        width: int = 64,
        depth: int = 2,
        angles: tuple[bool, ...] | None = None,
        init: str = "standard",
        angle_encoding: str = "sincos",
        q_scale: float = 1.0,
        qdot_scale: float = 1.0,
        kinetic_prior: bool = True,
        dtype=None,
        linear_solver: LinearSolver | None = None,
    ):
        self.linear_solver = check_linear_solver(linear_solver)
        self.features = make_features(dof, angles, angle_encoding, q_scale, qdot_scale)
        self.mlp = MLP([self.features.size] + [width] * depth + [1], key=key, init=init, dtype=dtype)
        self.log_kinetic = jnp.zeros((), dtype=self.mlp.weights[0].dtype) if kinetic_prior else None
        self.width, self.depth, self.init = width, depth, init

    def lagrangian(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, ""]:
        L = self.mlp(self.features(q, qdot))[0]
        if self.log_kinetic is not None:
            v = qdot.astype(L.dtype) / self.features.qdot_scale
            L = L + 0.5 * jnp.exp(self.log_kinetic) * jnp.dot(v, v)
        return L

    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        r"""q̈ for one state, from the Euler–Lagrange equations of L_θ, with analytic MLP derivatives.

        ``force`` (optional, shape ``(n,)``) is a generalized force τ: M q̈ = … + τ.

        With features x = φ(q, q̇) and L = f(x) (+ the kinetic prior), the chain rule
        gives everything from ∇f and the curvature of f along n + 1 tangents of
        feature space, T = [∂φ/∂q̇ | (∂φ/∂q) q̇] (:meth:`MLP.gradient_and_curvature`):

        * ∂L/∂q = (∂φ/∂q)ᵀ ∇f,
        * M = ∂²L/∂q̇² = (Tᵀ∇²f T)[:n, :n]   (φ is linear in q̇),
        * (∂²L/∂q̇∂qᵀ) q̇ = (Tᵀ∇²f T)[:n, n].

        Same numbers as :func:`lnn.mechanics.lagrangian_acceleration` on this model
        (tested to 1e-10 in float64) at a fraction of the cost (``benchmarks/speed.py``).
        With a matrix-free solver M is never formed: the general path solves by
        conjugate gradients on Hessian-vector products instead.
        """
        q, qdot = jnp.asarray(q), jnp.asarray(qdot)
        if is_matrix_free(self.linear_solver, q.shape[-1]):
            return lagrangian_acceleration(self.lagrangian, q, qdot, force=force, linear_solver=self.linear_solver)
        x, tangents = self._feature_tangents(q, qdot)
        return self._solve(q, qdot, *self.mlp.gradient_and_curvature(x, tangents), force)

    def accelerations(
        self, q: Float[ArrayLike, "B n"], qdot: Float[ArrayLike, "B n"], force: Float[ArrayLike, "B n"] | None = None
    ) -> Float[Array, "B n"]:
        """:meth:`acceleration` for a batch of states (and forces, shape ``(B, n)``).

        The same numbers, computed for the batch at once through
        :meth:`MLP.batch_gradient_and_curvature`, whose hand-written reverse pass
        makes a training step faster (training uses this method). Forward-mode
        derivatives (``jax.jvp``, ``jax.jacfwd``) need the per-state method.
        """
        q, qdot = jnp.asarray(q), jnp.asarray(qdot)
        if is_matrix_free(self.linear_solver, q.shape[-1]):
            return super().accelerations(q, qdot, force)
        x, tangents = jax.vmap(self._feature_tangents)(q, qdot)
        g, C = self.mlp.batch_gradient_and_curvature(x, tangents)
        if force is None:
            return jax.vmap(self._solve)(q, qdot, g, C)
        return jax.vmap(self._solve)(q, qdot, g, C, force)

    def _feature_tangents(self, q, qdot):
        """Features x = φ(q, q̇) and the n + 1 tangents T = [∂φ/∂q̇ | (∂φ/∂q) q̇], shape (m, n + 1)."""
        dtype = self.dtype
        q, qdot = q.astype(dtype), qdot.astype(dtype)
        x, phi_q_qdot = jax.jvp(lambda a: self.features(a, qdot), (q,), (qdot,))
        phi_qdot = jax.jacfwd(lambda v: self.features(q, v))(qdot)
        return x, jnp.concatenate([phi_qdot, phi_q_qdot[:, None]], axis=1)

    def _solve(self, q, qdot, grad_x, curvature, force=None):
        """q̈ = M⁻¹ (∂L/∂q − (∂²L/∂q̇∂qᵀ) q̇ + τ) from ∇f and the curvature along the tangents."""
        dtype = self.dtype
        q, qdot = q.astype(dtype), qdot.astype(dtype)
        n = q.shape[0]
        _, phi_q_vjp = jax.vjp(lambda a: self.features(a, qdot), q)
        (dL_dq,) = phi_q_vjp(grad_x.astype(dtype))
        M = curvature[:n, :n]
        if self.log_kinetic is not None:
            M = M + (jnp.exp(self.log_kinetic) / self.features.qdot_scale**2) * jnp.eye(n, dtype=dtype)
        rhs = dL_dq - curvature[:n, n]
        if force is not None:
            rhs = rhs + force.astype(dtype)
        return solve_matrix(M, rhs, self.linear_solver)

    def _extra_config(self) -> dict[str, Any]:
        return {
            "kinetic_prior": self.log_kinetic is not None,
            "linear_solver": linear_solver_to_json(self.linear_solver),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LagrangianNN:
        config = dict(config)
        solver = config.pop("linear_solver", config.pop("solver", None))  # "solver": files of lnn 0.1
        config["linear_solver"] = linear_solver_from_json(solver)
        return super().from_config(config)
