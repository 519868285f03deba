r"""Models of a 1D periodic field q_i = u(x_i), x_i = i h, h = ℓ/n: a learned Lagrangian density and a local black box.

* :class:`LagrangianDensity` — L_θ = h Σ_i ℓ(s_i), one small network ℓ (plus a learned
  quadratic form) applied to the stencil s_i = ((q_{i+1} − q_i)/h, q̇_i, q̇_{i+1}) of every
  point and summed; q̈ from the Euler–Lagrange equations of the whole sum.
* :class:`LocalBlackBox` — q̈_i = g_θ(slopes either side of i, q̇_{i−1}, q̇_i, q̇_{i+1})
  (plus a learned linear term): the black-box network of the same width and depth,
  looking at the same neighbourhood the density's Euler–Lagrange equation at point i reads.

By default both see the field only through its slopes, as the string's own Lagrangian
does: moving the whole string up costs no energy (the symmetry whose Noether charge is
the string's momentum). With ``field_values=True`` they also see q_i, q_{i+1} (q_{i−1}),
for fields with an on-site potential such as Klein–Gordon's ½ m² u²; trained on waves
of zero mean, such a model learns nothing about the string's mean height, which then
wanders in rollouts.

Both are translation invariant by construction — the same network at every point, the
neighbours found by a periodic shift — so shifting the state by k points shifts the
accelerations by k points, and neither has parameters tied to n: the same model runs
on a string of any number of points. For the density model the grid spacing enters
only through h = ℓ/n, so a density learned on one grid is a density of the
continuous field (u, u_x, u_t) and can be used on a finer grid; the black box
learns q̈_i at one spacing.

**Cost.** Through the general Euler–Lagrange path (``lnn.accelerations(model.lagrangian, …)``)
the density's ∂²L/∂q̇² is built with n tangents, each through the whole grid: O(n²) network
evaluations per state. But ∂²L/∂q̇² is banded — ℓ_θ reads q̇_i and q̇_{i+1}, so only entries with
|i − j| ≤ 1 (cyclically) are non-zero — and :meth:`LagrangianDensity.acceleration`
uses that: columns at least 3 apart share no row, so c tangents, each the sum of
the unit vectors of one colour class {j : j mod c = k} (c ≥ 3 dividing n), give every
non-zero entry exactly. That is c + 1 tangents instead of n + 1, and the cyclic
tridiagonal M is solved in O(n) (:func:`solve_cyclic_tridiagonal`) instead of the
dense n³/3 (``benchmarks/wave.py`` times both). The result equals the general path's (tested).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from lnn.errors import ConfigurationError, ModelTypeError, ShapeError
from lnn.mechanics import AbstractDynamics, AbstractLagrangian, lagrangian_acceleration
from lnn.models._mlp import MLP


def _check_grid(q) -> int:
    if q.ndim != 1 or q.shape[0] < 3:
        raise ShapeError(f"a field model takes one string state of shape (n,) with n >= 3; got {tuple(q.shape)}.")
    return q.shape[0]


class _FieldModel(eqx.Module):
    """Shared fields of the field models: the MLP, the string length, input scales, and the architecture.

    A field model takes strings of any number of points n ≥ 3 (its ``dof`` is
    ``None``: not tied to a grid)."""

    mlp: MLP
    length: float = eqx.field(static=True)
    q_scale: float = eqx.field(static=True)
    slope_scale: float = eqx.field(static=True)
    qdot_scale: float = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    field_values: bool = eqx.field(static=True)

    def _stencil(self, q, qdot, offsets):
        """Features of every point's neighbourhood, shape (n, m): slopes, velocities (and the values q
        if ``field_values``), scaled to O(1)."""
        n = _check_grid(q)
        h = self.length / n
        values = [jnp.roll(q, -k) for k in offsets]
        slopes = [(b - a) / h for a, b in zip(values[:-1], values[1:], strict=True)]
        velocities = [jnp.roll(qdot, -k) for k in offsets]
        cols = (
            ([v / self.q_scale for v in values] if self.field_values else [])
            + [s / self.slope_scale for s in slopes]
            + [v / self.qdot_scale for v in velocities]
        )
        return jnp.stack(cols, axis=-1)

    @property
    def dof(self) -> None:
        """None: the same model runs on a string of any number of points."""
        return None

    def n_parameters(self) -> int:
        """Number of trainable numbers."""
        return sum(leaf.size for leaf in jax.tree.leaves(eqx.filter(self, eqx.is_inexact_array)))

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-ready)."""
        return {
            "class": type(self).__name__,
            "width": self.width,
            "depth": self.depth,
            "length": self.length,
            "q_scale": self.q_scale,
            "slope_scale": self.slope_scale,
            "qdot_scale": self.qdot_scale,
            "field_values": self.field_values,
            "dtype": str(self.mlp.weights[0].dtype),
            **self._extra_config(),
        }

    def _extra_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        """A model with the architecture in ``config`` (weights to be loaded into it)."""
        # Each concrete subclass defines __init__(key=..., **architecture); the base has none to check against.
        return cls(key=jax.random.key(0), **{k: v for k, v in config.items() if k != "class"})  # pyright: ignore[reportCallIssue]


