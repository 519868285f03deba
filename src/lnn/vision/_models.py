r"""Models of motion seen in pixels: an encoder to coordinates, one of lnn's dynamics in them, a decoder back.

:class:`PixelModel` = :class:`Encoder` ∘ latent dynamics ∘ :class:`Decoder`:

* the encoder, a small CNN, maps a frame to latent coordinates q: a coordinate
  that is an angle is read as θ = atan2(v, u) of an unconstrained pair (u, v) —
  it lives on the circle — and any other coordinate is one output (the line);
* velocities come from the encodings of the first three frames by the
  second-order one-sided difference q̇₀ = (4 Δ₁ − Δ₂) / (2 Δt), Δ_k = q_k − q₀
  (angle differences wrapped to (−π, π]);
* the latent dynamics is any lnn model (:class:`~lnn.LagrangianNN`,
  :class:`~lnn.StructuredLagrangian`, the black box, :class:`~lnn.HamiltonianNN`),
  rolled forward by RK4 (:func:`lnn.observed.shoot`);
* the decoder maps coordinates (cos θ, sin θ for an angle) to a frame through an
  MLP with a sigmoid output on [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from lnn._angles import wrap_differences
from lnn.data import Dataset
from lnn.errors import ConfigurationError, FileFormatError
from lnn.mechanics import AbstractDynamics
from lnn.models import from_config as dynamics_from_config
from lnn.observed import shoot
from lnn.training import build_model

# The latent dynamics a pixel model can have (lnn.training.build_model's roles).
DYNAMICS = ("lnn", "structured", "baseline", "hnn")


def latent_features(q: Float[Array, "... n"], angles: Sequence[bool]) -> Float[Array, "... m"]:
    """φ(q): (cos θ, sin θ) for each angle, the value for any other coordinate."""
    parts = [
        jnp.stack([jnp.cos(q[..., i]), jnp.sin(q[..., i])], -1) if a else q[..., i : i + 1]
        for i, a in enumerate(angles)
    ]
    return jnp.concatenate(parts, axis=-1)


def feature_size(angles: Sequence[bool]) -> int:
    return sum(2 if a else 1 for a in angles)


class Encoder(eqx.Module):
    """A frame ``(S, S, 3)`` on [0, 1] to latent features: three stride-2 3×3 convolutions (ReLU), two dense layers."""

    convs: tuple[eqx.nn.Conv2d, ...]
    hidden: eqx.nn.Linear
    out: eqx.nn.Linear

    def __init__(self, size: int, outputs: int, *, channels: int = 16, width: int = 64, key: Array, dtype=jnp.float32):
        keys = jax.random.split(key, 5)
        chans = (3, channels, 2 * channels, 2 * channels)
        self.convs = tuple(
            eqx.nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1, key=keys[i], dtype=dtype) for i in range(3)
        )
        side = size
        for _ in range(3):
            side = (side + 1) // 2
        self.hidden = eqx.nn.Linear(chans[-1] * side * side, width, key=keys[3], dtype=dtype)
        self.out = eqx.nn.Linear(width, outputs, key=keys[4], dtype=dtype)

    def __call__(self, frame: Float[Array, "S S 3"]) -> Float[Array, " m"]:
        x = jnp.transpose(frame, (2, 0, 1)).astype(self.out.weight.dtype) - 0.5
        for conv in self.convs:
            x = jax.nn.relu(conv(x))
        return self.out(jax.nn.relu(self.hidden(x.reshape(-1))))


class Decoder(eqx.Module):
    """Latent features to a frame ``(S, S, 3)`` on [0, 1]: an MLP with one hidden ReLU layer, sigmoid output."""

    hidden: eqx.nn.Linear
    hidden2: eqx.nn.Linear
    out: eqx.nn.Linear
    size: int = eqx.field(static=True)

    def __init__(self, size: int, inputs: int, *, width: int = 256, key: Array, dtype=jnp.float32):
        k1, k2, k3 = jax.random.split(key, 3)
        self.size = size
        self.hidden = eqx.nn.Linear(inputs, width, key=k1, dtype=dtype)
        self.hidden2 = eqx.nn.Linear(width, width, key=k2, dtype=dtype)
        self.out = eqx.nn.Linear(width, size * size * 3, key=k3, dtype=dtype)

    def __call__(self, features: Float[Array, " m"]) -> Float[Array, "S S 3"]:
        h = jax.nn.relu(self.hidden2(jax.nn.relu(self.hidden(features.astype(self.out.weight.dtype)))))
        return jax.nn.sigmoid(self.out(h)).reshape(self.size, self.size, 3)


class PixelModel(eqx.Module):
    """Encoder, latent dynamics and decoder of frames ``size × size`` taken every ``dt`` seconds (module docstring).

    ``angles``: which latent coordinates are angles. ``substeps``: RK4 steps per frame interval.
    """

    encoder: Encoder
    decoder: Decoder
    dynamics: AbstractDynamics
    angles: tuple[bool, ...] = eqx.field(static=True)
    size: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    substeps: int = eqx.field(static=True)
    channels: int = eqx.field(static=True)
    encoder_width: int = eqx.field(static=True)
    decoder_width: int = eqx.field(static=True)

    @property
    def dof(self) -> int:
        return len(self.angles)

    def config(self) -> dict[str, Any]:
        """What :func:`model_from_config` rebuilds the architecture from (model files)."""
        return {
            "class": "PixelModel",
            "angles": list(self.angles),
            "size": self.size,
            "dt": self.dt,
            "substeps": self.substeps,
            "channels": self.channels,
            "encoder_width": self.encoder_width,
            "decoder_width": self.decoder_width,
            "dtype": str(self.encoder.out.weight.dtype),
            "dynamics": self.dynamics.config(),
        }

    def encode_features(self, frames: Float[Array, "... S S 3"]) -> Float[Array, "... m"]:
        """The encoder's raw outputs of each frame (a pair per angle)."""
        flat = frames.reshape((-1,) + frames.shape[-3:])
        return jax.vmap(self.encoder)(flat).reshape(frames.shape[:-3] + (-1,))

    def coordinates(self, features: Float[Array, "... m"]) -> Float[Array, "... n"]:
        """Latent q from encoder outputs: θ = atan2(v, u) for an angle's pair (u, v)."""
        parts, i = [], 0
        for a in self.angles:
            if a:
                parts.append(jnp.arctan2(features[..., i + 1], features[..., i])[..., None])
                i += 2
            else:
                parts.append(features[..., i : i + 1])
                i += 1
        return jnp.concatenate(parts, axis=-1)

    def encode(self, frames: Float[Array, "... S S 3"]) -> Float[Array, "... n"]:
        """Latent coordinates q of each frame."""
        return self.coordinates(self.encode_features(frames))

    def initial_state(self, q: Float[Array, "... 3 n"]) -> tuple[Float[Array, "... n"], Float[Array, "... n"]]:
        """(q₀, q̇₀) from the encodings of three consecutive frames (module docstring)."""
        d = q[..., 1:, :] - q[..., :1, :]
        d = wrap_differences(d, self.angles)
        return q[..., 0, :], (4 * d[..., 0, :] - d[..., 1, :]) / (2 * self.dt)

    def decode(self, q: Float[Array, "... n"]) -> Float[Array, "... S S 3"]:
        """Frames of latent coordinates q."""
        flat = q.reshape(-1, q.shape[-1])
        frames = jax.vmap(lambda x: self.decoder(latent_features(x, self.angles)))(flat)
        return frames.reshape(q.shape[:-1] + frames.shape[1:])

    def rollout(self, q0: Float[Array, "N n"], qdot0: Float[Array, "N n"], steps: int) -> Float[Array, "N K n"]:
        """Latent coordinates at frames 0..steps (K = steps + 1) from each (q₀, q̇₀), by RK4."""
        tau = jnp.broadcast_to(self.dt * jnp.arange(steps + 1, dtype=q0.dtype), (q0.shape[0], steps + 1))
        return shoot(self.dynamics, q0, qdot0, tau, self.substeps)

    def predict(self, first: Float[Array, "N 3 S S 3"], steps: int) -> tuple[Float[Array, "N K S S 3"], Array]:
        """Frames 0..steps predicted from each motion's first three frames, and their latent coordinates."""
        q0, qdot0 = self.initial_state(self.encode(first))
        q = self.rollout(q0, qdot0, steps)
        return self.decode(q), q


