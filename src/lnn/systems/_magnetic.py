r"""Charged particle in a uniform magnetic field B ẑ, optionally inside a Penning trap's electric quadrupole.

A velocity-dependent Lagrangian: with the symmetric gauge A(x) = ½ B × x,

    L = ½ m |ẋ|² + e ẋ·A(x) − U(x) = ½ m |ẋ|² + ½ e B (x ẏ − y ẋ) − U(x),
    U(x) = ½ k (z² − ½ (x² + y²))   (e Φ of a Penning trap; k = ``trap``, 0 by default).

Its mass matrix ∂²L/∂ẋ² = m I is constant, but the mixed term ∂²L/∂x∂ẋ is not zero
(it carries the magnetic force). The equations of motion are the Lorentz force:

    m ẍ = e B ẏ + ½ k x,   m ÿ = −e B ẋ + ½ k y,   m z̈ = −k z.

The energy E = ½ m |ẋ|² + U(x) does not contain A (the magnetic force does no work).
With k = 0 there is no potential energy to normalise by, so ``energy_scale`` is the
kinetic energy ½ m v₀² of a gyration whose radius v₀/ω_c (ω_c = eB/m) is the box
half-width a, plus the trap's largest potential energy over the box, ½ k a². A particle
at rest stays at rest, so the protocol's initial states (:meth:`sample_near_rest`)
move at the speed v₀ in a random direction instead. With k > 0 the trap confines z;
the radial motion stays bounded only while ω_c² > 2k/m (the Penning condition).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lnn.systems._system import System


def _potential(q, p):
    x, y, z = q
    return 0.5 * p["trap"] * (z**2 - 0.5 * (x**2 + y**2))


def _lagrangian(q, qdot, **p):
    x, y, _ = q
    vx, vy, _ = qdot
    return 0.5 * p["m"] * jnp.dot(qdot, qdot) + 0.5 * p["charge"] * p["B"] * (x * vy - y * vx) - _potential(q, p)


def _closed_form(q, qdot, **p):
    m, e, B, k = p["m"], p["charge"], p["B"], p["trap"]
    x, y, z = q
    vx, vy, _ = qdot
    return jnp.stack([(e * B * vy + 0.5 * k * x) / m, (-e * B * vx + 0.5 * k * y) / m, -k * z / m])


def gyration_speed(p) -> float:
    """v₀ = e B a / m: the speed whose gyroradius is the box half-width a."""
    return abs(p["charge"] * p["B"]) * p["half_width"] / p["m"]


class MagneticParticle(System):
    """:class:`System` whose near-rest states move at the gyration speed (see the module docstring)."""

    __init__ = System.__init__  # the same constructor (Equinox would reuse it; this tells type checkers)

    def sample_near_rest(self, key, n, *, speed: float | jax.Array = 0.0):
        """q uniform in the box; q̇ = v₀ û (û a uniformly random direction) + N(0, speed²) per component."""
        kq, ku, kv = jax.random.split(key, 3)
        q = self.sample_configurations(kq, n)
        u = jax.random.normal(ku, q.shape, dtype=q.dtype)
        u = u / jnp.linalg.norm(u, axis=-1, keepdims=True)
        jitter = speed * jax.random.normal(kv, q.shape, dtype=q.dtype)
        return q, gyration_speed(self.parameters) * u + jitter


def make(m: float = 1.0, charge: float = 1.0, B: float = 1.0, trap: float = 0.0, half_width: float = 1.0) -> System:
    if m <= 0 or half_width <= 0 or B == 0 or charge == 0:
        raise ValueError("m and half_width must be positive and charge, B non-zero.")
    p = {"m": m, "charge": charge, "B": B, "trap": trap, "half_width": half_width}
    a = half_width
    return MagneticParticle(
        name="magnetic_particle",
        coordinates=("x", "y", "z"),
        angles=(False, False, False),
        parameters=p,
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(-a, -a, -a),
        q_high=(a, a, a),
        energy_scale=0.5 * m * gyration_speed(p) ** 2 + 0.5 * abs(trap) * a**2,
        description="charged particle in a uniform magnetic field (+ optional Penning trap), A = ½ B × x",
        rebuild=make,
    )
