"""Training any lnn model: :func:`fit` in parts — a pure step, a train state, the loop with callbacks.

* :class:`TrainConfig` — the loop's settings; :func:`learning_rate` and
  :func:`optimizer` — Adam with a warm-up and a cosine decay;
* objectives (:class:`AbstractObjective`, :class:`AccelerationObjective`) — what is
  fitted; :func:`derivative_loss` — what models of every kind are compared on;
* :class:`TrainState`, :func:`train_step`, :func:`train_chunk` — the pure step;
* :class:`Trainer`, :func:`run`, :func:`fit` — the loop; callbacks
  (:class:`ProgressBar`, :class:`Checkpointer`) show progress and write the run folder;
* :func:`refine` — the full-batch L-BFGS polish;
* :func:`build_model` — a fresh model for a role (``lnn``, ``baseline``, …) sized from data.
"""

from lnn.training._callbacks import Callback, Checkpointer, ProgressBar, RunRecord, write_metrics_csv
from lnn.training._config import Loss, TrainConfig
from lnn.training._lbfgs import refine
from lnn.training._loop import (
    FLAT_FRACTION,
    FLAT_TOLERANCE,
    LBFGS_SHARE,
    MAX_SKIPPED_FRACTION,
    MAX_VALIDATION_SAMPLES,
    Trainer,
    fit,
    flat_stretch,
    run,
)
from lnn.training._models import MODEL_NAMES, build_model
from lnn.training._objective import (
    AbstractObjective,
    AccelerationObjective,
    Constants,
    Samples,
    acceleration_loss,
    derivative_loss,
    derivative_targets,
    normalised_error,
)
from lnn.training._optim import learning_rate, optimizer, weight_matrices
from lnn.training._progress import progress_bar
from lnn.training._step import ChunkSummary, TrainState, train_chunk, train_step

__all__ = [
    "FLAT_FRACTION",
    "FLAT_TOLERANCE",
    "LBFGS_SHARE",
    "MAX_SKIPPED_FRACTION",
    "MAX_VALIDATION_SAMPLES",
    "MODEL_NAMES",
    "AbstractObjective",
    "AccelerationObjective",
    "Callback",
    "Checkpointer",
    "ChunkSummary",
    "Constants",
    "Loss",
    "ProgressBar",
    "RunRecord",
    "Samples",
    "TrainConfig",
    "TrainState",
    "Trainer",
    "acceleration_loss",
    "build_model",
    "derivative_loss",
    "derivative_targets",
    "fit",
    "flat_stretch",
    "learning_rate",
    "normalised_error",
    "optimizer",
    "progress_bar",
    "refine",
    "run",
    "train_chunk",
    "train_step",
    "weight_matrices",
    "write_metrics_csv",
]
