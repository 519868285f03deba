r"""The Lagrangian Neural Network: an MLP whose scalar output *is* L(q, q̇)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
from jaxtyping import Array, Float

from lnn import mechanics
from lnn.models.mlp import ANGLE_ENCODINGS, MLP, StateFeatures


class LagrangianNN(eqx.Module):
    r"""L_θ(q, q̇) = MLP(features(q, q̇)); q̈ follows from the Euler–Lagrange equations.

    Because ``model(q, qdot)`` returns a scalar, a model can be passed wherever a
    Lagrangian is expected: ``lnn.accelerations(model, q, qdot)``,
    ``lnn.energy(model, q, qdot)``. Its dynamics conserve the learned energy
    E = q̇·∂L/∂q̇ − L by construction.

    Args:
        dof: number of coordinates n.
        key: PRNG key for the weights.
        width, depth: hidden units per layer and number of hidden layers.
        angles: which coordinates are angles (default: none).
        init: ``"paper"`` (the LNN paper's per-layer scales) or ``"standard"``
            (LeCun normal, σ = 1/√fan_in).
        angle_encoding: ``"sincos"`` or ``"wrap"``.
        q_scale, qdot_scale: typical size of non-angle coordinates and of
            velocities; inputs are divided by them.
        dtype: parameter dtype (default float64).
    """

    features: StateFeatures
    mlp: MLP
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    init: str = eqx.field(static=True)

    def __init__(
        self,
        dof: int,
        *,
        key: Array,
        width: int = 128,
        depth: int = 3,
        angles: tuple[bool, ...] | None = None,
        init: str = "paper",
        angle_encoding: str = "sincos",
        q_scale: float = 1.0,
        qdot_scale: float = 1.0,
        dtype=None,
    ):
        self.features = make_features(dof, angles, angle_encoding, q_scale, qdot_scale)
        self.mlp = MLP([self.features.size] + [width] * depth + [1], key=key, init=init, dtype=dtype)
        self.width, self.depth, self.init = width, depth, init

    @property
    def dof(self) -> int:
        return len(self.features.angles)

    def __call__(self, q: Float[Array, "n"], qdot: Float[Array, "n"]) -> Float[Array, ""]:
        return self.mlp(self.features(q, qdot))[0]

    def acceleration(self, q: Float[Array, "n"], qdot: Float[Array, "n"]) -> Float[Array, "n"]:
        """q̈ for one state, from the Euler–Lagrange equations of L_θ."""
        return mechanics.dynamics(self)(q, qdot)

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-ready), so a saved model can be rebuilt."""
        return model_config(self)


def make_features(dof, angles, angle_encoding, q_scale, qdot_scale) -> StateFeatures:
    angles = (False,) * dof if angles is None else tuple(bool(a) for a in angles)
    if len(angles) != dof:
        raise ValueError(f"angles has {len(angles)} entries but dof = {dof}; give one flag per coordinate.")
    if angle_encoding not in ANGLE_ENCODINGS:
        raise ValueError(f"unknown angle encoding {angle_encoding!r}; choose one of {ANGLE_ENCODINGS}.")
    return StateFeatures(angles, angle_encoding, float(q_scale), float(qdot_scale))


def model_config(model) -> dict[str, Any]:
    """Constructor arguments of a model built on StateFeatures + MLP (JSON-ready)."""
    f = model.features
    return {
        "kind": type(model).__name__,
        "dof": len(f.angles),
        "width": model.width,
        "depth": model.depth,
        "angles": list(f.angles),
        "init": model.init,
        "angle_encoding": f.angle_encoding,
        "q_scale": f.q_scale,
        "qdot_scale": f.qdot_scale,
        "dtype": str(model.mlp.weights[0].dtype),
        **({"accel_scale": model.accel_scale} if hasattr(model, "accel_scale") else {}),
    }

