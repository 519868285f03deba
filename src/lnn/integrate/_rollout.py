r"""Rollouts: integrate any dynamics from many initial conditions at once.

Two kinds of solver, passed as objects:

* :class:`RK4` — classical Runge–Kutta, order 4, fixed step: each output
  interval is split into equal substeps no longer than ``dt``, so every output
  time is stepped onto exactly. Predictable cost. Diffrax has no classical RK4,
  and a fixed grid through ``diffeqsolve`` costs more per step than this
  ``lax.scan`` (``benchmarks/rollout.py`` measures both); trajectory matching
  differentiates through it.
* any Diffrax solver (``diffrax.Tsit5()``, ``diffrax.Dopri8()``, …) with a Diffrax
  step-size controller (default ``diffrax.PIDController(rtol=1e-8, atol=1e-8)``).

Neither is symplectic; at the default settings their energy error is far below
what a learned model's own error produces (see the tests).

A driven system takes a generalized force τ(t) (``force=``): a function of time,
or values at the output times, linearly interpolated in between (measured
torques). Each dynamics is integrated in its own phase space (q, s)
(:class:`~lnn.mechanics.AbstractDynamics`: ``encode``/``phase_field``/``decode``),
converted at the two ends only, so every model is rolled out in the coordinates
it was built for and reported in (q, q̇).
"""

from __future__ import annotations

from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from lnn._typing import States, TimedForces, Times
from lnn.errors import ConfigurationError, DataError, ModelTypeError, ShapeError
from lnn.mechanics import AbstractDynamics, EulerLagrange, Lagrangian, as_force, as_state


class RK4(eqx.Module):
    """Classical Runge–Kutta, order 4, fixed step: every output interval in equal substeps ≤ ``dt``."""

    dt: float = eqx.field(static=True, default=0.01)

    def __check_init__(self):
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise ConfigurationError(f"the RK4 time step dt must be positive; got {self.dt}.")

    def substeps(self, ts: np.ndarray) -> int:
        """Substeps per output interval: enough that the longest interval's are ≤ dt."""
        return max(1, int(np.ceil(np.max(np.abs(np.diff(ts))) / self.dt - 1e-9)))


Solver = RK4 | diffrax.AbstractSolver
DEFAULT_CONTROLLER = diffrax.PIDController(rtol=1e-8, atol=1e-8)


def as_dynamics(dynamics: AbstractDynamics | Lagrangian, n: int) -> AbstractDynamics:
    """A model or system as it is, or a Lagrangian function L(q, qdot) of n coordinates as its
    Euler–Lagrange dynamics."""
    if isinstance(dynamics, AbstractDynamics):
        return dynamics
    if not callable(dynamics):
        raise ModelTypeError(
            f"expected dynamics (an lnn model or System) or a Lagrangian function L(q, qdot); "
            f"got a {type(dynamics).__name__}."
        )
    return EulerLagrange(dynamics, n)


