"""Sparse sampling: how a pendulum learned from positions predicts as the frame rate falls.

The same motions (a simulated pendulum, ``--n-train`` motions of ``--duration`` s,
Gaussian noise of ``--noise`` × the angle's spread, stamps jittered by ±``--jitter``/2
of a frame) are recorded at each frame rate of ``--fps`` (100, 30, 20 and 10 frames/s
by default), and an LNN is learned from each recording with the library's defaults
(``lnn.observed.fit_observations``; ``--method``) on the same schedule (``--steps``, so
every rate gets the same number of steps whatever the machine's load). Each model
predicts held-out motions recorded at the same rate, from the states estimated on that
recording (``lnn.observed.observed_rollout_error``). Printed per rate: error against
horizon (RMS over coordinates of (q̂ − q)/σ, mean over starts), valid time (median time
until it exceeds 0.2) and the ratio of valid times to the highest rate's, measured in the
same run; beside it the true system on the same held-out recording (the floor set by the
noise and the estimated initial states at that rate).

    python benchmarks/sampling.py                                 # 4 rates × 300 steps of matching
    python benchmarks/sampling.py --fps 30,10 --steps 1000 --json
    python benchmarks/sampling.py --method derivatives --steps 3000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax

import lnn
from lnn import observed
from lnn.experiment import machine_description
from lnn.training import TrainConfig


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's CLI runs it
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fps", default="100,30,20,10", help="frame rates, highest first (the reference)")
    parser.add_argument("--method", default="matching", choices=("matching", "derivatives"))
    parser.add_argument("--steps", type=int, default=300, help="training steps at every rate")
    parser.add_argument("--n-train", type=int, default=8)
    parser.add_argument("--n-test", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per training motion")
    parser.add_argument("--test-duration", type=float, default=20.0, help="seconds per held-out motion")
    parser.add_argument("--noise", type=float, default=0.005)
    parser.add_argument("--jitter", type=float, default=0.4, help="stamp jitter, a fraction of a frame")
    parser.add_argument("--max-energy", type=float, default=0.7, help="initial energy up to this × m g l")
    parser.add_argument("--horizons", default="0.5,1,2,5,10,15")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rates = [float(f) for f in args.fps.split(",")]
    horizons = [float(h) for h in args.horizons.split(",")]
    system = lnn.systems.get("pendulum")
    k_train, k_test, k_fit = jax.random.split(jax.random.key(args.seed), 3)
    method = observed.TrajectoryMatching() if args.method == "matching" else observed.FromDerivatives()
    config = TrainConfig(steps=args.steps, eval_every=max(args.steps // 5, 1))
    record = dict(noise=args.noise, jitter=args.jitter, max_energy=args.max_energy * system.energy_scale)
    results = {}
    for fps in rates:
        # The same initial states at every rate (same keys): only the sampling differs.
        train = observed.simulate(system, k_train, args.n_train, fps=fps, duration=args.duration, **record)
        test = observed.simulate(system, k_test, args.n_test, fps=fps, duration=args.test_duration, **record)
        t0 = time.perf_counter()
        model, history = observed.fit_observations(
            "lnn", train, key=k_fit, method=method, train_config=config, progress=False
        )
        seconds = time.perf_counter() - t0
        results[f"{fps:g}"] = {
            "lnn": observed.observed_rollout_error(model, test, horizons=horizons),
            "true system": observed.observed_rollout_error(system, test, horizons=horizons),
            "steps": int(history[-1]["step"]),
            "seconds": round(seconds, 1),
        }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine_description()}; load average {os.getloadavg()[0]:.1f} (shared: times are upper bounds)")
    print(
        f"pendulum, {args.n_train} training motions of {args.duration:g} s, {args.n_test} held-out of "
        f"{args.test_duration:g} s, noise "
        f"{args.noise:g}, jitter ±{args.jitter / 2:.0%} of a frame; LNN by {type(method).__name__} (defaults), "
        f"{args.steps} steps per rate"
    )
    keys = [format(h, "g") for h in horizons]
    print(
        f"{'frames/s':>9}{'valid (s)':>10}{'× ref':>7}"
        + "".join(f"{'e@' + k + ' s':>10}" for k in keys)
        + f"{'true: valid':>12}{'true e@' + keys[-1]:>11}{'seconds':>9}"
    )
    reference = results[f"{rates[0]:g}"]["lnn"]["valid_time"]
    for fps, r in results.items():
        ours, truth = r["lnn"], r["true system"]
        errors = "".join(f"{ours['rollout_error'].get(k, float('nan')):>10.3g}" for k in keys)
        print(
            f"{fps:>9}{ours['valid_time']:>10.2f}{ours['valid_time'] / max(reference, 1e-9):>7.2f}{errors}"
            f"{truth['valid_time']:>12.2f}{truth['rollout_error'].get(keys[-1], float('nan')):>11.3g}"
            f"{r['seconds']:>9.0f}"
        )


if __name__ == "__main__":
    main()
