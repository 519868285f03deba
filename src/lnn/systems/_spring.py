r"""Harmonic oscillator: a mass m on a linear spring of stiffness k, displacement x from rest.

L = ½ m ẋ² − ½ k x²;   ẍ = −(k/m) x.  States are sampled with |x| ≤ amplitude.
"""

import jax.numpy as jnp

from lnn.systems._system import System


def _lagrangian(q, qdot, **p):
    return 0.5 * p["m"] * qdot[0] ** 2 - 0.5 * p["k"] * q[0] ** 2


def _closed_form(q, qdot, **p):
    return jnp.stack([-(p["k"] / p["m"]) * q[0]])


def _bodies(q, **p):
    return jnp.stack([q[0], jnp.zeros_like(q[0])])[None]  # the mass slides along x; rest at the origin


def make(m: float = 1.0, k: float = 1.0, amplitude: float = 1.0) -> System:
    return System(
        name="spring",
        coordinates=("x",),
        angles=(False,),
        parameters={"m": m, "k": k, "amplitude": amplitude},
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(-amplitude,),
        q_high=(amplitude,),
        energy_scale=0.5 * k * amplitude**2,
        description="mass on a linear spring, the harmonic oscillator (1 coordinate)",
        rebuild=make,
        bodies=_bodies,
        body_masses=(m,),
    )
