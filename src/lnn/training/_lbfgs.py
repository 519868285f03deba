"""Full-batch L-BFGS on an objective's squared loss: the polish at the end of training."""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from lnn.training._objective import AbstractObjective, Constants, Samples
from lnn.training._progress import progress_bar


def refine(
    params: Any,
    static: Any,
    objective: AbstractObjective,
    arrays: tuple[Samples, Constants],
    steps: int,
    *,
    chunk: int = 50,
    progress: bool = False,
    label: str = "L-BFGS",
    deadline: float | None = None,
) -> tuple[Any, float, int]:
    """Up to ``steps`` full-batch L-BFGS iterations on ``objective``'s squared loss; returns
    ``(params, loss, iterations)``.

    ``deadline``: a :func:`time.perf_counter` reading after which no further chunk of ``chunk``
    iterations starts (none at all when it has passed already) — how a time budget bounds this stage.

    ``arrays`` = ``(samples, constants)`` as the objective prepares them; the
    whole of ``samples`` is one batch. The squared loss because L-BFGS needs a
    smooth objective, and it is the Gaussian-noise likelihood. It runs in
    float64 (the line search compares losses that differ in their last digits)
    and returns the parameters in their own dtypes; the starting ``params`` (and
    their loss) when the iterations do not lower a finite loss.
    """
    objective = objective.with_loss("l2")

    def loss_fn(p, data):
        return objective(eqx.combine(p, static), *data)

    optimizer = optax.lbfgs()

    # Compiled per call, not once per module: a module-level cache would keep every refinement's programs
    # alive (a study that trains many models ran out of mapped memory).
    @functools.partial(jax.jit, static_argnums=3)
    def run(p, opt_state, data, n):
        value_fn = functools.partial(loss_fn, data=data)
        value_and_grad = optax.value_and_grad_from_state(value_fn)

        def one(carry, _):
            p, s = carry
            value, grad = value_and_grad(p, state=s)
            updates, s = optimizer.update(grad, s, p, value=value, grad=grad, value_fn=value_fn)
            return (optax.apply_updates(p, updates), s), None

        return jax.lax.scan(one, (p, opt_state), None, length=n)[0]

    dtypes = jax.tree.map(lambda x: x.dtype, params)
    params, arrays = jax.tree.map(_float64, (params, arrays))
    score = jax.jit(loss_fn)
    start_loss = float(score(params, arrays))
    # Without weak types: the state the iterations return has none, and a weak-typed start would compile twice.
    p, opt_state = params, jax.tree.map(lambda x: jnp.asarray(x, dtype=x.dtype), optimizer.init(params))
    with progress_bar(progress) as bar:
        task = bar.add_task(label, total=steps, completed=0, loss=start_loss, val=float("nan"), skipped="")
        iterations = 0
        while iterations < steps and not (deadline is not None and time.perf_counter() >= deadline):
            n = min(chunk, steps - iterations)
            p, opt_state = run(p, opt_state, arrays, n)
            iterations += n
            bar.update(task, completed=iterations, loss=float(score(p, arrays)))
    loss = float(score(p, arrays))
    if not (math.isfinite(loss) and loss < start_loss):
        p, loss = params, start_loss
    return jax.tree.map(lambda x, d: x.astype(d), p, dtypes), loss, iterations


def _float64(x):
    return x.astype(jnp.float64) if eqx.is_inexact_array(x) and x.dtype != jnp.float64 else x
