"""Speed of the Euler–Lagrange accelerations and of a training step: lnn vs the reference formulation.

The reference formulation is the original LNN code's: the full 2n × 2n Hessian of L
(``jax.hessian``), its blocks, and a pseudo-inverse. lnn linearises ∇L once and
pushes n + 1 tangents, then solves. Both run here, on the same model and batch,
so the ratio is measured in one run on one machine.

    python benchmarks/speed.py            # float32, the paper's net (600 wide, 3 hidden layers), batch 512
    python benchmarks/speed.py --width 128 --depth 2 --dtype float64
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
from rich.console import Console
from rich.table import Table

import lnn
from lnn.train import acceleration_loss


def reference_acceleration(L, q, qdot):
    """The original code's q̈: full Hessian over (q, q̇), then a pseudo-inverse."""
    n = q.shape[0]
    z = jnp.concatenate([q, qdot])
    f = lambda z: L(z[:n], z[n:])  # noqa: E731
    g = jax.grad(f)(z)
    H = jax.hessian(f)(z)
    return jnp.linalg.pinv(H[n:, n:]) @ (g[:n] - H[n:, :n] @ qdot)


class _Reference(eqx.Module):
    model: lnn.LagrangianNN

    def acceleration(self, q, qdot):
        return reference_acceleration(self.model, q, qdot)


def median_time(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile + warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
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
    model = lnn.LagrangianNN(2, key=k_model, width=args.width, depth=args.depth, angles=(True, True),
                             qdot_scale=5.0, dtype=args.dtype)
    q, qdot = system.sample_states(k_data, args.batch)
    q, qdot = q.astype(args.dtype), qdot.astype(args.dtype)
    qddot = system.closed_form_accelerations(q, qdot).astype(args.dtype)
    scale = jnp.ones(2, dtype=args.dtype)

    rows = {}
    for name, m in (("reference (full Hessian + pinv)", _Reference(model)), ("lnn", model)):
        @eqx.filter_jit
        def accel(m, q, qdot):
            return jax.vmap(m.acceleration)(q, qdot)

        @eqx.filter_jit
        def step(m, q, qdot, qddot):
            return eqx.filter_value_and_grad(acceleration_loss)(m, q, qdot, qddot, scale)

        t_acc = median_time(accel, m, q, qdot, repeats=args.repeats)
        t_step = median_time(step, m, q, qdot, qddot, repeats=args.repeats)
        rows[name] = (args.batch / t_acc, 1.0 / t_step)

    ref_acc, ref_step = rows["reference (full Hessian + pinv)"]
    lnn_acc, lnn_step = rows["lnn"]
    result = {"accel_speedup": lnn_acc / ref_acc, "train_speedup": lnn_step / ref_step,
              "accelerations_per_s": lnn_acc, "train_steps_per_s": lnn_step}
    if args.json:
        print(json.dumps(result))
        return
    console = Console()
    console.print(f"double pendulum, MLP 6 -> {args.width}x{args.depth} -> 1 softplus, batch {args.batch}, "
                  f"{args.dtype}; JAX {jax.__version__} on {jax.devices()[0].device_kind}, "
                  f"{platform.machine()}; medians of {args.repeats} after warm-up")
    table = Table()
    for col in ("formulation", "accelerations/s", "train steps/s", "accel ratio", "step ratio"):
        table.add_column(col, justify="right")
    for name, (acc, st) in rows.items():
        table.add_row(name, f"{acc:,.0f}", f"{st:,.2f}", f"{acc / ref_acc:.2f}x", f"{st / ref_step:.2f}x")
    console.print(table)


if __name__ == "__main__":
    main()
