"""What makes an LNN train well on the double pendulum: one change at a time against the default recipe.

Each variant trains for the same number of steps on the same 100,000 random states
(seed fixed), then is judged by the held-out acceleration error and by the LNN
paper's energy protocol (40 initial conditions near rest, 100 s). The default
recipe is the first row; every other row changes one thing.

    python benchmarks/training_recipe.py                 # about 15 minutes on 2 cores
    python benchmarks/training_recipe.py --steps 4000 --only default,no_kinetic_prior
"""

from __future__ import annotations

import argparse
import json
import time

import jax
from rich.console import Console
from rich.table import Table

import lnn
from lnn import data, metrics
from lnn.experiment import machine_description
from lnn.training import TrainConfig, build_model, fit

# name -> (model overrides, training overrides)
VARIANTS = {
    "default": ({}, {}),
    "no_kinetic_prior": ({"kinetic_prior": False}, {}),
    "paper_init": ({"init": "paper"}, {}),
    "wrapped_angles": ({"angle_encoding": "wrap"}, {}),
    "l2_loss": ({}, {"loss": "l2"}),
    "lr_1e-3": ({}, {"learning_rate": 1e-3}),
    "width_128": ({"width": 128}, {}),
    "float64": ({"dtype": "float64"}, {}),
}


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=12_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", default=",".join(VARIANTS), help="comma-separated variants to run")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = p.parse_args()

    system = lnn.systems.get("double_pendulum")
    k_data, k_model, k_fit, k_eval = jax.random.split(jax.random.key(args.seed), 4)
    train_set = data.random_states(system, k_data, 100_000)
    held_out = data.random_states(system, jax.random.fold_in(k_data, 1), 4096)
    results = {}
    for name in args.only.split(","):
        model_kw, train_kw = VARIANTS[name]
        model = build_model("lnn", train_set, k_model, angles=system.angles, true_system=system, **model_kw)
        t0 = time.perf_counter()
        try:
            trained, history = fit(
                model, train_set, key=k_fit, progress=False, config=TrainConfig(steps=args.steps, **train_kw)
            )
            seconds = time.perf_counter() - t0
            ev = metrics.evaluate(trained, system, key=k_eval).metrics
            acc = metrics.acceleration_error(trained, held_out.q, held_out.qdot, held_out.qddot)
            results[name] = {
                "seconds": seconds,
                **acc,
                **{
                    k: ev[k]
                    for k in ("energy_error", "energy_error_median", "failed", "indefinite_mass_matrix_fraction")
                },
            }
        except lnn.errors.TrainingDivergedError as err:
            results[name] = {"seconds": time.perf_counter() - t0, "diverged": str(err)}
    if args.json:
        print(json.dumps(results))
        return
    console = Console(width=max(Console().width, 110))
    console.print(
        f"double pendulum LNN, {args.steps:,} steps each, batch 256, seed {args.seed}; {machine_description()}"
    )
    table = Table()
    for col in ("variant", "train s", "accel. error", "energy error (mean)", "(median)", "failed", "indefinite M"):
        table.add_column(col, justify="right", no_wrap=True)
    for name, r in results.items():
        if "diverged" in r:
            table.add_row(name, f"{r['seconds']:.0f}", "diverged", "-", "-", "-", "-")
            continue
        table.add_row(
            name,
            f"{r['seconds']:.0f}",
            f"{r['accel_relative_error'] * 100:.3g}%",
            f"{r['energy_error'] * 100:.3g}%",
            f"{r['energy_error_median'] * 100:.3g}%",
            str(r["failed"]),
            f"{r['indefinite_mass_matrix_fraction'] * 100:.0f}%",
        )
    console.print(table)


if __name__ == "__main__":
    main()
