"""Fresh models by role name, sized from the data they will learn (what ``lnn train --model`` builds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from lnn.data import Dataset
from lnn.errors import ConfigurationError
from lnn.mechanics import AbstractDynamics, momenta
from lnn.models import BlackBox, HamiltonianNN, LagrangianNN, StructuredLagrangian, with_dissipation
from lnn.systems import System

# The roles: hnn is a Hamiltonian network fed p = q̇ (the LNN paper's HNN baseline); hnn_true_p is fed the
# true canonical momentum p = ∂L/∂q̇ of a known system; baseline is the black box.
MODEL_NAMES = ("lnn", "structured", "baseline", "lnn+dissipation", "structured+dissipation", "hnn", "hnn_true_p")


def build_model(
    name: str,
    dataset: Dataset,
    key: jax.Array,
    *,
    angles: Sequence[bool],
    width: int = 64,
    depth: int = 2,
    init: str = "standard",
    dtype: str = "float32",
    kinetic_prior: bool = True,
    true_system: System | None = None,
    **options: Any,
) -> AbstractDynamics:
    """A fresh model for the role ``name`` (:data:`MODEL_NAMES`), its input/output scales from ``dataset``.

    ``angles``: which coordinates are angles (the system's or the recording's).
    ``true_system``: the known system whose canonical momenta ``hnn_true_p``
    is fed. ``options`` go to the model's constructor (e.g.
    ``angle_encoding="wrap"``, ``linear_solver=`` for an LNN). A black box
    learning a driven system gets force inputs scaled by the RMS of τ.
    """
    angles = tuple(bool(a) for a in angles)
    dof = len(angles)
    qdot_scale = float(np.sqrt(np.mean(dataset.qdot**2)))
    non_angle = ~np.asarray(angles)
    q_scale = float(np.sqrt(np.mean(dataset.q[:, non_angle] ** 2))) if non_angle.any() else 1.0
    common: dict[str, Any] = dict(
        key=key,
        width=width,
        depth=depth,
        angles=angles,
        init=init,
        q_scale=q_scale,
        qdot_scale=qdot_scale,
        dtype=dtype,
        **options,
    )
    if name == "lnn":
        return LagrangianNN(dof, kinetic_prior=kinetic_prior, **common)
    if name == "structured":
        return StructuredLagrangian(dof, **common)
    if name in ("lnn+dissipation", "structured+dissipation"):  # a learned Rayleigh dissipation composed onto it
        k_lnn, k_friction = jax.random.split(key)
        common["key"] = k_lnn
        conservative = (
            LagrangianNN(dof, kinetic_prior=kinetic_prior, **common)
            if name == "lnn+dissipation"
            else StructuredLagrangian(dof, **common)
        )
        return with_dissipation(conservative, key=k_friction)
    if name == "baseline":
        accel = float(np.sqrt(np.mean(dataset.qddot**2)))
        force_scale = None if dataset.force is None else float(np.sqrt(np.mean(dataset.force**2))) or 1.0
        return BlackBox(dof, accel_scale=accel, force_scale=force_scale, **common)
    if name in ("hnn", "hnn_true_p"):
        canonical = name == "hnn_true_p"
        if canonical and true_system is None:
            raise ConfigurationError(
                "hnn_true_p is fed the true canonical momenta: pass the known system (true_system=...)."
            )
        p = (
            dataset.qdot
            if true_system is None or not canonical
            else np.asarray(momenta(true_system, dataset.q, dataset.qdot))
        )
        return HamiltonianNN(
            dof,
            momentum="canonical" if canonical else "velocity",
            true_system=true_system if canonical else None,
            momentum_scale=float(np.sqrt(np.mean(p**2))),
            kinetic_prior=kinetic_prior,
            **common,
        )
    raise ConfigurationError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}.")
