"""Where trajectory matching spends its time: each stage's wall time and the part of it that is compilation.

Trains the LNN of ``noise.py --only pendulum`` (16 simulated pendulum
trajectories of 10 s, positions only, 1 % noise, 30 fps jittered) by the
recipe ``lnn train --data`` chooses for that recording, or a variant of it
(the flags of ``_common.recipe_variant``), and prints one row per stage: the
warm start on the derivative estimate, the Adam steps of matching, and each
L-BFGS stage on longer windows, with its wall time, the seconds of it XLA spent
compiling (``jax.monitoring``; tracing not counted), and the iterations. Run
from the repository root:

    python benchmarks/matching_profile.py
    python benchmarks/matching_profile.py --warm-decay 1 --doubling --adam-steps 2000
"""

from __future__ import annotations

import argparse
import itertools
import time

import jax
import jax.monitoring
from _common import add_recipe_variant_arguments, recipe_variant
from noise import pendulum_setting
from rich.console import Console
from rich.table import Table

from lnn import observed
from lnn.experiment import machine_description

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # XLA compilation alone (tracing not counted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_recipe_variant_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    compiled: list[tuple[float, float]] = []  # (when it ended, seconds)

    def listen(event: str, seconds: float, **_) -> None:
        if event == COMPILE_EVENT:
            compiled.append((time.perf_counter(), seconds))

    jax.monitoring.register_event_duration_secs_listener(listen)
    key = jax.random.PRNGKey(args.seed)
    _, obs, _, _ = pendulum_setting(key, noise=0.01)
    chosen = recipe_variant(observed.recipe(obs), args)
    console = Console()
    console.print(f"machine: {machine_description()}")
    for line in chosen.reasons:
        console.print(f"recipe: {line}")
    started = time.perf_counter()
    _, history = observed.fit_observations(
        "lnn",
        obs,
        key=jax.random.fold_in(key, 1000),
        method=chosen.method,
        train_config=chosen.train,
        progress=False,
        split_key=jax.random.fold_in(key, 7),
    )
    total = time.perf_counter() - started
    # Stage ends, as perf_counter readings: fit's rows count wall time from the start of matching's Adam steps
    # (after the warm start); each L-BFGS row adds its own stage's time.
    adam = [h for h in history if "relinked" not in h]
    lbfgs = [h for h in history if "relinked" in h]
    adam_start = started + total - history[-1]["time"]
    edges = [started, adam_start, *(adam_start + h["time"] for h in (adam[-1], *lbfgs))]
    steps = [h["step"] for h in (adam[-1], *lbfgs)]
    names = ["warm start", f"Adam, {steps[0]:,} steps"] + [
        f"L-BFGS stage {i + 1} ({b - a} iterations)" for i, (a, b) in enumerate(itertools.pairwise(steps))
    ]
    table = Table(title="trajectory matching, pendulum of noise.py: where the time goes")
    for column in ("stage", "wall s", "of it XLA compilation, s", "share of the total"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name, (a, b) in zip(names, itertools.pairwise(edges), strict=True):
        c = sum(s for when, s in compiled if a < when <= b)
        table.add_row(name, f"{b - a:.1f}", f"{c:.1f}", f"{(b - a) / total:.0%}")
    table.add_row("all", f"{total:.1f}", f"{sum(s for when, s in compiled if when > started):.1f}", "100%")
    console.print(table)


if __name__ == "__main__":
    main()
