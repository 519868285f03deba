"""Training: :func:`fit` any lnn model to a dataset, in parts — a :class:`Trainer`, the loop, callbacks.

* :class:`Trainer` prepares what does not change during a run: the objective's
  arrays, the optimiser, the compiled chunk of pure steps (:mod:`._step`) and the
  validation loss.
* :func:`run` is the loop: chunks of steps until the schedule or the time budget
  ends, a validation evaluation every ``eval_every`` updates (early stopping on
  ``patience``), the schedule fitted to a time budget from the measured speed.
* Callbacks (:mod:`._callbacks`) show progress and write the run folder.

A non-finite loss or gradient skips that update (counted in the history and
shown on the progress bar as it happens); ``max_bad_steps`` consecutive ones
stop training with :class:`~lnn.errors.TrainingDivergedError`, and so does a
run that ends having skipped more than :data:`MAX_SKIPPED_FRACTION` of the
steps it tried (the message names the worst training samples when samples on
their own give a non-finite loss: then the data, not the settings, is at fault).
A validation loss that stays the same (to :data:`FLAT_TOLERANCE`) over the last
:data:`FLAT_FRACTION` of the schedule or more gives a :class:`~lnn.errors.TrainingWarning`:
nothing is being learnt (a learning rate so high the network saturates, say).
A killed run resumes from ``checkpoints/last.ckpt``: the same key gives the
same numbers.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from lnn.data import Splittable, split
from lnn.errors import ConfigurationError, DataError, TrainingDivergedError, TrainingWarning
from lnn.mechanics import AbstractDynamics
from lnn.training._callbacks import Callback, Checkpointer, ProgressBar, RunRecord, write_metrics_csv
from lnn.training._config import TrainConfig
from lnn.training._lbfgs import refine
from lnn.training._objective import AbstractObjective, AccelerationObjective
from lnn.training._optim import optimizer
from lnn.training._step import TrainState, all_finite, train_chunk, train_step

# Validation scores at most this many samples (a fixed prefix), so its cost is bounded.
MAX_VALIDATION_SAMPLES = 4096
# A run that skipped more than this share of the steps it tried (non-finite loss or gradient) ends with an
# error: most of its updates were thrown away, so its model is not what the settings describe. Half, not
# less: a few poisoned states in a large dataset spoil a fair share of minibatches and training still works.
MAX_SKIPPED_FRACTION = 0.5
# A validation loss equal to within FLAT_TOLERANCE (relative) over at least FLAT_FRACTION of the schedule
# (two evaluations or more) is reported as a warning: a run that learns moves by far more than 1e-6.
FLAT_FRACTION = 0.25
FLAT_TOLERANCE = 1e-6
# With a time budget and an L-BFGS polish, the share of the budget left to L-BFGS: Adam stops at the rest,
# and no L-BFGS chunk starts after the budget (an iteration costs tens of Adam steps on a matching loss).
LBFGS_SHARE = 0.25
# Training samples scored at once when looking for the ones that are non-finite on their own.
_SAMPLE_BLOCK = 512


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

    def unusable_samples(self, params: Any) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the training samples whose loss or gradient is non-finite on their own (a batch of
        one), and each one's largest absolute value, largest first."""
        samples, constants = self.training_loss_arrays()

        def usable(p, *sample):
            loss, grads = jax.value_and_grad(
                lambda p: self.objective(eqx.combine(p, self.static), tuple(x[None] for x in sample), constants)
            )(p)
            return all_finite(loss, grads)

        check = eqx.filter_jit(jax.vmap(usable, in_axes=(None, *([0] * len(samples)))))
        n = samples[0].shape[0]
        block = min(_SAMPLE_BLOCK, n)
        good = []
        for start in range(0, n, block):
            idx = np.minimum(np.arange(start, start + block), n - 1)  # the last block padded: one shape
            good.append(np.asarray(check(params, *(a[idx] for a in samples)))[: n - start])
        bad = np.flatnonzero(~np.concatenate(good))
        size = np.max(np.stack([np.abs(np.asarray(a, float).reshape(n, -1)).max(axis=1) for a in samples]), axis=0)
        order = np.argsort(-size[bad], kind="stable")
        return bad[order], size[bad][order]

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
            record.skipped += n_bad
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
        _check_health(trainer, state, record, label)
    finally:
        for callback in callbacks:
            callback.close()
    return state, record


