r"""Measured motion: time series of coordinates, as a camera or an encoder gives them.

An :class:`Observations` holds samples ``(t, q)`` — velocities and accelerations
only when the file has them — of one or many motions (``trajectory`` ids), with
time stamps that may be irregular. It is what :mod:`lnn.derivatives` turns into
a :class:`~lnn.data.Dataset` (estimated q̇, q̈) and what
:mod:`lnn.trajectory_matching` learns from directly (positions only).

Loaders (each checks what it reads and names the line or column at fault; no
row is ever dropped silently):

* :func:`load_table` — CSV or NPZ where the user names the columns
  (``time="t", coordinates=["x1", "x2"], velocities=[...]``).
* :func:`load_schmidt_lipson` — the whitespace text files of Schmidt & Lipson,
  Science 2009 (a ``%`` header naming the variables; columns trial, t, the
  variables, and for some files their time derivatives).
* :func:`simulate` — noisy, optionally irregularly sampled positions of a
  built-in system, for studies where the truth is known.

This lives beside :mod:`lnn.data` (which generates exact-acceleration datasets)
so that each module keeps to one concept: ``data`` is simulated states with q̈,
``observations`` is what was measured.
"""

from __future__ import annotations

import csv
import dataclasses
import io as _io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from lnn.errors import DataError, FileFormatError
from lnn.data import true_motions
from lnn.metrics import wrapped_difference
from lnn.systems import System

SCHMIDT_LIPSON_SOURCE = (
    "the supplementary material of Schmidt & Lipson, Science 2009, \"Distilling free-form natural laws "
    "from experimental data\" (files such as real_pend_h_1.txt); this project keeps a copy in "
    "../shared/data/schmidt-lipson/"
)


