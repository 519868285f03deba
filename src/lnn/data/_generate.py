r"""Datasets from a known system: independent states, and sampled motions.

* :func:`random_states` — independent states with exact accelerations (the LNN
  paper's training set); each state counts as its own trajectory.
* :func:`trajectories` — motions integrated to tight tolerance (Dopri8,
  rtol = atol = 1e-10) and sampled at a frame rate, optionally with Gaussian
  noise; states of one motion share a trajectory id, so :func:`~lnn.data.split`
  never puts frames of one motion on both sides.

Both need float64 for their stated accuracy (:mod:`lnn._precision`).
"""

from __future__ import annotations

from collections.abc import Callable

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from lnn._precision import warn_if_float32
from lnn.data._dataset import Dataset
from lnn.errors import DataError
from lnn.integrate import rollout
from lnn.systems import System

# The true motions lnn compares models with: an 8th-order adaptive solver at tight tolerances.
TRUE_SOLVER = diffrax.Dopri8()
TRUE_CONTROLLER = diffrax.PIDController(rtol=1e-10, atol=1e-10)


def random_states(system: System, key: jax.Array, n: int, *, max_energy: float | None = None) -> Dataset:
    """``n`` independent states from ``system.sample_states`` with exact accelerations (friction included)."""
    if n < 1:
        raise DataError(f"the number of states must be at least 1; got {n}.")
    if system.drive_fn is not None:
        raise DataError(
            f"{system.name} is driven by a force of time, which independent states do not have; "
            "generate trajectories instead (`lnn.data.trajectories`)."
        )
    warn_if_float32("data generation")
    q, qdot = system.sample_states(key, n, max_energy=max_energy)
    qddot = jax.jit(system.accelerations)(q, qdot)
    meta = {"system": system.summary(), "generator": "random_states", "n": n, "max_energy": max_energy}
    return Dataset(np.asarray(q), np.asarray(qdot), np.asarray(qddot), np.arange(n), np.zeros(n), meta)


def true_motions(
    system: System,
    q0: ArrayLike,
    qdot0: ArrayLike,
    ts: ArrayLike,
    *,
    force: Callable[[Array], Array] | None = None,
) -> tuple[Array, Array, Array | None]:
    """The true motions from ``(q0, qdot0)`` ``(N, n)`` at times ``ts``: ``(q, qdot)`` ``(N, T, n)`` and τ ``(T, n)``.

    Dopri8 at rtol = atol = 1e-10, with the system's friction and drive (τ is None
    for an undriven system). ``force``: a generalized force τ(t) ``-> (n,)``
    (jax-traceable) that drives the motions instead of the system's own drive
    (a system with a drive of its own refuses a second one).
    """
    warn_if_float32("the true motions")
    if force is not None and system.drive_fn is not None:
        raise DataError(
            f"{system.name} has a drive of its own; give a force only to a system without one (e.g. its "
            "with_parameters(drive=0.0))."
        )
    drive = force if force is not None else (None if system.drive_fn is None else system.drive)
    tau = None if drive is None else jax.vmap(drive)(jnp.asarray(ts))
    q, qdot = rollout(system, q0, qdot0, ts, solver=TRUE_SOLVER, stepsize_controller=TRUE_CONTROLLER, force=drive)
    return q, qdot, tau


def trajectories(
    system: System,
    key: jax.Array,
    n_trajectories: int,
    *,
    duration: float = 10.0,
    fps: float = 10.0,
    noise: float = 0.0,
    max_energy: float | None = None,
) -> Dataset:
    """Motions from random initial states, sampled at ``fps`` for ``duration`` seconds.

    ``noise`` adds Gaussian noise to q, q̇ and q̈ with standard deviation
    ``noise`` × the spread (standard deviation) of each column, as a
    measurement would; the accelerations stay those of the clean states.

    A system with friction loses energy along the motions; a driven one is pushed
    by its drive τ(t), which is recorded, noise-free, in ``Dataset.force``.
    """
    if n_trajectories < 1:
        raise DataError(f"n_trajectories must be at least 1; got {n_trajectories}.")
    if not (duration > 0 and fps > 0):
        raise DataError(f"duration and fps must be positive; got duration={duration}, fps={fps}.")
    if noise < 0:
        raise DataError(f"noise must be >= 0 (a fraction of each column's spread); got {noise}.")
    k_init, k_noise = jax.random.split(key)
    q0, qdot0 = system.sample_states(k_init, n_trajectories, max_energy=max_energy)
    frames = int(round(duration * fps)) + 1
    ts = np.arange(frames) / fps
    q, qdot, tau = true_motions(system, q0, qdot0, ts)
    f = jax.jit(jax.vmap(system.accelerations))
    qddot = f(q, qdot) if tau is None else f(q, qdot, jnp.broadcast_to(tau, q.shape))
    arrays = [np.asarray(a).reshape(-1, system.dof) for a in (q, qdot, qddot)]
    if noise > 0:
        keys = jax.random.split(k_noise, 3)
        arrays = [
            a + noise * a.std(axis=0) * np.asarray(jax.random.normal(k, a.shape, dtype=a.dtype))
            for k, a in zip(keys, arrays, strict=True)
        ]
    traj = np.repeat(np.arange(n_trajectories), frames)
    meta = {
        "system": system.summary(),
        "generator": "trajectories",
        "n_trajectories": n_trajectories,
        "duration": duration,
        "fps": fps,
        "noise": noise,
        "max_energy": max_energy,
    }
    force = None if tau is None else np.tile(np.asarray(tau), (n_trajectories, 1))
    q_out, qdot_out, qddot_out = arrays
    return Dataset(q_out, qdot_out, qddot_out, traj, np.tile(ts, n_trajectories), meta, force=force)
