r"""What a pixel model is trained on: :class:`PixelObjective`, for :func:`lnn.fit`.

A sample is a window of K = ``horizon`` + 1 consecutive frames x₀..x_{K−1} of
one motion. With q_k = enc(x_k) and q̂ the latent dynamics rolled forward by
RK4 from (q₀, q̇₀) of the first three encodings,

    loss = [ w_rec · mean_k ρ(dec(q_k) − x_k) + w_pred · mean_{k≥1} ρ(dec(q̂_k) − x_k) ] / σ²
           + w_lat · mean_{k≥1} |φ(q̂_k) − φ(q_k)|²,

ρ = (·)² (``"l2"``, the default) or |·| (``"l1"``, then divided by σ), σ² the
variance of the training pixels, φ the unit vector (cos θ, sin θ) of an angle
and the value of any other coordinate. The first term trains the autoencoder,
the second the dynamics through the decoder, the third keeps the rollout on
the encoder's coordinates. Its weight is small (default 10⁻³): with weight 1
the encoder can shrink the latent motion until the term vanishes (a collapse).

Frames are held once (a constant of the objective); samples are the indices of
each window's first frame, so overlapping windows cost no memory.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from lnn.errors import ConfigurationError
from lnn.training import AbstractObjective, Loss, TrainConfig, fit
from lnn.vision._models import PixelModel, latent_features, pixel_model
from lnn.vision._video import Video, as_floats, require_frames, split_video


class PixelObjective(AbstractObjective):
    """Reconstruction + multi-step prediction + latent consistency (module docstring)."""

    horizon: int = eqx.field(static=True, default=6)
    reconstruction: float = eqx.field(static=True, default=1.0)
    prediction: float = eqx.field(static=True, default=1.0)
    consistency: float = eqx.field(static=True, default=1e-3)
    loss: Loss = eqx.field(static=True, default="l2")

    def __check_init__(self):
        if self.horizon < 2:
            raise ConfigurationError(f"the prediction horizon must be at least 2 frames; got {self.horizon}.")
        if min(self.reconstruction, self.prediction, self.consistency) < 0:
            raise ConfigurationError("the loss weights must be >= 0.")

    @property
    def window(self) -> int:
        """K, frames per training window."""
        return self.horizon + 1

    def prepare(self, model: PixelModel, train: Video, val: Video, dtype):
        for video, what in ((train, "training"), (val, "validation")):
            require_frames(video, self.window, f"a {what} window of the {self.horizon}-frame prediction horizon")
            if video.size != (model.size, model.size):
                raise ConfigurationError(
                    f"the {what} frames are {video.size[1]}×{video.size[0]} but the model sees "
                    f"{model.size}×{model.size}; resize them (--size)."
                )
        frames = np.concatenate(
            [train.frames.reshape((-1,) + train.frames.shape[2:]), val.frames.reshape((-1,) + val.frames.shape[2:])]
        )
        pixels = as_floats(frames, dtype)
        scale = jnp.maximum(jnp.var(as_floats(train.frames[:, :: max(1, train.length // 50)], dtype)), 1e-6)
        return _starts(train, 0, self.window), _starts(val, len(train), self.window), (pixels, scale)

    def __call__(self, model: PixelModel, samples, constants) -> Array:
        (starts,) = samples
        pixels, scale = constants
        x = pixels[starts[:, None] + jnp.arange(self.window)]  # (B, K, S, S, 3)
        features = model.encode_features(x)
        q = model.coordinates(features)
        rho = (lambda r: r**2) if self.loss == "l2" else jnp.abs
        norm = scale if self.loss == "l2" else jnp.sqrt(scale)
        reconstruction = jnp.mean(rho(model.decode(q) - x))
        q0, qdot0 = model.initial_state(q[:, :3])
        q_hat = model.rollout(q0, qdot0, self.horizon)
        prediction = jnp.mean(rho(model.decode(q_hat[:, 1:]) - x[:, 1:]))
        phi = lambda z: latent_features(z, model.angles)
        consistency = jnp.mean(jnp.sum((phi(q_hat[:, 1:]) - phi(q[:, 1:])) ** 2, axis=-1))
        return (self.reconstruction * reconstruction + self.prediction * prediction) / norm + (
            self.consistency * consistency
        )

    def with_loss(self, loss: Loss) -> PixelObjective:
        return dataclasses.replace(self, loss=loss)


def _starts(video: Video, offset: int, window: int) -> tuple[Array]:
    """Indices (into the frames of all motions, flattened, from ``offset``) of every window's first frame."""
    per_motion = np.arange(video.length - window + 1)
    starts = offset + (np.arange(video.motions)[:, None] * video.length + per_motion[None]).reshape(-1)
    return (jnp.asarray(starts, jnp.int32),)


def fit_video(
    dynamics: str,
    video: Video,
    *,
    angles: tuple[bool, ...],
    key: Array,
    config: TrainConfig,
    objective: PixelObjective = PixelObjective(),
    val_fraction: float = 0.1,
    out: str | Path | None = None,
    progress: bool = True,
    label: str | None = None,
    **model_options: Any,
) -> tuple[PixelModel, list[dict[str, Any]]]:
    """A :class:`PixelModel` with latent dynamics ``dynamics`` trained on ``video`` by :func:`lnn.fit`.

    The last ``val_fraction`` of the motions (or of a single motion's frames, and
    at least one window: :func:`split_video`) is held out for validation. ``model_options`` go to
    :func:`pixel_model` (``substeps``, ``width``, ...); the decoder starts from
    the training frames' mean. Returns the model with the
    lowest validation loss and the history.
    """
    train, val = split_video(video, val_fraction, objective.window)
    require_frames(train, objective.window, f"a training window of the {objective.horizon}-frame prediction horizon")
    require_frames(val, objective.window, f"a validation window of the {objective.horizon}-frame prediction horizon")
    k_model, k_fit = jax.random.split(key)
    mean_frame = np.asarray(as_floats(train.frames[:, :: max(1, train.length // 20)])).mean(axis=(0, 1))
    model = pixel_model(
        dynamics, angles, size=video.size[0], dt=video.dt, key=k_model, mean_frame=mean_frame, **model_options
    )
    return fit(
        model,
        train,
        key=k_fit,
        config=config,
        val_dataset=val,
        out=out,
        progress=progress,
        label=label or dynamics,
        objective=objective,
    )
