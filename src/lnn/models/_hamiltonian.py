r"""The Hamiltonian Neural Network (Greydanus, Dzamba, Yosinski 2019): an MLP whose scalar output is H(q, p).

Dynamics follow Hamilton's equations in the model's own phase space (q, p):

    q̇ = ∂H/∂p,   ṗ = −∂H/∂q.

They conserve the learned H — *if* (q, p) are canonical coordinates. The data of
lnn are states (q, q̇), so the model converts at the edge, with one of two
momenta:

* ``momentum="velocity"``: p = q̇, what a user without canonical coordinates does
  (the LNN paper's HNN baseline). Where the true momentum is not proportional to
  q̇ (a double pendulum, a relativistic particle), no H(q, q̇) reproduces the
  motion, however large the network.
* ``momentum="canonical"``: p = ∂L/∂q̇ of a known system's Lagrangian
  (``true_system``), i.e. ``lnn.momenta`` of the true system. This is the HNN at
  its best, for a user who knows the canonical momenta.

The derivative it is trained and judged on is that of its own state (q, p): the
predicted (q̇, ṗ) against the true (q̇, ṗ), ṗ = (∂p/∂q) q̇ + (∂p/∂q̇) q̈ from the
data's (q, q̇, q̈) (for p = q̇ it is q̈); see
:class:`~lnn.mechanics.AbstractPhaseSpaceModel`.

Rollouts integrate (q, p) and report q̇ as the model's own velocity: p itself
for ``"velocity"``, ∂H/∂p for ``"canonical"`` (the inverse of a true momentum
map has no closed form in general; Hamilton's first equation is the model's
prediction of it).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from lnn import systems
from lnn.errors import ConfigurationError, ModelTypeError
from lnn.mechanics import AbstractPhaseSpaceModel
from lnn.models._mlp import MLP, MLPModel, make_features
from lnn.systems import System

MOMENTA = ("velocity", "canonical")


class HamiltonianNN(MLPModel, AbstractPhaseSpaceModel):
    r"""H_θ(q, p) = s_H [MLP(features(q, p)) + ½ β |p/s_p|²], s_H = s_p s_v; Hamilton's equations.

    ``features`` see (q, p), with p divided by ``momentum_scale`` s_p. The second
    term (``kinetic_prior``, β learned from 1) is a free particle whose velocity
    ∂H/∂p = β p s_v/s_p is of the data's size s_v (``qdot_scale``) at
    initialisation, as the LNN's kinetic term is; the MLP can cancel it.

    Args:
        dof, key, width, depth, angles, init, angle_encoding, q_scale, dtype: as
            :class:`~lnn.LagrangianNN`.
        qdot_scale: typical size of velocities s_v.
        momentum_scale: typical size of the momenta s_p (default: ``qdot_scale``).
        momentum: ``"velocity"`` (p = q̇) or ``"canonical"`` (p = ∂L/∂q̇ of ``true_system``).
        true_system: the built-in :class:`~lnn.System` whose Lagrangian defines the
            canonical momenta.
    """

    log_kinetic: Array | None
    momentum: str = eqx.field(static=True)
    true_system: System | None = eqx.field(static=True)
    velocity_scale: float = eqx.field(static=True)

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
        momentum_scale: float | None = None,
        momentum: str = "velocity",
        true_system: System | None = None,
        kinetic_prior: bool = True,
        dtype=None,
    ):
        if momentum not in MOMENTA:
            raise ConfigurationError(f"unknown momentum {momentum!r}; choose one of {MOMENTA}.")
        if momentum == "canonical":
            if true_system is None:
                raise ConfigurationError(
                    "momentum='canonical' needs the system whose Lagrangian defines "
                    "p = ∂L/∂q̇; pass true_system=lnn.systems.get('<name>')."
                )
            if true_system.dof != dof:
                raise ConfigurationError(f"{true_system.name} has {true_system.dof} coordinates but dof = {dof}.")
        p_scale = qdot_scale if momentum_scale is None else momentum_scale
        self.features = make_features(dof, angles, angle_encoding, q_scale, p_scale)
        self.mlp = MLP([self.features.size] + [width] * depth + [1], key=key, init=init, dtype=dtype)
        self.log_kinetic = jnp.zeros((), dtype=self.mlp.weights[0].dtype) if kinetic_prior else None
        self.width, self.depth, self.init = width, depth, init
        self.momentum = momentum
        self.true_system = true_system if momentum == "canonical" else None
        self.velocity_scale = float(qdot_scale)

    @property
    def takes_force(self) -> bool:
        return False

    def hamiltonian(self, q: Float[Array, " n"], p: Float[Array, " n"]) -> Float[Array, ""]:
        """H(q, p) of one state."""
        s_p = self.features.qdot_scale
        H = self.mlp(self.features(q, p))[0]
        if self.log_kinetic is not None:
            u = p.astype(H.dtype) / s_p
            H = H + 0.5 * jnp.exp(self.log_kinetic) * jnp.dot(u, u)
        return (s_p * self.velocity_scale) * H

    def encode(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, " n"]:
        """The momentum p(q, q̇) the model is fed: q̇, or ∂L/∂q̇ of the true system."""
        if self.true_system is None:
            return qdot
        return jax.grad(self.true_system.lagrangian, argnums=1)(q, qdot)

    def phase_field(
        self, q: Float[Array, " n"], s: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> tuple[Array, Array]:
        """Hamilton's equations at (q, p = s): (q̇, ṗ) = (∂H/∂p, −∂H/∂q)."""
        if force is not None:
            raise ModelTypeError(
                "a HamiltonianNN takes no generalized force; model a driven system with a "
                "Lagrangian model (an LNN, optionally with dissipation)."
            )
        dH_dq, dH_dp = jax.grad(self.hamiltonian, argnums=(0, 1))(q, s)
        return dH_dp.astype(q.dtype), -dH_dq.astype(q.dtype)

    def decode(self, q: Float[Array, " n"], s: Float[Array, " n"]) -> Float[Array, " n"]:
        """The velocity the model reports at (q, p = s): p itself for p = q̇, else ∂H/∂p."""
        return s if self.true_system is None else self.phase_field(q, s)[0]

    def config(self) -> dict[str, Any]:
        config = super().config()
        config.update(
            qdot_scale=self.velocity_scale,
            momentum_scale=self.features.qdot_scale,
            momentum=self.momentum,
            kinetic_prior=self.log_kinetic is not None,
        )
        if self.true_system is not None:
            config.update(system=self.true_system.name, system_parameters=self.true_system.parameters)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HamiltonianNN:
        config = dict(config)
        name, parameters = config.pop("system", None), config.pop("system_parameters", None) or {}
        if name is not None:
            config["true_system"] = systems.get(name, **parameters)
        return super().from_config(config)
