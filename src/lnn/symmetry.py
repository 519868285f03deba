r"""Symmetries of a Lagrangian and their conserved charges (Noether's theorem).

A generator is a vector field ξ(q) on configuration space, a function
``xi(q) -> (n,)`` for one configuration ``q`` of shape ``(n,)``. Its flow moves a
state by δq = ε ξ(q), δq̇ = ε Dξ(q) q̇, and changes L by ε δL with

.. math:: \delta L = \nabla_q L\cdot\xi(q) + \nabla_{\dot q} L\cdot\big(D\xi(q)\,\dot q\big).

If δL = 0 everywhere, Noether's theorem makes the charge

.. math:: Q_\xi = \frac{\partial L}{\partial\dot q}\cdot\xi(q)

conserved along every motion (dQ/dt = δL by the Euler–Lagrange equations).
Time translation always gives the energy (:func:`lnn.energy`).

**Score (normalised defect).** δL has the units of L times those of ξ, so it is
made dimensionless before generators and systems are compared. Each coordinate
q_i is measured in units of its spread σ_i over the states tested and each
velocity in units of its RMS σ̇_i; in these units the gradient of L is
A = (σ ∂L/∂q, σ̇ ∂L/∂q̇) and the generator moves the state along
B = (ξ/σ, Dξ q̇/σ̇), so δL = A·B. The score is

.. math:: s(\xi) = \frac{\mathrm{RMS}_k\,[\delta L_k / |A_k|]}{\mathrm{RMS}_k\,|B_k|}\in[0, 1],

an average cosine between the gradient of L and the direction the generator
moves the state: 0 when moving along ξ never changes L, 1 when it always climbs
straight up its gradient. It does not change when L is multiplied by a constant
(a learned L has an arbitrary scale), when ξ is, or when the units of any
coordinate or of time change.

**Threshold and gap.** A closed-form Lagrangian scores ~1e-16 on its
symmetries. A learned L is only as good as its fit: if its gradient is off by a
fraction ε (of the order of its relative acceleration error, a few %), a true
symmetry scores a few ε, while a generic direction scores ~1/√(2n) (0.2–0.7 for
the built-in systems). So a generator is called a symmetry only if its score is
below ``threshold`` (default :data:`DEFAULT_THRESHOLD` = 0.1: L changes by less
than a tenth of what the steepest motion changes it by). In discovery, singular
values below threshold/3 are symmetries, values at or above the threshold are
not, and those in between are cut at their largest gap (the largest ratio
between consecutive values): symmetries of a learned L come as a cluster of
small values separated by a gap from the broken directions, and a fit that is
better for some symmetries (translations) than others (rotation) spreads the
cluster. The singular values are always returned, so the gap can be judged.

**Discovery.** With candidates ξ_1..ξ_m, δL is linear in the coefficients of a
combination Σ c_j ξ_j. The invariance matrix W_kj = δL_j(s_k) / (|A_k| N_j √K),
N_j = RMS_k |B_jk|, maps coefficients (in units of each candidate's typical
speed) to normalised defects at the K states; the right singular vectors with
small singular values span the (approximate) symmetries, and
‖W c‖ = s(Σ c_j ξ_j / N_j) for |c| = 1 up to the candidates' cross terms.

**Gauge.** A Lagrangian is fixed by its motions only up to a total time
derivative: L + dG(q)/dt = L + ∇G·q̇ has the same equations of motion for any
G. A learned L carries such a term from its random initialisation (nothing in
the training sees it), and it spoils invariance (δL gains d(ξ·∇G)/dt: a
quasi-symmetry) and shifts charges by ξ·∇G. For a system that is even under
time reversal, L(q, −q̇) = L(q, q̇) — every built-in one — the odd part of a
learned L can only be such a total derivative or a spurious velocity-linear
(magnetic-like) force that training drives to zero, so :func:`find_symmetries` tests
the even part ½[L(q, q̇) + L(q, −q̇)] (:func:`even_part`). The tests show a
total derivative hiding the two-body symmetries and the even part restoring
them.

States are batched over leading axes ``(..., n)`` wherever a function takes them.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from lnn import mechanics
from lnn._typing import States
from lnn.errors import SymmetryError
from lnn.integrate import RK4, rollout
from lnn.mechanics import AbstractLagrangian, Lagrangian, as_lagrangian, as_state
from lnn.systems import System

Generator = Callable[[Array], Array]

DEFAULT_THRESHOLD = 0.1


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A named generator ξ(q); ``kind`` is 'translation', 'rotation', 'scaling' or 'user'."""

    name: str
    kind: str
    xi: Generator


