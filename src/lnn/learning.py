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
import functools
import time
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from lnn import data as data_mod
from lnn import derivatives, metrics, observations, trajectory_matching
from lnn.errors import DataError
from lnn.experiment import build_model
from lnn.observations import Observations
from lnn.train import TrainConfig, fit, refine, write_metrics_csv

METHODS = ("derivatives", "matching")
INITIAL_STATES = ("free", "estimated")


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
        initial: ``"free"`` (each training window's initial state is optimised
            with the model; windows do not overlap) or ``"estimated"``
            (smoothed; windows start at every sample). See
            :mod:`lnn.trajectory_matching`.
        longer_windows: free initial states only: after training, re-cut the
            motion into windows of each of these sample counts in turn (same
            ``every``; each span a whole number of the previous one's, so each
            window starts where a trained one did and takes its state), and
            refine model and states on them by L-BFGS
            (``TrainConfig.lbfgs_steps`` iterations per stage). Long windows
            tie the phase over many periods, which short free windows cannot.
            With free states, every L-BFGS stage (the polish on ``window``
            too) starts by relinking them
            (:meth:`~lnn.trajectory_matching.FreeInitialStates.relinked`):
            a window the Adam stage left trapped would otherwise dominate the
            squared loss and bend the model (measured on the noisy pendulum:
            one such window took a model from 0.010 to 0.31 error at 10 s).
        warm_start: matching only: a fit of the model for this many steps to
            the derivative estimate (the ``"derivatives"`` method's training:
            acceleration loss on the smoothed q̇, q̈, :class:`TrainConfig`'s
            defaults, batches of 256; not checkpointed, not in the history),
            to match from. Cheap next to matching.
        warm_start_if: ``"always"`` (match from the warm start) or
            ``"stalled"``: match from the random network, and only if the
            Adam stage stalls — its training loss above
            :data:`STALL_FACTOR` × :func:`noise_floor` — train it again from
            the warm start and keep the run with the lower training loss (the
            restart is not checkpointed; its history rows replace the first
            run's when kept, and the last Adam row says ``warm_restart``
            1 = kept, 0 = tried). A random network's dynamics are far from
            every window, and Adam can stall there with free states drifting
            to wrong motions: on the noisy pendulum of ``benchmarks/noise.py``
            1 run in 6, training loss 0.75 after 6,000 steps against the
            noise's 0.008. Warm-started, that run reached the noise floor; but
            always warm-starting left runs that had not stalled about 2×
            worse at 10 s (0.0062 against 0.0030, 0.014 against 0.0027),
            though at the same training loss — hence ``"stalled"``.
    """

    method: str = "matching"
    smoother: str = "spline"
    savgol_window: int = 15
    savgol_order: int = 4
    window: int = 11
    every: int = 3
    dt: float = 0.05
    initial: str = "estimated"
    longer_windows: tuple[int, ...] = ()
    warm_start: int = 0
    warm_start_if: str = "always"

    def __post_init__(self):
        if self.method not in METHODS:
            raise DataError(f"unknown learning method {self.method!r}; choose one of {', '.join(METHODS)}.")
        if self.initial not in INITIAL_STATES:
            raise DataError(f"unknown initial states {self.initial!r}; choose one of {', '.join(INITIAL_STATES)}.")
        if self.longer_windows and (self.method != "matching" or self.initial != "free"):
            raise DataError("longer_windows refine free initial states; use method='matching' with initial='free'.")
        if self.warm_start < 0 or (self.warm_start and self.method != "matching"):
            raise DataError(f"warm_start is a number of steps (>= 0) before trajectory matching; got "
                            f"warm_start={self.warm_start} with method={self.method!r}.")
        if self.warm_start_if not in ("always", "stalled"):
            raise DataError(f"warm_start_if must be 'always' or 'stalled'; got {self.warm_start_if!r}.")
        lengths = (self.window, *self.longer_windows)
        if any((b - 1) % (a - 1) or b <= a for a, b in zip(lengths, lengths[1:])):
            raise DataError(f"each of longer_windows must be longer than the one before and span a whole number of "
                            f"its intervals (length − 1 a multiple); got window={self.window}, "
                            f"longer_windows={self.longer_windows}.")


def estimate(obs: Observations, config: LearningConfig):
    """The derivative estimate of ``obs`` with ``config``'s smoother."""
    return derivatives.estimate(obs, method=config.smoother, window=config.savgol_window, order=config.savgol_order)


