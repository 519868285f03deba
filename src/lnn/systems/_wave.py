r"""The 1D wave equation on a periodic string, discretised on n points (a Lagrangian field theory).

A string of length ℓ, mass per length ρ and tension T, displacement u(x, t), has the
Lagrangian density ½ ρ u_t² − ½ T u_x². On n points x_i = i h, h = ℓ/n, with
q_i = u(x_i) and periodic ends (q_n = q_0):

    L = Σ_i h [ ½ ρ q̇_i² − ½ T ((q_{i+1} − q_i)/h)² ],
    q̈_i = c² (q_{i+1} − 2 q_i + q_{i−1}) / h²,   c = √(T/ρ).

The factor h makes L (and the energy) the integral of the density, so the same wave
has the same energy on any grid. The fundamental period is ℓ/c (1 at the defaults);
the discrete one is slightly longer, 2π / ((2c/h) sin(π/n)).

States are smooth random waves (:func:`smooth_waves`): Fourier modes 1 … ``modes``
with amplitudes ∝ 1/k and random phases, for displacement and velocity alike (the
velocity also with a uniform part), rescaled to an energy uniform in [0, E_max] of
which a uniformly random fraction is potential; the mean displacement is 0.
``energy_scale`` is the potential energy of the fundamental mode sin(2πx/ℓ) at
amplitude a (``amplitude``): T a² n² sin²(π/n)/ℓ → π² T a²/ℓ. A wave of zero mean
with energy E has |q_i| ≤ ½ √(2Eℓ/T), so states with E ≤ 1.1 × ``energy_scale``
lie in the box |q_i| ≤ 2.5 a.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from lnn.systems._system import System


def _lagrangian(q, qdot, **p):
    h = p["length"] / q.shape[-1]
    slope = (jnp.roll(q, -1) - q) / h
    return h * jnp.sum(0.5 * p["density"] * qdot**2 - 0.5 * p["tension"] * slope**2)


def _closed_form(q, qdot, **p):
    h = p["length"] / q.shape[-1]
    return (p["tension"] / p["density"]) * (jnp.roll(q, -1) - 2 * q + jnp.roll(q, 1)) / h**2


def fundamental_period(system: System) -> float:
    """ℓ/c, the period of the longest wave on the continuous string."""
    p = system.parameters
    return p["length"] / math.sqrt(p["tension"] / p["density"])


def smooth_waves(key: Array, count: int, n: int, modes: int, *, mean: bool = False) -> Float[Array, "count n"]:
    """``count`` random periodic waves on n points: Σ_{k=1}^{modes} (a_k cos 2πkx + b_k sin 2πkx),
    a_k, b_k ~ N(0, 1/k²), x = i/n, plus a uniform part a_0 ~ N(0, 1) if ``mean``. Unnormalised."""
    ka, kb, k0 = jax.random.split(key, 3)
    k = jnp.arange(1, modes + 1, dtype=float)
    a = jax.random.normal(ka, (count, modes)) / k
    b = jax.random.normal(kb, (count, modes)) / k
    phase = 2 * jnp.pi * k[:, None] * jnp.arange(n)[None, :] / n
    waves = a @ jnp.cos(phase) + b @ jnp.sin(phase)
    return waves + jax.random.normal(k0, (count, 1)) if mean else waves


class WaveString(System):
    """:class:`System` whose states are smooth random waves (a uniform box would be white noise)."""

    __init__ = System.__init__  # the same constructor (Equinox would reuse it; this tells type checkers)

    def sample_states(self, key, n, *, max_energy=None):
        """Smooth waves (displacement and velocity) with energy uniform in [0, E_max] (default 1.1 × scale),
        a uniformly random fraction of it potential.

        The velocity has a uniform part too (the string as a whole moving: momentum), so
        that data show how the free translation mode moves; the displacement has mean 0.
        """
        e_max = 1.1 * self.energy_scale if max_energy is None else max_energy
        if e_max <= 0:
            raise ValueError(f"max_energy must be positive for the wave string; got {e_max:g}.")
        kq, kv, ke, kf = jax.random.split(key, 4)
        q = smooth_waves(kq, n, self.dof, int(self.parameters["modes"]))
        qdot = smooth_waves(kv, n, self.dof, int(self.parameters["modes"]), mean=True)
        # Energy E uniform in [0, E_max], a fraction f (uniform) of it potential: q and q̇ are
        # rescaled separately (V is quadratic in q, T in q̇).
        energy = e_max * jax.random.uniform(ke, (n, 1), dtype=q.dtype)
        f = jax.random.uniform(kf, (n, 1), dtype=q.dtype)
        kinetic = self.energy(jnp.zeros_like(qdot), qdot)[:, None]
        return q * jnp.sqrt(f * energy / self.potential(q)[:, None]), qdot * jnp.sqrt((1 - f) * energy / kinetic)

    def sample_near_rest(self, key, n, *, speed: float | jax.Array = 0.0):
        """A plucked string: a smooth wave with potential energy uniform in [0.5, 1] × ``energy_scale``,
        released with velocity ``speed`` × (a smooth wave of unit RMS)."""
        kq, kv, ke = jax.random.split(key, 3)
        q = smooth_waves(kq, n, self.dof, int(self.parameters["modes"]))
        target = self.energy_scale * jax.random.uniform(ke, (n,), minval=0.5, maxval=1.0, dtype=q.dtype)
        q = q * jnp.sqrt(target / self.potential(q))[:, None]
        v = smooth_waves(kv, n, self.dof, int(self.parameters["modes"]))
        v = v / jnp.sqrt(jnp.mean(v**2, axis=-1, keepdims=True))
        return q, speed * v


def make(
    n: int = 64, density: float = 1.0, tension: float = 1.0, length: float = 1.0, amplitude: float = 1.0, modes: int = 4
) -> System:
    if int(n) != n or n < 3:
        raise ValueError(f"the string needs n >= 3 integer points; got n={n}.")
    if int(modes) != modes or not 1 <= modes <= n // 2:
        raise ValueError(f"modes must be an integer in [1, n/2]; got {modes}.")
    if min(density, tension, length, amplitude) <= 0:
        raise ValueError("density, tension, length and amplitude must be positive.")
    n, modes = int(n), int(modes)
    box = 2.5 * amplitude
    return WaveString(
        name="wave",
        coordinates=tuple(f"u{i}" for i in range(n)),
        angles=(False,) * n,
        parameters={
            "n": n,
            "density": density,
            "tension": tension,
            "length": length,
            "amplitude": amplitude,
            "modes": modes,
        },
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(-box,) * n,
        q_high=(box,) * n,
        energy_scale=tension * amplitude**2 * n**2 * math.sin(math.pi / n) ** 2 / length,
        description="1D wave equation on a periodic string of n points (a discretised field)",
        rebuild=make,
    )
