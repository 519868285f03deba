"""Learn a pendulum's Lagrangian in about a minute, then check what the model learned.

python examples/quickstart.py
"""

import jax
import jax.numpy as jnp

import lnn
from lnn import data, metrics
from lnn.train import TrainConfig, fit

system = lnn.systems.get("pendulum")
train_set = data.random_states(system, jax.random.key(0), 20_000)

model = lnn.LagrangianNN(1, key=jax.random.key(1), angles=system.angles, qdot_scale=4.0, dtype="float32")
model, history = fit(model, train_set, key=jax.random.key(2), config=TrainConfig(steps=8_000))

# The model is a Lagrangian: everything in lnn.mechanics applies to it.
q, qdot = jnp.array([[1.0]]), jnp.array([[0.0]])
print(
    "learned q̈ at θ = 1 rad, at rest:",
    lnn.accelerations(model, q, qdot)[0, 0],
    " true:",
    system.closed_form_accelerations(q, qdot)[0, 0],
)
print("mass matrix positive definite:", bool(lnn.mass_matrix_report(model, q, qdot).positive_definite[0]))

ev = metrics.evaluate(model, system, key=jax.random.key(3), protocol=metrics.Protocol(n_initial=10, t_end=20.0))
print({k: ev.metrics[k] for k in ("energy_error", "valid_time", "failed")})
