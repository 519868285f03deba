"""Learning from recordings: measured motion, its loaders, smoothing, trajectory matching, evaluation.

* :class:`Observations` — samples (t, q[, q̇, q̈]) of one or many motions;
  :func:`load_table`, :func:`load_schmidt_lipson` read files, :func:`simulate`
  records a built-in system (driven, with measured forces, by e.g. a
  :class:`SineDrive`);
* :func:`estimate` with a smoother (:class:`KnotSpline`, the default;
  :class:`SavitzkyGolay`, :class:`SmoothingSpline`) — velocities and
  accelerations from positions, each estimate held to the recording by the
  residual check (:func:`check`, :func:`departures`, :func:`noise_level`);
* :func:`windows`, :class:`TrajectoryObjective`, :class:`FreeInitialStates` —
  trajectory matching;
* :func:`fit_observations` with a method (:class:`FromDerivatives`,
  :class:`TrajectoryMatching`) — a model learned from a recording;
  :func:`recipe` chooses model, method and settings from the recording
  (:class:`Recipe`, with its reasons), :func:`fit_recipe` trains it;
* :func:`observed_rollout_error` — how far ahead a model predicts a recording,
  beside trivial predictors; :func:`fit_state` — the state a model was in at
  one stamp, fitted to the positions around it (where a prediction starts).
"""

from lnn.observed._drive import SineDrive
from lnn.observed._evaluation import observed_rollout_error
from lnn.observed._learning import (
    STALL_FACTOR,
    EstimatedStates,
    FreeStates,
    FromDerivatives,
    Method,
    TrajectoryMatching,
    WarmStart,
    describe,
    fit_observations,
    noise_floor,
    training_sets,
)
from lnn.observed._loaders import SCHMIDT_LIPSON_SOURCE, load_schmidt_lipson, load_table
from lnn.observed._matching import (
    FreeInitialStates,
    TrajectoryObjective,
    Windows,
    matching_loss,
    shoot,
    window_losses,
    windows,
)
from lnn.observed._observations import MAX_MAGNITUDE, Observations, simulate
from lnn.observed._recipe import CLEAN_FLOOR, Measured, Recipe, fallback_reason, fit_recipe, measure, recipe
from lnn.observed._residuals import Departure, check, departures, noise_level
from lnn.observed._smoothing import (
    KnotSpline,
    SavitzkyGolay,
    Smoother,
    SmoothingSpline,
    estimate,
    local_polynomial,
    require_samples,
    smoothing_spline,
)
from lnn.observed._state import fit_state

__all__ = [
    "CLEAN_FLOOR",
    "MAX_MAGNITUDE",
    "SCHMIDT_LIPSON_SOURCE",
    "STALL_FACTOR",
    "Departure",
    "EstimatedStates",
    "FreeInitialStates",
    "FreeStates",
    "FromDerivatives",
    "KnotSpline",
    "Measured",
    "Method",
    "Observations",
    "Recipe",
    "SavitzkyGolay",
    "SineDrive",
    "Smoother",
    "SmoothingSpline",
    "TrajectoryMatching",
    "TrajectoryObjective",
    "WarmStart",
    "Windows",
    "check",
    "departures",
    "describe",
    "estimate",
    "fallback_reason",
    "fit_observations",
    "fit_recipe",
    "fit_state",
    "load_schmidt_lipson",
    "load_table",
    "local_polynomial",
    "matching_loss",
    "measure",
    "noise_floor",
    "noise_level",
    "observed_rollout_error",
    "recipe",
    "require_samples",
    "shoot",
    "simulate",
    "smoothing_spline",
    "training_sets",
    "window_losses",
    "windows",
]
