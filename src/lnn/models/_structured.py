r"""A mechanical Lagrangian with a learned mass matrix and potential (as in Deep Lagrangian Networks)."""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, Float

from lnn.mechanics import AbstractLagrangian
from lnn.models._mlp import MLP, MLPModel, make_features

# softplus(x + _ONE) = 1 at x = 0, so a fresh network starts from C ≈ I.
_ONE = math.log(math.e - 1.0)


class StructuredLagrangian(MLPModel, AbstractLagrangian):
    r"""L = ½ vᵀ M(q) v − V(q), v = q̇/s, with M(q) = C(q) C(q)ᵀ + εI.

    One network of the configuration (features of q only) outputs the n(n+1)/2
    entries of a lower-triangular C(q) (diagonal through a softplus, so positive)
    and the potential V(q). M is symmetric positive definite for every q and
    every weight — the Euler–Lagrange solve can never fail — and it comes out of
    the network directly, so no second derivative of the network is needed:

    .. math:: \ddot q = M^{-1}\,\big[s^2\,\partial_q L - \dot M \dot q\big],\qquad
              \dot M = \partial_q M(q)\,[\dot q],

    one forward pass, one jvp and one vjp of a network of q, and a Cholesky
    solve. The price is the assumption: kinetic energy quadratic in q̇ and no
    velocity-dependent potential (a charged particle in a magnetic field, or a
    relativistic particle, is outside this model; use :class:`LagrangianNN`).

    Args:
        dof: number of coordinates n.
        key: PRNG key for the weights.
        width, depth: hidden units per layer and number of hidden layers.
        angles, init, angle_encoding, q_scale, qdot_scale: as :class:`LagrangianNN`.
        epsilon: the floor εI added to CCᵀ (in units of the dimensionless M).
        dtype: parameter dtype (default float64).
    """

    epsilon: float = eqx.field(static=True)

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
        epsilon: float = 1e-3,
        dtype=None,
    ):
        self.features = make_features(dof, angles, angle_encoding, q_scale, qdot_scale)
        n_out = dof * (dof + 1) // 2 + 1
        self.mlp = MLP([self.features.configuration_size] + [width] * depth + [n_out], key=key, init=init, dtype=dtype)
        self.width, self.depth, self.init = width, depth, init
        self.epsilon = float(epsilon)

    def mass_and_potential(self, q: Float[Array, " n"]) -> tuple[Float[Array, "n n"], Float[Array, ""]]:
        """The dimensionless mass matrix M(q) = CCᵀ + εI and the potential V(q)."""
        n = self.dof
        out = self.mlp(self.features.configuration(q))
        rows, cols = jnp.tril_indices(n)
        C = jnp.zeros((n, n), out.dtype).at[rows, cols].set(out[:-1])
        diag = jax.nn.softplus(jnp.diagonal(C) + _ONE)
        C = C - jnp.diag(jnp.diagonal(C)) + jnp.diag(diag)
        return C @ C.T + self.epsilon * jnp.eye(n, dtype=out.dtype), out[-1]

    def lagrangian(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, ""]:
        M, V = self.mass_and_potential(q)
        v = qdot.astype(M.dtype) / self.features.qdot_scale
        return 0.5 * v @ M @ v - V

    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        """q̈ for one state, from M(q) and V(q) directly (see the class docstring); ``force``: τ, optional."""
        dtype = self.mlp.weights[0].dtype
        q, qdot = q.astype(dtype), qdot.astype(dtype)
        s = self.features.qdot_scale
        v = qdot / s
        (M, V), pullback = jax.vjp(self.mass_and_potential, q)
        _, (M_dot, _) = jax.jvp(self.mass_and_potential, (q,), (qdot,))
        # ∂L/∂q = ½ vᵀ (∂M/∂q) v − ∂V/∂q, one pullback of the cotangent (½ v vᵀ, −1).
        (dL_dq,) = pullback((0.5 * jnp.outer(v, v), -jnp.ones((), dtype)))
        rhs = s**2 * dL_dq - M_dot @ qdot
        if force is not None:  # M_phys q̈ = … + τ with M_phys = M/s²
            rhs = rhs + s**2 * force.astype(dtype)
        return jsl.cho_solve((jnp.linalg.cholesky(M), True), rhs)

    def _extra_config(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon}
