r"""The Lagrangian Neural Network: an MLP whose scalar output *is* L(q, q̇)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from lnn import mechanics
from lnn.models.mlp import MLP, MLPModel, make_features


class LagrangianNN(MLPModel):
    r"""L_θ(q, q̇) = MLP(features(q, q̇)) + ½ β |q̇/s|²; q̈ follows from the Euler–Lagrange equations.

    The second term (``kinetic_prior=True``, β = exp(log β) learned, starting at 1,
    s = ``qdot_scale``) is a free-particle kinetic energy. It changes nothing
    the MLP could not represent, but it makes ∂²L/∂q̇² positive definite at
    initialisation: without it a random MLP's ∂²L/∂q̇² is indefinite on almost
    every state, the Euler–Lagrange solve gives heavy-tailed accelerations,
    and training stalls (measured on the double pendulum: acceleration error
    133 % without it vs 1.9 % with it after 12,000 steps;
    ``benchmarks/training_recipe.py``).

    Because ``model(q, qdot)`` returns a scalar, a model can be passed wherever a
    Lagrangian is expected: ``lnn.accelerations(model, q, qdot)``,
    ``lnn.energy(model, q, qdot)``. Its dynamics conserve the learned energy
    E = q̇·∂L/∂q̇ − L by construction.

    Args:
        dof: number of coordinates n.
        key: PRNG key for the weights.
        width, depth: hidden units per layer and number of hidden layers.
        angles: which coordinates are angles (default: none).
        init: ``"standard"`` (LeCun normal, σ = 1/√fan_in) or ``"paper"`` (the
            LNN paper's per-layer scales; measured worse with the kinetic term,
            see ``benchmarks/training_recipe.py``).
        angle_encoding: ``"sincos"`` or ``"wrap"``.
        q_scale, qdot_scale: typical size of non-angle coordinates and of
            velocities; inputs are divided by them.
        kinetic_prior: add the learned ½ β |q̇/s|² term (default True).
        dtype: parameter dtype (default float64; ``"float32"`` trains faster).
        solver: how q̈ is solved for — ``"dense"`` (analytic MLP derivatives and an
            LU solve), ``"cg"`` (matrix-free conjugate gradients, for many
            coordinates; needs a positive-definite ∂²L/∂q̇²) or ``"auto"``
            (dense below ``lnn.mechanics.CG_FROM_DOF`` coordinates); see
            :func:`lnn.mechanics.dynamics`.
    """

    log_kinetic: Array | None
    solver: str = eqx.field(static=True)

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
        solver: str = "auto",
    ):
        if solver not in mechanics.SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(mechanics.SOLVERS)}.")
        self.solver = solver
        self.features = make_features(dof, angles, angle_encoding, q_scale, qdot_scale)
        self.mlp = MLP([self.features.size] + [width] * depth + [1], key=key, init=init, dtype=dtype)
        self.log_kinetic = jnp.zeros((), dtype=self.mlp.weights[0].dtype) if kinetic_prior else None
        self.width, self.depth, self.init = width, depth, init

    def __call__(self, q: Float[Array, "n"], qdot: Float[Array, "n"]) -> Float[Array, ""]:
        L = self.mlp(self.features(q, qdot))[0]
        if self.log_kinetic is not None:
            v = qdot.astype(L.dtype) / self.features.qdot_scale
            L = L + 0.5 * jnp.exp(self.log_kinetic) * jnp.dot(v, v)
        return L

    def acceleration(self, q: Float[Array, "n"], qdot: Float[Array, "n"], tau=None) -> Float[Array, "n"]:
        r"""q̈ for one state, from the Euler–Lagrange equations of L_θ, with analytic MLP derivatives.

        ``tau`` (optional, shape ``(n,)``) is a generalized force: M q̈ = … + τ.

        With features x = φ(q, q̇) and L = f(x) (+ the kinetic prior), the chain rule
        gives everything from ∇f and the curvature of f along n + 1 tangents of
        feature space, T = [∂φ/∂q̇ | (∂φ/∂q) q̇] (:meth:`MLP.gradient_and_curvature`):

        * ∂L/∂q = (∂φ/∂q)ᵀ ∇f,
        * M = ∂²L/∂q̇² = (Tᵀ∇²f T)[:n, :n]   (φ is linear in q̇),
        * (∂²L/∂q̇∂qᵀ) q̇ = (Tᵀ∇²f T)[:n, n].

        Same numbers as :func:`lnn.mechanics.dynamics` on this model (tested to
        1e-10 in float64) at a fraction of the cost (``benchmarks/speed.py``).
        With ``solver="cg"`` (or ``"auto"`` at many coordinates) M is never formed:
        :func:`lnn.mechanics.dynamics` solves by conjugate gradients instead.
        """
        if self._matrix_free(q.shape[-1]):
            return mechanics.dynamics(self, solver="cg")(q, qdot, tau)
        x, tangents = self._feature_tangents(q, qdot)
        return self._solve(q, qdot, *self.mlp.gradient_and_curvature(x, tangents), tau)

    def accelerations(self, q: Float[Array, "B n"], qdot: Float[Array, "B n"], tau=None) -> Float[Array, "B n"]:
        """:meth:`acceleration` for a batch of states (and forces ``tau``, shape ``(B, n)``).

        The same numbers, computed for the batch at once through
        :meth:`MLP.batch_gradient_and_curvature`, whose hand-written reverse pass
        makes a training step faster (training uses this method). Forward-mode
        derivatives (``jax.jvp``, ``jax.jacfwd``) need the per-state method.
        """
        extra = () if tau is None else (tau,)
        if self._matrix_free(q.shape[-1]):
            return jax.vmap(self.acceleration)(q, qdot, *extra)
        x, tangents = jax.vmap(self._feature_tangents)(q, qdot)
        g, C = self.mlp.batch_gradient_and_curvature(x, tangents)
        return jax.vmap(self._solve)(q, qdot, g, C, *extra)

    def _matrix_free(self, n: int) -> bool:
        return self.solver == "cg" or (self.solver == "auto" and n >= mechanics.CG_FROM_DOF)

    def _feature_tangents(self, q, qdot):
        """Features x = φ(q, q̇) and the n + 1 tangents T = [∂φ/∂q̇ | (∂φ/∂q) q̇], shape (m, n + 1)."""
        dtype = self.mlp.weights[0].dtype
        q, qdot = q.astype(dtype), qdot.astype(dtype)
        x, phi_q_qdot = jax.jvp(lambda a: self.features(a, qdot), (q,), (qdot,))
        phi_qdot = jax.jacfwd(lambda v: self.features(q, v))(qdot)
        return x, jnp.concatenate([phi_qdot, phi_q_qdot[:, None]], axis=1)

    def _solve(self, q, qdot, grad_x, curvature, tau=None):
        """q̈ = M⁻¹ (∂L/∂q − (∂²L/∂q̇∂qᵀ) q̇ + τ) from ∇f and the curvature along the tangents."""
        dtype = self.mlp.weights[0].dtype
        q, qdot = q.astype(dtype), qdot.astype(dtype)
        n = q.shape[0]
        _, phi_q_vjp = jax.vjp(lambda a: self.features(a, qdot), q)
        (dL_dq,) = phi_q_vjp(grad_x.astype(dtype))
        M = curvature[:n, :n]
        if self.log_kinetic is not None:
            M = M + (jnp.exp(self.log_kinetic) / self.features.qdot_scale**2) * jnp.eye(n, dtype=dtype)
        rhs = dL_dq - curvature[:n, n]
        if tau is not None:
            rhs = rhs + tau.astype(dtype)
        return jnp.linalg.solve(M, rhs)

    def _extra_config(self) -> dict[str, Any]:
        return {"kinetic_prior": self.log_kinetic is not None, "solver": self.solver}
