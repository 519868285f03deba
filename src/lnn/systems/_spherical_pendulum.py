r"""Spherical pendulum: a point mass m on a rod of length l, free to swing in any direction.

Coordinates: the polar angle θ from the downward vertical and the azimuth φ.

    L = ½ m l² (θ̇² + sin²θ φ̇²) + m g l cos θ,
    θ̈ = sin θ cos θ φ̇² − (g/l) sin θ,   φ̈ = −2 cot θ θ̇ φ̇.

**The chart is singular at the poles.** At sin θ = 0 (hanging straight down or
standing straight up) φ is undefined and ∂²L/∂q̇² = m l² diag(1, sin²θ) is singular;
lnn reports that (``lnn.mass_matrix_report``) and does not hide it. So configurations
are drawn from θ ∈ [``POLE_MARGIN``, π − ``POLE_MARGIN``], and the samplers keep only
states whose *whole motion* stays in that band: the angular momentum about the vertical,
L_z = m l² sin²θ φ̇, is conserved, so θ moves in the well of the effective potential

    U(θ) = L_z² / (2 m l² sin²θ) − m g l cos θ,

which has a single minimum on (0, π); the motion stays in the band exactly when
E ≤ U at both of its edges. A state swinging through the pole (L_z = 0) is rejected.

``energy_scale`` is the maximum potential energy over the box, m g l cos(``POLE_MARGIN``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from lnn.systems._system import System

POLE_MARGIN = 0.1  # radians kept away from each pole


def _lagrangian(q, qdot, **p):
    m, l, g = p["m"], p["l"], p["g"]
    theta = q[0]
    kinetic = 0.5 * m * l**2 * (qdot[0] ** 2 + jnp.sin(theta) ** 2 * qdot[1] ** 2)
    return kinetic + m * g * l * jnp.cos(theta)


def _closed_form(q, qdot, **p):
    theta = q[0]
    w_theta, w_phi = qdot
    s, c = jnp.sin(theta), jnp.cos(theta)
    return jnp.stack([s * c * w_phi**2 - (p["g"] / p["l"]) * s, -2.0 * c / s * w_theta * w_phi])


def effective_potential(theta, lz, p):
    """U(θ) = L_z² / (2 m l² sin²θ) − m g l cos θ (broadcasting)."""
    m, l, g = p["m"], p["l"], p["g"]
    return lz**2 / (2 * m * l**2 * jnp.sin(theta) ** 2) - m * g * l * jnp.cos(theta)


def stays_off_the_poles(q, qdot, p, margin: float = POLE_MARGIN):
    """Whether the motion from each state ``(..., 2)`` keeps θ in [margin, π − margin]."""
    m, l = p["m"], p["l"]
    theta, w_theta, w_phi = q[..., 0], qdot[..., 0], qdot[..., 1]
    lz = m * l**2 * jnp.sin(theta) ** 2 * w_phi
    energy = 0.5 * m * l**2 * w_theta**2 + effective_potential(theta, lz, p)
    inside = (theta >= margin) & (theta <= math.pi - margin)
    return (
        inside
        & (energy <= effective_potential(margin, lz, p))
        & (energy <= effective_potential(math.pi - margin, lz, p))
    )


class SphericalPendulum(System):
    """:class:`System` whose samplers keep only motions that stay off the poles."""

    __init__ = System.__init__  # the same constructor (Equinox would reuse it; this tells type checkers)

    def _off_pole(self, key: Array, n: int, draw) -> tuple[Array, Array]:
        """n states from ``draw(key, count)`` whose motion stays off the poles (rejection)."""
        kept, count = [], 0
        for attempt in range(64):
            q, qdot = draw(jax.random.fold_in(key, attempt), max(2 * n, 256))
            ok = stays_off_the_poles(q, qdot, self.parameters)
            kept.append((q[ok], qdot[ok]))
            count += int(jnp.sum(ok))
            if count >= n:
                return jnp.concatenate([q for q, _ in kept])[:n], jnp.concatenate([v for _, v in kept])[:n]
        raise ValueError(
            "almost no sampled state of the spherical pendulum keeps off the poles at this energy; "
            "raise max_energy (motions need angular momentum about the vertical)."
        )

    def sample_states(
        self, key: Array, n: int, *, max_energy: float | None = None
    ) -> tuple[Float[Array, "n dof"], Float[Array, "n dof"]]:
        """Energy-bounded states (as :meth:`System.sample_states`) whose motion stays off the poles."""
        draw = lambda k, m: System.sample_states(self, k, m, max_energy=max_energy)
        return self._off_pole(key, n, draw)

    def sample_near_rest(
        self, key: Array, n: int, *, speed: float | Array = 0.0
    ) -> tuple[Float[Array, "n dof"], Float[Array, "n dof"]]:
        """θ̇ ~ N(0, speed²) and φ̇ = ±√(g/l)·u, u uniform in [0.5, 2], kept if the motion stays off the poles.

        A pendulum released from rest swings through the pole θ = 0, where the
        chart fails, so "near rest" here means a slow precession instead.
        """
        omega = math.sqrt(self.parameters["g"] / self.parameters["l"])

        def draw(k, m):
            kq, ks, ku, kv = jax.random.split(k, 4)
            q = self.sample_configurations(kq, m)
            sign = jnp.where(jax.random.bernoulli(ks, 0.5, (m,)), 1.0, -1.0)
            w_phi = sign * omega * jax.random.uniform(ku, (m,), minval=0.5, maxval=2.0, dtype=q.dtype)
            w_theta = speed * jax.random.normal(kv, (m,), dtype=q.dtype)
            return q, jnp.stack([w_theta, w_phi], axis=-1)

        return self._off_pole(key, n, draw)


def make(m: float = 1.0, l: float = 1.0, g: float = 9.8) -> System:
    return SphericalPendulum(
        name="spherical_pendulum",
        coordinates=("theta", "phi"),
        angles=(True, True),
        parameters={"m": m, "l": l, "g": g},
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(POLE_MARGIN, -math.pi),
        q_high=(math.pi - POLE_MARGIN, math.pi),
        energy_scale=m * g * l * math.cos(POLE_MARGIN),
        description="point mass on a rod swinging in 3D (polar θ, azimuth φ; chart singular at sin θ = 0)",
        rebuild=make,
    )
