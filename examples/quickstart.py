"""Learn a pendulum's Lagrangian in about a minute, then check what the model learned.

python examples/quickstart.py
"""

import jax

jax.config.update("jax_enable_x64", True)  # physics in float64 (import lnn leaves this to you)
import jax.numpy as jnp  # noqa: E402

import lnn  # noqa: E402

system = lnn.systems.get("pendulum")  # L = ½ m l² θ̇² + m g l cos θ
train_set = lnn.random_states(system, jax.random.key(0), 20_000)  # states with their exact q̈

model = lnn.LagrangianNN(1, key=jax.random.key(1), angles=system.angles, qdot_scale=4.0, dtype="float32")
model, history = lnn.fit(model, train_set, key=jax.random.key(2), config=lnn.TrainConfig(steps=5_000))

# The model is a Lagrangian: everything in lnn.mechanics applies to it. States are batches, shape (..., n).
q, qdot = jnp.array([[1.0]]), jnp.array([[0.0]])
learned = float(lnn.accelerations(model, q, qdot)[0, 0])
true = float(system.closed_form_accelerations(q, qdot)[0, 0])  # the textbook −(g/l) sin θ
print(f"q̈ at θ = 1 rad, at rest: learned {learned:.4f}, true {true:.4f}")
print("mass matrix positive definite:", bool(lnn.mass_matrix_report(model, q, qdot).positive_definite[0]))

ev = lnn.evaluate(model, system, key=jax.random.key(3), protocol=lnn.Protocol(n_initial=10, t_end=20.0))
print({k: ev.metrics[k] for k in ("energy_error", "valid_time", "failed")})
