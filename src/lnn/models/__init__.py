"""Models that present one dynamics interface, ``model.acceleration(q, qdot)``.

* :class:`LagrangianNN` — learns L(q, q̇); q̈ from Euler–Lagrange.
* :class:`StructuredLagrangian` — learns M(q) = CCᵀ + εI and V(q); L = ½ q̇ᵀMq̇ − V.
* :class:`Baseline` — learns q̈ directly (black box).
"""

from typing import Any

import jax

from lnn.models.baseline import Baseline
from lnn.models.lagrangian import LagrangianNN
from lnn.models.structured import StructuredLagrangian

KINDS = {"LagrangianNN": LagrangianNN, "StructuredLagrangian": StructuredLagrangian, "Baseline": Baseline}


def from_config(config: dict[str, Any]):
    """A model with the architecture in ``config`` (weights are placeholders to load into)."""
    config = dict(config)
    kind = config.pop("kind", None)
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(KINDS)}.")
    config["angles"] = tuple(config["angles"])
    return KINDS[kind](key=jax.random.key(0), **config)


__all__ = ["Baseline", "LagrangianNN", "StructuredLagrangian", "KINDS", "from_config"]
