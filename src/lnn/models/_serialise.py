"""JSON for the parts of a model's configuration that are objects (the linear solver)."""

from __future__ import annotations

from typing import Any

from lnn.errors import FileFormatError
from lnn.mechanics import CG, LU, Cholesky, LinearSolver


def linear_solver_to_json(solver: LinearSolver | None) -> dict[str, Any] | None:
    """``None`` (the default policy), ``{"class": "LU"}``, ``{"class": "Cholesky"}`` or
    ``{"class": "CG", "rtol": …, "max_steps": …}``."""
    if solver is None:
        return None
    if isinstance(solver, CG):
        return {"class": "CG", "rtol": solver.rtol, "max_steps": solver.max_steps}
    return {"class": type(solver).__name__}


def linear_solver_from_json(config: dict[str, Any] | str | None) -> LinearSolver | None:
    """The inverse of :func:`linear_solver_to_json` (and the strings ``"auto"``, ``"dense"``, ``"cg"`` of
    model files written by lnn 0.1)."""
    legacy = {"auto": None, "dense": LU(), "cg": CG()}
    if config is None or isinstance(config, str):
        if config is not None and config not in legacy:
            raise FileFormatError(f"unknown linear solver {config!r} in a model file.")
        return None if config is None else legacy[config]
    name = config.get("class")
    if name == "CG":
        return CG(rtol=config.get("rtol"), max_steps=config.get("max_steps"))
    if name == "LU":
        return LU()
    if name == "Cholesky":
        return Cholesky()
    raise FileFormatError(f"unknown linear solver {config!r} in a model file.")
