"""Mechanical systems: :class:`System` (any Lagrangian), and the built-in ones, one small file each.

>>> import lnn
>>> lnn.systems.names()
['damped_pendulum', 'double_pendulum', 'kepler', 'kepler_polar', 'magnetic_particle', 'pendulum',
 'relativistic', 'spherical_pendulum', 'spring', 'spring_chain', 'triple_pendulum', 'two_body', 'wave']
>>> lnn.systems.get("double_pendulum").dof
2
"""

from collections.abc import Callable

from lnn.errors import ConfigurationError, UnknownSystemError
from lnn.systems import (
    _damped_pendulum,
    _double_pendulum,
    _kepler,
    _kepler_polar,
    _magnetic,
    _pendulum,
    _relativistic,
    _spherical_pendulum,
    _spring,
    _spring_chain,
    _triple_pendulum,
    _two_body,
    _wave,
)
from lnn.systems._system import System
from lnn.systems._wave import fundamental_period

_REGISTRY: dict[str, Callable[..., System]] = {
    "damped_pendulum": _damped_pendulum.make,
    "double_pendulum": _double_pendulum.make,
    "kepler": _kepler.make,
    "kepler_polar": _kepler_polar.make,
    "magnetic_particle": _magnetic.make,
    "pendulum": _pendulum.make,
    "relativistic": _relativistic.make,
    "spherical_pendulum": _spherical_pendulum.make,
    "spring": _spring.make,
    "spring_chain": _spring_chain.make,
    "triple_pendulum": _triple_pendulum.make,
    "two_body": _two_body.make,
    "wave": _wave.make,
}
_ALIASES = {
    "harmonic_oscillator": "spring",
    "double-pendulum": "double_pendulum",
    "chain": "spring_chain",
    "fput": "spring_chain",
}


def names() -> list[str]:
    """Names of the built-in systems, sorted."""
    return sorted(_REGISTRY)


def get(name: str, **parameters: float) -> System:
    """The built-in system ``name`` with its default (or the given) physical parameters."""
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        raise UnknownSystemError(f"unknown system {name!r}; choose one of: {', '.join(names())}.")
    try:
        return _REGISTRY[key](**parameters)
    except TypeError as err:
        raise ConfigurationError(f"bad parameters for {key}: {err}") from None


__all__ = ["System", "fundamental_period", "get", "names"]
