r"""Kepler problem (a central 1/r² force) in Cartesian coordinates: a mass m about a fixed centre.

L = ½ m (ẋ² + ẏ²) + k / r,   r = √(x² + y²);   ẍ = −k x / (m r³),  ÿ = −k y / (m r³).

L is invariant under rotations about the centre, so the angular momentum
m (x ẏ − y ẋ) is conserved; it has no translation symmetry. The potential is
unbounded below at r = 0, so configurations are sampled uniformly (by area) in
the annulus ``r_min ≤ r ≤ r_max``, and ``energy_scale`` is the depth of the
potential there, k / r_min. The same system in polar coordinates is
``kepler_polar``.
"""

import math

import jax
import jax.numpy as jnp

from lnn.systems._system import System


def _lagrangian(q, qdot, **p):
    return 0.5 * p["m"] * jnp.dot(qdot, qdot) + p["k"] / jnp.sqrt(jnp.dot(q, q))


def _closed_form(q, qdot, **p):
    r = jnp.sqrt(q[0] ** 2 + q[1] ** 2)
    return -p["k"] * q / (p["m"] * r**3)


def sample_annulus(key, n, **p):
    """Points uniform by area in r_min ≤ r ≤ r_max: r² uniform, polar angle uniform; shape (n, 2)."""
    k_r, k_phi = jax.random.split(key)
    r = jnp.sqrt(jax.random.uniform(k_r, (n,), dtype=float, minval=p["r_min"] ** 2, maxval=p["r_max"] ** 2))
    phi = jax.random.uniform(k_phi, (n,), dtype=float, minval=-math.pi, maxval=math.pi)
    return jnp.stack([r * jnp.cos(phi), r * jnp.sin(phi)], axis=-1)


def near_circular_orbits(key, n, **p):
    """Cartesian states of orbits with eccentricity ≲ 0.15 and radius in the middle of the annulus.

    r between r_min and r_max, closer to r_min (a circular orbit at r stays there);
    tangential speed √(k/(m r)) × (1 ± 0.15), either sense; shape (n, 2) each.
    """
    k_r, k_phi, k_v, k_s = jax.random.split(key, 4)
    lo, hi = 1.5 * p["r_min"], min(3.0 * p["r_min"], 0.6 * p["r_max"])
    r = jax.random.uniform(k_r, (n,), dtype=float, minval=lo, maxval=max(hi, lo))
    phi = jax.random.uniform(k_phi, (n,), dtype=float, minval=-math.pi, maxval=math.pi)
    speed = jnp.sqrt(p["k"] / (p["m"] * r)) * jax.random.uniform(k_v, (n,), dtype=float, minval=0.85, maxval=1.15)
    sense = jnp.where(jax.random.bernoulli(k_s, 0.5, (n,)), 1.0, -1.0)
    q = jnp.stack([r * jnp.cos(phi), r * jnp.sin(phi)], axis=-1)
    qdot = (sense * speed)[:, None] * jnp.stack([-jnp.sin(phi), jnp.cos(phi)], axis=-1)
    return q, qdot


def check_annulus(r_min: float, r_max: float) -> None:
    """The sampling annulus must exclude the singularity at r = 0."""
    if not 0 < r_min < r_max:
        raise ValueError(f"need 0 < r_min < r_max; got r_min={r_min}, r_max={r_max}.")


def make(m: float = 1.0, k: float = 1.0, r_min: float = 0.5, r_max: float = 2.0) -> System:
    check_annulus(r_min, r_max)
    return System(
        name="kepler",
        coordinates=("x", "y"),
        angles=(False, False),
        parameters={"m": m, "k": k, "r_min": r_min, "r_max": r_max},
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(-r_max, -r_max),
        q_high=(r_max, r_max),
        energy_scale=k / r_min,
        description="Kepler problem: mass about a fixed centre, V = −k/r, Cartesian (x, y)",
        cartesian_pairs=((0, 1),),
        configuration_sampler=sample_annulus,
        motion_sampler=near_circular_orbits,
        rebuild=make,
    )
