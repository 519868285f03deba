r"""The candidate library: terms φₖ(q, q̇) of a Lagrangian L = Σ ξₖ φₖ, built with SymPy.

From a system's coordinate names and which of them are angles:

* **potential terms** f(q): for each angle θ, cos θ and sin θ, and for each pair
  of angles cos(θᵢ − θⱼ), sin(θᵢ − θⱼ); for the other coordinates, monomials of
  degree 1 … ``degree``; on request, 1/r for each point's distance from the origin
  and for each pair of points (a point is one non-angle coordinate, or a pair
  ``(i, j)`` of Cartesian coordinates of one point in a plane, as
  :attr:`lnn.System.cartesian_pairs` names them);
* **kinetic terms** q̇ᵢ q̇ⱼ f(q), i ≤ j, f = 1, the angle functions above, and
  monomials of the non-angle coordinates up to ``kinetic_degree``;
* **velocity-linear terms** q̇ᵢ g(q) (a magnetic vector potential), g the angle
  functions and monomials of degree 1 … ``velocity_degree``;
* the user's own terms, SymPy expressions or strings SymPy parses, in the
  coordinate names and the velocities ``<name>_dot``.

Constants are left out (they never change the motion). Many velocity-linear
terms are total derivatives dF(q)/dt (θ̇ cos θ, ẋ x, x ẏ + y ẋ); the fit finds
and removes them, whatever the library holds.
"""

from __future__ import annotations

import dataclasses
import itertools
import tokenize
from collections.abc import Sequence

import sympy as sp
from sympy.parsing.sympy_parser import parse_expr

from lnn.errors import ConfigurationError

KINETIC, POTENTIAL, VELOCITY_LINEAR, USER = "kinetic", "potential", "velocity-linear", "user"


@dataclasses.dataclass(frozen=True)
class Library:
    """Candidate terms φₖ(q, q̇) as SymPy expressions in the symbols ``q`` and ``qdot``.

    ``kinds[k]`` says which family term k is from (``"kinetic"``, ``"potential"``,
    ``"velocity-linear"`` or ``"user"``).
    """

    coordinates: tuple[str, ...]
    angles: tuple[bool, ...]
    q: tuple[sp.Symbol, ...]
    qdot: tuple[sp.Symbol, ...]
    terms: tuple[sp.Expr, ...]
    kinds: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.terms)

    def latex(self, expr: sp.Expr) -> str:
        """LaTeX of an expression in this library's symbols, velocities written with a dot."""
        names = {v: rf"\dot{{{sp.latex(s)}}}" for s, v in zip(self.q, self.qdot, strict=True)}
        return sp.latex(expr, symbol_names=names)

    def parse(self, text: str | sp.Expr) -> sp.Expr:
        """A term given as text (or a SymPy expression) in this library's symbols.

        Raises :class:`~lnn.errors.ConfigurationError` when it does not parse or names
        a symbol that is neither a coordinate nor a velocity ``<name>_dot``.
        """
        known = {str(s): s for s in (*self.q, *self.qdot)}
        if isinstance(text, sp.Expr):
            expr = text
        else:
            try:
                expr = parse_expr(str(text), local_dict=dict(known))
            except (SyntaxError, TypeError, ValueError, AttributeError, tokenize.TokenError, sp.SympifyError) as err:
                raise ConfigurationError(
                    f"the term {text!r} does not parse as a SymPy expression ({type(err).__name__}); write it in "
                    f"Python syntax with the symbols {', '.join(known)}, e.g. 'cos({self.coordinates[0]})'."
                ) from None
            if not isinstance(expr, sp.Expr):
                raise ConfigurationError(f"the term {text!r} is not an expression (got {type(expr).__name__}).")
        unknown = sorted(str(s) for s in expr.free_symbols if str(s) not in known)
        if unknown:
            raise ConfigurationError(
                f"the term {text!r} names {', '.join(unknown)}, which is not a coordinate or velocity; "
                f"use {', '.join(known)}."
            )
        # symbols from the user's own expression are replaced by the library's (same names)
        replaced = expr.xreplace({s: known[str(s)] for s in expr.free_symbols})
        if not isinstance(replaced, sp.Expr):
            raise ConfigurationError(f"the term {text!r} is not an expression (got {type(replaced).__name__}).")
        return replaced


