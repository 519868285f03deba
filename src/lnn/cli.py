"""The ``lnn`` command line: thin wrappers over the library.

Every command has ``--help``, ``--seed`` and ``--out`` (where it writes), and
defaults that work. A user's mistake prints one line (``error: ...``) and exits
with status 2; set ``LNN_DEBUG=1`` for the traceback.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from lnn.errors import ConfigurationError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Lagrangian Neural Networks: learn L(q, q̇) from trajectories."
)
console = Console()
err_console = Console(stderr=True)

SEED = typer.Option(0, help="PRNG seed; the same seed gives the same numbers.")
OBS_TIME = typer.Option(None, "--time", help="measured data: the time column")
OBS_COORDS = typer.Option(None, "--coords", help="measured data: coordinate columns, e.g. x1,x2")
OBS_VELOCITIES = typer.Option(None, "--velocities", help="measured data: velocity columns, one per coordinate")
OBS_ANGLES = typer.Option(None, "--angles", help="measured data: which coordinate columns are angles")
OBS_TRAJECTORY = typer.Option(None, "--trajectory", help="measured data: column of trajectory (run) ids")
OBS_FORCES = typer.Option(
    None,
    "--force-columns",
    help="measured data: generalized-force columns (torques of a driven recording), one per "
    "coordinate, e.g. tau1,tau2 (default: the run's; '' for none)",
)


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
        coords = ", ".join(f"{c}{' (angle)' if a else ''}" for c, a in zip(s.coordinates, s.angles, strict=True))
        params = ", ".join(f"{k}={v:g}" for k, v in s.parameters.items())
        table.add_row(name, str(s.dof), coords, params, s.description)
    console.print(table)


@app.command()
def generate(
    system: str = typer.Argument("double_pendulum", help="system name (see `lnn systems`)"),
    kind: str = typer.Option(
        "states", help="'states' (independent, exact q̈), 'trajectories', or 'video' (rendered frames)"
    ),
    n: int = typer.Option(10_000, help="number of states, or of trajectories (videos: motions)"),
    duration: float = typer.Option(10.0, help="seconds per trajectory"),
    fps: float = typer.Option(10.0, help="frames per second of trajectories"),
    noise: float = typer.Option(
        0.0,
        help="Gaussian noise, as a fraction of each column's spread; with --kind video, of the pixels "
        "(standard deviation on the [0, 1] scale: 0.01 is 1 %)",
    ),
    size: int = typer.Option(32, help="--kind video: frames are SIZE × SIZE RGB pixels (e.g. 32 or 64)"),
    shift: float = typer.Option(0.0, help="--kind video: shift each motion's canvas by up to this many pixels"),
    rods: bool = typer.Option(True, help="--kind video: draw the rods"),
    mp4: bool = typer.Option(False, "--mp4", help="--kind video: also write each motion as OUT/video-K.mp4"),
    seed: int = SEED,
    out: Path = typer.Option(Path("runs/data"), help="folder to write dataset.npz (or video.npz) into"),
) -> None:
    """Generate a dataset from a built-in system (or, with --kind video, rendered frames and the true states)."""
    import jax

    from lnn import data
    from lnn import systems as registry

    s = registry.get(system)
    key = jax.random.key(seed)
    if kind == "video":
        from lnn import vision

        video = vision.rendered_video(
            s, key, n, duration=duration, fps=fps, size=size, noise=noise, shift=shift, rods=rods
        )
        path = vision.save_video(video, out / "video.npz")
        if mp4:
            for k in range(video.motions):
                vision.write_mp4(out / f"video-{k}.mp4", video.frames[k], video.fps)
        console.print(
            f"wrote {video.motions:,} motion(s) of {video.length:,} {size}×{size} frames of {s.name} to {path}"
            + (f" (and {video.motions} MP4 files)" if mp4 else "")
        )
        return
    if kind == "states":
        ds = data.random_states(s, key, n)
    elif kind == "trajectories":
        ds = data.trajectories(s, key, n, duration=duration, fps=fps, noise=noise)
    else:
        raise ConfigurationError(f"unknown kind {kind!r}; choose 'states', 'trajectories' or 'video'.")
    path = data.save(ds, out / "dataset.npz")
    console.print(f"wrote {len(ds):,} states of {s.name} to {path}")


DATA = "Data"
RECORDING = "Recorded columns (--data FILE.csv/.npz)"
MODEL = "Model"
TRAINING = "Training"
EXPERT = "Expert: override the recipe chosen for a recording (--data FILE.csv/.npz)"
VIDEO = "Learning from video (--video FILE)"


@app.command()
def train(
    ctx: typer.Context,
    system: str | None = typer.Option(
        None, help="system the data comes from (default: the dataset's, else double_pendulum)", rich_help_panel=DATA
    ),
    data_file: Path | None = typer.Option(
        None,
        "--data",
        help="dataset.npz from `lnn generate`, measured "
        "positions (.csv/.npz with --time and --coords), or a Schmidt & "
        "Lipson .txt file (default: generate --n-train random states)",
        rich_help_panel=DATA,
    ),
    n_train: int = typer.Option(
        100_000, help="random states to generate when --data is not given", rich_help_panel=DATA
    ),
    time_col: str | None = typer.Option(None, "--time", help="the time column", rich_help_panel=RECORDING),
    coords: str | None = typer.Option(
        None, "--coords", help="coordinate columns, e.g. x1,x2", rich_help_panel=RECORDING
    ),
    velocities: str | None = typer.Option(
        None, "--velocities", help="velocity columns, one per coordinate", rich_help_panel=RECORDING
    ),
    angles: str | None = typer.Option(
        None,
        "--angles",
        help="which coordinate columns are angles (--video: latent coordinates q1,q2,... or all, none)",
        rich_help_panel=RECORDING,
    ),
    trajectory: str | None = typer.Option(
        None, "--trajectory", help="column of trajectory (run) ids", rich_help_panel=RECORDING
    ),
    force_columns: str | None = typer.Option(
        None,
        "--force-columns",
        help="measured generalized forces (torques of a driven recording), one column per coordinate, "
        "e.g. tau1,tau2; interpolated linearly between samples in training and prediction",
        rich_help_panel=RECORDING,
    ),
    model: str = typer.Option(
        "lnn",
        help="'lnn' (general Lagrangian), 'structured' (L = ½q̇ᵀM(q)q̇ − V(q)), "
        "'baseline' (black box), 'lnn+dissipation' (an LNN with learned friction), "
        "'hnn' (Hamiltonian NN, p = q̇) or 'hnn_true_p' (p = ∂L/∂q̇)",
        rich_help_panel=MODEL,
    ),
    width: int = typer.Option(64, rich_help_panel=MODEL),
    depth: int = typer.Option(2, rich_help_panel=MODEL),
    init: str = typer.Option("standard", help="'standard' or 'paper'", rich_help_panel=MODEL),
    dtype: str = typer.Option("float32", help="parameter dtype: 'float32' (fast) or 'float64'", rich_help_panel=MODEL),
    linear_solver: str = typer.Option(
        "auto",
        help="lnn model's solve for q̈: 'lu', 'cholesky', 'cg' (matrix-free, many coordinates) or 'auto'",
        rich_help_panel=MODEL,
    ),
    steps: int | None = typer.Option(
        None,
        help="schedule length; exactly reproducible (default: fit the schedule to --budget)",
        rich_help_panel=TRAINING,
    ),
    budget: float | None = typer.Option(
        None,
        help="wall-clock seconds of training (default 150 without --steps, no limit with it; 0: no limit)",
        rich_help_panel=TRAINING,
    ),
    batch_size: int | None = typer.Option(
        None, help="states (or windows) per minibatch (default 256; 16 windows for --video)", rich_help_panel=EXPERT
    ),
    val_fraction: float = typer.Option(
        0.1,
        help="share held out for validation (trajectories, or the end of a single recording)",
        rich_help_panel=TRAINING,
    ),
    lr: float | None = typer.Option(
        None, help="peak learning rate (default 3e-3; 1e-3 for --video)", rich_help_panel=EXPERT
    ),
    weight_decay: float = typer.Option(
        0.0, help="decoupled decay of the networks' weight matrices (a smoothness prior)", rich_help_panel=EXPERT
    ),
    lbfgs_steps: int = typer.Option(
        0, help="end with this many full-batch L-BFGS iterations (small problems)", rich_help_panel=EXPERT
    ),
    devices: int = typer.Option(
        1,
        help="data-parallel training over this many devices (batch split, "
        "parameters replicated); on a CPU see XLA_FLAGS in the docs",
        rich_help_panel=TRAINING,
    ),
    seed: int = SEED,
    out: Path = typer.Option(Path("runs/train"), help="run folder (rerun to resume)"),
    force: bool = typer.Option(
        False, "--force", help="discard a run of another definition in --out and start afresh (else refused)"
    ),
    method: str = typer.Option(
        "matching",
        help="'matching' (trajectory matching over short windows) or "
        "'derivatives' (smoothed q̇, q̈, then the acceleration loss)",
        rich_help_panel=EXPERT,
    ),
    initial: str | None = typer.Option(
        None,
        help="matching: each window's initial state, 'estimated' (smoothed) or 'free' (optimised with the model)",
        rich_help_panel=EXPERT,
    ),
    window: int | None = typer.Option(None, help="matching: samples per window", rich_help_panel=EXPERT),
    every: int | None = typer.Option(
        None, help="matching: keep every k-th sample inside a window", rich_help_panel=EXPERT
    ),
    longer_windows: str | None = typer.Option(
        None,
        help="matching with --initial free: then refine by L-BFGS on "
        "windows of these sample counts in turn, e.g. 61 (needs "
        "--lbfgs-steps)",
        rich_help_panel=EXPERT,
    ),
    warm_start: int | None = typer.Option(
        None,
        help="matching: a fit of this many steps to the derivative estimate to match from (e.g. 5000)",
        rich_help_panel=EXPERT,
    ),
    warm_start_if: str | None = typer.Option(
        None,
        help="'always' or 'stalled': start from the random network, and from the warm start only if Adam stalls",
        rich_help_panel=EXPERT,
    ),
    video: Path | None = typer.Option(
        None,
        "--video",
        help="learn from frames: an .mp4 (any video ffmpeg reads), a folder of .png frames, or a video.npz "
        "from `lnn generate --kind video`; --model is then the latent dynamics (lnn, structured, baseline, hnn)",
        rich_help_panel=VIDEO,
    ),
    dof: int | None = typer.Option(
        None, help="--video: latent coordinates (default: the rendered system's)", rich_help_panel=VIDEO
    ),
    crop: str | None = typer.Option(
        None, help="--video: LEFT,TOP,WIDTH,HEIGHT in pixels, cut before resizing", rich_help_panel=VIDEO
    ),
    size: int = typer.Option(32, help="--video: frames are resized to SIZE × SIZE", rich_help_panel=VIDEO),
    horizon: int = typer.Option(6, help="--video: frames predicted per training window", rich_help_panel=VIDEO),
    substeps: int = typer.Option(2, help="--video: RK4 steps per frame interval", rich_help_panel=VIDEO),
    video_fps: float | None = typer.Option(
        None, "--fps", help="--video: the frame rate (default: the file's; 30 for a folder)", rich_help_panel=VIDEO
    ),
) -> None:
    """Train one model; the run folder gets model.eqx, metrics.csv, checkpoints/ and a loss figure."""
    import jax

    from lnn import data, io, plot
    from lnn import systems as registry
    from lnn.training import TrainConfig, build_model, fit

    k_data, k_model, k_fit = jax.random.split(jax.random.key(seed), 3)
    if video is not None:
        if data_file is not None:
            raise ConfigurationError("give --video or --data, not both.")
        crop_box = _numbers(crop, "--crop", int, "whole pixels LEFT,TOP,WIDTH,HEIGHT, e.g. 0,0,240,240")
        settings = {"dof": dof, "angles": angles, "crop": list(crop_box) if crop_box else None, "size": size}
        _train_video(
            ctx,
            video,
            settings,
            model=model,
            steps=steps,
            budget=budget,
            batch_size=batch_size,
            val_fraction=val_fraction,
            lr=lr,
            weight_decay=weight_decay,
            width=width,
            depth=depth,
            dtype=dtype,
            horizon=horizon,
            substeps=substeps,
            fps=video_fps,
            seed=seed,
            out=out,
            force=force,
        )
        return
    spec = _observation_spec(data_file, time_col, coords, velocities, angles, trajectory, force_columns)
    budget = _seconds_of_training(budget, steps)
    cfg = TrainConfig(
        steps=steps,
        time_budget=budget if budget > 0 else None,
        batch_size=256 if batch_size is None else batch_size,
        val_fraction=val_fraction,
        learning_rate=3e-3 if lr is None else lr,
        devices=devices,
        weight_decay=weight_decay,
        lbfgs_steps=lbfgs_steps,
    )
    # One process per run folder, for the whole command (released when it ends, however it ends).
    ctx.with_resource(io.locked_run_folder(out))
    io.remove_temporaries(out)  # left by a process killed inside a write
    model_settings = {"width": width, "depth": depth, "init": init, "dtype": dtype, "linear_solver": linear_solver}
    if spec is not None:
        given = {name for name in _RECIPE_FLAGS if _given(ctx, name)}
        flags = {
            "model": model,
            "steps": steps,
            "budget": budget if "budget" in given else None,
            "batch_size": batch_size,
            "val_fraction": val_fraction,
            "learning_rate": lr,
            "weight_decay": weight_decay,
            "lbfgs_steps": lbfgs_steps,
            "devices": devices,
        }
        matching = (method if "method" in given else None, initial, window, every, longer_windows)
        _train_observed(
            data_file,
            spec,
            given={k: v for k, v in flags.items() if k in given or (k == "learning_rate" and "lr" in given)},
            matching_flags=(*matching, warm_start, warm_start_if),
            width=width,
            depth=depth,
            init=init,
            dtype=dtype,
            seed=seed,
            out=out,
            linear_solver=linear_solver,
            model_settings=model_settings,
            force=force,
        )
        return
    ds = data.load(data_file) if data_file else None
    s = registry.get(system or (ds.metadata.get("system", {}).get("name") if ds else None) or "double_pendulum")
    if ds is None:
        ds = data.random_states(s, k_data, n_train)
    m = build_model(
        model,
        ds,
        k_model,
        angles=s.angles,
        width=width,
        depth=depth,
        init=init,
        dtype=dtype,
        true_system=s,
        **_model_options(model, linear_solver),
    )
    io.claim_run_folder(
        out,
        {
            "system": s.name,
            "model": model,
            "seed": seed,
            "data": str(data_file) if data_file else f"random_states:{n_train}",
            **({"data_sha256": io.sha256_file(data_file)} if data_file else {}),
            "train": cfg.to_json(),
            "model_settings": model_settings,
            "model_config": m.config(),
        },
        force=force,
        ignore=_NOT_DEFINING + (("data",) if data_file else ()),
    )
    trained, history = fit(m, ds, key=k_fit, config=cfg, out=out, label=model)
    io.save_model(out / "model.eqx", trained, system=s.name, seed=seed)
    plot.loss_curves(out / "figures" / "loss.png", {model: history})
    console.print(
        f"trained {model} for {history[-1]['step']:,} steps; best validation loss "
        f"{min(h['val_loss'] for h in history):.4g}{_skipped_note(history)}; wrote {out / 'model.eqx'}"
    )


def _seconds_of_training(budget: float | None, steps: int | None) -> float:
    """``--budget`` as given, else 150 s without ``--steps`` and no limit (0) with it."""
    if budget is not None:
        return budget
    return 0.0 if steps is not None else 150.0


def _skipped_note(history: list[dict]) -> str:
    """``"; N steps skipped (non-finite loss or gradient)"`` for the final line, or "" when none were."""
    skipped = sum(int(h.get("skipped", 0)) for h in history)
    return f"; {skipped:,} steps skipped (non-finite loss or gradient)" if skipped else ""


def _video_angles(angles: str | None, dof: int, default: tuple[bool, ...] | None) -> tuple[bool, ...]:
    """Which of the ``dof`` latent coordinates q1..qn are angles: ``--angles q1,q2`` (or ``all``, ``none``);
    default the rendered system's, else none."""
    if angles is None:
        return default if default is not None and len(default) == dof else (False,) * dof
    names = [a.strip() for a in angles.split(",") if a.strip()]
    if names in (["all"], ["none"]):
        return (names == ["all"],) * dof
    known = [f"q{i + 1}" for i in range(dof)]
    unknown = [a for a in names if a not in known]
    if unknown:
        raise ConfigurationError(
            f"--angles names latent coordinates {', '.join(known)} (or all, none); got {', '.join(unknown)}."
        )
    return tuple(k in names for k in known)


