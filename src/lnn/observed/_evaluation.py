"""How well a model predicts a recording: rollouts from estimated states against the measured positions."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from lnn._angles import spread, wrapped_difference
from lnn.data import Dataset
from lnn.errors import DataError, ModelTypeError
from lnn.mechanics import AbstractDynamics
from lnn.observed._matching import shoot
from lnn.observed._observations import Observations
from lnn.observed._residuals import check
from lnn.observed._smoothing import estimate

# One compile per model structure and window shape.
_shoot = eqx.filter_jit(shoot)


def observed_rollout_error(
    model: AbstractDynamics,
    obs: Observations,
    *,
    horizons: Sequence[float] = (0.5, 1.0, 2.0, 5.0),
    threshold: float = 0.2,
    dt: float = 0.01,
    initial: Dataset | None = None,
    max_starts: int = 200,
) -> dict:
    r"""How far ahead ``model`` predicts measured motion ``obs``, beside two trivial predictors.

    From start samples spread evenly through each trajectory, the model is
    integrated (RK4, substeps ≤ ``dt``) from the estimated state there
    (``initial``, a :class:`~lnn.data.Dataset` aligned with ``obs``; default
    :func:`~lnn.observed.estimate`'s with its default smoother; either way it
    must pass the residual check, :func:`~lnn.observed.check`, which raises a
    :class:`~lnn.errors.DataError` for states from a curve that departs from the
    recording) over the observed time stamps, up to the longest horizon that
    fits. The error at lead time τ is e(τ) = RMS over coordinates of
    (q̂ − q_observed)/σ, σ the spread of each observed coordinate, angle
    differences wrapped. It includes the measurement noise, so it does not
    fall to zero even for the true system. A driven recording's measured
    forces (``obs.force``) drive the model, linearly interpolated between the
    samples (:func:`~lnn.observed.shoot`); a model that takes no force is then a
    :class:`~lnn.errors.ModelTypeError`.

    The same errors are given for two trivial predictors from the same states
    (q0, q̇0), so that a figure has its context: ``"hold"`` (q̂(τ) = q0) and
    ``"constant_velocity"`` (q̂(τ) = q0 + q̇0 τ). A model whose valid time is
    not well above theirs has learned little.

    Returns a JSON-ready dict: ``rollout_error`` (horizon in s -> mean e over
    starts at the last sample within that horizon; horizons longer than the
    data are left out), ``valid_time`` (median over starts of the first τ where
    e exceeds ``threshold``; the window's end if never), ``threshold``,
    ``starts``, ``horizon`` (the longest horizon used) and ``baselines``
    (``{"hold": {"rollout_error": ..., "valid_time": ...},
    "constant_velocity": {...}}``, same horizons and threshold).
    """
    if initial is None:
        initial = estimate(obs)  # checked there
    else:
        check(obs, initial)
    segments = obs.segments()
    longest = min(float(obs.t[idx[-1]] - obs.t[idx[0]]) for _, idx in segments)
    horizons = [float(h) for h in horizons if h <= longest]
    if not horizons:
        raise DataError(
            f"the shortest trajectory lasts {longest:g} s, shorter than every horizon; give shorter "
            "horizons or longer recordings."
        )
    h_max = max(horizons)
    starts, windows = [], []
    per_traj = max(1, max_starts // len(segments))
    for _, idx in segments:
        t = obs.t[idx]
        last_start = np.searchsorted(t, t[-1] - h_max, side="right")
        for i in np.unique(np.linspace(0, last_start - 1, per_traj).round().astype(int)):
            j = np.searchsorted(t, t[i] + h_max + 1e-12, side="right")
            starts.append(idx[i])
            windows.append(idx[i:j])
    K = max(w.size for w in windows)
    # Pad every window to K stamps by repeating its last one: a zero-length RK4 interval leaves the state as is.
    pad = np.stack([np.concatenate([w, np.full(K - w.size, w[-1])]) for w in windows])
    valid = np.arange(K)[None, :] < np.array([w.size for w in windows])[:, None]
    tau = obs.t[pad] - obs.t[pad[:, :1]]
    substeps = max(1, int(np.ceil(np.max(np.diff(tau, axis=1)) / dt - 1e-9)))
    starts = np.asarray(starts)
    q0, qdot0 = initial.q[starts], initial.qdot[starts]
    if obs.force is not None and not model.takes_force:
        raise ModelTypeError(
            f"the recording carries generalized forces, but a {type(model).__name__} takes none; predict a "
            "driven recording with a model trained on one (an LNN, or a black box with force inputs)."
        )
    # A driven recording: τ at the window's stamps (padding repeats the last, as for q), interpolated linearly.
    force = None if obs.force is None else jnp.asarray(obs.force[pad])
    pred = np.asarray(_shoot(model, jnp.asarray(q0), jnp.asarray(qdot0), jnp.asarray(tau), substeps, force))
    sigma = spread(obs.q, obs.angles)

    def scores(pred: np.ndarray) -> dict:
        """``rollout_error`` and ``valid_time`` of predictions ``pred`` ``(starts, K, n)``."""
        e = np.sqrt(np.mean((wrapped_difference(pred, obs.q[pad], obs.angles) / sigma) ** 2, axis=-1))
        e = np.where(np.isfinite(e), e, np.inf)
        e = np.where(valid, e, np.nan)
        at = {}
        for h in horizons:
            k = np.sum(valid & (tau <= h + 1e-9), axis=1) - 1
            at[f"{h:g}"] = float(np.mean(e[np.arange(len(e)), k]))
        over = valid & (e > threshold)
        end = tau[np.arange(len(e)), valid.sum(axis=1) - 1]
        first = np.where(over.any(axis=1), tau[np.arange(len(e)), over.argmax(axis=1)], end)
        return {"rollout_error": at, "valid_time": float(np.median(first))}

    trivial = {
        "hold": np.broadcast_to(q0[:, None, :], pred.shape),
        "constant_velocity": q0[:, None, :] + qdot0[:, None, :] * tau[..., None],
    }
    return {
        **scores(pred),
        "threshold": threshold,
        "starts": int(len(starts)),
        "horizon": h_max,
        "baselines": {name: scores(p) for name, p in trivial.items()},
    }
