"""Learning from noisy positions only: trajectory matching vs derivative estimation vs exact accelerations.

Two studies on simulated motion, where the truth is known. Positions are sampled at
30 frames/s with jittered (uneven) time stamps and Gaussian noise of a fraction of each
coordinate's spread; no velocities or accelerations are given to the two methods
that learn from observations:

* "matching"    — trajectory matching over short windows (lnn.observed.TrajectoryMatching);
* "derivatives" — smoothing-spline q̇, q̈, then the acceleration loss (lnn.observed.FromDerivatives);
* "exact"       — the reference: the same states with their exact accelerations.

1. Pendulum (the issue's "must show"): 10-second rollout error of an LNN learned by
   each method from noisy positions, against the exact-acceleration LNN. Every method
   trains on the same 14 motions and validates on the same 2 (one split for all), and
   each is trained from --seeds initialisations: one seed's error varies several-fold
   (the exact reference's too), so the medians are compared. That is repeated on each
   of --splits (two by default: which motions are held out changes the result as much
   as the seed). Passes when matching's median is within 2× of exact's on every split.
   Matching uses the defaults, lnn.observed.recipe of the recording (its reasons are
   printed; what `lnn train --data` would choose): a warm start on the derivative
   estimate, Adam on half-period windows with free initial states and weight decay 1,
   then L-BFGS on two-period windows, the free states relinked first (printed per seed:
   the windows relinked). Wall and CPU seconds of each run are printed.
2. Double pendulum, noise 0, 1 %, 5 %: LNN and baseline by each method; rollout error
   at 0.5 s and 1 s (it is chaotic) and valid-prediction time.

Models train for a fixed number of steps (so the numbers do not depend on the machine's
load, which on a shared machine would starve the slower-per-step method): the
acceleration-loss models (exact, derivatives) for --pendulum-steps / the first of
--double-steps; double-pendulum matching for the second, with batches of 64 windows. Errors are
e(t) = RMS over coordinates of (q̂ − q)/σ (lnn.metrics.position_error), from 20 held-out
initial states drawn like the training motions, mean over them.

    python benchmarks/noise.py                          # both studies: about 30 + 22 min on the 2-core machine
    python benchmarks/noise.py --only pendulum --seeds 1          # both splits, one seed
    python benchmarks/noise.py --only pendulum --adam-only   # the ablation: matching by Adam alone
    python benchmarks/noise.py --only pendulum --warm-decay 1 --doubling --adam-steps 2000  # a candidate recipe
    python benchmarks/noise.py --json --out runs/noise  # figures go to --out/figures
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import diffrax
import jax
import numpy as np
from _common import add_recipe_variant_arguments, recipe_variant
from rich.console import Console
from rich.table import Table

import lnn
from lnn import data, io, metrics, observed, plot
from lnn.experiment import machine_description
from lnn.observed import (
    EstimatedStates,
    FreeStates,
    FromDerivatives,
    TrajectoryMatching,
    fit_observations,
)
from lnn.training import TrainConfig, build_model, fit

console = Console()


def setting(system, key, *, noise, n_trajectories, duration, max_energy):
    """Noisy observations, the exact-acceleration dataset of the same clean states, and held-out truth."""
    k_obs, k_eval = jax.random.split(key)
    kw = dict(duration=duration, fps=30.0, jitter=0.5, max_energy=max_energy)
    obs = observed.simulate(system, k_obs, n_trajectories, noise=noise, **kw)
    clean = observed.simulate(system, k_obs, n_trajectories, noise=0.0, velocities=True, **kw)
    exact = data.Dataset(
        clean.q, clean.qdot, np.asarray(lnn.accelerations(system, clean.q, clean.qdot)), clean.trajectory, clean.t
    )
    return obs, exact


def pendulum_setting(key, noise):
    """The pendulum study's recording (16 trajectories of 10 s, swings up to 134°, never over the top):
    ``(system, obs, exact, e_max)``, as :func:`setting` with the largest energy ``e_max``."""
    system = lnn.systems.get("pendulum")
    e_max = 0.7 * system.energy_scale
    obs, exact = setting(system, key, noise=noise, n_trajectories=16, duration=10.0, max_energy=e_max)
    return system, obs, exact, e_max


def held_out_truth(system, key, *, t_end, max_energy, n=20):
    q0, v0 = system.sample_states(key, n, max_energy=max_energy)
    ts = np.arange(int(round(t_end * 20)) + 1) / 20
    q, v = lnn.rollout(
        system, q0, v0, ts, solver=diffrax.Dopri8(), stepsize_controller=diffrax.PIDController(rtol=1e-11, atol=1e-11)
    )
    return metrics.Truth(ts, np.asarray(q), np.asarray(v)), metrics.Protocol(n_initial=n, t_end=t_end, fps=20)


def train(kind, method, obs, exact, system, key, steps, matching, *, split_key=None, matching_config=None):
    """One model by ``method`` ("exact", "derivatives" or "matching", the last with the :class:`TrajectoryMatching`
    ``matching`` and ``matching_config``, else ``steps[1]`` steps of batches of 64 windows); with ``split_key``
    every method trains and validates on the same motions. Returns (model, history, wall s, CPU s)."""
    if method == "matching" and matching_config is not None:
        cfg = matching_config
    else:
        n = steps[1] if method == "matching" else steps[0]
        cfg = TrainConfig(steps=n, eval_every=max(n // 10, 50), batch_size=64 if method == "matching" else 256)
    t0, c0 = time.perf_counter(), time.process_time()
    if method == "exact":
        train_set, val_set = exact, None
        if split_key is not None:  # the trajectories lnn.observed holds out for the same key
            held_out = np.unique(data.split(obs, cfg.val_fraction, split_key)[1].trajectory)
            in_val = np.isin(exact.trajectory, held_out)
            train_set, val_set = exact.subset(~in_val), exact.subset(in_val)
        model = build_model(kind, exact, jax.random.fold_in(key, 1), angles=system.angles, true_system=system)
        model, history = fit(
            model, train_set, key=jax.random.fold_in(key, 2), config=cfg, val_dataset=val_set, progress=False
        )
    else:
        learning = matching if method == "matching" else FromDerivatives()
        model, history = fit_observations(
            kind, obs, key=key, method=learning, train_config=cfg, progress=False, split_key=split_key
        )
    return model, history, time.perf_counter() - t0, time.process_time() - c0


def error_at(ev, t):
    return float(ev.position_error[int(round(t * 20))])


def pendulum_study(args, key):
    system, obs, exact, e_max = pendulum_setting(key, args.pendulum_noise)
    truth, protocol = held_out_truth(system, jax.random.fold_in(key, 9), t_end=10.0, max_energy=e_max)
    chosen = observed.recipe(obs)  # the defaults: what `lnn train --data` would choose for this recording
    for line in chosen.reasons:
        console.print(f"recipe: {line}")
    chosen = recipe_variant(chosen, args)
    learning, matching_config = chosen.method, chosen.train
    if args.adam_only:  # the ablation: no L-BFGS stages
        learning = dataclasses.replace(learning, initial=FreeStates())
        matching_config = dataclasses.replace(matching_config, lbfgs_steps=0)
    methods = ("exact", "derivatives", "matching")
    splits, evaluations = [], {}
    for split in args.splits:
        split_key = jax.random.fold_in(key, split)  # one validation split for every seed and method
        held_out = np.unique(data.split(obs, 0.1, split_key)[1].trajectory).tolist()
        runs = {m: [] for m in methods}
        for seed in range(args.seeds):
            k_seed = jax.random.fold_in(key, 1000 + seed)
            for method in methods:
                model, history, seconds, cpu = train(
                    "lnn",
                    method,
                    obs,
                    exact,
                    system,
                    k_seed,
                    args.pendulum_steps,
                    learning,
                    split_key=split_key,
                    matching_config=matching_config,
                )
                ev = metrics.evaluate(model, system, key=key, protocol=protocol, truth=truth)
                if seed == 0 and split == args.splits[0]:
                    evaluations[f"lnn ({method})"] = ev
                runs[method].append(
                    {
                        "error_10s": error_at(ev, 10.0),
                        "error_1s": error_at(ev, 1.0),
                        "valid_time": ev.metrics["valid_time"],
                        "steps": history[-1]["step"],
                        "seconds": seconds,
                        "cpu_seconds": cpu,
                        "relinked": [h["relinked"] for h in history if "relinked" in h],
                        "warm_restart": [h["warm_restart"] for h in history if "warm_restart" in h],
                    }
                )
                console.print(
                    f"pendulum lnn ({method}), split {split} (held out {held_out}), seed {seed}: {runs[method][-1]}"
                )
        rows = {
            m: {
                **{k: float(np.median([r[k] for r in rs])) for k in ("error_10s", "error_1s", "valid_time")},
                "error_10s_per_seed": [r["error_10s"] for r in rs],
                "steps": rs[0]["steps"],
                "seconds": round(float(np.mean([r["seconds"] for r in rs])), 1),
                "cpu_seconds": round(float(np.mean([r["cpu_seconds"] for r in rs])), 1),
                "relinked_per_seed": [r["relinked"] for r in rs],
            }
            for m, rs in runs.items()
        }
        ratio = rows["matching"]["error_10s"] / rows["exact"]["error_10s"]
        splits.append(
            {
                "split": split,
                "held_out": held_out,
                "models": rows,
                "matching_over_exact_10s": ratio,
                "within_2x": bool(ratio <= 2.0),
            }
        )
    figure = plot.position_error(
        Path(args.out) / "figures" / "pendulum_position_error.png", system, evaluations, protocol.threshold
    )
    table = Table(
        title=f"pendulum, positions only with {args.pendulum_noise:.0%} noise, 30 fps jittered; "
        f"{args.pendulum_steps[0]:,} steps (acceleration loss), matching by the recipe; median of {args.seeds} seeds"
    )
    for col in (
        "held out",
        "LNN learned from",
        "error at 10 s",
        "per seed",
        "error at 1 s",
        "valid time",
        "steps",
        "seconds",
        "CPU seconds",
    ):
        table.add_column(col, justify="right")
    for result in splits:
        for method, r in result["models"].items():
            table.add_row(
                ",".join(map(str, result["held_out"])),
                method if method != "exact" else "exact q̈ (reference)",
                f"{r['error_10s']:.3g}",
                " ".join(f"{e:.2g}" for e in r["error_10s_per_seed"]),
                f"{r['error_1s']:.3g}",
                f"{r['valid_time']:.3g} s",
                f"{r['steps']:,}",
                f"{r['seconds']:.0f}",
                f"{r['cpu_seconds']:.0f}",
            )
    console.print(table)
    for result in splits:
        ratio = result["matching_over_exact_10s"]
        console.print(
            f"held out {result['held_out']}: matching / exact at 10 s (medians): {ratio:.2f} "
            f"({'within' if ratio <= 2 else 'NOT within'} 2×)"
        )
    console.print(f"figure {figure}")
    return {
        "noise": args.pendulum_noise,
        "recipe": chosen.to_json(),
        "seeds": args.seeds,
        "splits": splits,
        "within_2x": all(r["within_2x"] for r in splits),
    }


def double_pendulum_study(args, key):
    system = lnn.systems.get("double_pendulum")
    e_max = 0.0  # half way up the potential's range (±29.4): large swings, rarely over the top
    truth, protocol = held_out_truth(system, jax.random.fold_in(key, 9), t_end=2.0, max_energy=e_max)
    results = []
    exact_rows = {}
    for noise in args.noise_levels:
        obs, exact = setting(system, key, noise=noise, n_trajectories=16, duration=5.0, max_energy=e_max)
        for kind in ("lnn", "baseline"):
            for method in ("exact", "derivatives", "matching"):
                if method == "exact" and kind in exact_rows:
                    results.append({**exact_rows[kind], "noise": noise})
                    continue
                initial = FreeStates() if args.matching_initial == "free" else EstimatedStates()
                model, history, seconds, _ = train(
                    kind,
                    method,
                    obs,
                    exact,
                    system,
                    key,
                    args.double_steps,
                    TrajectoryMatching(window=7, every=1, dt=0.034, initial=initial),
                )
                ev = metrics.evaluate(model, system, key=key, protocol=protocol, truth=truth)
                row = {
                    "model": kind,
                    "method": method,
                    "noise": noise,
                    "error_0.5s": error_at(ev, 0.5),
                    "error_1s": error_at(ev, 1.0),
                    "valid_time": ev.metrics["valid_time"],
                    "steps": history[-1]["step"],
                    "seconds": round(seconds, 1),
                }
                if method == "exact":  # does not see the noise: train once, report on every row
                    exact_rows[kind] = row
                results.append(row)
                console.print(f"double pendulum {kind} ({method}), noise {noise:g}: {row}")
    table = Table(
        title=f"double pendulum, positions only, 30 fps jittered; {args.double_steps[0]:,} steps "
        f"(acceleration loss) / {args.double_steps[1]:,} (matching)"
    )
    for col in ("model", "learned from", "noise", "error at 0.5 s", "error at 1 s", "valid time", "steps", "seconds"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            r["model"],
            r["method"],
            f"{r['noise']:.0%}",
            f"{r['error_0.5s']:.3g}",
            f"{r['error_1s']:.3g}",
            f"{r['valid_time']:.3g} s",
            f"{r['steps']:,}",
            f"{r['seconds']:.0f}",
        )
    console.print(table)
    figure = plot.noise_robustness(
        Path(args.out) / "figures" / "double_pendulum_noise.png",
        results,
        title="double pendulum learned from noisy positions only",
    )
    console.print(f"figure {figure}")
    return results


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="pendulum,double_pendulum", help="comma-separated studies to run")
    p.add_argument("--pendulum-steps", default="5000", help="pendulum training steps of the acceleration loss")
    p.add_argument("--splits", default="7,8", help="pendulum: validation splits (keys folded in), each compared")
    p.add_argument("--seeds", type=int, default=3, help="pendulum: training seeds per method (medians are compared)")
    p.add_argument("--adam-only", action="store_true", help="pendulum: matching without its L-BFGS stages")
    add_recipe_variant_arguments(p)  # pendulum: --adam-steps, --warm-decay, --lbfgs-steps, --doubling
    p.add_argument("--pendulum-noise", type=float, default=0.01, help="noise, fraction of each coordinate's spread")
    p.add_argument("--double-steps", default="2000,400", help="double-pendulum steps: acceleration loss, matching")
    p.add_argument("--noise-levels", default="0,0.01,0.05", help="double pendulum noise levels")
    p.add_argument(
        "--matching-initial",
        default="estimated",
        choices=("estimated", "free"),
        help="double pendulum: initial state of each matching window (see lnn.observed)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/noise", help="folder for figures and results.json")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = p.parse_args()
    args.noise_levels = [float(x) for x in args.noise_levels.split(",")]
    args.splits = [int(x) for x in args.splits.split(",")]
    args.pendulum_steps, args.double_steps = (
        [int(x) for x in a.split(",")] for a in (args.pendulum_steps, args.double_steps)
    )
    key = jax.random.key(args.seed)
    console.print(f"machine: {machine_description()}")
    t0 = time.perf_counter()
    results = {"machine": machine_description()}
    if "pendulum" in args.only.split(","):
        results["pendulum"] = pendulum_study(args, key)
    if "double_pendulum" in args.only.split(","):
        results["double_pendulum"] = double_pendulum_study(args, jax.random.fold_in(key, 1))
    results["seconds"] = round(time.perf_counter() - t0, 1)
    io.write_json(Path(args.out) / "results.json", results)
    console.print(f"total {results['seconds']:.0f} s; wrote {Path(args.out) / 'results.json'}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
