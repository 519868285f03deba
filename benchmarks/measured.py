"""Real-data study: learn from the first part of each Schmidt & Lipson recording, predict the rest.

For every measured motion (real pendulum, real double pendulum, real spring
systems; Schmidt & Lipson, Science 2009) the first ``--fraction`` of each
trajectory is the training data: positions are smoothed and differentiated
(``lnn.observed.estimate``, its default smoother), the last 20 % of that part
validates. Three models are trained for the same wall-clock budget: an LNN, an
LNN + learned Rayleigh dissipation (``lnn.models.with_dissipation``) and the
black-box baseline. Each then predicts the held-out rest of the recording from
the state estimated at the end of its training data (no held-out sample is
used), and the script prints

* the prediction error against horizon: the mean over held-out samples within
  h seconds of RMS((q̂ − q)/σ) (σ each coordinate's spread, angle differences
  wrapped), and the valid time (error first above 0.2);
* energy behaviour: the energy above rest of the LNN + dissipation model,
  E_θ − E_rest, along the data and along each model's prediction (one
  yardstick for all three, as the baseline has no energy), its fitted decay
  rate, whether it ever rises along the dissipative prediction, and the learned
  damping in physical terms (rate γ, decay time, damping ratio).

Figures (``--figures DIR``): per recording, error against time and energy
against time. Run from the repository root:

    python benchmarks/measured.py                   # 4 recordings × 3 models × 2,000 steps
    python benchmarks/measured.py --files real_pend_h_1 --steps 5000 --json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lnn import mechanics, metrics, observed
from lnn._angles import spread, wrapped_difference
from lnn.errors import SingularMassMatrixError
from lnn.integrate import RK4, rollout
from lnn.models import with_dissipation
from lnn.training import TrainConfig, build_model, fit

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "schmidt-lipson"
FILES = ("real_pend_h_1", "real_double_pend_h_1", "real_linear_h_1", "real_double_linear_h_1")
MODELS = ("lnn", "lnn+dissipation", "baseline")
THRESHOLD = 0.2


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # physics in float64, as lnn's users run it
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the Schmidt & Lipson .txt files")
    parser.add_argument("--files", default=",".join(FILES), help="comma-separated file names (no .txt)")
    parser.add_argument("--fraction", type=float, default=0.5, help="share of each trajectory to train on")
    parser.add_argument("--steps", type=int, default=2000, help="training steps per model (the same on any machine)")
    parser.add_argument("--budget", type=float, default=None, help="also stop each model after this many seconds")
    parser.add_argument("--horizons", default="1,5,10,20,40", help="prediction horizons in seconds")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figures", type=Path, default=Path("runs/measured"), help="folder for the PNG figures")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    args = parser.parse_args()
    horizons = [float(h) for h in args.horizons.split(",")]
    results = {}
    for name in args.files.split(","):
        t0 = time.perf_counter()
        results[name] = study(args.data / f"{name}.txt", args, horizons)
        results[name]["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(results, indent=2))
    else:  # after all training, so the progress bars do not split the tables
        for name, result in results.items():
            print_table(name, result, horizons)


def study(path: Path, args, horizons) -> dict:
    obs = observed.load_schmidt_lipson(path)
    train_obs, test_obs = obs.split_in_time(args.fraction)
    fit_obs, val_obs = train_obs.split_in_time(0.8)
    fit_data, val_data = (observed.estimate(o) for o in (fit_obs, val_obs))
    train_data = observed.estimate(train_obs)  # the states at the end of training start the predictions
    keys = jax.random.split(jax.random.key(args.seed), 6)
    common = dict(width=args.width, dtype="float64")
    candidates = {
        "lnn": build_model("lnn", fit_data, keys[0], angles=obs.angles, **common),
        "lnn+dissipation": with_dissipation(
            build_model("lnn", fit_data, keys[0], angles=obs.angles, **common), key=keys[1], rate=0.05
        ),
        "baseline": build_model("baseline", fit_data, keys[2], angles=obs.angles, **common),
    }
    config = TrainConfig(
        steps=args.steps, time_budget=args.budget, batch_size=min(256, len(fit_data)), eval_every=250, warmup_steps=200
    )
    trained, steps = {}, {}
    for i, (label, model) in enumerate(candidates.items()):
        trained[label], history = fit(
            model,
            fit_data,
            key=keys[3 + i % 3],
            config=config,
            val_dataset=val_data,
            progress=not args.json,
            label=f"{path.stem} {label}",
        )
        steps[label] = history[-1]["step"]

    sigma = spread(obs.q, obs.angles)
    out = {
        "samples": len(obs),
        "train_seconds_of_data": _duration(train_obs),
        "test_seconds": _duration(test_obs),
        "models": {},
    }
    predictions = {}
    for label, model in trained.items():
        errors, times, preds = [], [], []
        for traj, idx in test_obs.segments():
            end = np.flatnonzero(train_data.trajectory == traj)[-1]
            ts = np.concatenate([[train_data.t[end]], test_obs.t[idx]])
            q, v = rollout(model, train_data.q[end], train_data.qdot[end], ts, solver=RK4(0.005))
            q, v = np.asarray(q)[1:], np.asarray(v)[1:]
            d = wrapped_difference(q, test_obs.q[idx], obs.angles) / sigma
            errors.append(np.sqrt(np.mean(d**2, axis=-1)))
            times.append(ts[1:] - ts[0])
            preds.append((ts[1:], q, v))
        err, dt = np.concatenate(errors), np.concatenate(times)
        err = np.where(np.isfinite(err), err, np.inf)
        valid = [metrics.valid_prediction_time(t, e[None], THRESHOLD)[0] for t, e in zip(times, errors, strict=True)]
        out["models"][label] = {
            "error_within": {f"{h:g}": float(np.mean(err[dt <= h])) for h in horizons if np.any(dt <= h)},
            "valid_time": float(np.median(valid)),
            "steps": steps[label],
        }
        predictions[label] = preds

    energy = energy_behaviour(trained["lnn+dissipation"], train_data, test_obs, predictions)
    out.update(energy)
    args.figures.mkdir(parents=True, exist_ok=True)
    out["figure"] = str(
        figure(args.figures / f"{path.stem}.png", path.stem, test_obs, predictions, sigma, energy["_curves"])
    )
    del out["_curves"]
    return out


def energy_behaviour(model, train_data, test_obs, predictions) -> dict:
    """The dissipative model's energy above rest along the data and along each prediction."""
    E = jax.jit(jax.vmap(lambda q, v: mechanics.energy(model, q, v)))
    q_train = jnp.asarray(train_data.q)
    rest_index = int(jnp.argmin(E(q_train, jnp.zeros_like(q_train))))  # lowest learned potential seen
    q_rest = train_data.q[rest_index]
    e_rest = float(E(q_train[rest_index : rest_index + 1], jnp.zeros((1, train_data.dof)))[0])
    test_data = observed.estimate(test_obs)
    curves = {
        "data": [
            (train_data.t, np.asarray(E(q_train, jnp.asarray(train_data.qdot))) - e_rest),
            (test_data.t, np.asarray(E(jnp.asarray(test_data.q), jnp.asarray(test_data.qdot))) - e_rest),
        ]
    }
    rates = {"data": float(np.median([metrics.energy_decay_rate(t, e, 0.0) for t, e in curves["data"]]))}
    rises = {}
    for label, preds in predictions.items():
        curves[label] = [(t, np.asarray(E(jnp.asarray(q), jnp.asarray(v))) - e_rest) for t, q, v in preds]
        rates[label] = float(np.median([metrics.energy_decay_rate(t, e, 0.0) for t, e in curves[label]]))
        rises[label] = float(max(np.max(np.diff(e)) / max(e[0], 1e-300) for _, e in curves[label]))
    try:
        report = metrics.damping_report(model, q_rest)
        damping = {k: report[k] for k in ("rate", "decay_time", "damping_ratio", "frequency")}
    except SingularMassMatrixError as err:  # a learned L without a physical mass matrix at its rest point
        damping = {"error": str(err)}
    return {
        "energy_decay_rate": rates,
        "largest_energy_rise": rises,  # largest one-step increase of E − E_rest, relative to its start
        "damping": damping,
        "_curves": curves,
    }