# A stalled Adam stage ends far above the noise; one that only left a few windows trapped, about 2× (measured).
STALL_FACTOR = 5.0


def noise_floor(obs: Observations, est, kind: str = "l1") -> float:
    """The matching loss a model of the true motion would have, estimated from the smoother's residual.

    mean ρ((q − q̂)/σ) over the observations, q̂ the smoothed positions of
    ``est``, angle differences wrapped, σ each coordinate's spread,
    ρ = |·| (``"l1"``) or (·)² (``"l2"``): the noise, in the matching loss's
    units (a little below it: the smoother absorbs some noise).
    """
    r = metrics.wrapped_difference(obs.q, est.q, obs.angles) / observations.spread(obs.q, obs.angles)
    return float(np.mean(np.abs(r)) if kind == "l1" else np.mean(r**2))


def training_sets(obs: Observations, config: LearningConfig, train_config: TrainConfig, key: jax.Array,
                  est=None):
    """``(train, val, estimate)``: what :func:`fit` gets for ``config.method``, split as the module says.

    ``est``: the derivative estimate of ``obs`` when it has been made already.
    """
    est = estimate(obs, config) if est is None else est
    if len(obs.segments()) >= 2:
        # The same trajectories as lnn.data.split picks for a Dataset with this key (a benchmark's exact reference).
        obs_train, obs_val = data_mod.split(obs, train_config.val_fraction, key)
        in_val = np.isin(obs.trajectory, np.unique(obs_val.trajectory))
        est_train, est_val = est.subset(~in_val), est.subset(in_val)
    else:
        obs_train, obs_val = obs.split_in_time(1 - train_config.val_fraction)
        est_train, est_val = estimate(obs_train, config), estimate(obs_val, config)
    if config.method == "derivatives":
        return est_train, est_val, est
    span = (config.window - 1) * config.every + 1
    # Free initial states: non-overlapping training windows, so each free state is drawn often.
    stride = span - 1 if config.initial == "free" else 1
    make = lambda o, e, k: trajectory_matching.windows(o, length=config.window, every=config.every,  # noqa: E731
                                                        stride=k, initial=e)
    return make(obs_train, est_train, stride), make(obs_val, est_val, 1), est


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
    split_key: jax.Array | None = None,
    **model_options: Any,
):
    """Train a fresh ``kind`` model (``"lnn"`` or ``"baseline"``) on ``obs``; returns ``(model, history)``.

    ``split_key`` fixes the validation split (default: drawn from ``key``), so
    that several seeds can be compared on the same training motions.
    """
    if config.longer_windows and not train_config.lbfgs_steps:
        raise DataError("longer_windows are refined by L-BFGS: set TrainConfig.lbfgs_steps > 0.")
    k_split, k_model, k_fit = jax.random.split(key, 3)
    k_split = k_split if split_key is None else split_key
    train, val, est = training_sets(obs, config, train_config, k_split)
    net = build_model(kind, obs, est, k_model, width=width, depth=depth, dtype=dtype, **model_options)
    label = label or f"{kind} ({config.method})"
    warm = functools.partial(_warm_start, obs=obs, est=est, config=config, train_config=train_config,
                             k_split=k_split, key=jax.random.fold_in(k_fit, 1), progress=progress, label=label)
    if config.method == "matching" and config.warm_start and config.warm_start_if == "always":
        net = warm(net)
    objective, start = None, lambda m: m  # noqa: E731
    if config.method == "matching":
        objective = trajectory_matching.TrajectoryObjective.for_windows(train, val, dt=config.dt,
                                                                        kind=train_config.loss)
        if config.initial == "free":
            start = functools.partial(trajectory_matching.FreeInitialStates.start, w=train)
    # Free initial states are relinked before every L-BFGS stage, so those stages are run here, not in fit.
    staged = config.method == "matching" and config.initial == "free" and train_config.lbfgs_steps > 0
    adam_config = dataclasses.replace(train_config, lbfgs_steps=0) if staged else train_config
    run = functools.partial(fit, dataset=train, key=k_fit, config=adam_config, val_dataset=val, progress=progress,
                            objective=objective, export=objective is None)
    trained, history = run(start(net), out=out, label=label)
    if objective is not None and config.warm_start and config.warm_start_if == "stalled":
        dtype = jax.tree.leaves(eqx.filter(net, eqx.is_inexact_array))[0].dtype
        samples, _, constants = objective.prepare(train, val, dtype)
        loss = functools.partial(eqx.filter_jit(objective.loss), samples=samples, constants=constants)
        first = float(loss(trained))
        if first > STALL_FACTOR * noise_floor(obs, est, train_config.loss):
            again, again_history = run(start(warm(net)), out=None, label=f"{label}, from the warm start (stalled)")
            kept = float(loss(again)) < first
            if kept:
                trained, history = again, again_history
            history[-1] = {**history[-1], "warm_restart": int(kept)}
    if objective is not None:
        trained = trained if staged else objective.export(trained)
    if not staged:
        if out is not None and "warm_restart" in history[-1]:
            write_metrics_csv(Path(out) / "metrics.csv", history)
        return trained, history
    for length in (config.window, *config.longer_windows):
        stage = dataclasses.replace(config, window=length, longer_windows=())
        trained, train, row = _refine_stage(trained, train, obs, est, stage, train_config, k_split, progress, label)
        history.append({**row, "step": history[-1]["step"] + train_config.lbfgs_steps,
                        "time": history[-1]["time"] + row["time"]})  # wall time since training began, as fit's
    if out is not None:
        write_metrics_csv(Path(out) / "metrics.csv", history)
    return trained.model, history


