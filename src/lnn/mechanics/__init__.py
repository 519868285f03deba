r"""Mechanics of any Lagrangian :math:`L(q, \dot q)`: the Euler–Lagrange equations and what follows.

The bottom layer of lnn (no neural code): the abstract model types
(:class:`AbstractDynamics`, :class:`AbstractLagrangian`,
:class:`AbstractPhaseSpaceModel`), dynamics of plain functions
(:class:`EulerLagrange`, :class:`FunctionDynamics`), and functions of a
Lagrangian batched over leading axes — accelerations, energy, momenta, the mass
matrix and its health, Rayleigh dissipation.

Physics here is meant to run in float64 (second derivatives and a linear solve
lose digits fast in float32): enable it with
``jax.config.update("jax_enable_x64", True)``; ``import lnn`` does not.
"""

from lnn.mechanics._dynamics import (
    AbstractDynamics,
    AbstractLagrangian,
    AbstractPhaseSpaceModel,
    EulerLagrange,
    FunctionDynamics,
)
from lnn.mechanics._euler_lagrange import (
    Dissipation,
    Lagrangian,
    as_force,
    as_state,
    generalized_force,
    lagrangian_acceleration,
    lagrangian_terms,
)
from lnn.mechanics._quantities import (
    MassMatrixReport,
    accelerations,
    as_lagrangian,
    check_mass_matrix,
    damping_rates,
    dissipated_power,
    energy,
    mass_matrix,
    mass_matrix_report,
    momenta,
    rayleigh,
)
from lnn.mechanics._solve import (
    CG,
    CG_FROM_DOF,
    LU,
    Cholesky,
    LinearSolver,
    check_linear_solver,
    default_linear_solver,
    is_matrix_free,
    solve_matrix,
    solve_products,
)

__all__ = [
    "CG",
    "CG_FROM_DOF",
    "LU",
    "AbstractDynamics",
    "AbstractLagrangian",
    "AbstractPhaseSpaceModel",
    "Cholesky",
    "Dissipation",
    "EulerLagrange",
    "FunctionDynamics",
    "Lagrangian",
    "LinearSolver",
    "MassMatrixReport",
    "accelerations",
    "as_force",
    "as_lagrangian",
    "as_state",
    "check_linear_solver",
    "check_mass_matrix",
    "damping_rates",
    "default_linear_solver",
    "dissipated_power",
    "energy",
    "generalized_force",
    "is_matrix_free",
    "lagrangian_acceleration",
    "lagrangian_terms",
    "mass_matrix",
    "mass_matrix_report",
    "momenta",
    "rayleigh",
    "solve_matrix",
    "solve_products",
]
