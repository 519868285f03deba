"""Real recordings: learn with the defaults from the first part of each Schmidt & Lipson recording, predict the rest.

For every measured motion (real pendulum, real double pendulum, real spring
systems; Schmidt & Lipson, Science 2009) the first ``--fraction`` of each
trajectory is the training data. Each model is trained there exactly as
``lnn train --data FILE --time t --coords …`` trains it with no other flag:
by the recording's recipe (:func:`lnn.observed.recipe` — method, windows,
steps, weight decay and L-BFGS stages read off the training part) through
:func:`lnn.observed.fit_recipe`, so that an LNN whose learned mass matrix is
indefinite on the training states gives way to the structured model, and the
table says so. The models: an LNN, an LNN + learned Rayleigh dissipation, the
structured Lagrangian (L = ½ q̇ᵀM(q)q̇ − V(q)) and the black box. Each then
predicts the held-out rest of every trajectory from its own state at the end
of the training part, fitted under that model to the last ``START_PERIODS``
dominant periods of training samples (:func:`lnn.observed.fit_state`; no
held-out sample is used; ``--start estimate``: the smoother's state there),
beside two trivial predictors from the smoother's state: hold it (q̂ = q0) and
constant velocity (q̂ = q0 + q̇0 τ). ``--simulated`` runs the same study on
simulated single recordings like the real ones, judged against their
noise-free motion, with the true system as one more predictor. The script prints

* the prediction error against horizon: the mean over held-out samples within
  h seconds of RMS((q̂ − q)/σ) (σ each coordinate's spread, angle differences
  wrapped), and the valid time (the median over trajectories of the first lead
  time where the error exceeds 0.2);
* the judged horizon H: the longest valid time of any trained model (at least
  one sample), so that a chaotic recording is judged where some model is
  useful and a regular one over as long as any model stays right; the error
  within H of each predictor, and whether the best of the three Lagrangian
  models is at most the black box's there;
* energy behaviour: the energy above rest of the LNN + dissipation model,
  E_θ − E_rest, along the data and along each model's prediction (one
  yardstick for all, as the black box has no energy), its fitted decay rate,
  whether it ever rises along the prediction, and the learned damping in
  physical terms (rate γ, decay time, damping ratio).

Figures (``--figures DIR``): per recording, error against time and energy
against time. Run from the repository root:

    python benchmarks/measured.py                           # 4 recordings × 4 models, the defaults
    python benchmarks/measured.py --files real_pend_h_1 --models lnn,baseline --json
    python benchmarks/measured.py --step-scale 0.05         # a quick look: 5 % of every stage's steps
    python benchmarks/measured.py --simulated pendulum,spring,double_spring  # simulated recordings like these
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _common import add_recipe_variant_arguments, recipe_variant

from lnn import io, mechanics, metrics, observed, systems
from lnn._angles import spread, wrapped_difference
from lnn.errors import SingularMassMatrixError
from lnn.experiment import machine_description
from lnn.integrate import RK4, rollout

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "schmidt-lipson"
FILES = ("real_pend_h_1", "real_double_pend_h_1", "real_linear_h_1", "real_double_linear_h_1")
MODELS = ("lnn", "lnn+dissipation", "structured", "baseline")
LAGRANGIAN = ("lnn", "lnn+dissipation", "structured")  # "the best lnn model" is the best of these
FALLBACK = {"lnn": "structured", "lnn+dissipation": "structured+dissipation"}
TRIVIAL = ("hold", "constant_velocity")
THRESHOLD = 0.2
# A model's state at the split is fitted to the training samples of the last START_PERIODS dominant periods.
START_PERIODS = 2.0
# Simulated recordings like the real ones: one trajectory each, sampled as the camera sampled them
# (system, seconds, frames/s, noise as a fraction of each coordinate's spread, jitter).
SIMULATED = {
    "pendulum": ("damped_pendulum", 90.0, 6.0, 0.01, 0.0),
    "spring": ("damped_spring", 30.0, 30.0, 0.005, 0.0),
    "double_spring": ("damped_spring_pair", 17.0, 30.0, 0.005, 0.0),
}


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # the CLI's setting: physics in float64
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the Schmidt & Lipson .txt files")
    parser.add_argument("--files", default=",".join(FILES), help="comma-separated file names (no .txt)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--fraction", type=float, default=0.5, help="share of each trajectory to train on")
    parser.add_argument("--step-scale", type=float, default=1.0, help="scale every stage's steps (a quick look)")
    parser.add_argument("--horizons", default="1,5,10,20", help="prediction horizons in seconds")
    parser.add_argument(
        "--simulated",
        default=None,
        help=f"instead of the files, simulated single recordings like them, of {', '.join(SIMULATED)} "
        "(comma-separated), judged against the noise-free truth",
    )
    add_recipe_variant_arguments(parser)
    parser.add_argument(
        "--start",
        default="fit",
        choices=("fit", "estimate"),
        help="each model's state at the split: fitted to the last training samples under the model "
        "(lnn.observed.fit_state), or the smoother's estimate there",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figures", type=Path, default=Path("runs/measured"), help="folder for the PNG figures")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    parser.add_argument("--save", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    models = args.models.split(",")
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    horizons = [float(h) for h in args.horizons.split(",")]
    if not args.json:
        print(f"command: python {' '.join(shlex.quote(a) for a in sys.argv)}")
        print(f"machine: {machine_description()}")
    results = {}
    names = args.files.split(",") if args.simulated is None else args.simulated.split(",")
    unknown = sorted(set(names) - set(SIMULATED)) if args.simulated is not None else []
    if unknown:
        parser.error(f"unknown simulated recording(s) {', '.join(unknown)}; choose from {', '.join(SIMULATED)}")
    for name in names:
        t0 = time.perf_counter()
        if args.simulated is None:
            obs, truth, system = observed.load_schmidt_lipson(args.data / f"{name}.txt"), None, None
        else:
            obs, truth, system = simulated(name, jax.random.key(args.seed))
        results[name] = study(name, obs, args, models, horizons, truth=truth, system=system)
        results[name]["seconds"] = round(time.perf_counter() - t0, 1)
    if args.save is not None:
        io.atomic_write(args.save, lambda f: f.write(json.dumps(results, indent=2).encode()))
    if args.json:
        print(json.dumps(results, indent=2))
    else:  # after all training, so the progress bars do not split the tables
        for name, result in results.items():
            print_table(name, result, horizons)


def simulated(name: str, key: jax.Array) -> tuple[observed.Observations, observed.Observations, systems.System]:
    """The simulated recording ``name`` of :data:`SIMULATED`, the same stamps without noise, and its system."""
    system_name, duration, fps, noise, jitter = SIMULATED[name]
    if system_name == "damped_pendulum":
        system = systems.get("damped_pendulum", b=0.02)  # the energy halves in about 35 s
    else:
        n = 1 if system_name == "damped_spring" else 2
        chain = systems.get("spring_chain", n=n, k=4.0 * np.pi**2 / 2.0 if n == 1 else 4.0)
        system = systems.System(
            system_name,
            chain.coordinates,
            lambda q, qdot: chain.lagrangian(q, qdot),
            dissipation=lambda q, qdot: 0.5 * 0.03 * jnp.sum(qdot**2),  # the energy halves in about 23 s
            q_low=chain.q_low,
            q_high=chain.q_high,
            energy_scale=chain.energy_scale,
        )
    kw = dict(duration=duration, fps=fps, jitter=jitter)
    return (
        observed.simulate(system, key, 1, noise=noise, **kw),
        observed.simulate(system, key, 1, noise=0.0, **kw),
        system,
    )


def scaled(chosen: observed.Recipe, scale: float) -> observed.Recipe:
    """``chosen`` with every stage's steps (warm start, Adam or derivative steps, L-BFGS) times ``scale``."""
    if scale == 1.0:
        return chosen
    times = lambda n: max(1, round(n * scale))
    train = dataclasses.replace(
        chosen.train,
        steps=None if chosen.train.steps is None else times(chosen.train.steps),
        warmup_steps=round(chosen.train.warmup_steps * scale),
        eval_every=times(chosen.train.eval_every),
        lbfgs_steps=round(chosen.train.lbfgs_steps * scale),
    )
    method = chosen.method
    if isinstance(method, observed.TrajectoryMatching) and method.warm_start is not None:
        method = dataclasses.replace(
            method, warm_start=dataclasses.replace(method.warm_start, steps=times(method.warm_start.steps))
        )
    return dataclasses.replace(chosen, train=train, method=method)