def translation(i: int, n: int) -> Generator:
    """ξ = e_i: shift coordinate i (for an angle, a rotation about its axis)."""
    e = jnp.zeros(n).at[i].set(1.0)
    return lambda q: e.astype(q.dtype)


def rotation(i: int, j: int, n: int) -> Generator:
    """ξ = (−q_j) e_i + q_i e_j: rotate the plane of the Cartesian pair (q_i, q_j) about its origin."""
    return lambda q: jnp.zeros_like(q).at[i].set(-q[j]).at[j].set(q[i])


def scaling(i: int, n: int) -> Generator:
    """ξ = q_i e_i: stretch coordinate i about its origin."""
    return lambda q: jnp.zeros_like(q).at[i].set(q[i])


def candidates(
    system: System | None = None,
    *,
    coordinates: Sequence[str] | None = None,
    angles: Sequence[bool] | None = None,
    cartesian_pairs: Sequence[tuple[int, int]] | None = None,
    scalings: bool = True,
    extra: Mapping[str, Generator] | None = None,
) -> tuple[Candidate, ...]:
    """The candidate library: translations, rotations of Cartesian pairs, scalings, user fields.

    Taken from ``system`` (its coordinates, angles and ``cartesian_pairs``) unless
    given. One translation per coordinate; one rotation per declared Cartesian
    pair; one scaling per coordinate that is not an angle (a scaled angle is not
    periodic); then ``extra``, name → ξ(q), in order.
    """
    if coordinates is None and system is None:
        raise SymmetryError("name the coordinates, or pass the system they belong to.")
    if coordinates is None:
        assert system is not None
        coordinates = system.coordinates
    coordinates = tuple(coordinates)
    n = len(coordinates)
    angles = tuple(angles if angles is not None else (system.angles if system is not None else (False,) * n))
    pairs = tuple(
        cartesian_pairs if cartesian_pairs is not None else (system.cartesian_pairs if system is not None else ())
    )
    if len(angles) != n:
        raise SymmetryError(f"angles has {len(angles)} entries for {n} coordinates; give one per coordinate.")
    out = [Candidate(f"translate {c}", "translation", translation(i, n)) for i, c in enumerate(coordinates)]
    for i, j in pairs:
        if not (0 <= i < n and 0 <= j < n and i != j):
            raise SymmetryError(f"Cartesian pair ({i}, {j}) is not two distinct coordinate indices in 0..{n - 1}.")
        out.append(Candidate(f"rotate ({coordinates[i]}, {coordinates[j]})", "rotation", rotation(i, j, n)))
    if scalings:
        out += [Candidate(f"scale {c}", "scaling", scaling(i, n)) for i, c in enumerate(coordinates) if not angles[i]]
    for name, xi in (extra or {}).items():
        if not callable(xi):
            raise SymmetryError(f"generator {name!r} is not a function q -> ξ(q); pass a callable.")
        out.append(Candidate(name, "user", xi))
    return tuple(out)


def even_part(lagrangian: AbstractLagrangian | Lagrangian) -> Lagrangian:
    """½[L(q, q̇) + L(q, −q̇)]: the part of L even under time reversal (see "Gauge" above)."""
    L = as_lagrangian(lagrangian)
    return lambda q, qdot: 0.5 * (L(q, qdot) + L(q, -qdot))


