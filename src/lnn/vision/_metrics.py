r"""What a pixel model is judged on: frame errors along predictions, how well its latent space maps onto
the true coordinates, and how well its learned energy is kept along long latent rollouts.

* **Pixel MSE at horizon h**: mean over motions and pixels of (x̂_h − x_h)², the
  prediction x̂ rolled out from each held-out motion's first three frames.
* **VPT** (valid prediction time): per motion, the first frame k ≥ 1 at which
  mean((x̂_k − x_k)²) / mean(x_k²) exceeds :data:`VPT_THRESHOLD` (the whole
  motion if never), in seconds; the median over motions.
* **Coordinate R²**: the best, over polynomial degrees 1..3, of the held-out R²
  of a least-squares polynomial map from the latent features (cos θ, sin θ of a
  latent angle, else the value) to the true features (cos θ, sin θ of a true
  angle, else the value); fitted on every other frame, scored on the rest,
  averaged over the true features. 1 means the latent space is the true
  configuration space up to a smooth change of coordinates.
* **Energy drift**: the learned energy (E = q̇·∂L/∂q̇ − L of a Lagrangian
  model; H(q, p) of a Hamiltonian one; none for a black box) along latent
  rollouts of ``frames`` frames from each held-out motion's encoded initial
  state: median over motions of max_t |E(t) − E(0)|, divided by the spread
  (max − min) of the learned energy over the encoded states of the held-out
  frames.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from lnn.errors import DataError
from lnn.integrate import rk4_trajectory
from lnn.mechanics import AbstractLagrangian, energy
from lnn.models import HamiltonianNN
from lnn.vision._models import PixelModel, latent_features
from lnn.vision._video import Video, as_floats, require_frames

VPT_THRESHOLD = 0.025
HORIZONS = (1, 10, 100, 400)
DRIFT_FRAMES = 2000


@eqx.filter_jit
def _predict(model: PixelModel, first, steps: int):
    return model.predict(first, steps)


def predictions(model: PixelModel, video: Video, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames 0..steps predicted from each motion's first three frames (float on [0, 1],
    ``(N, steps + 1, S, S, 3)``), and their latent coordinates ``(N, steps + 1, n)``."""
    require_frames(video, 3, "an initial state (three frames)")
    frames, q = _predict(model, as_floats(video.frames[:, :3]), steps)
    return np.asarray(frames), np.asarray(q)


def pixel_errors(model: PixelModel, video: Video, horizons: Sequence[int] = HORIZONS) -> dict:
    """Pixel MSE along predictions of every motion of ``video`` (module docstring).

    Returns ``{"mse": per-frame MSE (list, frames 0..T−1), "pixel_mse": {h: value}
    for the horizons the motions are long enough for, "vpt": seconds,
    "vpt_frames": frames}``.
    """
    steps = video.length - 1
    if steps < 1:
        raise DataError("a video to predict needs at least two frames per motion.")
    predicted, _ = predictions(model, video, steps)
    truth = np.asarray(as_floats(video.frames))
    err = np.mean((predicted - truth) ** 2, axis=(2, 3, 4))  # (N, T)
    ratio = err / np.mean(truth**2, axis=(2, 3, 4))
    over = ratio[:, 1:] > VPT_THRESHOLD
    first = np.where(over.any(axis=1), over.argmax(axis=1) + 1, video.length)
    vpt_frames = float(np.median(first))
    return {
        "mse": err.mean(axis=0).tolist(),
        "pixel_mse": {str(h): float(err[:, h].mean()) for h in horizons if h <= steps},
        "vpt": vpt_frames * video.dt,
        "vpt_frames": vpt_frames,
    }


def coordinate_r2(
    latent: np.ndarray,
    latent_angles: Sequence[bool],
    true_q: np.ndarray,
    true_angles: Sequence[bool],
    max_degree: int = 3,
) -> float:
    """The held-out R² of the best polynomial map (degree ≤ ``max_degree``) from latent to true coordinates.

    ``latent``: ``(M, n)`` latent coordinates; ``true_q``: ``(M, n_true)`` (module docstring).
    """
    x = np.asarray(latent_features(jnp.asarray(latent), tuple(latent_angles)), float).reshape(
        -1, feature_count(latent_angles)
    )
    y = np.asarray(latent_features(jnp.asarray(true_q), tuple(true_angles)), float).reshape(x.shape[0], -1)
    if x.shape[0] < 8:
        raise DataError(f"need at least 8 frames to fit the latent-to-true map; got {x.shape[0]}.")
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-12
    x = (x - mu) / sd
    fit_rows, test_rows = slice(0, None, 2), slice(1, None, 2)
    best = -np.inf
    for degree in range(1, max_degree + 1):
        a = _monomials(x, degree)
        coef, *_ = np.linalg.lstsq(a[fit_rows], y[fit_rows], rcond=None)
        resid = y[test_rows] - a[test_rows] @ coef
        total = np.sum((y[test_rows] - y[test_rows].mean(axis=0)) ** 2, axis=0)
        r2 = 1 - np.sum(resid**2, axis=0) / np.maximum(total, 1e-12)
        best = max(best, float(np.mean(r2)))
    return best


