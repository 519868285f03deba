r"""The recipe: how to learn from a recording, read off the recording itself.

:func:`recipe` measures a recording — its sampling rate, length, number of
trajectories, the dominant period of the motion, the noise floor the smoother
measures (:func:`~lnn.observed.noise_floor`) and whether its energy decays —
and chooses from those the model, the method and its windows, and the
training settings. Each choice comes with one line saying why
(:attr:`Recipe.reasons`). Every choice is a field of the frozen
:class:`Recipe` (a :class:`TrajectoryMatching` or :class:`FromDerivatives`, a
:class:`~lnn.training.TrainConfig`, a model role), so any of them is
overridden with :func:`dataclasses.replace`.

The rules:

* **Timescale.** The dominant period T is 1 / the power-weighted mean
  frequency of the smoothed positions (each coordinate, each trajectory
  resampled evenly; the shortest of the coordinates' median periods). A matching step is
  h ≈ T / :data:`STEPS_PER_PERIOD`: ``every`` = round(h · rate) samples, so the
  windows span the same *time* at 30 Hz and at 1 kHz and cost the same per
  window. A curriculum on window length: Adam on windows of
  :data:`ADAM_PERIODS` period (short, cheap steps), L-BFGS on windows of
  :data:`LONG_PERIODS` periods (a whole number of Adam windows), each shortened
  to what the shortest trajectory holds (for a single trajectory, its training
  and its validation part: the last ``val_fraction`` of it, raised up to
  :data:`MAX_VAL_FRACTION` to hold a long window).
  The RK4 substep bound is 1.5 h (one substep per interval on jittered stamps).
* **Method.** :class:`FromDerivatives` when the estimate is as good as
  measured accelerations: noise floor below :data:`CLEAN_FLOOR` and at least
  :data:`DENSE_SAMPLES` samples per period (second differences are then
  accurate, and matching would only cost time); otherwise multiple shooting
  (:class:`FreeStates`), started from a fit of the derivative estimate
  (:class:`WarmStart`), weight decay 1 (none when the recording gives forces:
  they fix the scale of L, which the decay would shrink), and L-BFGS on the long windows only
  (``polish=False``; on the Adam windows when no longer ones fit).
* **Model.** ``lnn+dissipation`` when the recording loses energy: the energy
  proxy E(t) = Σ_i ((q_i − q̄_i)/σ_{q_i})² + (q̇_i/σ_{q̇_i})² of each
  trajectory (exactly conserved by a harmonic oscillator, and flat on average
  for a bounded regular conservative motion) falls by more than
  :data:`ENERGY_LOSS` from the first quarter of the trajectory's time to the
  last, in the median trajectory and in at least :data:`LOSING_SHARE` of
  them (trajectories of at least :data:`MEASURED_PERIODS` periods); otherwise
  ``lnn``. (A chaotic motion moves energy between coordinates, so one chaotic
  trajectory can read as losing energy.) The fallback (``structured``, with
  dissipation when the model has it) is trained when the learned mass matrix
  is indefinite on the training states (:func:`fallback_reason`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import jax
import numpy as np

from lnn._angles import unwrap_angles
from lnn.data import Dataset
from lnn.mechanics import AbstractDynamics, AbstractLagrangian, mass_matrix_report
from lnn.observed._learning import (
    FreeStates,
    FromDerivatives,
    Method,
    TrajectoryMatching,
    WarmStart,
    describe,
    fit_observations,
    noise_floor,
)
from lnn.observed._observations import Observations
from lnn.observed._smoothing import KnotSpline, Smoother, estimate
from lnn.training import TrainConfig

# A matching step is a period over this many steps (2/30 s on the pendulum's 2-s period: RK4's own phase
# error over 10 s stays far below the noise).
STEPS_PER_PERIOD = 30
# Periods an Adam-stage matching window spans, and the L-BFGS windows (a whole number of Adam windows).
ADAM_PERIODS = 0.5
LONG_PERIODS = 2.0
# Noise floor (matching-loss units, ≈ noise / spread) and samples per period below and above which the
# derivative estimate is accurate enough to learn from directly.
CLEAN_FLOOR = 1e-3
DENSE_SAMPLES = 200
# A recording loses energy when its median trajectory and at least LOSING_SHARE of them lose more than
# ENERGY_LOSS of the energy proxy from the first quarter of their time to the last; only trajectories of at
# least MEASURED_PERIODS periods count (each quarter then holds a whole period). Conservative simulated
# motions (pendulum, spring, chaotic double pendulum; 20–60 s, 1 % noise) read within ±6 % in the median;
# the first half of Schmidt & Lipson's real pendulum reads −35 %, and dissipation predicts its second
# half several times better than the LNN alone (benchmarks/measured.py).
MEASURED_PERIODS = 4
ENERGY_LOSS = 0.2
LOSING_SHARE = 2 / 3
# The most of a single trajectory held out (at its end) so that the validation part holds a window.
MAX_VAL_FRACTION = 0.25
# Steps of each stage (benchmarks/noise.py). A third of the Adam steps is as accurate on noise.py's simulated
# pendulum but not on the real recordings of benchmarks/measured.py (docs/benchmarks.md, "Noisy positions").
WARM_STEPS = 5000
ADAM_STEPS = 6000
ADAM_BATCH = 8
ADAM_LR = 1e-3
LBFGS_STEPS = 150
WEIGHT_DECAY = 1.0
DERIVATIVE_STEPS = 20_000


@dataclasses.dataclass(frozen=True)
class Measured:
    """What :func:`recipe` read off a recording.

    Attributes:
        rate: samples per second (1 / the median sampling interval).
        duration: seconds of the longest trajectory.
        trajectories: number of trajectories.
        samples: number of samples.
        period: the dominant period of the motion (s).
        noise_floor: :func:`~lnn.observed.noise_floor` of the smoother (l1 units).
        energy_change: the median trajectory's relative change of the energy proxy (negative: loses
            energy), over the trajectories of at least :data:`MEASURED_PERIODS` periods (0 when none is).
        losing: the share of those trajectories whose energy proxy falls by more than :data:`ENERGY_LOSS`.
    """

    rate: float
    duration: float
    trajectories: int
    samples: int
    period: float
    noise_floor: float
    energy_change: float
    losing: float


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The model, method and training settings chosen for a recording, and why (see the module docstring).

    Attributes:
        model: the role trained (``"lnn"`` or ``"lnn+dissipation"``).
        fallback: the role trained instead when ``model``'s learned mass matrix is indefinite (None: keep it).
        method: how it learns (:class:`TrajectoryMatching` or :class:`FromDerivatives`).
        train: the training loop's settings.
        measured: what the choices were read from.
        reasons: one line per choice.
    """

    model: str
    fallback: str | None
    method: Method
    train: TrainConfig
    measured: Measured
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready record (for a run's config)."""
        return {
            "model": self.model,
            "fallback": self.fallback,
            "learning": describe(self.method),
            "train": self.train.to_json(),
            "measured": dataclasses.asdict(self.measured),
            "reasons": list(self.reasons),
        }


def recipe(
    obs: Observations,
    *,
    method: Literal["derivatives", "matching"] | None = None,
    smoother: Smoother = KnotSpline(),
    est: Dataset | None = None,
) -> Recipe:
    """The :class:`Recipe` for ``obs`` (rules in the module docstring).

    ``method``: learn by this method whatever the recording (the rest of the recipe is still chosen for
    it); ``est``: the estimate of ``obs`` by ``smoother``, when made already.
    """
    est = estimate(obs, smoother) if est is None else est
    m = measure(obs, est)
    reasons = [
        f"recording: {m.trajectories} trajector{'y' if m.trajectories == 1 else 'ies'}, {m.samples:,} samples at "
        f"{m.rate:.3g} Hz, up to {m.duration:.3g} s; dominant period {m.period:.3g} s; noise floor {m.noise_floor:.2g}"
    ]
    dissipative = m.energy_change < -ENERGY_LOSS and m.losing >= LOSING_SHARE
    model, fallback = ("lnn+dissipation", "structured+dissipation") if dissipative else ("lnn", "structured")
    reasons.append(
        f"model {model}: the energy proxy changes by {m.energy_change:+.0%} in the median trajectory, "
        f"{m.losing:.0%} of the trajectories lose more than {ENERGY_LOSS:.0%} "
        f"({'the recording loses energy' if dissipative else 'no consistent loss'}); {fallback} if the learned "
        "mass matrix is indefinite"
    )
    samples_per_period = m.period * m.rate
    clean = m.noise_floor < CLEAN_FLOOR and samples_per_period >= DENSE_SAMPLES
    if method == "derivatives" or (method is None and clean):
        reasons.append(
            "method derivatives: "
            + (
                "asked for"
                if method
                else f"noise floor {m.noise_floor:.2g} < {CLEAN_FLOOR:g} and {samples_per_period:.0f} "
                f"samples per period ≥ {DENSE_SAMPLES}: the estimated q̈ is accurate"
            )
        )
        train = TrainConfig(steps=DERIVATIVE_STEPS, lbfgs_steps=LBFGS_STEPS)
        reasons.append(f"training: {DERIVATIVE_STEPS:,} Adam steps, then {LBFGS_STEPS} L-BFGS iterations")
        return Recipe(model, fallback, FromDerivatives(smoother), train, m, tuple(reasons))
    every = max(1, round(m.period / STEPS_PER_PERIOD * m.rate))
    step = every / m.rate
    # One trajectory: validation is the end of it in time, long enough for a long window where it allows.
    long_span = LONG_PERIODS * m.period
    val_fraction = float(np.clip(1.05 * long_span / m.duration, 0.1, MAX_VAL_FRACTION)) if m.trajectories == 1 else 0.1
    fits = max(2, (_shortest_part(obs, val_fraction) - 1) // every + 1)  # the longest window the parts hold
    window = int(np.clip(round(ADAM_PERIODS * m.period / step) + 1, 2, fits))
    # The L-BFGS windows: a whole number of Adam windows (each starts where one does), the longest up to the target.
    multiple = max(1, min(round(long_span / ((window - 1) * step)), (fits - 1) // (window - 1)))
    longer = multiple * (window - 1) + 1
    initial = FreeStates((longer,), polish=False) if multiple > 1 else FreeStates()
    matching = TrajectoryMatching(
        window=window,
        every=every,
        dt=1.5 * step,
        smoother=smoother,
        initial=initial,
        warm_start=WarmStart(WARM_STEPS),
    )
    span = (window - 1) * step
    reasons.append(
        f"method matching: {'asked for' if method else 'noise floor ' + format(m.noise_floor, '.2g')}, "
        f"{samples_per_period:.0f} samples per period; Adam on windows of {window} samples every {every} "
        f"({span:.3g} s, ≈ {span / m.period:.2g} period), free initial states; "
        + (
            f"L-BFGS on {longer}-sample windows ({multiple * span:.3g} s)"
            if multiple > 1
            else "L-BFGS on the same windows (the recording holds no longer ones)"
        )
    )
    # Measured forces fix the scale of L (τ enters as M q̈ = … + τ), which a decay towards small weights
    # pulls against; without them the scale is free and the decay only smooths (benchmarks/driven.py).
    decay = 0.0 if obs.force is not None else WEIGHT_DECAY
    train = TrainConfig(
        steps=ADAM_STEPS,
        batch_size=ADAM_BATCH,
        learning_rate=ADAM_LR,
        warmup_steps=ADAM_STEPS // 10,
        eval_every=max(ADAM_STEPS // 10, 50),
        weight_decay=decay,
        lbfgs_steps=LBFGS_STEPS,
        val_fraction=val_fraction,
    )
    if val_fraction != 0.1:
        reasons.append(f"validation: the last {val_fraction:.0%} of the one trajectory, to hold a window")
    reasons.append(
        f"training: {WARM_STEPS:,} steps on the derivative estimate, {ADAM_STEPS:,} Adam steps of matching "
        f"(batches of {ADAM_BATCH} windows, learning rate {ADAM_LR:g}, weight decay {decay:g}"
        + (", none: measured forces fix the scale of L" if obs.force is not None else "")
        + f"), {LBFGS_STEPS} L-BFGS iterations"
    )
    return Recipe(model, fallback, matching, train, m, tuple(reasons))


def measure(obs: Observations, est: Dataset) -> Measured:
    """The quantities :func:`recipe` chooses from (see :class:`Measured`); ``est`` the estimate of ``obs``."""
    segments = obs.segments()
    intervals = np.concatenate([np.diff(obs.t[seg]) for _, seg in segments])
    durations = [float(obs.t[seg[-1]] - obs.t[seg[0]]) for _, seg in segments]
    periods = [_dominant_periods(obs.t[seg], unwrap_angles(est.q[seg], obs.angles)) for _, seg in segments]
    period = float(np.min(np.median(np.stack(periods), axis=0)))
    changes = [
        _energy_change(obs.t[seg], unwrap_angles(est.q[seg], obs.angles), est.qdot[seg])
        for _, seg in segments
        if obs.t[seg[-1]] - obs.t[seg[0]] >= MEASURED_PERIODS * period
    ]
    return Measured(
        rate=float(1.0 / np.median(intervals)),
        duration=max(durations),
        trajectories=len(segments),
        samples=len(obs),
        period=period,
        noise_floor=noise_floor(obs, est),
        energy_change=float(np.median(changes)) if changes else 0.0,
        losing=float(np.mean(np.asarray(changes) < -ENERGY_LOSS)) if changes else 0.0,
    )


def _dominant_periods(t: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per coordinate, 1 / the power-weighted mean frequency of the (evenly resampled, mean-free) motion,
    shape ``(n,)``; the trajectory's duration where it does not move."""
    even = np.linspace(t[0], t[-1], t.size)
    y = np.stack([np.interp(even, t, q[:, i]) for i in range(q.shape[1])], axis=1)
    power = np.abs(np.fft.rfft(y - y.mean(axis=0), axis=0))[1:] ** 2
    freq = np.fft.rfftfreq(t.size, d=(t[-1] - t[0]) / (t.size - 1))[1:]
    total = power.sum(axis=0)
    mean = (freq @ power) / np.where(total > 0, total, 1.0)
    return np.where(total > 0, 1.0 / np.where(mean > 0, mean, 1.0), t[-1] - t[0])


def _energy_change(t: np.ndarray, q: np.ndarray, qdot: np.ndarray) -> float:
    """The relative change of E = Σ ((q − q̄)/σ_q)² + (q̇/σ_q̇)² from the first quarter of the trajectory's
    time to its last (means over each), in (−1, ∞)."""
    scale = lambda a: np.where(np.std(a, axis=0) > 0, np.std(a, axis=0), 1.0)
    energy = np.sum(((q - q.mean(axis=0)) / scale(q)) ** 2 + (qdot / scale(qdot)) ** 2, axis=1)
    s = (t - t[0]) / (t[-1] - t[0])
    return float(np.mean(energy[s >= 0.75]) / np.mean(energy[s <= 0.25]) - 1.0)


def _shortest_part(obs: Observations, val_fraction: float) -> int:
    """Samples in the shortest trajectory, or, for one trajectory, in the shorter of its training and
    validation parts (the last ``val_fraction`` of its time)."""
    segments = obs.segments()
    if len(segments) > 1:
        return min(seg.size for _, seg in segments)
    t = obs.t[segments[0][1]]
    cut = t[0] + (1 - val_fraction) * (t[-1] - t[0])
    return int(min(np.count_nonzero(t < cut), np.count_nonzero(t >= cut)))


def fallback_reason(model: AbstractDynamics, est: Dataset) -> str | None:
    """Why ``model`` should give way to the fallback — its mass matrix ∂²L/∂q̇² is indefinite (or singular)
    at some of the estimated states ``est`` — or ``None`` when it is positive definite at all of them
    (and for a model that is not a Lagrangian)."""
    if not isinstance(model, AbstractLagrangian):
        return None
    report = mass_matrix_report(model, est.q, est.qdot)
    bad = int(np.count_nonzero(~np.asarray(report.positive_definite)))
    if not bad:
        return None
    return f"the learned mass matrix ∂²L/∂q̇² is indefinite (or singular) at {bad:,} of {len(est):,} training states"


def fit_recipe(
    obs: Observations,
    chosen: Recipe,
    *,
    key: jax.Array,
    out: str | Path | None = None,
    progress: bool = True,
    **options: Any,
) -> tuple[AbstractDynamics, list[dict[str, Any]], str, str | None]:
    """Train ``chosen.model`` on ``obs`` (:func:`fit_observations` with the recipe's method and settings);
    when :func:`fallback_reason` objects, train ``chosen.fallback`` instead (into ``out``/fallback; with the
    same key, so on the same split).

    Returns ``(model, history, role, reason)``: the role trained last and the fallback's reason (None when
    the first model was kept). ``options`` go to :func:`fit_observations` (width, depth, dtype, …).
    """
    run = lambda role, folder: fit_observations(
        role, obs, key=key, method=chosen.method, train_config=chosen.train, out=folder, progress=progress, **options
    )
    model, history = run(chosen.model, out)
    if chosen.fallback is None:
        return model, history, chosen.model, None
    reason = fallback_reason(model, estimate(obs, chosen.method.smoother))
    if reason is None:
        return model, history, chosen.model, None
    model, history = run(chosen.fallback, None if out is None else Path(out) / "fallback")
    return model, history, chosen.fallback, reason