def rollout(
    dynamics: AbstractDynamics | Lagrangian,
    q0: States,
    qdot0: States,
    ts: Times,
    *,
    solver: Solver = RK4(),
    stepsize_controller: diffrax.AbstractStepSizeController | None = None,
    dt0: float | None = None,
    max_steps: int = 1_000_000,
    force: Callable[[Array], Array] | TimedForces | None = None,
) -> tuple[Float[Array, "... T n"], Float[Array, "... T n"]]:
    """Integrate from ``(q0, qdot0)`` at time ``ts[0]`` and return ``(q, qdot)`` at every ``ts``.

    Args:
        dynamics: an lnn model or :class:`~lnn.System` (any
            :class:`~lnn.mechanics.AbstractDynamics`), or a Lagrangian function
            ``L(q, qdot) -> scalar`` of one state.
        q0, qdot0: initial states, shape ``(..., n)``; leading axes are batched.
        ts: strictly increasing output times, shape ``(T,)``, ``T >= 2``.
        solver: :class:`RK4` (fixed step) or a Diffrax solver.
        stepsize_controller, dt0, max_steps: for a Diffrax solver (default
            controller: PID at rtol = atol = 1e-8); a solve that fails gives
            inf/NaN, which the metrics report.
        force: generalized force τ(t): a function ``t -> (n,)`` (jax-traceable, the
            same for every initial condition), or its values at ``ts``, shape
            ``(T, n)`` or ``(..., T, n)`` (one series per initial condition),
            linearly interpolated between output times.
    Returns:
        ``q, qdot`` of shape ``(..., T, n)``; the first frame is the initial state.
    """
    q0, qdot0 = as_state(q0, qdot0)
    ts = np.asarray(ts, dtype=float)
    if ts.ndim != 1 or ts.size < 2:
        raise ShapeError(f"ts must be a 1-D array of at least 2 times; got shape {ts.shape}.")
    if not np.all(np.isfinite(ts)) or np.any(np.diff(ts) <= 0):
        raise DataError("ts must be finite and strictly increasing; sort the times and drop repeats.")
    if isinstance(solver, RK4):
        if stepsize_controller is not None or dt0 is not None:
            raise ConfigurationError(
                "RK4 steps a fixed grid (its dt); a step-size controller or dt0 applies to a Diffrax solver."
            )
        method = ("rk4", solver.substeps(ts))
    elif isinstance(solver, diffrax.AbstractSolver):
        method = (
            "diffrax",
            solver,
            DEFAULT_CONTROLLER if stepsize_controller is None else stepsize_controller,
            dt0,
            int(max_steps),
        )
    else:
        raise ConfigurationError(f"solver must be lnn.integrate.RK4 or a Diffrax solver; got {type(solver).__name__}.")
    batch, n = q0.shape[:-1], q0.shape[-1]
    model = as_dynamics(dynamics, n)
    force_fn, force_values = _force_input(model, force, q0, ts)
    if force_values is not None:
        force_values = force_values.reshape(-1, ts.size, n)
    qs, vs = _rollout_batch(
        model, q0.reshape(-1, n), qdot0.reshape(-1, n), jnp.asarray(ts, dtype=q0.dtype), method, force_fn, force_values
    )
    return qs.reshape(*batch, ts.size, n), vs.reshape(*batch, ts.size, n)


def _force_input(model: AbstractDynamics, force, q0, ts):
    """Check ``force`` and return (τ as a static function of t, or None; τ samples ``(..., T, n)``, or None)."""
    if force is None:
        return None, None
    if not model.takes_force:
        raise ModelTypeError(
            f"a {type(model).__name__} takes no generalized force; model a driven system with a "
            "Lagrangian model (an LNN, optionally with dissipation) or a black box with force inputs."
        )
    n = q0.shape[-1]
    if callable(force):
        out = jax.eval_shape(force, jnp.asarray(ts[0], dtype=q0.dtype))
        if out.shape != (n,):
            raise ShapeError(f"the force function must return shape ({n},) for a time t; it returned {out.shape}.")
        return force, None
    values = as_force(force, n, q0.dtype)
    if values.ndim < 2 or values.shape[-2] != ts.size:
        raise ShapeError(
            f"force samples must have shape (T, {n}) or (..., T, {n}) with T = {ts.size} output times; "
            f"got {tuple(values.shape)}."
        )
    try:
        values = jnp.broadcast_to(values, (*q0.shape[:-1], ts.size, n))
    except ValueError:
        raise ShapeError(
            f"force samples of shape {tuple(values.shape)} do not fit {q0.shape[:-1]} initial conditions; "
            f"give (T, {n}) for one series shared by all, or one series per initial condition."
        ) from None
    if not bool(jnp.all(jnp.isfinite(values))):
        raise DataError("the force samples contain NaN/inf; repair or drop those frames.")
    return None, values


