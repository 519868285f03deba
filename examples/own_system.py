"""Your own system from its Lagrangian alone: data, an LNN trained on it, its energy protocol, its symmetries.

python examples/own_system.py
"""

import jax

import lnn

jax.config.update("jax_enable_x64", True)  # physics in float64: import lnn leaves this choice to you


def lagrangian(q, qdot):  # a unit mass on a spring in a plane: L = ½ |q̇|² − 2 |q|²
    return 0.5 * qdot @ qdot - 2.0 * q @ q


system = lnn.System("planar_spring", ("x", "y"), lagrangian, q_low=(-1, -1), q_high=(1, 1), cartesian_pairs=[(0, 1)])
data = lnn.random_states(system, jax.random.key(0), 2_000)
model = lnn.LagrangianNN(2, key=jax.random.key(1), width=32, qdot_scale=2.0)
model, history = lnn.fit(model, data, key=jax.random.key(2), config=lnn.TrainConfig(steps=1_000), progress=False)
evaluation = lnn.evaluate(model, system, key=jax.random.key(3), protocol=lnn.Protocol(n_initial=3, t_end=5.0))
found, _ = lnn.find_symmetries(model, system, jax.random.key(4), n_states=300, n_rollouts=1, t_end=1.0)
print(f"energy error {evaluation.metrics['energy_error']:.2%}; symmetries: {[s.label for s in found.symmetries]}")