def figure(path, title, test_obs, predictions, sigma, curves):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lnn import io

    colors = {"data": "black", "lnn": "tab:blue", "lnn+dissipation": "tab:green", "baseline": "tab:red"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    for label, preds in predictions.items():
        for k, (_, idx) in enumerate(test_obs.segments()):
            t, q, _ = preds[k]
            d = wrapped_difference(q, test_obs.q[idx], test_obs.angles) / sigma
            ax1.plot(
                t - t[0], np.sqrt(np.mean(d**2, axis=-1)), color=colors[label], lw=1, label=label if k == 0 else None
            )
    ax1.set_yscale("log")
    ax1.axhline(THRESHOLD, color="gray", ls=":", lw=1)
    ax1.set_xlabel("time since the end of the training data (s)")
    ax1.set_ylabel("prediction error (RMS of error / spread)")
    ax1.legend(fontsize=8)
    for label, series in curves.items():
        for k, (t, e) in enumerate(series):
            ax2.plot(
                t,
                e,
                color=colors[label],
                lw=1.6 if label == "data" else 1,
                alpha=0.5 if label == "data" else 1,
                label=label if k == 0 else None,
            )
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("learned energy above rest, E_θ − E_rest")
    ax2.set_title("energy of the LNN + dissipation model", fontsize=9)
    ax2.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    import io as _io

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return io.atomic_write(path, lambda f: f.write(buf.getvalue()))


def _duration(obs) -> float:
    return float(sum(obs.t[idx][-1] - obs.t[idx][0] for _, idx in obs.segments()))


def print_table(name: str, result: dict, horizons) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{name}: trained on {result['train_seconds_of_data']:.0f} s, predicting "
        f"{result['test_seconds']:.0f} s ({result['seconds']:.0f} s of compute)"
    )
    table.add_column("model")
    for h in horizons:
        table.add_column(f"err ≤{h:g} s", justify="right")
    table.add_column("valid time (s)", justify="right")
    table.add_column("E decay rate (1/s)", justify="right")
    table.add_column("max E rise", justify="right")
    table.add_column("steps", justify="right")
    for label, m in result["models"].items():
        table.add_row(
            label,
            *[f"{m['error_within'].get(f'{h:g}', float('nan')):.3g}" for h in horizons],
            f"{m['valid_time']:.1f}",
            f"{result['energy_decay_rate'][label]:.3g}",
            f"{result['largest_energy_rise'][label]:.2g}",
            f"{m['steps']:,}",
        )
    table.add_row("data", *[""] * len(horizons), "", f"{result['energy_decay_rate']['data']:.3g}", "", "")
    console = Console(width=110)
    console.print(table)
    d = result["damping"]
    if "error" in d:
        console.print(f"learned damping: not reported ({d['error']}); figure {result['figure']}\n")
        return
    console.print(
        f"learned damping: rate γ = {_fmt(d['rate'])} 1/s, energy decay time {_fmt(d['decay_time'])} s, "
        f"damping ratio ζ = {_fmt(d['damping_ratio'])}, frequency ω = {_fmt(d['frequency'])} rad/s; "
        f"figure {result['figure']}\n"
    )


def _fmt(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


if __name__ == "__main__":
    main()
