"""Files lnn writes: models, checkpoints, datasets. Atomic, and never pickled.

A model file is a one-line magic header, one line of JSON (the model's
constructor arguments and any extra metadata), then the weights as written by
``equinox.tree_serialise_leaves`` (NumPy ``.npy`` records, no pickle), then a
trailer line ``sha256:<64 hex digits>``: the SHA-256 of every byte before it,
so one flipped bit anywhere in the file (weights, header or magic) is found on
load. A file that does not start with the header is refused with a message
saying so. Checkpoints have the same layout under their own magic.

Files of lnn 0.1 (magic ``lnn-model v1`` alone) carry no checksum. They are read
with a :class:`~lnn.errors.LegacyFileWarning` rather than refused: they exist in
users' hands, their structure is still checked (header, and weights against it),
and re-saving adds the checksum. No single bit flip turns the new magic into the
old one (``" sha256"`` differs from the newline in three bits or more).

A run folder is claimed by one process at a time (:func:`locked_run_folder`)
and defined by its ``config.json`` (:func:`claim_run_folder`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io as _io
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO, Any

import equinox as eqx

from lnn import models
from lnn.errors import FileFormatError, LegacyFileWarning, RunLockedError, RunMismatchError

MODEL_MAGIC = b"lnn-model v1 sha256\n"
CHECKPOINT_MAGIC = b"lnn-checkpoint v1 sha256\n"
# lnn 0.1's magics: the same layout without the checksum trailer.
_LEGACY_MAGIC = {MODEL_MAGIC: b"lnn-model v1\n", CHECKPOINT_MAGIC: b"lnn-checkpoint v1\n"}
_TRAILER = b"\nsha256:"
_TRAILER_SIZE = len(_TRAILER) + 64 + 1  # the marker, the hex digest, a newline


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Write a file through ``write(f)`` into a temporary file, then rename it into place.

    A reader never sees a half-written file, even if the process is killed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the mode open() would
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write a UTF-8 text file."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write JSON (indented, keys in insertion order)."""
    return write_text(path, json.dumps(obj, indent=2) + "\n")


def _write_container(path, magic: bytes, header: dict[str, Any], tree) -> Path:
    buf = _io.BytesIO()
    buf.write(magic)
    buf.write(json.dumps(header).encode() + b"\n")
    eqx.tree_serialise_leaves(buf, tree)
    body = buf.getvalue()
    trailer = _TRAILER + hashlib.sha256(body).hexdigest().encode() + b"\n"
    return atomic_write(path, lambda f: f.write(body + trailer))


