r"""A drive signal for driven recordings: generalized forces that are sums of sines.

    τ_i(t) = Σ_k A_ki sin(ω_k t + φ_ki),

k over a few angular frequencies ω_k (rad/s), i over the coordinates.
:meth:`SineDrive.random` draws the phases φ uniformly in [0, 2π), so every
motion of a recording can be pushed by its own signal of the same spectrum
(:func:`~lnn.observed.simulate`'s ``force``), and a held-out recording by a new
one. Its array fields are traced, so rolling out many such drives compiles once.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from lnn.errors import ConfigurationError


class SineDrive(eqx.Module):
    """τ(t) = Σ_k A_k ⊙ sin(ω_k t + φ_k): amplitudes and phases ``(K, n)``, angular frequencies ``(K,)``."""

    amplitude: Float[Array, "K n"]
    frequency: Float[Array, " K"]
    phase: Float[Array, "K n"]

    def __check_init__(self):
        if self.amplitude.ndim != 2 or self.phase.shape != self.amplitude.shape:
            raise ConfigurationError(
                f"a SineDrive needs amplitudes and phases of one shape (K, n); got {self.amplitude.shape} "
                f"and {self.phase.shape}."
            )
        if self.frequency.shape != self.amplitude.shape[:1]:
            raise ConfigurationError(
                f"a SineDrive needs one frequency per row of amplitudes ({self.amplitude.shape[0]}); "
                f"got {self.frequency.shape}."
            )

    @property
    def dof(self) -> int:
        return self.amplitude.shape[1]

    def __call__(self, t: Real[ArrayLike, ""]) -> Float[Array, " n"]:
        """τ at time ``t``, shape ``(n,)``."""
        t = jnp.asarray(t, dtype=self.frequency.dtype)
        return jnp.sum(self.amplitude * jnp.sin(self.frequency[:, None] * t + self.phase), axis=0)

    @classmethod
    def random(
        cls,
        key: jax.Array,
        dof: int,
        *,
        amplitude: float | Sequence[float] = 1.0,
        frequencies: Sequence[float] = (0.7, 1.9, 3.1),
    ) -> SineDrive:
        """A drive of ``len(frequencies)`` sines per coordinate with uniformly random phases.

        ``amplitude``: of each sine, one number or one per coordinate (so the
        RMS of τ_i is amplitude_i · √(K/2)); ``frequencies``: ω_k in rad/s.
        """
        omega = np.asarray(frequencies, dtype=float)
        amp = np.asarray(amplitude, dtype=float)
        amp = np.full(dof, float(amp)) if amp.ndim == 0 else amp
        if dof < 1 or omega.ndim != 1 or omega.size < 1 or amp.shape != (dof,):
            raise ConfigurationError(
                f"a random SineDrive needs dof >= 1, at least one frequency and one amplitude or one per "
                f"coordinate; got dof={dof}, frequencies={tuple(frequencies)}, amplitude={amplitude}."
            )
        dtype = jnp.result_type(float)
        phase = jax.random.uniform(key, (omega.size, dof), dtype=dtype, maxval=2 * jnp.pi)
        return cls(jnp.asarray(np.tile(amp, (omega.size, 1)), dtype=dtype), jnp.asarray(omega, dtype=dtype), phase)