def pixel_model(
    dynamics: str,
    angles: Sequence[bool],
    *,
    size: int,
    dt: float,
    key: Array,
    substeps: int = 2,
    width: int = 64,
    depth: int = 2,
    channels: int = 16,
    encoder_width: int = 64,
    decoder_width: int = 256,
    qdot_scale: float = 3.0,
    accel_scale: float = 10.0,
    dtype: str = "float32",
    mean_frame: np.ndarray | None = None,
) -> PixelModel:
    """A fresh :class:`PixelModel` with latent dynamics ``dynamics`` (:data:`DYNAMICS`).

    The latent dynamics is :func:`lnn.training.build_model`'s model for that
    role, its input scales set from a prior on the latent motion (no states are
    seen): coordinates of order 1, velocities of RMS ``qdot_scale`` and
    accelerations of RMS ``accel_scale`` (per second, per second²).

    ``mean_frame`` (``(size, size, 3)`` on [0, 1], e.g. the training frames'
    mean): the decoder starts by drawing it (its output bias is its logit), not
    a uniform 0.5 grey, so training does not first spend steps learning the
    background (on a dark background that start delays learning the bodies).
    """
    if dynamics not in DYNAMICS:
        raise ConfigurationError(f"unknown latent dynamics {dynamics!r}; choose from {', '.join(DYNAMICS)}.")
    if substeps < 1 or not dt > 0:
        raise ConfigurationError(f"substeps must be >= 1 and dt > 0; got {substeps} and {dt}.")
    angles = tuple(bool(a) for a in angles)
    k_enc, k_dec, k_dyn = jax.random.split(key, 3)
    n = len(angles)
    ones = np.ones((2, n))
    ones[1] *= -1  # two states, RMS 1 / qdot_scale / accel_scale in every coordinate
    prior = Dataset(ones, qdot_scale * ones, accel_scale * ones, np.arange(2), np.zeros(2))
    model = build_model(dynamics, prior, k_dyn, angles=angles, width=width, depth=depth, dtype=dtype)
    float_type = jnp.float64 if dtype == "float64" else jnp.float32
    encoder = Encoder(size, feature_size(angles), channels=channels, width=encoder_width, key=k_enc, dtype=float_type)
    decoder = Decoder(size, feature_size(angles), width=decoder_width, key=k_dec, dtype=float_type)
    if mean_frame is not None:
        p = np.clip(np.asarray(mean_frame, float).reshape(-1), 0.02, 0.98)
        decoder = eqx.tree_at(lambda d: d.out.bias, decoder, jnp.asarray(np.log(p / (1 - p)), float_type))
    return PixelModel(
        encoder, decoder, model, angles, size, float(dt), substeps, channels, encoder_width, decoder_width
    )


def model_from_config(config: dict[str, Any]) -> Any:
    """The architecture a model file's ``config`` describes: a :class:`PixelModel` or any lnn model
    (:func:`lnn.models.from_config`); the weights are placeholders (``lnn.io.load_model(path, build=...)``)."""
    if config.get("class") != "PixelModel":
        return dynamics_from_config(config)
    try:
        angles = tuple(bool(a) for a in config["angles"])
        size, channels = int(config["size"]), int(config["channels"])
        key, dtype = jax.random.key(0), jnp.dtype(config.get("dtype", "float32"))
        m = feature_size(angles)
        encoder = Encoder(size, m, channels=channels, width=int(config["encoder_width"]), key=key, dtype=dtype)
        decoder = Decoder(size, m, width=int(config["decoder_width"]), key=key, dtype=dtype)
        dynamics = dynamics_from_config(config["dynamics"])
        return PixelModel(
            encoder,
            decoder,
            dynamics,
            angles,
            size,
            float(config["dt"]),
            int(config["substeps"]),
            channels,
            int(config["encoder_width"]),
            int(config["decoder_width"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise FileFormatError(f"the model file's header does not describe a pixel model ({err!r}).") from None
