"""Training: loss gradients, the schedule, the pure step and the loop, the NaN guard, checkpoints and resume,
callbacks, the L-BFGS polish, and the same numbers as before the loop was split into parts."""

import csv

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from helpers import OneParameterDynamics
from lnn import data, io
from lnn.errors import DataError, TrainingDivergedError
from lnn.training import TrainConfig, acceleration_loss, fit, learning_rate


@pytest.fixture(scope="module")
def pendulum_data():
    system = lnn.systems.get("pendulum")
    return system, data.random_states(system, jax.random.key(1), 600)


def _small_lnn(dof=1, seed=0, **kw):
    return lnn.LagrangianNN(dof, key=jax.random.key(seed), width=8, depth=1, angles=(True,) * dof, **kw)


def _flat(params):
    leaves = jax.tree.leaves(params)
    return jnp.concatenate([x.ravel() for x in leaves])


@pytest.mark.parametrize("loss_kind", ["l1", "l2"])
def test_loss_gradient_matches_finite_differences(loss_kind):
    system = lnn.systems.get("double_pendulum")
    ds = data.random_states(system, jax.random.key(3), 5)
    model = lnn.LagrangianNN(2, key=jax.random.key(4), width=6, depth=2, angles=(True, True))
    q, qdot, qddot = data.as_arrays(ds)
    scale = jnp.asarray(data.acceleration_scale(ds))
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def loss(p):
        return acceleration_loss(eqx.combine(p, static), q, qdot, qddot, scale, loss_kind)

    grads = jax.grad(loss)(params)
    rng = np.random.default_rng(0)
    for _ in range(3):
        direction = jax.tree.map(lambda x: jnp.asarray(rng.standard_normal(x.shape)), params)
        eps = 1e-6
        plus = jax.tree.map(lambda p, d, eps=eps: p + eps * d, params, direction)
        minus = jax.tree.map(lambda p, d, eps=eps: p - eps * d, params, direction)
        fd = (loss(plus) - loss(minus)) / (2 * eps)
        analytic = jnp.dot(_flat(grads), _flat(direction))
        assert abs(fd - analytic) <= 1e-6 * max(1.0, abs(analytic)), (fd, analytic)


def test_learning_rate_schedule_warms_up_then_decays_to_final():
    cfg = TrainConfig(steps=1000, warmup_steps=100, learning_rate=1e-2, final_lr=1e-5)
    lrs = np.array([float(learning_rate(s, 1000, cfg)) for s in range(0, 1001, 50)])
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(1e-2)  # step 100 is the peak
    assert np.all(np.diff(lrs[2:]) <= 1e-15)  # then monotone decay
    assert lrs[-1] == pytest.approx(1e-5)


def test_fit_reduces_loss_and_learns_the_pendulum(pendulum_data):
    system, ds = pendulum_data
    model = lnn.LagrangianNN(1, key=jax.random.key(0), width=32, depth=2, angles=(True,), qdot_scale=3.0)
    trained, history = fit(
        model, ds, key=jax.random.key(2), config=TrainConfig(steps=1500, eval_every=500), progress=False
    )
    assert history[-1]["val_loss"] < 0.3 * history[0]["val_loss"]
    # The trained model's accelerations approach θ̈ = −(g/l) sin θ on fresh states.
    q, qdot = system.sample_states(jax.random.key(9), 200)
    err = jnp.mean(jnp.abs(lnn.accelerations(trained, q, qdot) - system.closed_form_accelerations(q, qdot)))
    assert err < 0.1 * jnp.mean(jnp.abs(system.closed_form_accelerations(q, qdot)))


def _poisoned_law(w, q):
    return jnp.where(q > 10.0, jnp.nan, w * q)


def _poisoned_linear(w):
    """q̈ = w q, but NaN for states with q > 10: a model that fails on some batches."""
    return OneParameterDynamics(w, _poisoned_law)