def _read_training_video(path: Path, settings: dict, fps: float | None):
    """The video and its latent angles, as ``lnn train --video`` reads them (``settings``: dof, angles, crop, size)."""
    from lnn import vision

    video = vision.read_video(path, size=settings["size"], crop=settings["crop"], fps=fps)
    dof = settings["dof"] or (len(video.angles) if video.angles is not None else None)
    if dof is None or dof < 1:
        raise ConfigurationError(f"{path} does not say how many coordinates move in it; pass --dof N.")
    return video, _video_angles(settings["angles"], dof, video.angles)


def _train_video(
    ctx,
    path: Path,
    settings: dict,
    *,
    model,
    steps,
    budget,
    batch_size,
    val_fraction,
    lr,
    weight_decay,
    width,
    depth,
    dtype,
    horizon,
    substeps,
    fps,
    seed,
    out,
    force,
) -> None:
    import jax

    from lnn import io, plot, vision
    from lnn.training import TrainConfig

    if model not in vision.DYNAMICS:
        raise ConfigurationError(f"--video learns latent dynamics {', '.join(vision.DYNAMICS)}; got --model {model!r}.")
    video, angle_flags = _read_training_video(path, settings, fps)
    console.print(
        f"{path}: {video.motions} motion(s) of {video.length:,} frames at {video.fps:g} fps, "
        f"{video.size[1]}×{video.size[0]} pixels; latent coordinates "
        + ", ".join(f"q{i + 1}{' (angle)' if a else ''}" for i, a in enumerate(angle_flags))
    )
    budget = _seconds_of_training(budget, steps)
    cfg = TrainConfig(
        steps=steps,
        time_budget=budget if budget > 0 else None,
        batch_size=16 if batch_size is None else batch_size,
        val_fraction=val_fraction,
        learning_rate=1e-3 if lr is None else lr,
        warmup_steps=100,
        weight_decay=weight_decay,
    )
    objective = vision.PixelObjective(horizon=horizon)
    ctx.with_resource(io.locked_run_folder(out))
    io.remove_temporaries(out)
    spec = {
        **settings,
        "dof": len(angle_flags),
        "angles": [f"q{i + 1}" for i, a in enumerate(angle_flags) if a] or "none",
        "fps": video.fps,
    }
    pixel = {"horizon": horizon, "substeps": substeps, "width": width, "depth": depth, "dtype": dtype}
    io.claim_run_folder(
        out,
        {
            "video": str(path),
            **({"video_sha256": io.sha256_file(path)} if path.is_file() else {}),
            "video_spec": spec,
            "model": model,
            "seed": seed,
            "train": cfg.to_json(),
            "pixel_model": pixel,
        },
        force=force,
        ignore=(*_NOT_DEFINING, "video"),
    )
    trained, history = vision.fit_video(
        model,
        video,
        angles=angle_flags,
        key=jax.random.key(seed),
        config=cfg,
        objective=objective,
        val_fraction=val_fraction,
        out=out,
        label=f"{model} (pixels)",
        substeps=substeps,
        width=width,
        depth=depth,
        dtype=dtype,
    )
    io.save_model(
        out / "model.eqx",
        trained,
        dynamics=model,
        seed=seed,
        video=str(path),
        video_spec=spec,
        val_fraction=val_fraction,
        window=objective.window,
    )
    plot.loss_curves(out / "figures" / "loss.png", {model: history})
    console.print(
        f"trained {model} from pixels for {history[-1]['step']:,} steps; best validation loss "
        f"{min(h['val_loss'] for h in history):.4g}{_skipped_note(history)}; wrote {out / 'model.eqx'}"
    )


