"""Coordinates that are angles: differences wrapped to (−π, π], circular spreads, unwrapping.

Shared by everything that compares positions (metrics, recordings, trajectory
matching), so that an angle of π and one of −π are the same configuration
everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike


def wrapped_difference(
    a: ArrayLike | Sequence[Any], b: ArrayLike | Sequence[Any], angles: Sequence[bool]
) -> np.ndarray:
    """a − b, with the differences of angle coordinates (last axis) wrapped to (−π, π]."""
    d = np.asarray(a) - np.asarray(b)
    with np.errstate(invalid="ignore"):  # inf/NaN of a blown-up rollout stay NaN
        wrapped = np.mod(d + np.pi, 2 * np.pi) - np.pi
    return np.where(np.asarray(angles, dtype=bool), wrapped, d)


def wrap_differences(d: Array, angles: Sequence[bool] | Array) -> Array:
    """Differences ``d`` with those of angle coordinates (last axis) wrapped to (−π, π]: the traceable
    (``jax.numpy``) form of :func:`wrapped_difference`, for losses and other compiled code."""
    return jnp.where(jnp.asarray(angles, dtype=bool), jnp.mod(d + jnp.pi, 2 * jnp.pi) - jnp.pi, d)


def spread(q: ArrayLike, angles: Sequence[bool]) -> np.ndarray:
    """Per coordinate, the standard deviation of ``q`` ``(N, n)`` about its mean, shape ``(n,)`` (+1e-12).

    For angles the deviations are taken about the circular mean and wrapped to
    (−π, π], so a pendulum that goes over the top does not count its turns.
    """
    q = np.asarray(q, dtype=float)
    is_angle = np.asarray(angles, dtype=bool)
    circular = np.arctan2(np.mean(np.sin(q), axis=0), np.mean(np.cos(q), axis=0))
    centre = np.where(is_angle, circular, np.mean(q, axis=0))
    return np.std(wrapped_difference(q, centre, angles), axis=0) + 1e-12


def unwrap_angles(q: ArrayLike, angles: Sequence[bool]) -> np.ndarray:
    """``q`` of one trajectory ``(m, n)`` with the angle columns made continuous (no 2π jumps)."""
    q = np.asarray(q)
    is_angle = np.asarray(angles, dtype=bool)
    return np.where(is_angle, np.unwrap(q, axis=0), q) if is_angle.any() else q