def _warm_start(model, *, obs, est, config, train_config, k_split, key, progress, label):
    """``model`` fitted for ``config.warm_start`` steps to the derivative estimate (same split)."""
    # est: the derivative estimate already made, not smoothed again.
    train, val, _ = training_sets(obs, LearningConfig(method="derivatives"), train_config, k_split, est)
    steps = config.warm_start
    warm = TrainConfig(steps=steps, eval_every=max(steps // 5, 1), warmup_steps=min(500, steps // 10),
                       batch_size=max(256 // train_config.devices, 1) * train_config.devices,
                       devices=train_config.devices, val_fraction=train_config.val_fraction)
    return fit(model, train, key=key, config=warm, val_dataset=val, progress=progress,
               label=f"{label}, warm start on the derivative estimate")[0]


def _refine_stage(trained, windows_before, obs, est, config, train_config, k_split, progress, label):
    """L-BFGS on ``config.window``-sample windows: states carried over from ``windows_before``, then relinked.

    The history row's losses are squared (L-BFGS's), and it counts the windows
    whose state relinking replaced (``relinked``).
    """
    t0 = time.perf_counter()
    train, val, _ = training_sets(obs, config, train_config, k_split, est)
    objective = trajectory_matching.TrajectoryObjective.for_windows(train, val, dt=config.dt, kind="l2")
    states, choice = trained.carried_to(windows_before, train).relinked(train, objective)
    params, static = eqx.partition(states, eqx.is_inexact_array)
    samples, val_samples, constants = objective.prepare(train, val, jax.tree.leaves(params)[0].dtype)
    params, loss = refine(params, static, objective, (samples, constants), train_config.lbfgs_steps,
                          progress=progress, label=f"{label}, {config.window}-sample windows (L-BFGS)")
    refined = eqx.combine(params, static)
    val_loss = float(eqx.filter_jit(objective.loss)(refined.model, val_samples, constants))
    return refined, train, {"time": round(time.perf_counter() - t0, 3), "train_loss": loss, "val_loss": val_loss,
                            "learning_rate": float("nan"), "skipped": 0, "relinked": int(np.count_nonzero(choice))}
