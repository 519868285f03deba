r"""Datasets of states (q, q̇) with their accelerations q̈.

Two generators from a ground-truth system:

* :func:`random_states` — independent states with exact accelerations (the LNN
  paper's training set); each state counts as its own trajectory.
* :func:`trajectories` — motions integrated to tight tolerance (Dopri8,
  rtol = atol = 1e-10) and sampled at a frame rate, optionally with Gaussian
  noise; states of one motion share a trajectory id, so :func:`split` never puts
  frames of one motion on both sides.

Datasets are saved as one ``.npz`` holding the arrays and a JSON metadata string
(no pickle), written atomically.
"""

from __future__ import annotations

import dataclasses
import io as _io
import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lnn import io, mechanics
from lnn.errors import DataError, FileFormatError
from lnn.integrate import rollout
from lnn.systems import System

FORMAT = "lnn-dataset v1"


@dataclasses.dataclass(frozen=True)
class Dataset:
    """States and accelerations, as NumPy arrays.

    Attributes:
        q, qdot, qddot: shape ``(N, n)``.
        trajectory: shape ``(N,)``, int id of the motion each state belongs to.
        t: shape ``(N,)``, time of each state within its motion (0 for independent states).
        metadata: JSON-ready dict (system, generator, seed, ...).
        force: optional shape ``(N, n)``, the generalized force τ acting at each
            state (measured torques, controls), so that M q̈ = … + τ; ``None``
            when nothing drives the system.
    """

    q: np.ndarray
    qdot: np.ndarray
    qddot: np.ndarray
    trajectory: np.ndarray
    t: np.ndarray
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    force: np.ndarray | None = None

    def __post_init__(self):
        names = ("q", "qdot", "qddot") + (("force",) if self.force is not None else ())
        arrays = [np.asarray(getattr(self, k), dtype=float) for k in names]
        if arrays[0].ndim != 2:
            raise DataError(f"q must have shape (N, n); got {arrays[0].shape}.")
        for k, a in zip(names, arrays):
            if a.shape != arrays[0].shape:
                raise DataError(f"{k} has shape {a.shape} but q has {arrays[0].shape}; they must match.")
            bad = ~np.isfinite(a)
            if bad.any():
                row, col = np.argwhere(bad)[0]
                raise DataError(
                    f"{k} has {int(bad.any(axis=1).sum())} row(s) with NaN/inf, the first at row {row}, "
                    f"column {col}; remove or repair them before training."
                )
            object.__setattr__(self, k, a)
        n = arrays[0].shape[0]
        for k in ("trajectory", "t"):
            a = np.asarray(getattr(self, k))
            if a.shape != (n,):
                raise DataError(f"{k} must have shape ({n},); got {a.shape}.")
        object.__setattr__(self, "trajectory", np.asarray(self.trajectory, dtype=np.int64))
        object.__setattr__(self, "t", np.asarray(self.t, dtype=float))

    def __len__(self) -> int:
        return self.q.shape[0]

    @property
    def dof(self) -> int:
        return self.q.shape[1]

    def subset(self, mask_or_index) -> Dataset:
        """The states selected by a boolean mask or an index array."""
        return dataclasses.replace(
            self,
            q=self.q[mask_or_index],
            qdot=self.qdot[mask_or_index],
            qddot=self.qddot[mask_or_index],
            trajectory=self.trajectory[mask_or_index],
            t=self.t[mask_or_index],
            force=None if self.force is None else self.force[mask_or_index],
        )


def random_states(system: System, key: jax.Array, n: int, *, max_energy: float | None = None) -> Dataset:
    """``n`` independent states from ``system.sample_states`` with exact accelerations (friction included)."""
    if n < 1:
        raise DataError(f"the number of states must be at least 1; got {n}.")
    if system.force_fn is not None:
        raise DataError(f"{system.name} is driven by a force of time, which independent states do not have; "
                        "generate trajectories instead (`lnn.data.trajectories`).")
    q, qdot = system.sample_states(key, n, max_energy=max_energy)
    if system.dissipation_fn is None:
        qddot = mechanics.accelerations(system.lagrangian, q, qdot)
    else:
        qddot = jax.jit(jax.vmap(system.acceleration))(q, qdot)
    meta = {"system": system.summary(), "generator": "random_states", "n": n, "max_energy": max_energy}
    return Dataset(np.asarray(q), np.asarray(qdot), np.asarray(qddot), np.arange(n), np.zeros(n), meta)