def _read_container(path, magic: bytes, what: str) -> tuple[dict[str, Any], bytes, Callable[[], None]]:
    """``(header, payload, verify)`` of a model or checkpoint file; ``verify()`` raises unless the file's
    checksum matches (called after the payload has been matched to its structure, whose message is
    the more specific one)."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"no {what} file at {path}; check the path (train one with `lnn train`).")
    data = path.read_bytes()
    legacy = data.startswith(_LEGACY_MAGIC[magic])
    if not (data.startswith(magic) or legacy):
        raise FileFormatError(
            f"{path} is not an lnn {what} file (it does not start with {magic.strip().decode()!r}); "
            f"pass a file written by lnn."
        )
    if legacy:
        warnings.warn(
            f"{path} was written by lnn 0.1 and carries no checksum, so corruption cannot be detected; "
            f"re-save it to add one (model, meta = lnn.io.load_model(p); lnn.io.save_model(p, model, **meta)).",
            LegacyFileWarning,
            stacklevel=3,
        )
        body, verify = data, lambda: None
    else:
        body, trailer = data[:-_TRAILER_SIZE], data[-_TRAILER_SIZE:]
        if len(data) < len(magic) + _TRAILER_SIZE or not (trailer.startswith(_TRAILER) and trailer.endswith(b"\n")):
            raise FileFormatError(
                f"{path} has no checksum at its end: it was cut short or changed after lnn wrote it; {_REMEDY[what]}."
            )

        def verify() -> None:
            if hashlib.sha256(body).hexdigest().encode() != trailer[len(_TRAILER) : -1]:
                raise FileFormatError(
                    f"{path} fails its checksum: its bytes changed after lnn wrote it (a disk or copy error?); "
                    f"{_REMEDY[what]}."
                )

    rest = body[len(_LEGACY_MAGIC[magic] if legacy else magic) :]
    line, _, payload = rest.partition(b"\n")
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FileFormatError(f"{path} has a corrupt header ({err}); it was not written completely by lnn.") from None
    if not isinstance(header, dict):
        raise FileFormatError(f"{path} has a corrupt header (not a JSON object); it was not written by lnn.")
    return header, payload, verify


_REMEDY = {
    "model": "use another copy, or retrain it",
    "checkpoint": "delete it to restart the run from its beginning, or rerun with --force",
}


def _checksum_note(verify: Callable[[], None]) -> str:
    """For a payload that does not fit its header: whether the file is also corrupt (fails its checksum)."""
    try:
        verify()
    except FileFormatError:
        return ", and the file fails its checksum: its bytes changed after lnn wrote it"
    return ""


def save_model(path: str | os.PathLike, model, **metadata: Any) -> Path:
    """Save a model (architecture + weights) with optional JSON-ready metadata."""
    return _write_container(path, MODEL_MAGIC, {"config": model.config(), "metadata": metadata}, model)


def load_model(path: str | os.PathLike, *, build: Callable[[dict[str, Any]], Any] = models.from_config):
    """Load a model saved by :func:`save_model`. Returns ``(model, metadata)``.

    ``build`` makes the architecture (placeholder weights) from the file's
    ``config``: :func:`lnn.models.from_config` by default; a package of models
    built from more parts (e.g. :func:`lnn.vision.model_from_config`) passes its own.
    """
    header, payload, verify = _read_container(path, MODEL_MAGIC, "model")
    try:
        skeleton = build(header["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise FileFormatError(f"{path}: the header does not describe an lnn model ({err!r}).") from None
    try:
        model = eqx.tree_deserialise_leaves(_io.BytesIO(payload), skeleton)
    except Exception as err:  # truncated or mismatched weights
        raise FileFormatError(
            f"{path}: the weights do not match the model described in its header ({err}){_checksum_note(verify)}."
        ) from None
    verify()
    return model, header.get("metadata", {})


def save_checkpoint(path: str | os.PathLike, tree, state: dict[str, Any]) -> Path:
    """Save a training checkpoint: a pytree of arrays and a JSON-ready state dict."""
    return _write_container(path, CHECKPOINT_MAGIC, state, tree)


def load_checkpoint(path: str | os.PathLike, like) -> tuple[Any, dict[str, Any]]:
    """Load a checkpoint into the structure of ``like``. Returns ``(tree, state)``."""
    state, payload, verify = _read_container(path, CHECKPOINT_MAGIC, "checkpoint")
    try:
        tree = eqx.tree_deserialise_leaves(_io.BytesIO(payload), like)
    except Exception as err:
        raise FileFormatError(
            f"{path}: checkpoint does not match this model/optimiser ({err}){_checksum_note(verify)}; start a "
            "fresh run in a new --out folder, or rerun with --force."
        ) from None
    verify()
    return tree, state


# -- run folders ------------------------------------------------------------------------------

LOCK_FILE = ".lock"  # in a run folder: the lock of the process training there, and its pid


@contextlib.contextmanager
def locked_run_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on a run folder (created if needed) for the ``with`` block.

    The lock is ``flock`` on ``folder/.lock``, which holds the owner's process id
    for the message another process gets (:class:`~lnn.errors.RunLockedError`).
    The kernel releases it when its process ends, however it ends, so a lock left
    by a killed run is never stale: the next run takes it. The file stays (removing
    a locked file races with a process about to lock it). Where ``fcntl`` does not
    exist (Windows) the folder is not locked.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if sys.platform != "win32":
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise RunLockedError(
                    f"{folder} is in use by another lnn process (pid {holder}); wait for it to end, or pass "
                    "another --out."
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield folder
    finally:
        os.close(fd)


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files :func:`atomic_write` leaves when a process is killed inside a write
    (``.NAME.*.tmp`` anywhere under ``folder``); returns them. Call it only while holding the folder's
    lock, when no write can be in progress."""
    found = sorted(p for p in Path(folder).rglob(".*.tmp") if p.is_file())
    for p in found:
        p.unlink()
    return found


# What a fresh start removes from a run folder: everything lnn's commands write there.
RUN_ARTEFACTS = (
    "config.json",
    "model.eqx",
    "metrics.csv",
    "checkpoints",
    "figures",
    "evaluation.json",
    "symmetries.json",
)


def claim_run_folder(
    folder: str | os.PathLike,
    definition: dict[str, Any],
    *,
    force: bool = False,
    ignore: Collection[str] = (),
) -> None:
    """Make ``folder`` the run that ``definition`` describes, and write it as ``folder/config.json``.

    A folder holding a run (a checkpoint or a model) of another definition is
    refused with :class:`~lnn.errors.RunMismatchError` naming the fields that
    differ (nested keys joined by dots), unless ``force``: then that run's
    artefacts (:data:`RUN_ARTEFACTS`) are deleted first. Keys in ``ignore`` (such
    as a time budget, which a resumed run may change) and keys the earlier
    ``config.json`` lacks (written by an older lnn) are not compared.
    """
    folder = Path(folder)
    path = folder / "config.json"
    held = any((folder / p).exists() for p in ("checkpoints/last.ckpt", "model.eqx"))
    if held and not force:
        try:
            previous = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            previous = None
        if not isinstance(previous, dict):
            raise RunMismatchError(
                f"{folder} holds a run without a readable config.json, so lnn cannot tell whether it is this one; "
                "pass another --out, or --force to discard it and start afresh."
            )
        old, new = _flat(previous), _flat(json.loads(json.dumps(definition)))
        differ = [k for k in new if k in old and old[k] != new[k] and k not in ignore]
        if differ:
            shown = "; ".join(f"{k}: {old[k]!r} there, {new[k]!r} now" for k in differ[:6])
            more = f" and {len(differ) - 6} more" if len(differ) > 6 else ""
            raise RunMismatchError(
                f"{folder} holds another run ({shown}{more}); resuming it would mix two runs. Pass another "
                "--out, or --force to discard it and start afresh."
            )
    if force:
        for name in RUN_ARTEFACTS:
            target = folder / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    write_json(path, definition)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict with dotted keys."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex (a data file's identity in a run's definition)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