def interpolated(ts: Float[Array, " T"], values: Float[Array, "T n"]) -> Callable[[Array], Array]:
    """τ(t) linearly interpolated between samples ``values`` at non-decreasing times ``ts``, per coordinate;
    held at the end values outside ``[ts[0], ts[-1]]`` (as ``jnp.interp``).

    The interval is found by comparing t with every stamp (no binary search: the
    series are short, and this is evaluated at every RK4 stage); a zero-length
    interval (a repeated stamp) gives its left value.
    """

    def tau(t):
        i = jnp.clip(jnp.sum(ts <= t) - 1, 0, ts.shape[0] - 2)
        dx = ts[i + 1] - ts[i]
        w = jnp.clip(jnp.where(dx > 0, (t - ts[i]) / jnp.where(dx > 0, dx, 1.0), 0.0), 0.0, 1.0)
        return values[i] + w * (values[i + 1] - values[i])

    return tau


@eqx.filter_jit
def _rollout_batch(model, q0, v0, ts, method, force_fn=None, force_values=None):
    # Compiled once per (model structure, shapes, method): the model's arrays are
    # traced, everything else is static, so repeated calls reuse the program.
    def run(q, v, tau):
        if method[0] == "rk4":
            return rk4_trajectory(model, q, v, ts, substeps=method[1], force=tau)
        _, solver, controller, dt0, max_steps = method
        return _diffrax_trajectory(model, q, v, ts, solver, controller, dt0, max_steps, tau)

    if force_values is not None:
        return jax.vmap(lambda q, v, values: run(q, v, interpolated(ts, values)))(q0, v0, force_values)
    return jax.vmap(lambda q, v: run(q, v, force_fn))(q0, v0)


def _field(model: AbstractDynamics, tau):
    if tau is None:
        return lambda t, y: model.phase_field(y[0], y[1])
    return lambda t, y: model.phase_field(y[0], y[1], tau(t))


def rk4_trajectory(
    model: AbstractDynamics,
    q0: Float[Array, " n"],
    qdot0: Float[Array, " n"],
    ts: Float[Array, " T"],
    *,
    substeps: int,
    force: Callable[[Array], Array] | None = None,
) -> tuple[Float[Array, "T n"], Float[Array, "T n"]]:
    """One motion by RK4, each interval of ``ts`` in ``substeps`` equal steps; ``(q, qdot)`` at ``ts``.

    ``ts`` may be uneven, and decreasing (integrating backwards). Differentiable
    in reverse mode through every step (trajectory matching trains through it).
    """
    field = _field(model, force)

    def step(t, y, h):
        k1 = field(t, y)
        k2 = field(t + 0.5 * h, jax.tree.map(lambda a, k: a + 0.5 * h * k, y, k1))
        k3 = field(t + 0.5 * h, jax.tree.map(lambda a, k: a + 0.5 * h * k, y, k2))
        k4 = field(t + h, jax.tree.map(lambda a, k: a + h * k, y, k3))
        return jax.tree.map(lambda a, b, c, d, e: a + h / 6 * (b + 2 * c + 2 * d + e), y, k1, k2, k3, k4)

    def interval(y, span):
        h = (span[1] - span[0]) / substeps
        y = jax.lax.fori_loop(0, substeps, lambda i, s: step(span[0] + i * h, s, h), y)
        return y, y

    y0 = (q0, model.encode(q0, qdot0))
    _, (qs, ss) = jax.lax.scan(interval, y0, jnp.stack([ts[:-1], ts[1:]], axis=1))
    qs, ss = jnp.concatenate([q0[None], qs]), jnp.concatenate([y0[1][None], ss])
    return qs, jax.vmap(model.decode)(qs, ss)


def _diffrax_trajectory(model, q0, qdot0, ts, solver, controller, dt0, max_steps, tau):
    field = _field(model, tau)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: field(t, y)),
        solver,
        t0=ts[0],
        t1=ts[-1],
        dt0=dt0,
        y0=(q0, model.encode(q0, qdot0)),
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=controller,
        max_steps=max_steps,
        throw=False,  # a failed solve (e.g. a blown-up learned model) gives inf/NaN, reported by metrics
    )
    assert sol.ys is not None  # SaveAt(ts=ts) saves the states
    qs, ss = sol.ys
    return qs, jax.vmap(model.decode)(qs, ss)
