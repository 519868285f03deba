"""The one check lnn makes of JAX's precision setting: it never changes it.

The Euler–Lagrange equations take second derivatives and solve a linear system,
and the true motions lnn integrates are meant to rtol = 1e-10; both need
float64. ``import lnn`` leaves JAX's configuration alone (as JAX MD does): the
``lnn`` command enables float64 for itself, and a library user enables it with
``jax.config.update("jax_enable_x64", True)`` before creating arrays. Code whose
stated accuracy needs it calls :func:`warn_if_float32`, which warns once.
"""

from __future__ import annotations

import warnings

import jax

from lnn.errors import PrecisionWarning

_MESSAGE = (
    "JAX is running in float32, so {what} is accurate to about 1e-6 relative, not to the 1e-10 lnn "
    "states for it; call jax.config.update('jax_enable_x64', True) at the start of your program "
    "(the `lnn` command does)."
)


def float64_enabled() -> bool:
    """Whether JAX creates float64 arrays (``jax_enable_x64``)."""
    return bool(jax.config.read("jax_enable_x64"))


def warn_if_float32(what: str) -> None:
    """Warn (:class:`~lnn.errors.PrecisionWarning`, once per ``what``) if float64 is off."""
    if not float64_enabled():
        # Attributed to the lnn function that needs float64, whatever called it: Python's default
        # filter then shows each message once.
        warnings.warn(_MESSAGE.format(what=what), PrecisionWarning, stacklevel=2)