def is_time_reversal_even(
    lagrangian: AbstractLagrangian | Lagrangian,
    q: States,
    qdot: States,
    *,
    rtol: float = 1e-10,
) -> bool:
    """Whether L(q, −q̇) = L(q, q̇) on the given states, to ``rtol`` of L's spread there."""
    L = as_lagrangian(lagrangian)
    q, qdot = as_state(q, qdot)
    f = jax.jit(jnp.vectorize(lambda a, b: jnp.stack([L(a, b), L(a, -b)]), signature="(n),(n)->(2)"))
    values = np.asarray(f(q, qdot))
    return bool(np.max(np.abs(values[..., 0] - values[..., 1])) <= rtol * (np.std(values[..., 0]) + 1e-300))


def _check_generator(xi, q: Array, name: str = "generator") -> None:
    if not callable(xi):
        raise SymmetryError(f"{name} is not a function q -> ξ(q); pass a callable.")
    out = jax.eval_shape(xi, jax.ShapeDtypeStruct(q.shape[-1:], q.dtype))
    if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != q.shape[-1:]:
        got = out.shape if isinstance(out, jax.ShapeDtypeStruct) else type(out).__name__
        raise SymmetryError(
            f"{name} must map q of shape {tuple(q.shape[-1:])} to a vector of the same shape "
            f"(one component per coordinate); it returned {got}."
        )


def _check_lagrangian(L, q: Array) -> None:
    spec = jax.ShapeDtypeStruct(q.shape[-1:], q.dtype)
    out = jax.eval_shape(L, spec, spec)
    if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != ():
        got = out.shape if isinstance(out, jax.ShapeDtypeStruct) else type(out).__name__
        raise SymmetryError(f"the Lagrangian must return a scalar for one state; it returned {got}.")


def _per_state(L: AbstractLagrangian | Lagrangian, xi: Generator, q, qdot, one) -> Array:
    """``one(L, ξ, a, b)`` (a scalar per state) over states ``(..., n)``, after checking L and ξ."""
    L = as_lagrangian(L)
    q, qdot = as_state(q, qdot)
    _check_generator(xi, q)
    _check_lagrangian(L, q)
    return _over_states(one, L, xi, q, qdot)


@eqx.filter_jit
def _over_states(one, L: Lagrangian, xi: Generator, q: Array, qdot: Array) -> Array:
    """Compiled once per (function, L's structure, ξ, shapes): op by op, batched derivatives take seconds.
    A Lagrangian model's weights are traced, so models of one structure share the program."""
    return jnp.vectorize(functools.partial(one, L, xi), signature="(n),(n)->()")(q, qdot)


def _charge_of_state(L: Lagrangian, xi: Generator, a: Array, b: Array) -> Array:
    return jnp.dot(jax.grad(L, argnums=1)(a, b), xi(a))


def _defect_of_state(L: Lagrangian, xi: Generator, a: Array, b: Array) -> Array:
    xi_q, dxi = jax.jvp(xi, (a,), (b,))  # ξ(q) and Dξ(q) q̇
    return jax.jvp(L, (a, b), (xi_q, dxi))[1]


def noether_charge(
    lagrangian: AbstractLagrangian | Lagrangian,
    xi: Generator,
    q: States,
    qdot: States,
) -> Float[Array, "..."]:
    r"""Noether charge :math:`Q = \partial L/\partial\dot q\cdot\xi(q)`, batched over leading axes."""
    return _per_state(lagrangian, xi, q, qdot, _charge_of_state)


def invariance_defect(
    lagrangian: AbstractLagrangian | Lagrangian,
    xi: Generator,
    q: States,
    qdot: States,
) -> Float[Array, "..."]:
    r"""δL = d/dε L(q + ε ξ(q), q̇ + ε Dξ(q) q̇) at ε = 0, batched; 0 for a symmetry of L."""
    return _per_state(lagrangian, xi, q, qdot, _defect_of_state)


def _spreads(q: Array, qdot: Array) -> tuple[Array, Array]:
    """σ_i (std of each coordinate) and σ̇_i (RMS of each velocity) over states (K, n), floored."""
    sq = jnp.std(q, axis=0)
    sv = jnp.sqrt(jnp.mean(qdot**2, axis=0))
    floor = lambda s: jnp.where(s > 0, s, 1.0)
    return floor(sq), floor(sv)


