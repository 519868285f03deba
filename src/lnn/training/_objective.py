r"""What is fitted: objectives, and the derivative loss that models of every kind are judged on.

The default objective compares the derivatives a model predicts with the data's,
each component divided by its RMS s_i over the training data so all weigh alike:

    loss = mean_b mean_i ρ((ẏ_θ,i − ẏ_i) / s_i),   ρ = |·| ("l1") or (·)² ("l2"),

ẏ = q̈ for second-order models; for a phase-space model (a Hamiltonian network)
its own (q̇, ṡ), the targets computed from the data's (q, q̇, q̈) by the model's
``derivative_target``. This *derivative loss* is what ``lnn compare`` reports.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from lnn.data import Dataset, as_arrays, loss_scale
from lnn.errors import DataError
from lnn.mechanics import AbstractDynamics
from lnn.training._config import Loss

Samples = tuple[Array, ...]
"""Arrays whose leading axis indexes samples (minibatches pick along it)."""
Constants = tuple[Array, ...]
"""Arrays every batch shares (e.g. normalising scales)."""


class AbstractObjective(eqx.Module):
    """What :func:`lnn.fit` fits: what one sample is, and how a batch of them is scored.

    Other ways of learning (e.g. trajectory matching) define their own objective
    and reuse the same optimiser, schedule, validation, checkpoints and progress.
    Each has a ``loss`` setting, ``"l1"`` or ``"l2"``.
    """

    @abc.abstractmethod
    def prepare(self, model: Any, train: Any, val: Any, dtype) -> tuple[Samples, Samples, Constants]:
        """(training samples, validation samples, constants) from the two datasets, in ``dtype``."""

    @abc.abstractmethod
    def __call__(self, model: Any, samples: Samples, constants: Constants) -> Array:
        """The scalar loss of ``model`` (what is trained: see :meth:`export`) on a batch of samples."""

    @abc.abstractmethod
    def with_loss(self, loss: Loss) -> AbstractObjective:
        """The same objective with ``"l1"`` or ``"l2"`` (L-BFGS refines the squared form)."""

    def export(self, trained: Any) -> Any:
        """The model inside what was trained (identity unless the objective trains more, e.g. initial states)."""
        return trained


def normalised_error(pred: Array, target: Array, scale: Array, loss: Loss) -> Array:
    """mean ρ((pred − target)/scale), ρ = |·| or (·)²."""
    r = (pred - target) / scale
    return jnp.mean(jnp.abs(r)) if loss == "l1" else jnp.mean(r**2)


def acceleration_loss(
    model: AbstractDynamics,
    q: Array,
    qdot: Array,
    target: Array,
    scale: Array,
    loss: Loss = "l1",
    force: Array | None = None,
) -> Array:
    """The derivative loss of ``model`` on a batch ``(B, n)`` (module docstring).

    ``target``: q̈ for second-order models, else :func:`derivative_targets` of the
    data. ``force``, shape ``(B, n)``: the generalized force τ at each state (a
    driven system); the model's derivatives are then those under τ.
    """
    return normalised_error(model.derivatives(q, qdot, force), target, scale, loss)


def derivative_targets(model: AbstractDynamics, dataset: Dataset) -> np.ndarray:
    """What ``model`` is trained to predict at each state of ``dataset``, shape ``(N, k)`` (float64)."""
    q, qdot, qddot = as_arrays(dataset)
    return np.asarray(_targets(model, q, qdot, qddot))


@eqx.filter_jit
def _targets(model: AbstractDynamics, q, qdot, qddot):
    return jax.vmap(model.derivative_target)(q, qdot, qddot)


def derivative_loss(
    model: AbstractDynamics, dataset: Dataset, *, loss: Loss = "l1", scale: np.ndarray | None = None
) -> float:
    """The derivative loss of ``model`` on every state of ``dataset`` (what models are compared on).

    ``scale`` defaults to :func:`~lnn.data.loss_scale` of the targets over ``dataset``.
    """
    targets = derivative_targets(model, dataset)
    scale = loss_scale(targets) if scale is None else scale
    q, qdot, _ = as_arrays(dataset)
    force = None if dataset.force is None else jnp.asarray(dataset.force)
    return float(_acceleration_loss_jit(model, q, qdot, jnp.asarray(targets), jnp.asarray(scale), loss, force))


_acceleration_loss_jit = eqx.filter_jit(acceleration_loss)  # one compile per model structure and shapes


class AccelerationObjective(AbstractObjective):
    """The default objective: :func:`acceleration_loss` on states with known q̈ (and τ, if driven)."""

    loss: Loss = eqx.field(static=True, default="l1")

    def prepare(self, model: AbstractDynamics, train: Dataset, val: Dataset, dtype):
        if (train.force is None) != (val.force is None):
            raise DataError("the training and validation datasets must both have generalized forces or both not.")
        if train.force is not None and not model.takes_force:
            raise DataError(
                f"the data carry generalized forces, but a {type(model).__name__} takes none; learn a "
                "driven system with a Lagrangian model (an LNN, optionally with dissipation) or a black "
                "box with force inputs."
            )
        train_targets = derivative_targets(model, train)
        scale = jnp.asarray(loss_scale(train_targets), dtype=dtype)
        return (_samples(train, train_targets, dtype), _samples(val, derivative_targets(model, val), dtype), (scale,))

    def __call__(self, model: AbstractDynamics, samples: Samples, constants: Constants) -> Array:
        q, qdot, target, *force = samples  # samples end with τ for a driven system
        (scale,) = constants
        return acceleration_loss(model, q, qdot, target, scale, self.loss, force[0] if force else None)

    def with_loss(self, loss: Loss) -> AccelerationObjective:
        return dataclasses.replace(self, loss=loss)


def _samples(dataset: Dataset, targets: np.ndarray, dtype) -> Samples:
    q, qdot, _ = as_arrays(dataset, dtype)
    force = () if dataset.force is None else (jnp.asarray(dataset.force, dtype=dtype),)
    return (q, qdot, jnp.asarray(targets, dtype=dtype), *force)
