"""Measured motion: loaders, bad input named by line/column, derivative estimates, trajectory matching."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal

import lnn
from lnn import observed
from lnn.errors import DataError, FileFormatError
from lnn.training import TrainConfig, fit

SL_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "schmidt-lipson"


def write_csv(path, text):
    path.write_text(text)
    return path


# -- loaders -------------------------------------------------------------------------------


def test_table_loader_reads_named_columns_in_any_order(tmp_path):
    path = write_csv(
        tmp_path / "m.csv",
        "# two runs of a pendulum\nrun,omega,t,theta\n0,0.5,0.0,0.1\n0,0.4,0.1,0.15\n"
        "\n1,-1.0,0.0,2.0\n1,-1.1,0.2,1.8\n",
    )
    obs = observed.load_table(
        path, time="t", coordinates="theta", velocities=["omega"], trajectory="run", angles="theta"
    )
    assert obs.dof == 1 and len(obs) == 4 and obs.angles == (True,) and obs.coordinates == ("theta",)
    np.testing.assert_array_equal(obs.t, [0.0, 0.1, 0.0, 0.2])
    np.testing.assert_array_equal(obs.q[:, 0], [0.1, 0.15, 2.0, 1.8])
    np.testing.assert_array_equal(obs.qdot[:, 0], [0.5, 0.4, -1.0, -1.1])
    np.testing.assert_array_equal(obs.trajectory, [0, 0, 1, 1])
    np.testing.assert_array_equal(obs.rows, [3, 4, 6, 7])  # file line numbers (comment, header and blank counted)
    assert obs.qddot is None


def test_npz_loader_matches_the_csv_loader(tmp_path):
    t = np.linspace(0, 1, 7)
    np.savez(tmp_path / "m.npz", time=t, x1=np.sin(t), x2=np.cos(t))
    obs = observed.load_table(tmp_path / "m.npz", time="time", coordinates="x1,x2")
    np.testing.assert_array_equal(obs.q, np.stack([np.sin(t), np.cos(t)], axis=1))
    assert obs.metadata["row_kind"] == "index"


@pytest.mark.parametrize(
    "name",
    [
        "pendulum_h_1.txt",
        "double_pend_h_1.txt",
        "real_pend_h_1.txt",
        "real_pend_a_1.txt",
        "real_double_pend_h_1.txt",
        "real_linear_h_1.txt",
        "real_double_linear_h_1.txt",
    ],
)
def test_schmidt_lipson_files_load_with_their_structure(name):
    path = SL_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (Schmidt & Lipson, Science 2009, supplementary material)")
    obs = observed.load_schmidt_lipson(path)
    text = [line for line in path.read_text().splitlines() if line.strip()]
    assert len(obs) == len(text) - 1  # every data line, none dropped
    assert obs.qdot is not None and obs.qdot.shape == obs.q.shape
    expected_dof = {"pendulum": 1, "real_pend": 1, "real_linear": 1}.get(name.rsplit("_", 2)[0], 2)
    assert obs.dof == expected_dof
    assert all(obs.angles) == ("pend" in name)
    # Velocities are the time derivative of the coordinates: compare with central differences where sampling is dense.
    for _, idx in obs.segments():
        t, q, v = obs.t[idx], obs.q[idx], obs.qdot[idx]
        dt = t[2:] - t[:-2]
        dense = dt < 2.5 * np.median(dt)
        fd = ((q[2:] - q[:-2]) / dt[:, None])[dense]
        corr = np.corrcoef(fd.ravel(), v[1:-1][dense].ravel())[0, 1]
        assert corr > 0.9, corr


def test_simulated_schmidt_lipson_pendulum_obeys_its_equation_of_motion():
    path = SL_DIR / "pendulum_h_1.txt"
    if not path.is_file():
        pytest.skip(f"{path} is absent (Schmidt & Lipson, Science 2009, supplementary material)")
    obs = observed.load_schmidt_lipson(path)
    # The file's dv/dt column is θ̈ = −(g/l) sin θ with g/l = 9.8.
    np.testing.assert_allclose(obs.qddot[:, 0], -9.8 * np.sin(obs.q[:, 0]), atol=1e-6)


def test_schmidt_lipson_loader_says_where_to_get_the_data(tmp_path):
    with pytest.raises(FileFormatError, match="Schmidt & Lipson, Science 2009"):
        observed.load_schmidt_lipson(tmp_path / "real_pend_h_1.txt")


# -- bad measured input, named by line or column ------------------------------------------


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("t,x\n0,1\n0.1,nan\n0.2,3\n", {}, r"NaN or inf in column 'x' at line 3 of bad.csv"),
        (
            "t,x\n0,1\n0.2,2\n0.1,3\n",
            {},
            r"time goes backwards in trajectory 0: t = 0.1 at line 4 of bad.csv after "
            r"t = 0.2 at line 3",
        ),
        (
            "t,x\n0,1\n0.1,2\n0.1,3\n",
            {},
            r"time repeats in trajectory 0: t = 0.1 at line 4 of bad.csv after t = 0.1 "
            r"at line 3",
        ),
        ("t,x\n0,1\n0.1,2,5\n", {}, r"line 3 of bad.csv has 3 field\(s\) but the header \(line 1\) names 2 columns"),
        ("t,x\n0,1\n0.1,abc\n", {}, r"line 3 of bad.csv, column 'x': 'abc' is not a number"),
        ("t,x\n0,1\n", {"coordinates": "x,y"}, r"column\(s\) 'y' not in bad.csv; its columns are t, x"),
        ("t,x,v,w\n0,1,2,3\n", {"velocities": "v,w"}, r"1 coordinate column\(s\) \(x\) but 2 velocity column\(s\)"),
        ("t,x\n0,1\n", {"angles": "phi"}, r"angle column\(s\) phi are not among the coordinates"),
        ("run,t,x\n0,0,1\n0.5,0.1,2\n", {"trajectory": "run"}, r"trajectory column 'run' holds 0.5 at line 3"),
    ],
)
def test_bad_table_input_names_the_row_or_column(tmp_path, text, kwargs, message):
    path = write_csv(tmp_path / "bad.csv", text)
    args = {"time": "t", "coordinates": "x", **kwargs}
    with pytest.raises(DataError, match=message):
        observed.load_table(path, **args)


def test_a_trajectory_too_short_for_the_window_is_named_with_its_lines(tmp_path):
    rows = "".join(f"0,{0.1 * i},{np.sin(0.1 * i)}\n" for i in range(20)) + "1,0,0\n1,0.1,0.1\n1,0.2,0.2\n"
    obs = observed.load_table(
        write_csv(tmp_path / "m.csv", "run,t,x\n" + rows), time="t", coordinates="x", trajectory="run"
    )
    with pytest.raises(DataError, match=r"trajectory 1 \(line 22 of m.csv to line 24 of m.csv\) has 3 sample"):
        observed.estimate(obs, observed.SavitzkyGolay(7, 3))
    with pytest.raises(DataError, match=r"trajectory 1 .* has 3 sample\(s\) but a trajectory-matching window"):
        observed.windows(obs, length=4, initial=observed.estimate(obs, observed.SavitzkyGolay(3, 2)))


def test_bad_rows_in_schmidt_lipson_files_are_named(tmp_path):
    good = "% o v\n0 0.0 0.1 0.2\n0 0.1 0.12 0.21\n"
    for extra, message in [
        ("0 0.2 nan 0.3\n", r"NaN or inf in column 'o' at line 4"),
        ("0 0.2 0.3\n", r"line 4 of sl.txt has 3 columns; expected 4"),
        ("0 0.05 0.3 0.1\n", r"time goes backwards .* line 4 of sl.txt"),
    ]:
        with pytest.raises(DataError, match=message):
            observed.load_schmidt_lipson(write_csv(tmp_path / "sl.txt", good + extra))


# -- derivative estimation -----------------------------------------------------------------


def test_savgol_on_even_stamps_is_scipys_filter():
    t = np.arange(40) * 0.05
    y = np.random.default_rng(0).normal(size=(40, 2))
    est = observed.local_polynomial(t, y, 9, 3)
    for d in range(3):
        ref = scipy.signal.savgol_filter(y, 9, 3, deriv=d, delta=0.05, axis=0, mode="interp")
        np.testing.assert_allclose(est[d], ref, atol=1e-10)


def test_savgol_is_exact_for_polynomials_on_uneven_stamps():
    t = np.sort(np.random.default_rng(1).uniform(0, 2, 30))
    y = (1 - 2 * t + 0.5 * t**2 + 0.3 * t**3)[:, None]
    est = observed.local_polynomial(t, y, 7, 3)
    np.testing.assert_allclose(est[1, :, 0], -2 + t + 0.9 * t**2, atol=1e-9)
    np.testing.assert_allclose(est[2, :, 0], 1 + 1.8 * t, atol=1e-8)


@pytest.mark.parametrize(
    "smoother, tol",
    [
        (observed.KnotSpline(), (0.01, 0.04, 0.3)),
        (observed.SmoothingSpline(), (0.01, 0.04, 0.3)),
        (observed.SavitzkyGolay(31, 4), (0.01, 0.06, 0.6)),
    ],
    ids=["knots", "spline", "savgol"],
)
def test_derivatives_of_a_noisy_irregularly_sampled_sine(smoother, tol):
    rng = np.random.default_rng(2)
    t = np.cumsum(rng.uniform(0.02, 0.06, 400))  # uneven stamps, 10-30 ms apart … 60 ms
    q = np.sin(t) + 0.005 * rng.normal(size=t.size)  # 0.5 % of the amplitude
    obs = observed.Observations(t=t, q=q[:, None], trajectory=np.zeros(t.size))
    est = observed.estimate(obs, smoother)
    inner = slice(20, -20)  # the ends of any smoother are worse; the middle is what is claimed
    for got, want, bound in zip((est.q, est.qdot, est.qddot), (np.sin(t), np.cos(t), -np.sin(t)), tol, strict=True):
        assert np.sqrt(np.mean((got[inner, 0] - want[inner]) ** 2)) < bound


def test_angles_are_unwrapped_before_smoothing():
    t = np.linspace(0, 2, 81)
    theta = 3.0 * t  # a rotor: recorded wrapped to (−π, π]
    obs = observed.Observations(t=t, q=np.angle(np.exp(1j * theta))[:, None], trajectory=np.zeros(81), angles=(True,))
    est = observed.estimate(obs, observed.SavitzkyGolay(7, 3))
    np.testing.assert_allclose(est.qdot[:, 0], 3.0, atol=1e-8)


# -- trajectory matching -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pendulum_windows():
    system = lnn.systems.get("pendulum")
    obs = observed.simulate(
        system, jax.random.key(3), 4, duration=2.0, fps=20, noise=0.0, jitter=0.5, max_energy=0.6 * system.energy_scale
    )
    return system, obs, observed.windows(obs, length=5, every=1, stride=3)


def test_true_dynamics_match_noise_free_windows(pendulum_windows):
    system, _, w = pendulum_windows
    obj = observed.TrajectoryObjective.for_windows(w, dt=0.01)
    true = lnn.FunctionDynamics(lambda q, v: -9.8 * jnp.sin(q), 1)
    samples, _, constants = obj.prepare(true, w, w, jnp.float64)
    loss = jax.jit(lambda g: obj(lnn.FunctionDynamics(lambda q, v: -g * jnp.sin(q), 1), samples, constants))
    assert float(loss(9.8)) < 2e-3  # only the initial-state estimate's error
    assert float(loss(12.0)) > 3 * float(loss(9.8))


def test_observed_rollout_error_is_small_for_the_true_system_only(pendulum_windows):
    system, obs, _ = pendulum_windows
    truth = observed.observed_rollout_error(system, obs, horizons=(0.5, 1.0))
    wrong = observed.observed_rollout_error(system.with_parameters(g=11.0), obs, horizons=(0.5, 1.0))
    assert truth["rollout_error"]["1"] < 1e-2  # the smoothed initial state's error only (no noise here)
    assert wrong["rollout_error"]["1"] > 5 * truth["rollout_error"]["1"]
    assert truth["valid_time"] == pytest.approx(1.0, abs=0.05) and wrong["valid_time"] <= truth["valid_time"]
    with pytest.raises(DataError, match="shorter than every horizon"):
        observed.observed_rollout_error(system, obs, horizons=(60.0,))


def test_matching_loss_gradient_matches_finite_differences(pendulum_windows):
    system, obs, w = pendulum_windows
    model = lnn.LagrangianNN(1, key=jax.random.key(4), width=8, depth=1, angles=(True,), qdot_scale=3.0)
    obj = observed.TrajectoryObjective.for_windows(w, dt=0.05, loss="l2")
    samples, _, constants = obj.prepare(model, w, w, jnp.float64)
    samples = tuple(a[:6] for a in samples)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    loss = jax.jit(lambda p: obj(eqx.combine(p, static), samples, constants))
    grad = jax.grad(loss)(params)
    direction = jax.tree.map(lambda a: jnp.asarray(np.random.default_rng(5).normal(size=a.shape)), params)
    h = 1e-5
    shifted = lambda s: jax.tree.map(lambda p, d: p + s * h * d, params, direction)
    fd = (loss(shifted(1)) - loss(shifted(-1))) / (2 * h)
    analytic = sum(jnp.sum(g * d) for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(direction), strict=True))
    np.testing.assert_allclose(float(analytic), float(fd), rtol=1e-6)


def test_a_short_matching_run_with_free_initial_states_reduces_the_error(pendulum_windows):
    system, obs, w = pendulum_windows
    model = lnn.LagrangianNN(1, key=jax.random.key(6), width=16, depth=1, angles=(True,), qdot_scale=3.0)
    train, val = w.subset(w.trajectory != 3), w.subset(w.trajectory == 3)
    obj = observed.TrajectoryObjective.for_windows(train, val, dt=0.05)
    start = observed.FreeInitialStates.start(model, train)
    loss = eqx.filter_jit(obj)
    samples, val_samples, constants = obj.prepare(model, train, val, jnp.float64)
    # Started at the estimates, the free states give exactly the estimated-state loss.
    np.testing.assert_allclose(
        float(loss(start, samples, constants)), float(loss(model, samples, constants)), rtol=1e-12
    )
    before = float(loss(model, val_samples, constants))
    trained, history = fit(
        start,
        train,
        key=jax.random.key(7),
        val_dataset=val,
        objective=obj,
        progress=False,
        config=TrainConfig(steps=100, batch_size=32, warmup_steps=10, eval_every=100, chunk=50),
    )
    assert isinstance(trained, lnn.LagrangianNN)  # the free states are left out of the result
    assert history[-1]["val_loss"] < 0.5 * before
    # And the prediction error on the measured motion falls with it.
    err = lambda m: observed.observed_rollout_error(m, obs, horizons=(1.0,))["rollout_error"]["1"]
    assert err(trained) < 0.5 * err(model)


def test_longer_windows_start_from_the_trained_states_at_the_same_samples(pendulum_windows):
    _, obs, _ = pendulum_windows
    short = observed.windows(obs, length=4, every=1, stride=3)
    longer = observed.windows(obs, length=7, every=1, stride=6)
    model = lnn.LagrangianNN(1, key=jax.random.key(4), width=8, depth=1, angles=(True,))
    states = observed.FreeInitialStates(
        model, jnp.arange(len(short), dtype=float)[:, None], -jnp.arange(len(short), dtype=float)[:, None]
    )
    carried = states.carried_to(short, longer)
    for i in range(len(longer)):  # state i of the longer windows is the short window's that starts at its sample
        j = int(carried.q0[i, 0])
        assert short.first[j] == longer.first[i] and short.trajectory[j] == longer.trajectory[i]
        assert float(carried.qdot0[i, 0]) == -j and np.allclose(short.q[j, 0], longer.q[i, 0])
    assert carried.model is model and len(carried.q0) == len(longer)
    with pytest.raises(DataError, match="start where a trained window starts"):
        states.carried_to(short, observed.windows(obs, length=6, every=1, stride=5))


def test_relinking_frees_trapped_states_with_the_neighbours_continuation():
    system = lnn.systems.get("pendulum")
    obs = observed.simulate(
        system,
        jax.random.key(3),
        2,
        duration=2.0,
        fps=20,
        jitter=0.5,
        velocities=True,
        max_energy=0.6 * system.energy_scale,
    )
    # Cut as for free states: each window ends where the next starts.
    w = observed.windows(obs, length=5, every=1, stride=4)
    assert np.all(w.last == w.first + 4) and np.all(obs.trajectory[w.last] == w.trajectory)
    true_q, true_v = obs.q[w.first], obs.qdot[w.first]
    # Useless estimates, so that only a neighbour's continuation can free a trapped window.
    w = dataclasses.replace(w, q0=np.zeros_like(w.q0), qdot0=np.zeros_like(w.qdot0))
    motion = lambda t: np.flatnonzero(w.trajectory == t)
    first, middle, last = motion(0)[0], motion(0)[4], motion(1)[-1]
    trapped = [first, middle, last]
    v0 = true_v.copy()
    v0[trapped] = -v0[trapped] - 2.0  # swinging the wrong way, too fast
    pendulum = lnn.FunctionDynamics(lambda q, v: -9.8 * jnp.sin(q), 1)  # the true dynamics
    states = observed.FreeInitialStates(pendulum, jnp.asarray(true_q), jnp.asarray(v0))
    objective = observed.TrajectoryObjective.for_windows(w, dt=0.01, loss="l2")
    relinked, choice = states.relinked(w, objective)
    # No previous window for the motion's first: the next one's state carried back; for its last, the previous's.
    assert choice[first] == 3 and choice[last] == 2 and choice[middle] in (2, 3)
    np.testing.assert_allclose(np.asarray(relinked.qdot0), true_v, atol=1e-6)
    wrap = lambda d: np.mod(d + np.pi, 2 * np.pi) - np.pi
    np.testing.assert_allclose(wrap(np.asarray(relinked.q0) - true_q), 0, atol=1e-6)
    samples, _, constants = objective.prepare(pendulum, w, w, jnp.float64)
    per_window = lambda s: np.asarray(
        observed.window_losses(
            pendulum,
            samples[0],
            samples[1],
            s.q0,
            s.qdot0,
            *constants,
            angles=w.angles,
            substeps=objective.substeps,
            loss="l2",
        )
    )
    before, after = per_window(states), per_window(relinked)
    assert np.all(after <= before) and np.all(after[trapped] < 1e-10 * before[trapped])


def test_learning_settings_are_checked_before_training():
    from lnn.errors import ConfigurationError
    from lnn.observed import FreeStates, TrajectoryMatching, WarmStart, fit_observations

    with pytest.raises(ConfigurationError, match="multiple"):
        TrajectoryMatching(window=11, initial=FreeStates((25,)))
    with pytest.raises(ConfigurationError, match="multiple"):
        TrajectoryMatching(window=11, initial=FreeStates((21, 11)))
    with pytest.raises(ConfigurationError, match="number of steps"):
        WarmStart(0)
    with pytest.raises(ConfigurationError, match="at least 2 samples"):
        TrajectoryMatching(window=1)
    # Longer windows exist only for free states, a warm start only for matching: the types say so.
    assert TrajectoryMatching(window=11, initial=FreeStates((21,))).longer_windows == (21,)
    assert TrajectoryMatching().longer_windows == ()
    system = lnn.systems.get("pendulum")
    obs = observed.simulate(system, jax.random.key(0), 2, duration=1.0, fps=20)
    with pytest.raises(ConfigurationError, match="lbfgs_steps"):
        fit_observations(
            "lnn",
            obs,
            key=jax.random.key(0),
            progress=False,
            train_config=TrainConfig(steps=5),
            method=TrajectoryMatching(window=4, initial=FreeStates((7,))),
        )


@pytest.mark.slow  # compiles several matching stages: minutes on 2 cores; `pytest -m slow`
def test_matching_with_longer_windows_returns_the_model_and_one_row_per_stage(pendulum_windows, tmp_path):
    from lnn.observed import FreeStates, TrajectoryMatching, fit_observations

    _, obs, _ = pendulum_windows
    method = TrajectoryMatching(window=4, every=1, initial=FreeStates((7, 13)))
    model, history = fit_observations(
        "lnn",
        obs,
        key=jax.random.key(0),
        method=method,
        width=8,
        progress=False,
        out=tmp_path,
        train_config=TrainConfig(steps=50, lbfgs_steps=10, warmup_steps=5, eval_every=25, batch_size=16),
    )
    assert isinstance(model, lnn.LagrangianNN)
    assert [h["step"] for h in history] == [25, 50, 60, 70, 80]  # Adam (evaluated every 25), its polish, 2 stages
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val_loss"]) for h in history)
    assert all(a["time"] < b["time"] for a, b in zip(history, history[1:], strict=False))
    assert [h.get("relinked") is not None for h in history] == [False, False, True, True, True]  # the L-BFGS stages
    csv_lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(history) and csv_lines[0].endswith(",relinked")


@pytest.mark.slow  # compiles several matching stages: minutes on 2 cores; `pytest -m slow`
def test_a_time_budget_bounds_the_warm_start_and_every_matching_stage(pendulum_windows):
    from lnn.observed import FreeStates, TrajectoryMatching, WarmStart, fit_observations

    _, obs, _ = pendulum_windows
    method = TrajectoryMatching(window=4, every=1, initial=FreeStates((7,), polish=False), warm_start=WarmStart(10**6))
    config = TrainConfig(steps=10**6, lbfgs_steps=50, warmup_steps=5, eval_every=25, chunk=5, batch_size=16)
    # A budget shorter than compilation: each stage runs its first chunk at most, none its millions of steps.
    _, history = fit_observations(
        "lnn",
        obs,
        key=jax.random.key(0),
        method=method,
        width=8,
        progress=False,
        train_config=dataclasses.replace(config, time_budget=1e-3),
    )
    assert [h["step"] for h in history] == [5, 5]  # Adam's first chunk, then an L-BFGS stage that did not start


@pytest.mark.slow  # compiles several matching stages: minutes on 2 cores; `pytest -m slow`
def test_a_warm_start_on_the_derivative_estimate_begins_matching_near_the_motion(pendulum_windows):
    from lnn.observed import FreeStates, TrajectoryMatching, WarmStart, fit_observations

    _, obs, _ = pendulum_windows
    tc = TrainConfig(steps=1, eval_every=1, warmup_steps=1, learning_rate=1e-9, batch_size=16)
    first_loss = {}
    for steps in (0, 300):  # matching barely moves the model (1 step at 1e-9): its loss shows the start
        method = TrajectoryMatching(
            window=4, every=1, initial=FreeStates(), warm_start=WarmStart(steps) if steps else None
        )
        _, history = fit_observations(
            "lnn", obs, key=jax.random.key(0), method=method, width=16, progress=False, train_config=tc
        )
        first_loss[steps] = history[0]["val_loss"]
    assert first_loss[300] < 0.3 * first_loss[0]


def test_a_warm_start_with_weight_decay_leaves_smaller_weights(pendulum_windows):
    from lnn.observed import FreeStates, TrajectoryMatching, WarmStart, _learning

    _, obs, _ = pendulum_windows
    est = observed.estimate(obs)
    net = lnn.training.build_model("lnn", est, jax.random.key(1), angles=obs.angles, width=16)

    def weight_norm(decay):
        method = TrajectoryMatching(
            window=4, every=1, initial=FreeStates(), warm_start=WarmStart(300, weight_decay=decay)
        )
        warmed = _learning._warm_start(
            net,
            obs=obs,
            est=est,
            method=method,
            train_config=TrainConfig(),
            k_split=jax.random.key(2),
            key=jax.random.key(3),
            progress=False,
            label="warm",
        )
        leaves = jax.tree.leaves(eqx.filter(warmed, eqx.is_inexact_array))
        return float(sum(jnp.sum(x**2) for x in leaves if x.ndim == 2))

    assert weight_norm(1.0) < 0.9 * weight_norm(0.0)
    with pytest.raises(lnn.errors.ConfigurationError, match="weight decay is >= 0"):
        WarmStart(10, weight_decay=-1.0)


def test_the_noise_floor_is_the_noise_in_the_matching_loss_units():
    system = lnn.systems.get("pendulum")
    for noise in (0.01, 0.03):
        obs = observed.simulate(
            system, jax.random.key(1), 4, duration=5.0, fps=30, noise=noise, max_energy=0.7 * system.energy_scale
        )
        est = observed.estimate(obs)
        # Gaussian noise of σ·noise: E|r|/σ = √(2/π)·noise, E(r/σ)² = noise²; the smoother absorbs a little.
        assert 0.7 * np.sqrt(2 / np.pi) * noise < observed.noise_floor(obs, est, "l1") < np.sqrt(2 / np.pi) * noise
        assert 0.5 * noise**2 < observed.noise_floor(obs, est, "l2") < noise**2


@pytest.mark.slow  # compiles several matching stages: minutes on 2 cores; `pytest -m slow`
def test_a_stalled_matching_stage_is_trained_again_from_the_warm_start(pendulum_windows, monkeypatch, tmp_path):
    from lnn.observed import FreeStates, TrajectoryMatching, WarmStart, _learning, fit_observations

    _, obs, _ = pendulum_windows
    # 50 steps at a vanishing learning rate: the random network stays far above the noise floor (a stall).
    tc = TrainConfig(steps=50, eval_every=50, warmup_steps=1, learning_rate=1e-9, batch_size=16)
    method = TrajectoryMatching(window=4, every=1, initial=FreeStates(), warm_start=WarmStart(300, if_stalled=True))
    model, history = fit_observations(
        "lnn", obs, key=jax.random.key(0), method=method, width=16, progress=False, train_config=tc, out=tmp_path
    )
    assert history[-1]["warm_restart"] == 1 and isinstance(model, lnn.LagrangianNN)
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].endswith(",warm_restart")
    # The restart is what made the model: far better than the stalled run it replaced.
    err = lambda m: observed.observed_rollout_error(m, obs, horizons=(1.0,))["rollout_error"]["1"]
    monkeypatch.setattr(_learning, "STALL_FACTOR", 1e12)  # now nothing counts as stalled
    stalled, history = fit_observations(
        "lnn", obs, key=jax.random.key(0), method=method, width=16, progress=False, train_config=tc
    )
    assert "warm_restart" not in history[-1]
    assert err(model) < 0.3 * err(stalled)


def test_observations_hold_out_the_trajectories_a_dataset_split_does(pendulum_windows):
    # benchmarks/noise.py trains its exact-acceleration reference on the same motions through this.
    from lnn import data

    _, obs, _ = pendulum_windows
    ds = data.Dataset(obs.q, np.zeros_like(obs.q), np.zeros_like(obs.q), obs.trajectory, obs.t)
    for seed in range(3):
        key = jax.random.key(seed)
        train, val, _ = observed.training_sets(obs, observed.FromDerivatives(), TrainConfig(val_fraction=0.25), key)
        held_out = np.unique(data.split(ds, 0.25, key)[1].trajectory)
        assert np.array_equal(np.unique(val.trajectory), held_out) and held_out.size == 1
        assert not np.isin(train.trajectory, held_out).any()


# -- command line --------------------------------------------------------------------------


def test_cli_trains_on_a_csv_and_evaluates_held_out_data_as_json(tmp_path, pendulum_windows):
    from typer.testing import CliRunner

    from lnn.cli import app

    _, obs, _ = pendulum_windows
    lines = ["run,time,theta"] + [
        f"{int(r)},{float(t)!r},{float(q)!r}" for r, t, q in zip(obs.trajectory, obs.t, obs.q[:, 0], strict=True)
    ]
    csv_path = write_csv(tmp_path / "pend.csv", "\n".join(lines) + "\n")
    run = tmp_path / "run"
    cols = ["--time", "time", "--coords", "theta", "--angles", "theta", "--trajectory", "run"]
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(csv_path),
            *cols,
            "--method",
            "derivatives",
            "--steps",
            "60",
            "--width",
            "8",
            "--out",
            str(run),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (run / "model.eqx").is_file() and (run / "metrics.csv").is_file()
    result = runner.invoke(app, ["evaluate", str(run), "--data", str(csv_path), "--horizons", "0.5,1", "--json"])
    assert result.exit_code == 0, result.output
    metrics_ = json.loads(result.output.strip().splitlines()[-1])
    assert set(metrics_["rollout_error"]) == {"0.5", "1"} and metrics_["rollout_error"]["1"] > 0
    assert 0 < metrics_["valid_time"] <= 1.0 and metrics_["samples"] == len(obs)
    # The trivial predictors' figures beside the model's, same horizons; a table of them without --json.
    for baseline in ("hold", "constant_velocity"):
        assert set(metrics_["baselines"][baseline]["rollout_error"]) == {"0.5", "1"}
        assert 0 < metrics_["baselines"][baseline]["valid_time"] <= 1.0
    result = runner.invoke(app, ["evaluate", str(run), "--data", str(csv_path), "--horizons", "0.5,1"])
    assert result.exit_code == 0 and "hold (trivial)" in result.output and "constant velocity" in result.output


@pytest.mark.slow  # compiles several matching stages: minutes on 2 cores; `pytest -m slow`
def test_cli_passes_the_matching_recipe_through(tmp_path, pendulum_windows):
    from typer.testing import CliRunner

    from lnn.cli import app

    _, obs, _ = pendulum_windows
    lines = ["run,time,theta"] + [
        f"{int(r)},{float(t)!r},{float(q)!r}" for r, t, q in zip(obs.trajectory, obs.t, obs.q[:, 0], strict=True)
    ]
    csv_path = write_csv(tmp_path / "pend.csv", "\n".join(lines) + "\n")
    cols = [
        "--time",
        "time",
        "--coords",
        "theta",
        "--angles",
        "theta",
        "--trajectory",
        "run",
        "--steps",
        "50",
        "--width",
        "8",
    ]
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(csv_path),
            *cols,
            "--initial",
            "free",
            "--window",
            "4",
            "--every",
            "2",
            "--weight-decay",
            "0.5",
            "--lbfgs-steps",
            "5",
            "--longer-windows",
            "7",
            "--warm-start",
            "20",
            "--warm-start-if",
            "stalled",
            "--out",
            str(run),
        ],
    )
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    recipe = {
        "method": "TrajectoryMatching",
        "window": 4,
        "every": 2,
        "initial": {"method": "FreeStates", "longer_windows": [7]},
        "warm_start": {"method": "WarmStart", "steps": 20, "if_stalled": True},
    }
    assert config["learning"] | recipe == config["learning"]
    assert config["train"]["weight_decay"] == 0.5 and config["train"]["lbfgs_steps"] == 5
    assert [row.split(",")[0] for row in (run / "metrics.csv").read_text().splitlines()[1:]] == ["50", "55", "60"]
    assert "relinked before each L-BFGS stage" in result.output
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(csv_path),
            *cols,
            "--initial",
            "free",
            "--longer-windows",
            "7,1x",
            "--out",
            str(tmp_path / "bad"),
        ],
    )
    assert result.exit_code != 0 and "--longer-windows must be comma-separated whole numbers" in str(result.exception)
    result = CliRunner().invoke(app, ["evaluate", str(run), "--data", str(csv_path), "--horizons", "1,soon"])
    assert result.exit_code != 0 and "--horizons must be comma-separated seconds" in str(result.exception)
    result = CliRunner().invoke(
        app, ["train", "--data", str(csv_path), *cols, "--initial", "guessed", "--out", str(tmp_path / "bad")]
    )
    assert result.exit_code != 0 and "unknown --initial 'guessed'" in str(result.exception or result.output)


def test_cli_names_a_missing_column_in_one_line(tmp_path):
    csv_path = write_csv(tmp_path / "m.csv", "t,x\n0,1\n0.1,2\n")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lnn.cli import main; main()",
            "train",
            "--data",
            str(csv_path),
            "--time",
            "t",
            "--coords",
            "x,y",
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "column(s) 'y' not in m.csv" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "name, parameters, duration, fps",
    [("damped_pendulum", {"b": 0.05}, 20.0, 10.0), ("spring_chain", {"n": 2}, 12.0, 30.0)],
)
def test_fit_state_recovers_the_state_at_a_recordings_end_where_the_smoother_is_worst(name, parameters, duration, fps):
    # The smoother's velocity at the last sample is one-sided; the fit under the true model is not. Both
    # directions of integration are exercised: backwards from the end, forwards from the start.
    system = lnn.systems.get(name, **parameters)
    key = jax.random.key(3)
    kw = dict(duration=duration, fps=fps, jitter=0.3)
    obs = observed.simulate(system, key, 1, noise=0.01, **kw)
    clean = observed.simulate(system, key, 1, noise=0.0, velocities=True, **kw)
    est = observed.estimate(obs)
    sigma_q, sigma_v = obs.q.std(axis=0), clean.qdot.std(axis=0)
    for index, order in ((-1, slice(None, None, -1)), (0, slice(None))):
        near = np.flatnonzero(np.abs(obs.t - obs.t[index]) <= 4.0)[order]
        q, v = observed.fit_state(
            system, obs.t[near], obs.q[near], est.q[index], est.qdot[index], angles=system.angles, scale=sigma_q
        )
        fitted = np.max(np.abs(v - clean.qdot[index]) / sigma_v)
        smoothed = np.max(np.abs(est.qdot[index] - clean.qdot[index]) / sigma_v)
        assert fitted < 0.01 and fitted < smoothed / 3, (index, fitted, smoothed)
        assert np.max(np.abs(q - clean.q[index]) / sigma_q) < 0.01


def test_fit_state_never_ends_worse_than_its_guess_and_names_too_few_stamps():
    system = lnn.systems.get("spring")
    t = np.linspace(0.0, 2.0, 21)
    q = np.cos(2.0 * np.pi * t)[:, None]  # period 1 s; the unit spring's is 2π s
    q0, v0 = np.array([1.0]), np.array([0.0])
    qf, vf = observed.fit_state(system, t, q, q0, v0, angles=(False,))
    assert np.isfinite(qf).all() and np.isfinite(vf).all()
    path = lambda a, b: np.asarray(lnn.rollout(system, a, b, t)[0])[:, 0]
    assert np.sum((path(qf, vf) - q[:, 0]) ** 2) <= np.sum((path(q0, v0) - q[:, 0]) ** 2)
    with pytest.raises(DataError, match="at least two stamps"):
        observed.fit_state(system, t[:1], q[:1], q0, v0, angles=(False,))