def feature_count(angles: Sequence[bool]) -> int:
    return sum(2 if a else 1 for a in angles)


def _monomials(x: np.ndarray, degree: int) -> np.ndarray:
    """Every monomial of the columns of ``x`` up to ``degree``, with the constant."""
    cols = [np.ones(x.shape[0])]
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(x.shape[1]), d):
            cols.append(np.prod(x[:, combo], axis=1))
    return np.stack(cols, axis=1)


def learned_energy(model: PixelModel, q: jax.Array, qdot: jax.Array) -> jax.Array | None:
    """The latent dynamics' own energy at states ``(..., n)``; None for a model without one (a black box)."""
    dynamics = model.dynamics
    if isinstance(dynamics, AbstractLagrangian):
        return energy(dynamics, q, qdot)
    if isinstance(dynamics, HamiltonianNN):
        flat_q, flat_v = q.reshape(-1, q.shape[-1]), qdot.reshape(-1, q.shape[-1])
        h = jax.vmap(lambda a, b: dynamics.hamiltonian(a, dynamics.encode(a, b)))(flat_q, flat_v)
        return h.reshape(q.shape[:-1])
    return None


@eqx.filter_jit
def _drift_rollout(model: PixelModel, first, steps: int):
    q0, qdot0 = model.initial_state(model.encode(first))
    tau = jnp.broadcast_to(model.dt * jnp.arange(steps + 1, dtype=q0.dtype), (q0.shape[0], steps + 1))
    return jax.vmap(lambda a, b, ts: rk4_trajectory(model.dynamics, a, b, ts, substeps=model.substeps))(q0, qdot0, tau)


def energy_drift(model: PixelModel, video: Video, frames: int = DRIFT_FRAMES) -> float | None:
    """The learned energy's drift along latent rollouts of ``frames`` frames (module docstring); None for a
    model without an energy (a black box); inf where a rollout blows up."""
    q, qdot = _drift_rollout(model, as_floats(video.frames[:, :3]), frames)
    e = learned_energy(model, q, qdot)
    if e is None:
        return None
    first = as_floats(video.frames[:, : video.length - video.length % 3])
    z = model.encode(first).reshape(video.motions, -1, 3, model.dof)
    q_enc, v_enc = model.initial_state(z)
    e_enc = np.asarray(learned_energy(model, q_enc, v_enc))
    spread = float(np.max(e_enc) - np.min(e_enc))
    e = np.asarray(e)
    drift = np.max(np.abs(e - e[:, :1]), axis=1)
    return float(np.median(drift) / max(spread, 1e-12)) if np.all(np.isfinite(e)) else float("inf")


def evaluate_video(
    model: PixelModel, video: Video, *, horizons: Sequence[int] = HORIZONS, drift_frames: int = DRIFT_FRAMES
) -> dict:
    """Every metric of the module docstring on the held-out ``video``: ``{"vpt", "vpt_frames", "pixel_mse",
    "mse", "coordinate_r2" (None without true states), "energy_drift"}``."""
    result = pixel_errors(model, video, horizons)
    r2 = None
    if video.q is not None and video.angles is not None:
        latent = np.asarray(model.encode(as_floats(video.frames))).reshape(-1, model.dof)
        r2 = coordinate_r2(latent, model.angles, video.q.reshape(latent.shape[0], -1), video.angles)
    result["coordinate_r2"] = r2
    result["energy_drift"] = energy_drift(model, video, drift_frames)
    return result


def side_by_side(model: PixelModel, video: Video, *, motion: int = 0, frames: int = 200, scale: int = 4) -> np.ndarray:
    """``uint8`` frames ``(T, scale·S, 2·scale·S + scale, 3)``: the prediction (left) beside the truth (right)
    for the first ``frames`` frames of one motion, each pixel drawn ``scale × scale`` (for a GIF)."""
    one = video.select(slice(motion, motion + 1), slice(0, min(frames, video.length)))
    predicted, _ = predictions(model, one, one.length - 1)
    truth = np.asarray(as_floats(one.frames))
    gap = np.ones(predicted.shape[:3] + (1, 3))
    both = np.concatenate([predicted, gap, truth], axis=3)[0]
    both = np.repeat(np.repeat(both, scale, axis=1), scale, axis=2)
    return np.round(255 * np.clip(both, 0, 1)).astype(np.uint8)
