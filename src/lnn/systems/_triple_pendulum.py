r"""Triple pendulum: three point masses on massless rods in a chain, angles θ₁, θ₂, θ₃ from the vertical.

The Lagrangian is written from the Cartesian positions of the masses,

    x_k = Σ_{j≤k} l_j sin θ_j,   y_k = −Σ_{j≤k} l_j cos θ_j,
    L = Σ_k ½ m_k (ẋ_k² + ẏ_k²) − Σ_k m_k g y_k,

and the equations of motion independently in matrix form: with μ_ij = Σ_{k ≥ max(i,j)} m_k
(the mass hanging below both rods i and j),

    Σ_j μ_ij l_i l_j [cos(θ_i − θ_j) θ̈_j + sin(θ_i − θ_j) θ̇_j²] + μ_ii g l_i sin θ_i = 0.

``energy_scale`` = g Σ_i μ_ii l_i (all three rods pointing up), 58.8 at the defaults.
"""

import math

import jax.numpy as jnp

from lnn.systems._system import System


def _lengths_masses(p):
    return jnp.array([p["l1"], p["l2"], p["l3"]]), jnp.array([p["m1"], p["m2"], p["m3"]])


def _lagrangian(q, qdot, **p):
    lengths, masses = _lengths_masses(p)
    # Velocities of the masses: cumulative sums of each rod's tip velocity.
    vx = jnp.cumsum(lengths * jnp.cos(q) * qdot)
    vy = jnp.cumsum(lengths * jnp.sin(q) * qdot)
    y = -jnp.cumsum(lengths * jnp.cos(q))
    return jnp.sum(0.5 * masses * (vx**2 + vy**2)) - p["g"] * jnp.sum(masses * y)


def _below(masses):
    """μ_ij = Σ_{k ≥ max(i, j)} m_k."""
    tail = jnp.cumsum(masses[::-1])[::-1]
    idx = jnp.arange(3)
    return tail[jnp.maximum(idx[:, None], idx[None, :])]


def _closed_form(q, qdot, **p):
    lengths, masses = _lengths_masses(p)
    mu = _below(masses)
    diff = q[:, None] - q[None, :]
    ll = lengths[:, None] * lengths[None, :]
    M = mu * ll * jnp.cos(diff)
    rhs = -(mu * ll * jnp.sin(diff)) @ (qdot**2) - jnp.diag(mu) * p["g"] * lengths * jnp.sin(q)
    return jnp.linalg.solve(M, rhs)


def make(
    m1: float = 1.0, m2: float = 1.0, m3: float = 1.0, l1: float = 1.0, l2: float = 1.0, l3: float = 1.0, g: float = 9.8
) -> System:
    return System(
        name="triple_pendulum",
        coordinates=("theta1", "theta2", "theta3"),
        angles=(True, True, True),
        parameters={"m1": m1, "m2": m2, "m3": m3, "l1": l1, "l2": l2, "l3": l3, "g": g},
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(-math.pi,) * 3,
        q_high=(math.pi,) * 3,
        energy_scale=g * ((m1 + m2 + m3) * l1 + (m2 + m3) * l2 + m3 * l3),
        description="three point masses on rigid rods in a chain, chaotic (3 angles)",
        rebuild=make,
    )