def _normalised_terms(L, xis: Sequence[Generator], q: Array, qdot: Array) -> tuple[np.ndarray, np.ndarray]:
    """Per state k and generator j: δL_jk / |A_k|, shape (K, m), and B_jk, shape (K, m, 2n).

    B is linear in ξ, so the B of any combination of the generators is the same
    combination of theirs (no recompilation per combination).
    """
    sq, sv = _spreads(q, qdot)

    def one(a, b):
        gq, gv = jax.grad(L, argnums=(0, 1))(a, b)
        norm_A = jnp.sqrt(jnp.sum((gq * sq) ** 2) + jnp.sum((gv * sv) ** 2))
        defects, moves = [], []
        for xi in xis:
            xi_q, dxi = jax.jvp(xi, (a,), (b,))
            defects.append((jnp.dot(gq, xi_q) + jnp.dot(gv, dxi)) / norm_A)
            moves.append(jnp.concatenate([xi_q / sq, dxi / sv]))
        return jnp.stack(defects), jnp.stack(moves)

    defect, move = jax.jit(jax.vmap(one))(q, qdot)
    return np.asarray(defect), np.asarray(move)


def _flatten_states(L, xis, q, qdot, names):
    L = as_lagrangian(L)
    q, qdot = as_state(q, qdot)
    n = q.shape[-1]
    q, qdot = q.reshape(-1, n), qdot.reshape(-1, n)
    if q.shape[0] < 2:
        raise SymmetryError("need at least 2 states to test a symmetry; pass a batch (K, n) of states.")
    _check_lagrangian(L, q)
    for xi, name in zip(xis, names, strict=True):
        _check_generator(xi, q, name)
    return q, qdot


def symmetry_score(L: Lagrangian, xi: Generator, q: States, qdot: States) -> float:
    """The normalised invariance defect s(ξ) ∈ [0, 1] over the given states (see module docstring)."""
    L = as_lagrangian(L)
    q, qdot = _flatten_states(L, [xi], q, qdot, ["generator"])
    defect, move = _normalised_terms(L, [xi], q, qdot)
    return _score(defect[:, 0], np.linalg.norm(move[:, 0], axis=-1), "generator")


def _score(defect: np.ndarray, speed: np.ndarray, name: str) -> float:
    rms_speed = float(np.sqrt(np.mean(speed**2)))
    if not np.all(np.isfinite(defect)) or not np.isfinite(rms_speed):
        raise SymmetryError(
            f"{name}: non-finite δL or ξ on the states tested; check the generator and that L is finite there."
        )
    if rms_speed == 0:
        raise SymmetryError(f"{name} is zero on every state tested, so it generates no motion to test.")
    return float(np.sqrt(np.mean(defect**2)) / rms_speed)


@dataclasses.dataclass(frozen=True)
class Symmetry:
    """One discovered (or declared) symmetry: ξ = Σ_j coefficients[j] · candidates[j].xi.

    ``coefficients`` are scaled so the largest is +1; ``score`` is s(ξ);
    ``label`` reads like "translate x1 + 0.99 translate x2".
    """

    coefficients: np.ndarray
    candidates: tuple[Candidate, ...]
    score: float
    kind: str
    label: str

    def xi(self, q: Array) -> Array:
        """ξ(q) of the combination, for one configuration (n,)."""
        terms = [c * cand.xi(q) for c, cand in zip(self.coefficients, self.candidates, strict=True) if c != 0]
        return functools.reduce(operator.add, terms, jnp.zeros_like(q))

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "score": self.score,
            "coefficients": {c.name: float(v) for c, v in zip(self.candidates, self.coefficients, strict=True)},
        }


