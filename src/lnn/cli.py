"""The ``lnn`` command line: thin wrappers over the library.

Every command has ``--help``, ``--seed`` and ``--out`` (where it writes), and
defaults that work. A user's mistake prints one line (``error: ...``) and exits
with status 2; set ``LNN_DEBUG=1`` for the traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Lagrangian Neural Networks: learn L(q, q̇) from trajectories.")
console = Console()
err_console = Console(stderr=True)

SEED = typer.Option(0, help="PRNG seed; the same seed gives the same numbers.")


def _log(msg: str) -> None:
    console.print(msg)


@app.command()
def systems() -> None:
    """List the built-in systems."""
    from lnn import systems as registry

    table = Table(title="built-in systems")
    for col in ("name", "dof", "coordinates", "parameters", "description"):
        table.add_column(col)
    for name in registry.names():
        s = registry.get(name)
        coords = ", ".join(f"{c}{' (angle)' if a else ''}" for c, a in zip(s.coordinates, s.angles))
        params = ", ".join(f"{k}={v:g}" for k, v in s.parameters.items())
        table.add_row(name, str(s.dof), coords, params, s.description)
    console.print(table)


@app.command()
def generate(
    system: str = typer.Argument("double_pendulum", help="system name (see `lnn systems`)"),
    kind: str = typer.Option("states", help="'states' (independent, exact q̈) or 'trajectories'"),
    n: int = typer.Option(10_000, help="number of states, or of trajectories"),
    duration: float = typer.Option(10.0, help="seconds per trajectory"),
    fps: float = typer.Option(10.0, help="frames per second of trajectories"),
    noise: float = typer.Option(0.0, help="Gaussian noise, as a fraction of each column's spread"),
    seed: int = SEED,
    out: Path = typer.Option(Path("runs/data"), help="folder to write dataset.npz into"),
) -> None:
    """Generate a dataset from a built-in system."""
    import jax

    from lnn import data
    from lnn import systems as registry

    s = registry.get(system)
    key = jax.random.key(seed)
    if kind == "states":
        ds = data.random_states(s, key, n)
    elif kind == "trajectories":
        ds = data.trajectories(s, key, n, duration=duration, fps=fps, noise=noise)
    else:
        raise ValueError(f"unknown kind {kind!r}; choose 'states' or 'trajectories'.")
    path = data.save(ds, out / "dataset.npz")
    console.print(f"wrote {len(ds):,} states of {s.name} to {path}")


@app.command()
def train(
    system: Optional[str] = typer.Option(None, help="system the data comes from (default: the dataset's, "
                                         "else double_pendulum)"),
    data_file: Optional[Path] = typer.Option(None, "--data", help="dataset.npz from `lnn generate` "
                                             "(default: generate --n-train random states)"),
    model: str = typer.Option("lnn", help="'lnn' or 'baseline'"),
    n_train: int = typer.Option(100_000, help="random states to generate when --data is not given"),
    steps: Optional[int] = typer.Option(None, help="schedule length; exactly reproducible (default: fit "
                                        "the schedule to --budget)"),
    budget: Optional[float] = typer.Option(None, help="wall-clock seconds of training (default 150 without "
                                           "--steps, no limit with it; 0: no limit)"),
    width: int = typer.Option(64),
    depth: int = typer.Option(2),
    init: str = typer.Option("standard", help="'standard' or 'paper'"),
    dtype: str = typer.Option("float32", help="parameter dtype: 'float32' (fast) or 'float64'"),
    batch_size: int = typer.Option(256),
    lr: float = typer.Option(3e-3, help="peak learning rate"),
    seed: int = SEED,
    out: Path = typer.Option(Path("runs/train"), help="run folder (rerun to resume)"),
) -> None:
    """Train one model; the run folder gets model.eqx, metrics.csv, checkpoints/ and a loss figure."""
    import jax

    from lnn import data, io, plot
    from lnn import systems as registry
    from lnn.experiment import build_model
    from lnn.train import TrainConfig, fit

    k_data, k_model, k_fit = jax.random.split(jax.random.key(seed), 3)
    ds = data.load(data_file) if data_file else None
    s = registry.get(system or (ds.metadata.get("system", {}).get("name") if ds else None) or "double_pendulum")
    if ds is None:
        ds = data.random_states(s, k_data, n_train)
    m = build_model(model, s, ds, k_model, width=width, depth=depth, init=init, dtype=dtype)
    if budget is None:
        budget = 0.0 if steps is not None else 150.0
    cfg = TrainConfig(steps=steps, time_budget=budget if budget > 0 else None, batch_size=batch_size,
                      learning_rate=lr)
    io.write_json(out / "config.json", {"system": s.name, "model": model, "seed": seed,
                                        "data": str(data_file) if data_file else f"random_states:{n_train}",
                                        "train": cfg.__dict__, "model_config": m.config()})
    trained, history = fit(m, ds, key=k_fit, config=cfg, out=out, label=model)
    io.save_model(out / "model.eqx", trained, system=s.name, seed=seed)
    plot.loss_curves(out / "figures" / "loss.png", {model: history})
    console.print(f"trained {model} for {history[-1]['step']:,} steps; best validation loss "
                  f"{min(h['val_loss'] for h in history):.4g}; wrote {out / 'model.eqx'}")


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="a run folder from `lnn train` (or a model.eqx file)"),
    system: Optional[str] = typer.Option(None, help="system to evaluate on (default: the run's)"),
    n_initial: int = typer.Option(40, help="initial conditions near rest"),
    t_end: float = typer.Option(100.0, help="rollout length (s)"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as one JSON object"),
    seed: int = SEED,
    out: Optional[Path] = typer.Option(None, help="folder for evaluation.json and figures (default: the run)"),
) -> None:
    """Evaluate a trained model with the LNN paper's energy protocol and rollout errors."""
    import jax

    from lnn import io, metrics, plot
    from lnn import systems as registry

    path = run / "model.eqx" if run.is_dir() else run
    model, meta = io.load_model(path)
    s = registry.get(system or meta.get("system", "double_pendulum"))
    protocol = metrics.Protocol(n_initial=n_initial, t_end=t_end)
    ev = metrics.evaluate(model, s, key=jax.random.key(seed), protocol=protocol)
    folder = out or (run if run.is_dir() else run.parent)
    io.write_json(folder / "evaluation.json", ev.metrics)
    name = model.config()["kind"]
    plot.energy(folder / "figures" / "energy.png", s, {name: ev})
    plot.trajectories(folder / "figures" / "trajectories.png", s, {name: ev})
    if as_json:
        print(json.dumps(ev.metrics))
    else:
        _metrics_table({name: ev.metrics}, f"{s.name}: {n_initial} initial conditions, t = {t_end:g} s")


