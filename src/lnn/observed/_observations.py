r"""Measured motion: time series of coordinates, as a camera or an encoder gives them.

An :class:`Observations` holds samples ``(t, q)`` — velocities and accelerations
only when the recording has them — of one or many motions (``trajectory`` ids),
with time stamps that may be irregular. Smoothing (:mod:`._smoothing`) turns it
into a :class:`~lnn.data.Dataset` (estimated q̇, q̈); trajectory matching
(:mod:`._matching`) learns from it directly (positions only). :func:`simulate`
records a built-in system, for studies where the truth is known.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from lnn._angles import spread
from lnn.data import true_motions
from lnn.errors import DataError
from lnn.systems import System

# Values larger than this in magnitude are refused as a recording's error (a unit slip, a sentinel such as
# 1e300): squared in any loss or smoother they overflow float64, and no physical motion lnn fits needs them.
MAX_MAGNITUDE = 1e150


@dataclasses.dataclass(frozen=True)
class Observations:
    """Samples of one or many measured motions.

    Attributes:
        t: shape ``(N,)``, time stamps; strictly increasing within each trajectory.
        q: shape ``(N, n)``, observed coordinates.
        trajectory: shape ``(N,)``, int id of the motion each sample belongs to.
        qdot: shape ``(N, n)`` or ``None`` — measured velocities, if any.
        qddot: shape ``(N, n)`` or ``None`` — accelerations, if the file has them.
        force: shape ``(N, n)`` or ``None`` — the measured generalized force τ
            (torques, forces of a drive) at each sample, one per coordinate, so
            that M q̈ = … + τ; between samples it is taken as linear in time
            (training and prediction both integrate under that interpolant).
        coordinates: name of each coordinate, length n.
        angles: which coordinates are angles (differences wrap at 2π), length n.
        rows: shape ``(N,)``, where each sample came from, as the user sees it:
            the line number in a text file (1-based, header lines counted) or the
            index in an NPZ array; used in every error message.
        metadata: JSON-ready dict (source file, row kind, column names, ...).
    """

    t: np.ndarray
    q: np.ndarray
    trajectory: np.ndarray
    qdot: np.ndarray | None = None
    qddot: np.ndarray | None = None
    force: np.ndarray | None = None
    coordinates: tuple[str, ...] = ()
    angles: tuple[bool, ...] = ()
    rows: np.ndarray = None  # pyright: ignore[reportAssignmentType]  # None: 0 … N − 1, set in __post_init__
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        q = np.asarray(self.q, dtype=float)
        if q.ndim == 1:
            q = q[:, None]
        if q.ndim != 2 or q.shape[1] < 1:
            raise DataError(f"q must have shape (N, n); got {q.shape}.")
        N, n = q.shape
        set_ = lambda k, v: object.__setattr__(self, k, v)
        set_("q", q)
        set_("t", _vector(self.t, N, "t", float))
        set_("trajectory", _vector(self.trajectory, N, "trajectory", np.int64))
        set_("rows", np.arange(N) if self.rows is None else _vector(self.rows, N, "rows", np.int64))
        set_("qdot", self._per_coordinate(self.qdot, "qdot"))
        set_("qddot", self._per_coordinate(self.qddot, "qddot"))
        set_("force", self._per_coordinate(self.force, "force"))
        set_("coordinates", tuple(self.coordinates) or tuple(f"q{i + 1}" for i in range(n)))
        set_("angles", tuple(bool(a) for a in self.angles) or (False,) * n)
        for name, values in (("coordinates", self.coordinates), ("angles", self.angles)):
            if len(values) != n:
                raise DataError(f"{name} has {len(values)} entries but there are {n} coordinates.")
        self._check_values()

    def _per_coordinate(self, a, name: str) -> np.ndarray | None:
        """``a`` (velocities, accelerations or forces) as shape (N, n), or None."""
        if a is None:
            return None
        N, n = self.q.shape
        a = np.asarray(a, dtype=float).reshape(N, -1) if np.size(a) == N * n else np.asarray(a, float)
        if a.shape != (N, n):
            raise DataError(
                f"{name} has shape {a.shape} but q has {(N, n)}; give one {name} column per "
                f"coordinate ({', '.join(self.coordinates) or n})."
            )
        return a

    # -- checks, each naming the row the user can find in the file ---------------------------

    def where(self, i: int | np.integer) -> str:
        """Where sample ``i`` came from, as the user sees it (e.g. "line 17 of pend.csv")."""
        kind = self.metadata.get("row_kind", "row")
        source = self.metadata.get("source")
        return f"{kind} {int(self.rows[i])}" + (f" of {Path(source).name}" if source else "")

    def _check_values(self) -> None:
        names = {
            "t": ["t"],
            "q": list(self.coordinates),
            "qdot": [f"d{c}/dt" for c in self.coordinates],
            "qddot": [f"d²{c}/dt²" for c in self.coordinates],
            "force": [f"force on {c}" for c in self.coordinates],
        }
        names.update({k: v for k, v in self.metadata.get("columns", {}).items() if v})
        arrays = (("t", self.t), ("q", self.q), ("qdot", self.qdot), ("qddot", self.qddot), ("force", self.force))
        for k, a in arrays:
            if a is None:
                continue
            a2 = a.reshape(len(a), -1)
            bad = ~np.isfinite(a2)
            if bad.any():
                rows = np.flatnonzero(bad.any(axis=1))
                col = names[k][int(np.argmax(bad[rows[0]]))]
                more = f" and {rows.size - 1} more row(s), e.g. {self.where(rows[1])}" if rows.size > 1 else ""
                raise DataError(
                    f"NaN or inf in column {col!r} at {self.where(rows[0])}{more}; remove or repair "
                    "these rows (lnn does not drop data silently)."
                )
            huge = np.abs(a2) > MAX_MAGNITUDE
            if huge.any():
                row = int(np.flatnonzero(huge.any(axis=1))[0])
                j = int(np.argmax(huge[row]))
                raise DataError(
                    f"column {names[k][j]!r} holds {a2[row, j]:g} at {self.where(row)}, beyond the {MAX_MAGNITUDE:g} "
                    "lnn accepts; repair that value (a unit slip or a placeholder?)."
                )
        for traj, idx in self.segments():
            dt = np.diff(self.t[idx])
            if dt.size and np.any(dt <= 0):
                j = int(np.argmax(dt <= 0))
                a, b = idx[j], idx[j + 1]
                what = "repeats" if dt[j] == 0 else "goes backwards"
                raise DataError(
                    f"time {what} in trajectory {traj}: t = {self.t[b]:g} at {self.where(b)} after "
                    f"t = {self.t[a]:g} at {self.where(a)}; time stamps must be strictly increasing within a "
                    "trajectory (sort the rows by time, drop duplicates, or give each run its own trajectory id)."
                )

    # -- views ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.q.shape[0]

    @property
    def dof(self) -> int:
        return self.q.shape[1]

    def segments(self) -> list[tuple[int, np.ndarray]]:
        """``(trajectory id, sample indices in file order)`` for each trajectory, in order of first appearance."""
        ids, first = np.unique(self.trajectory, return_index=True)
        return [(int(i), np.flatnonzero(self.trajectory == i)) for i in ids[np.argsort(first)]]

    def subset(self, mask_or_index) -> Observations:
        """The samples selected by a boolean mask or an index array."""
        pick = lambda a: None if a is None else a[mask_or_index]
        return dataclasses.replace(
            self,
            t=self.t[mask_or_index],
            q=self.q[mask_or_index],
            trajectory=self.trajectory[mask_or_index],
            qdot=pick(self.qdot),
            qddot=pick(self.qddot),
            force=pick(self.force),
            rows=self.rows[mask_or_index],
        )

    def split_in_time(self, fraction: float) -> tuple[Observations, Observations]:
        """Per trajectory, the samples before and after ``t0 + fraction·(t_end − t0)``.

        For "train on the first part of each motion, predict the rest".
        """
        if not 0 < fraction < 1:
            raise DataError(f"the split fraction must be between 0 and 1; got {fraction}.")
        first = np.zeros(len(self), dtype=bool)
        for _, idx in self.segments():
            t = self.t[idx]
            first[idx] = t < t[0] + fraction * (t[-1] - t[0])
        return self.subset(first), self.subset(~first)

    def summary(self) -> str:
        """One line: samples, trajectories, coordinates, time steps, whether velocities are given."""
        segs = self.segments()
        dts = np.concatenate([np.diff(self.t[idx]) for _, idx in segs]) if len(self) > len(segs) else np.zeros(1)
        return (
            f"{len(self):,} samples of {len(segs)} trajectory(ies), coordinates "
            f"{', '.join(c + (' (angle)' if a else '') for c, a in zip(self.coordinates, self.angles, strict=True))}; "
            f"time step {dts.min():.3g}–{dts.max():.3g}; velocities {'given' if self.qdot is not None else 'not given'}"
            + ("; forces given" if self.force is not None else "")
        )


def _vector(a, n: int, name: str, dtype) -> np.ndarray:
    a = np.asarray(a)
    if a.shape != (n,):
        raise DataError(f"{name} must have shape ({n},), one entry per sample; got {a.shape}.")
    return a.astype(dtype)


def simulate(
    system: System,
    key: jax.Array,
    n_trajectories: int,
    *,
    duration: float = 10.0,
    fps: float = 30.0,
    noise: float = 0.0,
    jitter: float = 0.0,
    max_energy: float | None = None,
    velocities: bool = False,
    force: Callable[[jax.Array], Callable[[jax.Array], jax.Array]] | None = None,
) -> Observations:
    """Positions of ``system`` as a camera would record them, for studies where the truth is known.

    Motions start from ``system.sample_states`` and are the true motions of
    :func:`lnn.data.true_motions` (Dopri8, rtol = atol = 1e-10, with the system's
    friction and drive). Frames are at ``k / fps`` shifted by a uniform
    random offset of up to ``±jitter / (2 fps)`` (``jitter`` < 1 keeps them
    ordered), the same stamps for every motion. ``noise`` adds Gaussian noise
    of standard deviation ``noise`` × the spread of each coordinate (:func:`spread`). Velocities
    are given (noisy like q) only when ``velocities`` is set; accelerations
    never are.

    A driven recording: ``force`` draws each motion's generalized force, a
    function called with one key per motion that returns τ(t) ``-> (n,)``, e.g.
    ``lambda k: SineDrive.random(k, 1, amplitude=2.0)`` (an
    :class:`~lnn.observed.SineDrive`: every motion is then integrated by one
    compiled program). The true motion is integrated under the exact τ(t), and
    τ at the frames is recorded, noise-free, in ``force`` (as a measured torque
    column). A system with a drive of its own records that drive's τ.
    """
    if n_trajectories < 1:
        raise DataError(f"n_trajectories must be at least 1; got {n_trajectories}.")
    if not (duration > 0 and fps > 0) or not 0 <= jitter < 1 or noise < 0:
        raise DataError(
            "need duration > 0, fps > 0, 0 <= jitter < 1 and noise >= 0; got "
            f"duration={duration}, fps={fps}, jitter={jitter}, noise={noise}."
        )
    k_init, k_time, k_noise = jax.random.split(key, 3)
    q0, qdot0 = system.sample_states(k_init, n_trajectories, max_energy=max_energy)
    frames = int(round(duration * fps)) + 1
    offsets = np.asarray(jax.random.uniform(k_time, (frames,), minval=-0.5, maxval=0.5)) * jitter / fps
    ts = np.arange(frames) / fps + offsets
    ts = ts - ts[0]
    if force is None:
        q, qdot, tau = true_motions(system, q0, qdot0, ts)
        taus = None if tau is None else np.tile(np.asarray(tau), (n_trajectories, 1))
    else:
        # Its own key (not one more split of ``key``), so undriven recordings keep their numbers.
        keys = jax.random.split(jax.random.fold_in(key, 3), n_trajectories)
        motions = [
            true_motions(system, q0[i : i + 1], qdot0[i : i + 1], ts, force=force(keys[i]))
            for i in range(n_trajectories)
        ]
        q, qdot = (np.concatenate([np.asarray(m[j]) for m in motions]) for j in (0, 1))
        taus = np.concatenate([np.asarray(m[2]) for m in motions])
    q, qdot = (np.asarray(a).reshape(-1, system.dof) for a in (q, qdot))
    if noise > 0:
        kq, kv = jax.random.split(k_noise)
        q = q + noise * spread(q, system.angles) * np.asarray(jax.random.normal(kq, q.shape, dtype=q.dtype))
        qdot = qdot + noise * qdot.std(axis=0) * np.asarray(jax.random.normal(kv, qdot.shape, dtype=q.dtype))
    meta = {
        "system": system.summary(),
        "loader": "simulate",
        "n_trajectories": n_trajectories,
        "duration": duration,
        "fps": fps,
        "noise": noise,
        "jitter": jitter,
        "max_energy": max_energy,
        "driven": taus is not None,
    }
    return Observations(
        t=np.tile(ts, n_trajectories),
        q=q,
        trajectory=np.repeat(np.arange(n_trajectories), frames),
        qdot=qdot if velocities else None,
        force=taus,
        coordinates=system.coordinates,
        angles=system.angles,
        metadata=meta,
    )
