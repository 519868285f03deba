"""How well is friction learned? The damping coefficient of a simulated damped pendulum, learned by an
LNN + Rayleigh dissipation, against the truth.

Rows 1–3: independent states of ``damped_pendulum`` (m = l = 1, so m l² = 1 kg·m²)
with exact accelerations, for three damping coefficients b. Motion fixes the
damping *rate* γ = b/(m l²) (a Lagrangian and its dissipation can be scaled
together without changing the motion), so b is read as m l² · γ with the true
inertia. Row 4: trajectories of the same pendulum driven by a known torque
A cos Ωt; the torque's units fix the scale of L, so b (and m l²) come out of the
model directly, with no true value supplied. Run from the repository root:

    python benchmarks/damping.py            # about 2 minutes on a 2-core CPU
    python benchmarks/damping.py --json
"""

from __future__ import annotations

import argparse
import json
import math
import time

import jax

import lnn
from lnn import data, metrics
from lnn.models import with_dissipation
from lnn.training import TrainConfig, build_model, fit


def learn(system, dataset, *, steps: int, seed: int, val_fraction: float = 0.1):
    keys = jax.random.split(jax.random.key(seed), 3)
    model = with_dissipation(
        build_model("lnn", dataset, keys[0], angles=system.angles, true_system=system, width=32, dtype="float64"),
        key=keys[1],
    )
    config = TrainConfig(steps=steps, batch_size=256, warmup_steps=200, eval_every=500, val_fraction=val_fraction)
    model, _ = fit(model, dataset, key=keys[2], config=config, progress=False)
    return model


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for b in (0.1, 0.3, 1.0):
        t0 = time.perf_counter()
        system = lnn.systems.get("damped_pendulum", b=b)
        ds = data.random_states(system, jax.random.key(args.seed), 2000)
        report = metrics.damping_report(learn(system, ds, steps=args.steps, seed=args.seed + 1), inertia=1.0)
        rows.append(_row(f"states, b = {b:g}", b, report["coefficient"][0][0], report, time.perf_counter() - t0))
    t0 = time.perf_counter()
    b = 0.3
    system = lnn.systems.get("damped_pendulum", b=b, drive=2.0, omega=2.5)
    ds = data.trajectories(system, jax.random.key(args.seed), 12, duration=10.0, fps=20.0)
    report = metrics.damping_report(learn(system, ds, steps=args.steps, seed=args.seed + 1, val_fraction=0.2))
    row = _row(f"driven trajectories, b = {b:g}", b, report["damping_matrix"][0][0], report, time.perf_counter() - t0)
    row["learned_inertia"] = report["mass_matrix"][0][0]
    rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"learned damping of a pendulum (g = 9.8, m l² = 1), {args.steps:,} steps each")
    for col in (
        "data",
        "b true",
        "b learned",
        "error",
        "ζ true",
        "ζ learned",
        "decay time (s)",
        "m l² learned",
        "seconds",
    ):
        table.add_column(col, justify="left" if col == "data" else "right")
    for r in rows:
        table.add_row(
            r["data"],
            f"{r['b_true']:.3g}",
            f"{r['b_learned']:.4g}",
            f"{100 * r['relative_error']:.1f} %",
            f"{r['zeta_true']:.4f}",
            f"{r['zeta_learned']:.4f}",
            f"{r['decay_time']:.3g}",
            f"{r['learned_inertia']:.3f}" if "learned_inertia" in r else "(given)",
            f"{r['seconds']:.0f}",
        )
    Console(width=120).print(table)


def _row(label, b_true, b_learned, report, seconds) -> dict:
    return {
        "data": label,
        "b_true": b_true,
        "b_learned": b_learned,
        "relative_error": abs(b_learned - b_true) / b_true,
        "zeta_true": b_true / (2 * math.sqrt(9.8)),
        "zeta_learned": report["damping_ratio"][0],
        "decay_time": report["decay_time"][0],
        "seconds": round(seconds, 1),
    }


if __name__ == "__main__":
    main()
