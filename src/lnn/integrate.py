r"""Rollouts: integrate q̈ = f(q, q̇) from many initial conditions at once.

Two methods, for any dynamics (a model, a Lagrangian, or ``f(q, qdot) -> qddot``):

* ``"rk4"`` — classical Runge–Kutta, order 4, fixed step. Predictable cost; each
  output interval is split into equal substeps no longer than ``dt``.
* ``"adaptive"`` — Diffrax with an embedded pair (``Tsit5``, order 5, or
  ``Dopri8``, order 8) and a PID step-size controller; tolerances exposed.

Neither is symplectic; at the default tolerances their energy error is far below
what a learned model's own error produces (see the tests).

A driven system takes a generalized force τ(t) (``force=``): a function of time,
or values at the output times, linearly interpolated in between (measured
torques). The dynamics are then called as ``f(q, qdot, tau)``.

A model with its own phase space (a Hamiltonian network: ``encode(q, q̇) -> s``,
``phase_field(q, s) -> (q̇, ṡ)``, ``decode(q, s) -> q̇``) is integrated in (q, s);
the states are converted at the two ends only, so every model is rolled out in
the coordinates it was built for and reported in (q, q̇).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from lnn.errors import DataError, ShapeError
from lnn.mechanics import as_dynamics, as_force, as_state, check_takes_force

SOLVERS = {"tsit5": diffrax.Tsit5, "dopri8": diffrax.Dopri8, "dopri5": diffrax.Dopri5}


def rollout(
    dynamics_or_lagrangian: Callable,
    q0: Float[Array, "... n"],
    qdot0: Float[Array, "... n"],
    ts,
    *,
    method: str = "rk4",
    dt: float = 0.01,
    solver: str = "tsit5",
    rtol: float = 1e-8,
    atol: float = 1e-8,
    max_steps: int = 1_000_000,
    force: Callable | Float[Array, "... T n"] | None = None,
) -> tuple[Float[Array, "... T n"], Float[Array, "... T n"]]:
    """Integrate from ``(q0, qdot0)`` at time ``ts[0]`` and return ``(q, qdot)`` at every ``ts``.

    Args:
        dynamics_or_lagrangian: an lnn model, a Lagrangian ``L(q, qdot) -> scalar``,
            or dynamics ``f(q, qdot) -> qddot`` (one state each).
        q0, qdot0: initial states, shape ``(..., n)``; leading axes are batched.
        ts: strictly increasing output times, shape ``(T,)``, ``T >= 2``.
        method: ``"rk4"`` (fixed step ``dt``) or ``"adaptive"`` (Diffrax ``solver``
            with ``rtol``/``atol``).
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
        raise ValueError("ts must be finite and strictly increasing; sort the times and drop repeats.")
    if method == "rk4":
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"the time step dt must be positive; got {dt}.")
        substeps = max(1, int(np.ceil(np.max(np.diff(ts)) / dt - 1e-9)))
        settings = ("rk4", substeps)
    elif method == "adaptive":
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)}.")
        if not (rtol > 0 and atol > 0):
            raise ValueError("rtol and atol must be positive.")
        settings = ("adaptive", solver, float(rtol), float(atol), int(max_steps))
    else:
        raise ValueError(f"unknown method {method!r}; choose 'rk4' or 'adaptive'.")
    batch = q0.shape[:-1]
    n = q0.shape[-1]
    force_fn, force_values = _force_input(dynamics_or_lagrangian, force, q0, ts)
    if force_values is not None:
        force_values = force_values.reshape(-1, ts.size, n)
    qs, vs = _rollout_batch(dynamics_or_lagrangian, q0.reshape(-1, n), qdot0.reshape(-1, n),
                            jnp.asarray(ts, dtype=q0.dtype), settings, force_fn, force_values)
    return qs.reshape(*batch, ts.size, n), vs.reshape(*batch, ts.size, n)


