r"""Two point masses in a plane joined by a spring, in Cartesian coordinates, optionally in a uniform field.

q = (x₁, y₁, x₂, y₂), r = |r₁ − r₂|, d = r₁ − r₂:

L = ½ m₁ |ṙ₁|² + ½ m₂ |ṙ₂|² − ½ k (r − r₀)² + g (m₁ x₁ + m₂ x₂),

g = ``field``, a uniform acceleration along +x (like gravity along x). With
g = 0, L is invariant under translations in x and in y and under rotations of
the plane about any point: total momentum (2 components) and angular momentum
are conserved (Noether). A field g ≠ 0 breaks the x-translation and the
rotations; only the y-translation survives.

Equations of motion: m₁ r̈₁ = −k (r − r₀) d/r + m₁ g x̂,  m₂ r̈₂ = +k (r − r₀) d/r + m₂ g x̂.

Configurations are sampled in the box |xᵢ|, |yᵢ| ≤ ``half_width``. The spring
force is bounded but changes direction at r = 0 (a cone tip in V when r₀ > 0);
samples land there with probability zero.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from lnn.systems._system import System


def _potential(x1, y1, x2, y2, p):  # the positions, then the parameters
    r = jnp.sqrt((x1 - x2) ** 2 + (y1 - y2) ** 2)
    return 0.5 * p["k"] * (r - p["r0"]) ** 2 - p["field"] * (p["m1"] * x1 + p["m2"] * x2)


def _lagrangian(q, qdot, **p):
    kinetic = 0.5 * p["m1"] * (qdot[0] ** 2 + qdot[1] ** 2) + 0.5 * p["m2"] * (qdot[2] ** 2 + qdot[3] ** 2)
    return kinetic - _potential(q[0], q[1], q[2], q[3], p)


def _closed_form(q, qdot, **p):
    x1, y1, x2, y2 = q
    dx, dy = x1 - x2, y1 - y2
    r = jnp.sqrt(dx**2 + dy**2)
    tension = p["k"] * (r - p["r0"]) / r  # force on body 1 is −tension · d
    return jnp.stack(
        [
            -tension * dx / p["m1"] + p["field"],
            -tension * dy / p["m1"],
            tension * dx / p["m2"] + p["field"],
            tension * dy / p["m2"],
        ]
    )


def _bodies(q, **p):
    return jnp.reshape(q, (2, 2))


def spinning_pairs(key, n, **p):
    """A pair spinning about its centre of mass, which is at rest near the origin; (q, qdot) of shape (n, 4).

    Separation r₀ × U(0.8, 1.1) at a random angle; relative velocity mostly
    tangential, angular velocity U(0.3, 0.9) rad/s either way (slow enough that the
    centrifugal stretch k(r − r₀) = μω²r keeps the bodies in the box), radial
    speed U(−0.2, 0.2); centre of mass uniform in ±0.1.
    """
    k_c, k_r, k_a, k_w, k_s, k_v = jax.random.split(key, 6)
    m1, m2 = p["m1"], p["m2"]
    centre = jax.random.uniform(k_c, (n, 2), dtype=float, minval=-0.1, maxval=0.1)
    r = p["r0"] * jax.random.uniform(k_r, (n,), dtype=float, minval=0.8, maxval=1.1)
    angle = jax.random.uniform(k_a, (n,), dtype=float, minval=-math.pi, maxval=math.pi)
    omega = jax.random.uniform(k_w, (n,), dtype=float, minval=0.3, maxval=0.9)
    omega = jnp.where(jax.random.bernoulli(k_s, 0.5, (n,)), omega, -omega)
    radial = jax.random.uniform(k_v, (n,), dtype=float, minval=-0.2, maxval=0.2)
    e_r = jnp.stack([jnp.cos(angle), jnp.sin(angle)], -1)
    e_t = jnp.stack([-jnp.sin(angle), jnp.cos(angle)], -1)
    d = r[:, None] * e_r  # r₁ − r₂
    d_dot = radial[:, None] * e_r + (omega * r)[:, None] * e_t
    share1, share2 = m2 / (m1 + m2), m1 / (m1 + m2)  # r₁ = R + share1·d, r₂ = R − share2·d
    q = jnp.concatenate([centre + share1 * d, centre - share2 * d], -1)
    qdot = jnp.concatenate([share1 * d_dot, -share2 * d_dot], -1)
    return q, qdot


def make(
    m1: float = 1.0, m2: float = 2.0, k: float = 4.0, r0: float = 1.0, field: float = 0.0, half_width: float = 1.0
) -> System:
    params = {"m1": m1, "m2": m2, "k": k, "r0": r0, "field": field, "half_width": half_width}
    # V is largest on a corner of the box: the spring term grows with r (largest at
    # opposite corners, r = 2√2·half_width > r₀ for the defaults) and the field term is linear.
    corners = np.array(list(itertools.product((-half_width, half_width), repeat=4)))
    energy_scale = float(np.max(_potential(corners[:, 0], corners[:, 1], corners[:, 2], corners[:, 3], params)))
    return System(
        name="two_body",
        coordinates=("x1", "y1", "x2", "y2"),
        angles=(False,) * 4,
        parameters=params,
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(-half_width,) * 4,
        q_high=(half_width,) * 4,
        energy_scale=energy_scale,
        description="two masses joined by a spring in a plane, Cartesian (x1, y1, x2, y2); optional uniform field",
        cartesian_pairs=((0, 1), (2, 3)),
        motion_sampler=spinning_pairs,
        rebuild=make,
        bodies=_bodies,
        body_masses=(m1, m2),
        rods=((0, 1),),
    )
