r"""Kepler problem in polar coordinates (r, φ): the same motion as ``kepler``, other coordinates.

L = ½ m (ṙ² + r² φ̇²) + k / r;   r̈ = r φ̇² − k / (m r²),   φ̈ = −2 ṙ φ̇ / r.

φ is cyclic (L does not depend on it), so its conjugate momentum m r² φ̇ — the
angular momentum — is conserved: here rotation is a *translation* of one
coordinate. Configurations: r uniform in [r_min, r_max], φ uniform;
``energy_scale`` = k / r_min, the depth of the potential there.
"""

import math

import jax.numpy as jnp

from lnn.systems._kepler import check_annulus, near_circular_orbits
from lnn.systems._system import System


def _near_circular_orbits(key, n, **p):
    """The Cartesian sampler's orbits in (r, φ): ṙ = 0, φ̇ = v/r."""
    q, qdot = near_circular_orbits(key, n, **p)
    r = jnp.hypot(q[:, 0], q[:, 1])
    phidot = (q[:, 0] * qdot[:, 1] - q[:, 1] * qdot[:, 0]) / r**2
    return jnp.stack([r, jnp.arctan2(q[:, 1], q[:, 0])], -1), jnp.stack([jnp.zeros_like(r), phidot], -1)


def _lagrangian(q, qdot, **p):
    r = q[0]
    return 0.5 * p["m"] * (qdot[0] ** 2 + r**2 * qdot[1] ** 2) + p["k"] / r


def _closed_form(q, qdot, **p):
    r = q[0]
    rdot, phidot = qdot
    return jnp.stack([r * phidot**2 - p["k"] / (p["m"] * r**2), -2.0 * rdot * phidot / r])


def make(m: float = 1.0, k: float = 1.0, r_min: float = 0.5, r_max: float = 2.0) -> System:
    check_annulus(r_min, r_max)
    return System(
        name="kepler_polar",
        coordinates=("r", "phi"),
        angles=(False, True),
        parameters={"m": m, "k": k, "r_min": r_min, "r_max": r_max},
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(r_min, -math.pi),
        q_high=(r_max, math.pi),
        energy_scale=k / r_min,
        description="Kepler problem in polar coordinates (r, phi), V = −k/r",
        motion_sampler=_near_circular_orbits,
        rebuild=make,
    )