@app.command()
def compare(
    system: str = typer.Argument("double_pendulum", help="system name (see `lnn systems`)"),
    models: str = typer.Option("lnn,baseline", help="comma-separated models to train and compare"),
    budget: float = typer.Option(150.0, help="wall-clock seconds of training per model"),
    n_train: int = typer.Option(100_000, help="random training states"),
    width: int = typer.Option(64),
    depth: int = typer.Option(2),
    seed: int = SEED,
    out: Path = typer.Option(Path("runs/compare"), help="run folder (rerun to resume)"),
) -> None:
    """Train several models on the same data and budget and compare them on one protocol."""
    from lnn.experiment import ExperimentConfig

    cfg = ExperimentConfig(system=system, models=tuple(m.strip() for m in models.split(",") if m.strip()),
                           budget=budget, n_train=n_train, width=width, depth=depth, seed=seed)
    _run_experiment(cfg, out)


@app.command()
def demo(
    full: bool = typer.Option(False, "--full", help="the long run that reproduces the paper's accuracy"),
    budget: Optional[float] = typer.Option(None, help="override the training seconds per model"),
    seed: int = SEED,
    out: Optional[Path] = typer.Option(None, help="run folder (default runs/demo or runs/demo-full)"),
) -> None:
    """The main job: LNN vs black-box baseline on the double pendulum, with the paper's energy protocol."""
    from lnn.experiment import demo_config

    cfg = demo_config(full=full, seed=seed, budget=budget)
    _run_experiment(cfg, out or Path("runs/demo-full" if full else "runs/demo"))


