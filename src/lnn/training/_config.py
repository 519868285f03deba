"""The training loop's settings: :class:`TrainConfig`."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from lnn.errors import ConfigurationError

Loss = Literal["l1", "l2"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`lnn.fit`.

    Attributes:
        steps: the length of the schedule, in optimiser updates. With
            ``time_budget`` (seconds, compilation included) training also stops
            when the budget runs out; with ``steps=None`` the schedule length is
            fitted to the budget from the measured speed of the first steps. The
            budget bounds the whole of training: with ``lbfgs_steps`` Adam stops
            at 1 − :data:`~lnn.training.LBFGS_SHARE` of it and L-BFGS at the end
            (and :func:`~lnn.observed.fit_observations` fits its warm start and
            stages into it too).
        batch_size: states (or windows) per minibatch.
        learning_rate, final_lr, warmup_steps: Adam's peak rate, reached by a
            linear warm-up, then a cosine decay to ``final_lr`` at the last step.
        clip_norm: optional global-norm clipping of the gradient.
        loss: ``"l1"`` (mean absolute normalised error) or ``"l2"`` (squared).
        val_fraction: share of the trajectories held out for validation when no
            validation set is given.
        eval_every: updates between validation evaluations (and checkpoints).
        patience: stop after this many evaluations without a better validation
            loss (None: never).
        max_bad_steps: consecutive non-finite losses or gradients that stop
            training with :class:`~lnn.errors.TrainingDivergedError` (each one is
            skipped: no update).
        chunk: updates compiled into one call (``lax.scan``); the last chunk of a
            schedule runs only the updates that remain.
        devices: data-parallel devices (the minibatch is split over them).
        weight_decay: λ, decoupled decay of the networks' weight matrices only
            (not biases, scalars or free initial states), as in AdamW:
            w ← w − lr·(adam(g) + λ w). A smoothness prior; tune it on held-out
            data over several seeds (``benchmarks/noise.py``).
        lbfgs_steps: > 0 ends training with that many full-batch L-BFGS
            iterations (``optax.lbfgs``, zoom line search) on the squared loss,
            from the best parameters Adam found: a polish for problems small
            enough to score whole, which Adam's noisy decaying steps leave short
            of the minimum. Kept only if it lowers the training loss; not
            checkpointed; weight decay does not act in it.
    """

    steps: int | None = 20_000
    batch_size: int = 256
    learning_rate: float = 3e-3
    final_lr: float = 3e-6
    warmup_steps: int = 500
    clip_norm: float | None = None
    loss: Loss = "l1"
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
            raise ConfigurationError("give steps, time_budget, or both.")
        if self.steps is not None and self.steps < 1:
            raise ConfigurationError(f"steps must be >= 1; got {self.steps}.")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ConfigurationError(f"time_budget must be positive seconds (or None); got {self.time_budget}.")
        if self.loss not in ("l1", "l2"):
            raise ConfigurationError(f"unknown loss {self.loss!r}; choose 'l1' or 'l2'.")
        if self.batch_size < 1 or not self.learning_rate > 0 or self.final_lr < 0:
            raise ConfigurationError("batch_size must be >= 1, learning_rate > 0 and final_lr >= 0.")
        if self.warmup_steps < 0 or self.eval_every < 1 or self.chunk < 1 or self.max_bad_steps < 1:
            raise ConfigurationError("warmup_steps must be >= 0, and eval_every, chunk and max_bad_steps >= 1.")
        if not 0 < self.val_fraction < 1:
            raise ConfigurationError(f"val_fraction must be between 0 and 1; got {self.val_fraction}.")
        if self.weight_decay < 0 or self.lbfgs_steps < 0:
            raise ConfigurationError(
                f"weight_decay and lbfgs_steps must be >= 0; got {self.weight_decay} and {self.lbfgs_steps}."
            )
        if self.devices < 1 or self.batch_size % self.devices:
            raise ConfigurationError(
                f"batch_size ({self.batch_size}) must split evenly over devices "
                f"({self.devices}); choose a batch size that is a multiple of the device count."
            )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
