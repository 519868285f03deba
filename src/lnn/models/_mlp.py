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
from jaxtyping import Array, ArrayLike, Float

from lnn.errors import ConfigurationError

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

    def configuration(self, q: Float[Array, " n"]) -> Float[Array, " c"]:
        """The features of q alone (for networks of the configuration, like a potential)."""
        if self.angle_encoding == "sincos":
            angle_idx = [i for i, a in enumerate(self.angles) if a]
            other_idx = [i for i, a in enumerate(self.angles) if not a]
            qa = q[jnp.asarray(angle_idx, dtype=int)]
            return jnp.concatenate([jnp.sin(qa), jnp.cos(qa), q[jnp.asarray(other_idx, dtype=int)] / self.q_scale])
        is_angle = jnp.asarray(self.angles)
        return jnp.where(is_angle, jnp.mod(q + jnp.pi, 2 * jnp.pi) - jnp.pi, q / self.q_scale)

    def __call__(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, " m"]:
        return jnp.concatenate([self.configuration(q), qdot / self.qdot_scale])


class MLP(eqx.Module):
    """x ↦ W_L σ(… σ(W_1 x + b_1) …) + b_L with σ = softplus."""

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]

    def __init__(self, sizes: list[int], *, key: Array, init: str = "paper", dtype=None):
        if init not in INITIALISATIONS:
            raise ConfigurationError(f"unknown initialisation {init!r}; choose one of {INITIALISATIONS}.")
        dtype = jnp.result_type(float) if dtype is None else dtype
        keys = jax.random.split(key, len(sizes) - 1)
        n_layers = len(sizes) - 1
        weights, biases = [], []
        for i, (k, fan_in, fan_out) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
            std = _paper_std(i, n_layers, fan_in, fan_out) if init == "paper" else 1.0 / math.sqrt(fan_in)
            weights.append(std * jax.random.normal(k, (fan_out, fan_in), dtype=dtype))
            biases.append(jnp.zeros((fan_out,), dtype=dtype))
        self.weights = tuple(weights)
        self.biases = tuple(biases)

    def __call__(self, x: Float[Array, " m"]) -> Float[Array, " k"]:
        x = x.astype(self.weights[0].dtype)
        for W, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            x = jax.nn.softplus(W @ x + b)
        return self.weights[-1] @ x + self.biases[-1]

    def gradient_and_curvature(
        self, x: Float[Array, " m"], T: Float[Array, "m k"]
    ) -> tuple[Float[Array, " m"], Float[Array, "k k"]]:
        r"""∇f(x) and the curvature Tᵀ ∇²f(x) T along k tangents, for a scalar MLP f.

        In an MLP the only curvature comes from the nonlinearities. With
        pre-activations z_l, their Jacobians along the tangents P_l = (∂z_l/∂x) T
        (pushed forward with the layer: P_{l+1} = W_{l+1} diag σ'(z_l) P_l) and the
        backprop adjoints δ_l = ∂f/∂h_l of the activations h_l = σ(z_l),

        .. math:: T^\top \nabla^2 f\, T = \sum_l P_l^\top \operatorname{diag}(\delta_l \odot \sigma''(z_l))\, P_l .

        Cost: one forward pass carrying k tangents and one backward pass — about
        k + 2 forward passes, against ~3k for nested automatic differentiation.
        Softplus: σ' = sigmoid, σ'' = sigmoid·(1 − sigmoid). Differentiable in
        every mode; :meth:`batch_gradient_and_curvature` is the same for a batch,
        with a hand-written reverse pass for training.
        """
        return _curvature_pass(self.weights, self.biases, x, T.T)[0]

    def batch_gradient_and_curvature(
        self, X: Float[ArrayLike, "B m"], T: Float[ArrayLike, "B m k"]
    ) -> tuple[Float[Array, "B m"], Float[Array, "B k k"]]:
        """:meth:`gradient_and_curvature` for a batch of B points, reverse-mode differentiable.

        Same numbers; its gradient (:func:`_curvature_vjp`) is written by hand,
        so that the weight gradients of all k + 2 rows per state are plain
        matmuls and the small k × k contractions stay elementwise, which makes a
        training step faster than JAX's own reverse pass of the per-state method
        (``benchmarks/speed.py`` measures the step). Forward-mode differentiation
        is not defined for it; use the per-state method there.
        """
        return _curvature(self.weights, self.biases, X, jnp.swapaxes(T, 1, 2))


def _curvature_pass(weights, biases, X, A):
    r"""The pass behind :meth:`MLP.gradient_and_curvature`: ((∇f, curvature), residuals).

    X: (..., m) points; A: (..., k, m) tangents as rows (each layer's tangent
    product is then one row-major matmul, measured faster than columns). Any
    leading batch axes, or none. The residuals per hidden layer — input h, input
    tangents, slope σ'(z), pre-activation tangents P, adjoint δ — are what the
    reverse pass needs.
    """
    if weights[-1].shape[0] != 1:
        raise ValueError("gradient_and_curvature needs a scalar network (one output).")
    dtype = weights[0].dtype
    h, A = X.astype(dtype), A.astype(dtype)
    forward = []
    for W, b in zip(weights[:-1], biases[:-1], strict=True):
        P = A @ W.T
        z = h @ W.T + b
        h_next, s = _softplus_and_sigmoid(z)
        forward.append((h, A, s, P))
        h, A = h_next, P * s[..., None, :]
    delta = jnp.broadcast_to(weights[-1][0], h.shape)
    k = A.shape[-2]
    curvature = jnp.zeros(X.shape[:-1] + (k, k), dtype)
    deltas = []
    for W, (_, _, s, P) in zip(weights[-2::-1], forward[::-1], strict=True):
        deltas.append(delta)
        curvature = curvature + (P * (delta * s * (1 - s))[..., None, :]) @ jnp.swapaxes(P, -1, -2)
        delta = (delta * s) @ W
    return (delta, curvature), (forward, deltas[::-1])


