r"""Loaders of measured motion: tables whose columns the user names, and Schmidt & Lipson's files.

Each checks what it reads and names the line or column at fault; no row is ever
dropped silently.

* :func:`load_table` — CSV or NPZ where the user names the columns
  (``time="t", coordinates=["x1", "x2"], velocities=[...]``, and for a driven
  recording ``force_columns=["tau1", "tau2"]``).
* :func:`load_schmidt_lipson` — the whitespace text files of Schmidt & Lipson,
  Science 2009 (a ``%`` header naming the variables; columns trial, t, the
  variables, and for some files their time derivatives).
"""

from __future__ import annotations

import csv
import io as _io
import os
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from lnn.errors import DataError, FileFormatError
from lnn.observed._observations import Observations

SCHMIDT_LIPSON_SOURCE = (
    'the supplementary material of Schmidt & Lipson, Science 2009, "Distilling free-form natural laws '
    'from experimental data" (files such as real_pend_h_1.txt)'
)


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
    force_columns: str | Sequence[str] | None = None,
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
        force_columns: optional measured generalized forces (torques, drive
            forces), one column per coordinate in the same order: the force
            acting on each coordinate at each sample (a driven recording).
    """
    path = Path(path)
    coords, vels, accs = _names(coordinates), _names(velocities), _names(accelerations)
    forces = _names(force_columns)
    angle_names = _names(angles)
    if not coords:
        raise DataError("name at least one coordinate column (e.g. --coords x1,x2).")
    for label, cols in (("velocity", vels), ("acceleration", accs), ("force", forces)):
        if cols and len(cols) != len(coords):
            raise DataError(
                f"{len(coords)} coordinate column(s) ({', '.join(coords)}) but {len(cols)} {label} "
                f"column(s) ({', '.join(cols)}); give one {label} per coordinate, in the same order."
            )
    unknown_angles = [a for a in angle_names if a not in coords]
    if unknown_angles:
        raise DataError(
            f"angle column(s) {', '.join(unknown_angles)} are not among the coordinates ({', '.join(coords)})."
        )
    wanted = [time, *coords, *vels, *accs, *forces] + ([trajectory] if trajectory else [])
    duplicated = sorted({c for c in wanted if wanted.count(c) > 1})
    if duplicated:
        raise DataError(f"column(s) {', '.join(duplicated)} named twice; each role needs its own column.")
    if not path.is_file():
        raise FileFormatError(f"no data file at {path}; check the path.")
    numeric = [c for c in wanted if c != trajectory]
    if path.suffix.lower() == ".npz":
        columns, ids, rows, row_kind = _read_npz(path, numeric, trajectory)
    else:
        columns, ids, rows, row_kind = _read_csv(path, numeric, trajectory)
    stack = lambda cols: np.stack([columns[c] for c in cols], axis=1) if cols else None
    names = {"t": [time], "q": coords, "qdot": vels, "qddot": accs, "force": forces}
    meta: dict = {"source": str(path), "row_kind": row_kind, "columns": names, "loader": "table"}
    traj = np.zeros(len(rows), dtype=np.int64)
    if trajectory:
        traj, labels = _trajectory_ids(ids, trajectory, rows, row_kind, path)
        if labels is not None:
            meta["trajectory_labels"] = labels
    return Observations(
        t=columns[time],
        q=np.stack([columns[c] for c in coords], axis=1),
        trajectory=traj,
        qdot=stack(vels),
        qddot=stack(accs),
        force=stack(forces),
        coordinates=tuple(coords),
        angles=tuple(c in angle_names for c in coords),
        rows=rows,
        metadata=meta,
    )


def _missing_columns(path: Path, wanted: list[str], have: list[str]) -> None:
    missing = [c for c in wanted if c not in have]
    if missing:
        raise DataError(
            f"column(s) {', '.join(repr(c) for c in missing)} not in {path.name}; its columns are {', '.join(have)}."
        )


# Float trajectory ids are exact integers only up to 2**53; above it, neighbouring ids may be one float.
_EXACT_FLOAT_INTEGER = 2**53


def _read_text(path: Path) -> str:
    """``path`` decoded as UTF-8 (a leading byte-order mark dropped); other bytes are a
    :class:`~lnn.errors.FileFormatError` naming the line and the byte."""
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise FileFormatError(
            f"line {line} of {path.name} is not UTF-8 text (byte 0x{data[err.start]:02x}); save the file as UTF-8."
        ) from None


def _read_csv(
    path: Path, wanted: list[str], trajectory: str | None
) -> tuple[dict[str, np.ndarray], list[str] | None, np.ndarray, str]:
    """The ``wanted`` columns as floats, the ``trajectory`` column's fields as written, the line numbers."""
    text = _read_text(path)
    header, header_line = None, 0
    idx: list[int] = []
    values: list[list[float]] = []
    ids: list[str] = []
    rows: list[int] = []
    for line_no, row in _csv_rows(text):
        if header is None:
            header, header_line = [c.strip() for c in row], line_no
            _missing_columns(path, wanted + ([trajectory] if trajectory else []), header)
            for c in wanted + ([trajectory] if trajectory else []):
                at = [j + 1 for j, h in enumerate(header) if h == c]
                if len(at) > 1:
                    raise DataError(
                        f"column {c!r} appears {len(at)} times in the header (line {line_no}) of {path.name}, "
                        f"as columns {' and '.join(map(str, at))}; rename one so lnn need not guess which is meant."
                    )
            idx = [header.index(c) for c in wanted]
            continue
        if len(row) != len(header):
            raise DataError(
                f"line {line_no} of {path.name} has {len(row)} field(s) but the header (line "
                f"{header_line}) names {len(header)} columns; fix that line."
            )
        parsed = []
        for c, i in zip(wanted, idx, strict=True):
            field = row[i].strip()
            try:
                parsed.append(float(field) if field else float("nan"))
            except ValueError:
                raise DataError(f"line {line_no} of {path.name}, column {c!r}: {field!r} is not a number.") from None
        values.append(parsed)
        if trajectory:
            ids.append(row[header.index(trajectory)].strip())
        rows.append(line_no)
    if header is None:
        raise DataError(f"{path.name} is empty; expected a header line naming the columns, then data.")
    if not values:
        raise DataError(
            f"{path.name} has a header (line {header_line}) but no data rows; add the measurements below it."
        )
    arr = np.asarray(values, dtype=float).reshape(-1, len(wanted))
    columns = {c: arr[:, j] for j, c in enumerate(wanted)}
    return columns, (ids if trajectory else None), np.asarray(rows, dtype=np.int64), "line"