def study(name: str, obs: observed.Observations, args, models, horizons, *, truth=None, system=None) -> dict:
    """Train each model on the first ``args.fraction`` of ``obs`` and judge its predictions of the rest
    against ``obs`` — or against ``truth``, the same stamps without noise, where it is known. ``system``:
    the system that made a simulated ``obs``, a predictor beside the trivial ones (the true physics, started
    as the models are: what the start alone costs)."""
    train_obs, test_obs = obs.split_in_time(args.fraction)
    judge = test_obs if truth is None else truth.split_in_time(args.fraction)[1]
    chosen = scaled(recipe_variant(observed.recipe(train_obs), args), args.step_scale)
    train_est = observed.estimate(train_obs, chosen.method.smoother)  # the guesses the starts are fitted from
    trained, runs = {}, {}
    for label in models:
        t0 = time.perf_counter()
        model, history, role, reason = observed.fit_recipe(
            train_obs,
            dataclasses.replace(chosen, model=label, fallback=FALLBACK.get(label)),
            key=jax.random.key(args.seed),
            progress=not args.json,
            label=f"{name} {label}",
        )
        trained[label] = model
        runs[label] = {
            "trained": role,
            "fallback_reason": reason,
            # The model kept: is its mass matrix positive definite on the training states? (None: it is.)
            "indefinite_mass_matrix": observed.fallback_reason(model, train_est),
            "steps": history[-1]["step"],
            "train_seconds": round(time.perf_counter() - t0, 1),
        }

    sigma = spread(obs.q, obs.angles)
    starts = []  # per held-out trajectory: (index of its last training sample, the split and test stamps, test indices)
    for traj, idx in test_obs.segments():
        end = np.flatnonzero(train_est.trajectory == traj)[-1]
        starts.append((end, np.concatenate([[train_est.t[end]], test_obs.t[idx]]), idx))
    predictions = {}  # label -> per trajectory (t, q, q̇)
    predictors = {**trained, **({} if system is None else {"true_system": system})}
    span = START_PERIODS * chosen.measured.period
    for label, model in predictors.items():
        predictions[label] = []
        for end, ts, _ in starts:
            q0, v0 = train_est.q[end], train_est.qdot[end]
            if args.start == "fit":  # the state at the split that best explains the last span of training samples
                same = train_obs.trajectory == train_obs.trajectory[end]
                before = np.flatnonzero(same & (train_obs.t >= ts[0] - span))[::-1]  # from the split backwards
                q0, v0 = observed.fit_state(
                    model, train_obs.t[before], train_obs.q[before], q0, v0, angles=obs.angles, scale=sigma
                )
            q, v = rollout(model, q0, v0, ts, solver=RK4(0.005))
            predictions[label].append((ts[1:], np.asarray(q)[1:], np.asarray(v)[1:]))
    for label in TRIVIAL:
        predictions[label] = []
        for end, ts, _ in starts:
            tau = (ts[1:] - ts[0])[:, None]
            q0, v0 = train_est.q[end], train_est.qdot[end]
            q = np.broadcast_to(q0, (tau.size, obs.dof)) if label == "hold" else q0 + v0 * tau
            predictions[label].append((ts[1:], q, None))

    errors = {}  # label -> per trajectory (lead times, error)
    for label, preds in predictions.items():
        errors[label] = []
        for (_, ts, idx), (_, q, _) in zip(starts, preds, strict=True):
            d = wrapped_difference(q, judge.q[idx], obs.angles) / sigma
            e = np.sqrt(np.mean(d**2, axis=-1))
            errors[label].append((ts[1:] - ts[0], np.where(np.isfinite(e), e, np.inf)))
    valid = {
        label: float(np.median([metrics.valid_prediction_time(t, e[None], THRESHOLD)[0] for t, e in series]))
        for label, series in errors.items()
    }
    first_lead = min(float(t[0]) for t, _ in errors[models[0]])
    judged = max([first_lead, *(valid[label] for label in models)])
    out = {
        "recipe": chosen.to_json(),
        "samples": len(obs),
        "train_seconds_of_data": _duration(train_obs),
        "test_seconds": _duration(test_obs),
        "judged_horizon": judged,
        "models": {},
    }
    for label, series in errors.items():
        lead = np.concatenate([t for t, _ in series])
        err = np.concatenate([e for _, e in series])
        out["models"][label] = {
            "error_within": {f"{h:g}": float(np.mean(err[lead <= h])) for h in horizons if np.any(lead <= h)},
            "error_within_judged": float(np.mean(err[lead <= judged + 1e-9])),
            "valid_time": valid[label],
            **runs.get(label, {}),
        }
    lagrangian = [label for label in LAGRANGIAN if label in trained]
    if lagrangian and "baseline" in trained:
        best = min(lagrangian, key=lambda label: out["models"][label]["error_within_judged"])
        out["best_lagrangian"] = best
        out["lagrangian_at_most_black_box"] = bool(
            out["models"][best]["error_within_judged"] <= out["models"]["baseline"]["error_within_judged"]
        )

    curves = None
    if "lnn+dissipation" in trained:
        model_predictions = {label: predictions[label] for label in trained}
        energy = energy_behaviour(trained["lnn+dissipation"], train_est, test_obs, model_predictions)
        curves = energy.pop("_curves")
        out.update(energy)
    args.figures.mkdir(parents=True, exist_ok=True)
    out["figure"] = str(figure(args.figures / f"{name}.png", name, errors, judged, curves))
    return out


