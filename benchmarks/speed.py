"""Speed of the Euler–Lagrange accelerations and of a training step: lnn vs the reference formulation.

The reference formulation is the original LNN code's: the full 2n × 2n Hessian of L
(``jax.hessian``), its blocks, and a pseudo-inverse. lnn's LagrangianNN uses analytic
MLP derivatives (one forward pass carrying n + 1 tangents and one backward pass) and a
solve; the StructuredLagrangian needs no second derivatives at all. All run here, on
the same batch, interleaved, so the ratios are measured in one run on one machine.
Achieved GFLOP/s (XLA's cost analysis / time) is printed beside the machine's peak.

    python benchmarks/speed.py            # float32, the paper's net (600 wide, 3 hidden layers), batch 512
    python benchmarks/speed.py --width 128 --depth 2 --dtype float64
    python benchmarks/speed.py --json     # {"accel_speedup", "train_speedup", "gflops", "peak_gflops", ...}
"""

from __future__ import annotations

import argparse
import json

import equinox as eqx
import jax
import jax.numpy as jnp
from _common import Reference, flops, header, interleaved_medians, measured_peak_gflops, nominal_peak_gflops
from rich.console import Console
from rich.table import Table

import lnn
from lnn.training import acceleration_loss


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=600)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args()

    system = lnn.systems.get("double_pendulum")
    k_model, k_data = jax.random.split(jax.random.key(args.seed))
    arch = dict(key=k_model, width=args.width, depth=args.depth, angles=(True, True), qdot_scale=5.0, dtype=args.dtype)
    model = lnn.LagrangianNN(2, **arch)
    models = {
        "reference (full Hessian + pinv)": Reference(model),
        "lnn LagrangianNN": model,
        "lnn StructuredLagrangian": lnn.StructuredLagrangian(2, **arch),
    }
    q, qdot = system.sample_states(k_data, args.batch)
    q, qdot = q.astype(args.dtype), qdot.astype(args.dtype)
    qddot = system.closed_form_accelerations(q, qdot).astype(args.dtype)
    scale = jnp.ones(2, dtype=args.dtype)

    def accel(m, q, qdot):  # each model's batched path, as training uses it
        return m.accelerations(q, qdot)

    def step(m, q, qdot, qddot):
        return eqx.filter_value_and_grad(acceleration_loss)(m, q, qdot, qddot, scale)

    accel_jit, step_jit = eqx.filter_jit(accel), eqx.filter_jit(step)
    # Accelerations of every formulation interleaved, then training steps interleaved; each
    # timed call follows one of its own (steady state, as in training; see _common).
    t_accs = interleaved_medians([(accel_jit, (m, q, qdot)) for m in models.values()], args.repeats, settle=1)
    t_steps = interleaved_medians([(step_jit, (m, q, qdot, qddot)) for m in models.values()], args.repeats, settle=1)
    rows = {}
    for name, m, t_acc, t_step in zip(models, models.values(), t_accs, t_steps, strict=True):
        params, static = eqx.partition(m, eqx.is_array)
        work = flops(lambda p, *a, static=static: step(eqx.combine(p, static), *a), params, q, qdot, qddot)
        rows[name] = (args.batch / t_acc, 1.0 / t_step, work / t_step / 1e9)
    peak = measured_peak_gflops(args.dtype)
    nominal = nominal_peak_gflops(args.dtype)

    ref_acc, ref_step, _ = rows["reference (full Hessian + pinv)"]
    lnn_acc, lnn_step, lnn_gflops = rows["lnn LagrangianNN"]
    st_acc, st_step, _ = rows["lnn StructuredLagrangian"]
    result = {
        "accel_speedup": lnn_acc / ref_acc,
        "train_speedup": lnn_step / ref_step,
        "gflops": lnn_gflops,
        "peak_gflops": peak,
        "nominal_peak_gflops": nominal,
        "accelerations_per_s": lnn_acc,
        "train_steps_per_s": lnn_step,
        "structured_accel_speedup": st_acc / ref_acc,
        "structured_train_speedup": st_step / ref_step,
    }
    if args.json:
        print(json.dumps(result))
        return
    console = Console(width=120)
    console.print(
        header(
            f"double pendulum, MLP {args.width}x{args.depth} softplus, batch {args.batch}, {args.dtype}", args.repeats
        )
    )
    table = Table()
    for col in ("formulation", "accelerations/s", "train steps/s", "accel ratio", "step ratio", "train GFLOP/s"):
        table.add_column(col, justify="right")
    for name, (acc, st, gf) in rows.items():
        table.add_row(name, f"{acc:,.0f}", f"{st:,.2f}", f"{acc / ref_acc:.2f}x", f"{st / ref_step:.2f}x", f"{gf:.1f}")
    console.print(table)
    nominal_text = f"; nominal {nominal:.0f} GFLOP/s (cores × listed clock × FMA width)" if nominal else ""
    console.print(
        f"peak: {peak:.0f} GFLOP/s measured (2048² {args.dtype} matmul through XLA){nominal_text}. "
        f"lnn's training step reaches {100 * lnn_gflops / peak:.0f}% of the measured peak."
    )


if __name__ == "__main__":
    main()
