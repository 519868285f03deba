"""Driven recordings: learn a pendulum pushed by measured torques, predict its motion under a new torque.

A simulated pendulum is driven by a torque τ(t), a sum of sines with random phases
(``lnn.observed.SineDrive``), a new draw for every motion; the recording is written
as a table with the torque as a column, as a real-time loop would log it
(``run,t,theta,tau``, stamps jittered by ±``--jitter``/2 of a frame, Gaussian noise of
``--noise`` × the angle's spread) and read back with
``lnn.observed.load_table(..., force_columns="tau")``. An LNN and the black box
("baseline", which reads τ as an input) are trained on it with the library's defaults
(``lnn.observed.recipe`` of the recording, what ``lnn train --data`` chooses: the same
method and schedule for both; ``--budget`` or ``--steps`` replace the schedule). Each
then predicts a held-out recording of new motions under a NEW torque (new phases and,
by default, other frequencies than in training), from the states estimated on that
recording, its measured torque interpolated linearly between samples
(``lnn.observed.observed_rollout_error``). Printed: error against horizon (RMS over
coordinates of (q̂ − q)/σ, mean over starts) and valid time (median time until it
exceeds 0.2), beside the true system on the same recording (the floor: noise and the
estimated initial states) and the trivial predictors.

    python benchmarks/driven.py                         # 2 models, the recipe's schedule
    python benchmarks/driven.py --budget 60 --json      # 60 s of training per model
    python benchmarks/driven.py --steps 3000            # a fixed schedule instead of a time budget
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import jax

import lnn
from lnn import observed
from lnn.experiment import machine_description
from lnn.training import TrainConfig


def floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def write_recording(path: Path, obs: observed.Observations) -> Path:
    """The recording as a real-time loop's log: one row per sample, the torque as a column."""
    rows = ["run,t,theta,tau"] + [
        f"{int(r)},{t!r},{q!r},{f!r}"
        for r, t, q, f in zip(
            obs.trajectory, obs.t.tolist(), obs.q[:, 0].tolist(), obs.force[:, 0].tolist(), strict=True
        )
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")
    return path


def recording(system, key, n, args, duration, frequencies, path: Path) -> observed.Observations:
    obs = observed.simulate(
        system,
        key,
        n,
        duration=duration,
        fps=args.fps,
        noise=args.noise,
        jitter=args.jitter,
        max_energy=args.max_energy * system.energy_scale,
        force=lambda k: observed.SineDrive.random(k, 1, amplitude=args.amplitude, frequencies=frequencies),
    )
    csv = write_recording(path, obs)
    return observed.load_table(
        csv, time="t", coordinates="theta", angles="theta", trajectory="run", force_columns="tau"
    )


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's CLI runs it
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="lnn,baseline")
    parser.add_argument(
        "--method",
        default="recipe",
        choices=("recipe", "matching", "derivatives"),
        help="recipe: the library's defaults for this recording",
    )
    parser.add_argument(
        "--budget", type=float, default=None, help="training seconds per model instead of the recipe's schedule"
    )
    parser.add_argument("--steps", type=int, default=None, help="a fixed schedule of this many steps instead")
    parser.add_argument("--n-train", type=int, default=8, help="training motions")
    parser.add_argument("--n-test", type=int, default=4, help="held-out motions under the new torque")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per training motion")
    parser.add_argument("--test-duration", type=float, default=20.0, help="seconds per held-out motion")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--jitter", type=float, default=0.4, help="stamp jitter, a fraction of a frame (0.4: ±20 %%)")
    parser.add_argument("--noise", type=float, default=0.005, help="angle noise, a fraction of its spread")
    parser.add_argument("--max-energy", type=float, default=0.5, help="initial energy up to this × m g l")
    parser.add_argument("--amplitude", type=float, default=1.5, help="N·m per sine (m g l = 9.8 N·m)")
    parser.add_argument("--frequencies", default="0.7,1.9,3.1", help="training torque's angular frequencies (rad/s)")
    parser.add_argument("--test-frequencies", default="1.1,2.5", help="the held-out torque's (rad/s)")
    parser.add_argument("--horizons", default="0.5,1,2,5,10,15")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/driven"), help="folder for the two recordings")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    horizons = floats(args.horizons)
    system = lnn.systems.get("pendulum")
    k_train, k_test, k_fit = jax.random.split(jax.random.key(args.seed), 3)
    train = recording(
        system, k_train, args.n_train, args, args.duration, floats(args.frequencies), args.out / "train.csv"
    )
    test = recording(
        system, k_test, args.n_test, args, args.test_duration, floats(args.test_frequencies), args.out / "test.csv"
    )
    chosen = observed.recipe(train)
    method = {
        "recipe": chosen.method,
        "matching": observed.TrajectoryMatching(),
        "derivatives": observed.FromDerivatives(),
    }[args.method]
    config = chosen.train if args.method == "recipe" else TrainConfig()
    if args.steps or args.budget:
        config = TrainConfig(steps=args.steps, time_budget=None if args.steps else args.budget)
    results = {"true system": observed.observed_rollout_error(system, test, horizons=horizons)}
    for name in args.models.split(","):
        role = chosen.model if name == "lnn" and args.method == "recipe" else name
        t0 = time.perf_counter()
        model, history = observed.fit_observations(
            role, train, key=k_fit, method=method, train_config=config, progress=False
        )
        seconds = time.perf_counter() - t0
        results[name] = {
            **observed.observed_rollout_error(model, test, horizons=horizons),
            "steps": int(history[-1]["step"]),
            "seconds": round(seconds, 1),
        }
    results.update(results["true system"]["baselines"])
    if args.json:
        print(json.dumps(results, indent=2))
        return
    budget = f"{args.steps} steps" if args.steps else f"{args.budget:g} s" if args.budget else "the recipe's schedule"
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine_description()}; load average {os.getloadavg()[0]:.1f} (shared: times are upper bounds)")
    for line in chosen.reasons if args.method == "recipe" else ():
        print(f"recipe: {line}")
    print(
        f"pendulum driven by sums of sines, {args.amplitude:g} N·m each: training {args.n_train} × {args.duration:g} s "
        f"at {args.fps:g} frames/s, ω = {args.frequencies} rad/s; held out {args.n_test} × {args.test_duration:g} s, "
        f"ω = {args.test_frequencies} rad/s; noise {args.noise:g}, jitter ±{args.jitter / 2:.0%} of a frame; "
        f"{args.method} ({type(method).__name__}), {budget} per model"
    )
    head = f"{'predictor':<20}{'valid time':>11}" + "".join(f"{'e@' + format(h, 'g') + ' s':>10}" for h in horizons)
    print(head + f"{'steps':>8}{'seconds':>9}")
    for name, r in results.items():
        errors = "".join(f"{r['rollout_error'].get(format(h, 'g'), float('nan')):>10.3g}" for h in horizons)
        extra = f"{r['steps']:>8,}{r['seconds']:>9.0f}" if "steps" in r else ""
        print(f"{name:<20}{r['valid_time']:>10.2f}s{errors}{extra}")
    if "lnn" in results and "baseline" in results:
        ours, box = results["lnn"], results["baseline"]
        ratios = [
            f"error at {k} s × {ours['rollout_error'][k] / box['rollout_error'][k]:.2f}"
            for k in (format(h, "g") for h in horizons)
            if k in ours["rollout_error"]
        ]
        print(
            f"LNN / black box, same run: valid time × {ours['valid_time'] / max(box['valid_time'], 1e-9):.2f}; "
            + ", ".join(ratios)
        )


if __name__ == "__main__":
    main()