# Settings a resumed run may change: the time budget (a killed budget run is continued), and the data
# file's path where its SHA-256 identifies the data.
_NOT_DEFINING = ("train.time_budget",)


def _model_options(model: str, linear_solver: str) -> dict:
    """Constructor options from the model flags: an LNN's linear solver (``auto``: lnn's default policy)."""
    from lnn.mechanics import CG, LU, Cholesky

    solvers = {"auto": None, "lu": LU(), "cholesky": Cholesky(), "cg": CG()}
    if linear_solver not in solvers:
        raise ConfigurationError(f"unknown --linear-solver {linear_solver!r}; choose auto, lu, cholesky or cg.")
    if model != "lnn":
        if linear_solver != "auto":
            raise ConfigurationError("--linear-solver applies to --model lnn.")
        return {}
    return {"linear_solver": solvers[linear_solver]}


# The train flags a recording's recipe chooses (given on the command line, they override it).
_RECIPE_FLAGS = (
    "model",
    "steps",
    "budget",
    "batch_size",
    "val_fraction",
    "lr",
    "weight_decay",
    "lbfgs_steps",
    "devices",
    "method",
)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the option ``name`` was set by the user (command line or environment), not left at its default."""
    source = ctx.get_parameter_source(name)  # Typer's own ParameterSource: compared by name
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _learning_method(base, method, initial, window, every, longer_windows, warm_start, warm_start_if, lbfgs_steps):
    """The recipe's learning method ``base`` with the method flags that were given (``None``: not given)
    applied; one line of error for contradictions. ``lbfgs_steps``: the training's, to drop longer windows
    that could not be refined."""
    import dataclasses

    from lnn.observed import EstimatedStates, FreeStates, FromDerivatives, TrajectoryMatching, WarmStart

    matching_flags = {
        "--initial": initial,
        "--window": window,
        "--every": every,
        "--longer-windows": longer_windows,
        "--warm-start": warm_start,
        "--warm-start-if": warm_start_if,
    }
    given = [flag for flag, value in matching_flags.items() if value is not None]
    if method not in (None, "matching", "derivatives"):
        raise ConfigurationError(f"unknown --method {method!r}; choose 'matching' or 'derivatives'.")
    if method == "derivatives":
        if given:
            raise ConfigurationError(f"{', '.join(given)} apply to --method matching, not derivatives.")
        return FromDerivatives(base.smoother)
    if method is None and not given:
        return _without_unrefined_windows(base, lbfgs_steps)
    start = base if isinstance(base, TrajectoryMatching) else TrajectoryMatching(smoother=base.smoother)
    longer = _numbers(longer_windows, "--longer-windows", int, "whole numbers, e.g. 61,121")
    if initial not in (None, "estimated", "free"):
        raise ConfigurationError(f"unknown --initial {initial!r}; choose 'estimated' or 'free'.")
    free = initial == "free" or (initial is None and isinstance(start.initial, FreeStates))
    if longer and not free:
        raise ConfigurationError("--longer-windows refine free initial states; add --initial free.")
    if warm_start_if not in (None, "always", "stalled"):
        raise ConfigurationError(f"--warm-start-if must be 'always' or 'stalled'; got {warm_start_if!r}.")
    if warm_start_if is not None and warm_start is None and start.warm_start is None:
        raise ConfigurationError("--warm-start-if needs --warm-start STEPS.")
    length = start.window if window is None else window
    if longer is None:  # the recipe's longer stage, kept twice as long as a changed window
        longer = (2 * length - 1,) if window is not None and start.longer_windows else start.longer_windows
    warm = start.warm_start
    if warm_start is not None or warm_start_if is not None:
        steps = warm_start if warm_start is not None else warm.steps  # pyright: ignore[reportOptionalMemberAccess]
        stalled = warm.if_stalled if warm_start_if is None and warm is not None else warm_start_if == "stalled"
        warm = WarmStart(steps, if_stalled=stalled)
    chosen = dataclasses.replace(
        start,
        window=length,
        every=start.every if every is None else every,
        initial=FreeStates(tuple(longer), polish=_polish(start) or not longer) if free else EstimatedStates(),
        warm_start=warm,
    )
    return chosen if longer_windows is not None else _without_unrefined_windows(chosen, lbfgs_steps)


def _polish(method) -> bool:
    """Whether ``method`` polishes its own windows by L-BFGS before any longer ones (see FreeStates)."""
    from lnn.observed import FreeStates

    return not isinstance(method.initial, FreeStates) or method.initial.polish


def _without_unrefined_windows(method, lbfgs_steps: int):
    """``method`` without its longer windows when there are no L-BFGS iterations to refine them by."""
    import dataclasses

    from lnn.observed import FreeStates, TrajectoryMatching

    if isinstance(method, TrajectoryMatching) and method.longer_windows and not lbfgs_steps:
        return dataclasses.replace(method, initial=FreeStates())
    return method


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="a run folder from `lnn train` (or a model.eqx file)"),
    system: str | None = typer.Option(None, help="system to evaluate on (default: the run's)"),
    data_file: Path | None = typer.Option(
        None,
        "--data",
        help="measured positions to predict (.csv/.npz "
        "with --time and --coords, or a Schmidt & Lipson .txt); default "
        "column names: the run's",
    ),
    time_col: str | None = OBS_TIME,
    coords: str | None = OBS_COORDS,
    velocities: str | None = OBS_VELOCITIES,
    angles: str | None = OBS_ANGLES,
    trajectory: str | None = OBS_TRAJECTORY,
    force_columns: str | None = OBS_FORCES,
    horizons: str = typer.Option("0.5,1,2,5", help="with --data: lead times (s) at which to report the error"),
    tail: float | None = typer.Option(
        None,
        help="with --data: evaluate on the last TAIL fraction of each trajectory only (the part training did not see)",
    ),
    n_initial: int = typer.Option(40, help="initial conditions near rest"),
    t_end: float = typer.Option(100.0, help="rollout length (s)"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as one JSON object"),
    seed: int = SEED,
    out: Path | None = typer.Option(None, help="folder for evaluation.json and figures (default: the run)"),
) -> None:
    """Evaluate a trained model with the LNN paper's energy protocol and rollout errors."""
    import jax

    from lnn import io, metrics, plot, vision
    from lnn import systems as registry

    path = run / "model.eqx" if run.is_dir() else run
    model, meta = io.load_model(path, build=vision.model_from_config)
    if isinstance(model, vision.PixelModel):
        folder = out or (run if run.is_dir() else run.parent)
        result = _evaluate_video(model, meta, folder)
        if as_json:
            print(json.dumps(result))
        else:
            _pixel_table({meta.get("dynamics", "model"): result}, f"{meta.get('video')}: held-out frames")
            figures = folder / "figures"
            console.print(
                f"wrote {folder / 'evaluation.json'}, {figures / 'prediction.gif'} and {figures / 'pixel_error.png'}"
            )
        return
    if data_file is not None:
        spec = _observation_spec(
            data_file, time_col, coords, velocities, angles, trajectory, force_columns, default=meta.get("observations")
        )
        folder = out or (run if run.is_dir() else run.parent)
        result = _evaluate_observed(model, data_file, spec, horizons, tail, folder)
        if as_json:
            print(json.dumps(result))
        else:
            console.print_json(json.dumps(result))
            _observed_table(
                result, f"{data_file.name}: {result['starts']} starts, error threshold {result['threshold']:g}"
            )
        return
    if "observations" in meta and system is None:
        raise ConfigurationError(
            f"{path} was trained on measured data ({meta.get('data')}); evaluate it on measured "
            "positions with --data FILE (or name a built-in --system)."
        )
    s = registry.get(system or meta.get("system", "double_pendulum"))
    protocol = metrics.Protocol(n_initial=n_initial, t_end=t_end)
    ev = metrics.evaluate(model, s, key=jax.random.key(seed), protocol=protocol)
    folder = out or (run if run.is_dir() else run.parent)
    io.write_json(folder / "evaluation.json", ev.metrics)
    name = type(model).__name__
    plot.energy(folder / "figures" / "energy.png", s, {name: ev})
    plot.trajectories(folder / "figures" / "trajectories.png", s, {name: ev})
    if as_json:
        print(json.dumps(ev.metrics))
    else:
        _metrics_table({name: ev.metrics}, f"{s.name}: {n_initial} initial conditions, t = {t_end:g} s")