def energy_behaviour(model, train_data, test_obs, predictions) -> dict:
    """The dissipative model's energy above rest along the data and along each prediction
    (``predictions``: label -> per trajectory ``(t, q, q̇)``)."""
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


def figure(path, title, errors, judged, curves):
    """Error against lead time (each predictor, each trajectory; the judged horizon dotted) and, when the
    dissipative model was trained, its energy above rest along the data and along each prediction."""
    import io as _io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {
        "data": "black",
        "lnn": "tab:blue",
        "lnn+dissipation": "tab:green",
        "structured": "tab:purple",
        "baseline": "tab:red",
        "true_system": "black",
        "hold": "0.6",
        "constant_velocity": "0.75",
    }
    fig, axes = plt.subplots(1, 2 if curves else 1, figsize=(10 if curves else 5.5, 3.4), squeeze=False)
    ax1 = axes[0, 0]
    for label, series in errors.items():
        trivial = label in (*TRIVIAL, "true_system")
        for k, (t, e) in enumerate(series):
            ax1.plot(t, e, color=colors[label], lw=1, ls="--" if trivial else "-", label=label if k == 0 else None)
    ax1.set_yscale("log")
    ax1.axhline(THRESHOLD, color="gray", ls=":", lw=1)
    ax1.axvline(judged, color="gray", ls=":", lw=1)
    ax1.set_xlabel("time since the end of the training data (s)")
    ax1.set_ylabel("prediction error (RMS of error / spread)")
    ax1.legend(fontsize=7)
    if curves:
        ax2 = axes[0, 1]
        for label, series in curves.items():
            for k, (t, e) in enumerate(series):
                data = label == "data"
                ax2.plot(
                    t,
                    e,
                    color=colors[label],
                    lw=1.6 if data else 1,
                    alpha=0.5 if data else 1,
                    label=label if k == 0 else None,
                )
        ax2.set_xlabel("time (s)")
        ax2.set_ylabel("learned energy above rest, E_θ − E_rest")
        ax2.set_title("energy of the LNN + dissipation model", fontsize=9)
        ax2.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    plt.close(fig)
    return io.atomic_write(path, lambda f: f.write(buf.getvalue()))


