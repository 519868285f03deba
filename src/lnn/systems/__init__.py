"""Ground-truth systems, one small file each, looked up by name.

>>> import lnn
>>> lnn.systems.names()
['double_pendulum', 'magnetic_particle', 'pendulum', 'spherical_pendulum', 'spring', 'triple_pendulum', 'wave']
>>> lnn.systems.get("double_pendulum").dof
2
"""

from collections.abc import Callable

from lnn.errors import UnknownSystemError
from lnn.systems import (
    double_pendulum,
    magnetic,
    pendulum,
    spherical_pendulum,
    spring,
    triple_pendulum,
    wave,
)
from lnn.systems.base import System

_REGISTRY: dict[str, Callable[..., System]] = {
    "double_pendulum": double_pendulum.make,
    "pendulum": pendulum.make,
    "spring": spring.make,
    "magnetic_particle": magnetic.make,
    "spherical_pendulum": spherical_pendulum.make,
    "triple_pendulum": triple_pendulum.make,
    "wave": wave.make,
}
_ALIASES = {"harmonic_oscillator": "spring", "double-pendulum": "double_pendulum"}


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
