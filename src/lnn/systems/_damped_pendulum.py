r"""Damped, optionally driven pendulum: the simple pendulum with viscous friction at the pivot
and a sinusoidal torque.

L = ½ m l² θ̇² + m g l cos θ,   D = ½ b θ̇²,   τ(t) = A cos(Ω t);

    m l² θ̈ = −m g l sin θ − b θ̇ + τ(t),  i.e.  θ̈ = −(g/l) sin θ − γ θ̇ + τ(t)/(m l²),

with b the damping coefficient (N·m·s/rad), γ = b/(m l²) the damping rate (1/s;
the energy of small swings decays as e^(−γ t)), A the drive amplitude (N·m) and
Ω its angular frequency (rad/s). With A = 0 there is no drive (``force_fn`` is
None); with b = 0 and A = 0 it moves exactly as ``pendulum``.
"""

import math

import jax.numpy as jnp

from lnn.systems._system import System


def _lagrangian(q, qdot, **p):
    m, l, g = p["m"], p["l"], p["g"]
    return 0.5 * m * l**2 * qdot[0] ** 2 + m * g * l * jnp.cos(q[0])


def _dissipation(q, qdot, **p):
    return 0.5 * p["b"] * qdot[0] ** 2


def _drive(t, **p):
    return jnp.stack([p["drive"] * jnp.cos(p["omega"] * t)])


def _closed_form(q, qdot, **p):
    # The undriven equation of motion; the drive adds τ(t)/(m l²) at time t.
    inertia = p["m"] * p["l"] ** 2
    return jnp.stack([-(p["g"] / p["l"]) * jnp.sin(q[0]) - p["b"] * qdot[0] / inertia])


def make(
    m: float = 1.0, l: float = 1.0, g: float = 9.8, b: float = 0.1, drive: float = 0.0, omega: float = 2.0
) -> System:
    if b < 0:
        raise ValueError(f"the damping coefficient b must be >= 0 (friction removes energy); got {b}.")
    return System(
        name="damped_pendulum",
        coordinates=("theta",),
        angles=(True,),
        parameters={"m": m, "l": l, "g": g, "b": b, "drive": drive, "omega": omega},
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(-math.pi,),
        q_high=(math.pi,),
        energy_scale=m * g * l,
        description="pendulum with viscous friction b θ̇ and an optional torque A cos Ωt (1 angle)",
        dissipation=_dissipation,
        drive=_drive if drive != 0 else None,
        rebuild=make,
    )
