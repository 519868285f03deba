r"""The two building blocks every model shares: state features and a softplus MLP.

Softplus is smooth (C^∞), which the Euler–Lagrange equations need: they use
second derivatives of the network, and a ReLU network has none.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

INITIALISATIONS = ("paper", "standard")
ANGLE_ENCODINGS = ("sincos", "wrap")


class StateFeatures(eqx.Module):
    r"""Map a state (q, q̇) of shape (n,) to network inputs.

    Angles become (sin q, cos q) — smooth and periodic, so the learned L is a
    function on the circle — or are wrapped to [−π, π) if ``angle_encoding="wrap"``.
    Other coordinates are divided by ``q_scale`` and velocities by ``qdot_scale``
    so that inputs are O(1).
    """

    angles: tuple[bool, ...] = eqx.field(static=True)
    angle_encoding: str = eqx.field(static=True)
    q_scale: float = eqx.field(static=True)
    qdot_scale: float = eqx.field(static=True)

    @property
    def configuration_size(self) -> int:
        """Length of :meth:`configuration`'s output."""
        n_angles = sum(self.angles) if self.angle_encoding == "sincos" else 0
        return len(self.angles) + n_angles

    @property
    def size(self) -> int:
        return self.configuration_size + len(self.angles)

    def configuration(self, q: Float[Array, "n"]) -> Float[Array, "c"]:
        """The features of q alone (for networks of the configuration, like a potential)."""
        if self.angle_encoding == "sincos":
            angle_idx = [i for i, a in enumerate(self.angles) if a]
            other_idx = [i for i, a in enumerate(self.angles) if not a]
            qa = q[jnp.asarray(angle_idx, dtype=int)]
            return jnp.concatenate([jnp.sin(qa), jnp.cos(qa), q[jnp.asarray(other_idx, dtype=int)] / self.q_scale])
        is_angle = jnp.asarray(self.angles)
        return jnp.where(is_angle, jnp.mod(q + jnp.pi, 2 * jnp.pi) - jnp.pi, q / self.q_scale)

    def __call__(self, q: Float[Array, "n"], qdot: Float[Array, "n"]) -> Float[Array, "m"]:
        return jnp.concatenate([self.configuration(q), qdot / self.qdot_scale])


