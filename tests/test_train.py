"""Training: loss gradients, the NaN guard, checkpoints and resume, validation splits."""

import csv
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from lnn import data, io
from lnn.errors import DataError, TrainingDivergedError
from lnn.train import TrainConfig, acceleration_loss, fit, learning_rate


@pytest.fixture(scope="module")
def pendulum_data():
    system = lnn.systems.get("pendulum")
    return system, data.random_states(system, jax.random.key(1), 600)


def _small_lnn(dof=1, seed=0, **kw):
    return lnn.LagrangianNN(dof, key=jax.random.key(seed), width=8, depth=1, angles=(True,) * dof, **kw)


def _flat(params):
    leaves = jax.tree.leaves(params)
    return jnp.concatenate([x.ravel() for x in leaves])


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_loss_gradient_matches_finite_differences(kind):
    system = lnn.systems.get("double_pendulum")
    ds = data.random_states(system, jax.random.key(3), 5)
    model = lnn.LagrangianNN(2, key=jax.random.key(4), width=6, depth=2, angles=(True, True))
    q, qdot, qddot = data.as_arrays(ds)
    scale = jnp.asarray(data.acceleration_scale(ds))
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def loss(p):
        return acceleration_loss(eqx.combine(p, static), q, qdot, qddot, scale, kind)

    grads = jax.grad(loss)(params)
    rng = np.random.default_rng(0)
    for _ in range(3):
        direction = jax.tree.map(lambda x: jnp.asarray(rng.standard_normal(x.shape)), params)
        eps = 1e-6
        plus = jax.tree.map(lambda p, d: p + eps * d, params, direction)
        minus = jax.tree.map(lambda p, d: p - eps * d, params, direction)
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
    trained, history = fit(model, ds, key=jax.random.key(2), config=TrainConfig(steps=1500, eval_every=500),
                           progress=False)
    assert history[-1]["val_loss"] < 0.3 * history[0]["val_loss"]
    # The trained model's accelerations approach θ̈ = −(g/l) sin θ on fresh states.
    q, qdot = system.sample_states(jax.random.key(9), 200)
    err = jnp.mean(jnp.abs(lnn.accelerations(trained, q, qdot) - system.closed_form_accelerations(q, qdot)))
    assert err < 0.1 * jnp.mean(jnp.abs(system.closed_form_accelerations(q, qdot)))


class _Linear(eqx.Module):
    """q̈ = w ⊙ q, but NaN for states with q > 10: a model that fails on some batches."""

    w: jax.Array

    def acceleration(self, q, qdot):
        return jnp.where(q > 10.0, jnp.nan, self.w * q)


def test_non_finite_steps_are_skipped_and_counted():
    rng = np.random.default_rng(0)
    n = 400
    q = rng.uniform(-1, 1, (n, 1))
    q[:8] = 20.0  # 2 % of states poison any batch that draws them
    ds = data.Dataset(q, np.zeros_like(q), -3.0 * q, np.arange(n), np.zeros(n))
    cfg = TrainConfig(steps=300, batch_size=16, eval_every=100, learning_rate=3e-2, warmup_steps=10)
    val = ds.subset(np.arange(8, n))
    trained, history = fit(_Linear(jnp.zeros(1)), ds, key=jax.random.key(0), config=cfg, val_dataset=val,
                           progress=False)
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


def test_fit_rejects_bad_input(pendulum_data):
    _, ds = pendulum_data
    with pytest.raises(DataError, match="coordinates"):
        fit(lnn.LagrangianNN(2, key=jax.random.key(0), width=4, depth=1), ds, key=jax.random.key(0),
            config=TrainConfig(steps=10), progress=False)
    with pytest.raises(DataError, match="at least 2 states"):
        fit(_small_lnn(), ds.subset(np.arange(1)), key=jax.random.key(0), config=TrainConfig(steps=10),
            progress=False)
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="huber")
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=None, time_budget=None)


def test_weight_decay_shrinks_only_the_networks_weight_matrices():
    from lnn.train import _optimizer
    from lnn.trajectory_matching import FreeInitialStates

    model = FreeInitialStates(lnn.LagrangianNN(2, key=jax.random.key(0), width=8, depth=2),
                              jnp.ones((3, 2)), jnp.ones((3, 2)))
    params = eqx.filter(model, eqx.is_inexact_array)
    zero = jax.tree.map(jnp.zeros_like, params)
    for decay in (0.0, 0.5):
        opt = _optimizer(TrainConfig(weight_decay=decay))
        updates, _ = opt.update(zero, opt.init(params), params)
        for W, dW in zip(params.model.mlp.weights, updates.model.mlp.weights):
            np.testing.assert_allclose(dW, decay * W, rtol=1e-12)
        others = [updates.model.log_kinetic, updates.q0, updates.qdot0, *updates.model.mlp.biases]
        assert all(float(jnp.max(jnp.abs(u))) == 0.0 for u in others)
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(weight_decay=-1.0)


@dataclasses.dataclass(frozen=True)
class _LinearFit:
    """mean ρ(A p − b) over rows: a least-squares problem in the objective protocol."""

    kind: str = "l1"

    def loss(self, p, samples, constants):
        A, b = samples
        r = A @ p - b
        return jnp.mean(jnp.abs(r)) if self.kind == "l1" else jnp.mean(r**2)


def test_lbfgs_refinement_reaches_the_least_squares_minimum():
    from lnn.train import refine

    rng = np.random.default_rng(0)
    A, b = jnp.asarray(rng.normal(size=(40, 5))), jnp.asarray(rng.normal(size=40))
    exact = np.linalg.lstsq(np.asarray(A), np.asarray(b), rcond=None)[0]
    # An "l1" objective is refined on its squared form: the least-squares solution, not the L1 one.
    p, loss = refine(jnp.zeros(5), None, _LinearFit("l1"), ((A, b), ()), 40)
    np.testing.assert_allclose(p, exact, rtol=1e-8, atol=1e-10)
    assert loss == pytest.approx(float(np.mean((np.asarray(A) @ exact - np.asarray(b)) ** 2)), rel=1e-10)
    # Started at the minimum nothing lowers the loss: the start comes back unchanged.
    p2, _ = refine(jnp.asarray(exact), None, _LinearFit(), ((A, b), ()), 5)
    np.testing.assert_array_equal(p2, exact)
    with pytest.raises(ValueError, match="lbfgs_steps"):
        TrainConfig(lbfgs_steps=-1)


def test_fit_ends_with_the_lbfgs_polish_when_asked(pendulum_data):
    from lnn.train import AccelerationObjective

    _, ds = pendulum_data
    train, val = data.split(ds, 0.1, jax.random.key(3))
    runs = {}
    for n in (0, 30):
        model = lnn.LagrangianNN(1, key=jax.random.key(1), width=16, depth=1, angles=(True,), qdot_scale=3.0)
        runs[n] = fit(model, train, key=jax.random.key(2), val_dataset=val, progress=False,
                      config=TrainConfig(steps=100, warmup_steps=10, eval_every=50, lbfgs_steps=n))
    assert [h["step"] for h in runs[30][1]] == [50, 100, 130]
    objective = AccelerationObjective("l2")
    samples, _, constants = objective.prepare(train, val, jnp.float64)
    squared = {n: float(objective.loss(m, samples, constants)) for n, (m, _) in runs.items()}
    assert squared[30] < 0.5 * squared[0]
    assert runs[30][1][-1]["train_loss"] == pytest.approx(squared[30], rel=1e-6)
