"""The optimiser: Adam (an Optax chain) and the learning-rate schedule applied outside it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from lnn.training._config import TrainConfig


def learning_rate(step: Array | int, total: Array | int, config: TrainConfig) -> Array:
    """Linear warm-up to ``learning_rate``, then cosine decay to ``final_lr`` at ``total``."""
    warm = jnp.minimum(1.0, (step + 1) / max(config.warmup_steps, 1))
    progress = jnp.clip((step - config.warmup_steps) / jnp.maximum(total - config.warmup_steps, 1), 0.0, 1.0)
    cosine = config.final_lr + 0.5 * (config.learning_rate - config.final_lr) * (1 + jnp.cos(jnp.pi * progress))
    return jnp.where(step < config.warmup_steps, config.learning_rate * warm, cosine)


def optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Clipping (optional), Adam's scaling, and decoupled weight decay (optional), chained.

    The schedule is applied by the step (update × lr), so the chain's state does
    not depend on the total number of steps, which a time budget may change.
    """
    clip = [optax.clip_by_global_norm(config.clip_norm)] if config.clip_norm else []
    decay = [optax.add_decayed_weights(config.weight_decay, mask=weight_matrices)] if config.weight_decay else []
    return optax.chain(*clip, optax.scale_by_adam(), *decay)


def weight_matrices(params):
    """True at the networks' weight matrices (``MLP.weights``), False elsewhere."""

    def is_weight(path, x):
        return x is not None and any(isinstance(k, jax.tree_util.GetAttrKey) and k.name == "weights" for k in path)

    return jax.tree_util.tree_map_with_path(is_weight, params)
