"""From a learned Lagrangian to a formula: a sparse fit of the Euler–Lagrange equations over a SymPy library.

* :func:`distill` — the formula L = Σ ξₖ φₖ whose equations of motion match a
  model's accelerations (:class:`Distilled`: SymPy expression, LaTeX, terms with
  coefficients and standard errors, acceleration errors, the Pareto front, and
  :meth:`Distilled.system`, an :class:`lnn.System` of the formula);
* :func:`build_library` — the candidate terms (:class:`Library`).
"""

from lnn.distillation._distill import DEFAULT_KNEE, DEFAULT_TOLERANCE, Distilled, ParetoPoint, Term, distill
from lnn.distillation._library import Library, build_library

__all__ = [
    "DEFAULT_KNEE",
    "DEFAULT_TOLERANCE",
    "Distilled",
    "Library",
    "ParetoPoint",
    "Term",
    "build_library",
    "distill",
]