class MLP(eqx.Module):
    """x ↦ W_L σ(… σ(W_1 x + b_1) …) + b_L with σ = softplus."""

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]

    def __init__(self, sizes: list[int], *, key: Array, init: str = "paper", dtype=None):
        if init not in INITIALISATIONS:
            raise ValueError(f"unknown initialisation {init!r}; choose one of {INITIALISATIONS}.")
        dtype = jnp.result_type(float) if dtype is None else dtype
        keys = jax.random.split(key, len(sizes) - 1)
        n_layers = len(sizes) - 1
        weights, biases = [], []
        for i, (k, fan_in, fan_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
            std = _paper_std(i, n_layers, fan_in, fan_out) if init == "paper" else 1.0 / math.sqrt(fan_in)
            weights.append(std * jax.random.normal(k, (fan_out, fan_in), dtype=dtype))
            biases.append(jnp.zeros((fan_out,), dtype=dtype))
        self.weights = tuple(weights)
        self.biases = tuple(biases)

    def __call__(self, x: Float[Array, "m"]) -> Float[Array, "k"]:
        x = x.astype(self.weights[0].dtype)
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            x = jax.nn.softplus(W @ x + b)
        return self.weights[-1] @ x + self.biases[-1]

    def gradient_and_curvature(
        self, x: Float[Array, "m"], T: Float[Array, "m k"]
    ) -> tuple[Float[Array, "m"], Float[Array, "k k"]]:
        r"""∇f(x) and the curvature Tᵀ ∇²f(x) T along k tangents, for a scalar MLP f.

        In an MLP the only curvature comes from the nonlinearities. With
        pre-activations z_l, their Jacobians along the tangents A_l = (∂z_l/∂x) T
        (pushed forward with the layer: A_{l+1} = W_{l+1} diag σ'(z_l) A_l) and the
        backprop adjoints δ_l = ∂f/∂h_l of the activations h_l = σ(z_l),

        .. math:: T^\top \nabla^2 f\, T = \sum_l A_l^\top \operatorname{diag}(\delta_l \odot \sigma''(z_l))\, A_l .

        Cost: one forward pass carrying k tangents and one backward pass — about
        k + 2 forward passes, against ~3k for nested automatic differentiation —
        and what training differentiates is first-order (plain matmuls).
        Softplus: σ' = sigmoid, σ'' = sigmoid·(1 − sigmoid).
        """
        if self.weights[-1].shape[0] != 1:
            raise ValueError("gradient_and_curvature needs a scalar network (one output).")
        dtype = self.weights[0].dtype
        # Tangents as rows, A of shape (k, m): batched over states, each layer's
        # tangent product is one row-major matmul (measured faster than columns).
        h, A = x.astype(dtype), T.astype(dtype).T
        slopes, As = [], []
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            z = W @ h + b
            A = A @ W.T
            h, s = _softplus_and_sigmoid(z)
            slopes.append(s)
            As.append(A)
            A = A * s
        delta = self.weights[-1][0]
        curvature = jnp.zeros((T.shape[1], T.shape[1]), dtype)
        for W, s, A in zip(self.weights[-2::-1], slopes[::-1], As[::-1]):
            curvature = curvature + (A * (delta * s * (1 - s))) @ A.T
            delta = (delta * s) @ W
        return delta, curvature


@jax.custom_jvp
def _softplus_and_sigmoid(z):
    """(softplus z, sigmoid z) from one exponential, e = exp(−|z|), stable for any z.

    The custom derivative reuses the sigmoid (softplus' = σ, σ' = σ(1 − σ)), so
    training through the curvature does not recompute exponentials.
    """
    e = jnp.exp(-jnp.abs(z))
    r = 1 / (1 + e)
    return jnp.maximum(z, 0) + jnp.log1p(e), jnp.where(z >= 0, r, e * r)


@_softplus_and_sigmoid.defjvp
def _softplus_and_sigmoid_jvp(primals, tangents):
    (z,), (dz,) = primals, tangents
    softplus, s = _softplus_and_sigmoid(z)
    return (softplus, s), (s * dz, s * (1 - s) * dz)


def _paper_std(i: int, n_layers: int, fan_in: int, fan_out: int) -> float:
    r"""The LNN paper's initialisation for weight matrix i of ``n_layers``.

    The paper chooses per-layer scales so that the *accelerations* — which
    depend on second derivatives of the network and a matrix inverse — start with
    unit variance, not the network's output: σ = c / √n with n = max(fan_in,
    fan_out) and c = 2.2 for the first layer, 0.58·i for hidden layer i, and n
    for the output layer.
    """
    n = max(fan_in, fan_out)
    if i == 0:
        c = 2.2
    elif i == n_layers - 1:
        c = float(n)
    else:
        c = 0.58 * i
    return c / math.sqrt(n)


class MLPModel(eqx.Module):
    """What every lnn network model shares: state features, an MLP, and its size.

    Subclasses add their own parameters and define ``__call__`` and
    ``acceleration(q, qdot)`` (the dynamics interface training and rollouts use).
    """

    features: StateFeatures
    mlp: MLP
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    init: str = eqx.field(static=True)

    @property
    def dof(self) -> int:
        """Number of coordinates n."""
        return len(self.features.angles)

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-ready), so a saved model can be rebuilt."""
        f = self.features
        return {
            "kind": type(self).__name__,
            "dof": self.dof,
            "width": self.width,
            "depth": self.depth,
            "angles": list(f.angles),
            "init": self.init,
            "angle_encoding": f.angle_encoding,
            "q_scale": f.q_scale,
            "qdot_scale": f.qdot_scale,
            "dtype": str(self.mlp.weights[0].dtype),
            **self._extra_config(),
        }

    def _extra_config(self) -> dict[str, Any]:
        return {}


def make_features(dof, angles, angle_encoding, q_scale, qdot_scale) -> StateFeatures:
    """Validated :class:`StateFeatures` for ``dof`` coordinates."""
    angles = (False,) * dof if angles is None else tuple(bool(a) for a in angles)
    if len(angles) != dof:
        raise ValueError(f"angles has {len(angles)} entries but dof = {dof}; give one flag per coordinate.")
    if angle_encoding not in ANGLE_ENCODINGS:
        raise ValueError(f"unknown angle encoding {angle_encoding!r}; choose one of {ANGLE_ENCODINGS}.")
    return StateFeatures(angles, angle_encoding, float(q_scale), float(qdot_scale))
