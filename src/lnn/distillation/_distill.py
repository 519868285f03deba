r"""A learned (or any) Lagrangian distilled to a sparse formula over a candidate library.

**Objective: the equations of motion, not L's values.** L is fixed by its motions
only up to a scale factor and a total time derivative dF(q)/dt, so two correct
Lagrangians can differ everywhere; the Euler–Lagrange operator is linear in the
coefficients of L = Σ ξₖ φₖ, though, so at states s with the model's accelerations
q̈(s) each candidate contributes a column

.. math:: \Theta_{(s,i),k} = \big(H_k(s)\,\ddot q(s) - g_k(s)\big)_i

(:mod:`._columns`), and L's coefficients are a sparse null vector, Θξ ≈ 0.

**What vanishes identically.** A column that is zero for *every* acceleration —
a constant, a total derivative such as θ̇ cos θ = d(sin θ)/dt — is dropped and
listed in :attr:`Distilled.dropped`. Combinations that vanish identically (x ẏ + y ẋ
= d(xy)/dt: velocity-linear terms q̇·g(q) with curl-free g) are the null space of
the same matrix evaluated with random accelerations instead of the model's; the
formula is reported in the gauge orthogonal to them (least coefficient norm), which
for a uniform magnetic field is the symmetric gauge A = ½ B × x.

**Sparsity: backward elimination** (sequentially thresholded least squares that
drops one term per step). One term, the *reference*, is fixed to 1 (the kinetic
term with the largest share of the dense null vector), the others are solved by
least squares on unit-norm columns, and the term with the smallest coefficient
(smallest contribution to the equations) is dropped, down to the reference alone.
Each support's acceleration error gives the Pareto front of complexity (number of
terms) against error; the formula is its **knee**, the sparsest support whose error
is at most ``knee`` × the smallest error on the path (+1e-9). Hand-written rather
than a Lasso path (scikit-learn) or PySINDy's STLSQ: the problem is homogeneous
with a gauge null space, each step is one NumPy least-squares solve, and
least-squares coefficients need no de-biasing refit, in fewer lines than the glue.

**Acceleration error** of coefficients ξ: q̈_ξ = M_ξ⁻¹ Σ ξₖ gₖ against a
reference q̈, ‖q̈_ξ − q̈‖ / ‖q̈‖ over all states and coordinates (per coordinate
would divide by nothing where a coordinate moves freely, z̈ = 0 in a magnetic
field). When the formula's error against the model exceeds ``tolerance`` the
Lagrangian is reported as outside the library (no formula).

**Scale.** Coefficients are relative to the reference until a convention fixes the
scale: by default the model's own, λ minimising Σ‖λ M_ξ − M_model‖² over the states
(exact for a closed-form L; arbitrary for a learned L, whose scale nothing fixes),
or a physical value the user gives for one term's coefficient.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from jaxtyping import Array

from lnn.data import Dataset
from lnn.distillation._columns import euler_lagrange_terms, lambdified
from lnn.distillation._library import KINETIC, Library, build_library
from lnn.errors import ConfigurationError, DataError
from lnn.mechanics import AbstractLagrangian, Lagrangian, accelerations, mass_matrix
from lnn.systems import System

DEFAULT_TOLERANCE = 0.05
DEFAULT_KNEE = 2.0
_ROUNDING = 1e-9  # acceleration error below which supports count as exact (float64 rounding)


@dataclasses.dataclass(frozen=True)
class Term:
    """One term of a distilled Lagrangian: ``coefficient × expression``, with its standard error."""

    expression: sp.Expr
    kind: str
    coefficient: float
    uncertainty: float

    @property
    def term(self) -> str:
        return str(self.expression)

    def to_json(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "kind": self.kind,
            "coefficient": self.coefficient,
            "uncertainty": self.uncertainty,
        }


@dataclasses.dataclass(frozen=True)
class ParetoPoint:
    """One support on the elimination path: its number of terms, acceleration error and terms."""

    complexity: int
    acceleration_error: float
    terms: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"complexity": self.complexity, "acceleration_error": self.acceleration_error, "terms": list(self.terms)}


@dataclasses.dataclass(frozen=True)
class Distilled:
    """What :func:`distill` found.

    Attributes:
        library: the candidate library.
        explained: whether a formula from the library explains the accelerations to
            within ``tolerance``; when False, :attr:`terms` is empty, there is no
            formula, and :attr:`best_error` says how close the library came.
        terms: the formula's terms with coefficients (after the scale convention).
        acceleration_error: the formula's acceleration error against the model.
        data_error: against the data's accelerations (the true system's, or the
            given states' q̈), or None without data.
        best_error: the smallest acceleration error on the elimination path.
        tolerance, knee: the settings that decided.
        pareto: the Pareto front, fewest terms first; ``chosen`` indexes the knee.
        dropped: library terms whose Euler–Lagrange column vanishes identically.
        gauge: the number of independent total derivatives among the library's terms.
        scale: how the scale was set.
        source: the system given (its box and samplers go to :meth:`system`), or None.
        box, speeds: the fit states' configuration box and RMS velocity per coordinate
            (what :meth:`system` samples without a source system).
    """

    library: Library
    explained: bool
    terms: tuple[Term, ...]
    acceleration_error: float
    data_error: float | None
    best_error: float
    tolerance: float
    knee: float
    pareto: tuple[ParetoPoint, ...]
    chosen: int
    dropped: tuple[str, ...]
    gauge: int
    scale: str
    source: System | None = None
    box: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    speeds: tuple[float, ...] = ()

    @property
    def expression(self) -> sp.Expr:
        """L as a SymPy expression (full-precision coefficients); 0 when nothing was explained."""
        return sp.Add(*[sp.Float(t.coefficient, 17) * t.expression for t in self.terms])

    @property
    def lagrangian(self) -> str:
        """L as text, coefficients to six significant digits ("" when nothing was explained)."""
        return str(self._rounded()) if self.explained else ""

    @property
    def latex(self) -> str:
        """L in LaTeX, coefficients to six significant digits, velocities with a dot."""
        return self.library.latex(self._rounded()) if self.explained else ""

    def _rounded(self) -> sp.Expr:
        return sp.Add(*[sp.Float(float(f"{t.coefficient:.6g}"), 6) * t.expression for t in self.terms])

    def system(self, name: str | None = None) -> System:
        """An :class:`lnn.System` whose Lagrangian is the formula (``jax.numpy``), so it rolls out like any other.

        The sampling box, samplers and Cartesian pairs are the source system's (when
        one was given), else the box of the states the formula was fitted on; the
        energy scale is the RMS of the formula's energy over that box's samples.
        """
        if not self.explained:
            raise ConfigurationError(
                f"no formula in the library explains these accelerations to within {self.tolerance:g} (best "
                f"{self.best_error:.3g}); enlarge the library (degree, inverse distances, extra terms)."
            )
        values = lambdified(self.library, (self.expression,))

        def lagrangian(q: Array, qdot: Array) -> Array:
            return values(q, qdot)[0]

        src = self.source
        low, high = (src.q_low, src.q_high) if src is not None else (self.box or (None, None))
        sampler = None if src is None or src.configuration_sampler is None else _Bound(src.configuration_sampler, src)
        motions = None if src is None or src.motion_sampler is None else _Bound(src.motion_sampler, src)

        def build(energy_scale: float) -> System:
            return System(
                name or (f"distilled_{src.name}" if src is not None else "distilled"),
                self.library.coordinates,
                lagrangian,
                angles=self.library.angles,
                q_low=low,
                q_high=high,
                energy_scale=energy_scale,
                description=f"distilled: L = {self.lagrangian}",
                cartesian_pairs=src.cartesian_pairs if src is not None else (),
                configuration_sampler=sampler,
                motion_sampler=motions,
                horizon=src.horizon if src is not None else 100.0,
            )

        draft = build(1.0)
        q = draft.sample_configurations(jax.random.key(0), 1024)
        qdot = jax.random.normal(jax.random.key(1), q.shape, dtype=q.dtype) * jnp.asarray(self.speeds, q.dtype)
        scale = float(jnp.sqrt(jnp.mean(draft.energy(q, qdot) ** 2)))
        return build(scale if math.isfinite(scale) and scale > 0 else 1.0)

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data (the ``lnn distill --json`` object)."""
        return {
            "lagrangian": self.lagrangian if self.explained else None,
            "latex": self.latex if self.explained else None,
            "explained": self.explained,
            "terms": [t.to_json() for t in self.terms],
            "acceleration_error": self.acceleration_error,
            "data_error": self.data_error,
            "best_error": self.best_error,
            "tolerance": self.tolerance,
            "scale": self.scale,
            "dropped": list(self.dropped),
            "total_derivatives": self.gauge,
            "pareto": [p.to_json() for p in self.pareto],
            "chosen": self.chosen,
        }


