"""The pure training step, and a chunk of them compiled as one ``lax.scan``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding
from jaxtyping import Array, PRNGKeyArray

from lnn.training._config import TrainConfig
from lnn.training._objective import AbstractObjective, Constants, Samples
from lnn.training._optim import learning_rate


class TrainState(eqx.Module):
    """Everything a training run carries from step to step (and checkpoints).

    ``params``: the inexact arrays of what is trained (``eqx.partition``);
    ``opt_state``: the optimiser's; ``step``: updates applied so far (the
    schedule's position); ``bad_run``: consecutive non-finite steps; ``key``:
    the raw PRNG key data for the next chunk; ``best_params``: the parameters
    with the lowest validation loss so far.
    """

    params: Any
    opt_state: Any
    step: Array
    bad_run: Array
    key: Array
    best_params: Any


class ChunkSummary(NamedTuple):
    """What a chunk reports: mean loss over its finite steps, non-finite steps, the longest run of them,
    and the last learning rate."""

    loss: Array
    skipped: Array
    max_bad_run: Array
    learning_rate: Array


def all_finite(loss: Array, grads: Any) -> Array:
    """Whether a step's loss and every entry of its gradient are finite (else the step is skipped)."""
    return jnp.isfinite(loss) & jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))


def train_step(
    objective: AbstractObjective,
    optimizer: optax.GradientTransformation,
    config: TrainConfig,
    static: Any,
    batch_sharding: NamedSharding | None = None,
) -> Callable:
    """The pure step ``(state, (samples, constants), total, key) -> (state, (loss, finite, lr))``.

    One minibatch drawn with ``key``; a non-finite loss or gradient applies no
    update (the state is kept and ``bad_run`` grows). With ``batch_sharding`` the
    minibatch is split over devices along its first axis (data parallelism);
    XLA then runs each device's share and all-reduces the gradients.
    """

    def step(state: TrainState, arrays: tuple[Samples, Constants], total: Array, key: PRNGKeyArray):
        samples, constants = arrays
        idx = jax.random.randint(key, (config.batch_size,), 0, samples[0].shape[0])
        batch = tuple(a[idx] for a in samples)
        if batch_sharding is not None:
            batch = jax.lax.with_sharding_constraint(batch, batch_sharding)

        def loss_fn(p):
            return objective(eqx.combine(p, static), batch, constants)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        finite = all_finite(loss, grads)
        grads = jax.tree.map(lambda g: jnp.where(finite, g, 0.0), grads)
        updates, new_opt = optimizer.update(grads, state.opt_state, state.params)
        lr = learning_rate(state.step, total, config)
        new_params = jax.tree.map(lambda p, u: p - lr.astype(p.dtype) * u, state.params, updates)

        def keep(new, old):
            return jnp.where(finite, new, old)

        state = eqx.tree_at(
            lambda s: (s.params, s.opt_state, s.step, s.bad_run),
            state,
            (
                jax.tree.map(keep, new_params, state.params),
                jax.tree.map(keep, new_opt, state.opt_state),
                state.step + finite.astype(state.step.dtype),
                jnp.where(finite, 0, state.bad_run + 1),
            ),
        )
        return state, (loss, finite, lr)

    return step


def train_chunk(step: Callable, length: int) -> Callable:
    """``length`` steps as one compiled call ``(state, arrays, total, stop) -> (state, ChunkSummary)``.

    ``total`` is the schedule's length; a step taken once ``state.step`` has
    reached ``stop`` (≤ total: the end, or the next evaluation) is discarded, so
    a chunk applies exactly the updates up to there.
    """

    @eqx.filter_jit
    def chunk(state: TrainState, arrays, total, stop):
        key, k = jax.random.split(jax.random.wrap_key_data(state.key))

        def one(s, key):
            new, (loss, finite, lr) = step(s, arrays, total, key)
            active = s.step < stop
            s = jax.tree.map(lambda a, b: jnp.where(active, a, b), new, s)
            return s, (loss, finite | ~active, active, s.bad_run, lr)

        state, (losses, finite, active, bad_runs, lrs) = jax.lax.scan(one, state, jax.random.split(k, length))
        counted = finite & active
        mean_loss = jnp.sum(jnp.where(counted, losses, 0.0)) / jnp.maximum(jnp.sum(counted), 1)
        last = jnp.maximum(jnp.sum(active) - 1, 0)  # active steps come first
        state = eqx.tree_at(lambda s: s.key, state, jax.random.key_data(key))
        return state, ChunkSummary(mean_loss, jnp.sum(~finite), jnp.max(bad_runs), lrs[last])

    return chunk
