r"""Simple pendulum: a point mass m on a massless rod of length l, angle θ from the downward vertical.

L = ½ m l² θ̇² + m g l cos θ;   θ̈ = −(g/l) sin θ.
"""

import math

import jax.numpy as jnp

from lnn.systems._system import System


def _lagrangian(q, qdot, **p):
    m, l, g = p["m"], p["l"], p["g"]
    return 0.5 * m * l**2 * qdot[0] ** 2 + m * g * l * jnp.cos(q[0])


def _closed_form(q, qdot, **p):
    return jnp.stack([-(p["g"] / p["l"]) * jnp.sin(q[0])])


def _bodies(q, **p):
    return jnp.stack([p["l"] * jnp.sin(q[0]), -p["l"] * jnp.cos(q[0])])[None]


def make(m: float = 1.0, l: float = 1.0, g: float = 9.8) -> System:
    return System(
        name="pendulum",
        coordinates=("theta",),
        angles=(True,),
        parameters={"m": m, "l": l, "g": g},
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(-math.pi,),
        q_high=(math.pi,),
        energy_scale=m * g * l,
        description="point mass on a rigid rod under gravity (1 angle)",
        rebuild=make,
        bodies=_bodies,
        body_masses=(m,),
        rods=((-1, 0),),
    )