def _evaluate_video(model, meta: dict, folder: Path) -> dict:
    """The pixel metrics of a video run on its held-out frames; writes evaluation.json, the GIF and the figure."""
    from lnn import io, plot, vision

    if "video" not in meta or "video_spec" not in meta:
        raise ConfigurationError(
            "this pixel model's file does not name its video; evaluate a run of `lnn train --video`."
        )
    spec = meta["video_spec"]
    video, _ = _read_training_video(Path(meta["video"]), {**spec, "angles": None}, spec.get("fps"))
    _, held_out = vision.split_video(video, float(meta.get("val_fraction", 0.1)), int(meta.get("window", 3)))
    result = vision.evaluate_video(model, held_out)
    io.write_json(folder / "evaluation.json", {k: v for k, v in result.items() if k != "mse"} | {"mse": result["mse"]})
    vision.write_gif(folder / "figures" / "prediction.gif", vision.side_by_side(model, held_out), held_out.fps)
    plot.pixel_errors(folder / "figures" / "pixel_error.png", {meta.get("dynamics", "model"): result}, held_out.dt)
    return {k: v for k, v in result.items() if k != "mse"}


def _pixel_table(results: dict, title: str) -> None:
    """One row per model: VPT, pixel MSE at each horizon, coordinate R², energy drift."""
    table = Table(title=title)
    horizons = list(next(iter(results.values()))["pixel_mse"])
    for col in ["model", "VPT", *[f"MSE {h} fr." for h in horizons], "coord. R²", "energy drift"]:
        table.add_column(col, justify="right")
    for name, r in results.items():
        r2 = "-" if r["coordinate_r2"] is None else f"{r['coordinate_r2']:.3f}"
        drift = r["energy_drift"]
        table.add_row(
            name,
            f"{r['vpt']:.3g} s",
            *[f"{r['pixel_mse'][h]:.3g}" for h in horizons],
            r2,
            "-" if drift is None else f"{drift * 100:.3g}%",
        )
    Console(width=max(console.width, 110)).print(table)


