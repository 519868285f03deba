r"""The :class:`Dataset` of states (q, q̇) with accelerations q̈, its split by trajectory, and its file.

Datasets are saved as one ``.npz`` holding the arrays and a JSON metadata string
(no pickle), written atomically.
"""

from __future__ import annotations

import dataclasses
import io as _io
import json
import os
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from lnn import io
from lnn.errors import DataError, FileFormatError

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
        for k, a in zip(names, arrays, strict=True):
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


S = TypeVar("S", bound="Splittable")


@runtime_checkable
class Splittable(Protocol):
    """Samples grouped by trajectory that can be split: a :class:`Dataset`, or trajectory-matching windows.

    What :func:`split` and :func:`lnn.fit` need besides what an objective prepares.
    """

    @property
    def trajectory(self) -> np.ndarray: ...

    @property
    def dof(self) -> int: ...

    def __len__(self) -> int: ...

    def subset(self: S, mask_or_index: Any) -> S: ...


def split(dataset: S, fraction: float, key: jax.Array) -> tuple[S, S]:
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

    members: dict[str, Any] = {
        "q": dataset.q,
        "qdot": dataset.qdot,
        "qddot": dataset.qddot,
        "trajectory": dataset.trajectory,
        "t": dataset.t,
        "metadata": np.array(meta),
    }
    if dataset.force is not None:
        members["force"] = dataset.force

    def write(f):
        np.savez(f, **members)

    return io.atomic_write(path, write)


def load(path: str | os.PathLike) -> Dataset:
    """Read a dataset written by :func:`save`; anything else is refused with a clear message."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"no dataset at {path}; create one with `lnn generate --out DIR`.")
    arrays: dict[str, Any] = {}
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


SCALE_FLOOR = 1e-2
"""The smallest per-coordinate loss scale, as a fraction of the scale over all coordinates (:func:`loss_scale`)."""


def acceleration_scale(dataset: Dataset) -> np.ndarray:
    """Per-coordinate scale of q̈ (:func:`loss_scale`), shape ``(n,)``; normalises losses and outputs."""
    return loss_scale(dataset.qddot)


def loss_scale(targets) -> np.ndarray:
    """Per-column RMS of targets ``(N, k)``, each at least :data:`SCALE_FLOOR` × the RMS over all columns.

    Dividing each coordinate's error by its own RMS weighs the coordinates equally;
    the floor keeps a coordinate that (nearly) never accelerates — a free direction,
    z̈ = 0 for a charge in a uniform magnetic field — from being weighted by 1/0.
    Shape ``(k,)``.
    """
    targets = np.asarray(targets)
    overall = float(np.sqrt(np.mean(targets**2))) + 1e-12
    return np.maximum(root_mean_square(targets), SCALE_FLOOR * overall)


def root_mean_square(values) -> np.ndarray:
    """Root-mean-square of each column of ``(N, k)`` values (+1e-12, so never 0), shape ``(k,)``."""
    return np.sqrt(np.mean(np.asarray(values) ** 2, axis=0)) + 1e-12


def as_arrays(dataset: Dataset, dtype=None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(q, qdot, qddot) as JAX arrays (of ``dtype``, default float64) for training."""
    dtype = jnp.result_type(float) if dtype is None else dtype
    return (
        jnp.asarray(dataset.q, dtype=dtype),
        jnp.asarray(dataset.qdot, dtype=dtype),
        jnp.asarray(dataset.qddot, dtype=dtype),
    )
