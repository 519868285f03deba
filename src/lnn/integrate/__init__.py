"""Rollouts of any dynamics: :func:`rollout` with :class:`RK4` or a Diffrax solver."""

from lnn.integrate._rollout import RK4, Solver, as_dynamics, interpolated, rk4_trajectory, rollout

__all__ = ["RK4", "Solver", "as_dynamics", "interpolated", "rk4_trajectory", "rollout"]
