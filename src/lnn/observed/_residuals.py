r"""The residual check: does an estimate stay within the noise of the recording it was made from?

An estimate's q̇ and q̈ are the derivatives of its smoothed positions q̂; if q̂
departs from the recorded q by more than the noise, they are wrong. The check
compares, per trajectory and coordinate, the robust size of the residual
r = q − q̂ (angle differences wrapped),

    ρ = 1.4826 · median |r|,

over the whole trajectory and over every stretch of :data:`LOCAL_SAMPLES`
consecutive samples, with the noise level σ̂ the data's own high-order divided
differences imply (:func:`noise_level`, independent of any smoother). A curve with

    ρ > RESIDUAL_LIMIT · σ̂ + FLOOR · spread   (whole trajectory), or
    ρ > LOCAL_LIMIT · σ̂ + FLOOR · spread      (any stretch)

departs by more than the noise can explain: :func:`check` raises a
:class:`~lnn.errors.DataError` naming the trajectory, the stretch, the residual,
the noise level, the smoother and the fix. Medians, so that a single glitch in
the data (which a smoother rightly does not follow) is not taken for a failure
of the smoother; ``FLOOR`` (a fraction of the coordinate's spread over all
trajectories) keeps noise-free recordings, whose σ̂ is only rounding, from being
refused for departures far below anything that matters.
:func:`departures` gives the measurements themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from lnn._angles import spread, unwrap_angles, wrapped_difference
from lnn.data import Dataset
from lnn.errors import DataError
from lnn.observed._observations import Observations

if TYPE_CHECKING:
    from lnn.observed._smoothing import Smoother

#: Order of the divided differences :func:`noise_level` takes.
NOISE_ORDER = 6
#: 1 / Φ⁻¹(3/4): the median of |x| times this is σ for Gaussian x.
MAD_SCALE = 1.4826
#: Whole trajectory: a curve that follows the motion leaves the noise, ρ ≈ σ̂ (σ̂ itself within about 10 % from a
#: few hundred samples); a curve that misses the motion leaves far more.
RESIDUAL_LIMIT = 1.5
#: Any stretch of LOCAL_SAMPLES samples: the median of 50 residuals of pure noise scatters by about 0.2 σ, so 3 σ̂
#: is beyond chance even over 10⁵ stretches.
LOCAL_LIMIT = 3.0
LOCAL_SAMPLES = 50
#: Plus this fraction of the coordinate's spread: a noise-free recording's σ̂ is rounding, and a departure of 0.1 %
#: of the motion is not refused.
FLOOR = 1e-3
#: Fewer samples than this in a trajectory cannot tell noise from motion: :func:`departures` leaves it out.
MIN_SAMPLES = NOISE_ORDER + 2


def noise_level(t: np.ndarray, y: np.ndarray, order: int = NOISE_ORDER) -> np.ndarray:
    r"""The standard deviation σ̂ of white noise in ``y``, per column, from its divided differences.

    Over every ``order + 1`` consecutive samples, the divided-difference
    weights w_j = 1 / Π_{l≠j} (t_j − t_l), scaled to ‖w‖ = 1, annihilate every
    polynomial of degree < ``order`` on those stamps (even or not), so
    d = Σ_j w_j y_j keeps the noise (standard deviation σ, whatever the stamps)
    and only a trace of a smooth motion (of the order of h^order y⁽ᵒʳᵈᵉʳ⁾).
    σ̂ = 1.4826 · median |d| (robust to a few glitches); where that median is
    0 (quantised data that rarely changes), the RMS of d.

    Args:
        t: shape ``(m,)``, strictly increasing, ``m >= order + 2``.
        y: shape ``(m, n)``.
    Returns:
        shape ``(n,)``.
    """
    m = t.shape[0]
    if m < order + 2:
        raise DataError(f"a noise level from differences of order {order} needs at least {order + 2} samples; got {m}.")
    idx = np.arange(m - order)[:, None] + np.arange(order + 1)  # (g, order + 1)
    tau = t[idx]
    tau = (tau - tau[:, :1]) / (tau[:, -1:] - tau[:, :1])  # each group on [0, 1]: the weights' scale is irrelevant
    w = np.ones_like(tau)
    for j in range(order + 1):
        gap = tau - tau[:, j : j + 1]
        gap[:, j] = 1.0
        w /= gap
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    d = np.einsum("gj,gjn->gn", w, y[idx])
    sigma = MAD_SCALE * np.median(np.abs(d), axis=0)
    return np.where(sigma > 0, sigma, np.sqrt(np.mean(d**2, axis=0)))


@dataclasses.dataclass(frozen=True)
class Departure:
    """How far an estimate strays from one trajectory of the recording, at its worst coordinate.

    Attributes:
        trajectory: the trajectory id; ``first``, ``last``: its first and last sample (indices into the observations).
        coordinate: index of the coordinate where ``ratio`` is largest.
        ratio: the robust residual over what the noise allows (> 1: refused by :func:`check`).
        residual: the robust residual ρ (coordinate units) over ``span``.
        noise: the noise level σ̂ the data implies (:func:`noise_level`).
        limit: :data:`RESIDUAL_LIMIT` (``span`` the whole trajectory) or :data:`LOCAL_LIMIT` (a stretch).
        span: ``(t_start, t_end)`` of the stretch the ratio was measured over.
    """

    trajectory: int
    first: int
    last: int
    coordinate: int
    ratio: float
    residual: float
    noise: float
    limit: float
    span: tuple[float, float]


class Measured(NamedTuple):
    """:func:`measure`'s result: per coordinate, the fields of a :class:`Departure`, each shape ``(n,)``."""

    ratio: np.ndarray
    residual: np.ndarray
    noise: np.ndarray
    limit: np.ndarray
    start: np.ndarray
    end: np.ndarray