@dataclasses.dataclass(frozen=True)
class Discovery:
    """Result of :func:`discover`.

    ``scores``: s(ξ_j) of each candidate alone. ``singular_values``: of the
    invariance matrix, ascending; the symmetries are the values below
    threshold/3, and those below ``threshold`` up to their largest gap (module
    docstring). ``gap``: the ratio
    of the first value after the symmetries to the last one of them (inf with
    none; large = clear-cut).
    """

    candidates: tuple[Candidate, ...]
    scores: np.ndarray
    singular_values: np.ndarray
    symmetries: tuple[Symmetry, ...]
    threshold: float

    @property
    def gap(self) -> float:
        k, sv = len(self.symmetries), self.singular_values
        if k == 0 or k == sv.size:
            return float("inf")
        return float(sv[k] / max(sv[k - 1], 1e-300))

    def to_json(self) -> dict[str, Any]:
        return {
            "symmetries": [s.to_json() for s in self.symmetries],
            "singular_values": [float(v) for v in self.singular_values],
            "n_symmetries": len(self.symmetries),
            "threshold": self.threshold,
            "gap": self.gap,
            "candidates": [
                {"name": c.name, "kind": c.kind, "score": float(s)}
                for c, s in zip(self.candidates, self.scores, strict=True)
            ],
        }


