"""Annotations of what public functions accept, shared by the layers.

A public function converts its array arguments itself (``jnp.asarray``) and checks
their shapes with lnn's own :class:`~lnn.errors.ShapeError`, so it accepts any array
or nested lists of numbers; arrays are annotated with their shape (checked at run
time when the test suite installs jaxtyping's checker), lists pass through to the
function's own checks.
"""

from collections.abc import Sequence
from typing import Any

from jaxtyping import ArrayLike, Real

States = Real[ArrayLike, "... n"] | Sequence[Any]
"""Coordinates, velocities or generalized forces of shape ``(..., n)``; ``n`` is shared by every argument so typed."""

Times = Real[ArrayLike, " T"] | Sequence[Any]
"""Times of shape ``(T,)``."""

TimedForces = Real[ArrayLike, "... T n"] | Sequence[Any]
"""A generalized force at each of ``T`` times, shape ``(..., T, n)``."""
