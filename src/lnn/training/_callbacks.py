"""Small hooks of the training loop: a progress bar, and the run folder's checkpoints and metrics.

The loop (:func:`lnn.training.run`) calls, in order: :meth:`Callback.start` once
(a checkpointer resumes there), :meth:`Callback.chunk_done` after every
compiled chunk of steps, :meth:`Callback.evaluated` after every validation
evaluation, and :meth:`Callback.close` at the end, also when training fails.
"""

from __future__ import annotations

import csv
import dataclasses
import io as _io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
from rich.progress import TaskID

from lnn import io
from lnn.errors import FileFormatError
from lnn.training._progress import progress_bar
from lnn.training._step import TrainState


@dataclasses.dataclass
class RunRecord:
    """The Python side of a run, saved with each checkpoint as JSON.

    ``step``: updates applied; ``elapsed``: seconds of training (compilation
    included); ``history``: one dict per evaluation (step, time, train_loss,
    val_loss, learning_rate, skipped, and what a stage adds); ``best_val``:
    the lowest validation loss; ``total``: the schedule's length (None while a
    time budget has not yet fixed it); ``skipped``: steps skipped so far for a
    non-finite loss or gradient (they apply no update, so are not in ``step``).
    """

    step: int = 0
    elapsed: float = 0.0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best_val: float = math.inf
    total: int | None = None
    skipped: int = 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> RunRecord:
        return cls(**{f.name: state[f.name] for f in dataclasses.fields(cls) if f.name in state})


# A checkpoint's header must hold these RunRecord fields (``total`` may be absent: a budget not yet fitted).
REQUIRED_CHECKPOINT_FIELDS = ("step", "elapsed", "history", "best_val")


class Callback:
    """A hook of the training loop; every method does nothing unless a subclass says otherwise."""

    def start(self, state: TrainState, record: RunRecord) -> tuple[TrainState, RunRecord]:
        """Called once before the first step; may replace the state and record (resume)."""
        return state, record

    def chunk_done(self, record: RunRecord, loss: float) -> None:
        """Called after each compiled chunk of steps with its mean training loss."""

    def evaluated(self, state: TrainState, record: RunRecord, improved: bool) -> None:
        """Called after each validation evaluation (its row is ``record.history[-1]``)."""

    def close(self) -> None:
        """Called once at the end, also when training stops with an error."""


class ProgressBar(Callback):
    """A Rich progress bar of the steps, with the last training and validation losses."""

    def __init__(self, label: str, enabled: bool = True):
        self._bar = progress_bar(enabled)
        self._label = label
        self._task = TaskID(0)  # set by start()

    def start(self, state: TrainState, record: RunRecord) -> tuple[TrainState, RunRecord]:
        self._bar.__enter__()
        self._task = self._bar.add_task(
            self._label,
            total=record.total or 1,
            completed=record.step,
            loss=float("nan"),
            val=float("nan"),
            skipped=_skipped(record),
        )
        return state, record

    def chunk_done(self, record: RunRecord, loss: float) -> None:
        self._bar.update(
            self._task,
            total=record.total or record.step or 1,
            completed=min(record.step, record.total or record.step),
            loss=loss,
            skipped=_skipped(record),
        )

    def evaluated(self, state: TrainState, record: RunRecord, improved: bool) -> None:
        row = record.history[-1]
        self._bar.update(self._task, loss=row["train_loss"], val=row["val_loss"])

    def close(self) -> None:
        self._bar.__exit__(None, None, None)


def _skipped(record: RunRecord) -> str:
    """The progress bar's note of skipped steps, as they happen (empty while there are none)."""
    return f"  [yellow]{record.skipped:,} skipped (non-finite)[/yellow]" if record.skipped else ""


class Checkpointer(Callback):
    """The run folder: resume from ``checkpoints/last.ckpt``; at each evaluation write it, ``best.eqx``
    (the exported model with the lowest validation loss) and ``metrics.csv``."""

    def __init__(
        self, out: str | Path, *, to_model: Callable[[Any], Any], export: Callable[[Any], Any], resume: bool = True
    ):
        self.out = Path(out)
        self._to_model, self._export, self._resume = to_model, export, resume

    @property
    def last(self) -> Path:
        return self.out / "checkpoints" / "last.ckpt"

    def start(self, state: TrainState, record: RunRecord) -> tuple[TrainState, RunRecord]:
        """Resume from the last checkpoint, and rebuild from it what a kill may have left stale or missing.

        A checkpoint is written first at each evaluation, so ``best.eqx`` and
        ``metrics.csv`` are rewritten from it here: byte for byte what the
        interrupted evaluation would have written.
        """
        if not (self._resume and self.last.exists()):
            return state, record
        loaded, saved = io.load_checkpoint(self.last, state)
        missing = [k for k in REQUIRED_CHECKPOINT_FIELDS if k not in saved]
        if missing:
            raise FileFormatError(
                f"{self.last}: the checkpoint's header lacks {', '.join(missing)}; it was not written by this "
                "lnn. Delete it to restart the run from its beginning, or rerun with --force."
            )
        record = RunRecord.from_json(saved)
        best_step = next((row["step"] for row in record.history if row["val_loss"] == record.best_val), None)
        if best_step is not None:
            self._save_best(loaded, best_step, record.best_val)
        write_metrics_csv(self.out / "metrics.csv", record.history)
        return loaded, record

    def evaluated(self, state: TrainState, record: RunRecord, improved: bool) -> None:
        io.save_checkpoint(self.last, jax.device_get(state), record.to_json())
        if improved:
            self._save_best(state, record.step, record.best_val)
        write_metrics_csv(self.out / "metrics.csv", record.history)

    def _save_best(self, state: TrainState, step: int, val_loss: float) -> None:
        io.save_model(
            self.out / "checkpoints" / "best.eqx",
            self._export(self._to_model(state.best_params)),
            step=step,
            val_loss=val_loss,
        )


def write_metrics_csv(path: str | Path, history: Sequence[dict[str, Any]]) -> None:
    """Write the training history as CSV (atomically); a column a stage adds (e.g. ``relinked``) is
    left empty in the other rows."""
    buf = _io.StringIO()
    fields = ["step", "time", "train_loss", "val_loss", "learning_rate", "skipped"]
    fields += list(dict.fromkeys(k for row in history for k in row if k not in fields))
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(history)
    io.write_text(path, buf.getvalue())
