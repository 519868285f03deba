"""One experiment: train models on the same data and budget, evaluate them with one protocol, report.

This is what ``lnn demo`` and ``lnn compare`` run. A run folder holds::

    config.json              the settings (a rerun with the same folder resumes)
    <model>/metrics.csv      training history per model
    <model>/checkpoints/     last.ckpt (resume) and best.eqx
    <model>/model.eqx        the trained model (best validation loss)
    figures/*.png            trajectories, energy, position error, phase portraits, overview, loss curves
    results.json             model name -> metrics
    report.md                the table and figures, for people
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from lnn import data as data_mod
from lnn import io, metrics, plot, systems
from lnn.errors import ConfigurationError, LnnError
from lnn.training import MODEL_NAMES, Loss, TrainConfig, build_model, derivative_loss, fit

DEFAULT_MODELS = ("lnn", "baseline")
ROLLOUT_HORIZON = 10.0  # seconds over which rollout_error averages the position error


def _check_models_and_budget(models, known, what: str, budget: float, steps: int | None) -> None:
    """An experiment's models are among ``known`` (at least one) and it trains for a positive budget or steps."""
    unknown = [m for m in models if m not in known]
    if unknown or not models:
        raise ConfigurationError(f"unknown {what} {unknown}; choose from {', '.join(known)}.")
    if budget <= 0 and steps is None:
        raise ConfigurationError("the training budget must be positive (seconds), or give steps.")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Settings of :func:`run`. ``budget`` is wall-clock seconds of training per model."""

    system: str = "double_pendulum"
    models: tuple[str, ...] = DEFAULT_MODELS
    n_train: int = 100_000
    budget: float = 150.0
    steps: int | None = None
    width: int = 64
    depth: int = 2
    init: str = "standard"
    dtype: str = "float32"
    kinetic_prior: bool = True
    batch_size: int = 256
    learning_rate: float = 3e-3
    final_lr: float = 3e-6
    loss: Loss = "l1"
    seed: int = 0
    protocol: metrics.Protocol = metrics.Protocol()

    def __post_init__(self):
        _check_models_and_budget(self.models, MODEL_NAMES, "model(s)", self.budget, self.steps)

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["models"] = list(self.models)
        d["protocol"] = self.protocol.to_json()
        return d

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            steps=self.steps,
            time_budget=self.budget if self.budget > 0 else None,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            final_lr=self.final_lr,
            loss=self.loss,
        )


def _check_run_folder(out: Path, config: ExperimentConfig) -> None:
    path = out / "config.json"
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except json.JSONDecodeError:
            previous = None
        if previous != json.loads(json.dumps(config.to_json())):
            raise LnnError(
                f"{out} holds a run with different settings; pass a new --out folder "
                "(or delete that one) to start another run."
            )


def run(config: ExperimentConfig, out: str | Path, *, progress: bool = True, log=print) -> dict[str, dict]:
    """Generate data, train each model, evaluate all with ``config.protocol``, write the run folder.

    Returns ``results``: model name -> metrics (also written to ``results.json``).
    A rerun into the same folder with the same config resumes training.
    """
    out = Path(out)
    _check_run_folder(out, config)
    io.write_json(out / "config.json", config.to_json())
    system = systems.get(config.system)
    k_data, k_models, k_fit, k_eval = jax.random.split(jax.random.key(config.seed), 4)

    t0 = time.perf_counter()
    dataset = data_mod.random_states(system, k_data, config.n_train)
    log(f"generated {len(dataset):,} {system.name} states with exact accelerations ({time.perf_counter() - t0:.1f} s)")

    trained, histories, train_seconds = {}, {}, {}
    for name, k_model in zip(config.models, jax.random.split(k_models, len(config.models)), strict=True):
        model = build_model(
            name,
            dataset,
            k_model,
            angles=system.angles,
            width=config.width,
            depth=config.depth,
            init=config.init,
            dtype=config.dtype,
            kinetic_prior=config.kinetic_prior,
            true_system=system,
        )
        t0 = time.perf_counter()
        trained[name], histories[name] = fit(
            model, dataset, key=k_fit, config=config.train_config(), out=out / name, progress=progress, label=name
        )
        train_seconds[name] = histories[name][-1]["time"]
        io.save_model(out / name / "model.eqx", trained[name], system=system.name, seed=config.seed)
        log(
            f"trained {name}: {histories[name][-1]['step']:,} steps, validation loss "
            f"{min(h['val_loss'] for h in histories[name]):.4g} ({time.perf_counter() - t0:.0f} s this call)"
        )

    held_out = data_mod.random_states(system, jax.random.fold_in(k_data, 1), 4096)
    evaluations, results = {}, {}
    truth = metrics.true_rollouts(system, key=k_eval, protocol=config.protocol)
    for name, model in trained.items():
        t0 = time.perf_counter()
        ev = metrics.evaluate(model, system, key=k_eval, protocol=config.protocol, truth=truth)
        evaluations[name] = ev
        results[name] = {
            "derivative_loss": derivative_loss(model, held_out, loss=config.loss),
            "rollout_error": rollout_error(ev),
            **ev.metrics,
            **metrics.acceleration_error(model, held_out.q, held_out.qdot, held_out.qddot),
            "train_seconds": train_seconds[name],
            "train_steps": histories[name][-1]["step"],
            "best_val_loss": min(h["val_loss"] for h in histories[name]),
        }
        log(f"evaluated {name} ({time.perf_counter() - t0:.0f} s)")

    figures = out / "figures"
    figs = {
        "trajectories": plot.trajectories(figures / "trajectories.png", system, evaluations),
        "energy": plot.energy(figures / "energy.png", system, evaluations),
        "position_error": plot.position_error(
            figures / "position_error.png", system, evaluations, config.protocol.threshold
        ),
        "phase_portraits": plot.phase_portraits(figures / "phase_portraits.png", system, evaluations),
        "overview": plot.overview(figures / "overview.png", system, evaluations),
        "loss": plot.loss_curves(figures / "loss.png", histories),
    }
    io.write_json(out / "results.json", results)
    io.write_text(out / "report.md", report_markdown(config, system, results, figs, out))
    return results


def with_true_momentum(models: tuple[str, ...]) -> tuple[str, ...]:
    """``models`` with ``hnn_true_p`` right after ``hnn`` (unless listed already).

    Every built-in system has a closed-form Lagrangian, so its canonical momentum
    p = ∂L/∂q̇ is known and the HNN can be shown at its best beside the naive one.
    """
    out = []
    for name in models:
        out.append(name)
        if name == "hnn" and "hnn_true_p" not in models:
            out.append("hnn_true_p")
    return tuple(out)


def rollout_error(ev: metrics.Evaluation, horizon: float = ROLLOUT_HORIZON) -> float:
    """Normalised position error averaged over initial conditions and over 0 < t ≤ ``horizon``."""
    keep = (ev.ts > 0) & (ev.ts <= horizon + 1e-9)
    err = ev.position_error[keep]
    return float(np.mean(err)) if np.all(np.isfinite(err)) else float("inf")


def machine_description() -> str:
    devices = ", ".join(sorted({d.device_kind for d in jax.devices()}))
    return f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}, JAX {jax.__version__} on {devices}"


def report_markdown(config: ExperimentConfig, system, results: dict, figs: dict, out: Path) -> str:
    p = config.protocol
    rows = "\n".join(
        f"| {name} | {r['derivative_loss']:.3g} | {r['energy_error'] * 100:.3g}% | "
        f"{r['energy_error_median'] * 100:.3g}% | {r['accel_relative_error'] * 100:.3g}% | "
        f"{r['rollout_error']:.3g} | {r['valid_time']:.3g} s | {r['failed']} | "
        f"{r['train_steps']:,} | {r['train_seconds']:.0f} s |"
        for name, r in results.items()
    )
    images = "\n\n".join(f"![{k}]({Path(v).relative_to(out)})" for k, v in figs.items())
    return f"""# lnn run: {system.name}

