"""The models lnn trains: each an :class:`~lnn.mechanics.AbstractDynamics`, most of them Lagrangians.

* :class:`LagrangianNN` — learns L(q, q̇); q̈ from Euler–Lagrange (analytic MLP derivatives).
* :class:`StructuredLagrangian` — learns M(q) = CCᵀ + εI and V(q); L = ½ q̇ᵀMq̇ − V.
* :class:`BlackBox` — learns q̈ directly (the LNN paper's baseline).
* :class:`HamiltonianNN` — learns H(q, p); integrates its own phase space (q, p).
* :class:`Dissipative` — friction composed onto any Lagrangian model, with a learned
  :class:`RayleighDissipation` (:func:`with_dissipation`).
* :class:`LagrangianDensity`, :class:`LocalBlackBox` — models of a 1D field (the wave string).

:func:`from_config` rebuilds a model's architecture from its ``config()`` (model files).
"""

from typing import Any

from lnn.errors import FileFormatError
from lnn.mechanics import AbstractDynamics, AbstractLagrangian
from lnn.models._black_box import BlackBox
from lnn.models._density import FIELD_MODELS, LagrangianDensity, LocalBlackBox, build_field_model
from lnn.models._dissipation import Dissipative, RayleighDissipation, with_dissipation
from lnn.models._hamiltonian import HamiltonianNN
from lnn.models._lagrangian_nn import LagrangianNN
from lnn.models._mlp import MLP, MLPModel, StateFeatures
from lnn.models._structured import StructuredLagrangian

_CLASSES = {
    cls.__name__: cls
    for cls in (LagrangianNN, StructuredLagrangian, BlackBox, HamiltonianNN, LagrangianDensity, LocalBlackBox)
}
# Names in model files written before the black box got its name.
_RENAMED = {"Baseline": "BlackBox", "LocalBaseline": "LocalBlackBox"}


def from_config(config: dict[str, Any]) -> AbstractDynamics:
    """A model with the architecture in ``config`` (a model's ``config()``; weights are placeholders)."""
    config = dict(config)
    name = config.pop("class", None) or config.pop("kind", None)  # "kind": files of lnn 0.1
    name = _RENAMED.get(name, name)
    if name == "Dissipative":
        inner = from_config(config["model"] if "model" in config else config["lagrangian"])
        if not isinstance(inner, AbstractLagrangian):
            raise FileFormatError(f"a Dissipative model wraps a Lagrangian; this file's is a {type(inner).__name__}.")
        return Dissipative(inner, RayleighDissipation.from_config(config["dissipation"]))
    if name not in _CLASSES:
        raise FileFormatError(f"unknown model class {name!r}; known: {', '.join(sorted([*_CLASSES, 'Dissipative']))}.")
    return _CLASSES[name].from_config(config)


__all__ = [
    "FIELD_MODELS",
    "MLP",
    "BlackBox",
    "Dissipative",
    "HamiltonianNN",
    "LagrangianDensity",
    "LagrangianNN",
    "LocalBlackBox",
    "MLPModel",
    "RayleighDissipation",
    "StateFeatures",
    "StructuredLagrangian",
    "build_field_model",
    "from_config",
    "with_dissipation",
]