@dataclasses.dataclass(frozen=True)
class Observations:
    """Samples of one or many measured motions.

    Attributes:
        t: shape ``(N,)``, time stamps; strictly increasing within each trajectory.
        q: shape ``(N, n)``, observed coordinates.
        trajectory: shape ``(N,)``, int id of the motion each sample belongs to.
        qdot: shape ``(N, n)`` or ``None`` — measured velocities, if any.
        qddot: shape ``(N, n)`` or ``None`` — accelerations, if the file has them.
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
    coordinates: tuple[str, ...] = ()
    angles: tuple[bool, ...] = ()
    rows: np.ndarray | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        q = np.asarray(self.q, dtype=float)
        if q.ndim == 1:
            q = q[:, None]
        if q.ndim != 2 or q.shape[1] < 1:
            raise DataError(f"q must have shape (N, n); got {q.shape}.")
        N, n = q.shape
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen dataclass)
        set_("q", q)
        set_("t", _vector(self.t, N, "t", float))
        set_("trajectory", _vector(self.trajectory, N, "trajectory", np.int64))
        set_("rows", np.arange(N) if self.rows is None else _vector(self.rows, N, "rows", np.int64))
        for k in ("qdot", "qddot"):
            a = getattr(self, k)
            if a is not None:
                a = np.asarray(a, dtype=float).reshape(N, -1) if np.size(a) == N * n else np.asarray(a, float)
                if a.shape != (N, n):
                    raise DataError(f"{k} has shape {a.shape} but q has {(N, n)}; give one {k} column per "
                                    f"coordinate ({', '.join(self.coordinates) or n}).")
                set_(k, a)
        set_("coordinates", tuple(self.coordinates) or tuple(f"q{i + 1}" for i in range(n)))
        set_("angles", tuple(bool(a) for a in self.angles) or (False,) * n)
        for k in ("coordinates", "angles"):
            if len(getattr(self, k)) != n:
                raise DataError(f"{k} has {len(getattr(self, k))} entries but there are {n} coordinates.")
        self._check_values()

    # -- checks, each naming the row the user can find in the file ---------------------------

    def where(self, i: int) -> str:
        """Where sample ``i`` came from, as the user sees it (e.g. "line 17 of pend.csv")."""
        kind = self.metadata.get("row_kind", "row")
        source = self.metadata.get("source")
        return f"{kind} {int(self.rows[i])}" + (f" of {Path(source).name}" if source else "")

    def _check_values(self) -> None:
        names = {"t": ["t"], "q": list(self.coordinates), "qdot": [f"d{c}/dt" for c in self.coordinates],
                 "qddot": [f"d²{c}/dt²" for c in self.coordinates]}
        names.update(self.metadata.get("columns", {}))
        for k in ("t", "q", "qdot", "qddot"):
            a = getattr(self, k)
            if a is None:
                continue
            a2 = a.reshape(len(a), -1)
            bad = ~np.isfinite(a2)
            if bad.any():
                rows = np.flatnonzero(bad.any(axis=1))
                col = names[k][int(np.argmax(bad[rows[0]]))]
                more = f" and {rows.size - 1} more row(s), e.g. {self.where(rows[1])}" if rows.size > 1 else ""
                raise DataError(f"NaN or inf in column {col!r} at {self.where(rows[0])}{more}; remove or repair "
                                "these rows (lnn does not drop data silently).")
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
        pick = lambda a: None if a is None else a[mask_or_index]  # noqa: E731
        return dataclasses.replace(self, t=self.t[mask_or_index], q=self.q[mask_or_index],
                                   trajectory=self.trajectory[mask_or_index], qdot=pick(self.qdot),
                                   qddot=pick(self.qddot), rows=self.rows[mask_or_index])

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
        segs = self.segments()
        dts = np.concatenate([np.diff(self.t[idx]) for _, idx in segs]) if len(self) > len(segs) else np.zeros(1)
        return (f"{len(self):,} samples of {len(segs)} trajectory(ies), coordinates "
                f"{', '.join(c + (' (angle)' if a else '') for c, a in zip(self.coordinates, self.angles))}; "
                f"time step {dts.min():.3g}–{dts.max():.3g}; velocities {'given' if self.qdot is not None else 'not given'}")


def _vector(a, n: int, name: str, dtype) -> np.ndarray:
    a = np.asarray(a)
    if a.shape != (n,):
        raise DataError(f"{name} must have shape ({n},), one entry per sample; got {a.shape}.")
    return a.astype(dtype)


# -- generic tables ------------------------------------------------------------------------


def _names(arg: str | Sequence[str] | None) -> list[str]:
    if arg is None:
        return []
    if isinstance(arg, str):
        return [s.strip() for s in arg.split(",") if s.strip()]
    return [str(s) for s in arg]


def load_table(
    path: str | os.PathLike,
    *,
    time: str,
    coordinates: str | Sequence[str],
    velocities: str | Sequence[str] | None = None,
    accelerations: str | Sequence[str] | None = None,
    trajectory: str | None = None,
    angles: str | Sequence[str] | None = None,
) -> Observations:
    """Observations from a CSV file with a header row, or an NPZ of 1-D arrays, by column name.

    Args:
        path: ``.csv`` (comma-separated, first line = column names; ``#`` lines
            are comments) or ``.npz`` (one 1-D array per column).
        time: the time column.
        coordinates: the coordinate columns, a list or ``"x1,x2"``.
        velocities, accelerations: optional columns, one per coordinate, in the
            same order.
        trajectory: optional column of motion ids (default: one motion).
        angles: which of ``coordinates`` are angles.
    """
    path = Path(path)
    coords, vels, accs = _names(coordinates), _names(velocities), _names(accelerations)
    angle_names = _names(angles)
    if not coords:
        raise DataError("name at least one coordinate column (e.g. --coords x1,x2).")
    for label, cols in (("velocity", vels), ("acceleration", accs)):
        if cols and len(cols) != len(coords):
            raise DataError(f"{len(coords)} coordinate column(s) ({', '.join(coords)}) but {len(cols)} {label} "
                            f"column(s) ({', '.join(cols)}); give one {label} per coordinate, in the same order.")
    unknown_angles = [a for a in angle_names if a not in coords]
    if unknown_angles:
        raise DataError(f"angle column(s) {', '.join(unknown_angles)} are not among the coordinates "
                        f"({', '.join(coords)}).")
    wanted = [time, *coords, *vels, *accs] + ([trajectory] if trajectory else [])
    duplicated = sorted({c for c in wanted if wanted.count(c) > 1})
    if duplicated:
        raise DataError(f"column(s) {', '.join(duplicated)} named twice; each role needs its own column.")
    if not path.is_file():
        raise FileFormatError(f"no data file at {path}; check the path.")
    if path.suffix.lower() == ".npz":
        columns, rows, row_kind = _read_npz(path, wanted)
    else:
        columns, rows, row_kind = _read_csv(path, wanted)
    stack = lambda cols: np.stack([columns[c] for c in cols], axis=1) if cols else None  # noqa: E731
    traj = columns[trajectory] if trajectory else np.zeros(len(rows))
    bad = np.flatnonzero(~np.isfinite(traj) | (traj != np.round(traj)))
    if bad.size:
        raise DataError(f"trajectory column {trajectory!r} holds {traj[bad[0]]:g} at {row_kind} {rows[bad[0]]} of "
                        f"{path.name}; trajectory ids must be whole numbers (repair that row).")
    names = {"t": [time], "q": coords, "qdot": vels, "qddot": accs}
    meta = {"source": str(path), "row_kind": row_kind, "columns": names, "loader": "table"}
    return Observations(t=columns[time], q=stack(coords), trajectory=traj.astype(np.int64), qdot=stack(vels),
                        qddot=stack(accs), coordinates=tuple(coords),
                        angles=tuple(c in angle_names for c in coords), rows=rows, metadata=meta)


def _missing_columns(path: Path, wanted: list[str], have: list[str]) -> None:
    missing = [c for c in wanted if c not in have]
    if missing:
        raise DataError(f"column(s) {', '.join(repr(c) for c in missing)} not in {path.name}; its columns are "
                        f"{', '.join(have)}.")


def _read_csv(path: Path, wanted: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, str]:
    text = path.read_text()
    header, header_line = None, 0
    values: list[list[float]] = []
    rows: list[int] = []
    for line_no, row in _csv_rows(text):
        if header is None:
            header, header_line = [c.strip() for c in row], line_no
            _missing_columns(path, wanted, header)
            idx = [header.index(c) for c in wanted]
            continue
        if len(row) != len(header):
            raise DataError(f"line {line_no} of {path.name} has {len(row)} field(s) but the header (line "
                            f"{header_line}) names {len(header)} columns; fix that line.")
        parsed = []
        for c, i in zip(wanted, idx):
            field = row[i].strip()
            try:
                parsed.append(float(field) if field else float("nan"))
            except ValueError:
                raise DataError(f"line {line_no} of {path.name}, column {c!r}: {field!r} is not a number.") from None
        values.append(parsed)
        rows.append(line_no)
    if header is None:
        raise DataError(f"{path.name} is empty; expected a header line naming the columns, then data.")
    arr = np.asarray(values, dtype=float).reshape(-1, len(wanted))
    return {c: arr[:, j] for j, c in enumerate(wanted)}, np.asarray(rows, dtype=np.int64), "line"


def _csv_rows(text: str):
    """(1-based line number, fields) of each non-blank, non-comment line."""
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        yield line_no, next(csv.reader([line]))


def _read_npz(path: Path, wanted: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, str]:
    try:
        with np.load(_io.BytesIO(path.read_bytes()), allow_pickle=False) as f:
            have = list(f.keys())
            _missing_columns(path, wanted, have)
            columns = {c: np.asarray(f[c]) for c in wanted}
    except DataError:
        raise
    except Exception as err:  # not a zip, pickled object arrays, truncated
        raise FileFormatError(f"{path} is not a readable .npz of numeric arrays ({err}).") from None
    lengths = {c: a.shape for c, a in columns.items()}
    n = columns[wanted[0]].shape
    for c, a in columns.items():
        if a.ndim != 1 or a.shape != n or not np.issubdtype(a.dtype, np.number):
            raise DataError(f"array {c!r} in {path.name} has shape {a.shape} and dtype {a.dtype}; every named "
                            f"array must be numeric and 1-D of the same length (shapes: {lengths}).")
    return {c: a.astype(float) for c, a in columns.items()}, np.arange(n[0]), "index"


# -- Schmidt & Lipson ----------------------------------------------------------------------

# Variable names in the files' headers: o = angle θ, x = position, v/w = velocity,
# a = acceleration; a trailing digit is the coordinate's index.
_ROLE = {"o": "angle", "x": "position", "v": "velocity", "w": "velocity", "a": "acceleration"}


def load_schmidt_lipson(path: str | os.PathLike) -> Observations:
    """Observations from one of Schmidt & Lipson's data files (Science, 2009).

    Format: a ``%`` line naming the k variables (e.g. ``% o1 o2 w1 w2``), then
    rows of whitespace-separated numbers: trial, t, the k variables, and — in
    some files — the k time derivatives of those variables. Variables named
    ``o*`` are angles, ``x*`` positions, ``v*``/``w*`` velocities, ``a*``
    accelerations; where derivatives are given, those of the velocities are
    taken as accelerations. The trial number becomes the trajectory id. Units
    are the files' own (e.g. pixels for the real spring systems).
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"no Schmidt & Lipson data file at {path}; the data is in {SCHMIDT_LIPSON_SOURCE}.")
    lines = path.read_text().splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None or not lines[header_at].lstrip().startswith("%"):
        raise FileFormatError(f"{path} does not start with a '%' header naming the variables; it is not a "
                              f"Schmidt & Lipson data file (those are in {SCHMIDT_LIPSON_SOURCE}).")
    variables = lines[header_at].lstrip()[1:].split()
    roles = [_ROLE.get(v[:1]) for v in variables]
    if not variables or None in roles:
        raise FileFormatError(f"{path.name}: header variables {variables} are not all of the kinds o, x (coordinates), "
                              "v, w (velocities), a (accelerations).")
    k = len(variables)
    data, rows = [], []
    for line_no, line in enumerate(lines[header_at + 1:], start=header_at + 2):
        fields = line.split()
        if not fields or fields[0].startswith("%"):
            continue
        if len(fields) not in (2 + k, 2 + 2 * k) or (data and len(fields) != len(data[0])):
            expected = len(data[0]) if data else f"{2 + k} or {2 + 2 * k}"
            raise DataError(f"line {line_no} of {path.name} has {len(fields)} columns; expected {expected} "
                            f"(trial, t, {' '.join(variables)}{' and their derivatives' if data and len(data[0]) > 2 + k else ''}).")
        try:
            data.append([float(x) for x in fields])
        except ValueError:
            bad = next(x for x in fields if not _is_number(x))
            raise DataError(f"line {line_no} of {path.name}: {bad!r} is not a number.") from None
        rows.append(line_no)
    if not data:
        raise DataError(f"{path.name} has a header but no data rows.")
    arr = np.asarray(data)
    values = arr[:, 2:2 + k]
    derivs = arr[:, 2 + k:] if arr.shape[1] == 2 + 2 * k else None
    pick = lambda role: [j for j, r in enumerate(roles) if r in role]  # noqa: E731
    qi, vi, ai = pick(("angle", "position")), pick(("velocity",)), pick(("acceleration",))
    if vi and len(vi) != len(qi):
        raise FileFormatError(f"{path.name}: {len(qi)} coordinate(s) but {len(vi)} velocities in {variables}.")
    qddot = values[:, ai] if len(ai) == len(qi) and ai else (derivs[:, vi] if derivs is not None and vi else None)
    meta = {"source": str(path), "row_kind": "line", "loader": "schmidt_lipson", "variables": variables,
            "columns": {"t": ["t"], "q": [variables[j] for j in qi], "qdot": [variables[j] for j in vi],
                        "qddot": [] if qddot is None else [variables[j] for j in ai] or [f"d{variables[j]}/dt" for j in vi]},
            "reference": "Schmidt & Lipson, Science 324, 81 (2009)"}
    if not np.all(np.isfinite(arr[:, 0])) or np.any(arr[:, 0] != np.round(arr[:, 0])):
        i = int(np.argmax(~np.isfinite(arr[:, 0]) | (arr[:, 0] != np.round(arr[:, 0]))))
        raise DataError(f"line {rows[i]} of {path.name}: trial {arr[i, 0]!r} is not a whole number.")
    return Observations(t=arr[:, 1], q=values[:, qi], trajectory=arr[:, 0].astype(np.int64),
                        qdot=values[:, vi] if vi else None, qddot=qddot,
                        coordinates=tuple(variables[j] for j in qi),
                        angles=tuple(roles[j] == "angle" for j in qi), rows=np.asarray(rows), metadata=meta)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def spread(q: np.ndarray, angles) -> np.ndarray:
    """Per coordinate, the standard deviation of ``q`` ``(N, n)`` about its mean, shape ``(n,)``.

    For angles the deviations are taken about the circular mean and wrapped to
    (−π, π], so a pendulum that goes over the top does not count its turns.
    """
    angles = np.asarray(angles, dtype=bool)
    centre = np.where(angles, np.arctan2(np.mean(np.sin(q), axis=0), np.mean(np.cos(q), axis=0)), np.mean(q, axis=0))
    return np.std(wrapped_difference(q, centre, angles), axis=0) + 1e-12