def test_non_finite_steps_are_skipped_and_counted():
    rng = np.random.default_rng(0)
    n = 400
    q = rng.uniform(-1, 1, (n, 1))
    q[:8] = 20.0  # 2 % of states poison any batch that draws them
    ds = data.Dataset(q, np.zeros_like(q), -3.0 * q, np.arange(n), np.zeros(n))
    cfg = TrainConfig(steps=300, batch_size=16, eval_every=100, learning_rate=3e-2, warmup_steps=10)
    val = ds.subset(np.arange(8, n))
    trained, history = fit(
        _poisoned_linear(jnp.zeros(1)), ds, key=jax.random.key(0), config=cfg, val_dataset=val, progress=False
    )
    skipped = sum(h["skipped"] for h in history)
    assert 0 < skipped < 300
    assert np.isfinite(trained.w).all()
    assert float(trained.w[0]) == pytest.approx(-3.0, abs=0.3)


def test_divergence_stops_with_a_clear_message(pendulum_data):
    _, ds = pendulum_data
    # No kinetic term and all-zero weights: ∂²L/∂q̇² = 0, every solve is singular.
    model = _small_lnn(kinetic_prior=False)
    model = jax.tree.map(lambda x: jnp.zeros_like(x) if eqx.is_inexact_array(x) else x, model)
    cfg = TrainConfig(steps=500, max_bad_steps=20, chunk=25)
    with pytest.raises(TrainingDivergedError, match="consecutive steps"):
        fit(model, ds, key=jax.random.key(0), config=cfg, progress=False)


