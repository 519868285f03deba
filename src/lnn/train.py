r"""Training: fit any lnn model to a dataset of accelerations.

The loss compares the model's accelerations q̈_θ(q, q̇) with the data's, each
coordinate divided by its RMS acceleration s_i so all coordinates weigh alike:

    loss = mean_b mean_i ρ((q̈_θ,i − q̈_i) / s_i),   ρ = |·| ("l1") or (·)² ("l2").

A model that predicts more than q̈ (a Hamiltonian network predicts its own state's
derivative (q̇, ṗ)) has a ``derivative(q, q̇)`` method and a
``derivative_target(q, q̇, q̈)`` giving the true values from the data; the same
loss then runs over those components, each divided by its RMS over the data.
This *derivative loss* is what models of different kinds are compared on.

Optimiser: Adam with global-norm clipping, a linear warm-up and a cosine decay
to ``final_lr`` (an Optax chain; the schedule is applied outside it so that the
total number of steps can be set from a wall-clock budget without recompiling).

A non-finite loss or gradient skips that update (counted); ``max_bad_steps``
consecutive ones stop training with :class:`~lnn.errors.TrainingDivergedError`.
With ``out`` set, the run folder gets ``metrics.csv``, ``checkpoints/last.ckpt``
(model, optimiser, step, PRNG key, history) and ``checkpoints/best.eqx`` (the
model with the lowest validation loss); a killed run resumes from ``last.ckpt``.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io as _io
import math
import time
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lnn import data as data_mod
from lnn import io, mechanics
from lnn.data import Dataset
from lnn.errors import DataError, TrainingDivergedError


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of :func:`fit`.

    ``steps`` is the length of the schedule. If ``time_budget`` (seconds, compile
    included) is set, training also stops when it runs out; with
    ``steps=None`` the schedule length is fitted to the budget from the
    measured speed of the first steps.

    ``weight_decay`` λ shrinks the networks' weight matrices (not biases, scalars
    or free initial states) decoupled from Adam, as in AdamW:
    w ← w − lr·(adam(g) + λ w). A smoothness prior. On the noisy pendulum of
    ``benchmarks/noise.py`` (free 2-s windows, 6,000 Adam steps, one seed each)
    the 10-s error was 0.039 without it, 0.030 at λ = 0.1, 0.013 at λ = 1 and
    0.11 at λ = 3 (warm-started from derivative estimates), 0.009 at λ = 1 and
    0.042 at λ = 1.5 from scratch. Other seeds and another validation split
    gave 0.014–0.084 at λ = 1: the seed matters as much as λ, so tune it against
    held-out data, over several seeds.

    ``lbfgs_steps`` > 0 ends training with that many full-batch L-BFGS
    iterations (``optax.lbfgs``, zoom line search) on the squared form of the
    loss, started from the parameters Adam returned: a polish for problems small
    enough to score whole (the training set is one batch), which Adam's noisy,
    decaying steps leave short of the minimum. It is not checkpointed, and the
    result is kept only if its training loss is finite and lower. Weight decay
    does not act in it; its row in the history has the squared training loss.
    (:func:`lnn.learning.fit_observations` runs it itself for free initial
    states, after relinking them.)
    """

    steps: int | None = 20_000
    batch_size: int = 256
    learning_rate: float = 3e-3
    final_lr: float = 3e-6
    warmup_steps: int = 500
    clip_norm: float | None = None
    loss: str = "l1"
    val_fraction: float = 0.1
    eval_every: int = 500
    patience: int | None = None
    time_budget: float | None = None
    max_bad_steps: int = 50
    chunk: int = 50
    devices: int = 1
    weight_decay: float = 0.0
    lbfgs_steps: int = 0

    def __post_init__(self):
        if self.steps is None and self.time_budget is None:
            raise ValueError("give steps, time_budget, or both.")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1; got {self.steps}.")
        if self.loss not in ("l1", "l2"):
            raise ValueError(f"unknown loss {self.loss!r}; choose 'l1' or 'l2'.")
        if self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("batch_size must be >= 1 and learning_rate > 0.")
        if self.weight_decay < 0 or self.lbfgs_steps < 0:
            raise ValueError(f"weight_decay and lbfgs_steps must be >= 0; got {self.weight_decay} and "
                             f"{self.lbfgs_steps}.")
        if self.devices < 1 or self.batch_size % self.devices:
            raise ValueError(f"batch_size ({self.batch_size}) must split evenly over devices ({self.devices}); "
                             "choose a batch size that is a multiple of the device count.")