def _observation_spec(
    path, time_col, coords, velocities, angles, trajectory, force_columns=None, default=None
) -> dict | None:
    """Which loader and columns read ``path`` as measured motion; ``None`` for an lnn dataset (.npz).

    ``default``: the spec a run was trained with (its force columns are used unless
    ``force_columns`` is given; ``""`` means none).
    """
    if path is None:
        if force_columns:
            raise ConfigurationError("--force-columns names columns of a recording: give it with --data FILE.")
        return None
    given = force_columns
    if force_columns is None and default and default.get("loader") == "table":
        force_columns = default.get("force_columns")
    if coords or time_col:
        if not (coords and time_col):
            raise ConfigurationError("name both the time column (--time) and the coordinate columns (--coords).")
        spec = {
            "loader": "table",
            "time": time_col,
            "coordinates": coords,
            "velocities": velocities,
            "angles": angles,
            "trajectory": trajectory,
        }
        return {**spec, "force_columns": force_columns} if force_columns else spec
    if path.suffix.lower() == ".txt" or (path.is_file() and path.read_bytes()[:200].lstrip().startswith(b"%")):
        if given:
            raise ConfigurationError(
                f"{path.name} is a Schmidt & Lipson file, which has no force columns; drop --force-columns."
            )
        return {"loader": "schmidt_lipson"}
    if default and default.get("loader") == "table":
        spec = {k: v for k, v in default.items() if k != "force_columns"}
        return {**spec, "force_columns": force_columns} if force_columns else spec
    if path.suffix.lower() == ".csv":
        raise ConfigurationError(
            f"name the columns of {path.name}: --time COLUMN --coords COL1,COL2 (and optionally "
            "--velocities, --angles, --trajectory, --force-columns)."
        )
    if given:
        raise ConfigurationError(
            "--force-columns names columns of a recording; give its --time and --coords too (an lnn "
            "dataset.npz carries its forces itself)."
        )
    return None


