r"""How good is a learned model? Rollout-based metrics, including the LNN paper's energy protocol.

**Energy error (the paper's protocol).** From ``n_initial`` = 40 initial
conditions near rest (configurations uniform over the system's box, q̇ = 0),
integrate the model to t = 100 s, saving 10 frames/s. The error of one
initial condition is

    |E_true(q̂(T), q̂̇(T)) − E_true(q(0), q̇(0))| / E_scale,

E_true the true system's energy and E_scale its maximum potential energy (29.4
for the paper's double pendulum). The reported figure is the mean over initial
conditions; a rollout that blew up (non-finite) counts as an infinite error and
is also counted in ``failed``.

**Position error over time.** e(t) = RMS over coordinates of (q̂ − q)/σ, σ the
spread of each true coordinate over the evaluation; angle differences are
wrapped to (−π, π]. Averaged over initial conditions.

**Valid-prediction time.** Per initial condition, the time until e(t) first
exceeds ``threshold`` (0.2 by default); the median over initial conditions.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lnn import mechanics
from lnn.integrate import rollout
from lnn.systems import System


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Settings of :func:`evaluate` (defaults: the LNN paper's energy protocol)."""

    n_initial: int = 40
    t_end: float = 100.0
    fps: float = 10.0
    near_rest_speed: float = 0.0
    method: str = "rk4"
    dt: float = 0.005
    threshold: float = 0.2

    def times(self) -> np.ndarray:
        return np.arange(int(round(self.t_end * self.fps)) + 1) / self.fps


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Rollouts of a model and of the truth from the same initial conditions, and their metrics."""

    ts: np.ndarray  # (T,)
    q_pred: np.ndarray  # (N, T, n)
    qdot_pred: np.ndarray
    q_true: np.ndarray
    qdot_true: np.ndarray
    energy_pred: np.ndarray  # (N, T) true energy along predicted rollouts
    energy_true: np.ndarray  # (N, T) true energy along true rollouts
    position_error: np.ndarray  # (T,) mean over initial conditions
    metrics: dict


def wrapped_difference(a, b, angles) -> np.ndarray:
    """a − b, with differences of angle coordinates wrapped to (−π, π]."""
    d = np.asarray(a) - np.asarray(b)
    with np.errstate(invalid="ignore"):  # inf/NaN of a blown-up rollout stay NaN
        wrapped = np.mod(d + np.pi, 2 * np.pi) - np.pi
    return np.where(np.asarray(angles, dtype=bool), wrapped, d)


def position_error(system: System, q_pred, q_true) -> np.ndarray:
    """e per initial condition and time, shape ``(N, T)`` (see module docstring)."""
    d = wrapped_difference(q_pred, q_true, system.angles)
    spread = np.std(wrapped_difference(q_true, np.mean(q_true, axis=(0, 1)), system.angles), axis=(0, 1)) + 1e-12
    return np.sqrt(np.mean((d / spread) ** 2, axis=-1))


def valid_prediction_time(ts, errors, threshold: float) -> np.ndarray:
    """Per row of ``errors`` ``(N, T)``, the first time the error exceeds ``threshold`` (``ts[-1]`` if never)."""
    errors = np.where(np.isfinite(errors), errors, np.inf)
    over = errors > threshold
    first = np.where(over.any(axis=1), over.argmax(axis=1), len(ts) - 1)
    return np.asarray(ts)[first]


class Truth(NamedTuple):
    """The protocol's initial conditions and the true system's rollouts from them."""

    ts: np.ndarray  # (T,)
    q: np.ndarray  # (N, T, n)
    qdot: np.ndarray


def true_rollouts(system: System, *, key: jax.Array, protocol: Protocol = Protocol()) -> Truth:
    """Initial conditions near rest and the true motion from them (Dopri8, rtol = atol = 1e-11)."""
    q0, qdot0 = system.sample_near_rest(key, protocol.n_initial, speed=protocol.near_rest_speed)
    ts = protocol.times()
    q, qdot = rollout(system.lagrangian, q0, qdot0, ts, method="adaptive", solver="dopri8", rtol=1e-11, atol=1e-11)
    return Truth(ts, np.asarray(q), np.asarray(qdot))


def evaluate(model, system: System, *, key: jax.Array, protocol: Protocol = Protocol(),
             truth: Truth | None = None) -> Evaluation:
    """Roll out ``model`` (any dynamics) and the true system; compute the metrics.

    Pass ``truth`` (from :func:`true_rollouts` with the same key and protocol) to
    evaluate several models without integrating the true system again.
    """
    truth = true_rollouts(system, key=key, protocol=protocol) if truth is None else truth
    ts, q_true, v_true = truth
    q0, qdot0 = q_true[:, 0], v_true[:, 0]
    q_pred, v_pred = rollout(model, q0, qdot0, ts, method=protocol.method, dt=protocol.dt)
    q_pred, v_pred = np.asarray(q_pred), np.asarray(v_pred)
    e_pred = np.asarray(system.energy(q_pred, v_pred))
    e_true = np.asarray(system.energy(q_true, v_true))
    scale = system.energy_scale
    per_ic = np.abs(e_pred[:, -1] - e_pred[:, 0]) / scale
    failed = ~np.all(np.isfinite(q_pred) & np.isfinite(v_pred), axis=(1, 2))
    per_ic = np.where(failed | ~np.isfinite(per_ic), np.inf, per_ic)
    err = position_error(system, q_pred, q_true)
    valid = valid_prediction_time(ts, err, protocol.threshold)
    mean_err = np.mean(np.where(np.isfinite(err), err, np.inf), axis=0)
    metrics = {
        "energy_error": float(np.mean(per_ic)),
        "energy_error_median": float(np.median(per_ic)),
        "energy_error_max": float(np.max(per_ic)),
        "true_energy_error": float(np.mean(np.abs(e_true[:, -1] - e_true[:, 0]) / scale)),
        "failed": int(failed.sum()),
        "valid_time": float(np.median(valid)),
        "position_error_at": {f"{t:g}": float(mean_err[int(round(t * protocol.fps))])
                              for t in (1.0, 5.0, 10.0) if t <= protocol.t_end},
    }
    if _is_lagrangian(model, system.dof):
        report = mechanics.mass_matrix_report(model, q0, qdot0)
        metrics["indefinite_mass_matrix_fraction"] = float(1.0 - np.mean(np.asarray(report.positive_definite)))
    return Evaluation(ts, q_pred, v_pred, q_true, v_true, e_pred, e_true, mean_err, metrics)


def acceleration_error(model, q, qdot, qddot) -> dict:
    """Mean absolute and relative error of the model's accelerations on states ``(N, n)``."""
    f = mechanics.as_dynamics(model)
    pred = np.asarray(jax.jit(jax.vmap(f))(jnp.asarray(q), jnp.asarray(qdot)))
    abs_err = np.abs(pred - np.asarray(qddot))
    return {
        "accel_mae": float(np.mean(abs_err)),
        "accel_relative_error": float(np.mean(abs_err) / np.mean(np.abs(qddot))),
    }


def _is_lagrangian(model, dof: int) -> bool:
    if hasattr(model, "phase_field"):  # a scalar of (q, p), e.g. a Hamiltonian, is not an L(q, q̇)
        return False
    q = jnp.zeros((dof,))
    return jax.eval_shape(model, q, q).shape == ()
