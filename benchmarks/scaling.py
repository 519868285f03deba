"""Cost per state against the number of coordinates n: lnn vs the reference formulation.

System: the spring chain (n masses on springs), n = 1 … 256. Model: a LagrangianNN
(MLP of width 128, depth 2) on the chain's 2n inputs. For each n, per state:

* reference — the original code's full 2n × 2n Hessian and pseudo-inverse;
* lnn dense — analytic MLP derivatives (n + 1 tangents) and an LU solve;
* lnn cg — matrix-free conjugate gradients on Hessian-vector products;
* lnn auto — what lnn uses by default (dense below lnn.mechanics.CG_FROM_DOF, CG above).

Forming M costs n Hessian-vector products, so the dense paths grow like n × (cost of
one pass), i.e. faster than linearly; CG needs a number of products set by M's
conditioning (here M ≈ βI: a few), so its cost follows one pass of the network, which
grows linearly in n through the first layer.

    python benchmarks/scaling.py
    python benchmarks/scaling.py --json   # {"growth_8_to_128", "reference_growth_8_to_128", ...}
"""

from __future__ import annotations

import argparse
import json

import equinox as eqx
import jax
import jax.numpy as jnp
from _common import Reference, header, interleaved_medians
from rich.console import Console
from rich.table import Table

import lnn
from lnn.training import acceleration_loss

KINDS = ("reference", "lnn dense", "lnn cg", "lnn auto")


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1,2,4,8,16,32,64,128,256")
    p.add_argument(
        "--reference-up-to",
        type=int,
        default=128,
        help="largest n for the reference (its pinv of a 2n-wide Hessian gets slow)",
    )
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    def accel(m, q, qdot):
        return jax.vmap(m.acceleration)(q, qdot)

    def step(m, q, qdot, qddot):
        return eqx.filter_value_and_grad(acceleration_loss)(m, q, qdot, qddot, jnp.ones(q.shape[1], q.dtype))

    accel_jit, step_jit = eqx.filter_jit(accel), eqx.filter_jit(step)
    per_state: dict[str, dict[int, tuple[float, float]]] = {k: {} for k in KINDS}
    cg_iterations = {}
    for n in sizes:
        system = lnn.systems.get("spring_chain", n=n)
        k_model, k_data = jax.random.split(jax.random.fold_in(jax.random.key(args.seed), n))
        q, qdot = system.sample_states(k_data, args.batch)
        q, qdot = q.astype(args.dtype), qdot.astype(args.dtype)
        qddot = system.closed_form_accelerations(q, qdot).astype(args.dtype)
        arch = dict(key=k_model, width=args.width, depth=args.depth, dtype=args.dtype)
        models = {
            "lnn dense": lnn.LagrangianNN(n, linear_solver=lnn.mechanics.LU(), **arch),
            "lnn cg": lnn.LagrangianNN(n, linear_solver=lnn.mechanics.CG(), **arch),
            "lnn auto": lnn.LagrangianNN(n, **arch),
        }
        if n <= args.reference_up_to:
            models["reference"] = Reference(models["lnn dense"])
        calls = []
        for m in models.values():
            calls += [(accel_jit, (m, q, qdot)), (step_jit, (m, q, qdot, qddot))]
        times = interleaved_medians(calls, args.repeats)
        for i, name in enumerate(models):
            per_state[name][n] = (times[2 * i] / args.batch, times[2 * i + 1] / args.batch)
        cg_iterations[n] = _cg_iterations(models["lnn dense"], q[0], qdot[0])

    def growth(kind, index=0):
        table = per_state[kind]
        return table[128][index] / table[8][index] if 8 in table and 128 in table else None

    result = {
        "growth_8_to_128": growth("lnn auto"),
        "reference_growth_8_to_128": growth("reference"),
        "train_growth_8_to_128": growth("lnn auto", 1),
        "reference_train_growth_8_to_128": growth("reference", 1),
        "dense_growth_8_to_128": growth("lnn dense"),
        "cg_growth_8_to_128": growth("lnn cg"),
        "cg_from_dof": lnn.mechanics.CG_FROM_DOF,
        "per_state_seconds": {k: {str(n): v for n, v in t.items()} for k, t in per_state.items()},
    }
    if args.json:
        print(json.dumps(result))
        return
    console = Console(width=140)
    console.print(
        header(f"spring chain, LagrangianNN {args.width}x{args.depth}, batch {args.batch}, {args.dtype}", args.repeats)
    )
    for index, what in ((0, "accelerations"), (1, "training step")):
        table = Table(title=f"µs per state, {what}")
        table.add_column("n", justify="right")
        for kind in KINDS:
            table.add_column(kind, justify="right")
        table.add_column("reference / auto", justify="right")
        table.add_column("CG iterations", justify="right")
        for n in sizes:
            cells = [f"{1e6 * per_state[k][n][index]:,.1f}" if n in per_state[k] else "—" for k in KINDS]
            ratio = (
                f"{per_state['reference'][n][index] / per_state['lnn auto'][n][index]:.1f}x"
                if n in per_state["reference"]
                else "—"
            )
            table.add_row(str(n), *cells, ratio, str(cg_iterations[n]))
        console.print(table)
    fmt = lambda g: "—" if g is None else f"{g:.1f}x"
    console.print(
        f"growth of cost per state from n = 8 to n = 128 (linear: 16x): accelerations lnn auto "
        f"{fmt(result['growth_8_to_128'])}, reference {fmt(result['reference_growth_8_to_128'])}; "
        f"training step lnn auto {fmt(result['train_growth_8_to_128'])}, reference "
        f"{fmt(result['reference_train_growth_8_to_128'])}. lnn auto switches to CG at n ≥ "
        f"{lnn.mechanics.CG_FROM_DOF}."
    )


def _cg_iterations(model, q, qdot) -> int:
    """Conjugate-gradient iterations to the default tolerance for one state (counted by hand)."""
    (dL_dq, _), push = jax.linearize(jax.grad(model.lagrangian, argnums=(0, 1)), q, qdot)
    zeros = jnp.zeros_like(q)
    b = dL_dq - push(qdot, zeros)[1]
    tol = 1e-10 if q.dtype == jnp.float64 else 1e-5
    x, r = jnp.zeros_like(b), b
    d, rr = r, r @ r
    for i in range(4 * q.shape[0]):
        if jnp.sqrt(rr) <= tol * jnp.linalg.norm(b):
            return i
        Md = push(zeros, d)[1]
        alpha = rr / (d @ Md)
        x, r = x + alpha * d, r - alpha * Md
        rr_new = r @ r
        d, rr = r + (rr_new / rr) * d, rr_new
    return 4 * q.shape[0]


if __name__ == "__main__":
    main()