def learning_rate(step, total, config: TrainConfig):
    """Linear warm-up to ``learning_rate``, then cosine decay to ``final_lr`` at ``total``."""
    warm = jnp.minimum(1.0, (step + 1) / max(config.warmup_steps, 1))
    progress = jnp.clip((step - config.warmup_steps) / jnp.maximum(total - config.warmup_steps, 1), 0.0, 1.0)
    cosine = config.final_lr + 0.5 * (config.learning_rate - config.final_lr) * (1 + jnp.cos(jnp.pi * progress))
    return jnp.where(step < config.warmup_steps, config.learning_rate * warm, cosine)


def acceleration_loss(model, q, qdot, qddot, scale, kind: str = "l1", force=None):
    """Normalised derivative loss of ``model`` on a batch ``(B, n)`` (see module docstring).

    ``qddot`` is the target: q̈ for models predicting accelerations, else
    :func:`derivative_targets` of the data. ``force``, shape ``(B, n)``, is the
    generalized force τ acting at each state (a driven system); the model's
    accelerations are then those under τ.
    """
    if force is None:
        pred = _batch_derivative(model)(q, qdot)
    else:
        pred = mechanics.batch_dynamics(model)(q, qdot, force)
    r = (pred - qddot) / scale
    return jnp.mean(jnp.abs(r)) if kind == "l1" else jnp.mean(r**2)


def _batch_derivative(model):
    """What the model predicts for a batch of states: its ``derivative``, else its accelerations."""
    return jax.vmap(model.derivative) if hasattr(model, "derivative") else mechanics.batch_dynamics(model)


def derivative_targets(model, dataset: Dataset) -> np.ndarray:
    """What ``model`` is trained to predict at each state of ``dataset``: q̈, or its ``derivative_target``.

    Shape ``(N, k)``, computed in float64 once, before training.
    """
    if model is None or not hasattr(model, "derivative_target"):
        return dataset.qddot
    q, qdot, qddot = data_mod.as_arrays(dataset)
    return np.asarray(jax.jit(jax.vmap(model.derivative_target))(q, qdot, qddot))


def derivative_loss(model, dataset: Dataset, *, kind: str = "l1", scale=None) -> float:
    """The normalised derivative loss of ``model`` on every state of ``dataset`` (float64).

    ``scale`` defaults to the RMS of the targets over ``dataset``; this is the
    number models are compared on (``lnn compare``'s ``derivative_loss``).
    """
    targets = derivative_targets(model, dataset)
    scale = data_mod.root_mean_square(targets) if scale is None else scale
    q, qdot, _ = data_mod.as_arrays(dataset)
    return float(_acceleration_loss_jit(model, q, qdot, jnp.asarray(targets), jnp.asarray(scale), kind))


_acceleration_loss_jit = eqx.filter_jit(acceleration_loss)  # one compile per model structure and shapes


@dataclasses.dataclass(frozen=True)
class AccelerationObjective:
    """The default objective of :func:`fit`: :func:`acceleration_loss` on states with known q̈.

    An objective tells :func:`fit` what one training sample is and how a batch
    of them is scored, so that other ways of learning (e.g.
    :class:`lnn.trajectory_matching.TrajectoryObjective`) reuse the same
    optimiser, schedule, validation, checkpoints and progress:

    * ``prepare(train, val, dtype) -> (train_samples, val_samples, constants)``:
      tuples of arrays whose leading axis indexes samples (minibatches pick
      along it), and arrays shared by every batch (e.g. normalising scales);
    * ``loss(model, samples, constants) -> scalar``;
    * optionally ``export(trained) -> model``, when what is trained carries
      more than the model (the returned and saved model is ``export``'s).

    ``model``, when it has a ``derivative_target`` (a Hamiltonian network), sets
    the targets: :func:`derivative_targets` instead of q̈.
    """

    kind: str = "l1"
    model: Any = dataclasses.field(default=None, compare=False)

    def prepare(self, train: Dataset, val: Dataset, dtype):
        # A driven system's samples carry the generalized force τ as a fourth array.
        if (train.force is None) != (val.force is None):
            raise DataError("the training and validation datasets must both have generalized forces or both not.")
        train_targets = derivative_targets(self.model, train)
        scale = jnp.asarray(data_mod.root_mean_square(train_targets), dtype=dtype)
        return (_samples(train, train_targets, dtype), _samples(val, derivative_targets(self.model, val), dtype),
                (scale,))

    def loss(self, model, samples, constants):
        q, qdot, target, *force = samples
        return acceleration_loss(model, q, qdot, target, *constants, self.kind, *force)


