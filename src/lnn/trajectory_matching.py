r"""Learning from positions alone by trajectory matching (multiple shooting).

The observed motion is cut into short overlapping windows of K samples. From
the state at the start of each window the model is integrated (RK4, gradients
through every step) and its positions are compared with the observed ones:

    loss = mean_windows mean_{k=1..K−1} mean_i ρ((q̂_i(τ_k) − q_i(τ_k)) / σ_i),

σ_i the spread of coordinate i over the observations, ρ = |·| or (·)², angle
differences wrapped to (−π, π]. Short windows keep the problem close to convex
(a long rollout of a chaotic or poorly trained model is a rugged function of
the weights) and each window restarts from data, so errors do not compound.

**Initial states.** Each window starts from the smoothed position and the
estimated velocity at its first sample (:mod:`lnn.derivatives`, smoothing
spline by default), not from free per-window parameters. Free initial states
would add 2n unknowns per window that minibatch training only updates when
their window is drawn, and they cannot be used on held-out data, where a
prediction must start from an estimate anyway. Starting from estimates makes
training and prediction use the same initial states, and with windows of a few
samples the velocity estimate's error (zero-mean) averages out across
windows. Windows may use uneven time stamps: each window is integrated on its
own stamps, every interval split into the same number of RK4 substeps.

The training loop is :func:`lnn.train.fit` with :class:`TrajectoryObjective`:
same optimiser, schedule, validation split, checkpoints and progress.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from lnn import derivatives
from lnn.data import Dataset
from lnn.errors import DataError
from lnn.integrate import _rk4_rollout
from lnn.mechanics import as_dynamics
from lnn.observations import Observations, spread


@dataclasses.dataclass(frozen=True)
class Windows:
    """Short stretches of observed motion with an estimated initial state each.

    Attributes:
        q: shape ``(N, K, n)``, observed positions of each window.
        tau: shape ``(N, K)``, times since the window's first sample (τ_0 = 0).
        q0, qdot0: shape ``(N, n)``, the estimated state at τ = 0.
        trajectory: shape ``(N,)``, the motion each window comes from.
        angles: which coordinates are angles.
        spread: shape ``(n,)``, σ_i of the observed coordinates (normalises the loss).
    """

    q: np.ndarray
    tau: np.ndarray
    q0: np.ndarray
    qdot0: np.ndarray
    trajectory: np.ndarray
    angles: tuple[bool, ...]
    spread: np.ndarray

    def __len__(self) -> int:
        return self.q.shape[0]

    @property
    def dof(self) -> int:
        return self.q.shape[-1]

    def subset(self, mask_or_index) -> Windows:
        return dataclasses.replace(self, q=self.q[mask_or_index], tau=self.tau[mask_or_index],
                                   q0=self.q0[mask_or_index], qdot0=self.qdot0[mask_or_index],
                                   trajectory=self.trajectory[mask_or_index])


def windows(obs: Observations, *, length: int = 8, stride: int = 1, every: int = 1,
            initial: Dataset | None = None, method: str = "spline") -> Windows:
    """Cut ``obs`` into windows of ``length`` samples, one starting every ``stride`` samples.

    ``every`` > 1 keeps every ``every``-th sample inside a window, so a window
    spans ``(length − 1)·every`` sampling intervals for the cost of
    ``length − 1`` (dense video need not be integrated frame by frame).

    ``initial`` (a :class:`~lnn.data.Dataset` aligned with ``obs``, e.g. from
    :func:`lnn.derivatives.estimate`) gives each window's initial state; by
    default it is estimated with ``method``.
    """
    if length < 2 or stride < 1 or every < 1:
        raise DataError(f"a window needs at least 2 samples, and stride and every must be at least 1; got "
                        f"length={length}, stride={stride}, every={every}.")
    span = (length - 1) * every + 1
    if initial is None:
        initial = derivatives.estimate(obs, method=method)
    if len(initial) != len(obs):
        raise DataError(f"the initial-state estimate has {len(initial)} samples but the observations {len(obs)}.")
    idx, traj = [], []
    for t_id, seg in obs.segments():
        derivatives.require_samples(obs, t_id, seg, span, f"a trajectory-matching window of {span} samples")
        starts = np.arange(0, seg.size - span + 1, stride)
        idx.append(seg[starts[:, None] + every * np.arange(length)])
        traj.append(np.full(starts.size, t_id))
    idx = np.concatenate(idx)
    q = np.stack([derivatives.unwrap_angles(obs.q[i], obs.angles) for i in idx])
    # Unwrapping makes each window continuous; shift it by whole turns to start next to the estimate.
    turns = np.where(obs.angles, np.round((q[:, 0] - initial.q[idx[:, 0]]) / (2 * np.pi)), 0.0)
    q = q - 2 * np.pi * turns[:, None, :]
    return Windows(q=q, tau=obs.t[idx] - obs.t[idx[:, :1]], q0=initial.q[idx[:, 0]], qdot0=initial.qdot[idx[:, 0]],
                   trajectory=np.concatenate(traj), angles=tuple(obs.angles), spread=spread(obs.q, obs.angles))


def shoot(model, q0: Float[Array, "N n"], qdot0: Float[Array, "N n"], tau: Float[Array, "N K"],
          substeps: int) -> Float[Array, "N K n"]:
    """Positions of ``model`` integrated by RK4 from each ``(q0, qdot0)`` over its own stamps ``tau``.

    Differentiable with respect to the model (reverse mode through every step).
    """
    f = as_dynamics(model)
    run = lambda a, b, ts: _rk4_rollout(f, a, b, ts, substeps=substeps)[0]  # noqa: E731
    return jax.vmap(run)(q0, qdot0, tau)


@dataclasses.dataclass(frozen=True)
class TrajectoryObjective:
    """The trajectory-matching loss for :func:`lnn.train.fit` (see the module docstring).

    Build it with :meth:`for_windows`, which fixes the RK4 substeps: every
    interval of every window is split into ``ceil(longest interval / dt)``
    equal substeps.
    """

    angles: tuple[bool, ...]
    substeps: int
    kind: str = "l1"

    @classmethod
    def for_windows(cls, w: Windows, *, dt: float = 0.02, kind: str = "l1") -> TrajectoryObjective:
        if not dt > 0:
            raise DataError(f"the RK4 substep dt must be positive; got {dt}.")
        longest = float(np.max(np.diff(w.tau, axis=1)))
        return cls(tuple(w.angles), max(1, int(np.ceil(longest / dt - 1e-9))), kind)

    def prepare(self, train: Windows, val: Windows, dtype):
        arrays = lambda w: tuple(jnp.asarray(a, dtype=dtype) for a in (w.q, w.tau, w.q0, w.qdot0))  # noqa: E731
        return arrays(train), arrays(val), (jnp.asarray(train.spread, dtype=dtype),)

    def loss(self, model, samples, constants):
        return matching_loss(model, *samples, *constants, angles=self.angles, substeps=self.substeps,
                             kind=self.kind)


def matching_loss(model, q, tau, q0, qdot0, spread, *, angles, substeps: int, kind: str = "l1"):
    """Mean normalised position error of windows ``(B, K, n)`` integrated from ``(q0, qdot0)``."""
    pred = shoot(model, q0, qdot0, tau, substeps)[:, 1:]
    d = pred - q[:, 1:]
    d = jnp.where(jnp.asarray(angles, dtype=bool), jnp.mod(d + jnp.pi, 2 * jnp.pi) - jnp.pi, d) / spread
    return jnp.mean(jnp.abs(d)) if kind == "l1" else jnp.mean(d**2)


def describe(w: Windows) -> dict[str, Any]:
    """A JSON-ready summary of the windows (for run configs)."""
    return {"windows": len(w), "samples_per_window": int(w.q.shape[1]),
            "window_seconds": float(np.median(w.tau[:, -1]))}
