r"""A chain of n equal masses joined by springs, fixed to walls at both ends (the FPUT chain).

Displacements q_i from equilibrium, i = 1 … n, with q_0 = q_{n+1} = 0 at the walls;
spring j joins masses j and j + 1 and is stretched by Δ_j = q_{j+1} − q_j:

    L = Σ_i ½ m q̇_i² − Σ_{j=0}^{n} [½ k Δ_j² + ¼ β Δ_j⁴],
    m q̈_i = F(Δ_i) − F(Δ_{i−1}),   F(Δ) = k Δ + β Δ³.

β = 0 (the default) is the linear chain, whose normal modes are known in closed
form; β > 0 is the Fermi–Pasta–Ulam–Tsingou β-chain, whose modes exchange energy.
The mass matrix is m·I and every force is local, so n can be large (the chain is
the scaling test case of ``benchmarks/scaling.py``).
"""

import jax.numpy as jnp

from lnn.systems._system import System


def _stretches(q):
    wall = jnp.zeros((1,), q.dtype)
    return jnp.diff(jnp.concatenate([wall, q, wall]))


def _lagrangian(q, qdot, **p):
    d = _stretches(q)
    return 0.5 * p["m"] * jnp.sum(qdot**2) - jnp.sum(0.5 * p["k"] * d**2 + 0.25 * p["beta"] * d**4)


def _closed_form(q, qdot, **p):
    d = _stretches(q)
    force = p["k"] * d + p["beta"] * d**3
    return (force[1:] - force[:-1]) / p["m"]


def make(n: int = 4, m: float = 1.0, k: float = 1.0, beta: float = 0.0, amplitude: float = 1.0) -> System:
    if int(n) != n or n < 1:
        raise ValueError(f"n is the number of masses, a whole number ≥ 1; got {n}.")
    n = int(n)
    # The potential is largest at alternating corners q = ±(A, −A, A, …): the n − 1
    # inner springs stretch by 2A and the two wall springs by A.
    spring = lambda d: 0.5 * k * d**2 + 0.25 * beta * d**4
    return System(
        name="spring_chain",
        coordinates=tuple(f"x{i + 1}" for i in range(n)),
        angles=(False,) * n,
        parameters={"n": n, "m": m, "k": k, "beta": beta, "amplitude": amplitude},
        lagrangian=_lagrangian,
        closed_form=_closed_form,
        q_low=(-amplitude,) * n,
        q_high=(amplitude,) * n,
        energy_scale=(n - 1) * spring(2 * amplitude) + 2 * spring(amplitude),
        description="n masses on springs between two walls; beta > 0 gives the FPUT chain (n coordinates)",
        rebuild=make,
    )