def _samples(dataset: Dataset, targets, dtype) -> tuple:
    q, qdot, _ = data_mod.as_arrays(dataset, dtype)
    force = () if dataset.force is None else (jnp.asarray(dataset.force, dtype=dtype),)
    return (q, qdot, jnp.asarray(targets, dtype=dtype), *force)


def _optimizer(config: TrainConfig):
    # Schedule applied by hand in the step (lr * update), so the chain is
    # schedule-free and its state does not depend on the total step count.
    clip = [optax.clip_by_global_norm(config.clip_norm)] if config.clip_norm else []
    decay = [optax.add_decayed_weights(config.weight_decay, mask=_weight_matrices)] if config.weight_decay else []
    return optax.chain(*clip, optax.scale_by_adam(), *decay)


def _weight_matrices(params):
    """True at the networks' weight matrices (``MLP.weights``), False elsewhere."""
    def is_weight(path, x):
        return x is not None and any(getattr(k, "name", None) == "weights" for k in path)
    return jax.tree_util.tree_map_with_path(is_weight, params)


def _make_chunk_fn(config: TrainConfig, static, optimizer, objective, batch_sharding=None):
    """A jitted function running ``config.chunk`` steps with ``lax.scan``.

    With ``batch_sharding`` each minibatch is split over devices along its first
    axis (data parallelism); XLA then runs each device's share of the loss and
    all-reduces the gradients, which are the same numbers as on one device up to
    the order of floating-point sums.
    """

    def one_step(carry, key):
        params, opt_state, step, bad_run, arrays, total = carry
        samples, constants = arrays
        idx = jax.random.randint(key, (config.batch_size,), 0, samples[0].shape[0])
        batch = tuple(a[idx] for a in samples)
        if batch_sharding is not None:
            batch = jax.lax.with_sharding_constraint(batch, batch_sharding)

        def loss_fn(p):
            return objective.loss(eqx.combine(p, static), batch, constants)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        finite = jnp.isfinite(loss) & jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)])
        )
        grads = jax.tree.map(lambda g: jnp.where(finite, g, 0.0), grads)
        updates, new_opt = optimizer.update(grads, opt_state, params)
        lr = learning_rate(step, total, config)
        new_params = jax.tree.map(lambda p, u: p - lr.astype(p.dtype) * u, params, updates)
        keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731
        params = jax.tree.map(keep, new_params, params)
        opt_state = jax.tree.map(keep, new_opt, opt_state)
        step = step + finite.astype(step.dtype)
        bad_run = jnp.where(finite, 0, bad_run + 1)
        return (params, opt_state, step, bad_run, arrays, total), (loss, finite, bad_run, lr)

    @eqx.filter_jit
    def chunk(params, opt_state, step, bad_run, arrays, total, key):
        keys = jax.random.split(key, config.chunk)
        carry, (losses, finite, bad_runs, lrs) = jax.lax.scan(
            one_step, (params, opt_state, step, bad_run, arrays, total), keys
        )
        params, opt_state, step, bad_run, _, _ = carry
        mean_loss = jnp.sum(jnp.where(finite, losses, 0.0)) / jnp.maximum(jnp.sum(finite), 1)
        return params, opt_state, step, bad_run, mean_loss, jnp.sum(~finite), jnp.max(bad_runs), lrs[-1]

    return chunk


