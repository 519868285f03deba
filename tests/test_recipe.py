"""The recipe for a recording: choices read off its rate, length, trajectories, noise and energy loss;
explicit settings override them; the CLI prints and records it; the structured fallback."""

import dataclasses
import json

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

import lnn
from lnn import observed
from lnn.cli import app
from lnn.observed import FreeStates, FromDerivatives, TrajectoryMatching


def oscillation(*, rate, duration, trajectories=1, period=2.0, decay=0.0, noise=0.01, seed=0):
    """Observations of q = A e^(−decay·t) cos(2πt/period + φ) (an angle), with Gaussian noise of
    ``noise`` × the amplitude; closed form, so any rate costs nothing to record."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(duration * rate)) + 1) / rate
    amplitude, phase = rng.uniform(0.5, 1.0, trajectories), rng.uniform(0, 2 * np.pi, trajectories)
    q = amplitude[:, None] * np.exp(-decay * t) * np.cos(2 * np.pi * t / period + phase[:, None])
    q = q + noise * amplitude[:, None] * rng.normal(size=q.shape)
    return observed.Observations(
        t=np.tile(t, trajectories),
        q=q.reshape(-1, 1),
        trajectory=np.repeat(np.arange(trajectories), t.size),
        coordinates=("theta",),
        angles=(True,),
    )


def test_a_recording_that_loses_energy_gets_dissipation():
    damped = observed.recipe(oscillation(rate=30, duration=20, trajectories=3, decay=0.1))
    undamped = observed.recipe(oscillation(rate=30, duration=20, trajectories=3))
    assert (damped.model, damped.fallback) == ("lnn+dissipation", "structured+dissipation")
    assert (undamped.model, undamped.fallback) == ("lnn", "structured")
    # Energy ∝ e^(−0.2 t): the last quarter's mean over the first's, e^(−0.2·15) ≈ 0.05.
    assert damped.measured.energy_change == pytest.approx(np.exp(-3.0) - 1, abs=0.05)
    assert abs(undamped.measured.energy_change) < 0.05
    assert damped.measured.losing == 1.0 and undamped.measured.losing == 0.0
    assert "loses energy" in damped.reasons[1] and "no consistent loss" in undamped.reasons[1]


def test_a_slow_loss_is_dissipation_and_a_chaotic_exchange_is_not():
    # Energy ∝ e^(−0.024 t): the last quarter of 20 s holds ≈ 70 % of the first's, as a lightly damped
    # real pendulum does over its first half.
    slow = observed.recipe(oscillation(rate=30, duration=20, trajectories=3, decay=0.012))
    assert slow.measured.energy_change == pytest.approx(np.exp(-0.36) - 1, abs=0.05)
    assert slow.model == "lnn+dissipation"
    # A chaotic double pendulum moves energy between its coordinates, but loses none.
    chaotic = observed.simulate(lnn.systems.get("double_pendulum"), jax.random.key(20), 6, duration=20.0, noise=0.01)
    assert observed.recipe(chaotic).model == "lnn"


def test_a_driven_recording_is_matched_without_weight_decay():
    free = oscillation(rate=30, duration=20, trajectories=3)
    driven = dataclasses.replace(free, force=0.1 * np.sin(free.t)[:, None])
    assert observed.recipe(free).train.weight_decay == 1.0
    chosen = observed.recipe(driven)
    assert chosen.train.weight_decay == 0.0
    assert "measured forces fix the scale of L" in chosen.reasons[-1]


def test_windows_span_the_same_time_at_100_hz_and_1_khz():
    slow, fast = (observed.recipe(oscillation(rate=rate, duration=20)) for rate in (100, 1000))
    for r in (slow, fast):
        assert r.measured.period == pytest.approx(2.0, rel=0.05)
        assert isinstance(r.method, TrajectoryMatching) and isinstance(r.method.initial, FreeStates)
        span = (r.method.window - 1) * r.method.every / r.measured.rate
        assert span == pytest.approx(1.0, rel=0.1)  # half a period
        # L-BFGS on two periods (four Adam windows); the validation share raised to hold one.
        assert r.method.longer_windows == (4 * r.method.window - 3,) and not r.method.initial.polish
        assert r.train.val_fraction == pytest.approx(1.05 * 4.0 / 20.0, rel=0.05)
    assert fast.method.every == pytest.approx(10 * slow.method.every, rel=0.1)
    assert fast.method.window == pytest.approx(slow.method.window, abs=2)  # the same cost per window


def test_a_short_recording_gets_windows_its_validation_part_holds():
    obs = oscillation(rate=30, duration=3)
    r = observed.recipe(obs)
    assert isinstance(r.method, TrajectoryMatching) and r.train.val_fraction > 0.1
    assert "validation" in " ".join(r.reasons)
    # The split the recipe's settings make holds a training and a validation window (else a DataError).
    train, val, _ = observed.training_sets(obs, r.method, r.train, jax.random.key(0))
    assert len(train) >= 1 and len(val) >= 1
    longer = observed.recipe(oscillation(rate=30, duration=60))
    assert longer.method.longer_windows[0] > max(r.method.longer_windows, default=r.method.window)
    assert longer.train.val_fraction == 0.1
    several = observed.recipe(oscillation(rate=30, duration=10, trajectories=4))
    assert several.train.val_fraction == 0.1 and several.measured.trajectories == 4


def test_a_clean_dense_recording_learns_from_derivatives_unless_told():
    obs = oscillation(rate=1000, duration=8, noise=0.0)
    r = observed.recipe(obs)
    assert isinstance(r.method, FromDerivatives) and r.measured.noise_floor < observed.CLEAN_FLOOR
    forced = observed.recipe(obs, method="matching")
    assert isinstance(forced.method, TrajectoryMatching) and "asked for" in forced.reasons[2]
    noisy = observed.recipe(oscillation(rate=1000, duration=8, noise=0.01))
    assert isinstance(noisy.method, TrajectoryMatching)
    record = json.loads(json.dumps(r.to_json()))
    assert record["learning"]["method"] == "FromDerivatives" and record["reasons"] == list(r.reasons)


def test_fallback_reason_names_an_indefinite_mass_matrix():
    # ∂²L/∂q̇² = q² − 1: indefinite for |q| < 1.
    indefinite = lnn.EulerLagrange(lambda q, v: 0.5 * (q[0] ** 2 - 1) * v[0] ** 2 - q[0] ** 2, 1)
    healthy = lnn.EulerLagrange(lambda q, v: 0.5 * (q[0] ** 2 + 1) * v[0] ** 2 - q[0] ** 2, 1)
    q = np.linspace(-2.0, 2.0, 40)[:, None]  # not ±1, where it is singular
    states = lnn.data.Dataset(q, np.ones((40, 1)), np.zeros((40, 1)), np.zeros(40, dtype=int), np.arange(40.0))
    reason = observed.fallback_reason(indefinite, states)
    assert reason is not None and f"(or singular) at {np.count_nonzero(np.abs(q) < 1)} of 40" in reason
    assert observed.fallback_reason(healthy, states) is None


def test_fit_recipe_falls_back_to_the_structured_model():
    obs = oscillation(rate=30, duration=6, trajectories=2)
    chosen = observed.recipe(obs, method="derivatives")
    chosen = chosen.__class__(
        "lnn", "structured", chosen.method, lnn.training.TrainConfig(steps=2, batch_size=32), chosen.measured, ()
    )
    # Without the kinetic prior a random network's ∂²L/∂q̇² has either sign: indefinite on some states.
    model, history, role, reason = observed.fit_recipe(
        obs, chosen, key=jax.random.key(0), progress=False, width=8, kinetic_prior=False
    )
    assert role == "structured" and isinstance(model, lnn.models.StructuredLagrangian)
    assert reason is not None and "indefinite" in reason and history[-1]["step"] == 2


def csv_of(obs, path):
    lines = ["time,theta"] + [f"{float(t)!r},{float(q)!r}" for t, q in zip(obs.t, obs.q[:, 0], strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_prints_and_records_the_recipe_and_flags_override_it(tmp_path):
    csv_path = csv_of(oscillation(rate=30, duration=12), tmp_path / "swing.csv")
    run = tmp_path / "run"
    args = ["train", "--data", str(csv_path), "--time", "time", "--coords", "theta", "--angles", "theta"]
    result = CliRunner().invoke(
        app,
        [*args, "--window", "5", "--steps", "2", "--warm-start", "2", "--lbfgs-steps", "0", "--width", "8"]
        + ["--out", str(run)],
        env={"COLUMNS": "200"},  # one reason a line
    )
    assert result.exit_code == 0, result.output
    assert "recipe: recording: 1 trajectory, 361 samples at 30 Hz" in result.output
    assert "recipe: model lnn:" in result.output and "recipe: method matching:" in result.output
    assert "overridden by the command line: lbfgs_steps, steps, warm_start, window" in result.output
    config = json.loads((run / "config.json").read_text())
    chosen = config["recipe"]
    assert chosen["model"] == "lnn" and chosen["measured"]["trajectories"] == 1 and len(chosen["reasons"]) >= 3
    # The flags given replace the recipe's choices; the others are the recipe's.
    assert config["learning"]["window"] == 5 and config["learning"]["every"] == chosen["learning"]["every"]
    assert config["learning"]["initial"] == {"method": "FreeStates", "longer_windows": [], "polish": True}  # no L-BFGS
    assert config["learning"]["warm_start"]["steps"] == 2
    assert config["train"]["steps"] == 2 and config["train"]["lbfgs_steps"] == 0
    assert config["train"]["weight_decay"] == chosen["train"]["weight_decay"] == 1.0
    assert config["overridden"] == ["lbfgs_steps", "steps", "warm_start", "window"]


def test_cli_help_groups_the_expert_flags():
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    expert = result.output[result.output.index("Expert: override the recipe") :]
    for flag in ("--method", "--window", "--every", "--weight-decay", "--lbfgs-steps", "--lr", "--warm-start"):
        assert flag in expert


def test_refining_only_on_longer_windows_needs_them():
    with pytest.raises(lnn.errors.ConfigurationError, match="give longer_windows"):
        FreeStates(polish=False)
    assert not FreeStates((61,), polish=False).polish
