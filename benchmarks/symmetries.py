"""Which symmetries does a learned Lagrangian have? Noether discovery on LNNs trained on four systems.

For each case an LNN is trained on random states with exact accelerations (like
``lnn train``), then :func:`lnn.symmetry.discover` searches the combinations of
candidate generators (translations, rotations of Cartesian pairs, scalings)
that leave the *learned* L invariant, and :func:`lnn.symmetry.verify` tracks
each charge along rollouts of the model and of the true system. The closed-form
Lagrangian of each system is analysed the same way, as the reference.

Cases: two bodies on a spring (expect 2 translations + 1 rotation), the same in
a uniform field along x (g = 1, a seventh of the spring's typical acceleration; the
x-translation and the rotation are broken: 1 symmetry), a central 1/r² force in Cartesian coordinates (1 rotation), a
pendulum (none besides time).

    python benchmarks/symmetries.py                   # table, ~3-5 min on 2 CPU cores
    python benchmarks/symmetries.py --json            # one JSON object
    python benchmarks/symmetries.py --figure docs/symmetries_two_body.png

Writes the figure of the two-body model's charges over time (``--figure``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from rich.console import Console
from rich.table import Table

import lnn
from lnn import data, plot
from lnn import symmetry as sym
from lnn.experiment import machine_description
from lnn.training import TrainConfig, build_model, fit

CASES = [  # (label, system name, parameters, expected number of symmetries besides time, rollout seconds)
    ("two bodies, spring", "two_body", {}, 3, 5.0),
    # the field accelerates the pair out of its training box: short rollouts
    ("two bodies, spring, field 1 along x", "two_body", {"field": 1.0}, 1, 1.5),
    ("central force 1/r² (Cartesian)", "kepler", {}, 1, 5.0),
    ("pendulum", "pendulum", {}, 0, 5.0),
]


def train(system, key, *, steps: int, n_train: int, width: int):
    k_data, k_model, k_fit = jax.random.split(key, 3)
    dataset = data.random_states(system, k_data, n_train)
    model = build_model(
        "lnn", dataset, k_model, angles=system.angles, true_system=system, width=width, depth=2, dtype="float32"
    )
    t0 = time.perf_counter()
    model, _ = fit(model, dataset, key=k_fit, config=TrainConfig(steps=steps), progress=False, label=system.name)
    q, qdot = system.sample_states(jax.random.fold_in(k_data, 1), 2000)
    true = system.closed_form_accelerations(q, qdot)
    error = float(jnp.mean(jnp.abs(lnn.accelerations(model, q, qdot) - true)) / jnp.mean(jnp.abs(true)))
    return model, error, time.perf_counter() - t0


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="training steps per model")
    parser.add_argument("--n-train", type=int, default=20_000, help="random training states per model")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--figure",
        type=Path,
        default=Path("runs/symmetries/charges_two_body.png"),
        help="where to write the two-body model's charges over time",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args()

    console = Console(stderr=args.json, width=150)
    results = []
    key = jax.random.key(args.seed)
    for i, (label, name, params, expected, t_end) in enumerate(CASES):
        system = lnn.systems.get(name, **params)
        k_train, k_analyse = jax.random.split(jax.random.fold_in(key, i))
        model, accel_error, seconds = train(system, k_train, steps=args.steps, n_train=args.n_train, width=args.width)
        row = {
            "case": label,
            "system": name,
            "parameters": params,
            "expected": expected,
            "accel_relative_error": accel_error,
            "train_seconds": seconds,
        }
        for which, L in (("closed_form", system), ("model", model)):
            found, checked = sym.find_symmetries(L, system, k_analyse, t_end=t_end)
            row[which] = sym.report(found, checked)
            if which == "model" and name == "two_body" and not params:
                plot.charges(
                    args.figure,
                    "LNN trained on two bodies on a spring: discovered charges along rollouts",
                    [s.label for s in found.symmetries],
                    checked,
                )
        if params.get("field"):
            # The field-free system's symmetries, scored on this L: which are broken?
            free = sym.discover(
                lnn.systems.get(name).lagrangian, sym.candidates(system), *system.sample_states(k_analyse, 500)
            )
            q, qdot = system.sample_states(jax.random.fold_in(k_analyse, 1), 2000)
            row["field_free_symmetries"] = [
                {
                    "label": s.label,
                    "score_model": sym.symmetry_score(sym.even_part(model), s.xi, q, qdot),
                    "score_closed_form": sym.symmetry_score(system.lagrangian, s.xi, q, qdot),
                }
                for s in free.symmetries
            ]
        results.append(row)
        console.print(
            f"{label}: trained in {seconds:.0f} s, acceleration error {accel_error:.2%}, "
            f"{row['model']['n_symmetries']} symmetries found (expected {expected})"
        )

    if args.json:
        print(json.dumps({"machine": machine_description(), "steps": args.steps, "results": results}))
        return
    table = Table(
        title=f"Symmetries of learned Lagrangians (LNN {args.width}×2, {args.steps:,} steps, "
        f"{args.n_train:,} states); threshold {sym.DEFAULT_THRESHOLD:g}"
    )
    for col in ("case", "L", "accel. err", "found", "smallest singular values", "gap", "L_z drift", "E drift"):
        table.add_column(col, justify="left" if col in ("case", "L") else "right")
    for r in results:
        for which in ("closed_form", "model"):
            rep = r[which]
            k = rep["n_symmetries"]
            rot = [s for s in rep["symmetries"] if s["kind"] == "rotation"]
            table.add_row(
                r["case"] if which == "closed_form" else "",
                "closed form" if which == "closed_form" else "LNN",
                "" if which == "closed_form" else f"{r['accel_relative_error']:.2%}",
                f"{k} (exp. {r['expected']})",
                ", ".join(f"{v:.2g}" for v in rep["singular_values"][: k + 2]),
                f"{rep['gap']:.3g}",
                f"{rot[0]['drift']['model']:.2g}" if rot else "-",
                f"{rep['energy_drift']['model']:.2g}",
            )
    console.print(table)
    for r in results:
        for s in r["model"]["symmetries"]:
            console.print(f"{r['case']}, LNN: {s['kind']} {s['label']} (score {s['score']:.2g})")
    for r in results:
        for s in r.get("field_free_symmetries", []):
            verdict = "broken" if s["score_model"] >= sym.DEFAULT_THRESHOLD else "kept"
            console.print(
                f"{r['case']}: field-free symmetry {s['label']}: score {s['score_model']:.3g} on the LNN "
                f"({s['score_closed_form']:.3g} closed form) -> {verdict}"
            )
    for r in results:
        idx = next((i for i, s in enumerate(r["model"]["symmetries"]) if s["kind"] == "rotation"), None)
        if idx is not None:
            d = r["model"]["symmetries"][idx]["drift"]
            console.print(
                f"{r['case']}: angular momentum drift over {r['model']['rollouts']['t_end']:g} s "
                f"(max |ΔQ| / RMS Q, mean of {r['model']['rollouts']['n']} rollouts): learned charge on "
                f"LNN rollouts {d['model']:.2g}; true L_z on LNN rollouts "
                f"{d['true_charge_on_model_rollouts']:.2g}; true L_z on true rollouts {d['true_system']:.2g}"
            )
    console.print(f"figure: {args.figure}; machine: {machine_description()}")


if __name__ == "__main__":
    main()