def true_motions(system: System, q0, qdot0, ts):
    """The true motions from ``(q0, qdot0)`` ``(N, n)`` at times ``ts``: ``(q, qdot)`` ``(N, T, n)`` and τ ``(T, n)``.

    Dopri8 at rtol = atol = 1e-10, with the system's friction and drive (τ is None
    for an undriven system).
    """
    conservative = system.dissipation_fn is None and system.force_fn is None
    tau = None if system.force_fn is None else jax.vmap(system.force)(jnp.asarray(ts))
    q, qdot = rollout(system.lagrangian if conservative else system.acceleration, q0, qdot0, ts,
                      method="adaptive", solver="dopri8", rtol=1e-10, atol=1e-10,
                      force=None if tau is None else system.force)
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

    A system with friction (``system.dissipation_fn``) loses energy along the
    motions; a driven one (``system.force_fn``) is pushed by τ(t), which is
    recorded, noise-free, in ``Dataset.force``.
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
    conservative = system.dissipation_fn is None and system.force_fn is None
    q, qdot, tau = true_motions(system, q0, qdot0, ts)
    if conservative:
        qddot = mechanics.accelerations(system.lagrangian, q, qdot)
    else:
        f = jax.jit(jax.vmap(jax.vmap(system.acceleration)))
        qddot = f(q, qdot) if tau is None else f(q, qdot, jnp.broadcast_to(tau, q.shape))
    arrays = [np.asarray(a).reshape(-1, system.dof) for a in (q, qdot, qddot)]
    if noise > 0:
        keys = jax.random.split(k_noise, 3)
        arrays = [
            a + noise * a.std(axis=0) * np.asarray(jax.random.normal(k, a.shape, dtype=a.dtype))
            for k, a in zip(keys, arrays)
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
    return Dataset(*arrays, traj, np.tile(ts, n_trajectories), meta, force=force)


def split(dataset: Dataset, fraction: float, key: jax.Array) -> tuple[Dataset, Dataset]:
    """Split by trajectory: about ``fraction`` of the motions go to the second part.

    Both parts get at least one trajectory when there are two or more.
    """
    if not 0 < fraction < 1:
        raise DataError(f"the split fraction must be between 0 and 1; got {fraction}.")
    ids = np.unique(dataset.trajectory)
    if ids.size < 2:
        raise DataError("cannot split a dataset of one trajectory; generate more trajectories.")
    perm = np.asarray(jax.random.permutation(key, ids.size))
    n_second = min(max(1, int(round(fraction * ids.size))), ids.size - 1)
    second = np.isin(dataset.trajectory, ids[perm[:n_second]])
    return dataset.subset(~second), dataset.subset(second)


def save(dataset: Dataset, path: str | os.PathLike) -> Path:
    """Write ``dataset`` to ``path`` (``.npz``) atomically."""
    meta = json.dumps({"format": FORMAT, **dataset.metadata})

    extra = {} if dataset.force is None else {"force": dataset.force}

    def write(f):
        np.savez(
            f,
            q=dataset.q,
            qdot=dataset.qdot,
            qddot=dataset.qddot,
            trajectory=dataset.trajectory,
            t=dataset.t,
            metadata=np.array(meta),
            **extra,
        )

    return io.atomic_write(path, write)


def load(path: str | os.PathLike) -> Dataset:
    """Read a dataset written by :func:`save`; anything else is refused with a clear message."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"no dataset at {path}; create one with `lnn generate --out DIR`.")
    try:
        with np.load(_io.BytesIO(path.read_bytes()), allow_pickle=False) as f:
            meta = json.loads(str(f["metadata"]))
            arrays = {k: f[k] for k in ("q", "qdot", "qddot", "trajectory", "t")}
            arrays["force"] = f["force"] if "force" in f.files else None
    except Exception:  # not a zip, truncated, wrong members, bad JSON: all "not ours"
        meta = None
    if not isinstance(meta, dict) or meta.pop("format", None) != FORMAT:
        raise FileFormatError(f"{path} is not an lnn dataset (.npz written by `lnn generate`).")
    return Dataset(**arrays, metadata=meta)


def acceleration_scale(dataset: Dataset) -> np.ndarray:
    """Per-coordinate root-mean-square of q̈, shape ``(n,)``; normalises losses and outputs."""
    return root_mean_square(dataset.qddot)


def root_mean_square(values) -> np.ndarray:
    """Root-mean-square of each column of ``(N, k)`` values (+1e-12, so never 0), shape ``(k,)``."""
    return np.sqrt(np.mean(np.asarray(values) ** 2, axis=0)) + 1e-12


def as_arrays(dataset: Dataset, dtype=None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(q, qdot, qddot) as JAX arrays (of ``dtype``, default float64) for training."""
    dtype = jnp.result_type(float) if dtype is None else dtype
    return tuple(jnp.asarray(a, dtype=dtype) for a in (dataset.q, dataset.qdot, dataset.qddot))