def _check_health(trainer: Trainer, state: TrainState, record: RunRecord, label: str) -> None:
    """The end-of-run checks of the module docstring: too many skipped steps (an error), a flat loss (a warning)."""
    tried = record.step + record.skipped
    if record.skipped > MAX_SKIPPED_FRACTION * tried:
        bad, size = trainer.unusable_samples(state.params)
        n = trainer.train_arrays[0][0].shape[0]
        if 0 < bad.size <= MAX_SKIPPED_FRACTION * n:  # a few samples spoil the minibatches that draw them
            worst = ", ".join(
                f"{i} (largest |value| {f'{v:.3g}' if np.isfinite(v) else f'beyond {trainer.dtype}'})"
                for i, v in zip(bad[:3], size[:3], strict=True)
            )
            cause = (
                f"{bad.size:,} training sample(s) give one on their own, so the data is at fault; the worst: "
                f"sample {worst} of the training set. Repair or remove them (lnn.data.Dataset.subset)"
            )
        else:
            cause = (
                f"{'most' if bad.size else 'no'} training samples give one on their own, so the model or the "
                "settings are at fault: lower the learning rate (--lr), clip the gradient, or use init='standard'"
            )
        raise TrainingDivergedError(
            f"{label}: {record.skipped:,} of the {tried:,} steps tried ({record.skipped / tried:.0%}) gave a "
            f"non-finite loss or gradient and were skipped, more than the {MAX_SKIPPED_FRACTION:.0%} lnn accepts; "
            f"{cause}."
        )
    flat = flat_stretch(record.history)
    if record.total and flat is not None and flat[1] - flat[0] >= FLAT_FRACTION * record.total:
        warnings.warn(
            f"{label}: the validation loss stayed at {record.history[-1]['val_loss']:.6g} from step {flat[0]:,} "
            f"to {flat[1]:,} ({(flat[1] - flat[0]) / record.total:.0%} of the schedule): nothing is being learnt. "
            "Lower the learning rate (--lr), or check the data.",
            TrainingWarning,
            stacklevel=3,
        )


def flat_stretch(history: Sequence[dict[str, Any]]) -> tuple[int, int] | None:
    """``(first, last)`` steps of the final run of evaluations (two or more) whose validation losses
    equal the last one to :data:`FLAT_TOLERANCE` (relative); None if there is none."""
    if not history:
        return None
    last = history[-1]["val_loss"]
    k = len(history) - 1
    while k > 0 and abs(history[k - 1]["val_loss"] - last) <= FLAT_TOLERANCE * abs(last):
        k -= 1
    return (history[k]["step"], history[-1]["step"]) if len(history) - k >= 2 else None


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
        callbacks: more :class:`Callback`\\ s, after the checkpoints and the progress bar.
    Returns:
        The model with the lowest validation loss, and the history: one dict per
        evaluation (step, time, train_loss, val_loss, learning_rate, skipped).
    """
    objective = AccelerationObjective(config.loss) if objective is None else objective
    k_split, k_train = jax.random.split(key)
    train, val = _training_split(objective.export(model), dataset, val_dataset, config, k_split)
    # A time budget bounds the whole fit: with an L-BFGS polish, Adam stops at 1 − LBFGS_SHARE of it.
    loop_config = (
        dataclasses.replace(config, time_budget=config.time_budget * (1 - LBFGS_SHARE))
        if config.time_budget is not None and config.lbfgs_steps
        else config
    )
    trainer = Trainer(model, objective, train, val, loop_config)
    # The checkpointer first: the bar then starts from a resumed run's step.
    hooks: list[Callback] = [ProgressBar(label, progress)]
    if out is not None:
        hooks.insert(0, Checkpointer(out, to_model=trainer.module, export=objective.export, resume=resume))
    state, record = run(
        trainer, trainer.initial_state(model, k_train), RunRecord(total=config.steps), [*hooks, *callbacks], label
    )
    best = state.best_params if trainer.mesh is None else jax.device_put(state.best_params, jax.devices()[0])
    if config.lbfgs_steps:
        t0 = time.perf_counter()
        best, refined, iterations = refine(
            best,
            trainer.static,
            objective,
            trainer.training_loss_arrays(),
            config.lbfgs_steps,
            progress=progress,
            label=f"{label} (L-BFGS)",
            deadline=None if config.time_budget is None else t0 + config.time_budget - record.elapsed,
        )
        seconds = record.elapsed + time.perf_counter() - t0
        record.history.append(
            {
                "step": record.step + iterations,
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