def _validation_fn(static, objective, max_states: int = 4096):
    @eqx.filter_jit
    def val(params, arrays):
        samples, constants = arrays
        return objective.loss(eqx.combine(params, static), samples, constants)

    return lambda params, arrays: float(val(params, (tuple(a[:max_states] for a in arrays[0]), arrays[1])))


def fit(
    model,
    dataset: Dataset,
    *,
    key: jax.Array,
    config: TrainConfig = TrainConfig(),
    val_dataset: Dataset | None = None,
    out: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    label: str = "training",
    objective=None,
    export: bool = True,
):
    """Train ``model`` on ``dataset``; returns ``(best_model, history)``.

    Args:
        model: an lnn model (anything with ``acceleration(q, qdot)`` that is an
            Equinox module).
        dataset: training states; a validation part of ``config.val_fraction``
            is split off by trajectory unless ``val_dataset`` is given.
        key: PRNG key (split, minibatches). Same key, same numbers.
        out: run folder for ``metrics.csv`` and checkpoints (optional).
        resume: continue from ``out/checkpoints/last.ckpt`` if it exists.
        objective: what is fitted (default: :class:`AccelerationObjective`
            with ``config.loss``); ``dataset`` is whatever it prepares (it
            needs ``len``, ``dof``, ``trajectory`` and ``subset`` for the split).
        export: False returns what was trained rather than the objective's
            ``export`` of it (e.g. the model with its free initial states, for
            a further stage); saved models are always exported.
    Returns:
        The model with the lowest validation loss, and a list of dicts (one per
        evaluation: step, time, train_loss, val_loss, learning_rate, skipped).
    """
    if len(dataset) < 2:
        raise DataError(f"need at least 2 states to train; the dataset has {len(dataset)}.")
    if hasattr(model, "dof") and dataset.dof != model.dof:
        raise DataError(f"the dataset has {dataset.dof} coordinates but the model expects {model.dof}.")
    k_split, k_train = jax.random.split(key)
    if val_dataset is None:
        dataset, val_dataset = data_mod.split(dataset, config.val_fraction, k_split)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    dtype = jax.tree.leaves(params)[0].dtype
    if getattr(dataset, "force", None) is not None:
        mechanics.check_takes_force(model, dataset.dof)
    objective = AccelerationObjective(config.loss, model) if objective is None else objective
    train_samples, val_samples, constants = objective.prepare(dataset, val_dataset, dtype)
    train_arrays, val_arrays = (train_samples, constants), (val_samples, constants)
    # What is trained may carry more than the model (e.g. free initial states); export() is the model.
    exported = getattr(objective, "export", lambda m: m)

    optimizer = _optimizer(config)
    opt_state = optimizer.init(params)
    mesh = _device_mesh(config.devices)
    batch_sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec("batch"))
    chunk_fn = _make_chunk_fn(config, static, optimizer, objective, batch_sharding)
    val_fn = _validation_fn(static, objective)

    state = {"step": 0, "elapsed": 0.0, "history": [], "best_val": math.inf, "total": config.steps}
    rng = k_train
    ckpt_dir = Path(out) / "checkpoints" if out is not None else None
    best_params = params
    if ckpt_dir is not None and resume and (ckpt_dir / "last.ckpt").exists():
        like = (params, opt_state, jax.random.key_data(rng), best_params)
        (params, opt_state, rng_data, best_params), state = io.load_checkpoint(ckpt_dir / "last.ckpt", like)
        rng = jax.random.wrap_key_data(rng_data)
    if mesh is not None:
        # Parameters, optimiser state and the dataset are replicated on every device.
        replicated = NamedSharding(mesh, PartitionSpec())
        params, opt_state, best_params, train_arrays = jax.device_put(
            (params, opt_state, best_params, train_arrays), replicated)

    # A resumed run keeps its schedule unless the caller asks for a different length.
    total = config.steps if config.steps is not None else state["total"]
    step = jnp.asarray(state["step"], dtype=jnp.int64)
    bad_run = jnp.asarray(0, dtype=jnp.int64)
    skipped_since_eval = 0
    start = time.perf_counter() - state["elapsed"]
    since_improvement = 0
    next_eval = (state["step"] // config.eval_every + 1) * config.eval_every
    budget = config.time_budget
    fit_to_budget = config.steps is None
    rate_start = None  # (time, step) after which the step rate is measured

    with _progress(progress) as bar:
        task = bar.add_task(label, total=total or 1, completed=state["step"], loss=float("nan"), val=float("nan"))
        chunk_losses: list[float] = []
        while (total is None or state["step"] < total) and not (budget and state["elapsed"] >= budget):
            t0 = time.perf_counter()
            rng, k = jax.random.split(rng)
            total_arr = jnp.asarray(total if total is not None else 10**9, dtype=jnp.int64)
            params, opt_state, step, bad_run, loss, n_bad, max_bad, lr = chunk_fn(
                params, opt_state, step, bad_run, train_arrays, total_arr, k
            )
            loss = float(loss)
            n_bad, max_bad, done = int(n_bad), int(max_bad), int(step)
            state["step"] = done
            skipped_since_eval += n_bad
            if max_bad >= config.max_bad_steps:
                raise TrainingDivergedError(
                    f"{label}: {max_bad} consecutive steps gave a non-finite loss or gradient at step {done}; "
                    "lower the learning rate, use init='standard', or check the data for extreme values."
                )
            if n_bad < config.chunk:
                chunk_losses.append(loss)
            elapsed = state["elapsed"] = time.perf_counter() - start
            if fit_to_budget and done >= 2 * config.chunk and (total is None or done >= next_eval):
                # Fit the schedule to the budget from the speed measured since compilation,
                # re-estimated at each evaluation (the machine's load may change).
                if rate_start is None:
                    rate_start = (t0, done - config.chunk)
                per_step = (time.perf_counter() - rate_start[0]) / max(done - rate_start[1], 1)
                total = max(done + config.chunk, int(done + (budget - elapsed) / per_step))
                bar.update(task, total=total)
            out_of_time = budget is not None and elapsed >= budget
            finished = (total is not None and done >= total) or out_of_time
            if done >= next_eval or finished:
                next_eval = (done // config.eval_every + 1) * config.eval_every
                val = val_fn(params, val_arrays)
                train_loss = float(np.mean(chunk_losses)) if chunk_losses else float("nan")
                chunk_losses = []
                improved = val < state["best_val"]
                if improved:
                    state["best_val"], best_params = val, params
                    since_improvement = 0
                else:
                    since_improvement += 1
                state["history"].append(
                    {"step": done, "time": round(elapsed, 3), "train_loss": train_loss, "val_loss": val,
                     "learning_rate": float(lr), "skipped": skipped_since_eval}
                )
                skipped_since_eval = 0
                state["total"] = total
                if ckpt_dir is not None:
                    _save_run(ckpt_dir, Path(out), params, opt_state, rng, best_params, static, state, improved,
                              exported)
                bar.update(task, loss=train_loss, val=val)
                if config.patience is not None and since_improvement >= config.patience:
                    break
            bar.update(task, completed=min(done, total or done), loss=loss)
            if finished:
                break
    if mesh is not None:
        best_params = jax.device_put(best_params, jax.devices()[0])
        train_arrays = jax.device_put(train_arrays, jax.devices()[0])
    if config.lbfgs_steps:
        best_params, refined_loss = refine(best_params, static, objective, train_arrays, config.lbfgs_steps,
                                           progress=progress, label=f"{label} (L-BFGS)")
        state["history"].append({"step": state["step"] + config.lbfgs_steps,
                                 "time": round(time.perf_counter() - start, 3), "train_loss": refined_loss,
                                 "val_loss": val_fn(best_params, val_arrays), "learning_rate": float("nan"),
                                 "skipped": 0})
        if ckpt_dir is not None:
            write_metrics_csv(Path(out) / "metrics.csv", state["history"])
    trained = eqx.combine(best_params, static)
    return (exported(trained) if export else trained), state["history"]


def refine(params, static, objective, arrays, steps: int, *, chunk: int = 50, progress: bool = False,
           label: str = "L-BFGS"):
    """``steps`` full-batch L-BFGS iterations on ``objective``'s squared loss; returns ``(params, loss)``.

    ``arrays`` = ``(samples, constants)`` as :meth:`prepare` makes them; the
    whole of ``samples`` is one batch. The squared loss (``kind="l2"`` where
    the objective has a ``kind``) because L-BFGS needs a smooth objective, and
    it is the Gaussian-noise likelihood. It runs in float64 and returns the
    parameters in their own dtypes; the starting ``params`` (and their loss)
    when the iterations do not lower a finite loss.
    """
    if dataclasses.is_dataclass(objective) and any(f.name == "kind" for f in dataclasses.fields(objective)):
        objective = dataclasses.replace(objective, kind="l2")

    def loss_fn(p, data):
        return objective.loss(eqx.combine(p, static), *data)

    optimizer = optax.lbfgs()

    @functools.partial(jax.jit, static_argnums=3)
    def run(p, opt_state, data, n):
        value_fn = functools.partial(loss_fn, data=data)
        value_and_grad = optax.value_and_grad_from_state(value_fn)

        def one(carry, _):
            p, s = carry
            value, grad = value_and_grad(p, state=s)
            updates, s = optimizer.update(grad, s, p, value=value, grad=grad, value_fn=value_fn)
            return (optax.apply_updates(p, updates), s), None

        return jax.lax.scan(one, (p, opt_state), None, length=n)[0]

    # The line search compares losses that differ in their last digits: float64 throughout.
    dtypes = jax.tree.map(lambda x: x.dtype, params)
    params, arrays = jax.tree.map(_float64, (params, arrays))
    score = jax.jit(loss_fn)
    start_loss = float(score(params, arrays))
    p, opt_state = params, optimizer.init(params)
    with _progress(progress) as bar:
        task = bar.add_task(label, total=steps, completed=0, loss=start_loss, val=float("nan"))
        for done in range(0, steps, chunk):
            p, opt_state = run(p, opt_state, arrays, min(chunk, steps - done))
            bar.update(task, completed=min(done + chunk, steps), loss=float(score(p, arrays)))
    loss = float(score(p, arrays))
    if not (math.isfinite(loss) and loss < start_loss):
        p, loss = params, start_loss
    return jax.tree.map(lambda x, d: x.astype(d), p, dtypes), loss


def _float64(x):
    return x.astype(jnp.float64) if eqx.is_inexact_array(x) and x.dtype != jnp.float64 else x


def _device_mesh(devices: int) -> Mesh | None:
    """A one-axis mesh ("batch") over the first ``devices`` devices; None for one device.

    In a multi-host job (after ``jax.distributed.initialize()``), ``jax.devices()``
    lists every host's devices, so the mesh spans them all.
    """
    if devices == 1:
        return None
    available = jax.devices()
    if devices > len(available):
        raise ValueError(
            f"asked for {devices} devices but JAX sees {len(available)} ({available[0].platform}). On a CPU, "
            f"set XLA_FLAGS=--xla_force_host_platform_device_count={devices} before starting Python to split "
            "it into that many devices."
        )
    return Mesh(np.array(available[:devices]), ("batch",))


def _save_run(ckpt_dir, out, params, opt_state, rng, best_params, static, state, improved, export):
    io.save_checkpoint(ckpt_dir / "last.ckpt", (params, opt_state, jax.random.key_data(rng), best_params), state)
    if improved:
        io.save_model(ckpt_dir / "best.eqx", export(eqx.combine(best_params, static)), step=state["step"],
                      val_loss=state["best_val"])
    write_metrics_csv(out / "metrics.csv", state["history"])


def write_metrics_csv(path: Path, history: list[dict[str, Any]]) -> None:
    """Write the training history as CSV (atomically); a column a stage adds (e.g. ``relinked``) is
    left empty in the other rows."""
    buf = _io.StringIO()
    fields = ["step", "time", "train_loss", "val_loss", "learning_rate", "skipped"]
    fields += list(dict.fromkeys(k for row in history for k in row if k not in fields))
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(history)
    io.write_text(path, buf.getvalue())


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass


def _progress(enabled: bool):
    if not enabled:
        return _NoProgress()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("loss {task.fields[loss]:.4g}  val {task.fields[val]:.4g}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