def build_library(
    coordinates: Sequence[str],
    angles: Sequence[bool] | None = None,
    *,
    degree: int = 2,
    kinetic_degree: int = 0,
    velocity_degree: int = 1,
    inverse_distances: bool = False,
    points: Sequence[tuple[int, int]] = (),
    extra_terms: Sequence[str | sp.Expr] = (),
) -> Library:
    """The candidate library for these coordinates (module docstring); degrees count total powers.

    ``points``: index pairs (i, j) of the Cartesian coordinates of one point (for
    the 1/r terms); every other non-angle coordinate is a point on a line.
    """
    coordinates = tuple(str(c) for c in coordinates)
    n = len(coordinates)
    angles = (False,) * n if angles is None else tuple(bool(a) for a in angles)
    if len(angles) != n:
        raise ConfigurationError(f"angles has {len(angles)} entries for {n} coordinates.")
    if min(degree, kinetic_degree, velocity_degree) < 0:
        raise ConfigurationError("the polynomial degrees must be 0 or more.")
    q = tuple(sp.Symbol(c, real=True) for c in coordinates)
    qdot = tuple(sp.Symbol(f"{c}_dot", real=True) for c in coordinates)
    theta = [s for s, a in zip(q, angles, strict=True) if a]
    lengths = [s for s, a in zip(q, angles, strict=True) if not a]

    trig: list[sp.Expr] = [f(t) for t in theta for f in (sp.cos, sp.sin)]
    trig += [f(a - b) for a, b in itertools.combinations(theta, 2) for f in (sp.cos, sp.sin)]

    def monomials(low: int, high: int) -> list[sp.Expr]:
        return [
            sp.Mul(*combo)
            for d in range(low, high + 1)
            for combo in itertools.combinations_with_replacement(lengths, d)
        ]

    potential = trig + monomials(1, degree)
    if inverse_distances:
        potential += _inverse_distances(q, angles, points)
    kinetic_f = [sp.Integer(1), *trig, *monomials(1, kinetic_degree)]
    linear_g = trig + monomials(1, velocity_degree)

    terms: list[sp.Expr] = []
    kinds: list[str] = []
    for i, j in itertools.combinations_with_replacement(range(n), 2):
        for f in kinetic_f:
            terms.append((sp.Rational(1, 2) if i == j else 1) * qdot[i] * qdot[j] * f)
            kinds.append(KINETIC)
    terms += potential
    kinds += [POTENTIAL] * len(potential)
    for i in range(n):
        for g in linear_g:
            terms.append(qdot[i] * g)
            kinds.append(VELOCITY_LINEAR)
    library = Library(coordinates, angles, q, qdot, (), ())
    seen = {sp.srepr(t) for t in terms}
    for text in extra_terms:
        term = library.parse(text)
        if sp.srepr(term) not in seen:
            seen.add(sp.srepr(term))
            terms.append(term)
            kinds.append(USER)
    return dataclasses.replace(library, terms=tuple(terms), kinds=tuple(kinds))


def _inverse_distances(q: tuple[sp.Symbol, ...], angles: tuple[bool, ...], points: Sequence[tuple[int, int]]):
    """1/|r_a| for every point a and 1/|r_a − r_b| for every pair of points (in the same dimension)."""
    paired = {i for pair in points for i in pair}
    for i, j in points:
        if angles[i] or angles[j]:
            raise ConfigurationError(f"the point ({i}, {j}) has an angle among its coordinates; give Cartesian pairs.")
    located: list[tuple[sp.Expr, ...]] = [(q[i], q[j]) for i, j in points]
    located += [(q[i],) for i in range(len(q)) if not angles[i] and i not in paired]
    out: list[sp.Expr] = [1 / sp.sqrt(sum(c**2 for c in p)) for p in located]
    for a, b in itertools.combinations(located, 2):
        if len(a) == len(b):
            out.append(1 / sp.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True))))
    return out
