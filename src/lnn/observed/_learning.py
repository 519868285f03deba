r"""Learn a model from measured motion (positions over time), by either of two methods, each a typed config.

* :class:`FromDerivatives` — estimate q̇ and q̈ by smoothing (:mod:`._smoothing`),
  then fit the usual acceleration loss. Cheap per step; its accuracy is bounded
  by how well q̈ can be estimated (second differences amplify noise by 1/Δt²,
  and smoothing that tames the noise also flattens the peaks of q̈).
* :class:`TrajectoryMatching` — integrate the model over short windows and match
  the observed positions (:mod:`._matching`). No second derivative of data is
  taken; each step costs one short rollout. Each window's initial state is
  :class:`EstimatedStates` (smoothed) or :class:`FreeStates` (optimised with the
  model, optionally refined on longer windows), and a :class:`WarmStart` can
  first fit the derivative estimate.

Both run :func:`lnn.fit` (same optimiser, schedule, validation, checkpoints and
progress). Validation is split by trajectory, or, when there is only one, the
last ``val_fraction`` of it in time.
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

from lnn._angles import spread, wrapped_difference
from lnn.data import Dataset, split
from lnn.errors import ConfigurationError, DataError
from lnn.mechanics import AbstractDynamics
from lnn.observed._matching import FreeInitialStates, TrajectoryObjective, Windows, windows
from lnn.observed._observations import Observations
from lnn.observed._smoothing import KnotSpline, Smoother, estimate
from lnn.training import LBFGS_SHARE, Loss, TrainConfig, build_model, fit, refine, write_metrics_csv


@dataclasses.dataclass(frozen=True)
class FromDerivatives:
    """Learn from the derivative estimate: the acceleration loss on smoothed q̇, q̈.

    ``smoother``: the estimate (:func:`~lnn.observed.estimate`); it passes the
    residual check or training stops with a :class:`~lnn.errors.DataError`
    before it starts.
    """

    smoother: Smoother = KnotSpline()


@dataclasses.dataclass(frozen=True)
class EstimatedStates:
    """Each matching window starts from the smoothed state at its first sample; windows start at every sample."""


@dataclasses.dataclass(frozen=True)
class FreeStates:
    """Each training window's initial state is a free parameter, optimised with the model (multiple shooting).

    ``longer_windows``: after training, re-cut the motion into windows of each
    of these sample counts in turn (same ``every``; each span a whole number of
    the previous one's, so each window starts where a trained one did and
    takes its state), and refine model and states on them by L-BFGS
    (``TrainConfig.lbfgs_steps`` iterations per stage; it must be > 0). Long
    windows tie the phase over many periods, which short free windows cannot.
    Every L-BFGS stage (the polish on the training windows too) starts by
    relinking the states (:meth:`~lnn.observed.FreeInitialStates.relinked`): a
    window the Adam stage left trapped would otherwise dominate the squared loss
    and bend the model.

    ``polish``: run the L-BFGS stage on the Adam stage's own windows before the
    longer ones (``False`` goes straight to the first of ``longer_windows``; it
    needs one).
    """

    longer_windows: tuple[int, ...] = ()
    polish: bool = True

    def __post_init__(self):
        if not self.polish and not self.longer_windows:
            raise ConfigurationError("FreeStates(polish=False) refines on longer windows only: give longer_windows.")


@dataclasses.dataclass(frozen=True)
class WarmStart:
    """Before matching, fit the model for ``steps`` steps to the derivative estimate (the
    :class:`FromDerivatives` training, batches of 256; not checkpointed, not in the history).

    ``if_stalled``: match from the random network instead, and only if the Adam
    stage stalls — its training loss above :data:`STALL_FACTOR` ×
    :func:`noise_floor` — train again from the warm start and keep the run with
    the lower training loss (the last Adam row's ``warm_restart`` says 1 = kept,
    0 = tried). A random network's dynamics are far from every window and Adam
    can stall there; always warm-starting, on the other hand, left runs that had
    not stalled worse at the same training loss (``benchmarks/noise.py``).

    ``weight_decay``: the warm fit's decoupled weight decay (as
    :attr:`~lnn.training.TrainConfig.weight_decay`). L-BFGS barely changes the
    size of the weights, so a matching run keeps about the norm its warm start
    left; ``benchmarks/noise.py --warm-decay`` measures what a decay there does.
    """

    steps: int
    if_stalled: bool = False
    weight_decay: float = 0.0

    def __post_init__(self):
        if self.steps < 1:
            raise ConfigurationError(f"a warm start is a number of steps >= 1; got {self.steps}.")
        if not self.weight_decay >= 0:
            raise ConfigurationError(f"a warm start's weight decay is >= 0; got {self.weight_decay}.")


@dataclasses.dataclass(frozen=True)
class TrajectoryMatching:
    """Learn by matching positions over short windows (see the module docstring).

    ``window``: samples per window; ``every``: keep every k-th sample inside a
    window; ``dt``: the RK4 substep bound (seconds); ``smoother``: the estimate
    that gives the windows' initial states (checked as :class:`FromDerivatives`'s);
    ``initial``: :class:`EstimatedStates` or :class:`FreeStates`; ``warm_start``:
    an optional :class:`WarmStart`.
    """

    window: int = 11
    every: int = 3
    dt: float = 0.05
    smoother: Smoother = KnotSpline()
    initial: EstimatedStates | FreeStates = EstimatedStates()
    warm_start: WarmStart | None = None

    def __post_init__(self):
        if self.window < 2 or self.every < 1 or not self.dt > 0:
            raise ConfigurationError(
                f"a matching window needs at least 2 samples, every >= 1 and dt > 0; got "
                f"window={self.window}, every={self.every}, dt={self.dt}."
            )
        lengths = (self.window, *self.longer_windows)
        if any((b - 1) % (a - 1) or b <= a for a, b in zip(lengths, lengths[1:], strict=False)):
            raise ConfigurationError(
                f"each of longer_windows must be longer than the one before and span a whole number of its "
                f"intervals (length − 1 a multiple); got window={self.window}, longer_windows={self.longer_windows}."
            )

    @property
    def longer_windows(self) -> tuple[int, ...]:
        return self.initial.longer_windows if isinstance(self.initial, FreeStates) else ()

    @property
    def span(self) -> int:
        """Samples a window covers, ``(window − 1)·every + 1``."""
        return (self.window - 1) * self.every + 1


Method = FromDerivatives | TrajectoryMatching


def describe(method: Method) -> dict[str, Any]:
    """A JSON-ready record of a method (for run configs): its class and settings, nested."""
    return _describe(method)


def _describe(settings: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"method": type(settings).__name__}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        out[field.name] = _describe(value) if dataclasses.is_dataclass(value) else value
    return out


# A stalled Adam stage ends far above the noise; one that only left a few windows trapped, about 2×
# (benchmarks/noise.py).
STALL_FACTOR = 5.0
# With a time budget, the share of it the warm start may use (its 5,000 default steps take far less on the
# recordings of benchmarks/noise.py); and the least budget a stage is given when the others spent it all
# (one chunk: a stage always returns a model).
WARM_SHARE = 0.15
_LEAST_BUDGET = 1e-3


def noise_floor(obs: Observations, est: Dataset, loss: Loss = "l1") -> float:
    """The matching loss a model of the true motion would have, estimated from the smoother's residual.

    mean ρ((q − q̂)/σ) over the observations, q̂ the smoothed positions of
    ``est``, angle differences wrapped, σ each coordinate's spread,
    ρ = |·| (``"l1"``) or (·)² (``"l2"``): the noise, in the matching loss's
    units (a little below it: the smoother absorbs some noise).
    """
    r = wrapped_difference(obs.q, est.q, obs.angles) / spread(obs.q, obs.angles)
    return float(np.mean(np.abs(r)) if loss == "l1" else np.mean(r**2))


def training_sets(
    obs: Observations, method: Method, train_config: TrainConfig, key: jax.Array, est: Dataset | None = None
) -> tuple[Dataset | Windows, Dataset | Windows, Dataset]:
    """``(train, val, estimate)``: what :func:`lnn.fit` gets for ``method``, split as the module says.

    ``est``: the derivative estimate of ``obs`` when it has been made already.
    """
    est = estimate(obs, method.smoother) if est is None else est
    if len(obs.segments()) >= 2:
        # The same trajectories as lnn.data.split picks for a Dataset with this key (a benchmark's exact reference).
        _, obs_val = split(obs, train_config.val_fraction, key)
        in_val = np.isin(obs.trajectory, np.unique(obs_val.trajectory))
        obs_train, obs_val = obs.subset(~in_val), obs.subset(in_val)
        est_train, est_val = est.subset(~in_val), est.subset(in_val)
    else:
        obs_train, obs_val = obs.split_in_time(1 - train_config.val_fraction)
        _require_split_lengths(obs_train, obs_val, method, train_config.val_fraction)
        est_train, est_val = estimate(obs_train, method.smoother), estimate(obs_val, method.smoother)
    if isinstance(method, FromDerivatives):
        return est_train, est_val, est
    # Free initial states: non-overlapping training windows, so each free state is drawn often.
    stride = method.span - 1 if isinstance(method.initial, FreeStates) else 1

    def cut(o, e, k):
        return windows(o, length=method.window, every=method.every, stride=k, initial=e)

    return cut(obs_train, est_train, stride), cut(obs_val, est_val, 1), est


def _require_split_lengths(obs_train: Observations, obs_val: Observations, method: Method, fraction: float) -> None:
    """A :class:`~lnn.errors.DataError` naming the two settings to change when the time split of one
    trajectory leaves a part shorter than a window (or than the smoother needs)."""
    matching = isinstance(method, TrajectoryMatching)
    need = max(method.smoother.samples_needed, method.span if matching else 0)
    for part, o in (("validation", obs_val), ("training", obs_train)):
        if len(o) < need:
            what = (
                f"a trajectory-matching window of {need} samples ((window − 1)·every + 1)"
                if matching
                else (f"the {type(method.smoother).__name__} estimate, which needs {need} samples")
            )
            other = "shorten the window (--window, --every)" if matching else "record a longer motion"
            share = "raise" if part == "validation" else "lower"
            raise DataError(
                f"the {part} part of the one recorded trajectory (the {'last' if part == 'validation' else 'first'} "
                f"{fraction if part == 'validation' else 1 - fraction:.0%} of its time, {len(o)} samples) is shorter "
                f"than {what}; {share} the validation share (--val-fraction, TrainConfig.val_fraction) or {other}."
            )


def fit_observations(
    model: str,
    obs: Observations,
    *,
    key: jax.Array,
    method: Method = TrajectoryMatching(),
    train_config: TrainConfig = TrainConfig(),
    width: int = 64,
    depth: int = 2,
    dtype: str = "float32",
    out: str | Path | None = None,
    progress: bool = True,
    label: str | None = None,
    split_key: jax.Array | None = None,
    **model_options: Any,
) -> tuple[AbstractDynamics, list[dict[str, Any]]]:
    """Train a fresh model for the role ``model`` (``"lnn"``, ``"baseline"``, …) on ``obs``;
    returns ``(model, history)``.

    ``split_key`` fixes the validation split (default: drawn from ``key``), so
    that several seeds can be compared on the same training motions.
    """
    matching = isinstance(method, TrajectoryMatching)
    staged = matching and isinstance(method.initial, FreeStates) and train_config.lbfgs_steps > 0
    if matching and method.longer_windows and not train_config.lbfgs_steps:
        raise ConfigurationError("longer_windows are refined by L-BFGS: set TrainConfig.lbfgs_steps > 0.")
    started = time.perf_counter()
    k_split, k_model, k_fit = jax.random.split(key, 3)
    k_split = k_split if split_key is None else split_key
    train, val, est = training_sets(obs, method, train_config, k_split)
    net = build_model(model, est, k_model, angles=obs.angles, width=width, depth=depth, dtype=dtype, **model_options)
    label = label or f"{model} ({'matching' if matching else 'derivatives'})"
    if not matching:
        return fit(net, train, key=k_fit, config=train_config, val_dataset=val, progress=progress, out=out, label=label)
    warm = functools.partial(
        _warm_start,
        obs=obs,
        est=est,
        method=method,
        train_config=train_config,
        k_split=k_split,
        key=jax.random.fold_in(k_fit, 1),
        progress=progress,
        label=label,
    )
    if method.warm_start is not None and not method.warm_start.if_stalled:
        net = warm(net)
    assert isinstance(train, Windows) and isinstance(val, Windows)  # matching trains on windows
    objective = TrajectoryObjective.for_windows(train, val, dt=method.dt, loss=train_config.loss)
    train_windows = train

    def start(m):
        return FreeInitialStates.start(m, train_windows) if isinstance(method.initial, FreeStates) else m

    # Free initial states are relinked before every L-BFGS stage, so those stages are run here, not in fit.
    # A time budget bounds it all: the warm start took its share, Adam (and fit's own polish) what is left
    # of the rest but the L-BFGS stages' share, and no stage's chunk starts after the budget.
    budget, adam_budget, deadline = train_config.time_budget, None, None
    if budget is not None:
        left = budget - (time.perf_counter() - started)
        adam_budget = max(left - budget * LBFGS_SHARE if staged else left, _LEAST_BUDGET)
        deadline = started + budget
    adam_config = dataclasses.replace(
        train_config, lbfgs_steps=0 if staged else train_config.lbfgs_steps, time_budget=adam_budget
    )
    run = functools.partial(
        fit,
        dataset=train,
        key=k_fit,
        config=adam_config,
        val_dataset=val,
        progress=progress,
        objective=objective,
        export=False,
    )
    trained, history = run(start(net), out=out, label=label)
    if method.warm_start is not None and method.warm_start.if_stalled:
        samples, _, constants = objective.prepare(net, train, val, _dtype(net))
        loss = functools.partial(eqx.filter_jit(objective), samples=samples, constants=constants)
        first = float(loss(trained))
        if first > STALL_FACTOR * noise_floor(obs, est, train_config.loss):
            again, again_history = run(start(warm(net)), out=None, label=f"{label}, from the warm start (stalled)")
            kept = float(loss(again)) < first
            if kept:
                trained, history = again, again_history
            history[-1] = {**history[-1], "warm_restart": int(kept)}
    if not staged:
        if out is not None and "warm_restart" in history[-1]:
            write_metrics_csv(Path(out) / "metrics.csv", history)
        return objective.export(trained), history
    polished = (method.window,) if method.initial.polish else ()  # pyright: ignore[reportAttributeAccessIssue]
    for length in (*polished, *method.longer_windows):
        stage = dataclasses.replace(method, window=length, initial=FreeStates())
        trained, train, row = _refine_stage(
            trained, train, obs, est, stage, train_config, k_split, progress, label, deadline
        )
        iterations = row.pop("iterations")
        history.append(
            {**row, "step": history[-1]["step"] + iterations, "time": history[-1]["time"] + row["time"]}
        )  # wall time since training began, as fit's
    if out is not None:
        write_metrics_csv(Path(out) / "metrics.csv", history)
    return trained.model, history


def _dtype(model: AbstractDynamics):
    return jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))[0].dtype


def _warm_start(model, *, obs, est, method, train_config, k_split, key, progress, label):
    """``model`` fitted for ``method.warm_start.steps`` steps to the derivative estimate (same split),
    within :data:`WARM_SHARE` of a time budget."""
    train, val, _ = training_sets(obs, FromDerivatives(method.smoother), train_config, k_split, est)
    steps = method.warm_start.steps
    warm = TrainConfig(
        steps=steps,
        eval_every=max(steps // 5, 1),
        warmup_steps=min(500, steps // 10),
        batch_size=max(256 // train_config.devices, 1) * train_config.devices,
        devices=train_config.devices,
        val_fraction=train_config.val_fraction,
        weight_decay=method.warm_start.weight_decay,
        time_budget=None if train_config.time_budget is None else WARM_SHARE * train_config.time_budget,
    )
    return fit(
        model,
        train,
        key=key,
        config=warm,
        val_dataset=val,
        progress=progress,
        label=f"{label}, warm start on the derivative estimate",
    )[0]


def _refine_stage(trained, windows_before, obs, est, method, train_config, k_split, progress, label, deadline):
    """L-BFGS on ``method.window``-sample windows: states carried over from ``windows_before``, then relinked;
    no chunk of iterations starts after ``deadline`` (a :func:`time.perf_counter` reading, or None).

    The history row's losses are squared (L-BFGS's); it counts the windows
    whose state relinking replaced (``relinked``) and the ``iterations`` run.
    """
    t0 = time.perf_counter()
    train, val, _ = training_sets(obs, method, train_config, k_split, est)
    assert isinstance(train, Windows) and isinstance(val, Windows)  # matching trains on windows
    objective = TrajectoryObjective.for_windows(train, val, dt=method.dt, loss="l2")
    states, choice = trained.carried_to(windows_before, train).relinked(train, objective)
    params, static = eqx.partition(states, eqx.is_inexact_array)
    samples, val_samples, constants = objective.prepare(states.model, train, val, jax.tree.leaves(params)[0].dtype)
    params, loss, iterations = refine(
        params,
        static,
        objective,
        (samples, constants),
        train_config.lbfgs_steps,
        progress=progress,
        label=f"{label}, {method.window}-sample windows (L-BFGS)",
        deadline=deadline,
    )
    refined = eqx.combine(params, static)
    val_loss = float(eqx.filter_jit(objective)(refined.model, val_samples, constants))
    return (
        refined,
        train,
        {
            "time": round(time.perf_counter() - t0, 3),
            "train_loss": loss,
            "val_loss": val_loss,
            "learning_rate": float("nan"),
            "skipped": 0,
            "relinked": int(np.count_nonzero(choice)),
            "iterations": iterations,
        },
    )
