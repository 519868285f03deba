"""Your own system from its Lagrangian alone: data, an LNN trained on it, its energy protocol, its symmetries.

python examples/own_system.py
"""

import jax

jax.config.update("jax_enable_x64", True)  # physics in float64 (import lnn leaves this to you)
import lnn  # noqa: E402


def lagrangian(q, qdot, *, m, k):  # a mass on a spring in a plane: L = ½ m |q̇|² − ½ k |q|²
    return 0.5 * m * qdot @ qdot - 0.5 * k * q @ q


system = lnn.System(
    "planar_spring",
    ("x", "y"),
    lagrangian,
    parameters={"m": 1.0, "k": 4.0},
    q_low=(-1.0, -1.0),
    q_high=(1.0, 1.0),
    cartesian_pairs=[(0, 1)],
)
data = lnn.random_states(system, jax.random.key(0), 2_000)
model = lnn.LagrangianNN(2, key=jax.random.key(1), width=32, qdot_scale=2.0)
model, history = lnn.fit(model, data, key=jax.random.key(2), config=lnn.TrainConfig(steps=1_000), progress=False)
evaluation = lnn.evaluate(model, system, key=jax.random.key(3), protocol=lnn.Protocol(n_initial=3, t_end=5.0))
found, _ = lnn.find_symmetries(model, system, jax.random.key(4), n_states=300, n_rollouts=1, t_end=1.0)
print(f"energy error {evaluation.metrics['energy_error']:.2%}; symmetries: {[s.label for s in found.symmetries]}")
