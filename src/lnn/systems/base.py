"""The :class:`System` record shared by every ground-truth system."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from lnn import mechanics

Params = Mapping[str, float]


@dataclasses.dataclass(frozen=True)
class System:
    """A mechanical system with a closed-form Lagrangian.

    Attributes:
        name: registry name, e.g. ``"double_pendulum"``.
        coordinates: names of the generalised coordinates, length ``dof``.
        angles: which coordinates are angles (periodic, fed to models as sin/cos).
        parameters: physical constants (masses, lengths, g, ...).
        lagrangian_fn: ``(q, qdot, params) -> scalar``, one state ``(n,)``.
        closed_form_fn: ``(q, qdot, params) -> qddot``, the textbook equations of
            motion, written independently of the Lagrangian (used by tests).
        q_low, q_high: the box of configurations states are sampled from.
        energy_scale: the maximum potential energy (relative to the pivot or
            rest length), which normalises energy errors.
        description: one line for ``lnn systems``.
        dissipation_fn: optional Rayleigh dissipation ``(q, qdot, params) -> scalar``
            D = ½ q̇ᵀ K q̇ (friction); ``None`` for a conservative system.
        force_fn: optional generalized force ``(t, params) -> (n,)`` τ(t) (a drive);
            ``None`` for an undriven system.
        horizon: seconds the energy protocol integrates by default: the paper's
            100 s, shorter for systems whose motions leave the sampled box sooner.
        cartesian_pairs: index pairs ``(i, j)`` of coordinates that are the x and y
            of one point in a Euclidean plane (for a point in space, give its
            (x, y), (y, z) and (z, x) pairs). Rotations are only meaningful for
            these; symmetry search (:mod:`lnn.symmetry`) proposes one per pair.
        configuration_sampler: ``(key, n, params) -> q`` of shape ``(n, dof)``,
            for systems whose configuration domain is not the box (e.g. an
            annulus around a 1/r singularity); configurations must lie inside
            ``[q_low, q_high]``. ``None``: uniform in the box.
        motion_sampler: ``(key, n, params) -> (q, qdot)``, initial states whose
            motions stay in the configuration domain for several seconds, where
            random states rarely do (a 1/r potential: nearly circular orbits).
            ``None``: :func:`lnn.symmetry.rollout_states` picks them.
    """

    name: str
    coordinates: tuple[str, ...]
    angles: tuple[bool, ...]
    parameters: Params
    lagrangian_fn: Callable[[Array, Array, Params], Array]
    closed_form_fn: Callable[[Array, Array, Params], Array]
    q_low: tuple[float, ...]
    q_high: tuple[float, ...]
    energy_scale: float
    description: str = ""
    dissipation_fn: Callable[[Array, Array, Params], Array] | None = None
    force_fn: Callable[[Array, Params], Array] | None = None
    horizon: float = 100.0
    cartesian_pairs: tuple[tuple[int, int], ...] = ()
    configuration_sampler: Callable[[Array, int, Params], Array] | None = None
    motion_sampler: Callable[[Array, int, Params], tuple[Array, Array]] | None = None

    @property
    def dof(self) -> int:
        """Number of degrees of freedom n."""
        return len(self.coordinates)

    def lagrangian(self, q: Float[Array, "n"], qdot: Float[Array, "n"]) -> Float[Array, ""]:
        """L(q, q̇) for one state."""
        return self.lagrangian_fn(q, qdot, self.parameters)

    def dissipation(self, q: Float[Array, "n"], qdot: Float[Array, "n"]) -> Float[Array, ""]:
        """Rayleigh dissipation D(q, q̇) for one state (0 for a conservative system)."""
        if self.dissipation_fn is None:
            return jnp.zeros((), dtype=jnp.result_type(qdot.dtype, float))
        return self.dissipation_fn(q, qdot, self.parameters)

    def force(self, t) -> Float[Array, "n"]:
        """Generalized force τ(t) of the drive (0 for an undriven system)."""
        if self.force_fn is None:
            return jnp.zeros((self.dof,), dtype=jnp.result_type(jnp.asarray(t).dtype, float))
        return self.force_fn(t, self.parameters)

    def acceleration(self, q: Float[Array, "n"], qdot: Float[Array, "n"], tau=None) -> Float[Array, "n"]:
        """q̈ for one state from M q̈ = ∂L/∂q − (∂²L/∂q∂q̇) q̇ − ∂D/∂q̇ + τ.

        ``tau`` is the generalized force at that instant (``self.force(t)`` for
        the system's own drive); without it the drive is off.
        """
        dissipation = None if self.dissipation_fn is None else self.dissipation
        return mechanics.dynamics(self.lagrangian, dissipation)(q, qdot, tau)

    def closed_form_accelerations(self, q, qdot) -> Float[Array, "... n"]:
        """q̈ from the textbook equations of motion, batched over leading axes."""
        q, qdot = mechanics.as_state(q, qdot)
        f = lambda a, b: self.closed_form_fn(a, b, self.parameters)  # noqa: E731
        return jnp.vectorize(f, signature="(n),(n)->(n)")(q, qdot)

    def energy(self, q, qdot) -> Float[Array, "..."]:
        """True energy E(q, q̇), batched over leading axes."""
        return mechanics.energy(self.lagrangian, q, qdot)

    def potential(self, q) -> Float[Array, "..."]:
        """V(q) = −L(q, 0) for Lagrangians T − V with T quadratic in q̇; batched."""
        q = jnp.asarray(q, dtype=jnp.result_type(float))
        return -jnp.vectorize(lambda a: self.lagrangian(a, jnp.zeros_like(a)), signature="(n)->()")(q)

    def with_parameters(self, **changes: float) -> System:
        """The same system with some parameters changed (rebuilt, so derived values like
        ``energy_scale`` follow)."""
        from lnn import systems  # the registry imports this module

        unknown = set(changes) - set(self.parameters)
        if unknown:
            raise ValueError(
                f"{self.name} has no parameter(s) {sorted(unknown)}; it has {sorted(self.parameters)}."
            )
        return systems.get(self.name, **{**self.parameters, **changes})

    def sample_configurations(self, key: Array, n: int) -> Float[Array, "n dof"]:
        """Configurations q uniform in the box ``[q_low, q_high)``, or from the system's own sampler."""
        if self.configuration_sampler is not None:
            return self.configuration_sampler(key, n, self.parameters)
        low = jnp.asarray(self.q_low, dtype=float)
        high = jnp.asarray(self.q_high, dtype=float)
        return jax.random.uniform(key, (n, self.dof), minval=low, maxval=high, dtype=low.dtype)

    def sample_states(
        self, key: Array, n: int, *, max_energy: float | None = None
    ) -> tuple[Float[Array, "n dof"], Float[Array, "n dof"]]:
        r"""States with energy at most ``max_energy`` (default 1.1 × ``energy_scale``).

        q is uniform in the configuration box; the velocity has a uniformly random
        direction u and a kinetic energy T uniform in [0, E_max − V(q)], so
        q̇ = u √(2T / uᵀM(q)u). These are exactly the states that motions of
        energy ≤ E_max visit, so a model trained on them covers rollouts started
        near rest anywhere in the box.
        """
        e_max = 1.1 * self.energy_scale if max_energy is None else max_energy
        kq, ku, kt = jax.random.split(key, 3)
        q = self._configurations_below(kq, n, e_max)
        u = jax.random.normal(ku, q.shape, dtype=q.dtype)
        M = mechanics.mass_matrix(self.lagrangian, q, jnp.zeros_like(q))
        kinetic = jax.random.uniform(kt, (n,), dtype=q.dtype) * jnp.clip(e_max - self.potential(q), 0.0)
        uMu = jnp.einsum("bi,bij,bj->b", u, M, u)
        return q, u * jnp.sqrt(2.0 * kinetic / uMu)[:, None]

    def _configurations_below(self, key: Array, n: int, e_max: float) -> Float[Array, "n dof"]:
        """n configurations from the box with V(q) ≤ e_max (rejection sampling).

        The first n draws use ``key`` itself, so when none is rejected (the default
        bound lies above every potential energy) the states are those of a plain
        uniform draw.
        """
        q = self.sample_configurations(key, n)
        accepted = [q[self.potential(q) <= e_max]]
        count = accepted[0].shape[0]
        for attempt in range(64):
            if count >= n:
                return jnp.concatenate(accepted)[:n]
            candidates = self.sample_configurations(jax.random.fold_in(key, attempt), max(n, 256))
            accepted.append(candidates[self.potential(candidates) <= e_max])
            count += accepted[-1].shape[0]
        raise ValueError(
            f"max_energy={e_max:g} is below the potential energy of almost every configuration of "
            f"{self.name}; raise it (the potential spans about ±{self.energy_scale:g})."
        )

    def sample_near_rest(
        self, key: Array, n: int, *, speed: float = 0.0
    ) -> tuple[Float[Array, "n dof"], Float[Array, "n dof"]]:
        """Initial conditions of the energy protocol: q uniform in the box, q̇ ~ N(0, speed²)."""
        kq, kv = jax.random.split(key)
        q = self.sample_configurations(kq, n)
        return q, speed * jax.random.normal(kv, q.shape, dtype=q.dtype)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (for metadata and ``lnn systems``)."""
        return {
            "name": self.name,
            "dof": self.dof,
            "coordinates": list(self.coordinates),
            "angles": list(self.angles),
            "parameters": dict(self.parameters),
            "energy_scale": self.energy_scale,
        }