def discover(
    L: AbstractLagrangian | Lagrangian,
    candidate_list: Sequence[Candidate],
    q: States,
    qdot: States,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> Discovery:
    """Find the combinations of candidates that leave L invariant on the states ``(..., n)``.

    Builds the invariance matrix W (module docstring), takes its SVD, and keeps
    the right singular vectors whose singular values are below ``threshold``
    and its largest gap (module docstring).
    The kept subspace is returned in a readable basis (reduced row-echelon form
    over the candidates in their order, so translations come first), each
    symmetry scored by :func:`symmetry_score`'s s(ξ).
    """
    candidate_list = tuple(candidate_list)
    if not candidate_list:
        raise SymmetryError("no candidate generators; pass at least one (see lnn.symmetry.candidates).")
    if not threshold > 0:
        raise SymmetryError(f"the threshold must be positive; got {threshold}.")
    names = [c.name for c in candidate_list]
    L = as_lagrangian(L)
    q, qdot = _flatten_states(L, [c.xi for c in candidate_list], q, qdot, names)
    defect, move = _normalised_terms(L, [c.xi for c in candidate_list], q, qdot)
    speed = np.linalg.norm(move, axis=-1)
    scores = np.array([_score(defect[:, j], speed[:, j], names[j]) for j in range(len(names))])
    N = np.sqrt(np.mean(speed**2, axis=0))
    W = defect / N / np.sqrt(defect.shape[0])
    _, sv, vt = np.linalg.svd(W, full_matrices=False)
    order = np.argsort(sv)
    sv, vt = sv[order], vt[order]
    if sv.size < len(names):  # fewer states than candidates: the missing values are exact zeros
        raise SymmetryError(f"need at least as many states ({q.shape[0]}) as candidates ({len(names)}).")
    k = _count_below_gap(sv, threshold)
    raw = vt[:k] / N  # coefficients of the candidates themselves, not of their normalised versions
    symmetries = []
    for row in _readable_basis(raw):
        row = row / row[np.argmax(np.abs(row))]
        score = _score(defect @ row, np.linalg.norm(np.einsum("kjd,j->kd", move, row), axis=-1), "combination")
        symmetries.append(Symmetry(row, candidate_list, score, _kind(row, candidate_list), _label(row, candidate_list)))
    return Discovery(candidate_list, scores, sv, tuple(symmetries), float(threshold))


def _count_below_gap(sv: np.ndarray, threshold: float) -> int:
    """How many of the ascending ``sv`` are symmetries (module docstring, "Threshold and gap").

    Values below threshold/3 always are, values at or above the threshold never;
    in between, the cut goes at the largest ratio between consecutive values.
    """
    sure = int(np.sum(sv < threshold / 3))
    below = int(np.sum(sv < threshold))
    if below == sure:
        return sure
    nxt = max(sv[below], threshold) if below < sv.size else threshold
    values = np.append(sv[:below], nxt)
    # ratio after cutting at k (k symmetries), for k = sure .. below; with no sure one,
    # the first value is compared with threshold/3
    prev = values[sure - 1] if sure else threshold / 3
    ratios = [values[sure] / max(prev, 1e-300)] + [
        values[k] / max(values[k - 1], 1e-300) for k in range(sure + 1, below + 1)
    ]
    return sure + int(np.argmax(ratios))


def _readable_basis(rows: np.ndarray, pivot_fraction: float = 0.3) -> np.ndarray:
    """The same row space in reduced row-echelon form, pivoting on candidates in order.

    A column becomes a pivot only if some remaining row has an entry at least
    ``pivot_fraction`` of the largest remaining entry: a learned L gives
    approximate null vectors whose small contaminations must not be pivots.
    """
    M = np.array(rows, dtype=float)
    r = 0
    for col in range(M.shape[1]):
        if r == M.shape[0]:
            break
        rest = np.abs(M[r:])
        i = int(np.argmax(rest[:, col]))
        if rest[i, col] < pivot_fraction * rest.max():
            continue
        M[[r, r + i]] = M[[r + i, r]]
        M[r] /= M[r, col]
        others = np.arange(M.shape[0]) != r
        M[others] -= np.outer(M[others, col], M[r])
        r += 1
    return M


def _significant(row, candidate_list, fraction: float = 0.1):
    big = np.abs(row) >= fraction * np.max(np.abs(row))
    return [(c, v) for c, v, b in zip(candidate_list, row, big, strict=True) if b]


def _kind(row, candidate_list) -> str:
    kinds = {c.kind for c, _ in _significant(row, candidate_list)}
    for k in ("user", "scaling", "rotation"):  # the least common kind present names it
        if k in kinds:
            return k
    return "translation"


def _label(row, candidate_list) -> str:
    """e.g. "translate x1 + 0.99 translate x2" (coefficients within 0.005 of ±1 are not written)."""
    text = ""
    for c, v in _significant(row, candidate_list):
        sign = "−" if v < 0 else "+"
        size = "" if abs(abs(v) - 1) < 0.005 else f"{abs(v):.2f} "
        text += f" {sign} {size}{c.name}" if text else f"{'−' if v < 0 else ''}{size}{c.name}"
    return text


def charge_drift(
    L: Lagrangian,
    xi: Generator,
    q: Float[Array, "... T n"],
    qdot: Float[Array, "... T n"],
    *,
    scale: float | None = None,
) -> Float[Array, "..."]:
    """max_t |Q(t) − Q(0)| / scale along trajectories ``(..., T, n)``.

    ``scale`` (default: the RMS of Q over all the given states) makes charges of
    Lagrangians with different overall factors comparable: a learned L has an
    arbitrary scale, and so has its charge.
    """
    Q = noether_charge(L, xi, q, qdot)
    if scale is None:
        scale = float(jnp.sqrt(jnp.nanmean(Q**2)))
    return jnp.max(jnp.abs(Q - Q[..., :1]), axis=-1) / scale


@dataclasses.dataclass(frozen=True)
class Verification:
    """Charges of each discovered symmetry along rollouts of a model and of the true system.

    ``ts`` (T,); per symmetry i, ``charge_model[i]`` (N, T): the model's charge
    along the model's rollouts, ``charge_true[i]`` (N, T): the true system's charge
    (of the true symmetry nearest to symmetry i) along the true rollouts, and
    ``charge_true_on_model[i]``: that true charge along the model's rollouts.
    Each is divided by the RMS of the same charge over the test states.
    ``true_coefficients[i]`` is the generator used for the truth. ``energy_*`` are
    the energies, divided by their spread over the test states.
    """

    ts: np.ndarray
    charge_model: list[np.ndarray]
    charge_true: list[np.ndarray]
    charge_true_on_model: list[np.ndarray]
    true_coefficients: list[np.ndarray]
    energy_model: np.ndarray
    energy_true: np.ndarray

    @staticmethod
    def _drift(series: np.ndarray) -> float:
        """Mean over rollouts of max_t |Q(t) − Q(0)| (inf if a rollout blew up)."""
        d = np.max(np.abs(series - series[:, :1]), axis=1)
        return float(np.mean(np.where(np.isfinite(d), d, np.inf)))

    def drifts(self, i: int) -> dict[str, float]:
        return {
            "model": self._drift(self.charge_model[i]),
            "true_system": self._drift(self.charge_true[i]),
            "true_charge_on_model_rollouts": self._drift(self.charge_true_on_model[i]),
        }

    def energy_drifts(self) -> dict[str, float]:
        return {"model": self._drift(self.energy_model), "true_system": self._drift(self.energy_true)}


def rollout_states(system: System, key: Array, n: int) -> tuple[Array, Array]:
    """Initial states for checking charges: the system's ``motion_sampler`` if it has one, else
    energy ≤ the median potential, in the centre-of-mass frame.

    The energy bound keeps motions inside the region a model was trained on (half
    of the configurations are reachable). A system of several bodies (≥ 2
    Cartesian pairs) is boosted to zero total momentum along each axis, so that it
    does not drift out of its box: q̇ ← q̇ − (eᵀMq̇ / eᵀMe) e, e the indicator of
    the bodies' x (then y) coordinates, M the true mass matrix.
    """
    if system.motion_sampler is not None:
        return system.motion_sampler(key, n, **system.parameters)
    k_v, k_s = jax.random.split(key)
    v_median = float(jnp.median(system.potential(system.sample_configurations(k_v, 2048))))
    q, qdot = system.sample_states(k_s, n, max_energy=v_median)
    pairs = system.cartesian_pairs
    if len(pairs) >= 2:
        M = mechanics.mass_matrix(system.lagrangian, q, qdot)
        for axis in (0, 1):
            e = jnp.zeros(system.dof).at[jnp.asarray([p[axis] for p in pairs])].set(1.0)
            qdot = qdot - (jnp.einsum("i,bij,bj->b", e, M, qdot) / jnp.einsum("i,bij,j->b", e, M, e))[:, None] * e
    return q, qdot


def verify(
    model_L: AbstractLagrangian | Lagrangian,
    system: System,
    discovery: Discovery,
    q_test: Array,
    qdot_test: Array,
    key: Array,
    *,
    n_rollouts: int = 8,
    t_end: float = 5.0,
    fps: float = 20.0,
    dt: float = 0.005,
    charge_L: AbstractLagrangian | Lagrangian | None = None,
) -> Verification:
    """Roll out ``model_L`` and ``system`` from the same :func:`rollout_states` and track every charge.

    The model's charges and energy are those of ``charge_L`` (default
    ``model_L``; e.g. its :func:`even_part`, which has the same motions).

    The truth uses, for each discovered symmetry, the nearest symmetry of the true
    Lagrangian (the projection of its coefficients onto the true invariant
    subspace, found by :func:`discover` on the same states): the learned
    generator is only approximately right, and the truth's drift should measure
    the integrator, not that error. If the truth has no such symmetry (projection
    below half the norm), the learned coefficients are used as they are.
    """
    truth = discover(system.lagrangian, discovery.candidates, q_test, qdot_test, threshold=discovery.threshold)
    true_rows = np.array([s.coefficients for s in truth.symmetries]).reshape(-1, len(discovery.candidates))
    ts = np.arange(int(round(t_end * fps)) + 1) / fps
    # Check charges on motions that stay where models are trained: inside the box and
    # never deeper in the potential than the deepest configuration sampled (e.g. no
    # plunge towards a 1/r singularity). Draw extra initial states and keep those
    # that stay inside longest (all the way, where enough do).
    q0, v0 = rollout_states(system, key, 8 * n_rollouts)
    qt, vt = rollout(system, q0, v0, ts, solver=RK4(dt))
    v_floor = float(jnp.min(system.potential(q_test)))
    lengths = ~np.asarray(system.angles)  # angles may wind; only lengths have walls
    qt_np = np.asarray(qt)[..., lengths]
    inside = np.all(
        (qt_np >= np.asarray(system.q_low)[lengths]) & (qt_np <= np.asarray(system.q_high)[lengths]), axis=-1
    ) & (np.asarray(system.potential(qt)) >= v_floor)  # (N, T); NaN (blown up) counts as outside
    # ... and that the integrator resolved (a close pass of a 1/r potential between two
    # frames shows up as a jump in the true energy)
    e_true = np.asarray(mechanics.energy(system.lagrangian, qt, vt))
    inside &= np.abs(e_true - e_true[:, :1]) <= 1e-6 * system.energy_scale
    frames_inside = np.argmin(np.append(inside, np.zeros((inside.shape[0], 1), bool), axis=1), axis=1)
    keep = np.argsort(-frames_inside, kind="stable")[:n_rollouts]
    q0, v0, qt, vt = q0[keep], v0[keep], qt[keep], vt[keep]
    qm, vm = rollout(model_L, q0, v0, ts, solver=RK4(dt))
    charge_L = as_lagrangian(model_L if charge_L is None else charge_L)

    def normalised(L, xi, q, v):
        scale = float(jnp.sqrt(jnp.mean(noether_charge(L, xi, q_test, qdot_test) ** 2)))
        return np.asarray(noether_charge(L, xi, q, v)) / scale

    out = {"charge_model": [], "charge_true": [], "charge_true_on_model": [], "true_coefficients": []}
    for s in discovery.symmetries:
        c = s.coefficients
        if true_rows.size:
            proj = true_rows.T @ np.linalg.lstsq(true_rows.T, c, rcond=None)[0]
            if np.linalg.norm(proj) >= 0.5 * np.linalg.norm(c):
                c = proj / proj[np.argmax(np.abs(proj))]
        true_xi = Symmetry(c, discovery.candidates, 0.0, s.kind, "").xi
        out["charge_model"].append(normalised(charge_L, s.xi, qm, vm))
        out["charge_true"].append(normalised(system.lagrangian, true_xi, qt, vt))
        out["charge_true_on_model"].append(normalised(system.lagrangian, true_xi, qm, vm))
        out["true_coefficients"].append(c)

    def energy(L, q, v):
        return np.asarray(mechanics.energy(L, q, v)) / float(jnp.std(mechanics.energy(L, q_test, qdot_test)))

    return Verification(ts, **out, energy_model=energy(charge_L, qm, vm), energy_true=energy(system.lagrangian, qt, vt))


def report(discovery: Discovery, verification: Verification | None = None) -> dict[str, Any]:
    """JSON-ready result: ``{"symmetries": [...], "singular_values": [...], "n_symmetries": k, ...}``.

    Each symmetry has its coefficients over the candidates, its score, and (with a
    verification) the drift of its charge along rollouts.
    """
    out = discovery.to_json()
    if verification is not None:
        for i, s in enumerate(out["symmetries"]):
            s["drift"] = verification.drifts(i)
            s["true_coefficients"] = {
                c.name: float(v) for c, v in zip(discovery.candidates, verification.true_coefficients[i], strict=True)
            }
        out["energy_drift"] = verification.energy_drifts()
        out["rollouts"] = {"n": int(verification.energy_model.shape[0]), "t_end": float(verification.ts[-1])}
    return out


def find_symmetries(
    L: AbstractLagrangian | Lagrangian,
    system: System,
    key: Array,
    *,
    n_states: int = 2000,
    threshold: float = DEFAULT_THRESHOLD,
    n_rollouts: int = 8,
    t_end: float = 5.0,
    dt: float = 0.005,
) -> tuple[Discovery, Verification]:
    """Discover the symmetries of ``L`` on ``n_states`` of ``system``'s states and verify their charges.

    The states are ``system.sample_states`` (the distribution models are trained
    on); the candidates are :func:`candidates` of ``system``. If the true
    Lagrangian is even under time reversal, the even part of ``L`` is tested and
    gives the charges (module docstring, "Gauge"); ``L`` itself is rolled out.
    """
    k_states, k_roll = jax.random.split(key)
    q, qdot = system.sample_states(k_states, n_states)
    tested = even_part(L) if is_time_reversal_even(system.lagrangian, q, qdot) else L
    found = discover(tested, candidates(system), q, qdot, threshold=threshold)
    return found, verify(L, system, found, q, qdot, k_roll, n_rollouts=n_rollouts, t_end=t_end, dt=dt, charge_L=tested)
