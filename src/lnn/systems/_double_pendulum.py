r"""Double pendulum (the LNN paper's): two point masses on massless rods, angles from the vertical.

L = ½(m₁+m₂) l₁² θ̇₁² + ½ m₂ l₂² θ̇₂² + m₂ l₁ l₂ θ̇₁ θ̇₂ cos(θ₁−θ₂)
    + (m₁+m₂) g l₁ cos θ₁ + m₂ g l₂ cos θ₂.

The paper's parameters are m₁ = m₂ = l₁ = l₂ = 1, g = 9.8, so the potential energy
spans [−29.4, 29.4] and energy errors are divided by 29.4.
"""

import math

import jax.numpy as jnp

from lnn.systems._system import System


def _lagrangian(q, qdot, **p):
    m1, m2, l1, l2, g = p["m1"], p["m2"], p["l1"], p["l2"], p["g"]
    t1, t2 = q
    w1, w2 = qdot
    kinetic = 0.5 * (m1 + m2) * l1**2 * w1**2 + 0.5 * m2 * l2**2 * w2**2 + m2 * l1 * l2 * w1 * w2 * jnp.cos(t1 - t2)
    potential = -(m1 + m2) * g * l1 * jnp.cos(t1) - m2 * g * l2 * jnp.cos(t2)
    return kinetic - potential


def _closed_form(q, qdot, **p):
    # The two Euler–Lagrange equations, each divided by its diagonal mass term:
    #   θ̈₁ + a₁ θ̈₂ = f₁,   a₂ θ̈₁ + θ̈₂ = f₂,   solved by Cramer's rule.
    m1, m2, l1, l2, g = p["m1"], p["m2"], p["l1"], p["l2"], p["g"]
    t1, t2 = q
    w1, w2 = qdot
    d = t1 - t2
    a1 = (l2 / l1) * (m2 / (m1 + m2)) * jnp.cos(d)
    a2 = (l1 / l2) * jnp.cos(d)
    f1 = -(l2 / l1) * (m2 / (m1 + m2)) * w2**2 * jnp.sin(d) - (g / l1) * jnp.sin(t1)
    f2 = (l1 / l2) * w1**2 * jnp.sin(d) - (g / l2) * jnp.sin(t2)
    det = 1.0 - a1 * a2
    return jnp.stack([(f1 - a1 * f2) / det, (f2 - a2 * f1) / det])


def _bodies(q, **p):
    first = jnp.stack([p["l1"] * jnp.sin(q[0]), -p["l1"] * jnp.cos(q[0])])
    return jnp.stack([first, first + jnp.stack([p["l2"] * jnp.sin(q[1]), -p["l2"] * jnp.cos(q[1])])])


def make(m1: float = 1.0, m2: float = 1.0, l1: float = 1.0, l2: float = 1.0, g: float = 9.8) -> System:
    return System(
        name="double_pendulum",
        coordinates=("theta1", "theta2"),
        angles=(True, True),
        parameters={"m1": m1, "m2": m2, "l1": l1, "l2": l2, "g": g},
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(-math.pi, -math.pi),
        q_high=(math.pi, math.pi),
        energy_scale=(m1 + m2) * g * l1 + m2 * g * l2,
        description="the LNN paper's chaotic double pendulum (2 angles)",
        rebuild=make,
        bodies=_bodies,
        body_masses=(m1, m2),
        rods=((-1, 0), (0, 1)),
    )
