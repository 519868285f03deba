r"""The state a model was in: (q, q̇) at one stamp, fitted to the positions recorded around it.

A prediction from the end of a recording needs the state there, and the end is
where a smoother knows least: a spline's velocity at its last sample is several
times less accurate than inside the recording (one-sided data, and the end
conditions). :func:`fit_state` asks the model instead. It finds the state x* at
``t[0]`` whose motion under the model, integrated to the other stamps (which
may lie before ``t[0]``: RK4 runs backwards as well), best matches the
recorded positions there,

.. math:: x^* = \arg\min_x \sum_k \lVert (q_\theta(t_k; x) - q_k) / s \rVert^2,

by Levenberg–Marquardt on the 2n unknowns (exact Jacobian by forward-mode
differentiation through the integration), started from a smoother's estimate.
It is the free initial state of trajectory matching (:class:`FreeStates`)
fitted for one window with the model held fixed — data assimilation in its
simplest form. ``benchmarks/measured.py --start`` compares it with the
smoother's end state.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike

from lnn._angles import wrap_differences
from lnn.errors import DataError
from lnn.integrate import RK4, interpolated, rk4_trajectory
from lnn.mechanics import AbstractDynamics


def fit_state(
    model: AbstractDynamics,
    t: ArrayLike,
    q: ArrayLike,
    q0: ArrayLike,
    qdot0: ArrayLike,
    *,
    angles: Sequence[bool],
    scale: ArrayLike | None = None,
    dt: float = 0.01,
    force: ArrayLike | None = None,
    iterations: int = 30,
) -> tuple[np.ndarray, np.ndarray]:
    """The state ``(q, q̇)`` at ``t[0]`` that best explains positions ``q`` ``(K, n)`` at stamps ``t`` ``(K,)``.

    ``q0``, ``qdot0`` ``(n,)``: the starting guess (e.g. :func:`~lnn.observed.estimate`'s state at
    ``t[0]``); ``scale`` ``(n,)``: each coordinate's residual is divided by it (default 1; the spread of
    the recording puts coordinates of different units on one footing); ``angles``: which coordinates are
    angles (their differences are wrapped); ``dt``: the RK4 substep bound; ``force`` ``(K, n)``: measured
    generalized forces at the stamps, linearly interpolated. ``t`` holds at least two stamps, in order
    away from ``t[0]`` (increasing, or decreasing to fit the state at the end of a span). Returns the
    guess unchanged when no step lowers the squared error (a model whose motion from every nearby state
    is far from the data); each accepted step lowers it.
    """
    t = jnp.asarray(t)
    q = jnp.asarray(q)
    if t.ndim != 1 or t.size < 2 or q.shape[:1] != t.shape:
        raise DataError(f"fit_state needs at least two stamps t (K,) and positions q (K, n); got {t.shape}, {q.shape}.")
    n = q.shape[1]
    s = jnp.ones(n) if scale is None else jnp.asarray(scale)
    wrap = jnp.asarray(angles, dtype=bool)
    substeps = RK4(dt).substeps(np.asarray(t))
    drive = None if force is None else (t, jnp.asarray(force))
    x = jnp.concatenate([jnp.asarray(q0, dtype=q.dtype), jnp.asarray(qdot0, dtype=q.dtype)])
    x = _levenberg_marquardt(model, x, t, q, s, wrap, drive, substeps, iterations)
    return np.asarray(x[:n]), np.asarray(x[n:])


@eqx.filter_jit
def _levenberg_marquardt(model, x, t, q, s, wrap, drive, substeps, iterations):
    n = q.shape[1]
    if drive is None:
        force = None
    else:
        stamps, values = drive
        order = jnp.argsort(stamps)
        force = interpolated(stamps[order], values[order])

    def residual(x):
        path, _ = rk4_trajectory(model, x[:n], x[n:], t, substeps=substeps, force=force)
        return (wrap_differences(path - q, wrap) / s).ravel()

    def residual_and_aux(x):  # the residual, also as jacfwd's auxiliary output
        r = residual(x)
        return r, r

    def cost(r):
        c = jnp.sum(r**2)
        return jnp.where(jnp.isfinite(c), c, jnp.inf)

    def step(carry, _):
        x, c, mu = carry
        J, r = jax.jacfwd(residual_and_aux, has_aux=True)(x)  # one integration for both
        A = J.T @ J
        g = J.T @ r
        delta = jnp.linalg.solve(A + mu * (jnp.diag(jnp.diag(A)) + 1e-12 * jnp.eye(x.size)), -g)
        trial = x + delta
        c_trial = cost(residual(trial))
        better = c_trial < c
        return (jnp.where(better, trial, x), jnp.where(better, c_trial, c), jnp.where(better, mu / 3, mu * 4)), None

    c0 = cost(residual(x))
    (x_best, _, _), _ = jax.lax.scan(step, (x, c0, jnp.asarray(1e-3, x.dtype)), None, length=iterations)
    return x_best
