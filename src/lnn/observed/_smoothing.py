r"""Velocities and accelerations estimated from noisy, possibly irregularly sampled positions.

Two smoothers, both per trajectory and per coordinate, both exact for
polynomials of their degree and both happy with uneven time stamps:

* ``"savgol"`` — Savitzky–Golay: around each sample i, the least-squares
  polynomial of degree p through the w nearest samples (w odd; the window is
  shifted, not shrunk, at the ends),

      q(t) ≈ Σ_k c_k (t − t_i)^k,   q̂_i = c_0,  q̇_i = c_1,  q̈_i = 2 c_2.

  On evenly spaced stamps this is exactly ``scipy.signal.savgol_filter(...,
  mode="interp")``; on uneven ones the fit uses the true stamps, which SciPy's
  filter cannot.
* ``"spline"`` — the cubic smoothing spline of SciPy
  (``scipy.interpolate.make_smoothing_spline``), its smoothing chosen by
  generalised cross-validation; q̇ and q̈ are its first and second derivatives.

Angle coordinates are unwrapped (``np.unwrap``) before smoothing, so a jump
from π to −π is not mistaken for a fast motion.

The smoother is an object: :class:`SmoothingSpline` or :class:`SavitzkyGolay`.
:func:`estimate` returns a :class:`~lnn.data.Dataset` whose q is the smoothed
position, ready for the usual acceleration loss (:func:`lnn.fit`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.interpolate import make_smoothing_spline

from lnn._angles import unwrap_angles
from lnn.data import Dataset
from lnn.errors import ConfigurationError, DataError
from lnn.observed._observations import Observations

MIN_SPLINE_SAMPLES = 5


@dataclasses.dataclass(frozen=True)
class SmoothingSpline:
    """The cubic smoothing spline; ``lam`` its smoothing (default: generalised cross-validation)."""

    lam: float | None = None

    def __post_init__(self):
        if self.lam is not None and not self.lam >= 0:
            raise ConfigurationError(f"the spline's smoothing lam must be >= 0 (or None for GCV); got {self.lam}.")

    @property
    def samples_needed(self) -> int:
        return MIN_SPLINE_SAMPLES

    def __call__(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(y, ẏ, ÿ) at every sample of one trajectory, shape ``(3, m, n)``."""
        return smoothing_spline(t, y, self.lam)


@dataclasses.dataclass(frozen=True)
class SavitzkyGolay:
    """Savitzky–Golay: a degree-``order`` polynomial through each ``window`` samples (odd), on the true stamps."""

    window: int = 15
    order: int = 4

    def __post_init__(self):
        if self.window % 2 == 0 or self.window < 3:
            raise ConfigurationError(
                f"the Savitzky–Golay window must be an odd number of samples >= 3; got {self.window}."
            )
        if not 2 <= self.order < self.window:
            raise ConfigurationError(
                f"the Savitzky–Golay order must be >= 2 (for q̈) and below the window ({self.window}); got {self.order}."
            )

    @property
    def samples_needed(self) -> int:
        return self.window

    def __call__(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(y, ẏ, ÿ) at every sample of one trajectory, shape ``(3, m, n)``."""
        return local_polynomial(t, y, self.window, self.order)


Smoother = SmoothingSpline | SavitzkyGolay


def local_polynomial(t: np.ndarray, y: np.ndarray, window: int, order: int) -> np.ndarray:
    r"""Savitzky–Golay fit on uneven stamps: ``(y, ẏ, ÿ)`` at every sample.

    Args:
        t: shape ``(m,)``, strictly increasing.
        y: shape ``(m, n)``.
        window: odd number of samples w per fit, ``order < w <= m``.
        order: polynomial degree p ≥ 2.
    Returns:
        shape ``(3, m, n)``: smoothed value, first and second derivative.
    """
    m = t.shape[0]
    half = window // 2
    start = np.clip(np.arange(m) - half, 0, m - window)
    idx = start[:, None] + np.arange(window)  # (m, w)
    # Powers of τ = (t_j − t_i)/s with s the window's half-span keep the normal equations well conditioned.
    dt = t[idx] - t[:, None]
    s = np.maximum(np.max(np.abs(dt), axis=1, keepdims=True), 1e-300)
    A = (dt / s)[..., None] ** np.arange(order + 1)  # (m, w, p+1)
    coef = np.linalg.pinv(A) @ y[idx]  # (m, p+1, n); A has full column rank: distinct stamps, w > p
    s = s[..., None]
    return np.stack([coef[:, 0], coef[:, 1] / s[:, 0], 2 * coef[:, 2] / s[:, 0] ** 2])


def smoothing_spline(t: np.ndarray, y: np.ndarray, lam: float | None = None) -> np.ndarray:
    """Cubic smoothing spline (SciPy, GCV smoothing unless ``lam`` is given): ``(y, ẏ, ÿ)``, shape ``(3, m, n)``."""
    out = np.empty((3, *y.shape))
    for j in range(y.shape[1]):
        spline = make_smoothing_spline(t, y[:, j], lam=lam)
        out[0, :, j] = spline(t)
        out[1, :, j] = spline.derivative(1)(t)
        out[2, :, j] = spline.derivative(2)(t)
    return out


def estimate(obs: Observations, smoother: Smoother = SmoothingSpline()) -> Dataset:
    """A :class:`~lnn.data.Dataset` of smoothed q and estimated q̇, q̈ from positions only, per trajectory.

    Measured velocities in ``obs`` are not used: q̇ and q̈ are estimated
    together from q, so they are consistent.
    """
    q_out, v_out, a_out = (np.empty_like(obs.q) for _ in range(3))
    for traj, idx in obs.segments():
        require_samples(obs, traj, idx, smoother.samples_needed, f"the {type(smoother).__name__} estimate")
        q_out[idx], v_out[idx], a_out[idx] = smoother(obs.t[idx], unwrap_angles(obs.q[idx], obs.angles))
    meta = {**obs.metadata, "derivatives": {"smoother": type(smoother).__name__, **dataclasses.asdict(smoother)}}
    return Dataset(q_out, v_out, a_out, obs.trajectory, obs.t, meta)


def require_samples(obs: Observations, traj: int, idx: np.ndarray, need: int, what: str) -> None:
    """Raise a :class:`DataError` naming the trajectory's rows if it has fewer than ``need`` samples."""
    if idx.size < need:
        raise DataError(
            f"trajectory {traj} ({obs.where(idx[0])} to {obs.where(idx[-1])}) has {idx.size} "
            f"sample(s) but {what} needs {need}; use a shorter window or drop this trajectory "
            "from the file."
        )
