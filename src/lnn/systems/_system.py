"""A mechanical system given by its Lagrangian: :class:`System`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from lnn._typing import States
from lnn.errors import ConfigurationError, DataError
from lnn.mechanics import AbstractLagrangian, as_state, energy, lagrangian_acceleration, mass_matrix

# Configurations drawn (from a fixed key) to derive a default energy scale.
_SCALE_SAMPLES = 4096


class System(AbstractLagrangian):
    r"""A mechanical system: a Lagrangian L(q, q̇), optionally friction and a drive, and where its states lie.

    ``lagrangian`` is a function ``L(q, qdot, **parameters) -> scalar`` of one
    state (``q``, ``qdot`` of shape ``(n,)``) written with ``jax.numpy``; the
    system's :attr:`parameters` are passed to it (and to every other function
    given here) as keyword arguments. No equation of motion is needed: the
    dynamics are L's Euler–Lagrange equations,

    .. math:: M\ddot q = \partial_q L - (\partial_q\partial_{\dot q}^\top L)\dot q - \partial_{\dot q}D + \tau.

    Args:
        name: a short name, e.g. ``"double_pendulum"``.
        coordinates: names of the generalised coordinates (length n).
        lagrangian: ``L(q, qdot, **parameters)``.
        angles: which coordinates are angles (periodic; models see them as sin/cos);
            default none.
        parameters: physical constants (masses, lengths, g, ...), default none.
        q_low, q_high: the box configurations are sampled from. Default: (−π, π)
            for angles; coordinates that are not angles need it given (sampling
            says so where it is missing).
        energy_scale: what normalises energy errors; default the largest |V(q)|
            over the box, V(q) = −L(q, 0) (the maximum potential energy for the
            usual T − V); where that is 0 or not finite, or there is no box, it
            must be given.
        description: one line for ``lnn systems``.
        dissipation: optional Rayleigh dissipation ``D(q, qdot, **parameters)``
            (friction).
        drive: optional generalized force ``τ(t, **parameters) -> (n,)`` (the
            system's own drive, applied by rollouts of its motion).
        closed_form: optional textbook equations of motion
            ``(q, qdot, **parameters) -> qddot``, written independently of L (tests
            compare the two).
        horizon: seconds the energy protocol integrates by default.
        cartesian_pairs: index pairs (i, j) of coordinates that are the x and y of
            one point in a Euclidean plane; symmetry search proposes a rotation per pair.
        configuration_sampler: ``(key, count, **parameters) -> q`` of shape
            ``(count, n)`` inside the box, where uniform in the box is wrong
            (e.g. an annulus around a 1/r singularity).
        motion_sampler: ``(key, count, **parameters) -> (q, qdot)``, initial states
            whose motions stay in the domain for several seconds, where random
            states rarely do.
        rebuild: ``(**parameters) -> System``, how a built-in system is made again
            with other parameters (so that derived values follow); default: the
            same system with the new parameters and the default scale re-derived.
        bodies: ``(q, **parameters) -> positions``, shape ``(k, 2)``: where the
            system's k point masses are in a Euclidean plane at configuration q
            (what a camera sees; :meth:`body_positions`).
        body_masses: the k masses, in the order of ``bodies``.
        rods: index pairs (i, j) of bodies joined by a rod or a spring; index −1
            is the fixed pivot at the origin.
    """

    name: str = eqx.field(static=True)
    coordinates: tuple[str, ...] = eqx.field(static=True)
    lagrangian_fn: Callable[..., Array] = eqx.field(static=True)
    angles: tuple[bool, ...] = eqx.field(static=True)
    parameter_items: tuple[tuple[str, float], ...] = eqx.field(static=True)
    q_low: tuple[float, ...] | None = eqx.field(static=True)
    q_high: tuple[float, ...] | None = eqx.field(static=True)
    given_energy_scale: float | None = eqx.field(static=True)
    derived_energy_scale: float | None = eqx.field(static=True)
    description: str = eqx.field(static=True)
    dissipation_fn: Callable[..., Array] | None = eqx.field(static=True)
    drive_fn: Callable[..., Array] | None = eqx.field(static=True)
    closed_form_fn: Callable[..., Array] | None = eqx.field(static=True)
    horizon: float = eqx.field(static=True)
    cartesian_pairs: tuple[tuple[int, int], ...] = eqx.field(static=True)
    configuration_sampler: Callable[..., Array] | None = eqx.field(static=True)
    motion_sampler: Callable[..., tuple[Array, Array]] | None = eqx.field(static=True)
    rebuild: Callable[..., System] | None = eqx.field(static=True)
    bodies_fn: Callable[..., Array] | None = eqx.field(static=True)
    body_masses: tuple[float, ...] = eqx.field(static=True)
    rods: tuple[tuple[int, int], ...] = eqx.field(static=True)

    def __init__(
        self,
        name: str,
        coordinates: Sequence[str],
        lagrangian: Callable[..., Array],
        *,
        angles: Sequence[bool] | None = None,
        parameters: Mapping[str, float] | None = None,
        q_low: Sequence[float] | None = None,
        q_high: Sequence[float] | None = None,
        energy_scale: float | None = None,
        description: str = "",
        dissipation: Callable[..., Array] | None = None,
        drive: Callable[..., Array] | None = None,
        closed_form: Callable[..., Array] | None = None,
        horizon: float = 100.0,
        cartesian_pairs: Sequence[tuple[int, int]] = (),
        configuration_sampler: Callable[..., Array] | None = None,
        motion_sampler: Callable[..., tuple[Array, Array]] | None = None,
        rebuild: Callable[..., System] | None = None,
        bodies: Callable[..., Array] | None = None,
        body_masses: Sequence[float] = (),
        rods: Sequence[tuple[int, int]] = (),
    ):
        coordinates = tuple(str(c) for c in coordinates)
        n = len(coordinates)
        if n == 0:
            raise ConfigurationError(f"system {name!r} needs at least one coordinate name.")
        if not callable(lagrangian):
            raise ConfigurationError(f"system {name!r}: the Lagrangian must be a function L(q, qdot, **parameters).")
        angles = (False,) * n if angles is None else tuple(bool(a) for a in angles)
        if len(angles) != n:
            raise ConfigurationError(f"system {name!r}: angles has {len(angles)} entries for {n} coordinates.")
        q_low, q_high = _box(name, coordinates, angles, q_low, q_high)
        self.name = name
        self.coordinates = coordinates
        self.lagrangian_fn = lagrangian
        self.angles = angles
        self.parameter_items = tuple((str(k), v) for k, v in (parameters or {}).items())
        self.q_low, self.q_high = q_low, q_high
        self.description = description
        self.dissipation_fn = dissipation
        self.drive_fn = drive
        self.closed_form_fn = closed_form
        self.horizon = float(horizon)
        self.cartesian_pairs = tuple((int(i), int(j)) for i, j in cartesian_pairs)
        self.configuration_sampler = configuration_sampler
        self.motion_sampler = motion_sampler
        self.rebuild = rebuild
        if (bodies is None) != (len(body_masses) == 0):
            raise ConfigurationError(f"system {name!r}: give bodies and body_masses together, or neither.")
        self.bodies_fn = bodies
        self.body_masses = tuple(float(m) for m in body_masses)
        self.rods = tuple((int(i), int(j)) for i, j in rods)
        if any(not -1 <= i < len(self.body_masses) for pair in self.rods for i in pair):
            raise ConfigurationError(f"system {name!r}: a rod joins a body that is not there ({self.rods}).")
        self.given_energy_scale = None if energy_scale is None else float(energy_scale)
        self.derived_energy_scale = None if energy_scale is not None else self._derive_energy_scale()

    # -- what the system is ------------------------------------------------------------------

    @property
    def dof(self) -> int:
        """Number of degrees of freedom n."""
        return len(self.coordinates)

    @property
    def parameters(self) -> dict[str, float]:
        """The physical constants, as a new dict."""
        return dict(self.parameter_items)

    @property
    def energy_scale(self) -> float:
        """The energy that normalises energy errors (given, or derived from the potential over the box)."""
        scale = self.given_energy_scale if self.given_energy_scale is not None else self.derived_energy_scale
        if scale is None:
            raise ConfigurationError(
                f"system {self.name!r} has no energy scale: its potential is zero or unbounded over the box, or "
                "it has no box; pass energy_scale= (a typical energy, e.g. the largest potential energy)."
            )
        return scale

    @property
    def conservative(self) -> bool:
        """True when nothing but L acts (no friction, no drive): the energy is then conserved."""
        return self.dissipation_fn is None and self.drive_fn is None

    def lagrangian(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, ""]:
        """L(q, q̇) of one state."""
        return self.lagrangian_fn(q, qdot, **self.parameters)

    def dissipation(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, ""]:
        """Rayleigh dissipation D(q, q̇) of one state (0 for a system without friction)."""
        if self.dissipation_fn is None:
            return jnp.zeros((), dtype=jnp.result_type(qdot.dtype, float))
        return self.dissipation_fn(q, qdot, **self.parameters)

    def drive(self, t: float | Real[ArrayLike, ""]) -> Float[Array, " n"]:
        """The generalized force τ(t) of the system's own drive (0 for an undriven system)."""
        if self.drive_fn is None:
            return jnp.zeros((self.dof,), dtype=jnp.result_type(jnp.asarray(t).dtype, float))
        return self.drive_fn(t, **self.parameters)

    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        """q̈ of one state from M q̈ = ∂L/∂q − (∂²L/∂q∂q̇) q̇ − ∂D/∂q̇ + τ.

        ``force`` is the generalized force τ at that instant (``self.drive(t)`` for
        the system's own drive); without it the drive is off.
        """
        dissipation = None if self.dissipation_fn is None else self.dissipation
        return lagrangian_acceleration(self.lagrangian, q, qdot, dissipation=dissipation, force=force)

    def closed_form_accelerations(self, q: States, qdot: States) -> Float[Array, "... n"]:
        """q̈ from the textbook equations of motion (without the drive), batched over leading axes."""
        if self.closed_form_fn is None:
            raise ConfigurationError(f"system {self.name!r} was given no closed-form equations of motion.")
        q, qdot = as_state(q, qdot)
        fn, params = self.closed_form_fn, self.parameters
        return jnp.vectorize(lambda a, b: fn(a, b, **params), signature="(n),(n)->(n)")(q, qdot)

    def energy(self, q: States, qdot: States) -> Float[Array, "..."]:
        """True energy E(q, q̇) = q̇·∂L/∂q̇ − L, batched over leading axes."""
        return energy(self.lagrangian, q, qdot)

    def potential(self, q: States) -> Float[Array, "..."]:
        """V(q) = −L(q, 0) (the potential for Lagrangians T − V with T vanishing at rest); batched."""
        q = jnp.asarray(q, dtype=jnp.result_type(jnp.asarray(q).dtype, float))
        return -jnp.vectorize(lambda a: self.lagrangian(a, jnp.zeros_like(a)), signature="(n)->()")(q)

    def body_positions(self, q: States) -> Float[Array, "... k 2"]:
        """Positions (x, y) in a plane of the system's k point masses at configurations ``q`` (``(..., n)``).

        The masses are :attr:`body_masses`; :attr:`rods` says which bodies a rod
        joins (−1: the pivot at the origin). A system given no ``bodies`` raises
        :class:`~lnn.errors.ConfigurationError`.
        """
        if self.bodies_fn is None:
            raise ConfigurationError(
                f"system {self.name!r} has no body positions (it was given no bodies=...); the built-in "
                "pendulum, double_pendulum, spring and two_body have them."
            )
        q = jnp.asarray(q, dtype=jnp.result_type(jnp.asarray(q).dtype, float))
        fn, params = self.bodies_fn, self.parameters
        return jnp.vectorize(lambda a: fn(a, **params), signature="(n)->(k,d)")(q)

    def with_parameters(self, **changes: float) -> System:
        """The same system with some parameters changed (derived values such as the energy scale follow)."""
        unknown = set(changes) - set(self.parameters)
        if unknown:
            raise ConfigurationError(
                f"{self.name} has no parameter(s) {sorted(unknown)}; it has {sorted(self.parameters) or 'none'}."
            )
        parameters = {**self.parameters, **changes}
        if self.rebuild is not None:
            return self.rebuild(**parameters)
        return type(self)(
            self.name,
            self.coordinates,
            self.lagrangian_fn,
            angles=self.angles,
            parameters=parameters,
            q_low=self.q_low,
            q_high=self.q_high,
            energy_scale=self.given_energy_scale,
            description=self.description,
            dissipation=self.dissipation_fn,
            drive=self.drive_fn,
            closed_form=self.closed_form_fn,
            horizon=self.horizon,
            cartesian_pairs=self.cartesian_pairs,
            configuration_sampler=self.configuration_sampler,
            motion_sampler=self.motion_sampler,
            bodies=self.bodies_fn,
            body_masses=self.body_masses,
            rods=self.rods,
        )

    # -- where its states lie ---------------------------------------------------------------

    def sample_configurations(self, key: Array, n: int) -> Float[Array, "n dof"]:
        """Configurations q uniform in the box ``[q_low, q_high)``, or from the system's own sampler."""
        if self.configuration_sampler is not None:
            return self.configuration_sampler(key, n, **self.parameters)
        if self.q_low is None or self.q_high is None:
            lengths = [c for c, a in zip(self.coordinates, self.angles, strict=True) if not a]
            raise ConfigurationError(
                f"system {self.name!r} has no box to sample configurations from for its coordinates "
                f"{', '.join(lengths)}; pass q_low=... and q_high=... (one bound per coordinate)."
            )
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
        fraction = jax.random.uniform(kt, (n,), dtype=q.dtype)
        return q, _velocities(self, q, u, fraction, jnp.asarray(e_max, dtype=q.dtype))

    def _configurations_below(self, key: Array, n: int, e_max: float) -> Float[Array, "n dof"]:
        """n configurations from the box with V(q) ≤ e_max (rejection sampling).

        The first n draws use ``key`` itself, so when none is rejected (the default
        bound lies above every potential energy) the states are those of a plain
        uniform draw.
        """
        q = self.sample_configurations(key, n)
        accepted = [q[_potential(self, q) <= e_max]]
        count = accepted[0].shape[0]
        for attempt in range(64):
            if count >= n:
                return jnp.concatenate(accepted)[:n]
            candidates = self.sample_configurations(jax.random.fold_in(key, attempt), max(n, 256))
            accepted.append(candidates[_potential(self, candidates) <= e_max])
            count += accepted[-1].shape[0]
        raise DataError(
            f"max_energy={e_max:g} is below the potential energy of almost every configuration of "
            f"{self.name}; raise it (the potential spans about ±{self.energy_scale:g})."
        )

    def sample_near_rest(
        self, key: Array, n: int, *, speed: float | Float[Array, ""] = 0.0
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
            "parameters": self.parameters,
            "energy_scale": self.energy_scale,
        }

    def _derive_energy_scale(self) -> float | None:
        """max |V(q)| over configurations drawn from the box (fixed key); None where it is 0, not finite, or
        there is no box."""
        if self.configuration_sampler is None and (self.q_low is None or self.q_high is None):
            return None
        with jax.ensure_compile_time_eval():
            q = self.sample_configurations(jax.random.key(0), _SCALE_SAMPLES)
            scale = float(np.max(np.abs(np.asarray(_potential(self, q)))))
        return scale if math.isfinite(scale) and scale > 0 else None


# Sampling runs these compiled: op by op, the batched Hessians take seconds per call. A system
# has no array leaves, so it is a static argument, hashed by its fields.
@eqx.filter_jit
def _potential(system: System, q: Array) -> Array:
    return system.potential(q)


@eqx.filter_jit
def _velocities(system: System, q: Array, u: Array, fraction: Array, e_max: Array) -> Array:
    """u scaled to kinetic energy ``fraction`` × (E_max − V(q)) (see :meth:`System.sample_states`)."""
    M = mass_matrix(system.lagrangian, q, jnp.zeros_like(q))
    kinetic = fraction * jnp.clip(e_max - system.potential(q), 0.0)
    uMu = jnp.einsum("bi,bij,bj->b", u, M, u)
    return u * jnp.sqrt(2.0 * kinetic / uMu)[:, None]


def _box(name, coordinates, angles, q_low, q_high) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """The sampling box: as given (checked), or (−π, π) for angles; None where a length has no bounds."""
    n = len(coordinates)
    if (q_low is None) != (q_high is None):
        raise ConfigurationError(f"system {name!r}: give both q_low and q_high, or neither.")
    if q_low is None:
        if not all(angles):
            return None, None
        return (-math.pi,) * n, (math.pi,) * n
    low, high = tuple(float(x) for x in q_low), tuple(float(x) for x in q_high)
    if len(low) != n or len(high) != n:
        raise ConfigurationError(f"system {name!r}: q_low and q_high need one bound per coordinate ({n}).")
    if not all(lo < hi for lo, hi in zip(low, high, strict=True)):
        raise ConfigurationError(f"system {name!r}: every q_low must be below its q_high; got {low} and {high}.")
    return low, high
