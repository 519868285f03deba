r"""Relativistic particle in a uniform field (the LNN paper's, section 5), 1 coordinate.

    L = m c² (1 − √(1 − q̇²/c²)) − V(q),   V(q) = −m g q + ½ k q².

The constant m c² (the rest energy) only shifts L so that L(q, 0) = −V(q); it
changes no equation of motion. The canonical momentum is p = ∂L/∂q̇ = γ m q̇ with
γ = (1 − q̇²/c²)^{-1/2}, not m q̇: a Hamiltonian network fed p = q̇ is not in
canonical coordinates (the paper's point). From d/dt(γ m q̇) = −V'(q) and
dγ/dt = γ³ q̇ q̈ / c²:

    q̈ = (g − k q / m) (1 − q̇²/c²)^{3/2}.

The paper's setup: m = c = 1, a uniform field (k = 0), q ∈ [−10, 10]; the paper
varies g per sample and feeds it to the network, here g is fixed at 0.1 so that
the potential drop across the box (2 m g × 10 = 2 m c²) spans Newtonian to
relativistic speeds (energy-bounded states reach 0.95 c; half are above 0.7 c).
Motions from rest leave the box after about 10 s (v = 0.7 c at t = c/g), so the
energy protocol integrates 10 s. (The paper prints
L = (1 − q̇²)^{-1/2} − 1 + g q, whose kinetic term is the energy γ − 1 rather than
the Lagrangian's 1 − 1/γ; its own code integrates that form. Here L is the
textbook one, for which the same argument about canonical momenta holds.)
Energy E = q̇ ∂L/∂q̇ − L = m c² (γ − 1) + V(q) is finite only for |q̇| < c, so
states are sampled by kinetic energy and mapped to speeds below c.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lnn.systems._system import System


def _potential(q, p):
    return -p["m"] * p["g"] * q[0] + 0.5 * p["k"] * q[0] ** 2


def _lagrangian(q, qdot, **p):
    m, c = p["m"], p["c"]
    return m * c**2 * (1.0 - jnp.sqrt(1.0 - (qdot[0] / c) ** 2)) - _potential(q, p)


def _closed_form(q, qdot, **p):
    m, c, g, k = p["m"], p["c"], p["g"], p["k"]
    return jnp.stack([(g - k * q[0] / m) * (1.0 - (qdot[0] / c) ** 2) ** 1.5])


class RelativisticParticle(System):
    """A :class:`System` whose kinetic energy m c²(γ − 1) is not quadratic in q̇."""

    __init__ = System.__init__  # the same constructor (Equinox would reuse it; this tells type checkers)

    def sample_states(self, key, n, *, max_energy=None):
        r"""States with energy at most ``max_energy`` (default 1.1 × ``energy_scale``), all with |q̇| < c.

        As for every system, q is uniform in the box (below the energy bound) and
        the kinetic energy K is uniform in [0, E_max − V(q)]; the speed follows
        from K = m c² (γ − 1): |q̇| = c √(1 − 1/γ²), with a random sign.
        """
        e_max = 1.1 * self.energy_scale if max_energy is None else max_energy
        kq, ks, kk = jax.random.split(key, 3)
        q = self._configurations_below(kq, n, e_max)
        m, c = self.parameters["m"], self.parameters["c"]
        kinetic = jax.random.uniform(kk, (n,), dtype=q.dtype) * jnp.clip(e_max - self.potential(q), 0.0)
        gamma = 1.0 + kinetic / (m * c**2)
        speed = c * jnp.sqrt(1.0 - 1.0 / gamma**2)
        sign = jnp.where(jax.random.bernoulli(ks, 0.5, (n,)), 1.0, -1.0)
        return q, (sign * speed)[:, None]


def make(m: float = 1.0, c: float = 1.0, g: float = 0.1, k: float = 0.0, extent: float = 10.0) -> System:
    if not (m > 0 and c > 0 and extent > 0 and k >= 0):
        raise ValueError(f"need m > 0, c > 0, extent > 0 and k >= 0; got m={m}, c={c}, extent={extent}, k={k}.")
    params = {"m": m, "c": c, "g": g, "k": k, "extent": extent}
    return RelativisticParticle(
        name="relativistic",
        coordinates=("x",),
        angles=(False,),
        parameters=params,
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(-extent,),
        q_high=(extent,),
        energy_scale=m * abs(g) * extent + 0.5 * k * extent**2,  # V's maximum, at an edge of the box
        description="the LNN paper's relativistic particle in a uniform field, c = 1 (1 coordinate)",
        horizon=10.0,
        rebuild=make,
    )
