r"""Learning from positions alone by trajectory matching (multiple shooting).

The observed motion is cut into short overlapping windows of K samples. From
the state at the start of each window the model is integrated (RK4, gradients
through every step) and its positions are compared with the observed ones:

    loss = mean_windows mean_{k=1..K−1} mean_i ρ((q̂_i(τ_k) − q_i(τ_k)) / σ_i),

σ_i the spread of coordinate i over the observations, ρ = |·| or (·)², angle
differences wrapped to (−π, π]. Short windows keep the problem close to convex
(a long rollout of a chaotic or poorly trained model is a rugged function of
the weights) and each window restarts from data, so errors do not compound.

**Initial states.** Each window starts from a state at its first sample. Two
choices (``initial=``):

* ``"estimated"`` (:class:`~lnn.observed.EstimatedStates`, the default) —
  the smoothed position and estimated velocity there
  (:func:`~lnn.observed.estimate`, :class:`~lnn.observed.KnotSpline` by
  default; checked against the recording either way). The same initial states are available at
  prediction time, and windows can start at every sample, so every sample
  serves as a start. The estimate's error (noise, and the smoother's bias that
  flattens peaks) enters every window, and the model partly learns to
  compensate it: this is what limits the method as noise grows.
* ``"free"`` (:class:`~lnn.observed.FreeStates`) — true multiple shooting: every training window's initial state
  is a free parameter, started at the estimate and optimised together with the
  model (:class:`FreeInitialStates`), so the model is judged only on how well
  it *continues* a state that fits the data. Windows then do not overlap
  (consecutive ones share only their end sample), so each state is drawn
  often; validation windows start from estimates. With short windows the free
  states can absorb part of a wrong model's error: a window of about one
  period fixes the phase only to the noise over that window.
  :meth:`FreeInitialStates.carried_to` hands trained states on to longer
  windows that start at the same samples; refined there by L-BFGS
  (:class:`~lnn.observed.FreeStates` ``longer_windows``), the phase is tied over
  several periods (``benchmarks/noise.py`` measures what that step and L-BFGS
  bring on the noisy pendulum). The optimiser can
  trap a window's state (too high a swing whose wrapped angles still match
  part of the window); :meth:`FreeInitialStates.relinked` frees it with a
  neighbour's state carried over by the model, before each L-BFGS stage.

Windows may use uneven time stamps: each window is integrated on its own
stamps, every interval split into the same number of RK4 substeps.

**Driven recordings.** Where the observations carry measured generalized
forces (``Observations.force``), each window holds τ at every sample it spans
(not only the kept ones: ``every`` > 1 would otherwise coarsen the drive), and
the model is integrated under τ linearly interpolated between those samples
(:func:`lnn.integrate.interpolated`), at every RK4 stage.

The training loop is :func:`lnn.fit` with :class:`TrajectoryObjective`:
same optimiser, schedule, validation split, checkpoints and progress.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from lnn._angles import spread, unwrap_angles, wrap_differences
from lnn.data import Dataset
from lnn.errors import ConfigurationError, DataError
from lnn.integrate import interpolated, rk4_trajectory
from lnn.mechanics import AbstractDynamics
from lnn.observed._observations import Observations
from lnn.observed._residuals import check
from lnn.observed._smoothing import estimate, require_samples
from lnn.training import AbstractObjective, Loss


@dataclasses.dataclass(frozen=True)
class Windows:
    """Short stretches of observed motion with an estimated initial state each.

    Attributes:
        q: shape ``(N, K, n)``, observed positions of each window.
        tau: shape ``(N, K)``, times since the window's first sample (τ_0 = 0).
        q0, qdot0: shape ``(N, n)``, the estimated state at τ = 0.
        trajectory: shape ``(N,)``, the motion each window comes from.
        first, last: shape ``(N,)``, the index of each window's first and last
            sample in the observations it was cut from.
        angles: which coordinates are angles.
        spread: shape ``(n,)``, σ_i of the observed coordinates (normalises the loss).
        force: shape ``(N, S, n)`` or ``None``: the measured generalized force at
            each of the S = (K − 1)·every + 1 samples the window spans.
        force_times: shape ``(N, S)`` or ``None``: their times since the window's
            first sample.
    """

    q: np.ndarray
    tau: np.ndarray
    q0: np.ndarray
    qdot0: np.ndarray
    trajectory: np.ndarray
    first: np.ndarray
    last: np.ndarray
    angles: tuple[bool, ...]
    spread: np.ndarray
    force: np.ndarray | None = None
    force_times: np.ndarray | None = None

    def __len__(self) -> int:
        return self.q.shape[0]

    @property
    def dof(self) -> int:
        return self.q.shape[-1]

    def subset(self, mask_or_index) -> Windows:
        return dataclasses.replace(
            self,
            q=self.q[mask_or_index],
            tau=self.tau[mask_or_index],
            q0=self.q0[mask_or_index],
            qdot0=self.qdot0[mask_or_index],
            trajectory=self.trajectory[mask_or_index],
            first=self.first[mask_or_index],
            last=self.last[mask_or_index],
            force=None if self.force is None else self.force[mask_or_index],
            force_times=None if self.force_times is None else self.force_times[mask_or_index],
        )


def windows(
    obs: Observations, *, length: int = 8, stride: int = 1, every: int = 1, initial: Dataset | None = None
) -> Windows:
    """Cut ``obs`` into windows of ``length`` samples, one starting every ``stride`` samples.

    ``every`` > 1 keeps every ``every``-th sample inside a window, so a window
    spans ``(length − 1)·every`` sampling intervals for the cost of
    ``length − 1`` (dense video need not be integrated frame by frame).

    ``initial`` (a :class:`~lnn.data.Dataset` aligned with ``obs``, e.g. from
    :func:`lnn.observed.estimate`) gives each window's initial state; by
    default it is :func:`~lnn.observed.estimate`'s, with its default smoother.
    Either way it must pass the residual check (:func:`~lnn.observed.check`: a
    :class:`~lnn.errors.DataError` if its positions depart from the recording by
    more than the noise).
    """
    if length < 2 or stride < 1 or every < 1:
        raise DataError(
            f"a window needs at least 2 samples, and stride and every must be at least 1; got "
            f"length={length}, stride={stride}, every={every}."
        )
    span = (length - 1) * every + 1
    if initial is None:
        initial = estimate(obs)  # checked there
    elif len(initial) != len(obs):
        raise DataError(f"the initial-state estimate has {len(initial)} samples but the observations {len(obs)}.")
    else:
        check(obs, initial)
    idx, spanned, traj = [], [], []
    for t_id, seg in obs.segments():
        require_samples(obs, t_id, seg, span, f"a trajectory-matching window of {span} samples")
        starts = np.arange(0, seg.size - span + 1, stride)
        idx.append(seg[starts[:, None] + every * np.arange(length)])
        spanned.append(seg[starts[:, None] + np.arange(span)])
        traj.append(np.full(starts.size, t_id))
    idx, spanned = np.concatenate(idx), np.concatenate(spanned)
    q = np.stack([unwrap_angles(obs.q[i], obs.angles) for i in idx])
    # Unwrapping makes each window continuous; shift it by whole turns to start next to the estimate.
    turns = np.where(obs.angles, np.round((q[:, 0] - initial.q[idx[:, 0]]) / (2 * np.pi)), 0.0)
    q = q - 2 * np.pi * turns[:, None, :]
    return Windows(
        q=q,
        tau=obs.t[idx] - obs.t[idx[:, :1]],
        q0=initial.q[idx[:, 0]],
        qdot0=initial.qdot[idx[:, 0]],
        trajectory=np.concatenate(traj),
        first=idx[:, 0],
        last=idx[:, -1],
        angles=tuple(obs.angles),
        spread=spread(obs.q, obs.angles),
        force=None if obs.force is None else obs.force[spanned],
        force_times=None if obs.force is None else obs.t[spanned] - obs.t[spanned[:, :1]],
    )


def shoot(
    model: AbstractDynamics,
    q0: Float[Array, "N n"],
    qdot0: Float[Array, "N n"],
    tau: Float[Array, "N K"],
    substeps: int,
    force: Float[Array, "N S n"] | None = None,
    force_times: Float[Array, "N S"] | None = None,
) -> Float[Array, "N K n"]:
    """Positions of ``model`` integrated by RK4 from each ``(q0, qdot0)`` over its own stamps ``tau``.

    ``force``: the generalized force τ at the stamps ``force_times`` (default
    ``tau``) of each integration, linearly interpolated between them
    (:func:`lnn.integrate.interpolated`; held at the end values outside them)
    at every RK4 stage. Differentiable with respect to the model (reverse mode
    through every step).
    """
    if force is None:
        return jax.vmap(lambda a, b, ts: rk4_trajectory(model, a, b, ts, substeps=substeps)[0])(q0, qdot0, tau)
    force_times = tau if force_times is None else force_times

    def one(a, b, ts, ft, f):
        return rk4_trajectory(model, a, b, ts, substeps=substeps, force=interpolated(ft, f))[0]

    return jax.vmap(one)(q0, qdot0, tau, force_times, force)


class TrajectoryObjective(AbstractObjective):
    """The trajectory-matching loss for :func:`lnn.fit` (see the module docstring).

    Build it with :meth:`for_windows`, which fixes the RK4 substeps: every
    interval of every window is split into ``ceil(longest interval / dt)``
    equal substeps.
    """

    angles: tuple[bool, ...] = eqx.field(static=True)
    substeps: int = eqx.field(static=True)
    loss: Loss = eqx.field(static=True, default="l1")

    @classmethod
    def for_windows(cls, *ws: Windows, dt: float = 0.05, loss: Loss = "l1") -> TrajectoryObjective:
        """The objective for windows ``ws`` (e.g. training and validation), substeps bounded by ``dt``."""
        if not dt > 0:
            raise ConfigurationError(f"the RK4 substep dt must be positive; got {dt}.")
        longest = max(float(np.max(np.diff(w.tau, axis=1))) for w in ws)
        return cls(tuple(ws[0].angles), max(1, int(np.ceil(longest / dt - 1e-9))), loss)

    def with_loss(self, loss: Loss) -> TrajectoryObjective:
        return TrajectoryObjective(self.angles, self.substeps, loss)

    def prepare(self, model: AbstractDynamics, train: Windows, val: Windows, dtype):
        if (train.force is None) != (val.force is None):
            raise DataError("the training and validation windows must both have generalized forces or both not.")
        core = model.model if isinstance(model, FreeInitialStates) else model
        if train.force is not None and not core.takes_force:
            raise DataError(
                f"the recording carries generalized forces, but a {type(core).__name__} takes none; learn a "
                "driven system with a Lagrangian model (an LNN, optionally with dissipation) or a black "
                "box with force inputs."
            )
        # The last sample array indexes each training window's free initial state; −1 (validation): use the estimate.
        # A driven recording's τ and its stamps come before it.
        arrays = lambda w, index: (
            *(jnp.asarray(a, dtype=dtype) for a in (w.q, w.tau, w.q0, w.qdot0)),
            *(() if w.force is None else (jnp.asarray(w.force, dtype=dtype), jnp.asarray(w.force_times, dtype=dtype))),
            jnp.asarray(index),
        )
        return (
            arrays(train, np.arange(len(train))),
            arrays(val, np.full(len(val), -1)),
            (jnp.asarray(train.spread, dtype=dtype),),
        )

    def __call__(self, model, samples, constants):
        q, tau, q0, qdot0, *force, index = samples  # force: () or (τ samples, their stamps)
        if isinstance(model, FreeInitialStates):
            free = (index >= 0)[:, None]
            q0 = jnp.where(free, model.q0[index], q0)
            qdot0 = jnp.where(free, model.qdot0[index], qdot0)
            model = model.model
        return matching_loss(
            model, q, tau, q0, qdot0, *constants, *force, angles=self.angles, substeps=self.substeps, loss=self.loss
        )

    def export(self, trained):
        """The model alone, without the free initial states it was trained with."""
        return trained.model if isinstance(trained, FreeInitialStates) else trained


class FreeInitialStates(eqx.Module):
    """A model together with one free initial state ``(q0, qdot0)`` per training window, shapes ``(W, n)``.

    What :func:`lnn.fit` optimises for multiple shooting with free initial
    states; :meth:`TrajectoryObjective.export` hands back the model alone.
    """

    model: AbstractDynamics
    q0: Array
    qdot0: Array

    @property
    def dof(self) -> int:
        return self.q0.shape[-1]

    @classmethod
    def start(cls, model, w: Windows) -> FreeInitialStates:
        """Initial states started at the windows' estimates, in the model's dtype."""
        dtype = jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))[0].dtype
        return cls(model, jnp.asarray(w.q0, dtype=dtype), jnp.asarray(w.qdot0, dtype=dtype))

    def carried_to(self, trained_on: Windows, longer: Windows) -> FreeInitialStates:
        """The same model with one state per ``longer`` window: the trained state of the window
        of ``trained_on`` that starts at the same sample (both cut from the same observations)."""
        where = {
            (int(t), int(f)): i for i, (t, f) in enumerate(zip(trained_on.trajectory, trained_on.first, strict=True))
        }
        try:
            index = np.array([where[int(t), int(f)] for t, f in zip(longer.trajectory, longer.first, strict=True)])
        except KeyError:
            raise DataError(
                "every longer window must start where a trained window starts: make its span a "
                "whole number of the trained windows' spans (same `every`)."
            ) from None
        return FreeInitialStates(self.model, self.q0[index], self.qdot0[index])

    def relinked(self, w: Windows, objective: TrajectoryObjective) -> tuple[FreeInitialStates, np.ndarray]:
        """The same model with each window's state the best-matching (by ``objective``'s loss) of four:

        0. its own; 1. the window's estimate (``w.q0``, ``w.qdot0``);
        2. the model's continuation of the previous window's state to its end,
           where this window starts; 3. the model's backward continuation of the
           next window's state to this window's start.

        Consecutive windows (free states: one ends where the next begins) are
        pieces of one motion, so once the model is right a neighbour's state,
        carried over, fits a window whose own state was trapped by the
        optimiser (say at a state that swings too high, where the wrapped
        angles still match part of the window). A trapped window dominates a
        squared loss, and L-BFGS on it would bend the model to fit that window;
        relinking first removes the trap. No window's loss goes up. Also
        returns which candidate each window took, shape ``(W,)``.
        """
        start = {(int(t), int(f)): i for i, (t, f) in enumerate(zip(w.trajectory, w.first, strict=True))}
        following = np.array([start.get((int(t), int(last)), -1) for t, last in zip(w.trajectory, w.last, strict=True)])
        previous = np.full(len(w), -1)
        previous[following[following >= 0]] = np.flatnonzero(following >= 0)
        dtype = self.q0.dtype
        q, tau, q0, qdot0, spread = (jnp.asarray(a, dtype=dtype) for a in (w.q, w.tau, w.q0, w.qdot0, w.spread))
        force = (
            None if w.force is None else (jnp.asarray(w.force, dtype=dtype), jnp.asarray(w.force_times, dtype=dtype))
        )
        relinked, choice = _relink(
            self,
            q,
            tau,
            q0,
            qdot0,
            spread,
            jnp.asarray(previous),
            jnp.asarray(following),
            force,
            angles=tuple(w.angles),
            substeps=objective.substeps,
            loss=objective.loss,
        )
        return relinked, np.asarray(choice)


def window_losses(
    model, q, tau, q0, qdot0, spread, force=None, force_times=None, *, angles, substeps: int, loss: Loss = "l1"
):
    """Each window's mean normalised position error (ρ = |·| or (·)²), shape ``(B,)``, of windows
    ``(B, K, n)`` integrated from ``(q0, qdot0)`` (under ``force`` at ``force_times``, as :func:`shoot`)."""
    pred = shoot(model, q0, qdot0, tau, substeps, force, force_times)[:, 1:]
    d = pred - q[:, 1:]
    d = wrap_differences(d, angles) / spread
    return jnp.mean(jnp.abs(d) if loss == "l1" else d**2, axis=(1, 2))


def matching_loss(
    model, q, tau, q0, qdot0, spread, force=None, force_times=None, *, angles, substeps: int, loss: Loss = "l1"
):
    """Mean normalised position error of windows ``(B, K, n)`` integrated from ``(q0, qdot0)`` (under ``force``)."""
    losses = window_losses(
        model, q, tau, q0, qdot0, spread, force, force_times, angles=angles, substeps=substeps, loss=loss
    )
    return jnp.mean(losses)


def _end_states(model, q0, qdot0, tau, substeps: int, force=None):
    """The state ``(q, q̇)`` each integration reaches at its last stamp (decreasing stamps: backwards);
    ``force``: None, or (τ samples ``(B, S, n)``, their increasing stamps ``(B, S)``) in the frame of ``tau``."""

    def run(a, b, ts, *drive):  # drive: () or (τ samples, their stamps)
        f = interpolated(drive[1], drive[0]) if drive else None
        qs, vs = rk4_trajectory(model, a, b, ts, substeps=substeps, force=f)
        return qs[-1], vs[-1]

    return jax.vmap(run)(q0, qdot0, tau, *(force or ()))


@eqx.filter_jit
def _relink(states, q, tau, q0_est, qdot0_est, spread, previous, following, force, *, angles, substeps, loss):
    losses = functools.partial(
        window_losses,
        states.model,
        q,
        tau,
        spread=spread,
        force=None if force is None else force[0],
        force_times=None if force is None else force[1],
        angles=angles,
        substeps=substeps,
        loss=loss,
    )
    own = (states.q0, states.qdot0)
    # Continue each window's state to its end (the next window's start), and back over the window before it
    # (under this window's τ, its stamps shifted so that the window ends at 0, as the backward stamps do).
    ends = _end_states(states.model, *own, tau, substeps, force)
    back_tau = (tau - tau[:, -1:])[:, ::-1]
    back_force = None if force is None else (force[0], force[1] - tau[:, -1:])
    has_previous, has_following = (previous >= 0)[:, None], (following >= 0)[:, None]
    starts = _end_states(states.model, own[0][following], own[1][following], back_tau, substeps, back_force)
    candidates = [
        own,
        (q0_est, qdot0_est),
        tuple(jnp.where(has_previous, e[previous], o) for e, o in zip(ends, own, strict=True)),
        tuple(jnp.where(has_following, b, o) for b, o in zip(starts, own, strict=True)),
    ]
    choice = jnp.argmin(jnp.stack([losses(*c) for c in candidates]), axis=0)  # ties keep the own state
    pick = lambda k: jnp.stack([c[k] for c in candidates])[choice, jnp.arange(choice.size)]
    return FreeInitialStates(states.model, pick(0), pick(1)), choice


def describe(w: Windows) -> dict[str, Any]:
    """A JSON-ready summary of the windows (for run configs)."""
    return {
        "windows": len(w),
        "samples_per_window": int(w.q.shape[1]),
        "window_seconds": float(np.median(w.tau[:, -1])),
    }
