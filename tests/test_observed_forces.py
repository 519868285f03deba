"""Driven recordings (measured generalized forces as columns) and uneven, gappy time stamps."""

import dataclasses
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from lnn import observed
from lnn.errors import DataError, ModelTypeError
from lnn.integrate import RK4, rollout
from lnn.training import derivative_loss


def drive(key):
    return observed.SineDrive.random(key, 1, amplitude=2.0, frequencies=(1.3, 2.9))


@pytest.fixture(scope="module")
def driven():
    """A driven pendulum recorded at 30 frames/s with stamps jittered by ±20 % of dt; velocities exact."""
    system = lnn.systems.get("pendulum")
    obs = observed.simulate(
        system,
        jax.random.key(5),
        3,
        duration=4.0,
        fps=30,
        jitter=0.4,
        velocities=True,
        max_energy=0.5 * system.energy_scale,
        force=drive,
    )
    return system, obs


def write_table(path, obs):
    lines = ["run,time,theta,tau"] + [
        f"{int(r)},{float(t)!r},{float(q)!r},{float(f)!r}"
        for r, t, q, f in zip(obs.trajectory, obs.t, obs.q[:, 0], obs.force[:, 0], strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_driven_recording_records_its_drive_and_round_trips_through_a_table(driven, tmp_path):
    system, obs = driven
    keys = jax.random.split(jax.random.fold_in(jax.random.key(5), 3), 3)
    for i, (_, idx) in enumerate(obs.segments()):  # τ at the frames is each motion's own drive
        np.testing.assert_allclose(obs.force[idx], np.asarray(jax.vmap(drive(keys[i]))(obs.t[idx])), atol=1e-12)
    assert np.std(obs.force) > 1.0 and "forces given" in obs.summary()
    csv = observed.load_table(
        write_table(tmp_path / "d.csv", obs), time="time", coordinates="theta", trajectory="run", force_columns="tau"
    )
    np.savez(tmp_path / "d.npz", time=obs.t, theta=obs.q[:, 0], tau=obs.force[:, 0], run=obs.trajectory)
    npz = observed.load_table(
        tmp_path / "d.npz", time="time", coordinates=["theta"], trajectory="run", force_columns=["tau"]
    )
    for loaded in (csv, npz):
        np.testing.assert_array_equal(loaded.force, obs.force)
        np.testing.assert_array_equal(loaded.q, obs.q)
    # The estimate carries τ to the acceleration objective; every part of a split keeps its own.
    est = observed.estimate(csv)
    np.testing.assert_array_equal(est.force, obs.force)
    first, rest = csv.split_in_time(0.5)
    assert first.force.shape == (len(first), 1) and np.all(np.isin(rest.force, obs.force))


@pytest.mark.parametrize(
    ("kwargs", "text", "message"),
    [
        ({"force_columns": "tau,tau2"}, "t,x,tau\n0,1,0\n", "1 coordinate column(s) (x) but 2 force column(s)"),
        ({"force_columns": "torque"}, "t,x,tau\n0,1,0\n", "column(s) 'torque' not in f.csv"),
        (
            {"force_columns": "tau"},
            "t,x,tau\n0,1,0\n0.1,2,high\n",
            "line 3 of f.csv, column 'tau': 'high' is not a number",
        ),
        ({"force_columns": "tau"}, "t,x,tau\n0,1,0\n0.1,2,\n", "NaN or inf in column 'tau' at line 3 of f.csv"),
        ({"force_columns": "x"}, "t,x,tau\n0,1,0\n", "column(s) x named twice"),
    ],
)
def test_bad_force_columns_are_named(tmp_path, kwargs, text, message):
    (tmp_path / "f.csv").write_text(text)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        observed.load_table(tmp_path / "f.csv", time="t", coordinates="x", **kwargs)
    with pytest.raises(DataError, match=r"force has shape \(2, 2\) but q has \(2, 1\)"):
        observed.Observations(t=np.arange(2.0), q=np.zeros((2, 1)), trajectory=np.zeros(2), force=np.zeros((2, 2)))


def test_the_true_lagrangian_explains_a_driven_recording_only_with_its_forces(driven):
    system, obs = driven
    est = observed.estimate(obs)
    # The Euler–Lagrange residual of the true L on the estimate: ~0 with τ (the estimate's own error), not without.
    with_tau = derivative_loss(system, est)
    without = derivative_loss(system, dataclasses.replace(est, force=None))
    assert with_tau < 0.03 and without > 10 * with_tau
    # What FromDerivatives trains on is that estimate, τ included, split as the method splits it.
    cfg = lnn.TrainConfig(steps=1)
    train, val, _ = observed.training_sets(obs, observed.FromDerivatives(), cfg, jax.random.key(0))
    assert train.force is not None and val.force is not None and len(train) + len(val) == len(obs)
    assert derivative_loss(system, train) < 0.03


def test_shoot_under_interpolated_forces_is_a_rollout_under_the_same_forces(driven):
    system, obs = driven
    w = observed.windows(obs, length=4, every=2, initial=observed.estimate(obs))
    assert w.force.shape == (len(w), 7, 1) and w.force_times.shape == (len(w), 7)
    pick = np.arange(0, len(w), len(w) // 3)[:3]
    args = (jnp.asarray(w.q0[pick]), jnp.asarray(w.qdot0[pick]), jnp.asarray(w.tau[pick]), 40)
    pred = observed.shoot(system, *args, jnp.asarray(w.force[pick]), jnp.asarray(w.force_times[pick]))
    for row, i in enumerate(pick):
        # Every spanned sample's τ is used, not only the kept samples': integrate over all of them.
        q, _ = rollout(system, w.q0[i], w.qdot0[i], w.force_times[i], solver=RK4(dt=0.002), force=w.force[i])
        np.testing.assert_allclose(np.asarray(pred[row]), np.asarray(q[::2]), atol=2e-6)
    undriven = observed.shoot(system, *args)
    assert float(jnp.max(jnp.abs(undriven - pred))) > 1e-2


def test_matching_on_a_driven_recording_needs_the_forces_and_a_model_that_takes_them(driven):
    system, obs = driven
    w = observed.windows(obs, length=5, every=2, initial=observed.estimate(obs))
    objective = observed.TrajectoryObjective.for_windows(w, dt=0.01)
    true = lnn.FunctionDynamics(lambda q, v, f: -9.8 * jnp.sin(q) + f, 1, force_argument=True)
    loss = lambda windows, model: float(
        objective(model, *(lambda s: (s[0], s[2]))(objective.prepare(model, windows, windows, jnp.float64)))
    )
    driven_loss = loss(w, true)
    assert driven_loss < 5e-3  # the estimated initial states' error only (no noise)
    unforced = dataclasses.replace(w, force=None, force_times=None)
    assert loss(unforced, true) > 5 * driven_loss
    hnn = lnn.HamiltonianNN(1, key=jax.random.key(0), angles=(True,))
    with pytest.raises(DataError, match="takes none"):
        objective.prepare(hnn, w, w, jnp.float64)
    with pytest.raises(ModelTypeError, match="takes none"):
        observed.observed_rollout_error(hnn, obs, horizons=(0.5,))
    result = observed.observed_rollout_error(system, obs, horizons=(0.5, 1.0))
    unforced_result = observed.observed_rollout_error(system, dataclasses.replace(obs, force=None), horizons=(0.5, 1.0))
    assert result["rollout_error"]["1"] < 1e-2 < unforced_result["rollout_error"]["1"]


def test_relinking_under_forces_carries_states_forwards_and_backwards(driven):
    system, obs = driven
    # Cut as for free states (each window ends where the next starts); true states, then two spoiled.
    w = observed.windows(obs, length=4, every=1, stride=3)
    true_q, true_v = obs.q[w.first], obs.qdot[w.first]
    w = dataclasses.replace(w, q0=np.zeros_like(w.q0), qdot0=np.zeros_like(w.qdot0))
    v0 = true_v.copy()
    first = int(np.flatnonzero(w.trajectory == 0)[0])
    last = int(np.flatnonzero(w.trajectory == 0)[-1])
    v0[[first, last]] = -v0[[first, last]] - 2.0
    true = lnn.FunctionDynamics(lambda q, v, f: -9.8 * jnp.sin(q) + f, 1, force_argument=True)
    states = observed.FreeInitialStates(true, jnp.asarray(true_q), jnp.asarray(v0))
    relinked, choice = states.relinked(w, observed.TrajectoryObjective.for_windows(w, dt=0.005, loss="l2"))
    assert choice[first] == 3 and choice[last] == 2  # backwards from the next window, forwards from the previous
    # To the drive's interpolation error (τ linear between frames, the truth's τ a sum of sines).
    np.testing.assert_allclose(np.asarray(relinked.qdot0), true_v, atol=2e-3)


def test_jittered_stamps_with_dropped_samples_and_a_gap(driven):
    """±20 % jitter of dt, 5 % of the samples dropped at random, and 10 consecutive samples lost."""
    system, obs = driven
    keep = np.asarray(jax.random.uniform(jax.random.key(1), (len(obs),))) > 0.05
    keep[60:70] = False  # a gap of 10 samples in the first motion
    gappy = obs.subset(keep)
    steps = np.diff(gappy.t[gappy.trajectory == 0])
    assert steps.max() > 10 / 30 and steps.min() < 0.9 / 30
    est = observed.estimate(gappy)
    assert np.sqrt(np.mean((est.qdot - gappy.qdot) ** 2)) < 0.02 * np.std(gappy.qdot)
    result = observed.observed_rollout_error(system, gappy, horizons=(0.5, 1.0), initial=est)
    assert result["rollout_error"]["1"] < 1e-2
    w = observed.windows(gappy, length=5, every=2, initial=est)
    objective = observed.TrajectoryObjective.for_windows(w, dt=0.05)
    assert objective.substeps == int(np.ceil(np.max(np.diff(w.tau, axis=1)) / 0.05 - 1e-9)) > 1
    true = lnn.FunctionDynamics(lambda q, v, f: -9.8 * jnp.sin(q) + f, 1, force_argument=True)
    samples, _, constants = objective.prepare(true, w, w, jnp.float64)
    assert float(objective(true, samples, constants)) < 5e-3
    order = np.r_[1, 0, 2 : len(gappy)]
    with pytest.raises(DataError, match="time goes backwards in trajectory 0"):
        observed.Observations(t=gappy.t[order], q=gappy.q[order], trajectory=gappy.trajectory[order], force=gappy.force)


def run_main(args, capsys, monkeypatch):
    from lnn.cli import main

    monkeypatch.setattr(sys, "argv", ["lnn", *args])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_cli_trains_and_evaluates_with_force_columns(driven, tmp_path, capsys, monkeypatch):
    _, obs = driven
    csv = write_table(tmp_path / "driven.csv", obs)
    cols = ["--time", "time", "--coords", "theta", "--angles", "theta", "--trajectory", "run"]
    run = tmp_path / "run"
    train = lambda data: [
        "train",
        "--data",
        str(data),
        *cols,
        "--method",
        "derivatives",
        "--steps",
        "30",
        "--width",
        "8",
    ]
    code, out, err = run_main([*train(csv), "--force-columns", "tau", "--out", str(run)], capsys, monkeypatch)
    assert code == 0, err
    assert "forces given" in out
    record = json.loads((run / "config.json").read_text())
    assert record["observations"]["force_columns"] == "tau"
    # evaluate defaults to the run's force columns; '' evaluates without them.
    evaluate = ["evaluate", str(run), "--data", str(csv), "--horizons", "0.5", "--json"]
    code, out, err = run_main(evaluate, capsys, monkeypatch)
    assert code == 0, err
    with_forces = json.loads(out.strip().splitlines()[-1])
    code, out, err = run_main([*evaluate, "--force-columns", ""], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["rollout_error"] != with_forces["rollout_error"]
    text = tmp_path / "text.csv"
    text.write_text("run,time,theta,tau\n0,0,0.1,0\n0,0.05,0.2,strong\n")
    for data, extra, message in (
        (csv, "torque", "error: column(s) 'torque' not in driven.csv"),
        (csv, "tau,tau", "but 2 force column(s)"),
        (csv, "run", "column(s) run named twice"),
        (text, "tau", "line 3 of text.csv, column 'tau': 'strong' is not a number"),
    ):
        args = [*train(data), "--force-columns", extra, "--out", str(tmp_path / "bad")]
        code, out, err = run_main(args, capsys, monkeypatch)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run_main(["train", "--force-columns", "tau", "--out", str(tmp_path / "bad")], capsys, monkeypatch)
    assert code == 2 and "give it with --data FILE" in err