def _force_input(model_or_fn, force, q0, ts):
    """Check ``force`` and return (τ as a static function of t, or None; τ samples ``(..., T, n)``, or None)."""
    if force is None:
        return None, None
    n = q0.shape[-1]
    if callable(force):
        out = jax.eval_shape(force, jnp.asarray(ts[0], dtype=q0.dtype))
        if out.shape != (n,):
            raise ShapeError(f"the force function must return shape ({n},) for a time t; it returned {out.shape}.")
        values = None
    else:
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
        force = None
    check_takes_force(model_or_fn, n)
    return force, values


@eqx.filter_jit
def _rollout_batch(model_or_fn, q0, v0, ts, settings, force_fn=None, force_values=None):
    # Compiled once per (model structure or function, shapes, settings): the
    # model's arrays are traced, everything else is static, so repeated calls
    # with the same shapes reuse the program.
    encode, field, decode = _phase_space(model_or_fn)
    if settings[0] == "rk4":
        run = partial(_rk4_rollout, field, substeps=settings[1])
    else:
        _, solver, rtol, atol, max_steps = settings
        run = partial(_adaptive_rollout, field, solver=solver, rtol=rtol, atol=atol, max_steps=max_steps)

    def one(q, v, tau):
        qs, ss = run(q, encode(q, v), ts, tau=tau)
        return qs, jax.vmap(decode)(qs, ss)

    if force_values is not None:
        # τ between frames: linear interpolation of the samples, per coordinate.
        def forced(q, v, values):
            tau = lambda t: jax.vmap(jnp.interp, in_axes=(None, None, 1))(t, ts, values)  # noqa: E731
            return one(q, v, tau)

        return jax.vmap(forced)(q0, v0, force_values)
    return jax.vmap(lambda q, v: one(q, v, force_fn))(q0, v0)


def _phase_space(model_or_fn):
    """(encode, vector field, decode) of the coordinates (q, s) a model is integrated in.

    For every second-order model s = q̇ and the field is (q̇, f(q, q̇[, τ])). A
    model with its own phase space takes no force (``check_takes_force`` refuses it).
    """
    if hasattr(model_or_fn, "phase_field"):
        return model_or_fn.encode, lambda q, s, tau=None: model_or_fn.phase_field(q, s), model_or_fn.decode
    f = as_dynamics(model_or_fn)
    velocity = lambda q, v: v  # noqa: E731
    return velocity, lambda q, v, tau=None: (v, f(q, v) if tau is None else f(q, v, tau)), velocity


def _vector_field(field, t, y, tau):
    return field(*y) if tau is None else field(*y, tau(t))


def _rk4_rollout(field, q0, v0, ts, *, substeps, tau=None):
    def step(t, y, h):
        k1 = _vector_field(field, t, y, tau)
        k2 = _vector_field(field, t + 0.5 * h, jax.tree.map(lambda a, k: a + 0.5 * h * k, y, k1), tau)
        k3 = _vector_field(field, t + 0.5 * h, jax.tree.map(lambda a, k: a + 0.5 * h * k, y, k2), tau)
        k4 = _vector_field(field, t + h, jax.tree.map(lambda a, k: a + h * k, y, k3), tau)
        return jax.tree.map(lambda a, b, c, d, e: a + h / 6 * (b + 2 * c + 2 * d + e), y, k1, k2, k3, k4)

    def interval(y, span):
        h = (span[1] - span[0]) / substeps
        y = jax.lax.fori_loop(0, substeps, lambda i, s: step(span[0] + i * h, s, h), y)
        return y, y

    _, (qs, vs) = jax.lax.scan(interval, (q0, v0), jnp.stack([ts[:-1], ts[1:]], axis=1))
    return jnp.concatenate([q0[None], qs]), jnp.concatenate([v0[None], vs])


def _adaptive_rollout(field, q0, v0, ts, *, solver, rtol, atol, max_steps, tau=None):
    term = diffrax.ODETerm(lambda t, y, args: _vector_field(field, t, y, tau))
    sol = diffrax.diffeqsolve(
        term,
        SOLVERS[solver](),
        t0=ts[0],
        t1=ts[-1],
        dt0=None,
        y0=(q0, v0),
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        throw=False,  # a failed solve (e.g. a blown-up learned model) gives inf/NaN, reported by metrics
    )
    return sol.ys
