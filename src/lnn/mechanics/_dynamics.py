r"""What a model of a mechanical system is: abstract Equinox modules, and two concrete ones for functions.

* :class:`AbstractDynamics` — second-order dynamics q̈ = f(q, q̇, τ) of n
  coordinates, τ a generalized force. Everything that is rolled out, trained or
  evaluated is one: the built-in systems, every lnn model, a user's function.
* :class:`AbstractLagrangian` — dynamics that are the Euler–Lagrange equations of
  its :meth:`~AbstractLagrangian.lagrangian` L(q, q̇) (plus whatever
  non-conservative forces the model itself adds, e.g. friction). Energy, momenta,
  the mass matrix and Noether charges are taken of L.
* :class:`AbstractPhaseSpaceModel` — dynamics integrated in the model's own phase
  space (q, s), s a momentum-like state (a Hamiltonian network: s = p).

Integrators step every dynamics in its phase space: :meth:`AbstractDynamics.encode`
maps (q, q̇) to (q, s), :meth:`~AbstractDynamics.phase_field` gives (q̇, ṡ),
:meth:`~AbstractDynamics.decode` maps back. A second-order model has s = q̇ and
needs none of these; a phase-space model defines them. Training fits
:meth:`~AbstractDynamics.derivative` (ṡ, or (q̇, ṡ) where q̇ is predicted too)
against :meth:`~AbstractDynamics.derivative_target` computed from the data.

Models are not callable: ``model.lagrangian(q, qdot)`` is L,
``model.acceleration(q, qdot)`` is q̈. Everything here takes one state, shapes
``(n,)``; ``accelerations`` takes a batch ``(B, n)``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from lnn.errors import ModelTypeError
from lnn.mechanics._euler_lagrange import Dissipation, Lagrangian, lagrangian_acceleration
from lnn.mechanics._solve import LinearSolver


def _batched(fn, q, qdot, force):
    if force is None:
        return jax.vmap(lambda a, b: fn(a, b))(q, qdot)
    return jax.vmap(fn)(q, qdot, force)


class AbstractDynamics(eqx.Module):
    """Second-order dynamics q̈ = f(q, q̇, τ) of :attr:`dof` coordinates (see the module docstring)."""

    @property
    @abc.abstractmethod
    def dof(self) -> int | None:
        """Number of coordinates n (None for a model that takes any number, e.g. of a field's grid points)."""

    @property
    def takes_force(self) -> bool:
        """Whether :meth:`acceleration` accepts a generalized force τ (driven systems)."""
        return True

    @abc.abstractmethod
    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        """q̈ at one state, under the generalized force ``force`` (τ, shape ``(n,)``) if given."""

    def accelerations(
        self, q: Float[ArrayLike, "B n"], qdot: Float[ArrayLike, "B n"], force: Float[ArrayLike, "B n"] | None = None
    ) -> Float[Array, "B n"]:
        """:meth:`acceleration` for a batch of states (a model may override it with a faster batched path)."""
        return _batched(self.acceleration, q, qdot, force)

    def config(self) -> dict[str, Any]:
        """The architecture as JSON data, from which the model's class rebuilds it (:mod:`lnn.io` files).

        Learned models define it; dynamics without a saved form (a system, a function) say so.
        """
        raise ModelTypeError(
            f"{type(self).__name__} has no saved form: only lnn's learned models can be written to a model file."
        )

    # -- phase space: what integrators step --------------------------------------------------

    def encode(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, " n"]:
        """The model's own state s at (q, q̇); s = q̇ for second-order dynamics."""
        return qdot

    def phase_field(
        self, q: Float[Array, " n"], s: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
        """(q̇, ṡ) at (q, s); for second-order dynamics (s, q̈)."""
        return s, self.acceleration(q, s, force)

    def decode(self, q: Float[Array, " n"], s: Float[Array, " n"]) -> Float[Array, " n"]:
        """The velocity q̇ the model reports at (q, s); s itself for second-order dynamics."""
        return s

    # -- what training fits ------------------------------------------------------------------

    def derivative(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " k"]:
        """The time derivatives the model predicts at (q, q̇): q̈ for second-order dynamics."""
        return self.acceleration(q, qdot, force)

    def derivatives(
        self, q: Float[Array, "B n"], qdot: Float[Array, "B n"], force: Float[Array, "B n"] | None = None
    ) -> Float[Array, "B k"]:
        """:meth:`derivative` for a batch (through :meth:`accelerations` for second-order dynamics)."""
        return self.accelerations(q, qdot, force)

    def derivative_target(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], qddot: Float[Array, " n"]
    ) -> Float[Array, " k"]:
        """What :meth:`derivative` should equal, from the data's (q, q̇, q̈): q̈ itself here."""
        return qddot


class AbstractLagrangian(AbstractDynamics):
    r"""Dynamics given by a Lagrangian: M q̈ = ∂L/∂q − (∂²L/∂q∂q̇) q̇ + Q + τ, M = ∂²L/∂q̇².

    Q is the model's own non-conservative force (none by default; friction for
    :class:`lnn.Dissipative`). Subclasses define :meth:`lagrangian`; the default
    :meth:`acceleration` differentiates it (a model that knows more, e.g. an MLP's
    analytic derivatives, overrides it with the same numbers, faster). Without Q
    and τ the dynamics conserve the energy E = q̇·∂L/∂q̇ − L.
    """

    @abc.abstractmethod
    def lagrangian(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, ""]:
        """L(q, q̇) of one state."""

    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        return lagrangian_acceleration(self.lagrangian, q, qdot, force=force)


class AbstractPhaseSpaceModel(AbstractDynamics):
    r"""Dynamics integrated in the model's own phase space (q, s) (e.g. s = p for a Hamiltonian).

    Subclasses define :meth:`encode`, :meth:`phase_field` and :meth:`decode`. The
    q̈ it implies is d/dt of its reported velocity along its own flow; training
    fits (q̇, ṡ) against the data's (q̇, d/dt s(q, q̇)), ṡ by the chain rule
    (∂s/∂q) q̇ + (∂s/∂q̇) q̈.
    """

    @abc.abstractmethod
    def encode(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, " n"]: ...

    @abc.abstractmethod
    def phase_field(
        self, q: Float[Array, " n"], s: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> tuple[Float[Array, " n"], Float[Array, " n"]]: ...

    @abc.abstractmethod
    def decode(self, q: Float[Array, " n"], s: Float[Array, " n"]) -> Float[Array, " n"]: ...

    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        s = self.encode(q, qdot)
        _, qddot = jax.jvp(self.decode, (q, s), self.phase_field(q, s, force))
        return qddot

    def derivative(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " k"]:
        """The predicted (q̇, ṡ) at the state (q, q̇), shape ``(2n,)``."""
        return jnp.concatenate(self.phase_field(q, self.encode(q, qdot), force))

    def derivatives(
        self, q: Float[Array, "B n"], qdot: Float[Array, "B n"], force: Float[Array, "B n"] | None = None
    ) -> Float[Array, "B k"]:
        return _batched(self.derivative, q, qdot, force)

    def derivative_target(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], qddot: Float[Array, " n"]
    ) -> Float[Array, " k"]:
        _, sdot = jax.jvp(self.encode, (q, qdot), (qdot, qddot))
        return jnp.concatenate([qdot, sdot])


class EulerLagrange(AbstractLagrangian):
    """The dynamics of a Lagrangian function ``L(q, qdot)`` of ``dof`` coordinates, with an optional
    dissipation ``D(q, qdot)`` and a chosen linear solver (see :mod:`lnn.mechanics`).

    What a plain function becomes wherever dynamics are expected (``lnn.rollout(L, ...)``).
    """

    # Not static: a bound method of a model carries its arrays, which must stay traced.
    fn: Lagrangian
    n: int = eqx.field(static=True)
    dissipation: Dissipation | None = None
    linear_solver: LinearSolver | None = eqx.field(static=True, default=None)

    @property
    def dof(self) -> int:
        return self.n

    def lagrangian(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, ""]:
        return self.fn(q, qdot)

    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        return lagrangian_acceleration(
            self.fn, q, qdot, dissipation=self.dissipation, force=force, linear_solver=self.linear_solver
        )


class FunctionDynamics(AbstractDynamics):
    """Dynamics given by a function: ``fn(q, qdot) -> qddot``, or ``fn(q, qdot, force)`` with
    ``takes_force=True``, for ``dof`` coordinates (e.g. a textbook equation of motion to roll out)."""

    fn: Callable[..., Array]
    n: int = eqx.field(static=True)
    force_argument: bool = eqx.field(static=True, default=False)

    @property
    def dof(self) -> int:
        return self.n

    @property
    def takes_force(self) -> bool:
        return self.force_argument

    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        if not self.force_argument:
            if force is not None:
                raise ModelTypeError(
                    "this FunctionDynamics takes no generalized force; build it with "
                    "force_argument=True and a function fn(q, qdot, force)."
                )
            return self.fn(q, qdot)
        return self.fn(q, qdot, jnp.zeros_like(q) if force is None else force)
