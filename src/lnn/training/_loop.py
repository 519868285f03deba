"""Training: :func:`fit` any lnn model to a dataset, in parts — a :class:`Trainer`, the loop, callbacks.

* :class:`Trainer` prepares what does not change during a run: the objective's
  arrays, the optimiser, the compiled chunk of pure steps (:mod:`._step`) and the
  validation loss.
* :func:`run` is the loop: chunks of steps until the schedule or the time budget
  ends, a validation evaluation every ``eval_every`` updates (early stopping on
  ``patience``), the schedule fitted to a time budget from the measured speed.
* Callbacks (:mod:`._callbacks`) show progress and write the run folder.

A non-finite loss or gradient skips that update (counted in the history);
``max_bad_steps`` consecutive ones stop training with
:class:`~lnn.errors.TrainingDivergedError`. A killed run resumes from
``checkpoints/last.ckpt``: the same key gives the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from lnn.data import Splittable, split
from lnn.errors import ConfigurationError, DataError, TrainingDivergedError
from lnn.mechanics import AbstractDynamics
from lnn.training._callbacks import Callback, Checkpointer, ProgressBar, RunRecord, write_metrics_csv
from lnn.training._config import TrainConfig
from lnn.training._lbfgs import refine
from lnn.training._objective import AbstractObjective, AccelerationObjective
from lnn.training._optim import optimizer
from lnn.training._step import TrainState, train_chunk, train_step

# Validation scores at most this many samples (a fixed prefix), so its cost is bounded.
MAX_VALIDATION_SAMPLES = 4096


class Trainer:
    """What a run of :func:`fit` needs that does not change from step to step (module docstring)."""

    def __init__(self, trained: Any, objective: AbstractObjective, train: Any, val: Any, config: TrainConfig):
        self.config, self.objective = config, objective
        params, self.static = eqx.partition(trained, eqx.is_inexact_array)
        self.dtype = jax.tree.leaves(params)[0].dtype
        samples, val_samples, constants = objective.prepare(objective.export(trained), train, val, self.dtype)
        self.train_arrays, self.val_arrays = (samples, constants), (val_samples, constants)
        self.optimizer = optimizer(config)
        self.mesh = _device_mesh(config.devices)
        sharding = None if self.mesh is None else NamedSharding(self.mesh, PartitionSpec("batch"))
        self.chunk = train_chunk(train_step(objective, self.optimizer, config, self.static, sharding), config.chunk)
        self._validation = eqx.filter_jit(lambda p, arrays: objective(eqx.combine(p, self.static), *arrays))

    def initial_state(self, trained: Any, key: jax.Array) -> TrainState:
        params = eqx.filter(trained, eqx.is_inexact_array)
        state = TrainState(
            params,
            self.optimizer.init(params),
            jnp.zeros((), int),
            jnp.zeros((), int),
            jax.random.key_data(key),
            params,
        )
        if self.mesh is not None:  # parameters, optimiser state and the data replicated on every device
            replicated = NamedSharding(self.mesh, PartitionSpec())
            state, self.train_arrays = jax.device_put((state, self.train_arrays), replicated)
        return state

    def module(self, params: Any) -> Any:
        """What is trained, with these parameters."""
        return eqx.combine(params, self.static)

    def validation_loss(self, params: Any) -> float:
        samples, constants = self.val_arrays
        return float(self._validation(params, (tuple(a[:MAX_VALIDATION_SAMPLES] for a in samples), constants)))

    def training_loss_arrays(self) -> tuple[Any, Any]:
        """The whole training set as one batch (for L-BFGS), on one device."""
        if self.mesh is None:
            return self.train_arrays
        return jax.device_put(self.train_arrays, jax.devices()[0])


def run(
    trainer: Trainer, state: TrainState, record: RunRecord, callbacks: Sequence[Callback], label: str = "training"
) -> tuple[TrainState, RunRecord]:
    """The training loop (module docstring); returns the final state and record."""
    config = trainer.config
    try:
        for callback in callbacks:
            state, record = callback.start(state, record)
        total = config.steps if config.steps is not None else record.total
        record.total = total
        start = time.perf_counter() - record.elapsed
        next_eval = (record.step // config.eval_every + 1) * config.eval_every
        skipped, since_improvement, chunk_losses = 0, 0, []
        rate_start = None  # (time, step) from which the step rate is measured, for a budget-fitted schedule
        while (total is None or record.step < total) and not (
            config.time_budget and record.elapsed >= config.time_budget
        ):
            t0, before = time.perf_counter(), record.step
            stop = min(next_eval, total) if total is not None else next_eval
            state, summary = trainer.chunk(
                state, trainer.train_arrays, jnp.asarray(total or 10**9, int), jnp.asarray(stop, int)
            )
            loss, n_bad = float(summary.loss), int(summary.skipped)
            record.step, skipped = int(state.step), skipped + n_bad
            if int(summary.max_bad_run) >= config.max_bad_steps:
                raise TrainingDivergedError(
                    f"{label}: {int(summary.max_bad_run)} consecutive steps gave a non-finite loss or gradient at "
                    f"step {record.step}; lower the learning rate, use init='standard', or check the data for "
                    "extreme values."
                )
            if n_bad < config.chunk:
                chunk_losses.append(loss)
            record.elapsed = time.perf_counter() - start
            if config.steps is None and record.step >= 2 * config.chunk and (total is None or record.step >= next_eval):
                # Fit the schedule to the budget from the speed measured since compilation,
                # re-estimated at each evaluation (the machine's load may change).
                rate_start = rate_start or (t0, before)
                per_step = (time.perf_counter() - rate_start[0]) / max(record.step - rate_start[1], 1)
                budget = config.time_budget or 0.0  # steps=None: TrainConfig requires a time budget
                total = record.total = max(
                    record.step + config.chunk, int(record.step + (budget - record.elapsed) / per_step)
                )
            out_of_time = config.time_budget is not None and record.elapsed >= config.time_budget
            finished = (total is not None and record.step >= total) or out_of_time
            for callback in callbacks:
                callback.chunk_done(record, loss)
            if record.step >= next_eval or finished:
                next_eval = (record.step // config.eval_every + 1) * config.eval_every
                val = trainer.validation_loss(state.params)
                improved = val < record.best_val
                if improved:
                    record.best_val = val
                    state = eqx.tree_at(lambda s: s.best_params, state, state.params)
                since_improvement = 0 if improved else since_improvement + 1
                record.history.append(
                    {
                        "step": record.step,
                        "time": round(record.elapsed, 3),
                        "train_loss": float(np.mean(chunk_losses)) if chunk_losses else float("nan"),
                        "val_loss": val,
                        "learning_rate": float(summary.learning_rate),
                        "skipped": skipped,
                    }
                )
                skipped, chunk_losses = 0, []
                for callback in callbacks:
                    callback.evaluated(state, record, improved)
                if config.patience is not None and since_improvement >= config.patience:
                    break
            if finished:
                break
    finally:
        for callback in callbacks:
            callback.close()
    return state, record


def fit(
    model: Any,
    dataset: Splittable,
    *,
    key: jax.Array,
    config: TrainConfig = TrainConfig(),
    val_dataset: Splittable | None = None,
    out: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    label: str = "training",
    objective: AbstractObjective | None = None,
    export: bool = True,
    callbacks: Sequence[Callback] = (),
) -> tuple[Any, list[dict[str, Any]]]:
    """Train ``model`` on ``dataset``; returns ``(best_model, history)``.

    Args:
        model: an lnn model (an :class:`~lnn.mechanics.AbstractDynamics`), or what
            ``objective`` trains (e.g. a model with free initial states).
        dataset: training data; a validation part of ``config.val_fraction`` is
            split off by trajectory unless ``val_dataset`` is given.
        key: PRNG key (split, minibatches). Same key, same numbers.
        out: run folder for ``metrics.csv`` and checkpoints (optional).
        resume: continue from ``out/checkpoints/last.ckpt`` if it exists.
        objective: what is fitted (default: :class:`AccelerationObjective` with
            ``config.loss``).
        export: False returns what was trained rather than the objective's
            ``export`` of it (e.g. the model with its free initial states, for a
            further stage); saved models are always exported.
        callbacks: more :class:`Callback`\\ s, after the progress bar and checkpoints.
    Returns:
        The model with the lowest validation loss, and the history: one dict per
        evaluation (step, time, train_loss, val_loss, learning_rate, skipped).
    """
    objective = AccelerationObjective(config.loss) if objective is None else objective
    k_split, k_train = jax.random.split(key)
    train, val = _training_split(objective.export(model), dataset, val_dataset, config, k_split)
    trainer = Trainer(model, objective, train, val, config)
    hooks: list[Callback] = [ProgressBar(label, progress)]
    if out is not None:
        hooks.append(Checkpointer(out, to_model=trainer.module, export=objective.export, resume=resume))
    state, record = run(
        trainer, trainer.initial_state(model, k_train), RunRecord(total=config.steps), [*hooks, *callbacks], label
    )
    best = state.best_params if trainer.mesh is None else jax.device_put(state.best_params, jax.devices()[0])
    if config.lbfgs_steps:
        t0 = time.perf_counter()
        best, refined = refine(
            best,
            trainer.static,
            objective,
            trainer.training_loss_arrays(),
            config.lbfgs_steps,
            progress=progress,
            label=f"{label} (L-BFGS)",
        )
        seconds = record.elapsed + time.perf_counter() - t0
        record.history.append(
            {
                "step": record.step + config.lbfgs_steps,
                "time": round(seconds, 3),
                "train_loss": refined,
                "val_loss": trainer.validation_loss(best),
                "learning_rate": float("nan"),
                "skipped": 0,
            }
        )
        if out is not None:
            write_metrics_csv(Path(out) / "metrics.csv", record.history)
    trained = trainer.module(best)
    return (objective.export(trained) if export else trained), record.history


def _training_split(
    model: Any, dataset: Splittable, val_dataset: Splittable | None, config: TrainConfig, key: jax.Array
) -> tuple[Splittable, Splittable]:
    if len(dataset) < 2:
        raise DataError(f"need at least 2 states to train; the dataset has {len(dataset)}.")
    if isinstance(model, AbstractDynamics) and model.dof is not None and dataset.dof != model.dof:
        raise DataError(f"the dataset has {dataset.dof} coordinates but the model expects {model.dof}.")
    if val_dataset is None:
        return split(dataset, config.val_fraction, key)
    return dataset, val_dataset


def _device_mesh(devices: int) -> Mesh | None:
    """A one-axis mesh ("batch") over the first ``devices`` devices; None for one device.

    In a multi-host job (after ``jax.distributed.initialize()``), ``jax.devices()``
    lists every host's devices, so the mesh spans them all.
    """
    if devices == 1:
        return None
    available = jax.devices()
    if devices > len(available):
        raise ConfigurationError(
            f"asked for {devices} devices but JAX sees {len(available)} ({available[0].platform}). On a CPU, "
            f"set XLA_FLAGS=--xla_force_host_platform_device_count={devices} before starting Python to split "
            "it into that many devices."
        )
    return Mesh(np.array(available[:devices]), ("batch",))
