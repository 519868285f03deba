r"""Velocities and accelerations estimated from noisy, possibly irregularly sampled positions.

Three smoothers, each a frozen dataclass, all per trajectory and per coordinate
and all happy with uneven time stamps:

* :class:`KnotSpline` (the default) — least-squares cubic splines with a knot
  at every κ-th sample (:func:`knot_spline`), averaged over :data:`SHIFTS`
  placements of the knot pattern (:func:`shifted_splines`), κ chosen by
  generalised cross-validation (:func:`knot_spacing`): with m samples, p̄ the
  mean number of spline coefficients and RSS(κ) = Σ_i (y_i − ĝ(t_i))²,

      GCV(κ) = m · RSS(κ) / (m − p̄)²,   κ ≥ 2.

  Each fit is a projection with exactly p coefficients, so GCV is exact (no
  trace to approximate) and cheap (banded normal equations, O(m) per fit),
  and κ is found by a short search over whole numbers that cannot stop on the
  flat GCV of an over-smoothed curve: it goes on halving κ while GCV is far
  above the noise level σ̂² (:func:`~lnn.observed.noise_level`). q̇ and q̈ are
  ĝ′ and ĝ″. Where GCV's curve departs from the recording by more than its
  noise (a motion the frame rate under-resolves, whose fast part GCV takes for
  noise), :func:`estimate` uses the smoothest finer spline that follows it, or
  the interpolating spline, with a warning. ``benchmarks/smoothing.py``
  measures it on recordings long and short, sparse and dense.
* :class:`SavitzkyGolay` — around each sample i, the least-squares polynomial
  of degree p through the w nearest samples (w odd; the window is shifted, not
  shrunk, at the ends),

      q(t) ≈ Σ_k c_k (t − t_i)^k,   q̂_i = c_0,  q̇_i = c_1,  q̈_i = 2 c_2.

  On evenly spaced stamps this is exactly ``scipy.signal.savgol_filter(...,
  mode="interp")``; on uneven ones the fit uses the true stamps, which SciPy's
  filter cannot.
* :class:`SmoothingSpline` — the cubic smoothing spline of SciPy
  (``scipy.interpolate.make_smoothing_spline``), its penalty λ given or chosen
  by SciPy's generalised cross-validation over the whole trajectory; q̇ and q̈
  are its first and second derivatives. Its GCV fails on long dense
  recordings (see the class).

Angle coordinates are unwrapped (``np.unwrap``) before smoothing, so a jump
from π to −π is not mistaken for a fast motion.

A smoother's ``__call__`` is the bare fit of one trajectory. :func:`estimate`
fits every trajectory, and every estimate it returns has passed the residual
check (:func:`~lnn.observed.check`: the smoothed positions stay within the
noise of the recording) or it raises a :class:`~lnn.errors.DataError`; it
returns a :class:`~lnn.data.Dataset` whose q is the smoothed position, ready
for the usual acceleration loss (:func:`lnn.fit`).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.interpolate import BSpline, make_interp_spline, make_smoothing_spline
from scipy.linalg import solveh_banded

from lnn._angles import unwrap_angles
from lnn.data import Dataset
from lnn.errors import ConfigurationError, DataError
from lnn.observed._observations import Observations
from lnn.observed._residuals import MIN_SAMPLES, check, floors, measure, noise_level

MIN_SMOOTHING_SPLINE_SAMPLES = 5
#: Degree of :class:`KnotSpline`'s splines: cubic, so q̈ = ĝ″ is continuous and piecewise linear.
SPLINE_DEGREE = 3
#: Knot patterns :func:`shifted_splines` averages.
SHIFTS = 4
#: :func:`knot_spacing` halves κ at least while GCV is above this many times σ̂² (far from the noise).
PLATEAU = 4.0
#: ... and stops once the residual is below this fraction of the coordinate's spread (noise-free data).
EXACT = 1e-7


@dataclasses.dataclass(frozen=True)
class KnotSpline:
    """Least-squares cubic splines with a knot every ``every`` samples, averaged over knot shifts (the default).

    ``every``: the knot spacing κ ≥ 2 in samples, for every trajectory and
    coordinate; ``None`` (the default): chosen per trajectory and coordinate by
    generalised cross-validation (:func:`knot_spacing`), and where that curve
    fails the residual check, finer knots (see :func:`estimate`). The module
    docstring gives the method.
    """

    every: int | None = None

    def __post_init__(self):
        if self.every is not None and (int(self.every) != self.every or self.every < 2):
            raise ConfigurationError(
                f"the knot spacing every must be a whole number of samples >= 2 (or None for GCV); got {self.every}."
            )

    @property
    def samples_needed(self) -> int:
        return MIN_SAMPLES

    @property
    def remedy(self) -> str:
        """What to change when this smoother's curve departs from the recording (:func:`~lnn.observed.check`)."""
        first = (
            "give a smaller every (or none, to let GCV choose)"
            if self.every is not None
            else "if the motion changes faster than the frame rate resolves, record faster"
        )
        return (
            f"{first}; if the motion jumps there (an impact, lost samples, a sensor glitch over several samples), "
            "split the trajectory at the jump (give each part its own trajectory id)"
        )

    def spacings(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        """κ for each column of ``y`` ``(m, n)``: ``every``, or GCV's choice (:func:`knot_spacing`); shape ``(n,)``."""
        if self.every is not None:
            return np.full(y.shape[1], int(self.every))
        return np.array([knot_spacing(t, y[:, j]) for j in range(y.shape[1])])

    def __call__(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(y, ẏ, ÿ) at every sample of one trajectory, shape ``(3, m, n)``."""
        return knot_splines(t, y, self.spacings(t, y))


@dataclasses.dataclass(frozen=True)
class SmoothingSpline:
    """SciPy's cubic smoothing spline; ``lam`` its penalty (default: SciPy's generalised cross-validation).

    SciPy minimises GCV over λ ∈ (0, m) on a linear scale (a bounded scalar
    search). On a long dense recording the λ that follows the motion is many
    orders of magnitude below that range's scale, GCV is flat over most of it,
    and the search can end on an over-smoothed, nearly constant curve (the
    37-period, 4,125-sample cosine of ``benchmarks/smoothing.py``'s first row).
    :func:`estimate` refuses such a curve (the residual check,
    :func:`~lnn.observed.check`): use :class:`KnotSpline` there.
    """

    lam: float | None = None

    def __post_init__(self):
        if self.lam is not None and not self.lam >= 0:
            raise ConfigurationError(f"the spline's smoothing lam must be >= 0 (or None for GCV); got {self.lam}.")

    @property
    def samples_needed(self) -> int:
        return MIN_SMOOTHING_SPLINE_SAMPLES

    @property
    def remedy(self) -> str:
        """What to change when this smoother's curve departs from the recording (:func:`~lnn.observed.check`)."""
        return "use the default smoother (KnotSpline()), or give a smaller lam"

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

    @property
    def remedy(self) -> str:
        """What to change when this smoother's curve departs from the recording (:func:`~lnn.observed.check`)."""
        return "use a shorter Savitzky–Golay window or a higher order, or the default smoother (KnotSpline())"

    def __call__(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(y, ẏ, ÿ) at every sample of one trajectory, shape ``(3, m, n)``."""
        return local_polynomial(t, y, self.window, self.order)


Smoother = KnotSpline | SmoothingSpline | SavitzkyGolay


def knot_spline(
    t: np.ndarray, y: np.ndarray, every: int, shift: int = 0, degree: int = SPLINE_DEGREE
) -> tuple[BSpline, np.ndarray]:
    """The least-squares spline of ``degree`` through ``y`` with an inner knot at every ``every``-th sample.

    Knots at samples, not at even times, so that every knot interval holds
    ``every`` samples however uneven the stamps: at sample indices
    ``e + shift + j·every`` (j = 0, 1, ...), e = max(every, degree + 1), up to
    e samples before the end, so each end interval holds between e and
    e + every samples (shorter end intervals let q̈ swing at the ends).
    p = (number of inner knots) + degree + 1 coefficients, found from the
    banded normal equations BᵀB c = Bᵀy, B the sparse B-spline design matrix
    (``BSpline.design_matrix``, ``scipy.linalg.solveh_banded``): the same
    spline as ``make_lsq_spline(..., method="norm-eq")`` in O(m) work.

    Args:
        t: shape ``(m,)``, strictly increasing, ``m > degree``.
        y: shape ``(m,)``.
        every: κ ≥ 2 (κ = 1 would leave more coefficients than samples).
        shift: 0 ≤ shift < κ, where the knot pattern starts.
    Returns:
        the spline and its values at ``t``, shape ``(m,)``.
    """
    m = t.shape[0]
    end = max(every, degree + 1)
    inner = t[end + shift : m - end : every]
    knots = np.concatenate([np.repeat(t[0], degree + 1), inner, np.repeat(t[-1], degree + 1)])
    B = BSpline.design_matrix(t, knots, degree)
    normal = (B.T @ B).todia()
    banded = np.zeros((degree + 1, normal.shape[0]))  # upper form: row degree − d holds the d-th superdiagonal
    for d in range(degree + 1):
        banded[degree - d, d:] = normal.diagonal(d)
    coef = solveh_banded(banded, B.T @ y)
    return BSpline(knots, coef, degree), B @ coef


def shifted_splines(
    t: np.ndarray,
    y: np.ndarray,
    every: int,
    shifts: int = SHIFTS,
    degree: int = SPLINE_DEGREE,
    with_derivatives: bool = True,
) -> tuple[np.ndarray, float]:
    r"""The mean of :func:`knot_spline` over ``shifts`` knot patterns: ``(ĝ, ĝ′, ĝ″)`` ``(3, m)`` and p̄.

    The shifts are ⌊i·κ / shifts⌋, i = 0 … shifts − 1 (distinct ones only).
    Each spline is a linear smoother y ↦ H_s y with trace H_s = p_s, so the
    mean is one with trace p̄ = mean p_s, and GCV stays exact. Averaging over
    where the knots fall takes out most of what depends on one pattern's
    placement (its q̇ error varies between shifts at the same GCV). Without
    ``with_derivatives``, only ĝ: shape ``(1, m)``.

    Args:
        t: shape ``(m,)``; y: shape ``(m,)``.
    """
    offsets = np.unique(np.arange(shifts) * every // shifts)
    out, p = np.zeros((3 if with_derivatives else 1, t.shape[0])), 0.0
    for shift in offsets:
        spline, fitted = knot_spline(t, y, every, int(shift), degree)
        out[0] += fitted
        if with_derivatives:
            out[1] += spline.derivative(1)(t)
            out[2] += spline.derivative(2)(t)
        p += spline.c.shape[0]
    return out / offsets.size, p / offsets.size


def knot_spacing(t: np.ndarray, y: np.ndarray, noise: float | None = None, degree: int = SPLINE_DEGREE) -> int:
    r"""The knot spacing κ (samples) of :func:`shifted_splines` that minimises GCV(κ) = m·RSS / (m − p̄)².

    Coarse search, one knot pattern each: κ from ``m // (degree + 1)``
    halved step by step, continuing while GCV falls, while it stays above
    :data:`PLATEAU` × σ̂² (σ̂ = ``noise``, default
    :func:`~lnn.observed.noise_level`: so coarse that the spline misses the
    motion, where GCV is flat and an early stop would end at a straight line),
    and stopping two halvings past the best. A κ whose residual is below
    :data:`EXACT` × the spread of ``y`` (noise-free data) ends the search at
    once. Then, with :data:`SHIFTS` patterns averaged: κ from half to twice the
    coarse best in steps of √2, and the two steps of 2^{1/4} beside the best of
    those.

    Args:
        t: shape ``(m,)``, strictly increasing, ``m >= MIN_SAMPLES``.
        y: shape ``(m,)``.
    """
    m = t.shape[0]
    sigma = float(noise_level(t, y[:, None])[0]) if noise is None else float(noise)
    exact = m * (EXACT * np.std(y)) ** 2
    top = max(2, m // (degree + 1))

    def gcv(rss: float, p: float) -> float:
        return m * rss / (m - p) ** 2 if p < m else np.inf

    coarse: dict[int, float] = {}
    every, best, worse = top, top, 0
    while True:
        spline, fitted = knot_spline(t, y, every, 0, degree)
        rss = float(np.sum((fitted - y) ** 2))
        if rss <= exact:
            return every  # the motion is followed to rounding: finer knots would only cost time
        coarse[every] = gcv(rss, spline.c.shape[0])
        if coarse[every] < coarse[best]:
            best, worse = every, 0
        elif coarse[every] <= PLATEAU * sigma**2:
            worse += 1
        if worse >= 2 or every == 2:
            break
        every = max(2, every // 2)
    fine: dict[int, float] = {}

    def score(every: int) -> None:
        every = int(min(max(every, 2), top))
        if every not in fine:
            fit, p = shifted_splines(t, y, every, degree=degree, with_derivatives=False)
            fine[every] = gcv(float(np.sum((fit[0] - y) ** 2)), p)

    for every in np.round(best * 2.0 ** np.arange(-1.0, 1.01, 0.5)):
        score(int(every))
    centre = min(fine, key=lambda k: fine[k])
    for every in np.round(centre * 2.0 ** np.array([-0.25, 0.25])):
        score(int(every))
    return min(fine, key=lambda k: fine[k])


def knot_splines(t: np.ndarray, y: np.ndarray, spacings: Sequence[int] | np.ndarray) -> np.ndarray:
    """:func:`shifted_splines` of each column of ``y`` ``(m, n)`` with its own κ: ``(y, ẏ, ÿ)``, shape ``(3, m, n)``."""
    out = np.empty((3, *y.shape))
    for j, every in enumerate(spacings):
        out[:, :, j] = shifted_splines(t, y[:, j], int(every))[0]
    return out


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


def estimate(obs: Observations, smoother: Smoother = KnotSpline()) -> Dataset:
    """A :class:`~lnn.data.Dataset` of smoothed q and estimated q̇, q̈ from positions only, per trajectory.

    Measured velocities in ``obs`` are not used: q̇ and q̈ are estimated
    together from q, so they are consistent. Every estimate passes the residual
    check (:func:`~lnn.observed.check`) or raises a
    :class:`~lnn.errors.DataError` naming the trajectory, the smoother and the
    fix. With :class:`KnotSpline`'s GCV spacing (``every=None``), a coordinate
    whose curve fails the check is smoothed instead with the largest κ' < κ
    (steps of √2, down to 2) whose curve passes, else by the interpolating cubic
    spline, and a :class:`UserWarning` says so: the motion is under-resolved
    there. The metadata's ``"derivatives"`` records the smoother and its
    settings and, for GCV's spacing, the κ used (``spacings``: one list per
    trajectory, one entry per coordinate; 1 = interpolated). The recording's
    measured forces, if any, are the dataset's ``force`` as they are (τ at
    each sample).
    """
    q_out, v_out, a_out = (np.empty_like(obs.q) for _ in range(3))
    spacings = []
    for traj, idx in obs.segments():
        require_samples(obs, traj, idx, smoother.samples_needed, f"the {type(smoother).__name__} estimate")
        t, y = obs.t[idx], unwrap_angles(obs.q[idx], obs.angles)
        match smoother:
            case KnotSpline(every=None):
                kappa = smoother.spacings(t, y)
                values = knot_splines(t, y, kappa)
                _follow_the_recording(obs, traj, idx, y, values, kappa)
                spacings.append(kappa.tolist())
            case _:
                values = smoother(t, y)
        q_out[idx], v_out[idx], a_out[idx] = values
    settings = {"smoother": type(smoother).__name__, **dataclasses.asdict(smoother)}
    if spacings:
        settings["spacings"] = spacings
    meta = {**obs.metadata, "derivatives": settings}
    out = Dataset(q_out, v_out, a_out, obs.trajectory, obs.t, meta, force=obs.force)
    check(obs, out, smoother)
    return out


def _follow_the_recording(
    obs: Observations, traj: int, idx: np.ndarray, y: np.ndarray, values: np.ndarray, kappa: np.ndarray
) -> None:
    """Where GCV's spline departs from the recording, the smoothest finer one that does not; warn.

    GCV takes for noise whatever it cannot fit cheaply; when the data's own
    noise level says the residual is more than noise, the motion changes
    faster than κ samples resolve. Such a column gets the largest κ' < κ (steps
    of √2, down to 2) whose curve passes the check, else the interpolating
    cubic spline (κ = 1, which follows every sample). Updates ``values``
    ``(3, m, n)`` and ``kappa`` ``(n,)`` in place.
    """
    t, floor = obs.t[idx], floors(obs)
    found = measure(t, y, values[0], obs.angles, floor)
    for j in np.flatnonzero(found.ratio > 1):
        column = (slice(None), slice(j, j + 1))
        gcv = int(kappa[j])
        finer = np.unique(np.round(gcv * 2.0 ** -np.arange(0.5, 40, 0.5)).clip(2, None)).astype(int)[::-1]
        for every in finer[finer < gcv]:
            fit = shifted_splines(t, y[:, j], int(every))[0]
            if measure(t, y[column], fit[0][:, None], obs.angles[j : j + 1], floor[j : j + 1]).ratio[0] <= 1:
                values[:, :, j], kappa[j] = fit, every
                break
        else:
            spline = make_interp_spline(t, y[:, j], k=SPLINE_DEGREE)
            values[:, :, j] = np.stack([spline(t), spline.derivative(1)(t), spline.derivative(2)(t)])
            kappa[j] = 1
        instead = f"a knot every {kappa[j]} samples is used instead" if kappa[j] > 1 else "the samples are interpolated"
        warnings.warn(
            f"trajectory {traj} ({obs.where(idx[0])} to {obs.where(idx[-1])}): {obs.coordinates[j]!r} changes "
            f"faster than a spline with a knot every {gcv} samples (GCV's choice) follows: it departs from the "
            f"recording by {found.residual[j]:.3g} where the noise is {found.noise[j]:.3g}, so {instead} (the "
            "motion is under-resolved: its q̇ and q̈ are rough; record at a higher rate for better ones).",
            stacklevel=3,
        )


def require_samples(obs: Observations, traj: int, idx: np.ndarray, need: int, what: str) -> None:
    """Raise a :class:`DataError` naming the trajectory's rows if it has fewer than ``need`` samples."""
    if idx.size < need:
        raise DataError(
            f"trajectory {traj} ({obs.where(idx[0])} to {obs.where(idx[-1])}) has {idx.size} "
            f"sample(s) but {what} needs {need}; use a shorter window or drop this trajectory "
            "from the file."
        )
