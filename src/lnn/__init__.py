"""lnn — Lagrangian Neural Networks in JAX.

Learn the Lagrangian L(q, q̇) of a mechanical system from recordings of its
motion; the accelerations come from the Euler–Lagrange equations, so the learned
dynamics conserve the learned energy by construction.

The main workflow is here at the top level; the layers below (``lnn.mechanics``,
``lnn.systems``, ``lnn.models``, ``lnn.integrate``, ``lnn.data``,
``lnn.training``, ``lnn.observed``, ``lnn.metrics``, ``lnn.symmetry``,
``lnn.distillation``) hold the rest.

Precision: physics in lnn is meant to run in float64. ``import lnn`` leaves
JAX's configuration alone; enable float64 yourself at the start of a program
with ``jax.config.update("jax_enable_x64", True)`` (the ``lnn`` command does).
Where float64 is off and it matters, lnn warns once (:class:`lnn.errors.PrecisionWarning`).
"""

from importlib import metadata as _metadata

from lnn import errors, systems
from lnn.data import Dataset, random_states, trajectories
from lnn.distillation import Distilled, distill
from lnn.errors import PrecisionWarning
from lnn.integrate import RK4, rollout
from lnn.mechanics import (
    AbstractDynamics,
    AbstractLagrangian,
    AbstractPhaseSpaceModel,
    EulerLagrange,
    FunctionDynamics,
    accelerations,
    check_mass_matrix,
    energy,
    mass_matrix,
    mass_matrix_report,
    momenta,
)
from lnn.metrics import Protocol, evaluate
from lnn.models import (
    BlackBox,
    Dissipative,
    HamiltonianNN,
    LagrangianDensity,
    LagrangianNN,
    LocalBlackBox,
    RayleighDissipation,
    StructuredLagrangian,
    with_dissipation,
)
from lnn.observed import Observations, fit_observations
from lnn.symmetry import find_symmetries, noether_charge
from lnn.systems import System
from lnn.training import TrainConfig, build_model, fit

try:
    __version__ = _metadata.version("lnn")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "RK4",
    "AbstractDynamics",
    "AbstractLagrangian",
    "AbstractPhaseSpaceModel",
    "BlackBox",
    "Dataset",
    "Dissipative",
    "Distilled",
    "EulerLagrange",
    "FunctionDynamics",
    "HamiltonianNN",
    "LagrangianDensity",
    "LagrangianNN",
    "LocalBlackBox",
    "Observations",
    "PrecisionWarning",
    "Protocol",
    "RayleighDissipation",
    "StructuredLagrangian",
    "System",
    "TrainConfig",
    "__version__",
    "accelerations",
    "build_model",
    "check_mass_matrix",
    "distill",
    "find_symmetries",
    "energy",
    "errors",
    "evaluate",
    "fit",
    "fit_observations",
    "mass_matrix",
    "mass_matrix_report",
    "momenta",
    "noether_charge",
    "random_states",
    "rollout",
    "systems",
    "trajectories",
    "with_dissipation",
]
