"""Models that present one dynamics interface, ``model.acceleration(q, qdot)``.

* :class:`LagrangianNN` — learns L(q, q̇); q̈ from Euler–Lagrange.
* :class:`StructuredLagrangian` — learns M(q) = CCᵀ + εI and V(q); L = ½ q̇ᵀMq̇ − V.
* :class:`Baseline` — learns q̈ directly (black box).
* :class:`Dissipative` — a Lagrangian model with learned friction
  (:class:`RayleighDissipation`); see :func:`with_dissipation`.
* :class:`HamiltonianNN` — learns H(q, p); integrates its own phase space (q, p)
  (``encode``/``phase_field``/``decode``) and also reports the q̈ it implies.
"""

from typing import Any

import jax

from lnn.models.baseline import Baseline
from lnn.models.dissipation import Dissipative, RayleighDissipation, with_dissipation
from lnn.models.hamiltonian import HamiltonianNN
from lnn.models.lagrangian import LagrangianNN
from lnn.models.structured import StructuredLagrangian

KINDS = {"LagrangianNN": LagrangianNN, "StructuredLagrangian": StructuredLagrangian, "Baseline": Baseline,
         "Dissipative": Dissipative, "HamiltonianNN": HamiltonianNN}


def from_config(config: dict[str, Any]):
    """A model with the architecture in ``config`` (weights are placeholders to load into)."""
    config = dict(config)
    kind = config.pop("kind", None)
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(KINDS)}.")
    if hasattr(KINDS[kind], "from_config"):  # composite models rebuild their parts
        return KINDS[kind].from_config(config)
    config["angles"] = tuple(config["angles"])
    return KINDS[kind](key=jax.random.key(0), **config)


__all__ = ["Baseline", "Dissipative", "HamiltonianNN", "LagrangianNN", "KINDS", "RayleighDissipation",
           "StructuredLagrangian", "from_config", "with_dissipation"]
