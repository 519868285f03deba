"""Ground-truth systems, one small file each, looked up by name.

>>> import lnn
>>> lnn.systems.names()
['damped_pendulum', 'double_pendulum', 'kepler', 'kepler_polar', 'magnetic_particle', 'pendulum',
 'relativistic', 'spherical_pendulum', 'spring', 'spring_chain', 'triple_pendulum', 'two_body', 'wave']
>>> lnn.systems.get("double_pendulum").dof
2
"""

from collections.abc import Callable

from lnn.errors import UnknownSystemError
from lnn.systems import (
    damped_pendulum,
    double_pendulum,
    kepler,
    kepler_polar,
    magnetic,
    pendulum,
    relativistic,
    spherical_pendulum,
    spring,
    spring_chain,
    triple_pendulum,
    two_body,
    wave,
)
from lnn.systems.base import System

_REGISTRY: dict[str, Callable[..., System]] = {
    "damped_pendulum": damped_pendulum.make,
    "double_pendulum": double_pendulum.make,
    "kepler": kepler.make,
    "kepler_polar": kepler_polar.make,
    "pendulum": pendulum.make,
    "relativistic": relativistic.make,
    "spring": spring.make,
    "spring_chain": spring_chain.make,
    "two_body": two_body.make,
    "magnetic_particle": magnetic.make,
    "spherical_pendulum": spherical_pendulum.make,
    "triple_pendulum": triple_pendulum.make,
    "wave": wave.make,
}
_ALIASES = {"harmonic_oscillator": "spring", "double-pendulum": "double_pendulum", "chain": "spring_chain",
            "fput": "spring_chain"}


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
        raise ValueError(f"bad parameters for {key}: {err}") from None


__all__ = ["System", "get", "names"]