def _csv_rows(text: str):
    """(1-based line number, fields) of each non-blank, non-comment line."""
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        yield line_no, next(csv.reader([line]))


def _read_npz(
    path: Path, wanted: list[str], trajectory: str | None
) -> tuple[dict[str, np.ndarray], np.ndarray | None, np.ndarray, str]:
    """The ``wanted`` arrays as floats, the ``trajectory`` array as stored, the indices."""
    every = wanted + ([trajectory] if trajectory else [])
    try:
        with np.load(_io.BytesIO(path.read_bytes()), allow_pickle=False) as f:
            have = list(f.keys())
            _missing_columns(path, every, have)
            columns = {c: np.asarray(f[c]) for c in every}
    except DataError:
        raise
    except Exception as err:  # not a zip, pickled object arrays, truncated
        raise FileFormatError(f"{path} is not a readable .npz of numeric arrays ({err}).") from None
    lengths = {c: a.shape for c, a in columns.items()}
    n = columns[every[0]].shape
    for c, a in columns.items():
        labels = c == trajectory and a.dtype.kind in "US"
        if a.ndim != 1 or a.shape != n or not (labels or np.issubdtype(a.dtype, np.number)):
            raise DataError(
                f"array {c!r} in {path.name} has shape {a.shape} and dtype {a.dtype}; every named "
                f"array must be numeric and 1-D of the same length (shapes: {lengths})."
            )
    if n[0] == 0:
        raise DataError(f"the arrays in {path.name} are empty; it holds no samples.")
    ids = columns.pop(trajectory) if trajectory else None
    return {c: a.astype(float) for c, a in columns.items()}, ids, np.arange(n[0]), "index"


