"""What the benchmarks share: the reference formulation, timing, and an honest header.

Timing: every function is compiled and run once before it is timed, and the
figures are medians over repetitions. Where two formulations are compared,
their repetitions are interleaved (A, B, A, B, …) so that a machine whose load
changes during the run slows both alike and the ratio stays fair. With
``settle=1`` each timed call follows an untimed call of the same function, as
in a training loop: on this CPU a call that directly follows a different,
larger program ran up to 15 % slower (its buffers are mapped afresh), which
penalised whichever formulation came after the reference.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

import lnn
from lnn import observed


def reference_acceleration(L, q, qdot):
    """The original LNN code's q̈: the full 2n × 2n Hessian of L over (q, q̇), then a pseudo-inverse."""
    n = q.shape[0]
    z = jnp.concatenate([q, qdot])
    f = lambda z: L(z[:n], z[n:])
    g = jax.grad(f)(z)
    H = jax.hessian(f)(z)
    return jnp.linalg.pinv(H[n:, n:]) @ (g[:n] - H[n:, :n] @ qdot)


class Reference(lnn.AbstractLagrangian):
    """A Lagrangian model whose accelerations use :func:`reference_acceleration`."""

    model: lnn.AbstractLagrangian

    @property
    def dof(self):
        return self.model.dof

    def lagrangian(self, q, qdot):
        return self.model.lagrangian(q, qdot)

    def acceleration(self, q, qdot, force=None):
        return reference_acceleration(self.model.lagrangian, q, qdot)


def block(fn: Callable, *args) -> float:
    """Seconds for one call of ``fn(*args)``, waiting for the result."""
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t


def interleaved_medians(calls: Sequence[tuple[Callable, tuple]], repeats: int, settle: int = 0) -> list[float]:
    """Median seconds of each ``(fn, args)``, after one warm-up call each, repetitions interleaved.

    ``settle``: untimed calls of the same function just before each timed one.
    """
    for fn, args in calls:
        block(fn, *args)
    times = [[] for _ in calls]
    for _ in range(repeats):
        for t, (fn, args) in zip(times, calls, strict=True):
            for _ in range(settle):
                block(fn, *args)
            t.append(block(fn, *args))
    return [statistics.median(t) for t in times]


def flops(fn: Callable, *args) -> float:
    """Floating-point operations of one call, from XLA's cost analysis of the compiled program.

    Work inside library calls (LAPACK solves) is not counted, and a loop body is
    counted once, so this is a lower bound for programs with loops.
    """
    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis.get("flops", float("nan")))


def measured_peak_gflops(dtype: str = "float32", size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a large square matmul through XLA on this machine: the attainable peak."""
    a = jnp.ones((size, size), dtype)
    f = jax.jit(lambda a: a @ a)
    (t,) = interleaved_medians([(f, (a,))], repeats)
    return 2 * size**3 / t / 1e9


def nominal_peak_gflops(dtype: str = "float32") -> float | None:
    """cores × listed clock × FLOP/cycle: two FMA units per core, 512 bits wide with AVX-512, else 256.

    A nominal figure: turbo clocks and how a CPU executes AVX-512 change it, so the
    measured matmul peak is the one to compare against.
    """
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return None
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    if not mhz:
        return None
    lanes = (16 if "avx512f" in text else 8) * (1 if dtype == "float32" else 0.5)
    return len(os.sched_getaffinity(0)) * statistics.mean(mhz) / 1e3 * 2 * 2 * lanes


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(config: str, repeats: int) -> str:
    """One line naming the configuration, the JAX version, the device and the timing rule."""
    device = jax.devices()[0]
    where = f"{cpu_name()}, {len(os.sched_getaffinity(0))} cores" if device.platform == "cpu" else device.device_kind
    return (
        f"{config}; JAX {jax.__version__} on {device.platform} ({where}, {jax.device_count()} device(s)); "
        f"medians of {repeats} after warm-up"
    )


def add_recipe_variant_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of :func:`recipe_variant`: matching recipes other than the defaults, to measure."""
    parser.add_argument("--adam-steps", type=int, default=None, help="matching's Adam steps (default: the recipe's)")
    parser.add_argument("--warm-decay", type=float, default=None, help="the warm start's weight decay (default 0)")
    parser.add_argument(
        "--lbfgs-steps", type=int, default=None, help="L-BFGS iterations of each stage (default: the recipe's)"
    )
    parser.add_argument(
        "--doubling",
        action="store_true",
        help="L-BFGS on the Adam windows, then on windows twice as long in turn up to the recipe's longest",
    )


def recipe_variant(chosen: observed.Recipe, args: argparse.Namespace) -> observed.Recipe:
    """``chosen`` (a matching recipe; any other is returned as it is) changed as ``args`` ask
    (:func:`add_recipe_variant_arguments`): ``adam_steps`` (warm-up and evaluation spacing follow, as in
    the recipe), ``warm_decay``, ``lbfgs_steps`` and ``doubling``."""
    method, train = chosen.method, chosen.train
    if not isinstance(method, observed.TrajectoryMatching):
        return chosen
    if args.adam_steps is not None:
        n = args.adam_steps
        train = dataclasses.replace(train, steps=n, warmup_steps=n // 10, eval_every=max(n // 10, 50))
    if args.lbfgs_steps is not None:
        train = dataclasses.replace(train, lbfgs_steps=args.lbfgs_steps)
    if args.warm_decay is not None and method.warm_start is not None:
        method = dataclasses.replace(
            method, warm_start=dataclasses.replace(method.warm_start, weight_decay=args.warm_decay)
        )
    if args.doubling and method.longer_windows:
        longest, w = method.longer_windows[-1], method.window
        lengths, k = [], 2
        while (k * (w - 1) + 1) < longest and (longest - 1) % (k * (w - 1)) == 0:
            lengths.append(k * (w - 1) + 1)
            k *= 2
        method = dataclasses.replace(method, initial=observed.FreeStates((*lengths, longest)))
    return dataclasses.replace(chosen, method=method, train=train)
