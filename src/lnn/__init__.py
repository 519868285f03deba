"""lnn — Lagrangian Neural Networks in JAX.

Float64 is switched on at import: the Euler–Lagrange equations take second
derivatives and solve a linear system, which lose accuracy quickly in float32.
Models can still be built in float32 (``dtype=jnp.float32``).
"""

import jax

jax.config.update("jax_enable_x64", True)

from lnn import systems  # noqa: E402
from lnn.mechanics import (  # noqa: E402
    accelerations,
    check_mass_matrix,
    dynamics,
    energy,
    mass_matrix,
    mass_matrix_report,
    momenta,
)
from lnn.integrate import rollout  # noqa: E402
from lnn.models import Baseline, HamiltonianNN, LagrangianNN, StructuredLagrangian  # noqa: E402
from lnn.symmetry import noether_charge  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Baseline",
    "HamiltonianNN",
    "LagrangianNN",
    "accelerations",
    "check_mass_matrix",
    "dynamics",
    "energy",
    "mass_matrix",
    "mass_matrix_report",
    "momenta",
    "noether_charge",
    "rollout",
    "StructuredLagrangian",
    "systems",
]