def measure(t: np.ndarray, y: np.ndarray, y_hat: np.ndarray, angles: Sequence[bool], floor: np.ndarray) -> Measured:
    """The departure of ``y_hat`` from ``y`` per coordinate of one trajectory (module docstring).

    Args:
        t: shape ``(m,)``, ``m >= MIN_SAMPLES``.
        y: shape ``(m, n)``, the recorded positions (angles wrapped or not).
        y_hat: shape ``(m, n)``, the estimate's positions.
        angles: which of the n coordinates are angles.
        floor: shape ``(n,)``, ``FLOOR`` × each coordinate's spread.
    """
    m, n = y.shape
    sigma = noise_level(t, unwrap_angles(y, angles))
    r = np.abs(wrapped_difference(y, y_hat, angles))
    whole = MAD_SCALE * np.median(r, axis=0)
    length = min(LOCAL_SAMPLES, m)
    local = MAD_SCALE * np.median(np.lib.stride_tricks.sliding_window_view(r, length, axis=0), axis=-1)
    worst = np.argmax(local, axis=0)  # where each coordinate's worst stretch starts
    local = local[worst, np.arange(n)]
    whole_ratio = whole / (RESIDUAL_LIMIT * sigma + floor)
    local_ratio = local / (LOCAL_LIMIT * sigma + floor)
    is_whole = whole_ratio >= local_ratio
    return Measured(
        ratio=np.where(is_whole, whole_ratio, local_ratio),
        residual=np.where(is_whole, whole, local),
        noise=sigma,
        limit=np.where(is_whole, RESIDUAL_LIMIT, LOCAL_LIMIT),
        start=np.where(is_whole, t[0], t[worst]),
        end=np.where(is_whole, t[-1], t[worst + length - 1]),
    )


def floors(obs: Observations) -> np.ndarray:
    """``FLOOR`` × the spread of each coordinate over all of ``obs``, shape ``(n,)``."""
    return FLOOR * spread(obs.q, obs.angles)


def departures(obs: Observations, est: Dataset) -> list[Departure]:
    r"""The residual check's measurements, one :class:`Departure` per trajectory long enough to judge.

    Per trajectory and coordinate: the robust residual ρ = 1.4826 · median
    |q − q̂| (angle differences wrapped) over the whole trajectory and over every
    :data:`LOCAL_SAMPLES` consecutive samples, divided by what noise allows,
    :data:`RESIDUAL_LIMIT` (resp. :data:`LOCAL_LIMIT`) × σ̂ + :data:`FLOOR` ×
    the coordinate's spread, σ̂ the :func:`noise_level` of the recorded
    positions. ``est`` is aligned with ``obs`` (same samples). Trajectories with
    fewer than :data:`MIN_SAMPLES` samples are left out.
    """
    if len(est) != len(obs):
        raise DataError(f"the estimate has {len(est)} samples but the observations {len(obs)}.")
    floor = floors(obs)
    out = []
    for traj, idx in obs.segments():
        if idx.size < MIN_SAMPLES:
            continue
        found = measure(obs.t[idx], obs.q[idx], est.q[idx], obs.angles, floor)
        j = int(np.argmax(found.ratio))
        out.append(
            Departure(
                trajectory=traj,
                first=int(idx[0]),
                last=int(idx[-1]),
                coordinate=j,
                ratio=float(found.ratio[j]),
                residual=float(found.residual[j]),
                noise=float(found.noise[j]),
                limit=float(found.limit[j]),
                span=(float(found.start[j]), float(found.end[j])),
            )
        )
    return out


#: The fix :func:`check` gives for an estimate made elsewhere.
ELSEWHERE = (
    "estimate the states with lnn.observed.estimate (its default smoother, KnotSpline(), is checked the same way)"
)


def check(obs: Observations, est: Dataset, smoother: Smoother | None = None) -> None:
    """Raise a :class:`~lnn.errors.DataError` if ``est``'s positions depart from ``obs`` by more than its noise.

    ``est`` is aligned with ``obs`` (same samples, e.g. from
    :func:`~lnn.observed.estimate`); ``smoother`` is what made it, named in the
    message with its fix (``None``: made elsewhere). The measure is
    :func:`departures`'; the limits hold with a wide margin on every recording of
    ``benchmarks/smoothing.py``'s grid, and a curve flattened toward a line
    exceeds them many times over. The message names the trajectory (its rows and
    time span), the stretch, the residual, the noise level and the fix.
    """
    found = [d for d in departures(obs, est) if d.ratio > 1]
    if not found:
        return
    d = max(found, key=lambda d: d.ratio)
    made_by = "the estimated curve" if smoother is None else f"the {smoother!r} curve"
    fix = ELSEWHERE if smoother is None else smoother.remedy
    raise DataError(
        f"trajectory {d.trajectory} ({obs.where(d.first)} to {obs.where(d.last)}, t = {obs.t[d.first]:g} to "
        f"{obs.t[d.last]:g} s): {made_by} of {obs.coordinates[d.coordinate]!r} departs from the recording by "
        f"{d.residual:.3g} (robust RMS of the residual) between t = {d.span[0]:g} and {d.span[1]:g} s, but the "
        f"noise the data implies (from its differences of order {NOISE_ORDER}) is {d.noise:.3g}; {d.ratio:.3g}× "
        f"what noise allows ({d.limit:g}× the noise + {FLOOR:g}× the spread), so q̇ and q̈ from this curve would "
        f"be wrong. Fix: {fix}."
    )