@jax.custom_vjp
def _curvature(weights, biases, X, A):
    return _curvature_pass(weights, biases, X, A)[0]


def _curvature_fwd(weights, biases, X, A):
    out, residuals = _curvature_pass(weights, biases, X, A)
    return out, (weights, residuals)


def _curvature_vjp(saved, cotangents):
    r"""Reverse pass of :func:`_curvature_pass`, by hand.

    With e_l = δ_l ⊙ s_l, c_l = δ_l ⊙ s_l(1 − s_l), the primal backward chain is
    δ_{l−1} = e_l W_l and C = Σ_l P_l diag(c_l) P_lᵀ. Its adjoint runs up the
    layers (l = 1 … H) carrying δ̄, then the forward pass's adjoint runs down,
    carrying h̄ and Ā; each W̄_l sums three outer products over the batch:
    e_lᵀ δ̄_{l−1} + z̄_lᵀ h_{l−1} + P̄_lᵀ A_{l−1}.
    """
    weights, (forward, deltas) = saved
    g_bar, C_bar = cotangents
    C_bar_T = jnp.swapaxes(C_bar, 1, 2)
    C_sym = C_bar + C_bar_T
    n_hidden = len(forward)
    W_bar, P_bar, s_bar = [], [], []
    delta_bar = g_bar
    for W, (_, _, s, P), delta in zip(weights[:n_hidden], forward, deltas, strict=True):
        s1 = s * (1 - s)
        e_bar = delta_bar @ W.T
        W_bar_l = (delta * s).T @ delta_bar
        c_bar = jnp.sum(_contract(C_bar_T, P) * P, axis=1)
        P_bar.append(_contract(C_sym, P * (delta * s1)[:, None, :]))
        s_bar.append(e_bar * delta + c_bar * delta * (1 - 2 * s))
        W_bar.append(W_bar_l)
        delta_bar = e_bar * s + c_bar * s1
    W_bar.append(jnp.sum(delta_bar, axis=0)[None, :])  # δ_H is the output layer's weight row
    b_bar = [None] * n_hidden + [jnp.zeros_like(weights[-1][:, 0])]
    h_bar = A_bar = None
    for layer in range(n_hidden - 1, -1, -1):
        W = weights[layer]
        h, A, s, P = forward[layer]
        Pb, sb = P_bar[layer], s_bar[layer]
        if A_bar is not None:
            Pb = Pb + A_bar * s[:, None, :]
            sb = sb + jnp.sum(A_bar * P, axis=1)
        z_bar = sb * s * (1 - s)
        if h_bar is not None:
            z_bar = z_bar + h_bar * s
        B, k, m = Pb.shape
        W_bar[layer] = W_bar[layer] + z_bar.T @ h + Pb.reshape(B * k, m).T @ A.reshape(B * k, -1)
        b_bar[layer] = jnp.sum(z_bar, axis=0)
        h_bar, A_bar = z_bar @ W, Pb @ W
    return tuple(W_bar), tuple(b_bar), h_bar, A_bar


_curvature.defvjp(_curvature_fwd, _curvature_vjp)


def _contract(S, P):
    """out[b, i, :] = Σ_j S[b, i, j] P[b, j, :], for small k × k matrices S.

    Up to k = 4 (up to three coordinates) as k² fused multiply-adds rather than
    tiny batched matmuls, which XLA runs faster on the CPU (``benchmarks/speed.py``).
    """
    k = S.shape[-1]
    if k > 4:
        return jnp.einsum("bij,bjm->bim", S, P)
    return jnp.stack([sum(S[:, i, j, None] * P[:, j] for j in range(k)) for i in range(k)], axis=1)


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

    A mixin beside the model's abstract type (e.g. ``class LagrangianNN(MLPModel,
    AbstractLagrangian)``): it adds the fields, :attr:`dof`, and the JSON-ready
    :meth:`config` from which :meth:`from_config` builds the same architecture.
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

    @property
    def dtype(self):
        """The parameters' dtype."""
        return self.mlp.weights[0].dtype

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-ready), so a saved model can be rebuilt."""
        f = self.features
        return {
            "class": type(self).__name__,
            "dof": self.dof,
            "width": self.width,
            "depth": self.depth,
            "angles": list(f.angles),
            "init": self.init,
            "angle_encoding": f.angle_encoding,
            "q_scale": f.q_scale,
            "qdot_scale": f.qdot_scale,
            "dtype": str(self.dtype),
            **self._extra_config(),
        }

    def _extra_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        """A model with the architecture in ``config`` (its weights are placeholders to load into)."""
        config = {k: v for k, v in config.items() if k != "class"}
        config["angles"] = tuple(config["angles"])
        # Each concrete subclass defines __init__(key=..., **architecture); the base has none to check against.
        return cls(key=jax.random.key(0), **config)  # pyright: ignore[reportCallIssue]


def make_features(dof, angles, angle_encoding, q_scale, qdot_scale) -> StateFeatures:
    """Validated :class:`StateFeatures` for ``dof`` coordinates."""
    angles = (False,) * dof if angles is None else tuple(bool(a) for a in angles)
    if len(angles) != dof:
        raise ConfigurationError(f"angles has {len(angles)} entries but dof = {dof}; give one flag per coordinate.")
    if angle_encoding not in ANGLE_ENCODINGS:
        raise ConfigurationError(f"unknown angle encoding {angle_encoding!r}; choose one of {ANGLE_ENCODINGS}.")
    return StateFeatures(angles, angle_encoding, float(q_scale), float(qdot_scale))