# -- simulated measurements ----------------------------------------------------------------


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
    """
    if n_trajectories < 1:
        raise DataError(f"n_trajectories must be at least 1; got {n_trajectories}.")
    if not (duration > 0 and fps > 0) or not 0 <= jitter < 1 or noise < 0:
        raise DataError("need duration > 0, fps > 0, 0 <= jitter < 1 and noise >= 0; got "
                        f"duration={duration}, fps={fps}, jitter={jitter}, noise={noise}.")
    k_init, k_time, k_noise = jax.random.split(key, 3)
    q0, qdot0 = system.sample_states(k_init, n_trajectories, max_energy=max_energy)
    frames = int(round(duration * fps)) + 1
    offsets = np.asarray(jax.random.uniform(k_time, (frames,), minval=-0.5, maxval=0.5)) * jitter / fps
    ts = np.arange(frames) / fps + offsets
    ts = ts - ts[0]
    q, qdot, _ = true_motions(system, q0, qdot0, ts)
    q, qdot = (np.asarray(a).reshape(-1, system.dof) for a in (q, qdot))
    if noise > 0:
        kq, kv = jax.random.split(k_noise)
        q = q + noise * spread(q, system.angles) * np.asarray(jax.random.normal(kq, q.shape, dtype=q.dtype))
        qdot = qdot + noise * qdot.std(axis=0) * np.asarray(jax.random.normal(kv, qdot.shape, dtype=q.dtype))
    meta = {"system": system.summary(), "loader": "simulate", "n_trajectories": n_trajectories,
            "duration": duration, "fps": fps, "noise": noise, "jitter": jitter, "max_energy": max_energy}
    return Observations(t=np.tile(ts, n_trajectories), q=q, trajectory=np.repeat(np.arange(n_trajectories), frames),
                        qdot=qdot if velocities else None, coordinates=system.coordinates, angles=system.angles,
                        metadata=meta)
