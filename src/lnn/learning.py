r"""Learn a model from measured motion (positions over time), by either of two methods.

* ``"derivatives"`` — estimate q̇ and q̈ by smoothing (:mod:`lnn.derivatives`),
  then fit the usual acceleration loss. Cheap per step; its accuracy is bounded
  by how well q̈ can be estimated (second differences amplify noise by 1/Δt²,
  and smoothing that tames the noise also flattens the peaks of q̈).
* ``"matching"`` — trajectory matching (:mod:`lnn.trajectory_matching`):
  integrate the model over short windows and match the observed positions. No
  second derivative of data is taken; each step costs one short rollout.

Both run :func:`lnn.train.fit` (same optimiser, schedule, validation,
checkpoints and progress). Validation is split by trajectory, or, when there is
only one, the last ``val_fraction`` of it in time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import numpy as np

from lnn import data as data_mod
from lnn import derivatives, trajectory_matching
from lnn.errors import DataError
from lnn.experiment import build_model
from lnn.observations import Observations
from lnn.train import TrainConfig, fit

METHODS = ("derivatives", "matching")


@dataclasses.dataclass(frozen=True)
class LearningConfig:
    """How to learn from observations (the training loop's settings are a :class:`TrainConfig`).

    Attributes:
        method: ``"matching"`` or ``"derivatives"``.
        smoother: ``"spline"`` or ``"savgol"``: the derivative estimate (used by
            ``"derivatives"`` as training targets and by ``"matching"`` for the
            initial state of each window).
        savgol_window, savgol_order: Savitzky–Golay settings (samples, degree).
        window: samples per matching window; ``every``: keep every k-th sample
            inside a window; ``dt``: the RK4 substep bound (seconds).
    """

    method: str = "matching"
    smoother: str = "spline"
    savgol_window: int = 15
    savgol_order: int = 4
    window: int = 11
    every: int = 3
    dt: float = 0.05

    def __post_init__(self):
        if self.method not in METHODS:
            raise DataError(f"unknown learning method {self.method!r}; choose one of {', '.join(METHODS)}.")


def estimate(obs: Observations, config: LearningConfig):
    """The derivative estimate of ``obs`` with ``config``'s smoother."""
    return derivatives.estimate(obs, method=config.smoother, window=config.savgol_window, order=config.savgol_order)


def training_sets(obs: Observations, config: LearningConfig, train_config: TrainConfig, key: jax.Array):
    """``(train, val, estimate)``: what :func:`fit` gets for ``config.method``, split as the module says."""
    est = estimate(obs, config)
    ids = [t for t, _ in obs.segments()]
    if len(ids) >= 2:
        est_train, est_val = data_mod.split(est, train_config.val_fraction, key)
        in_val = np.isin(obs.trajectory, np.unique(est_val.trajectory))
        obs_train, obs_val = obs.subset(~in_val), obs.subset(in_val)
    else:
        obs_train, obs_val = obs.split_in_time(1 - train_config.val_fraction)
        est_train, est_val = estimate(obs_train, config), estimate(obs_val, config)
    if config.method == "derivatives":
        return est_train, est_val, est
    make = lambda o, e: trajectory_matching.windows(o, length=config.window, every=config.every,  # noqa: E731
                                                     initial=e)
    return make(obs_train, est_train), make(obs_val, est_val), est


def fit_observations(
    kind: str,
    obs: Observations,
    *,
    key: jax.Array,
    config: LearningConfig = LearningConfig(),
    train_config: TrainConfig = TrainConfig(),
    width: int = 64,
    depth: int = 2,
    dtype: str = "float32",
    out: str | Path | None = None,
    progress: bool = True,
    label: str | None = None,
    **model_options: Any,
):
    """Train a fresh ``kind`` model (``"lnn"`` or ``"baseline"``) on ``obs``; returns ``(model, history)``."""
    k_split, k_model, k_fit = jax.random.split(key, 3)
    train, val, est = training_sets(obs, config, train_config, k_split)
    model = build_model(kind, obs, est, k_model, width=width, depth=depth, dtype=dtype, **model_options)
    objective = None
    if config.method == "matching":
        objective = trajectory_matching.TrajectoryObjective.for_windows(train, val, dt=config.dt, kind=train_config.loss)
    return fit(model, train, key=k_fit, config=train_config, val_dataset=val, out=out, progress=progress,
               label=label or f"{kind} ({config.method})", objective=objective)
