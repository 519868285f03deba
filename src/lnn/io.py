"""Files lnn writes: models, checkpoints, datasets. Atomic, and never pickled.

A model file is a one-line magic header, one line of JSON (the model's
constructor arguments and any extra metadata), then the weights as written by
``equinox.tree_serialise_leaves`` (NumPy ``.npy`` records, no pickle). A file
that does not start with the header is refused with a message saying so.
"""

from __future__ import annotations

import io as _io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import equinox as eqx

from lnn import models
from lnn.errors import FileFormatError

MODEL_MAGIC = b"lnn-model v1\n"
CHECKPOINT_MAGIC = b"lnn-checkpoint v1\n"


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
    def write(f):
        f.write(magic)
        f.write(json.dumps(header).encode() + b"\n")
        eqx.tree_serialise_leaves(f, tree)

    return atomic_write(path, write)


def _read_container(path, magic: bytes, what: str) -> tuple[dict[str, Any], bytes]:
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"no {what} file at {path}; check the path (train one with `lnn train`).")
    data = path.read_bytes()
    if not data.startswith(magic):
        raise FileFormatError(
            f"{path} is not an lnn {what} file (it does not start with {magic.strip().decode()!r}); "
            f"pass a file written by lnn."
        )
    rest = data[len(magic) :]
    line, _, payload = rest.partition(b"\n")
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FileFormatError(f"{path} has a corrupt header ({err}); it was not written completely by lnn.") from None
    if not isinstance(header, dict):
        raise FileFormatError(f"{path} has a corrupt header (not a JSON object); it was not written by lnn.")
    return header, payload


def save_model(path: str | os.PathLike, model, **metadata: Any) -> Path:
    """Save a model (architecture + weights) with optional JSON-ready metadata."""
    return _write_container(path, MODEL_MAGIC, {"config": model.config(), "metadata": metadata}, model)


def load_model(path: str | os.PathLike):
    """Load a model saved by :func:`save_model`. Returns ``(model, metadata)``."""
    header, payload = _read_container(path, MODEL_MAGIC, "model")
    try:
        skeleton = models.from_config(header["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise FileFormatError(f"{path}: the header does not describe an lnn model ({err!r}).") from None
    try:
        model = eqx.tree_deserialise_leaves(_io.BytesIO(payload), skeleton)
    except Exception as err:  # truncated or mismatched weights
        raise FileFormatError(f"{path}: the weights do not match the model described in its header ({err}).") from None
    return model, header.get("metadata", {})


def save_checkpoint(path: str | os.PathLike, tree, state: dict[str, Any]) -> Path:
    """Save a training checkpoint: a pytree of arrays and a JSON-ready state dict."""
    return _write_container(path, CHECKPOINT_MAGIC, state, tree)


def load_checkpoint(path: str | os.PathLike, like) -> tuple[Any, dict[str, Any]]:
    """Load a checkpoint into the structure of ``like``. Returns ``(tree, state)``."""
    state, payload = _read_container(path, CHECKPOINT_MAGIC, "checkpoint")
    try:
        tree = eqx.tree_deserialise_leaves(_io.BytesIO(payload), like)
    except Exception as err:
        raise FileFormatError(
            f"{path}: checkpoint does not match this model/optimiser ({err}); start a fresh run in a new --out folder."
        ) from None
    return tree, state