@dataclasses.dataclass(frozen=True)
class _Bound:
    """A source system's sampler with the source's parameters bound (the distilled system has none)."""

    fn: Callable[..., Any]
    source: System

    def __call__(self, key: Array, n: int, **_: float) -> Any:
        return self.fn(key, n, **self.source.parameters)


def distill(
    model: AbstractLagrangian | Lagrangian,
    system: System | Sequence[str] | None = None,
    *,
    coordinates: Sequence[str] | None = None,
    angles: Sequence[bool] | None = None,
    states: Dataset | tuple[Any, Any] | tuple[Any, Any, Any] | None = None,
    key: Array | None = None,
    n_states: int = 2000,
    degree: int = 2,
    kinetic_degree: int = 0,
    velocity_degree: int = 1,
    inverse_distances: bool = False,
    points: Sequence[tuple[int, int]] | None = None,
    terms: Sequence[str | sp.Expr] = (),
    scale: tuple[str | sp.Expr, float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    knee: float = DEFAULT_KNEE,
) -> Distilled:
    """Distill ``model``'s Lagrangian into a sparse formula over a candidate library (module docstring).

    Args:
        model: a Lagrangian model or system (its accelerations and mass matrix are
            used), or a function ``L(q, qdot) -> scalar``.
        system: the system the coordinates are from (names, angles, Cartesian pairs,
            where states lie); its accelerations are "the data" when ``states`` has none.
            Or the coordinate names themselves (then ``states`` is needed).
        coordinates, angles: instead of ``system``, the coordinate names and angle flags.
        states: where to fit: a :class:`lnn.Dataset` (its q̈ is the data), or
            ``(q, qdot)`` / ``(q, qdot, qddot)`` arrays of shape ``(S, n)``;
            default ``n_states`` of the system's :meth:`~lnn.System.sample_states` from ``key``.
        degree, kinetic_degree, velocity_degree, inverse_distances, points, terms:
            the library (:func:`lnn.distillation.build_library`); ``points`` defaults to
            the system's Cartesian pairs.
        scale: ``(term, value)``: the coefficient of ``term`` in L is ``value`` (a
            known mass); default the model's own scale, fitted to its mass matrix.
        tolerance: the largest acceleration error (relative, see the module) a
            formula may have; above it the Lagrangian is reported as outside the library.
        knee: the knee rule's factor over the smallest error on the path.

    Float64 is needed for exact recovery (enable ``jax_enable_x64``).
    """
    if system is not None and not isinstance(system, System):
        system, coordinates = None, tuple(system)
    if system is None and coordinates is None:
        raise ConfigurationError("give the system the model is of, or its coordinates= (and angles=).")
    names = system.coordinates if system is not None else tuple(coordinates or ())
    flags = system.angles if system is not None else (None if angles is None else tuple(angles))
    library = build_library(
        names,
        flags,
        degree=degree,
        kinetic_degree=kinetic_degree,
        velocity_degree=velocity_degree,
        inverse_distances=inverse_distances,
        points=(system.cartesian_pairs if system is not None else ()) if points is None else points,
        extra_terms=terms,
    )
    if not (tolerance > 0 and knee >= 1):
        raise ConfigurationError(f"need tolerance > 0 and knee >= 1; got {tolerance} and {knee}.")
    q, qdot, data_qddot = _states(system, states, key, n_states, len(names))
    qddot = np.asarray(accelerations(model, q, qdot))
    if not np.all(np.isfinite(qddot)):
        raise DataError("the model's accelerations are not finite at some states; check its mass matrix there.")
    H, g = euler_lagrange_terms(library, q, qdot)
    fit = _fit(library, H, g, qddot, np.asarray(mass_matrix(model, q, qdot)), knee, seed=0)
    if scale is None:
        lam, how = 1.0, "the model's own (its mass matrix fitted with its equations of motion)"
    else:
        lam, how = _term_scale(library, fit.xi, scale), f"coefficient of {scale[0]} = {scale[1]:g}"
    xi, sd = lam * fit.xi, abs(lam) * fit.sd
    err = fit.errors[fit.chosen]
    explained = bool(err <= tolerance)
    active = np.flatnonzero(xi) if explained else np.array([], dtype=int)
    found = tuple(Term(library.terms[k], library.kinds[k], float(xi[k]), float(sd[k])) for k in active)
    data_error = None if data_qddot is None else _acceleration_error(xi, H, g, data_qddot)
    low, high = np.min(np.asarray(q), axis=0), np.max(np.asarray(q), axis=0)
    return Distilled(
        library=library,
        explained=explained,
        terms=found,
        acceleration_error=float(err),
        data_error=data_error,
        best_error=float(np.min(fit.errors)),
        tolerance=tolerance,
        knee=knee,
        pareto=fit.pareto,
        chosen=fit.pareto_chosen,
        dropped=tuple(str(library.terms[k]) for k in fit.dropped),
        gauge=fit.gauge,
        scale=how,
        source=system,
        box=(tuple(float(v) for v in low), tuple(float(v) for v in high)),
        speeds=tuple(float(v) for v in np.sqrt(np.mean(np.asarray(qdot) ** 2, axis=0))),
    )


def _states(system, states, key, n_states, n):
    """(q, qdot, data q̈ or None) as float arrays of shape (S, n)."""
    if states is None:
        if system is None:
            raise ConfigurationError("without a system, pass states= (a Dataset or (q, qdot) arrays) to fit on.")
        if key is None:
            raise ConfigurationError("pass key= (a jax.random key) to sample the states, or states=.")
        q, qdot = system.sample_states(key, n_states)
        return q, qdot, np.asarray(accelerations(system, q, qdot))
    if isinstance(states, Dataset):
        q, qdot, data = states.q, states.qdot, states.qddot
    elif len(states) == 3:
        q, qdot, data = states
    else:
        q, qdot = states
        data = None if system is None else accelerations(system, q, qdot)
    q, qdot = jnp.asarray(q, dtype=float), jnp.asarray(qdot, dtype=float)
    if q.ndim != 2 or q.shape != qdot.shape or q.shape[1] != n:
        raise DataError(f"states must be (q, qdot) of shape (S, {n}); got {q.shape} and {qdot.shape}.")
    return q, qdot, None if data is None else np.asarray(data, dtype=float)


@dataclasses.dataclass(frozen=True)
class _Fit:
    xi: np.ndarray  # chosen coefficients, reference = 1 (before the scale)
    sd: np.ndarray  # their standard errors
    errors: np.ndarray  # acceleration error of each support on the path
    chosen: int  # index into errors
    pareto: tuple[ParetoPoint, ...]
    pareto_chosen: int
    dropped: tuple[int, ...]
    gauge: int


def _fit(
    library: Library, H: np.ndarray, g: np.ndarray, qddot: np.ndarray, target: np.ndarray, knee: float, seed: int
) -> _Fit:
    S, K, n, _ = H.shape
    theta = _columns(H, g, qddot)
    # the same columns with random accelerations: what vanishes here vanishes for every motion
    rms = np.sqrt(np.mean(qddot**2, axis=0)) + 1.0
    random = np.random.default_rng(seed).normal(size=qddot.shape) * rms
    theta_r = _columns(H, g, random)
    norms_r = np.linalg.norm(theta_r, axis=0)
    zero = norms_r <= 1e-9 * np.max(norms_r)
    keep = np.flatnonzero(~zero)
    # total derivatives: the null space of the random-acceleration columns, as raw coefficients
    d_r = norms_r[keep]
    _, s_r, vt_r = np.linalg.svd(theta_r[:, keep] / d_r, full_matrices=False)
    null = vt_r[s_r <= 1e-8 * s_r[0]]
    if len(null):
        gauge_basis, _ = np.linalg.qr((null / d_r).T)  # orthonormal in raw coefficients, (k, g)
    else:
        gauge_basis = np.zeros((len(keep), 0))

    # the model's mass matrix, fitted beside its equations of motion: this fixes the scale (the
    # model's own), and the scale of each decoupled part of L (a free z in a magnetic field)
    m_cols = H[:, keep].transpose(0, 2, 3, 1).reshape(-1, len(keep))
    m_target = target.reshape(-1)
    d = np.linalg.norm(theta[:, keep], axis=0) + np.linalg.norm(m_cols, axis=0)
    d = np.where(d > 0, d, 1.0)
    kinetic = [i for i, k in enumerate(keep) if library.kinds[k] == KINETIC]
    if not kinetic:
        raise ConfigurationError("the library has no kinetic terms q̇ᵢq̇ⱼ f(q); a Lagrangian needs one.")
    weight = np.linalg.norm(theta[:, keep[kinetic]]) / max(float(np.linalg.norm(m_cols[:, kinetic])), 1e-300)
    A = np.concatenate([theta[:, keep], weight * m_cols]) / d
    b = np.concatenate([np.zeros(theta.shape[0]), weight * m_target])

    def raw(support: list[int], w: np.ndarray) -> np.ndarray:
        x = np.zeros(len(keep))
        x[support] = w / d[support]
        x = x - gauge_basis @ (gauge_basis.T @ x)  # the gauge of least coefficient norm
        x[np.abs(x * d) < 1e-10 * max(float(np.max(np.abs(x * d), initial=0.0)), 1e-300)] = 0.0
        return x

    # every step solves the normal equations of its support from one Gram matrix (a pseudo-inverse:
    # least norm along the gauge directions); a least-squares solve per step on the tall matrix is
    # the same numbers and, with BLAS threads contending, up to 50× slower
    gram, rhs = A.T @ A, A.T @ b
    path: list[tuple[np.ndarray, list[int], np.ndarray]] = []
    active = list(range(len(keep)))
    while active:
        w = _pinv(gram[np.ix_(active, active)]) @ rhs[active]
        path.append((raw(active, w), list(active), w))
        active.pop(int(np.argmin(np.abs(w))))
    errors = np.array([_acceleration_error(_embed(x, keep, K), H, g, qddot) for x, _, _ in path])
    sizes = np.array([np.count_nonzero(x) for x, _, _ in path])
    best = float(np.min(errors))
    good = [i for i in range(len(path)) if errors[i] <= knee * best + _ROUNDING]
    chosen = min(good, key=lambda i: (sizes[i], errors[i]))

    x, support, w = path[chosen]
    sd = _standard_errors(A, b, gram, support, w, d, gauge_basis, len(keep))
    pareto, at = _front(library, keep, path, errors, sizes, chosen)
    return _Fit(
        xi=_embed(x, keep, K),
        sd=_embed(np.where(x != 0, sd, 0.0), keep, K),
        errors=errors,
        chosen=chosen,
        pareto=pareto,
        pareto_chosen=at,
        dropped=tuple(int(k) for k in np.flatnonzero(zero)),
        gauge=gauge_basis.shape[1],
    )


def _columns(H: np.ndarray, g: np.ndarray, qddot: np.ndarray) -> np.ndarray:
    """Θ of shape (S·n, K): row (s, i), column k = (H_k q̈ − g_k)_i."""
    cols = np.einsum("skij,sj->ski", H, qddot) - g
    return cols.transpose(0, 2, 1).reshape(-1, H.shape[1])


def _embed(x: np.ndarray, keep: np.ndarray, K: int) -> np.ndarray:
    out = np.zeros(K)
    out[keep] = x
    return out


def _pinv(gram: np.ndarray) -> np.ndarray:
    """Pseudo-inverse of a Gram matrix AᵀA, eigenvalues below 1e-12 of the largest (singular values of A
    below 1e-6 of the largest: gauge directions, at the Gram matrix's rounding) left out."""
    lam, V = np.linalg.eigh(gram)
    ok = lam > 1e-12 * max(float(lam[-1]), 1e-300)
    return (V[:, ok] / lam[ok]) @ V[:, ok].T


def _standard_errors(A, b, gram, support, w, d, gauge_basis, k) -> np.ndarray:
    """Standard errors of the raw coefficients from the residual covariance σ²(AᵀA)⁺ of the final fit."""
    sd = np.zeros(k)
    if not support:
        return sd
    resid = A[:, support] @ w - b  # directly: from the Gram matrix it would cancel to rounding
    cov = float(resid @ resid) / max(A.shape[0] - len(support), 1) * _pinv(gram[np.ix_(support, support)])
    J = np.zeros((k, len(support)))
    J[support, np.arange(len(support))] = 1.0 / d[support]
    J = J - gauge_basis @ (gauge_basis.T @ J)
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", J, cov, J), 0.0))


def _front(library, keep, path, errors, sizes, chosen) -> tuple[tuple[ParetoPoint, ...], int]:
    """The best support of each size, fewest terms first, and where the chosen one is."""
    best: dict[int, int] = {}
    for i, size in enumerate(sizes):
        if int(size) not in best or errors[i] < errors[best[int(size)]]:
            best[int(size)] = i
    best[int(sizes[chosen])] = chosen
    order = sorted(best)
    points = tuple(
        ParetoPoint(
            int(s),
            float(errors[best[s]]),
            tuple(str(library.terms[keep[j]]) for j in np.flatnonzero(path[best[s]][0])),
        )
        for s in order
    )
    return points, order.index(int(sizes[chosen]))


def _acceleration_error(xi: np.ndarray, H: np.ndarray, g: np.ndarray, qddot: np.ndarray) -> float:
    """RMS of q̈_ξ − q̈ over states and coordinates over the RMS of q̈; inf where M_ξ is singular."""
    M = np.einsum("k,skij->sij", xi, H)
    force = np.einsum("k,ski->si", xi, g)
    with np.errstate(all="ignore"):
        try:
            pred = np.linalg.solve(M, force[..., None])[..., 0]
        except np.linalg.LinAlgError:  # exactly singular somewhere (a support without some kinetic term)
            return math.inf
    if not np.all(np.isfinite(pred)):
        return math.inf
    scale = float(np.sqrt(np.mean(qddot**2)))
    return float(np.sqrt(np.mean((pred - qddot) ** 2)) / (scale if scale > 0 else 1.0))


def _term_scale(library: Library, xi: np.ndarray, scale: tuple[str | sp.Expr, float]) -> float:
    """λ such that the coefficient of the named term in λ Σ ξₖ φₖ is the given value."""
    term, value = scale
    expr = library.parse(term)
    formula = sp.expand(sp.Add(*[sp.Float(c, 17) * t for c, t in zip(xi, library.terms, strict=True) if c != 0]))
    factor, base = sp.expand(expr).as_coeff_Mul()  # ½θ̇² names the monomial θ̇² with a factor ½
    coefficient = formula.coeff(base) / factor
    if not coefficient.is_number or coefficient == 0:
        raise ConfigurationError(
            f"the formula has no term {term!r} with a constant coefficient to fix the scale by; its terms are "
            f"{', '.join(str(a) for a in sp.Add.make_args(formula))}."
        )
    return float(value) / float(coefficient)