Models trained on the same {config.n_train:,} random states with exact accelerations, for the same
wall-clock budget ({config.budget:.0f} s each), then rolled out from the same {p.n_initial} initial
conditions near rest to t = {p.t_end:g} s ({p.solver!r}).

Energy error = |E_true(final predicted state) − E_true(initial)| / {system.energy_scale:g} (the maximum
potential energy), mean and median over initial conditions. Acceleration error = mean |q̈ error| /
mean |q̈| on 4,096 held-out states. Derivative loss = mean |error| of the derivatives each model
predicts (q̈; (q̇, ṗ) for a Hamiltonian network), each divided by its RMS, on the same states.
Rollout error = normalised position error averaged over the first {ROLLOUT_HORIZON:g} s. Valid time =
median time until the normalised position error exceeds {p.threshold:g}.

| model | derivative loss | energy error (mean) | (median) | acceleration error | rollout error \
| valid time | failed | steps | train time |
|---|---|---|---|---|---|---|---|---|---|
{rows}

Machine: {machine_description()}. Seed {config.seed}.

{images}
"""


def demo_config(*, full: bool = False, seed: int = 0, budget: float | None = None) -> ExperimentConfig:
    """Settings of ``lnn demo`` (about 7 minutes on 2 cores) and ``lnn demo --full`` (about 55)."""
    if full:
        cfg = ExperimentConfig(budget=1500.0, n_train=200_000, width=128, seed=seed)
    else:
        cfg = ExperimentConfig(budget=150.0, seed=seed)
    return dataclasses.replace(cfg, budget=budget) if budget is not None else cfg


# -- from pixels ----------------------------------------------------------------------------------

PIXEL_MODELS = ("lnn", "baseline", "hnn")


@dataclasses.dataclass(frozen=True)
class PixelExperimentConfig:
    """Settings of :func:`run_pixels` (``lnn compare --pixels``): every model learns from the same frames
    for the same budget (``budget`` seconds or ``steps`` updates each) and is judged on the same held-out
    motions of ``test_frames`` frames."""

    system: str = "pendulum"
    models: tuple[str, ...] = PIXEL_MODELS
    n_train: int = 40
    duration: float = 5.0
    fps: float = 20.0
    size: int = 32
    noise: float = 0.01
    n_test: int = 4
    test_frames: int = 401
    horizon: int = 6
    substeps: int = 2
    budget: float = 600.0
    steps: int | None = None
    batch_size: int = 16
    learning_rate: float = 1e-3
    drift_frames: int = 2000
    seed: int = 0

    def __post_init__(self):
        from lnn.vision import DYNAMICS

        _check_models_and_budget(self.models, DYNAMICS, "pixel model(s)", self.budget, self.steps)
        if self.test_frames < 3:
            raise ConfigurationError(f"held-out motions need at least 3 frames; got {self.test_frames}.")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["models"] = list(self.models)
        return d

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            steps=self.steps,
            time_budget=self.budget if self.budget > 0 else None,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            warmup_steps=100,
            eval_every=250,
        )


def run_pixels(config: PixelExperimentConfig, out: str | Path, *, progress: bool = True, log=print) -> dict[str, dict]:
    """Render training and held-out videos, train each model from pixels, evaluate, write the run folder.

    Returns model name -> {"vpt", "vpt_frames", "pixel_mse", "coordinate_r2", "energy_drift",
    "train_seconds", "train_steps"} (also ``results.json``); the per-frame error curves go to
    ``figures/pixel_error.png`` and each model's ``<model>/prediction.gif``.
    """
    from lnn import vision

    out = Path(out)
    previous = out / "config.json"
    if previous.exists() and json.loads(previous.read_text()) != json.loads(json.dumps(config.to_json())):
        raise LnnError(f"{out} holds a run with different settings; pass a new --out folder (or delete that one).")
    io.write_json(previous, config.to_json())
    system = systems.get(config.system)
    k_train, k_test, k_fit = jax.random.split(jax.random.key(config.seed), 3)
    t0 = time.perf_counter()
    train = vision.rendered_video(
        system, k_train, config.n_train, duration=config.duration, fps=config.fps, size=config.size, noise=config.noise
    )
    test = vision.rendered_video(
        system,
        k_test,
        config.n_test,
        duration=(config.test_frames - 1) / config.fps,
        fps=config.fps,
        size=config.size,
        noise=config.noise,
    )
    log(
        f"rendered {train.motions} training motions of {train.length} frames and {test.motions} held-out motions "
        f"of {test.length} ({config.size}×{config.size}, pixel noise {config.noise:g}; "
        f"{time.perf_counter() - t0:.0f} s)"
    )
    results, curves = {}, {}
    for name in config.models:
        model, history = vision.fit_video(
            name,
            train,
            angles=system.angles,
            key=k_fit,
            config=config.train_config(),
            objective=vision.PixelObjective(horizon=config.horizon),
            out=out / name,
            progress=progress,
            label=f"{name} (pixels)",
            substeps=config.substeps,
        )
        io.save_model(out / name / "model.eqx", model, dynamics=name, system=system.name, seed=config.seed)
        r = vision.evaluate_video(model, test, drift_frames=config.drift_frames)
        curves[name] = r
        results[name] = {
            **{k: v for k, v in r.items() if k != "mse"},
            "train_seconds": history[-1]["time"],
            "train_steps": history[-1]["step"],
        }
        vision.write_gif(out / name / "prediction.gif", vision.side_by_side(model, test), test.fps)
        log(
            f"{name}: {history[-1]['step']:,} steps in {history[-1]['time']:.0f} s; VPT {r['vpt']:.3g} s, "
            f"R² {r['coordinate_r2']:.3f}"
        )
    plot.pixel_errors(out / "figures" / "pixel_error.png", curves, test.dt)
    io.write_json(out / "results.json", results)
    return results