def test_checkpoints_metrics_and_resume_after_interruption(pendulum_data, tmp_path):
    _, ds = pendulum_data
    cfg = TrainConfig(steps=300, eval_every=100, chunk=50)
    key = jax.random.key(5)
    _, full = fit(_small_lnn(), ds, key=key, config=cfg, out=tmp_path / "a", progress=False)

    # Same run, "killed" after its first chunk (a time budget shorter than compilation) ...
    interrupted = TrainConfig(steps=300, eval_every=100, chunk=50, time_budget=1e-3)
    _, part = fit(_small_lnn(), ds, key=key, config=interrupted, out=tmp_path / "b", progress=False)
    assert part[-1]["step"] < 300
    # ... then rerun: it resumes from the checkpoint and ends where the uninterrupted run did.
    _, resumed = fit(_small_lnn(), ds, key=key, config=cfg, out=tmp_path / "b", progress=False)
    assert resumed[-1]["step"] == full[-1]["step"] == 300
    assert resumed[-1]["val_loss"] == pytest.approx(full[-1]["val_loss"], rel=1e-12)

    rows = list(csv.DictReader(open(tmp_path / "b" / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [h["step"] for h in resumed]
    best, meta = io.load_model(tmp_path / "b" / "checkpoints" / "best.eqx")
    assert meta["val_loss"] == pytest.approx(min(h["val_loss"] for h in resumed))


@pytest.mark.wrong_types
def test_fit_rejects_bad_input(pendulum_data):
    _, ds = pendulum_data
    with pytest.raises(DataError, match="coordinates"):
        fit(
            lnn.LagrangianNN(2, key=jax.random.key(0), width=4, depth=1),
            ds,
            key=jax.random.key(0),
            config=TrainConfig(steps=10),
            progress=False,
        )
    with pytest.raises(DataError, match="at least 2 states"):
        fit(_small_lnn(), ds.subset(np.arange(1)), key=jax.random.key(0), config=TrainConfig(steps=10), progress=False)
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="huber")
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=None, time_budget=None)


def test_weight_decay_shrinks_only_the_networks_weight_matrices():
    from lnn.observed import FreeInitialStates
    from lnn.training import optimizer

    model = FreeInitialStates(
        lnn.LagrangianNN(2, key=jax.random.key(0), width=8, depth=2), jnp.ones((3, 2)), jnp.ones((3, 2))
    )
    params = eqx.filter(model, eqx.is_inexact_array)
    zero = jax.tree.map(jnp.zeros_like, params)
    for decay in (0.0, 0.5):
        opt = optimizer(TrainConfig(weight_decay=decay))
        updates, _ = opt.update(zero, opt.init(params), params)
        for W, dW in zip(params.model.mlp.weights, updates.model.mlp.weights, strict=True):
            np.testing.assert_allclose(dW, decay * W, rtol=1e-12)
        others = [updates.model.log_kinetic, updates.q0, updates.qdot0, *updates.model.mlp.biases]
        assert all(float(jnp.max(jnp.abs(u))) == 0.0 for u in others)
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(weight_decay=-1.0)


class _LinearFit(lnn.training.AbstractObjective):
    """mean ρ(A p − b) over rows: a least-squares problem as an objective."""

    loss: str = eqx.field(static=True, default="l1")

    def prepare(self, model, train, val, dtype):
        raise NotImplementedError

    def __call__(self, p, samples, constants):
        A, b = samples
        r = A @ p - b
        return jnp.mean(jnp.abs(r)) if self.loss == "l1" else jnp.mean(r**2)

    def with_loss(self, loss):
        return _LinearFit(loss)


def test_lbfgs_refinement_reaches_the_least_squares_minimum():
    from lnn.training import refine

    rng = np.random.default_rng(0)
    A, b = jnp.asarray(rng.normal(size=(40, 5))), jnp.asarray(rng.normal(size=40))
    exact = np.linalg.lstsq(np.asarray(A), np.asarray(b), rcond=None)[0]
    # An "l1" objective is refined on its squared form: the least-squares solution, not the L1 one.
    p, loss, iterations = refine(jnp.zeros(5), None, _LinearFit("l1"), ((A, b), ()), 40)
    assert iterations == 40
    np.testing.assert_allclose(p, exact, rtol=1e-8, atol=1e-10)
    assert loss == pytest.approx(float(np.mean((np.asarray(A) @ exact - np.asarray(b)) ** 2)), rel=1e-10)
    # Started at the minimum nothing lowers the loss: the start comes back unchanged.
    p2, _, _ = refine(jnp.asarray(exact), None, _LinearFit(), ((A, b), ()), 5)
    np.testing.assert_array_equal(p2, exact)
    # A deadline that has passed starts no chunk: the start comes back, and no iteration is counted.
    p3, _, none = refine(jnp.zeros(5), None, _LinearFit(), ((A, b), ()), 40, chunk=10, deadline=0.0)
    np.testing.assert_array_equal(p3, np.zeros(5))
    assert none == 0
    with pytest.raises(ValueError, match="lbfgs_steps"):
        TrainConfig(lbfgs_steps=-1)


def test_lbfgs_compiles_its_iterations_once_however_many_chunks_it_runs():
    import jax.monitoring

    from lnn.training import refine

    compiled = []

    def listen(event, seconds, **kw):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(kw.get("fun_name"))

    rng = np.random.default_rng(1)
    A, b = jnp.asarray(rng.normal(size=(30, 4))), jnp.asarray(rng.normal(size=30))
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        _, _, iterations = refine(jnp.zeros(4), None, _LinearFit(), ((A, b), ()), 12, chunk=4)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    # Three chunks of the same length: one program (a weak-typed first state would compile a second).
    assert iterations == 12 and compiled.count("jit(run)") == 1


def test_fit_ends_with_the_lbfgs_polish_when_asked(pendulum_data):
    from lnn.training import AccelerationObjective

    _, ds = pendulum_data
    train, val = data.split(ds, 0.1, jax.random.key(3))
    runs = {}
    for n in (0, 30):
        model = lnn.LagrangianNN(1, key=jax.random.key(1), width=16, depth=1, angles=(True,), qdot_scale=3.0)
        runs[n] = fit(
            model,
            train,
            key=jax.random.key(2),
            val_dataset=val,
            progress=False,
            config=TrainConfig(steps=100, warmup_steps=10, eval_every=50, lbfgs_steps=n),
        )
    assert [h["step"] for h in runs[30][1]] == [50, 100, 130]
    objective = AccelerationObjective("l2")
    samples, _, constants = objective.prepare(runs[0][0], train, val, jnp.float64)
    squared = {n: float(objective(m, samples, constants)) for n, (m, _) in runs.items()}
    assert squared[30] < 0.5 * squared[0]
    assert runs[30][1][-1]["train_loss"] == pytest.approx(squared[30], rel=1e-6)


def test_a_time_budget_bounds_the_lbfgs_polish_too(pendulum_data):
    _, ds = pendulum_data
    model = lnn.LagrangianNN(1, key=jax.random.key(1), width=16, depth=1, angles=(True,), qdot_scale=3.0)
    # A budget shorter than compilation: Adam stops after its first chunk, and no L-BFGS chunk starts.
    config = TrainConfig(steps=100, warmup_steps=10, eval_every=50, chunk=10, lbfgs_steps=30, time_budget=1e-3)
    _, history = fit(model, ds, key=jax.random.key(2), progress=False, config=config)
    assert [h["step"] for h in history] == [10, 10]


# The loss histories of fixed-seed runs recorded with the training loop as it was before it was split into a
# pure step, a train state and a loop with callbacks (columns: step, train loss, validation loss, learning
# rate). The same seeds must give the same numbers.
RECORDED = {
    "lnn": [
        [100, 0.39293350297223, 0.01861592895039554, 0.0027247843671997004],
        [200, 0.009023293923407451, 0.005025676742745499, 0.0010563831900068134],
        [300, 0.0055135320198484924, 0.004626888686494733, 3.1183152605815565e-06],
    ],
    "baseline": [
        [100, 0.6399972320109352, 0.05830618409866434, 0.0027247843671997004],
        [200, 0.027981622424791873, 0.009729129614533547, 0.0010563831900068134],
        [300, 0.007738734690751512, 0.007096161102919308, 3.1183152605815565e-06],
    ],
    "hnn": [
        [100, 0.21890893974341427, 0.007919932824798585, 0.0027247843671997004],
        [200, 0.005341564745103042, 0.004222541969529363, 0.0010563831900068134],
        [300, 0.003948342950001865, 0.0036240507571006233, 3.1183152605815565e-06],
    ],
}


@pytest.mark.parametrize("role", sorted(RECORDED))
def test_a_fixed_seed_run_gives_the_recorded_history(role, pendulum_states):
    system = lnn.systems.get("pendulum")
    model = lnn.build_model(
        role, pendulum_states, jax.random.key(1), angles=system.angles, width=16, depth=2, dtype="float64"
    )
    _, history = fit(
        model,
        pendulum_states,
        key=jax.random.key(2),
        progress=False,
        config=TrainConfig(steps=300, eval_every=100, warmup_steps=50, batch_size=64),
    )
    got = np.array([[h["step"], h["train_loss"], h["val_loss"], h["learning_rate"]] for h in history])
    np.testing.assert_allclose(got, np.array(RECORDED[role]), rtol=1e-9)


@pytest.mark.parametrize("steps", [10, 60, 100])
def test_steps_are_exactly_the_steps_asked_for(steps, pendulum_data):
    _, ds = pendulum_data
    cfg = TrainConfig(steps=steps, eval_every=25, warmup_steps=5, chunk=50, final_lr=1e-6)
    _, history = fit(_small_lnn(), ds, key=jax.random.key(0), config=cfg, progress=False)
    assert history[-1]["step"] == steps
    # The schedule ends where it should: the last update used the final learning rate.
    assert history[-1]["learning_rate"] == pytest.approx(float(learning_rate(steps - 1, steps, cfg)), rel=1e-12)
    assert [h["step"] for h in history] == sorted({*range(25, steps, 25), steps})


def test_the_pure_step_applies_one_adam_update(pendulum_data):
    from lnn.training import AccelerationObjective, TrainState, optimizer, train_step

    _, ds = pendulum_data
    model = _small_lnn()
    cfg = TrainConfig(steps=10, batch_size=32, warmup_steps=0)
    objective = AccelerationObjective("l2")
    params, static = eqx.partition(model, eqx.is_inexact_array)
    samples, _, constants = objective.prepare(model, ds, ds, jnp.float64)
    opt = optimizer(cfg)
    state = TrainState(
        params, opt.init(params), jnp.zeros((), int), jnp.zeros((), int), jax.random.key_data(jax.random.key(0)), params
    )
    step = jax.jit(train_step(objective, opt, cfg, static))
    new, (loss, finite, lr) = step(state, (samples, constants), jnp.asarray(10), jax.random.key(1))
    assert bool(finite) and int(new.step) == 1 and float(lr) == pytest.approx(cfg.learning_rate)
    # Adam's first update is lr · g/(|g| + ε) (bias-corrected m̂ = g, v̂ = g², ε = 1e-8), on the same minibatch.
    idx = jax.random.randint(jax.random.key(1), (cfg.batch_size,), 0, samples[0].shape[0])
    grads = jax.grad(lambda p: objective(eqx.combine(p, static), tuple(a[idx] for a in samples), constants))(params)
    for p_new, p_old, g in zip(
        jax.tree.leaves(new.params), jax.tree.leaves(params), jax.tree.leaves(grads), strict=True
    ):
        np.testing.assert_allclose(p_old - p_new, cfg.learning_rate * g / (np.abs(g) + 1e-8), rtol=1e-9, atol=1e-15)
    assert float(loss) == pytest.approx(float(objective(model, tuple(a[idx] for a in samples), constants)))


def test_callbacks_see_every_chunk_and_evaluation(pendulum_data):
    from lnn.training import Callback

    _, ds = pendulum_data
    seen = []

    class Recorder(Callback):
        def start(self, state, record):
            seen.append(("start", record.step))
            return state, record

        def chunk_done(self, record, loss):
            seen.append(("chunk", record.step))

        def evaluated(self, state, record, improved):
            seen.append(("eval", record.history[-1]["step"]))

        def close(self):
            seen.append(("close", None))

    fit(
        _small_lnn(),
        ds,
        key=jax.random.key(0),
        config=TrainConfig(steps=100, eval_every=50, chunk=25),
        progress=False,
        callbacks=[Recorder()],
    )
    assert seen[0] == ("start", 0) and seen[-1] == ("close", None)
    assert [s for k, s in seen if k == "chunk"] == [25, 50, 75, 100]
    assert [s for k, s in seen if k == "eval"] == [50, 100]


def test_callbacks_are_closed_when_training_fails(pendulum_data):
    from lnn.training import Callback

    _, ds = pendulum_data
    closed = []

    class Closer(Callback):
        def close(self):
            closed.append(True)

    model = jax.tree.map(lambda x: jnp.zeros_like(x) if eqx.is_inexact_array(x) else x, _small_lnn(kinetic_prior=False))
    with pytest.raises(TrainingDivergedError):
        fit(
            model,
            ds,
            key=jax.random.key(0),
            config=TrainConfig(steps=500, max_bad_steps=20, chunk=25),
            progress=False,
            callbacks=[Closer()],
        )
    assert closed == [True]


def test_a_driven_dataset_needs_a_model_that_takes_forces(pendulum_data):
    _, ds = pendulum_data
    driven = data.Dataset(ds.q, ds.qdot, ds.qddot, ds.trajectory, ds.t, force=np.ones_like(ds.q))
    box = lnn.BlackBox(1, key=jax.random.key(0), width=8, depth=1)
    with pytest.raises(DataError, match="takes none"):
        fit(box, driven, key=jax.random.key(0), config=TrainConfig(steps=10), progress=False)
    forced_box = lnn.BlackBox(1, key=jax.random.key(0), width=8, depth=1, force_scale=1.0)
    fit(forced_box, driven, key=jax.random.key(0), config=TrainConfig(steps=10), progress=False)


def test_a_coordinate_that_never_accelerates_does_not_swamp_the_loss():
    # A charge in a uniform field B ẑ: z̈ ≡ 0. Each coordinate's error is divided by its own RMS,
    # floored at SCALE_FLOOR × the RMS over all coordinates (not 1e-12, which made z's error 10²⁴× x's).
    system = lnn.systems.get("magnetic_particle")
    states = lnn.random_states(system, jax.random.key(0), 500)
    assert np.all(states.qddot[:, 2] == 0)
    scale = data.loss_scale(states.qddot)
    overall = np.sqrt(np.mean(states.qddot**2))
    np.testing.assert_allclose(scale[:2], np.sqrt(np.mean(states.qddot[:, :2] ** 2, axis=0)), rtol=1e-9)
    np.testing.assert_allclose(scale[2], data.SCALE_FLOOR * overall, rtol=1e-9)
    # A model that gets z̈ slightly wrong (1e-3 of the typical acceleration) pays about (1e-3 / 1e-2)² for it.
    nudged = lnn.FunctionDynamics(lambda q, v: system.acceleration(q, v) + jnp.array([0.0, 0.0, 1e-3 * overall]), 3)
    loss = lnn.training.derivative_loss(nudged, states, loss="l2")
    assert 1e-3 < loss < 1e-1