def _duration(obs) -> float:
    return float(sum(obs.t[idx][-1] - obs.t[idx][0] for _, idx in obs.segments()))


def print_table(name: str, result: dict, horizons) -> None:
    from rich.console import Console
    from rich.table import Table

    judged = result["judged_horizon"]
    table = Table(
        title=f"{name}: trained on {result['train_seconds_of_data']:.0f} s, predicting "
        f"{result['test_seconds']:.0f} s ({result['seconds']:.0f} s of compute)"
    )
    table.add_column("predictor")
    table.add_column("fell back to")
    for h in horizons:
        table.add_column(f"err ≤{h:g} s", justify="right")
    table.add_column(f"err ≤H={judged:.3g} s", justify="right")
    table.add_column("valid time (s)", justify="right")
    table.add_column("E decay rate (1/s)", justify="right")
    table.add_column("max E rise", justify="right")
    table.add_column("steps", justify="right")
    rates, rises = result.get("energy_decay_rate", {}), result.get("largest_energy_rise", {})
    for label, m in result["models"].items():
        table.add_row(
            label,
            m["trained"] if m.get("fallback_reason") else "",
            *[f"{m['error_within'].get(f'{h:g}', float('nan')):.3g}" for h in horizons],
            f"{m['error_within_judged']:.3g}",
            f"{m['valid_time']:.1f}",
            f"{rates[label]:.3g}" if label in rates else "",
            f"{rises[label]:.2g}" if label in rises else "",
            f"{m['steps']:,}" if "steps" in m else "",
        )
    if "data" in rates:
        table.add_row("data", "", *[""] * len(horizons), "", "", f"{rates['data']:.3g}", "", "")
    console = Console(width=140)
    console.print(table)
    for label, m in result["models"].items():
        if m.get("fallback_reason"):
            console.print(f"{label}: {m['fallback_reason']}; trained {m['trained']} instead")
        if m.get("indefinite_mass_matrix"):
            console.print(f"{label} as kept ({m['trained']}): {m['indefinite_mass_matrix']}")
    if "best_lagrangian" in result:
        best, verdict = result["best_lagrangian"], result["lagrangian_at_most_black_box"]
        console.print(
            f"judged within H = {judged:.3g} s (the longest valid time of any trained model): best Lagrangian "
            f"model {best} {result['models'][best]['error_within_judged']:.3g}, black box "
            f"{result['models']['baseline']['error_within_judged']:.3g} — "
            + ("at most the black box's" if verdict else "worse than the black box")
        )
    d = result.get("damping")
    if d is None:
        console.print(f"figure {result['figure']}\n")
    elif "error" in d:
        console.print(f"learned damping: not reported ({d['error']}); figure {result['figure']}\n")
    else:
        console.print(
            f"learned damping: rate γ = {_fmt(d['rate'])} 1/s, energy decay time {_fmt(d['decay_time'])} s, "
            f"damping ratio ζ = {_fmt(d['damping_ratio'])}, frequency ω = {_fmt(d['frequency'])} rad/s; "
            f"figure {result['figure']}\n"
        )


def _fmt(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


if __name__ == "__main__":
    main()
