"""Models that present one dynamics interface, ``model.acceleration(q, qdot)``.

* :class:`LagrangianNN` — learns L(q, q̇); q̈ from Euler–Lagrange.
* :class:`Baseline` — learns q̈ directly (black box).
* :class:`HamiltonianNN` — learns H(q, p); integrates its own phase space (q, p)
  (``encode``/``phase_field``/``decode``) and also reports the q̈ it implies.
"""

from typing import Any

import jax

from lnn.models.baseline import Baseline
from lnn.models.hamiltonian import HamiltonianNN
from lnn.models.lagrangian import LagrangianNN

KINDS = {"LagrangianNN": LagrangianNN, "Baseline": Baseline, "HamiltonianNN": HamiltonianNN}


def from_config(config: dict[str, Any]):
    """A model with the architecture in ``config`` (weights are placeholders to load into)."""
    config = dict(config)
    kind = config.pop("kind", None)
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(KINDS)}.")
    config["angles"] = tuple(config["angles"])
    return KINDS[kind](key=jax.random.key(0), **config)


__all__ = ["Baseline", "HamiltonianNN", "LagrangianNN", "KINDS", "from_config"]
