r"""Friction that composes onto any Lagrangian model: :class:`Dissipative`, and a learned Rayleigh dissipation.

Dissipation is a wrapper, not a new kind of network: :class:`Dissipative` holds
any Lagrangian model L (an :class:`~lnn.mechanics.AbstractLagrangian`: an LNN,
the structured model, a :class:`~lnn.System`) and a dissipation function D, and
is itself a Lagrangian model whose accelerations solve

    M q̈ = ∂L/∂q − (∂²L/∂q∂q̇) q̇ − ∂D/∂q̇ + τ,   M = ∂²L/∂q̇²,

friction entering as the generalized force −∂D/∂q̇ through L's own (fast) path,
so training, rollouts and metrics treat it like any other model.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from lnn.errors import ConfigurationError
from lnn.mechanics import AbstractLagrangian, generalized_force
from lnn.models._mlp import MLP, MLPModel, StateFeatures, make_features


class RayleighDissipation(eqx.Module):
    r"""D(q, q̇) = ½ q̇ᵀ K(q) q̇ with K = C Cᵀ, positive semi-definite by construction.

    C is lower triangular: a learned constant part with diagonal exp(c_i) (so
    the constant K is positive definite and a damping rate is learned on a log
    scale) plus, with ``network=True``, a small softplus MLP of the configuration
    features (sin/cos of angles) giving a position-dependent lower-triangular
    correction; the network's last layer starts at zero, so training starts
    from the constant K.

    Args:
        dof: number of coordinates n.
        key: PRNG key (network weights).
        rate: initial damping rate K/M (1/s) for a Lagrangian whose mass matrix
            is I/``qdot_scale``² (the LNN's kinetic prior at initialisation).
        angles, q_scale, qdot_scale: as for :class:`~lnn.models.LagrangianNN`.
        network, width, depth: the optional K(q) network.
    """

    log_diagonal: Float[Array, " n"]
    lower: Float[Array, " m"]
    mlp: MLP | None
    features: StateFeatures
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)

    def __init__(
        self,
        dof: int,
        *,
        key: Array,
        rate: float = 0.1,
        angles: tuple[bool, ...] | None = None,
        q_scale: float = 1.0,
        qdot_scale: float = 1.0,
        network: bool = False,
        width: int = 16,
        depth: int = 1,
        dtype=None,
    ):
        if not rate > 0:
            raise ConfigurationError(f"the initial damping rate must be positive (1/s); got {rate}.")
        dtype = jnp.result_type(float) if dtype is None else dtype
        self.features = make_features(dof, angles, "sincos", q_scale, qdot_scale)
        # K = C Cᵀ = rate · M_init with M_init = I / s²  ⇒  C_ii = √rate / s.
        self.log_diagonal = jnp.full((dof,), 0.5 * math.log(rate) - math.log(qdot_scale), dtype=dtype)
        self.lower = jnp.zeros((dof * (dof - 1) // 2,), dtype=dtype)
        self.width, self.depth = width, depth
        if network:
            mlp = MLP(
                [self.features.size] + [width] * depth + [dof * (dof + 1) // 2], key=key, init="standard", dtype=dtype
            )
            self.mlp = eqx.tree_at(lambda m: m.weights[-1], mlp, jnp.zeros_like(mlp.weights[-1]))
        else:
            self.mlp = None

    @property
    def dof(self) -> int:
        return len(self.features.angles)

    def factor(self, q: Float[Array, " n"]) -> Float[Array, "n n"]:
        """The lower-triangular C(q) with K = C Cᵀ."""
        n = self.dof
        C = jnp.diag(jnp.exp(self.log_diagonal))
        C = C.at[jnp.tril_indices(n, -1)].set(self.lower)
        if self.mlp is not None:
            out = self.mlp(self.features(q, jnp.zeros_like(q)))
            C = C + jnp.zeros((n, n), dtype=C.dtype).at[jnp.tril_indices(n)].set(out) / self.features.qdot_scale
        return C

    def matrix(self, q: Float[Array, " n"]) -> Float[Array, "n n"]:
        """The damping matrix K(q) = ∂²D/∂q̇², symmetric positive semi-definite."""
        C = self.factor(q)
        return C @ C.T

    def __call__(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, ""]:
        """D(q, q̇) of one state."""
        C = self.factor(q)
        v = C.T @ qdot.astype(C.dtype)
        return 0.5 * jnp.dot(v, v)  # ½ q̇ᵀ C Cᵀ q̇ = ½ |Cᵀ q̇|² ≥ 0

    def config(self) -> dict[str, Any]:
        f = self.features
        return {
            "class": "RayleighDissipation",
            "dof": self.dof,
            "angles": list(f.angles),
            "q_scale": f.q_scale,
            "qdot_scale": f.qdot_scale,
            "network": self.mlp is not None,
            "width": self.width,
            "depth": self.depth,
            "dtype": str(self.log_diagonal.dtype),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RayleighDissipation:
        """A dissipation with the architecture in ``config`` (weights to be loaded into it)."""
        config = {k: v for k, v in config.items() if k != "class"}
        config["angles"] = tuple(config["angles"])
        return cls(key=jax.random.key(0), **config)


class Dissipative(AbstractLagrangian):
    r"""A Lagrangian model with friction: L from ``model``, D from ``dissipation``.

    ``lagrangian`` is the model's, so ``lnn.energy(dissipative, q, qdot)`` is its
    energy; :meth:`acceleration` adds the friction force −∂D/∂q̇ (and τ). Along its
    own motion the energy obeys dE/dt = −q̇·∂D/∂q̇ + q̇·τ, so without a drive it
    never increases (D ≥ 0 for a positive semi-definite K).
    """

    model: AbstractLagrangian
    dissipation: RayleighDissipation

    @property
    def dof(self) -> int | None:
        return self.model.dof

    def lagrangian(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, ""]:
        return self.model.lagrangian(q, qdot)

    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        """q̈ for one state from the dissipative Euler–Lagrange equations (``force``: τ, optional)."""
        return self.model.acceleration(q, qdot, generalized_force(q, qdot, self.dissipation, force))

    def accelerations(
        self, q: Float[ArrayLike, "B n"], qdot: Float[ArrayLike, "B n"], force: Float[ArrayLike, "B n"] | None = None
    ) -> Float[Array, "B n"]:
        """:meth:`acceleration` for a batch, through the model's own batched path."""
        if force is None:
            total = jax.vmap(lambda a, b: generalized_force(a, b, self.dissipation))(q, qdot)
        else:
            total = jax.vmap(lambda a, b, t: generalized_force(a, b, self.dissipation, t))(q, qdot, force)
        return self.model.accelerations(q, qdot, total)

    def config(self) -> dict[str, Any]:
        return {"class": "Dissipative", "model": self.model.config(), "dissipation": self.dissipation.config()}


def with_dissipation(
    model: MLPModel, *, key: Array, rate: float = 0.1, network: bool = False, **kwargs: Any
) -> Dissipative:
    """``model`` (a network Lagrangian model) paired with a fresh learned :class:`RayleighDissipation`.

    Angles and scales are taken from the model's features, so K starts at
    ``rate`` × the model's initial mass matrix.
    """
    if not isinstance(model, AbstractLagrangian):
        raise ConfigurationError(f"friction composes onto a Lagrangian model; a {type(model).__name__} is not one.")
    f = model.features
    return Dissipative(
        model,
        RayleighDissipation(
            model.dof,
            key=key,
            rate=rate,
            angles=f.angles,
            q_scale=f.q_scale,
            qdot_scale=f.qdot_scale,
            network=network,
            dtype=model.dtype,
            **kwargs,
        ),
    )