def _numbers(text: str | None, option: str, convert, what: str) -> tuple | None:
    """``text`` split at commas and converted; a bad entry names the option and ``what`` it wants."""
    if text is None:
        return None
    try:
        return tuple(convert(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigurationError(f"{option} must be comma-separated {what}; got {text!r}.") from None


def _load_observations(path, spec):
    from lnn import observed

    if spec["loader"] == "schmidt_lipson":
        return observed.load_schmidt_lipson(path)
    return observed.load_table(
        path,
        time=spec["time"],
        coordinates=spec["coordinates"],
        velocities=spec.get("velocities"),
        angles=spec.get("angles"),
        trajectory=spec.get("trajectory"),
        force_columns=spec.get("force_columns"),
    )


def _train_observed(
    data_file,
    spec,
    *,
    given,
    matching_flags,
    width,
    depth,
    init,
    dtype,
    seed,
    out,
    linear_solver,
    model_settings,
    force,
) -> None:
    """Train on a recording: its recipe (:func:`lnn.observed.recipe`), the flags in ``given`` (TrainConfig
    fields and ``model``) and ``matching_flags`` (the method flags, ``None`` where not given) overriding it."""
    import dataclasses

    import jax

    from lnn import io, plot
    from lnn.observed import TrajectoryMatching, describe, fit_recipe, recipe

    obs = _load_observations(data_file, spec)
    console.print(f"{data_file}: {obs.summary()}")
    method_flag = matching_flags[0]
    if method_flag not in (None, "matching", "derivatives"):
        raise ConfigurationError(f"unknown --method {method_flag!r}; choose 'matching' or 'derivatives'.")
    chosen = recipe(obs, method=method_flag)
    for line in chosen.reasons:
        console.print(f"[dim]recipe:[/dim] {line}")
    train_fields = {k: v for k, v in given.items() if k not in ("model", "budget")}
    if "budget" in given:  # a budget alone fits the schedule to it, as without a recording
        train_fields["time_budget"] = given["budget"] or None
        train_fields.setdefault("steps", None if given["budget"] else chosen.train.steps)
    cfg = dataclasses.replace(chosen.train, **train_fields)
    method = _learning_method(chosen.method, *matching_flags, lbfgs_steps=cfg.lbfgs_steps)
    model = given.get("model", chosen.model)
    final = dataclasses.replace(
        chosen, model=model, fallback=None if "model" in given else chosen.fallback, method=method, train=cfg
    )
    overridden = sorted({*given, *(f for f, v in zip(_MATCHING_FLAGS, matching_flags, strict=True) if v is not None)})
    if overridden:
        console.print(f"[dim]recipe:[/dim] overridden by the command line: {', '.join(overridden)}")
    kind = "matching" if isinstance(method, TrajectoryMatching) else "derivatives"
    io.claim_run_folder(
        out,
        {
            "data": str(data_file),
            "data_sha256": io.sha256_file(data_file),
            "observations": spec,
            "model": model,
            "seed": seed,
            "learning": describe(method),
            "train": cfg.to_json(),
            "recipe": chosen.to_json(),
            "overridden": overridden,
            "model_settings": model_settings,
        },
        force=force,
        ignore=(*_NOT_DEFINING, "data"),
    )
    trained, history, role, reason = fit_recipe(
        obs,
        final,
        key=jax.random.key(seed),
        out=out,
        width=width,
        depth=depth,
        dtype=dtype,
        init=init,
        **(_model_options(model, linear_solver) if linear_solver != "auto" else {}),
    )
    if reason is not None:
        console.print(f"{reason}: trained {role} instead (its run in {out / 'fallback'})")
    io.save_model(
        out / "model.eqx",
        trained,
        seed=seed,
        observations=spec,
        method=kind,
        role=role,
        **({"fallback_reason": reason} if reason else {}),
        coordinates=list(obs.coordinates),
        angles=list(obs.angles),
        data=str(data_file),
    )
    plot.loss_curves(out / "figures" / "loss.png", {role: history})
    console.print(
        f"trained {role} by {kind} for {history[-1]['step']:,} steps; best validation loss "
        f"{min(h['val_loss'] for h in history):.4g}{_skipped_note(history)}; wrote {out / 'model.eqx'}"
    )
    restart = [h["warm_restart"] for h in history if "warm_restart" in h]
    if restart:
        console.print(
            "the matching stage stalled (training loss far above the noise floor): trained again from "
            f"the warm start, {'kept' if restart[0] else 'not kept (no better)'}"
        )
    relinked = [h["relinked"] for h in history if "relinked" in h]
    if relinked:
        console.print(
            f"free initial states relinked before each L-BFGS stage: {', '.join(map(str, relinked))} "
            "windows (see lnn.observed.FreeInitialStates.relinked)"
        )


_MATCHING_FLAGS = ("method", "initial", "window", "every", "longer_windows", "warm_start", "warm_start_if")


def _evaluate_observed(model, data_file, spec, horizons: str, tail, folder) -> dict:
    from lnn import io
    from lnn.observed import observed_rollout_error

    if spec is None:
        raise ConfigurationError(
            f"{data_file} is not measured motion; pass --time and --coords (or a Schmidt & Lipson .txt file)."
        )
    obs = _load_observations(data_file, spec)
    if tail is not None:
        obs = obs.split_in_time(1 - tail)[1]
    if obs.dof != model.dof:
        raise ConfigurationError(f"{data_file} has {obs.dof} coordinate(s) but the model was trained on {model.dof}.")
    hs = list(_numbers(horizons, "--horizons", float, "seconds, e.g. 0.5,1,2") or ())
    result = {"data": str(data_file), "samples": len(obs), **observed_rollout_error(model, obs, horizons=hs)}
    io.write_json(folder / "evaluation.json", result)
    return result


@app.command()
def compare(
    system: str = typer.Argument("double_pendulum", help="system name (see `lnn systems`)"),
    models: str = typer.Option(
        "lnn,hnn,baseline",
        help="comma-separated models to train and compare: lnn, "
        "baseline, hnn (fed p = q̇; hnn_true_p, fed the true ∂L/∂q̇, is added beside it)",
    ),
    budget: float | None = typer.Option(
        None, help="wall-clock seconds of training per model (default 150 without --steps, no limit with it)"
    ),
    steps: int | None = typer.Option(None, help="training steps per model; exactly reproducible"),
    n_train: int = typer.Option(100_000, help="random training states"),
    width: int = typer.Option(64),
    depth: int = typer.Option(2),
    n_initial: int = typer.Option(40, help="initial conditions near rest for the rollouts"),
    t_end: float | None = typer.Option(
        None, help="rollout length in s (default: the system's horizon, 100 s for most)"
    ),
    pixels: bool = typer.Option(
        False,
        "--pixels",
        help="learn from rendered 32×32 frames with 1 % pixel noise instead of states (models: lnn, "
        "structured, baseline, hnn as latent dynamics)",
    ),
    n_motions: int = typer.Option(40, help="--pixels: training motions (5 s at 20 fps each)"),
    size: int = typer.Option(32, help="--pixels: frame size"),
    as_json: bool = typer.Option(
        False, "--json", help="--pixels: print model -> {vpt, pixel_mse, coordinate_r2, energy_drift} as JSON"
    ),
    seed: int = SEED,
    out: Path = typer.Option(Path("runs/compare"), help="run folder (rerun to resume); gets results.json"),
) -> None:
    """Train several models on the same data and budget and compare them on one protocol.

    Prints one table (derivative loss, rollout error, energy error, valid time) and
    writes figures (trajectories, energy over time, phase portraits) and
    OUT/results.json: model name -> {derivative_loss, rollout_error, energy_error, valid_time, ...}.
    With --pixels: every model learns from the same rendered frames; the table has
    VPT, pixel MSE at 1, 10, 100, 400 frames, coordinate R² and energy drift.
    """
    from lnn import metrics
    from lnn import systems as registry
    from lnn.experiment import ExperimentConfig, with_true_momentum

    if pixels:
        _compare_pixels(system, models, budget, steps, n_motions, size, seed, out, as_json)
        return
    if as_json:
        raise ConfigurationError("--json applies to --pixels.")
    s = registry.get(system)
    if budget is None:
        budget = 0.0 if steps is not None else 150.0
    names = with_true_momentum(tuple(m.strip() for m in models.split(",") if m.strip()))
    protocol = metrics.Protocol(n_initial=n_initial, t_end=s.horizon if t_end is None else t_end)
    cfg = ExperimentConfig(
        system=s.name,
        models=names,
        budget=budget,
        steps=steps,
        n_train=n_train,
        width=width,
        depth=depth,
        seed=seed,
        protocol=protocol,
    )
    _run_experiment(cfg, out)


def _compare_pixels(system, models, budget, steps, n_motions, size, seed, out, as_json) -> None:
    from lnn.experiment import PixelExperimentConfig, machine_description, run_pixels

    names = tuple(m.strip() for m in models.split(",") if m.strip())
    if budget is None:
        budget = 0.0 if steps is not None else 150.0
    cfg = PixelExperimentConfig(
        system=system, models=names, budget=budget, steps=steps, n_train=n_motions, size=size, seed=seed
    )
    log = (lambda msg: err_console.print(msg)) if as_json else _log
    log(f"[bold]lnn[/bold] {system} from pixels: models {', '.join(names)} -> {out}")
    log(f"machine: {machine_description()}")
    results = run_pixels(cfg, out, progress=not as_json, log=log)
    if as_json:
        keep = ("vpt", "pixel_mse", "coordinate_r2", "energy_drift")
        print(json.dumps({name: {k: r[k] for k in keep} for name, r in results.items()}))
        return
    _pixel_table(
        results, f"{system} from {size}×{size} frames: {cfg.n_test} held-out motions of {cfg.test_frames} frames"
    )
    console.print(f"wrote {out / 'results.json'} and {out / 'figures' / 'pixel_error.png'}")


@app.command()
def demo(
    full: bool = typer.Option(False, "--full", help="the long run that reproduces the paper's accuracy"),
    budget: float | None = typer.Option(None, help="override the training seconds per model"),
    seed: int = SEED,
    out: Path | None = typer.Option(None, help="run folder (default runs/demo or runs/demo-full)"),
) -> None:
    """The main job: LNN vs black-box baseline on the double pendulum, with the paper's energy protocol."""
    from lnn.experiment import demo_config

    cfg = demo_config(full=full, seed=seed, budget=budget)
    _run_experiment(cfg, out or Path("runs/demo-full" if full else "runs/demo"))


@app.command()
def symmetries(
    run_or_system: str = typer.Argument(
        ..., help="a system name (its closed-form L), or a run folder / model.eqx of a trained LNN"
    ),
    n_states: int = typer.Option(2000, help="states the invariance is tested on"),
    threshold: float = typer.Option(0.1, help="largest score (normalised defect) a symmetry may have"),
    n_rollouts: int = typer.Option(8, help="rollouts along which the charges are tracked"),
    t_end: float = typer.Option(5.0, help="rollout length (s)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as one JSON object"),
    seed: int = SEED,
    out: Path | None = typer.Option(
        None,
        help="folder for symmetries.json and figures/charges.png (default: the run folder, or runs/symmetries/SYSTEM)",
    ),
) -> None:
    """Find the symmetries of a Lagrangian (Noether) and check their charges along rollouts."""
    import jax

    from lnn import io, plot, symmetry
    from lnn import systems as registry

    L, meta, what, folder = _lagrangian_to_analyse(run_or_system, out, "symmetries", "so no Noether symmetries")
    if "system" not in meta:
        raise ConfigurationError(
            f"{run_or_system} was not trained on a built-in system, so there is no system whose candidate "
            "symmetries to test; pass a run of `lnn train --system ...` or a system name."
        )
    system = registry.get(meta["system"])
    found, checked = symmetry.find_symmetries(
        L, system, jax.random.key(seed), n_states=n_states, threshold=threshold, n_rollouts=n_rollouts, t_end=t_end
    )
    result = {"source": what, "system": system.name, **symmetry.report(found, checked)}
    io.write_json(folder / "symmetries.json", result)
    figure = plot.charges(
        folder / "figures" / "charges.png",
        f"{what}: Noether charges along rollouts",
        [s.label for s in found.symmetries],
        checked,
    )
    if as_json:
        print(json.dumps(result))
        return
    table = Table(
        title=f"{what}: {len(found.symmetries)} symmetr{'y' if len(found.symmetries) == 1 else 'ies'} "
        f"besides time (threshold {threshold:g}, gap ×{found.gap:.3g})"
    )
    for col in ("generator", "kind", "score", "charge drift: model", "true system"):
        table.add_column(col, justify="left" if col in ("generator", "kind") else "right")
    for i, s in enumerate(found.symmetries):
        d = checked.drifts(i)
        table.add_row(s.label, s.kind, f"{s.score:.2g}", f"{d['model']:.2g}", f"{d['true_system']:.2g}")
    e = checked.energy_drifts()
    table.add_row("time translation", "energy", "0", f"{e['model']:.2g}", f"{e['true_system']:.2g}")
    console.print(table)
    console.print("singular values: " + ", ".join(f"{v:.2g}" for v in found.singular_values))
    console.print(
        "candidate scores: "
        + ", ".join(f"{c.name} {v:.2g}" for c, v in zip(found.candidates, found.scores, strict=True))
    )
    console.print(f"wrote {folder / 'symmetries.json'} and {figure}")


@app.command()
def distill(
    run_or_system: str = typer.Argument(
        ..., help="a system name (its closed-form L), or a run folder / model.eqx of a trained LNN"
    ),
    n_states: int = typer.Option(2000, help="states the equations of motion are fitted at"),
    degree: int = typer.Option(2, help="largest degree of the polynomial potential terms"),
    kinetic_degree: int = typer.Option(0, help="largest degree of the polynomials f(q) in kinetic terms q̇ᵢq̇ⱼf(q)"),
    velocity_degree: int = typer.Option(1, help="largest degree of g(q) in velocity-linear terms q̇ᵢg(q)"),
    inverse_distances: bool = typer.Option(False, help="add 1/r terms of the points' distances"),
    terms: str | None = typer.Option(None, help="extra library terms, ';'-separated, e.g. 'sin(theta)**2*phi_dot**2'"),
    scale: str | None = typer.Option(None, help="fix the scale by one coefficient, e.g. 'theta_dot**2=0.5'"),
    tolerance: float = typer.Option(0.05, help="largest acceleration error (relative) a formula may have"),
    as_json: bool = typer.Option(False, "--json", help="print the result as one JSON object"),
    seed: int = SEED,
    out: Path | None = typer.Option(
        None, help="folder for distill.json (default: the run folder, or runs/distill/SYSTEM)"
    ),
) -> None:
    """Distill a Lagrangian into a sparse formula over a candidate library (lnn.distillation)."""
    import jax

    from lnn import io, observed
    from lnn import systems as registry
    from lnn.distillation import distill as distill_formula

    fixed = None
    if scale is not None:
        term, _, value = scale.rpartition("=")
        number = _numbers(value, "--scale", float, "TERM=VALUE, e.g. theta_dot**2=0.5")
        if not term.strip() or not number:
            raise ConfigurationError(f"--scale must be TERM=VALUE, e.g. theta_dot**2=0.5; got {scale!r}.")
        fixed = (term, number[0])
    extra = [t for t in (terms or "").split(";") if t.strip()]
    library = {"degree": degree, "kinetic_degree": kinetic_degree, "velocity_degree": velocity_degree}
    options = {**library, "inverse_distances": inverse_distances, "terms": extra, "scale": fixed}
    key = jax.random.key(seed)
    model, meta, what, folder = _lagrangian_to_analyse(run_or_system, out, "distill", "so nothing to distill")
    if "system" in meta:
        system = registry.get(meta["system"])
        result = distill_formula(model, system, key=key, n_states=n_states, tolerance=tolerance, **options)
    elif "data" in meta and "observations" in meta:  # learned from a recording: its smoothed states
        states = observed.estimate(_load_observations(Path(meta["data"]), meta["observations"]))
        coords = dict(coordinates=meta["coordinates"], angles=meta["angles"])
        result = distill_formula(model, states=states, tolerance=tolerance, **coords, **options)
    else:
        raise ConfigurationError(
            f"{run_or_system} names neither the system it was trained on nor its recording, so there are no "
            "states to distill on; use a run written by `lnn train`."
        )
    report = {"source": what, **result.to_json()}
    io.write_json(folder / "distill.json", report)
    if as_json:
        print(json.dumps(report))
        return
    if result.explained:
        console.print(f"{what}: L = {result.lagrangian}", highlight=False)
        console.print(
            f"acceleration error {result.acceleration_error:.3g} against the model"
            + ("" if result.data_error is None else f", {result.data_error:.3g} against the data")
            + f"; scale: {result.scale}",
            highlight=False,
        )
    else:
        console.print(
            f"{what}: outside the library: no formula explains the accelerations to within {tolerance:g} "
            f"(best {result.best_error:.3g}); try --degree, --inverse-distances or --terms",
            highlight=False,
        )
    table = Table(title="Pareto front: terms against acceleration error (* the knee)")
    for col in ("terms", "acceleration error", "formula terms"):
        table.add_column(col, justify="right" if col != "formula terms" else "left")
    for i, p in enumerate(result.pareto):
        table.add_row(
            f"{p.complexity}{' *' if i == result.chosen else ''}", f"{p.acceleration_error:.3g}", ", ".join(p.terms)
        )
    console.print(table)
    console.print(f"wrote {folder / 'distill.json'}")


def _lagrangian_to_analyse(run_or_system: str, out: Path | None, command: str, why: str):
    """(Lagrangian, metadata, description, output folder) of a system name or a trained Lagrangian model's run.

    A built-in system's metadata names itself; a run's output folder is its own unless ``out`` is given.
    """
    from lnn import io
    from lnn import systems as registry
    from lnn.errors import ModelTypeError
    from lnn.mechanics import AbstractLagrangian

    if run_or_system in registry.names():
        system = registry.get(run_or_system)
        return (
            system,
            {"system": run_or_system},
            f"closed-form {run_or_system}",
            out or Path("runs") / command / run_or_system,
        )
    path = _model_path(Path(run_or_system))
    model, meta = io.load_model(path)
    if not isinstance(model, AbstractLagrangian):
        raise ModelTypeError(
            f"{path} is a {type(model).__name__}, which has no Lagrangian, {why}; pass an LNN run (e.g. runs/demo/lnn)."
        )
    return model, meta, f"model {path}", out or path.parent


def _model_path(path: Path) -> Path:
    """model.eqx of a run: the file itself, RUN/model.eqx, or RUN/lnn/model.eqx (a demo or compare run)."""
    for candidate in (path, path / "model.eqx", path / "lnn" / "model.eqx"):
        if candidate.is_file():
            return candidate
    from lnn import systems as registry
    from lnn.errors import FileFormatError

    raise FileFormatError(
        f"{path} is neither a system ({', '.join(registry.names())}) nor a run folder with "
        "model.eqx or lnn/model.eqx; pass one of them."
    )


def _run_experiment(cfg, out: Path) -> None:
    from lnn.experiment import machine_description, run

    console.print(
        f"[bold]lnn[/bold] {cfg.system}: models {', '.join(cfg.models)}, "
        f"{f'{cfg.steps:,} steps' if cfg.steps else f'{cfg.budget:.0f} s'} of training each, "
        f"seed {cfg.seed} -> {out}"
    )
    console.print(f"machine: {machine_description()}")
    results = run(cfg, out, log=_log)
    _metrics_table(
        results,
        f"{cfg.system}: energy protocol ({cfg.protocol.n_initial} initial conditions near "
        f"rest, t = {cfg.protocol.t_end:g} s)",
    )
    console.print(f"wrote {out / 'report.md'}, {out / 'results.json'} and figures in {out / 'figures'}")


def _metrics_table(results: dict, title: str) -> None:
    table = Table(title=title)
    horizons = list(next(iter(results.values())).get("position_error_at", {}))
    columns = [
        "model",
        "deriv. loss",
        *[f"pos. err. {h} s" for h in horizons],
        "energy err.",
        "accel. err.",
        "valid time",
        "failed",
    ]
    for col in columns:
        table.add_column(col, justify="right")
    for name, r in results.items():
        accel = f"{r['accel_relative_error'] * 100:.3g}%" if "accel_relative_error" in r else "-"
        deriv = f"{r['derivative_loss']:.3g}" if "derivative_loss" in r else "-"
        table.add_row(
            name,
            deriv,
            *[f"{r['position_error_at'][h]:.3g}" for h in horizons],
            f"{r['energy_error'] * 100:.3g}%",
            accel,
            f"{r['valid_time']:.3g} s",
            str(r["failed"]),
        )
    Console(width=max(console.width, 120)).print(table)  # narrow terminals would wrap every cell


def _observed_table(result: dict, title: str) -> None:
    """The model's rollout errors on measured data beside the trivial predictors' (``result["baselines"]``)."""
    table = Table(title=title)
    horizons = list(result["rollout_error"])
    for col in ["predictor", *[f"error at {h} s" for h in horizons], "valid time"]:
        table.add_column(col, justify="right")
    rows = {"model": result, **{f"{name.replace('_', ' ')} (trivial)": r for name, r in result["baselines"].items()}}
    for name, r in rows.items():
        table.add_row(name, *[f"{r['rollout_error'][h]:.3g}" for h in horizons], f"{r['valid_time']:.3g} s")
    Console(width=max(console.width, 100)).print(table)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr (``warning: ...``), like an error, without the source line."""
    err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)


def main() -> None:
    """Entry point: float64 on (the physics needs it), then the app, a user's mistake as one line on stderr."""
    import jax

    from lnn.errors import LnnError

    jax.config.update("jax_enable_x64", True)
    warnings.showwarning = _show_warning
    try:
        app()  # standalone: usage errors are printed and exit by click itself
    except (LnnError, ValueError, OSError) as err:
        if os.environ.get("LNN_DEBUG"):
            raise
        err_console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)