@app.command()
def symmetries(
    run_or_system: str = typer.Argument(..., help="a system name (its closed-form L), or a run folder / model.eqx "
                                        "of a trained LNN"),
    n_states: int = typer.Option(2000, help="states the invariance is tested on"),
    threshold: float = typer.Option(0.1, help="largest score (normalised defect) a symmetry may have"),
    n_rollouts: int = typer.Option(8, help="rollouts along which the charges are tracked"),
    t_end: float = typer.Option(5.0, help="rollout length (s)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as one JSON object"),
    seed: int = SEED,
    out: Optional[Path] = typer.Option(None, help="folder for symmetries.json and figures/charges.png "
                                       "(default: the run folder, or runs/symmetries/SYSTEM)"),
) -> None:
    """Find the symmetries of a Lagrangian (Noether) and check their charges along rollouts."""
    import jax

    from lnn import io, plot, symmetry
    from lnn import systems as registry

    if run_or_system in registry.names():
        system, L, what = registry.get(run_or_system), None, f"closed-form {run_or_system}"
        folder = out or Path("runs/symmetries") / run_or_system
    else:
        path = _model_path(Path(run_or_system))
        L, meta = io.load_model(path)
        system = registry.get(meta.get("system", "double_pendulum"))
        what, folder = f"model {path}", out or path.parent
        state = jax.ShapeDtypeStruct((system.dof,), float)
        if jax.eval_shape(L, state, state).shape != ():
            raise ValueError(f"{path} is a {type(L).__name__}, which predicts accelerations and has no Lagrangian, "
                             "so no Noether symmetries; pass an LNN run (e.g. runs/demo/lnn).")
    L = L if L is not None else system.lagrangian
    found, checked = symmetry.analyse(L, system, jax.random.key(seed), n_states=n_states, threshold=threshold,
                                      n_rollouts=n_rollouts, t_end=t_end)
    result = {"source": what, "system": system.name, **symmetry.report(found, checked)}
    io.write_json(folder / "symmetries.json", result)
    figure = plot.charges(folder / "figures" / "charges.png", f"{what}: Noether charges along rollouts",
                          [s.label for s in found.symmetries], checked)
    if as_json:
        print(json.dumps(result))
        return
    table = Table(title=f"{what}: {len(found.symmetries)} symmetr{'y' if len(found.symmetries) == 1 else 'ies'} "
                        f"besides time (threshold {threshold:g}, gap ×{found.gap:.3g})")
    for col in ("generator", "kind", "score", "charge drift: model", "true system"):
        table.add_column(col, justify="left" if col in ("generator", "kind") else "right")
    for i, s in enumerate(found.symmetries):
        d = checked.drifts(i)
        table.add_row(s.label, s.kind, f"{s.score:.2g}", f"{d['model']:.2g}", f"{d['true_system']:.2g}")
    e = checked.energy_drifts()
    table.add_row("time translation", "energy", "0", f"{e['model']:.2g}", f"{e['true_system']:.2g}")
    console.print(table)
    console.print("singular values: " + ", ".join(f"{v:.2g}" for v in found.singular_values))
    console.print("candidate scores: " + ", ".join(f"{c.name} {v:.2g}" for c, v in zip(found.candidates,
                                                                                          found.scores)))
    console.print(f"wrote {folder / 'symmetries.json'} and {figure}")


def _model_path(path: Path) -> Path:
    """model.eqx of a run: the file itself, RUN/model.eqx, or RUN/lnn/model.eqx (a demo or compare run)."""
    for candidate in (path, path / "model.eqx", path / "lnn" / "model.eqx"):
        if candidate.is_file():
            return candidate
    from lnn import systems as registry

    raise ValueError(f"{path} is neither a system ({', '.join(registry.names())}) nor a run folder with "
                     "model.eqx or lnn/model.eqx; pass one of them.")


def _run_experiment(cfg, out: Path) -> None:
    from lnn.experiment import machine_description, run

    console.print(f"[bold]lnn[/bold] {cfg.system}: models {', '.join(cfg.models)}, "
                  f"{cfg.budget:.0f} s training each, seed {cfg.seed} -> {out}")
    console.print(f"machine: {machine_description()}")
    results = run(cfg, out, log=_log)
    _metrics_table(results, f"{cfg.system}: energy protocol ({cfg.protocol.n_initial} initial conditions near "
                            f"rest, t = {cfg.protocol.t_end:g} s)")
    console.print(f"wrote {out / 'report.md'}, {out / 'results.json'} and figures in {out / 'figures'}")


def _metrics_table(results: dict, title: str) -> None:
    table = Table(title=title)
    for col in ("model", "energy error", "(median)", "accel. error", "valid time", "failed"):
        table.add_column(col, justify="right")
    for name, r in results.items():
        accel = f"{r['accel_relative_error'] * 100:.3g}%" if "accel_relative_error" in r else "-"
        table.add_row(name, f"{r['energy_error'] * 100:.3g}%", f"{r['energy_error_median'] * 100:.3g}%", accel,
                      f"{r['valid_time']:.3g} s", str(r["failed"]))
    console.print(table)


def main() -> None:
    """Entry point: run the app, turning a user's mistake into one line on stderr."""
    from lnn.errors import LnnError

    try:
        app()  # standalone: usage errors are printed and exit by click itself
    except (LnnError, ValueError, OSError) as err:
        if os.environ.get("LNN_DEBUG"):
            raise
        err_console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)