def _trajectory_ids(
    ids: Sequence[str] | np.ndarray | None, name: str, rows: np.ndarray, row_kind: str, path: Path
) -> tuple[np.ndarray, list[str] | None]:
    """Exact trajectory ids: whole numbers as int64 when they fit, else consecutive ids with the
    labels as written (strings, or integers beyond int64) returned beside them; never through a float.

    A CSV field is a whole number if it is one exactly (``7``, ``7.0``, ``1e19``), a label if it is
    not a number at all, and refused if it is a number with a fraction (``0.5``) or not finite. A
    float array's ids must be whole and below 2**53, where floats stop being exact integers.
    """
    assert ids is not None  # a trajectory column was named, so the reader returned it
    where = lambda i: f"{row_kind} {rows[i]} of {path.name}"
    if isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
        exact: list[int | str] = [int(v) for v in ids]
    elif isinstance(ids, np.ndarray) and ids.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(ids) | (ids != np.round(ids)) | (np.abs(ids) >= _EXACT_FLOAT_INTEGER))
        if bad.size:
            raise DataError(
                f"trajectory array {name!r} holds {ids[bad[0]]:g} at {where(bad[0])}; float trajectory ids must be "
                "whole numbers below 2**53 (store larger ids as integers or strings)."
            )
        exact = [int(v) for v in ids]
    else:
        exact = []
        for i, field in enumerate(ids):
            try:
                number = Decimal(str(field))
            except InvalidOperation:
                exact.append(str(field))
                continue
            if not number.is_finite() or number != number.to_integral_value():
                raise DataError(
                    f"trajectory column {name!r} holds {field} at {where(i)}; trajectory ids must be whole "
                    "numbers or labels (repair that row)."
                )
            exact.append(int(number))
    if all(isinstance(v, int) and _INT64.min <= v <= _INT64.max for v in exact):
        return np.asarray(exact, dtype=np.int64), None
    labels = list(dict.fromkeys(str(v) for v in exact))
    index = {label: k for k, label in enumerate(labels)}
    return np.asarray([index[str(v)] for v in exact], dtype=np.int64), labels


_INT64 = np.iinfo(np.int64)


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
    lines = _read_text(path).splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None or not lines[header_at].lstrip().startswith("%"):
        raise FileFormatError(
            f"{path} does not start with a '%' header naming the variables; it is not a "
            f"Schmidt & Lipson data file (those are in {SCHMIDT_LIPSON_SOURCE})."
        )
    variables = lines[header_at].lstrip()[1:].split()
    roles = [_ROLE.get(v[:1]) for v in variables]
    if not variables or None in roles:
        raise FileFormatError(
            f"{path.name}: header variables {variables} are not all of the kinds o, x (coordinates), "
            "v, w (velocities), a (accelerations)."
        )
    k = len(variables)
    data, rows = [], []
    for line_no, line in enumerate(lines[header_at + 1 :], start=header_at + 2):
        fields = line.split()
        if not fields or fields[0].startswith("%"):
            continue
        if len(fields) not in (2 + k, 2 + 2 * k) or (data and len(fields) != len(data[0])):
            expected = len(data[0]) if data else f"{2 + k} or {2 + 2 * k}"
            raise DataError(
                f"line {line_no} of {path.name} has {len(fields)} columns; expected {expected} "
                f"(trial, t, {' '.join(variables)}{' and their derivatives' if data and len(data[0]) > 2 + k else ''})."
            )
        try:
            data.append([float(x) for x in fields])
        except ValueError:
            bad = next(x for x in fields if not _is_number(x))
            raise DataError(f"line {line_no} of {path.name}: {bad!r} is not a number.") from None
        rows.append(line_no)
    if not data:
        raise DataError(f"{path.name} has a header but no data rows.")
    arr = np.asarray(data)
    values = arr[:, 2 : 2 + k]
    derivs = arr[:, 2 + k :] if arr.shape[1] == 2 + 2 * k else None
    pick = lambda role: [j for j, r in enumerate(roles) if r in role]
    qi, vi, ai = pick(("angle", "position")), pick(("velocity",)), pick(("acceleration",))
    if vi and len(vi) != len(qi):
        raise FileFormatError(f"{path.name}: {len(qi)} coordinate(s) but {len(vi)} velocities in {variables}.")
    qddot = values[:, ai] if len(ai) == len(qi) and ai else (derivs[:, vi] if derivs is not None and vi else None)
    meta = {
        "source": str(path),
        "row_kind": "line",
        "loader": "schmidt_lipson",
        "variables": variables,
        "columns": {
            "t": ["t"],
            "q": [variables[j] for j in qi],
            "qdot": [variables[j] for j in vi],
            "qddot": [] if qddot is None else [variables[j] for j in ai] or [f"d{variables[j]}/dt" for j in vi],
        },
        "reference": "Schmidt & Lipson, Science 324, 81 (2009)",
    }
    if not np.all(np.isfinite(arr[:, 0])) or np.any(arr[:, 0] != np.round(arr[:, 0])):
        i = int(np.argmax(~np.isfinite(arr[:, 0]) | (arr[:, 0] != np.round(arr[:, 0]))))
        raise DataError(f"line {rows[i]} of {path.name}: trial {arr[i, 0]!r} is not a whole number.")
    return Observations(
        t=arr[:, 1],
        q=values[:, qi],
        trajectory=arr[:, 0].astype(np.int64),
        qdot=values[:, vi] if vi else None,
        qddot=qddot,
        coordinates=tuple(variables[j] for j in qi),
        angles=tuple(roles[j] == "angle" for j in qi),
        rows=np.asarray(rows),
        metadata=meta,
    )


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
