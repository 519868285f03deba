"""Does an LNN need less data? Held-out error against the number of training states, per model and system.

For each system, training-set size N and seed, every model is trained for the same
number of steps on the same N random states with exact accelerations (10 % of them
held back for validation and early stopping, as ``lnn.fit`` does), then judged on
4,096 other states of the same distribution:

* derivative loss — each model's own training objective (q̈ for the LNN and the
  baseline, (q̇, ṗ) for the HNN, each component divided by its RMS), the number
  the LNN paper compares;
* acceleration error — mean |q̈ error| / mean |q̈|, the same quantity for every
  model (for the HNN, the q̈ its flow implies).

The table shows the median over seeds; the figure shows it with the min–max band.
A fixed step budget means the largest sets are not trained to convergence: the
curves measure how much each model gets out of N states in the same amount of
optimisation, which is the practical question.

    python benchmarks/data_efficiency.py            # defaults: 6 min 20 s on 2 idle cores (measured)
    python benchmarks/data_efficiency.py --sizes 100,1000 --seeds 1 --steps 1000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import lnn
from lnn import data, io, metrics
from lnn.experiment import machine_description
from lnn.plot import COLORS
from lnn.training import (
    TrainConfig,
    build_model,
    derivative_loss,
    fit,
)

SIZES = (100, 300, 1000, 3000, 10_000, 30_000)
METRICS = {"derivative_loss": "derivative loss", "accel_relative_error": "acceleration error"}


def run_one(system, model_name, train_set, held_out, seed: int, steps: int) -> dict:
    k_model, k_fit = jax.random.split(jax.random.fold_in(jax.random.key(seed), len(train_set)))
    model = build_model(model_name, train_set, k_model, angles=system.angles, true_system=system)
    t0 = time.perf_counter()
    config = TrainConfig(steps=steps, warmup_steps=min(500, steps // 10), eval_every=max(steps // 10, 50))
    trained, history = fit(model, train_set, key=k_fit, config=config, progress=False)
    seconds = time.perf_counter() - t0
    return {
        "derivative_loss": derivative_loss(trained, held_out),
        **metrics.acceleration_error(trained, held_out.q, held_out.qdot, held_out.qddot),
        "train_seconds": seconds,
        "best_val_loss": min(h["val_loss"] for h in history),
    }


def summarise(records: list[dict], metric: str) -> dict:
    """(system, model) -> size -> (median, min, max) over seeds."""
    out: dict = {}
    for r in records:
        out.setdefault((r["system"], r["model"]), {}).setdefault(r["n"], []).append(r[metric])
    return {
        key: {n: (float(np.median(v)), float(np.min(v)), float(np.max(v))) for n, v in by_n.items()}
        for key, by_n in out.items()
    }


def table_markdown(records: list[dict], sizes, metric: str) -> str:
    rows = [f"| system | model | {' | '.join(f'N = {n:,}' for n in sizes)} |", "|---|---|" + "---|" * len(sizes)]
    for (system, model), by_n in summarise(records, metric).items():
        cells = [f"{by_n[n][0]:.3g}" if n in by_n else "-" for n in sizes]
        rows.append(f"| {system} | {model} | {' | '.join(cells)} |")
    return "\n".join(rows)


def figure(path: Path, records: list[dict], systems: list[str]) -> Path:
    fig, axes = plt.subplots(len(METRICS), len(systems), figsize=(5.2 * len(systems), 7), squeeze=False)
    for col, system in enumerate(systems):
        for row, (metric, label) in enumerate(METRICS.items()):
            ax = axes[row, col]
            for i, ((s, model), by_n) in enumerate(summarise(records, metric).items()):
                if s != system:
                    continue
                ns = sorted(by_n)
                med, lo, hi = (np.array([by_n[n][k] for n in ns]) for k in range(3))
                color = COLORS.get(model, f"C{i}")
                ax.plot(ns, med, "o-", color=color, label=model)
                ax.fill_between(ns, lo, hi, color=color, alpha=0.2, lw=0)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            ax.set_title(f"{system}: {label}")
            ax.set_xlabel("training states N")
        axes[0, col].legend()
    fig.tight_layout()
    import io as _io

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return io.atomic_write(path, lambda f: f.write(buf.getvalue()))


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--systems", default="double_pendulum,relativistic")
    p.add_argument("--models", default="lnn,hnn,baseline")
    p.add_argument("--sizes", default=",".join(str(n) for n in SIZES))
    p.add_argument("--seeds", type=int, default=3, help="seeds per (system, model, size)")
    p.add_argument("--steps", type=int, default=3000, help="training steps per model (batch 256)")
    p.add_argument("--out", default="runs/data_efficiency", help="folder for results.json, table.md and the figure")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = p.parse_args()
    systems = args.systems.split(",")
    models = args.models.split(",")
    sizes = [int(n) for n in args.sizes.split(",")]
    out = Path(args.out)

    # Fits of the same shapes (the same N, another seed) reuse compiled programs from disk.
    jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="lnn-jit-cache-"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

    console = Console(stderr=args.json)
    console.print(
        f"data efficiency: {', '.join(models)} on {', '.join(systems)}; N = {sizes}; "
        f"{args.seeds} seed(s); {args.steps:,} steps each; {machine_description()}"
    )
    t_start = time.perf_counter()
    records = []
    total = len(systems) * len(sizes) * args.seeds * len(models)
    with Progress(console=console) as bar:
        task = bar.add_task("fits", total=total)
        for system_name in systems:
            system = lnn.systems.get(system_name)
            held_out = data.random_states(system, jax.random.key(10_000), 4096)
            for seed in range(args.seeds):
                pool = data.random_states(system, jax.random.key(seed), max(sizes))
                for n in sizes:
                    # Nested training sets: the N states of a seed are the first N of one draw.
                    train_set = pool.subset(np.arange(n))
                    for model_name in models:
                        bar.update(task, description=f"{system_name} N={n:,} seed {seed} {model_name}")
                        r = run_one(system, model_name, train_set, held_out, seed, args.steps)
                        records.append({"system": system_name, "model": model_name, "n": n, "seed": seed, **r})
                        bar.console.print(
                            f"{system_name} N={n:,} seed {seed} {model_name}: derivative loss "
                            f"{r['derivative_loss']:.3g}, acceleration error "
                            f"{r['accel_relative_error']:.3g} ({r['train_seconds']:.0f} s)"
                        )
                        bar.advance(task)
    seconds = time.perf_counter() - t_start

    tables = {m: table_markdown(records, sizes, m) for m in METRICS}
    fig_path = figure(out / "data_efficiency.png", records, systems)
    settings = {
        "systems": systems,
        "models": models,
        "sizes": sizes,
        "seeds": args.seeds,
        "steps": args.steps,
        "seconds": seconds,
        "machine": machine_description(),
    }
    io.write_json(out / "results.json", {"settings": settings, "records": records})
    io.write_text(
        out / "table.md",
        "\n\n".join(
            f"{label} (median over {args.seeds} seeds, {args.steps:,} steps each):\n\n{tables[m]}"
            for m, label in METRICS.items()
        )
        + "\n",
    )
    if args.json:
        print(json.dumps({"settings": settings, "records": records}))
        return
    for metric, label in METRICS.items():
        table = Table(title=f"{label}, median over {args.seeds} seed(s)")
        table.add_column("system")
        table.add_column("model")
        for n in sizes:
            table.add_column(f"N={n:,}", justify="right")
        for (system, model), by_n in summarise(records, metric).items():
            table.add_row(system, model, *[f"{by_n[n][0]:.3g}" if n in by_n else "-" for n in sizes])
        console.print(table)
    console.print(
        f"{len(records)} fits in {seconds / 60:.1f} min; wrote {fig_path}, {out / 'table.md'}, {out / 'results.json'}"
    )


if __name__ == "__main__":
    main()
