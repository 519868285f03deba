"""Exceptions a user can cause, and the warnings lnn gives. Each message names the fix.

Every error derives from :class:`LnnError`, so the CLI can show one line for any
of them instead of a traceback.
"""


class LnnError(Exception):
    """Base class of the errors lnn raises for a user's mistake."""


class ShapeError(LnnError, ValueError):
    """Arrays whose shapes do not fit together (e.g. q and qdot differ)."""


class DataError(LnnError, ValueError):
    """Data that cannot be used as given (NaN, too few samples, bad columns)."""


class ConfigurationError(LnnError, ValueError):
    """Settings that contradict each other or are out of range (a training or learning configuration)."""


class UnknownSystemError(LnnError, KeyError):
    """A system name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class FileFormatError(LnnError, ValueError):
    """A file that is missing, or is not one lnn wrote."""


class RunMismatchError(LnnError, ValueError):
    """A run folder that holds another run than the one asked for (different data, model, settings or seed)."""


class RunLockedError(LnnError, RuntimeError):
    """A run folder another lnn process is training in."""


class TrainingDivergedError(LnnError, RuntimeError):
    """Training produced non-finite losses for too many consecutive steps, or for too many steps in all."""


class SingularMassMatrixError(LnnError, ArithmeticError):
    """∂²L/∂q̇² is singular or indefinite where the dynamics are needed."""


class SymmetryError(LnnError, ValueError):
    """A symmetry generator ξ(q) that cannot be used (wrong output shape, non-finite, zero)."""


class ModelTypeError(LnnError, TypeError):
    """A model of the wrong kind for the operation (e.g. a black box where a Lagrangian is needed)."""


class LegacyFileWarning(UserWarning):
    """A model or checkpoint file of lnn 0.1, read without a checksum (re-save it to add one)."""


class TrainingWarning(UserWarning):
    """Training that ended but learnt nothing visible (a validation loss that did not move)."""


class PrecisionWarning(UserWarning):
    """Physics code is running in float32 where float64 is needed for its stated accuracy."""
