"""The wave equation on a periodic string: a learned Lagrangian density against a local black box of the same size.

For each grid size n, both models are trained on the same random smooth waves with exact
accelerations (same steps, batches of about 2,048 grid points), then rolled out for 10
periods from plucked strings (smooth displacement, released at rest; RK4 with dt = h/2c)
and judged by the *true* energy along their rollouts, (E(t) − E(0))/E(0), and by the
position error at the end. The density model trained on the first grid is also run, as
it is, on the later grids (its parameters are not tied to n).

    python benchmarks/wave.py                       # n = 64 and 256, a few minutes on 2 cores
    python benchmarks/wave.py --n 64 --steps 500    # quicker
    python benchmarks/wave.py --json                # one JSON object

Writes ``OUT/wave_n{n}.png`` (energy over time and space-time images of one rollout).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import jax
import numpy as np
from rich.console import Console
from rich.table import Table

import lnn
from lnn import data, metrics, plot
from lnn.experiment import machine_description
from lnn.models import build_field_model
from lnn.systems import fundamental_period
from lnn.training import TrainConfig, fit

LABELS = {"density": "Lagrangian density", "local": "local black box"}
POINTS_PER_BATCH = 2048


def energy_change(ev: metrics.Evaluation) -> np.ndarray:
    """(E(t) − E(0)) / E(0) of the true energy along each predicted rollout, shape (N, T); inf once blown up."""
    rel = (ev.energy_pred - ev.energy_pred[:, :1]) / ev.energy_pred[:, :1]
    return np.where(np.isfinite(rel), rel, np.inf)


def judge(model, system, truth, protocol, held_out, key) -> tuple[dict, metrics.Evaluation]:
    ev = metrics.evaluate(model, system, key=key, protocol=protocol, truth=truth)
    rel = energy_change(ev)
    acc = metrics.acceleration_error(model, held_out.q, held_out.qdot, held_out.qddot)
    return {
        "energy_drift": float(np.max(np.abs(rel))),
        "energy_drift_final": float(np.mean(np.abs(rel[:, -1]))),
        "position_error": float(ev.position_error[-1]),
        "accel_relative_error": acc["accel_relative_error"],
        "failed": ev.metrics["failed"],
    }, ev


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", default="64,256", help="comma-separated grid sizes")
    p.add_argument("--steps", type=int, default=1500, help="training steps per model")
    p.add_argument("--states", type=int, default=2000, help="training states (whole strings) per grid")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--periods", type=float, default=10.0)
    p.add_argument("--initial", type=int, default=4, help="initial conditions rolled out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/wave"), help="folder for the figures")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = p.parse_args()
    grids = [int(n) for n in args.n.split(",")]

    k_data, k_model, k_fit, k_eval = jax.random.split(jax.random.key(args.seed), 4)
    results: dict[str, dict] = {}
    first_density = None
    for n in grids:
        system = lnn.systems.get("wave", n=n)
        period = fundamental_period(system)
        train_set = data.random_states(system, jax.random.fold_in(k_data, n), args.states)
        held_out = data.random_states(system, jax.random.fold_in(k_data, n + 1), 256)
        batch = max(1, POINTS_PER_BATCH // n)
        config = TrainConfig(
            steps=args.steps,
            batch_size=batch,
            warmup_steps=min(100, args.steps // 5),
            eval_every=max(args.steps // 5, 1),
        )
        h = system.parameters["length"] / n
        c = math.sqrt(system.parameters["tension"] / system.parameters["density"])
        protocol = metrics.Protocol(
            n_initial=args.initial, t_end=args.periods * period, fps=20 / period, solver=lnn.RK4(0.5 * h / c)
        )
        truth = metrics.true_rollouts(system, key=k_eval, protocol=protocol)
        models, rows, evals = {}, {}, {}
        for kind in ("density", "local"):
            model = build_field_model(
                kind, train_set.q, train_set.qdot, train_set.qddot, key=k_model, width=args.width, depth=args.depth
            )
            t0 = time.perf_counter()
            models[kind], history = fit(
                model, train_set, key=k_fit, config=config, progress=not args.json, label=f"{kind} n={n}"
            )
            seconds = time.perf_counter() - t0
            rows[kind], evals[kind] = judge(models[kind], system, truth, protocol, held_out, k_eval)
            rows[kind].update(
                train_seconds=seconds,
                steps=history[-1]["step"],
                parameters=model.n_parameters(),
                val_loss=history[-1]["val_loss"],
            )
        if first_density is None:
            first_density = (n, models["density"])
        else:
            kind = f"density_from_n{first_density[0]}"
            rows[kind], evals[kind] = judge(first_density[1], system, truth, protocol, held_out, k_eval)
            rows[kind].update(
                train_seconds=0.0, steps=0, parameters=first_density[1].n_parameters(), val_loss=float("nan")
            )
        true_rel = np.abs(truth_energy_change(system, truth))
        rows["truth"] = {"energy_drift": float(np.max(true_rel))}
        results[f"n{n}"] = rows
        _figure(args.out / f"wave_n{n}.png", n, truth, evals, system, period, args.periods)

    if args.json:
        print(json.dumps(results))
        return
    _print_table(results, args)


def truth_energy_change(system, truth) -> np.ndarray:
    E = np.asarray(system.energy(truth.q, truth.qdot))
    return (E - E[:, :1]) / E[:, :1]


def _figure(path, n, truth, evals, system, period, periods):
    ts = truth.ts / period
    energies = {"truth (Dopri8)": truth_energy_change(system, truth)[0]}
    fields = {"truth": truth.q[0]}
    for kind, ev in evals.items():
        label = LABELS.get(kind, kind.replace("_", " ").replace("from n", "trained at n="))
        energies[label] = energy_change(ev)[0]
        fields[label] = ev.q_pred[0]
    plot.field_rollouts(
        path,
        ts,
        energies,
        fields,
        length=system.parameters["length"],
        title=f"wave equation, n = {n}: true energy along {periods:g}-period rollouts",
    )


def _print_table(results, args):
    console = Console(width=max(Console().width, 150))
    console.print(
        f"periodic string, {args.steps:,} steps per model, {args.states:,} training strings, width "
        f"{args.width} × depth {args.depth}, {args.periods:g} periods from {args.initial} plucked "
        f"strings, seed {args.seed}; {machine_description()}"
    )
    table = Table()
    for col in (
        "n",
        "model",
        "parameters",
        "train s",
        "accel. error",
        "max |ΔE|/E over rollout",
        "|ΔE|/E at end",
        "position error at end",
    ):
        table.add_column(col, justify="right", no_wrap=True)
    for grid, rows in results.items():
        for kind, r in rows.items():
            if kind == "truth":
                table.add_row(grid[1:], "truth (Dopri8 1e-11)", "", "", "", f"{r['energy_drift']:.1e}", "", "")
                continue
            blew_up = r["failed"] > 0 or not math.isfinite(r["energy_drift"])
            label = LABELS.get(kind, kind.replace("_", " ").replace("from n", "trained at n="))
            table.add_row(
                grid[1:],
                label,
                f"{r['parameters']:,}",
                f"{r['train_seconds']:.0f}",
                f"{r['accel_relative_error'] * 100:.2g}%",
                "blew up" if blew_up else f"{r['energy_drift'] * 100:.3g}%",
                "blew up" if blew_up else f"{r['energy_drift_final'] * 100:.3g}%",
                "blew up" if blew_up else f"{r['position_error']:.3g}",
            )
    console.print(table)
    console.print(f"figures: {args.out}/wave_n*.png")


if __name__ == "__main__":
    main()
