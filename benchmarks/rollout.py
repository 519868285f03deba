"""Rollout throughput: frames per second for many initial conditions of the trained double pendulum.

1,000 initial conditions × 1,000 frames (10 s at 100 frames/s), integrated at once by
``lnn.rollout``: fixed-step RK4 (dt = 0.005) — lnn's own and the same tableau through Diffrax
(which ships no classical RK4) — and adaptive Tsit5 (rtol = atol = 1e-6).
The model is trained here for ``--train-seconds`` (or loaded with ``--model``), and
the same rollout with the reference formulation's accelerations (full Hessian +
pinv) is timed in the same run for the ratio. Compile time is reported separately:
it is paid once per model structure, shapes and settings, and a second call with
new initial conditions (or new weights) does not recompile.

    python benchmarks/rollout.py
    python benchmarks/rollout.py --model runs/train/model.eqx --json   # {"frames_per_second", ...}
"""

from __future__ import annotations

import argparse
import functools
import json

import diffrax
import jax
import numpy as np
from _common import Reference, block, header
from rich.console import Console
from rich.table import Table

import lnn
from lnn import data, io, training
from lnn.training import build_model


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a model.eqx from `lnn train` (default: train one here)")
    p.add_argument("--train-seconds", type=float, default=60.0)
    p.add_argument("--initial", type=int, default=1000)
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--fps", type=float, default=100.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--reference-initial",
        type=int,
        default=100,
        help="initial conditions for the (slow) reference rollout; rates are per frame",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args()

    system = lnn.systems.get("double_pendulum")
    k_data, k_model, k_fit, k_ic = jax.random.split(jax.random.key(args.seed), 4)
    if args.model:
        model, _ = io.load_model(args.model)
    else:
        dataset = data.random_states(system, k_data, 50_000)
        model = build_model("lnn", dataset, k_model, angles=system.angles, true_system=system)
        model, _ = training.fit(
            model,
            dataset,
            key=k_fit,
            progress=not args.json,
            label="lnn",
            config=training.TrainConfig(time_budget=args.train_seconds),
        )
    q0, v0 = system.sample_states(k_ic, args.initial)
    ts = np.arange(args.frames) / args.fps
    runs = {
        "lnn rk4 (dt 0.005)": (model, dict(solver=lnn.RK4(0.005)), args.initial),
        "diffrax rk4 (dt 0.005)": (
            model,
            dict(solver=DiffraxRK4(), stepsize_controller=diffrax.ConstantStepSize(), dt0=0.005),
            args.initial,
        ),
        "lnn adaptive (tsit5, 1e-6)": (
            model,
            dict(solver=diffrax.Tsit5(), stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-6)),
            args.initial,
        ),
        "reference rk4 (dt 0.005)": (Reference(model), dict(solver=lnn.RK4(0.005)), args.reference_initial),
    }
    rows = {}
    for name, (m, opts, n_ic) in runs.items():
        run = functools.partial(
            lambda shift, m, n_ic, opts: lnn.rollout(m, q0[:n_ic] + shift, v0[:n_ic], ts, **opts),
            m=m,
            n_ic=n_ic,
            opts=opts,
        )
        first = block(run, 0.0)
        times = [block(run, 1e-3 * k) for k in range(1, args.repeats + 1)]
        run_time = float(np.median(times))
        rows[name] = (n_ic * args.frames / run_time, max(first - run_time, 0.0), run_time, n_ic)

    fps_rk4 = rows["lnn rk4 (dt 0.005)"][0]
    result = {
        "frames_per_second": fps_rk4,
        "adaptive_frames_per_second": rows["lnn adaptive (tsit5, 1e-6)"][0],
        "diffrax_rk4_frames_per_second": rows["diffrax rk4 (dt 0.005)"][0],
        "reference_frames_per_second": rows["reference rk4 (dt 0.005)"][0],
        "compile_seconds": rows["lnn rk4 (dt 0.005)"][1],
        "adaptive_compile_seconds": rows["lnn adaptive (tsit5, 1e-6)"][1],
    }
    if args.json:
        print(json.dumps(result))
        return
    console = Console(width=120)
    cfg = model.config()
    console.print(
        header(
            f"double pendulum, {cfg['class']} {cfg['width']}x{cfg['depth']} {cfg['dtype']}, "
            f"{args.frames} frames at {args.fps:g}/s",
            args.repeats,
        )
    )
    table = Table()
    for col in ("rollout", "initial conditions", "frames/s", "run (s)", "compile (s)", "vs reference"):
        table.add_column(col, justify="right")
    ref = rows["reference rk4 (dt 0.005)"][0]
    for name, (fps, compile_s, run_s, n_ic) in rows.items():
        table.add_row(name, f"{n_ic:,}", f"{fps:,.0f}", f"{run_s:.2f}", f"{compile_s:.1f}", f"{fps / ref:.1f}x")
    console.print(table)


class DiffraxRK4(diffrax.AbstractERK):
    """Classical RK4 as a Diffrax explicit Runge–Kutta solver (Diffrax ships none), to time against lnn.RK4."""

    tableau = diffrax.ButcherTableau(
        a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
        b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
        b_error=np.zeros(4),
        c=np.array([0.5, 0.5, 1.0]),
    )
    interpolation_cls = diffrax.ThirdOrderHermitePolynomialInterpolation.from_k

    def order(self, terms):
        return 4


if __name__ == "__main__":
    main()