_DENSITY_OFFSETS = (0, 1)


def solve_cyclic_tridiagonal(lower, diag, upper, b):
    r"""x with M x = b, M cyclic tridiagonal: M[i, i] = diag[i], M[i, i±1 mod n] = upper[i] / lower[i]; n ≥ 4.

    M = T′ + u vᵀ with T′ tridiagonal (the corners moved onto its diagonal,
    γ = −diag[0]), u = (γ, 0, …, 0, upper[n−1]), v = (1, 0, …, 0, lower[0]/γ); then
    Sherman–Morrison: x = y − (v·y)/(1 + v·z) z with T′y = b, T′z = u. O(n) work; no
    pivoting, which is stable for the positive-definite M of a physical kinetic
    energy; a singular M gives inf/NaN, never a silently regularised answer.
    """
    n = diag.shape[0]
    gamma = -diag[0]
    d = diag.at[0].add(-gamma).at[-1].add(-upper[-1] * lower[0] / gamma)
    u = jnp.zeros_like(b).at[0].set(gamma).at[-1].set(upper[-1])
    dl = lower.at[0].set(0.0)
    du = upper.at[-1].set(0.0)
    yz = jax.lax.linalg.tridiagonal_solve(dl, d, du, jnp.stack([b, u], axis=1))
    y, z = yz[:, 0], yz[:, 1]
    v_y = y[0] + lower[0] / gamma * y[n - 1]
    v_z = z[0] + lower[0] / gamma * z[n - 1]
    return y - v_y / (1.0 + v_z) * z


def _colours(n: int) -> int:
    """The smallest c ≥ 3 dividing n (columns of ∂²L/∂q̇² c apart share no row), or n if n < 6."""
    return n if n < 6 else next(c for c in range(3, n + 1) if n % c == 0)


_LOCAL_OFFSETS = (-1, 0, 1)


FIELD_MODELS = ("density", "local")


def build_field_model(
    kind: str,
    q,
    qdot,
    qddot,
    *,
    key: Array,
    length: float = 1.0,
    width: int = 32,
    depth: int = 2,
    field_values: bool = False,
    dtype=None,
):
    """A fresh ``"density"`` (:class:`LagrangianDensity`) or ``"local"`` (:class:`LocalBlackBox`) model
    with its scales taken from training states ``(B, n)``: RMS of q, of the slope and of q̈;
    for q̇ the black box uses its RMS and the density the dynamics' unit √(RMS q̈ · RMS q)."""
    q, qdot, qddot = (jnp.asarray(a) for a in (q, qdot, qddot))
    h = length / q.shape[-1]
    rms = lambda a: float(jnp.sqrt(jnp.mean(a**2))) + 1e-12
    common: dict[str, Any] = dict(
        key=key,
        length=length,
        width=width,
        depth=depth,
        field_values=field_values,
        dtype=dtype,
        q_scale=rms(q),
        slope_scale=rms((jnp.roll(q, -1, axis=-1) - q) / h),
    )
    if kind == "density":
        return LagrangianDensity(qdot_scale=(rms(qddot) * rms(q)) ** 0.5, **common)
    if kind == "local":
        return LocalBlackBox(qdot_scale=rms(qdot), accel_scale=rms(qddot), **common)
    raise ConfigurationError(f"unknown field model {kind!r}; choose one of {FIELD_MODELS}.")


def _features(offsets, field_values: bool) -> int:
    return (3 if field_values else 2) * len(offsets) - 1


