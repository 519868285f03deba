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

**Friction and drives.** A system that loses energy to friction (Rayleigh
dissipation D) or is pushed by a force τ(t) does not conserve E; its energy
obeys the balance

    R(t) = E(t) − E(0) + ∫₀ᵗ q̇·∂D/∂q̇ dt′ − ∫₀ᵗ q̇·τ dt′ = 0

(:func:`energy_balance`). For such a system the energy error is |R(T)| / E_scale
of the true E, D and τ along the predicted rollout (for a conservative system R
is E(T) − E(0), the protocol above), and the metrics add the rate at which the
energy above rest decays (:func:`energy_decay_rate`) for the prediction and the
truth. A learned friction model is reported in physical units by
:func:`damping_report`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike
from scipy.integrate import cumulative_simpson

from lnn import mechanics
from lnn._angles import wrapped_difference
from lnn._precision import warn_if_float32
from lnn.errors import ShapeError, SingularMassMatrixError
from lnn.integrate import RK4, rollout
from lnn.mechanics import AbstractDynamics, AbstractLagrangian
from lnn.systems import System

# The truth the protocol compares with: Dopri8 at rtol = atol = 1e-11.
TRUE_SOLVER = diffrax.Dopri8()
TRUE_CONTROLLER = diffrax.PIDController(rtol=1e-11, atol=1e-11)


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Settings of :func:`evaluate` (defaults: the LNN paper's energy protocol).

    ``solver`` integrates the model (:class:`~lnn.integrate.RK4` or a Diffrax
    solver); ``threshold`` is the valid-time threshold of the position error.
    """

    n_initial: int = 40
    t_end: float = 100.0
    fps: float = 10.0
    near_rest_speed: float = 0.0
    solver: RK4 | diffrax.AbstractSolver = RK4(dt=0.005)
    threshold: float = 0.2

    def times(self) -> np.ndarray:
        return np.arange(int(round(self.t_end * self.fps)) + 1) / self.fps

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["solver"] = repr(self.solver)
        return d


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
    warn_if_float32("the energy protocol's true motions")
    q0, qdot0 = system.sample_near_rest(key, protocol.n_initial, speed=protocol.near_rest_speed)
    ts = protocol.times()
    q, qdot = rollout(
        system, q0, qdot0, ts, solver=TRUE_SOLVER, stepsize_controller=TRUE_CONTROLLER, force=_drive(system)
    )
    return Truth(ts, np.asarray(q), np.asarray(qdot))


def _drive(system: System):
    return None if system.drive_fn is None else system.drive


def evaluate(
    model: AbstractDynamics,
    system: System,
    *,
    key: jax.Array,
    protocol: Protocol = Protocol(),
    truth: Truth | None = None,
) -> Evaluation:
    """Roll out ``model`` (any dynamics) and the true system; compute the metrics.

    Pass ``truth`` (from :func:`true_rollouts` with the same key and protocol) to
    evaluate several models without integrating the true system again.
    """
    truth = true_rollouts(system, key=key, protocol=protocol) if truth is None else truth
    ts, q_true, v_true = truth
    q0, qdot0 = q_true[:, 0], v_true[:, 0]
    q_pred, v_pred = rollout(model, q0, qdot0, ts, solver=protocol.solver, force=_drive(system))
    q_pred, v_pred = np.asarray(q_pred), np.asarray(v_pred)
    e_pred = np.asarray(system.energy(q_pred, v_pred))
    e_true = np.asarray(system.energy(q_true, v_true))
    scale = system.energy_scale
    if system.conservative:
        per_ic = np.abs(e_pred[:, -1] - e_pred[:, 0]) / scale
        true_per_ic = np.abs(e_true[:, -1] - e_true[:, 0]) / scale
    else:  # energy is not conserved: measure the violation of the true energy balance instead
        per_ic, true_per_ic = (
            np.abs(_system_balance(system, ts, q, v).residual[:, -1]) / scale
            for q, v in ((q_pred, v_pred), (q_true, v_true))
        )
    failed = ~np.all(np.isfinite(q_pred) & np.isfinite(v_pred), axis=(1, 2))
    per_ic = np.where(failed | ~np.isfinite(per_ic), np.inf, per_ic)
    err = position_error(system, q_pred, q_true)
    valid = valid_prediction_time(ts, err, protocol.threshold)
    mean_err = np.mean(np.where(np.isfinite(err), err, np.inf), axis=0)
    metrics = {
        "energy_error": float(np.mean(per_ic)),
        "energy_error_median": float(np.median(per_ic)),
        "energy_error_max": float(np.max(per_ic)),
        "true_energy_error": float(np.mean(true_per_ic)),
        "failed": int(failed.sum()),
        "valid_time": float(np.median(valid)),
        "position_error_at": {
            f"{t:g}": float(mean_err[int(round(t * protocol.fps))]) for t in (1.0, 5.0, 10.0) if t <= protocol.t_end
        },
    }
    if system.dissipation_fn is not None and system.drive_fn is None:
        rest = rest_energy(system)
        metrics["energy_decay_rate"] = float(np.median(energy_decay_rate(ts, e_pred, rest)))
        metrics["true_energy_decay_rate"] = float(np.median(energy_decay_rate(ts, e_true, rest)))
    if isinstance(model, AbstractLagrangian):
        report = mechanics.mass_matrix_report(model, q0, qdot0)
        metrics["indefinite_mass_matrix_fraction"] = float(1.0 - np.mean(np.asarray(report.positive_definite)))
    return Evaluation(ts, q_pred, v_pred, q_true, v_true, e_pred, e_true, mean_err, metrics)


@eqx.filter_jit
def _accelerations(model: AbstractDynamics, q, qdot):
    return model.accelerations(q, qdot)


def acceleration_error(model: AbstractDynamics, q: ArrayLike, qdot: ArrayLike, qddot: ArrayLike) -> dict:
    """Mean absolute and relative error of the model's accelerations on states ``(N, n)``."""
    pred = np.asarray(_accelerations(model, jnp.asarray(q), jnp.asarray(qdot)))
    abs_err = np.abs(pred - np.asarray(qddot))
    return {
        "accel_mae": float(np.mean(abs_err)),
        "accel_relative_error": float(np.mean(abs_err) / np.mean(np.abs(qddot))),
    }


class EnergyBalance(NamedTuple):
    """Terms of the energy balance along motions, each of shape ``(..., T)``.

    ``energy`` E(t); ``dissipated`` ∫₀ᵗ q̇·∂D/∂q̇ (energy lost to friction, ≥ 0 for
    a PSD K); ``work`` ∫₀ᵗ q̇·τ (energy put in by the drive); ``residual``
    E(t) − E(0) + dissipated − work, which is 0 for the exact motion.
    """

    energy: np.ndarray
    dissipated: np.ndarray
    work: np.ndarray
    residual: np.ndarray


def energy_balance(lagrangian, ts, q, qdot, *, dissipation=None, force=None) -> EnergyBalance:
    r"""The energy balance of ``lagrangian`` (with friction D and drive τ) along motions ``(..., T, n)``.

    The time integrals use cumulative Simpson quadrature over the frames ``ts``
    (``(T,)``, increasing), so their error shrinks as the 4th power of the frame
    spacing for smooth motions. ``force`` is τ at each frame, ``(..., T, n)``.
    """
    ts = np.asarray(ts, dtype=float)
    q, qdot = mechanics.as_state(q, qdot)
    if q.ndim < 2 or q.shape[-2] != ts.size or ts.size < 3:
        raise ShapeError(
            f"motions must have shape (..., T, n) with T = len(ts) >= 3; got {tuple(q.shape)} for {ts.size} times."
        )
    E = np.asarray(mechanics.energy(lagrangian, q, qdot))
    zero = np.zeros_like(E)

    def integral(power):
        return cumulative_simpson(np.asarray(power), x=ts, axis=-1, initial=0.0)

    lost = zero if dissipation is None else integral(mechanics.dissipated_power(dissipation, q, qdot))
    if force is None:
        work = zero
    else:
        tau = np.asarray(mechanics.as_force(force, q.shape[-1], q.dtype))
        work = integral(np.sum(np.asarray(qdot) * np.broadcast_to(tau, q.shape), axis=-1))
    return EnergyBalance(E, lost, work, E - E[..., :1] + lost - work)


def _system_balance(system: System, ts, q, qdot) -> EnergyBalance:
    dissipation = None if system.dissipation_fn is None else system.dissipation
    force = None if system.drive_fn is None else np.asarray(jax.vmap(system.drive)(jnp.asarray(ts)))
    return energy_balance(system.lagrangian, ts, q, qdot, dissipation=dissipation, force=force)


def rest_energy(system: System, n: int = 4096) -> float:
    """The lowest potential energy over the system's configuration box (from ``n`` fixed samples)."""
    q = system.sample_configurations(jax.random.key(0), n)
    return float(jnp.min(system.potential(q)))


def energy_decay_rate(ts, energy, rest: float) -> np.ndarray:
    r"""Rate λ (1/s) of E(t) − E_rest ≈ A e^{−λt}: least-squares slope of log(E − E_rest), per row of ``(..., T)``.

    For a lightly damped oscillator with damping rate γ = K/M the energy above
    rest decays as e^{−γt}, so λ ≈ γ (oscillating within a swing, hence the fit).
    A motion that reaches rest (E − E_rest ≤ 0) or is non-finite gives NaN.
    """
    ts = np.asarray(ts, dtype=float)
    above = np.asarray(energy, dtype=float) - rest
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.log(np.where(above > 0, above, np.nan))
    t = ts - ts.mean()
    slope = np.sum(t * (y - y.mean(axis=-1, keepdims=True)), axis=-1) / np.sum(t * t)
    return -slope


def damping_report(model, q_rest=None, *, inertia=None) -> dict:
    r"""A learned friction model in physical units, at the rest configuration ``q_rest`` (default 0).

    ``model`` pairs a Lagrangian and a dissipation (``model.lagrangian``,
    ``model.dissipation``, e.g. :class:`~lnn.models.Dissipative`). With M =
    ∂²L/∂q̇², S = −∂²L/∂q² (stiffness) and K = ∂²D/∂q̇² at rest, each normal mode φ
    (S φ = ω² M φ) gets

    * ``frequency`` ω (rad/s), ``rate`` γ = φᵀKφ / φᵀMφ (1/s; the energy of the
      mode decays as e^{−γt}), ``decay_time`` 1/γ (s), ``damping_ratio``
      ζ = γ / (2ω), ``quality_factor`` Q = 1/(2ζ);
    * ``rate_matrix`` Γ = M⁻¹K (1/s), unchanged if L and D are scaled together;
    * ``mass_matrix`` M and ``damping_matrix`` K in the model's own units, which
      are physical (kg·m², N·m·s/rad) only when training fixed the scale of L,
      i.e. with generalized forces τ in physical units;
    * with the true ``inertia`` (the mass matrix, ``(n, n)`` or a scalar, e.g. m l²
      in kg·m²), the damping coefficients ``coefficient`` = inertia · Γ (N·m·s/rad
      for angles, N·s/m for lengths).
    """
    L, D = model.lagrangian, model.dissipation
    n = D.dof
    q_rest = jnp.zeros((n,)) if q_rest is None else jnp.asarray(q_rest, dtype=float).reshape(n)

    @jax.jit
    def matrices(q):  # one compiled program instead of many small eager ones
        zero = jnp.zeros_like(q)
        return mechanics.mass_matrix(L, q, zero), D.matrix(q), -jax.hessian(L, argnums=0)(q, zero)

    M, K, S = (np.asarray(a) for a in matrices(q_rest))
    if not np.all(np.linalg.eigvalsh(M) > 0):
        raise SingularMassMatrixError(
            f"the learned ∂²L/∂q̇² at the rest configuration {np.asarray(q_rest).tolist()} is not positive definite "
            f"(eigenvalues {np.linalg.eigvalsh(M).tolist()}), so the model has no damped normal modes there; "
            "train longer or pick a rest configuration inside the training data."
        )
    omega2, modes = _generalized_eigh(S, M)
    rates = np.einsum("in,ij,jn->n", modes, K, modes) / np.einsum("in,ij,jn->n", modes, M, modes)
    with np.errstate(invalid="ignore", divide="ignore"):
        omega = np.sqrt(omega2)
        zeta = rates / (2 * omega)
        report = {
            "rate_matrix": np.linalg.solve(M, K).tolist(),
            "mass_matrix": M.tolist(),
            "damping_matrix": K.tolist(),
            "frequency": omega.tolist(),
            "rate": rates.tolist(),
            "decay_time": (1.0 / rates).tolist(),
            "damping_ratio": zeta.tolist(),
            "quality_factor": (1.0 / (2 * zeta)).tolist(),
        }
    if inertia is not None:
        inertia = np.asarray(inertia, dtype=float)
        inertia = inertia * np.eye(n) if inertia.ndim == 0 else inertia
        if inertia.shape != (n, n):
            raise ShapeError(f"inertia must be a scalar or an ({n}, {n}) mass matrix; got shape {inertia.shape}.")
        report["coefficient"] = (inertia @ np.linalg.solve(M, K)).tolist()
    return report


def _generalized_eigh(S, M):
    """ω² and M-orthonormal modes of S φ = ω² M φ (M symmetric positive definite)."""
    chol = np.linalg.cholesky(M)
    inv = np.linalg.inv(chol)
    w, v = np.linalg.eigh(inv @ S @ inv.T)
    return w, inv.T @ v
