"""Datasets of states with accelerations: generated from a system, split by trajectory, saved and loaded."""

from lnn.data._dataset import (
    FORMAT,
    SCALE_FLOOR,
    Dataset,
    Splittable,
    acceleration_scale,
    as_arrays,
    load,
    loss_scale,
    root_mean_square,
    save,
    split,
)
from lnn.data._generate import TRUE_CONTROLLER, TRUE_SOLVER, random_states, trajectories, true_motions

__all__ = [
    "FORMAT",
    "SCALE_FLOOR",
    "TRUE_CONTROLLER",
    "TRUE_SOLVER",
    "Dataset",
    "acceleration_scale",
    "as_arrays",
    "load",
    "loss_scale",
    "random_states",
    "root_mean_square",
    "save",
    "Splittable",
    "split",
    "trajectories",
    "true_motions",
]