class LagrangianDensity(_FieldModel, AbstractLagrangian):
    r"""L_θ(q, q̇) = h Σ_i [ℓ_θ(x_i) + ½ x_iᵀ A x_i]: a learned Lagrangian density summed over the grid.

    x_i are the scaled stencil features (slope, q̇_i, q̇_{i+1}); ℓ_θ is an MLP and A a
    learned symmetric matrix, the density of a free (linear) field. A starts as the
    kinetic energy ½ (q̇_i/s)² alone, which — as the kinetic term of
    :class:`~lnn.LagrangianNN` — makes ∂²L/∂q̇² positive definite at initialisation;
    it restricts nothing the MLP could not represent, and lets the linear part of
    the dynamics be learned directly (the black box gets the same: a linear term).
    A Lagrangian model: ``lnn.accelerations(model, q, qdot)`` and
    ``lnn.energy(model, q, qdot)`` take states ``(..., n)`` for any n ≥ 3, and its
    dynamics conserve its own energy and, since it sees q only through slopes, its
    momentum Σ ∂L/∂q̇_i.

    Args:
        key: PRNG key for the weights.
        length: length ℓ of the periodic string (h = ℓ/n).
        width, depth: hidden units per layer, hidden layers of ℓ_θ.
        q_scale, slope_scale, qdot_scale: units of q, u_x and q̇; features are divided by them.
            For q̇ use the dynamics' own unit √(|q̈| |q|) (what :func:`build` does), not the
            RMS of q̇: with it the kinetic and potential parts of L are of one size in the
            features, so an O(1) network output has the right size while its ∂²/∂q̇² stays
            small against the kinetic term's (∂²L/∂q̇² positive definite at initialisation).
    """

    quadratic: Array

    def __init__(
        self,
        *,
        key: Array,
        length: float = 1.0,
        width: int = 32,
        depth: int = 2,
        q_scale: float = 1.0,
        slope_scale: float = 1.0,
        qdot_scale: float = 1.0,
        field_values: bool = False,
        dtype=None,
    ):
        self.field_values = field_values
        self.mlp = MLP(
            [_features(_DENSITY_OFFSETS, field_values)] + [width] * depth + [1], key=key, init="standard", dtype=dtype
        )
        size = _features(_DENSITY_OFFSETS, field_values)
        # A = the free field's kinetic energy ½ (q̇_i/s)² to start from (features: slope, q̇_i, q̇_{i+1}).
        self.quadratic = jnp.zeros((size, size), dtype=self.mlp.weights[0].dtype).at[-2, -2].set(1.0)
        self.length, self.width, self.depth = float(length), width, depth
        self.q_scale, self.slope_scale, self.qdot_scale = float(q_scale), float(slope_scale), float(qdot_scale)

    def density(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, " n"]:
        """ℓ_θ(x_i) + ½ x_iᵀ A x_i at every point i, shape (n,)."""
        x = self._stencil(q, qdot, _DENSITY_OFFSETS)
        ell = eqx.filter_vmap(self.mlp)(x)[:, 0]
        A = 0.5 * (self.quadratic + self.quadratic.T)
        return ell + 0.5 * jnp.einsum("ij,jk,ik->i", x, A, x)

    def lagrangian(self, q: Float[Array, " n"], qdot: Float[Array, " n"]) -> Float[Array, ""]:
        h = self.length / _check_grid(q)
        return h * jnp.sum(self.density(q, qdot))

    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        """q̈ for one string state, from the Euler–Lagrange equations of the summed density
        (M q̈ = ∂L/∂q − (∂²L/∂q̇∂q) q̇ + τ as in ``lnn.mechanics``, M assembled from its bands)."""
        n = _check_grid(q)
        colours = _colours(n)
        if colours == n:  # tiny grids: every column is its own colour
            return lagrangian_acceleration(self.lagrangian, q, qdot, force=force)
        (dL_dq, _), push = jax.linearize(jax.grad(self.lagrangian, argnums=(0, 1)), q, qdot)
        zeros = jnp.zeros_like(q)
        seeds = (jnp.arange(n)[None, :] % colours == jnp.arange(colours)[:, None]).astype(q.dtype)
        compressed = jax.vmap(lambda e: push(zeros, e)[1])(seeds)  # (colours, n): row k = Σ_{j≡k} M[:, j]
        rows = jnp.arange(n)
        band = lambda offset: compressed[(rows + offset) % n % colours, rows]
        mixed = push(qdot, zeros)[1]
        rhs = dL_dq - mixed if force is None else dL_dq - mixed + force
        return solve_cyclic_tridiagonal(band(-1), band(0), band(1), rhs)


class LocalBlackBox(_FieldModel, AbstractDynamics):
    r"""q̈_i = a · [g_θ(x_i) + wᵀ x_i]: a black-box network (plus a linear term) at every point; no Lagrangian.

    x_i are the scaled features of the neighbourhood of i (slopes either side,
    q̇_{i−1}, q̇_i, q̇_{i+1}).

    Args: as :class:`LagrangianDensity`, plus ``accel_scale`` a (typical |q̈|), so the
    network's outputs are O(1).
    """

    linear: Array
    accel_scale: float = eqx.field(static=True)

    def __init__(
        self,
        *,
        key: Array,
        length: float = 1.0,
        width: int = 32,
        depth: int = 2,
        q_scale: float = 1.0,
        slope_scale: float = 1.0,
        qdot_scale: float = 1.0,
        accel_scale: float = 1.0,
        field_values: bool = False,
        dtype=None,
    ):
        self.field_values = field_values
        self.mlp = MLP(
            [_features(_LOCAL_OFFSETS, field_values)] + [width] * depth + [1], key=key, init="standard", dtype=dtype
        )
        self.length, self.width, self.depth = float(length), width, depth
        self.q_scale, self.slope_scale, self.qdot_scale = float(q_scale), float(slope_scale), float(qdot_scale)
        self.accel_scale = float(accel_scale)
        self.linear = jnp.zeros((_features(_LOCAL_OFFSETS, field_values),), dtype=self.mlp.weights[0].dtype)

    @property
    def takes_force(self) -> bool:
        return False

    def acceleration(
        self, q: Float[Array, " n"], qdot: Float[Array, " n"], force: Float[Array, " n"] | None = None
    ) -> Float[Array, " n"]:
        """q̈ for one string state (the network's output at every point)."""
        if force is not None:
            raise ModelTypeError("a LocalBlackBox takes no generalized force.")
        x = self._stencil(q, qdot, _LOCAL_OFFSETS)
        return self.accel_scale * (eqx.filter_vmap(self.mlp)(x)[:, 0] + x @ self.linear)

    def _extra_config(self) -> dict[str, Any]:
        return {"accel_scale": self.accel_scale}
