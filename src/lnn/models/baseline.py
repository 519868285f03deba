r"""The black-box baseline: an MLP that predicts q̈ directly, with no physics inside."""

from __future__ import annotations

from typing import Any

import equinox as eqx
from jaxtyping import Array, Float

from lnn.models.mlp import MLP, MLPModel, make_features


class Baseline(MLPModel):
    r"""q̈ = s · MLP(features(q, q̇)) — the paper's baseline.

    Same features, width and depth as :class:`~lnn.models.LagrangianNN`, so a
    comparison isolates the Euler–Lagrange structure. ``accel_scale`` s is the
    typical size of accelerations, so the network's outputs are O(1). Nothing
    makes its dynamics conserve energy; that is what it is there to show.
    """

    accel_scale: float = eqx.field(static=True)

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
        dtype=None,
    ):
        self.features = make_features(dof, angles, angle_encoding, q_scale, qdot_scale)
        self.mlp = MLP([self.features.size] + [width] * depth + [dof], key=key, init=init, dtype=dtype)
        self.width, self.depth, self.init = width, depth, init
        self.accel_scale = float(accel_scale)

    def __call__(self, q: Float[Array, "n"], qdot: Float[Array, "n"]) -> Float[Array, "n"]:
        return self.accel_scale * self.mlp(self.features(q, qdot))

    def acceleration(self, q: Float[Array, "n"], qdot: Float[Array, "n"]) -> Float[Array, "n"]:
        """q̈ for one state (the network's output)."""
        return self(q, qdot)

    def _extra_config(self) -> dict[str, Any]:
        return {"accel_scale": self.accel_scale}
