r"""The black box: an MLP that predicts q̈ directly, with no physics inside (the LNN paper's baseline)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from lnn.errors import ModelTypeError
from lnn.mechanics import AbstractDynamics
from lnn.models._mlp import MLP, MLPModel, make_features


class BlackBox(MLPModel, AbstractDynamics):
    r"""q̈ = a · MLP(features(q, q̇)[, τ/f]) — dynamics learned with no structure.

    Same features, width and depth as :class:`~lnn.LagrangianNN`, so a
    comparison isolates the Euler–Lagrange structure. ``accel_scale`` a is the
    typical size of accelerations, so the network's outputs are O(1). Nothing
    makes its dynamics conserve energy; that is what it is there to show.

    With ``force_scale`` f (the typical size of the generalized forces of a
    driven system) the network also reads τ/f, so it can learn how a drive
    moves the system (``takes_force``); without it, it takes no force.
    """

    accel_scale: float = eqx.field(static=True)
    force_scale: float | None = eqx.field(static=True)

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
        accel_scale: float = 1.0,
        force_scale: float | None = None,
        dtype=None,
    ):
        self.features = make_features(dof, angles, angle_encoding, q_scale, qdot_scale)
        inputs = self.features.size + (dof if force_scale is not None else 0)
        self.mlp = MLP([inputs] + [width] * depth + [dof], key=key, init=init, dtype=dtype)
        self.width, self.depth, self.init = width, depth, init
        self.accel_scale = float(accel_scale)
        self.force_scale = None if force_scale is None else float(force_scale)

    @property
    def takes_force(self) -> bool:
        return self.force_scale is not None

    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        """q̈ for one state (the network's output)."""
        x = self.features(q, qdot)
        if self.force_scale is not None:
            tau = jnp.zeros_like(q) if force is None else force
            x = jnp.concatenate([x, tau.astype(x.dtype) / self.force_scale])
        elif force is not None:
            raise ModelTypeError(
                "this BlackBox was built without force inputs; build it with force_scale= (the "
                "typical size of the generalized forces) to learn a driven system."
            )
        return self.accel_scale * self.mlp(x)

    def _extra_config(self) -> dict[str, Any]:
        return {"accel_scale": self.accel_scale, "force_scale": self.force_scale}
